// .github/workflows/ checked without GitHub: actionlint (syntax, expressions, action inputs and
// outputs, permission scopes, runner labels; shellcheck on `run:` scripts when it is installed)
// passes on every workflow and refuses broken copies with the specific error; then the wiring:
// the test workflow runs .ci/run and nothing else of the suite, and the images workflow builds
// exactly the Dockerfiles of docker/ under the names the compose file and docs/ci.md use, with
// provenance, an SBOM and no more permissions than it needs (docs/ci.md).

import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { is_map, map_at, parse_yaml, type Yaml } from "../docker/compose.ts";
import { instructions_of, read_dockerfile } from "../docker/dockerfile.ts";
import {
  REPO_ROOT, binary_of, install_actionlint, lint_files, lint_text, workflow_files,
} from "./actionlint.ts";

// At load, not in a test: a cold install (download and compile) can outlast a test's timeout.
const install = install_actionlint();

const TEST_WORKFLOW = ".github/workflows/test.yml";
const IMAGES_WORKFLOW = ".github/workflows/images.yml";

function read(path: string): string {
  return readFileSync(join(REPO_ROOT, path), "utf8");
}

function workflow(path: string): Yaml {
  return parse_yaml(read(path), path);
}

/** The steps of a workflow's only job. */
function steps_of(document: Yaml): Yaml[] {
  const jobs = Object.values(map_at(document, "jobs"));
  expect(jobs.length).toBe(1);
  const steps = map_at(jobs[0]).steps;
  if (!Array.isArray(steps) || !steps.every(is_map)) throw new Error("steps is not a list of maps");
  return steps;
}

/** The one step that uses `action` (owner/name, any version). */
function step_using(document: Yaml, action: string): Yaml {
  const found = steps_of(document).filter((step) => String(step.uses).startsWith(`${action}@`));
  expect(found.length).toBe(1);
  return found[0]!;
}

function with_of(step: Yaml): Yaml {
  return map_at(step, "with");
}

describe("actionlint", () => {
  test("scripts/install-actionlint.sh installs the pinned version, or finds it installed", () => {
    const binary = binary_of(install);
    expect(existsSync(binary)).toBe(true);
    const version = Bun.spawnSync([binary, "-version"]).stdout.toString().split("\n")[0];
    expect(read("scripts/install-actionlint.sh")).toContain(`ACTIONLINT_VERSION=${version}\n`);
  });

  test("a second run of the script reuses the installed binary", () => {
    const again = install_actionlint();
    expect(again.binary).toBe(binary_of(install));
    expect(again.stderr).toBe("");
  });

  test("every workflow passes", () => {
    const files = workflow_files();
    expect(files).toEqual([IMAGES_WORKFLOW, TEST_WORKFLOW]);
    const run = lint_files(binary_of(install), files);
    expect(run.findings).toEqual([]);
    expect(run.stderr).toBe("");
    expect(run.exit_code).toBe(0);
  });

  test("an unchanged copy through stdin passes, so the refusals below come from their change", () => {
    for (const path of workflow_files()) {
      const run = lint_text(binary_of(install), path, read(path));
      expect(run.findings).toEqual([]);
      expect(run.exit_code).toBe(0);
    }
  });

  const broken: { name: string; path: string; from: string; to: string; error: RegExp }[] = [
    { name: "an input build-push-action does not have", path: IMAGES_WORKFLOW,
      from: "provenance: mode=max", to: "provenanse: mode=max",
      error: /input "provenanse" is not defined in action "docker\/build-push-action@v\d+"/ },
    { name: "an output the build step does not have", path: IMAGES_WORKFLOW,
      from: "steps.build.outputs.digest }}", to: "steps.build.outputs.digests }}",
      error: /property "digests" is not defined in object type \{digest: string/ },
    { name: "an unknown permission scope", path: IMAGES_WORKFLOW,
      from: "attestations: write", to: "attestation: write",
      error: /unknown permission scope "attestation"/ },
    { name: "an unknown runner label", path: TEST_WORKFLOW,
      from: "runs-on: ubuntu-24.04", to: "runs-on: ubuntu-42.04",
      error: /label "ubuntu-42\.04" is unknown/ },
    { name: "untrusted input inlined into a script", path: TEST_WORKFLOW,
      from: "run: .ci/run\n", to: "run: .ci/run \"${{ github.event.pull_request.title }}\"\n",
      error: /"github\.event\.pull_request\.title" is potentially untrusted/ },
  ];
  for (const { name, path, from, to, error } of broken) {
    test(`refuses ${name} (${path})`, () => {
      const text = read(path);
      expect(text).toContain(from);
      const run = lint_text(binary_of(install), path, text.replace(from, to));
      expect(run.findings.map((finding) => finding.message).join("\n")).toMatch(error);
      expect(run.exit_code).not.toBe(0);
    });
  }
});

describe("every workflow", () => {
  test("pins each action by a version tag (or a commit)", () => {
    for (const path of workflow_files()) {
      for (const step of steps_of(workflow(path))) {
        if (step.uses === undefined) continue;
        expect(String(step.uses)).toMatch(/^[\w.-]+\/[\w.-]+@(v\d+(\.\d+){0,2}|[0-9a-f]{40})$/);
      }
    }
  });

  test("gives each job a timeout of an hour at most, not GitHub's six", () => {
    for (const path of workflow_files()) {
      for (const job of Object.values(map_at(workflow(path), "jobs"))) {
        const minutes = map_at(job)["timeout-minutes"];
        expect(typeof minutes).toBe("number");
        expect(minutes as number).toBeGreaterThan(0);
        expect(minutes as number).toBeLessThanOrEqual(60);
      }
    }
  });

  test("hashes only files that exist in its cache keys", () => {
    for (const path of workflow_files()) {
      for (const call of read(path).matchAll(/hashFiles\(([^)]*)\)/g)) {
        const patterns = [...call[1]!.matchAll(/'([^']+)'/g)].map((match) => match[1]!);
        expect(patterns.length).toBeGreaterThan(0);
        for (const pattern of patterns) {
          const matches = [...new Bun.Glob(pattern).scanSync({ cwd: REPO_ROOT })];
          expect({ pattern, found: matches.length > 0 }).toEqual({ pattern, found: true });
        }
      }
    }
  });
});

describe("the test workflow", () => {
  const document = workflow(TEST_WORKFLOW);
  const steps = steps_of(document);

  test("runs on pushes to branches and on pull requests, read-only", () => {
    const on = map_at(document, "on");
    expect(map_at(on, "push").branches).toEqual(["**"]);
    expect(Object.keys(on)).toContain("pull_request");
    expect(document.permissions).toEqual({ contents: "read" });
  });

  test("runs .ci/run, which installs the services' packages and runs make test", () => {
    const ci_run = read(".ci/run");
    expect(ci_run).toMatch(/^scripts\/services\/install\.sh /m);
    expect(ci_run).toMatch(/^make test /m);
    const runs = steps.filter((step) => step.run !== undefined).map((step) => String(step.run));
    expect(runs.filter((run) => run.trim() === ".ci/run")).toHaveLength(1);
    expect(String(steps[steps.length - 1]!.run).trim()).toBe(".ci/run");
    // Nothing else runs the suite or its installs, so CI is .ci/run on a fresh machine.
    for (const run of runs.slice(0, -1)) {
      expect(run).not.toMatch(/make test|bun test|npm ci|scripts\/services\//);
    }
  });

  test("runs in Debian 12, whose flatc made schema/generated/ (a bare image: no sudo)", () => {
    const job = Object.values(map_at(document, "jobs"))[0];
    expect(map_at(job, "container").image).toBe("debian:bookworm");
    expect(read("scripts/install-system-packages.sh")).toContain('if [ "$(id -u)" -eq 0 ]');
  });

  test("caches what the scripts cache, where they cache it, and npm's downloads", () => {
    const cache = with_of(step_using(document, "actions/cache"));
    expect(cache.path).toBe("~/.cache/balance-service");
    expect(read("scripts/services/common.sh"))
      .toContain("${XDG_CACHE_HOME:-$HOME/.cache}/balance-service");
    expect(read("scripts/install-actionlint.sh")).toContain("$HOME/.cache/balance-service/bin");
    expect(String(cache.key)).toContain("hashFiles('scripts/services/pom.xml', 'scripts/install-*.sh')");
    const node = with_of(step_using(document, "actions/setup-node"));
    expect(node.cache).toBe("npm");
    expect(node["cache-dependency-path"]).toBe("package-lock.json");
    expect(with_of(step_using(document, "actions/setup-go"))["go-version"]).toMatch(/^1\.\d+/);
  });
});

/** docker/'s Dockerfiles: Dockerfile and *.Dockerfile, as repository paths. */
function dockerfiles(): string[] {
  return readdirSync(join(REPO_ROOT, "docker"))
    .filter((name) => name === "Dockerfile" || name.endsWith(".Dockerfile"))
    .map((name) => `docker/${name}`)
    .sort();
}

/** docker/docker-compose.yml's built images: Dockerfile -> image name without its tag. */
function compose_images(): Map<string, string> {
  const compose = parse_yaml(read("docker/docker-compose.yml"), "docker/docker-compose.yml");
  const images = new Map<string, string>();
  for (const service of Object.values(map_at(compose, "services"))) {
    const definition = map_at(service);
    if (!is_map(definition.build)) continue;
    const name = String(definition.image).split(":")[0]!;
    const dockerfile = String(definition.build.dockerfile);
    expect(images.get(dockerfile) ?? name).toBe(name);
    images.set(dockerfile, name);
  }
  return images;
}

describe("the images workflow", () => {
  const document = workflow(IMAGES_WORKFLOW);
  const job = Object.values(map_at(document, "jobs"))[0];
  const include = map_at(job, "strategy", "matrix").include as { image: string;
    dockerfile: string }[];

  test("runs on version tags only", () => {
    expect(document.on).toEqual({ push: { tags: ["v*"] } });
  });

  test("has no permissions but its job's: read the code, push packages, sign attestations", () => {
    expect(document.permissions).toEqual({});
    expect(map_at(job, "permissions")).toEqual({
      contents: "read", packages: "write", "id-token": "write", attestations: "write",
    });
  });

  test("builds exactly docker/'s Dockerfiles, under the compose file's image names", () => {
    expect(include.map((entry) => entry.dockerfile).sort()).toEqual(dockerfiles());
    expect(dockerfiles()).toEqual(["docker/Dockerfile", "docker/projector.Dockerfile"]);
    const images = compose_images();
    for (const { image, dockerfile } of include) {
      expect(existsSync(join(REPO_ROOT, dockerfile))).toBe(true);
      expect({ dockerfile, image: images.get(dockerfile) }).toEqual({ dockerfile, image });
    }
  });

  test("names each image ghcr.io/<repository>/<image>, as docs/ci.md does", () => {
    const name = steps_of(document).find((step) => step.id === "name")!;
    expect(String(name.run)).toContain('"image=ghcr.io/${GITHUB_REPOSITORY,,}/$IMAGE"');
    expect(map_at(name, "env").IMAGE).toBe("${{ matrix.image }}");
    expect(with_of(step_using(document, "docker/metadata-action")).images)
      .toBe("${{ steps.name.outputs.image }}");
    expect(with_of(step_using(document, "docker/login-action")).registry).toBe("ghcr.io");
    const docs = read("docs/ci.md");
    for (const { image, dockerfile } of include) {
      expect(docs).toContain(`ghcr.io/<owner>/<repository>/${image}`);
      expect(docs).toContain(`\`${dockerfile}\``);
    }
  });

  test("tags the version's semver forms and the commit", () => {
    const tags = String(with_of(step_using(document, "docker/metadata-action")).tags);
    expect(tags).toContain("type=semver,pattern={{version}}");
    expect(tags).toContain("type=sha");
  });

  test("pushes with BuildKit's provenance (mode=max) and SBOM, then a signed attestation", () => {
    const build = step_using(document, "docker/build-push-action");
    expect(build.id).toBe("build");
    expect(with_of(build)).toMatchObject({
      context: ".", file: "${{ matrix.dockerfile }}", push: true, provenance: "mode=max",
      sbom: true, tags: "${{ steps.meta.outputs.tags }}",
    });
    expect(with_of(step_using(document, "actions/attest-build-provenance"))).toEqual({
      "subject-name": "${{ steps.name.outputs.image }}",
      "subject-digest": "${{ steps.build.outputs.digest }}",
      "push-to-registry": true,
    });
  });

  test("builds linux/amd64 only while the Dockerfiles run bun install on the target platform", () => {
    // Bun 1.4 aborts under QEMU's emulation (docs/ci.md, "Architectures"): arm64 needs a
    // `FROM --platform=$BUILDPLATFORM` install stage or arm64 runners first.
    for (const dockerfile of dockerfiles()) {
      const file = read_dockerfile(join(REPO_ROOT, dockerfile));
      const from = instructions_of(file, "FROM").map((instruction) => instruction.text);
      expect({ dockerfile, from: from.filter((text) => text.includes("--platform")) })
        .toEqual({ dockerfile, from: [] });
      const runs = instructions_of(file, "RUN").map((instruction) => instruction.text);
      expect(runs.some((text) => text.startsWith("bun install "))).toBe(true);
    }
    expect(with_of(step_using(document, "docker/build-push-action")).platforms)
      .toBe("linux/amd64");
  });
});
