// docker/Dockerfile and docker/projector.Dockerfile checked without a Docker engine: the base image
// is package.json's Bun, the user is not root, only production packages are installed, every file
// the entry points load is copied (at the path it is imported from); then both images' file trees,
// staged as the COPY steps and .dockerignore make them, run for real against the tests' Kafka and
// PostgreSQL: the service answers its HEALTHCHECK and ships an order to Kafka, the projector
// answers its own and serves that order's account with a token of the service's key.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Kafka, logLevel } from "kafkajs";
import { SMALL_LIMITS_ENV, free_port, temp_data_dir } from "../../harness/service_process.ts";
import { ensure_services, type Services } from "../../harness/services.ts";
import { fresh_schema, SERVICES_TIMEOUT_MS, type TestDatabase } from "../projector/support.ts";
import { REPO_ROOT } from "./compose.ts";
import {
  command_of, healthcheck_of, instructions_of, read_dockerfile, single, type Dockerfile,
} from "./dockerfile.ts";
import { asset_files, image_files, read_dockerignore, runtime_needs } from "./image_files.ts";
import { run_staged, stage_image, StagedProcess, type StagedImage } from "./stage.ts";

const package_json = await Bun.file(join(REPO_ROOT, "package.json")).json() as {
  dependencies: Record<string, string>; devDependencies: Record<string, string>;
  patchedDependencies: Record<string, string>;
};
const ignore_patterns = read_dockerignore(join(REPO_ROOT, ".dockerignore"));

/** Each image, and what it runs: CMD, HEALTHCHECK and the tools run in it (scripts/token.ts). */
const IMAGES = [
  { dockerfile: "docker/Dockerfile", entries: ["server/main.ts", "scripts/token.ts"] },
  { dockerfile: "docker/projector.Dockerfile", entries: ["projector/main.ts"] },
];

function load(path: string): Dockerfile {
  return read_dockerfile(join(REPO_ROOT, path));
}

describe("the Dockerfiles", () => {
  for (const image of IMAGES) {
    test(`${image.dockerfile}: Bun's official image at package.json's Bun, a user not root`, () => {
      const file = load(image.dockerfile);
      expect(single(file, "FROM").text).toBe(`oven/bun:${package_json.devDependencies.bun}`);
      const user = single(file, "USER");
      expect(["root", "0"]).not.toContain(user.text);
      expect(user.line).toBeLessThan(single(file, "CMD").line);
      expect(single(file, "WORKDIR").text).toBe("/app");
    });

    test(`${image.dockerfile}: installs production packages only, as the lockfile pins them`, () => {
      const file = load(image.dockerfile);
      const installs = instructions_of(file, "RUN").filter((run) => run.text.includes("install"));
      expect(installs.map((run) => run.text))
        .toEqual(["bun install --production --frozen-lockfile --ignore-scripts"]);
      const copied = image_files(file, REPO_ROOT, ignore_patterns);
      for (const path of ["package.json", "package-lock.json"]) expect(copied.get(path)).toBe(path);
      // Bun's install applies package.json's patchedDependencies: the patches must be there first.
      const patches = Object.values(package_json.patchedDependencies);
      expect(patches.length).toBeGreaterThan(0);
      for (const path of patches) expect(copied.get(path)).toBe(path);
      const patches_copy = instructions_of(file, "COPY").find((copy) => copy.text.startsWith("patches "));
      expect(patches_copy!.line).toBeLessThan(installs[0]!.line);
    });

    test(`${image.dockerfile}: every file its entry points load is copied where it is imported from`,
      () => {
        const file = load(image.dockerfile);
        const copied = image_files(file, REPO_ROOT, ignore_patterns);
        const entries = [...image.entries, healthcheck_of(file)[1]!, command_of(file)[1]!];
        const needs = runtime_needs(REPO_ROOT, entries);
        const needed = [...needs.files, ...[...needs.assets].flatMap((a) => asset_files(REPO_ROOT, a))];
        expect(needed.filter((path) => copied.get(path) !== path)).toEqual([]);
        // Packages are imported from production dependencies, which the image installs.
        const production = Object.keys(package_json.dependencies);
        expect([...needs.packages].filter((name) => !production.includes(name))).toEqual([]);
      });
  }

  test(".dockerignore keeps node_modules, data, .services and .git out of the build context", () => {
    for (const path of ["node_modules/jose/package.json", "data/auth-keys.json",
      ".services/postgres/PG_VERSION", ".git/HEAD", "test/docker/compose.test.ts"]) {
      const copied = IMAGES.some((image) =>
        [...image_files(load(image.dockerfile), REPO_ROOT, ignore_patterns).values()].includes(path));
      expect({ path, copied }).toEqual({ path, copied: false });
    }
  });
});

const STAGED_TIMEOUT_MS = 120_000;
const WAIT_MS_MAX = 60_000;
const WAIT_POLL_MS = 100;
const PARTNER = 7;

/**
 * Polls `check` until it returns a value, at most WAIT_MS_MAX; throws with `context()` then, or
 * at once when `proc` has exited.
 */
async function until<T>(what: string, check: () => Promise<T | null>, context: () => string,
  proc: StagedProcess): Promise<T> {
  const deadline_ms = Date.now() + WAIT_MS_MAX;
  while (Date.now() < deadline_ms) {
    if (proc.proc.exitCode !== null) {
      await proc.exited;
      throw new Error(`${what}: the process exited ${proc.proc.exitCode}; output:\n${context()}`);
    }
    const value = await check();
    if (value !== null) return value;
    await Bun.sleep(WAIT_POLL_MS);
  }
  throw new Error(`${what} within ${WAIT_MS_MAX} ms; output:\n${context()}`);
}

/** Only what the image's ENV and compose would give, plus the tests' addresses. */
function base_env(): Record<string, string> {
  return { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp" };
}

interface Stack {
  services: Services;
  database: TestDatabase;
  service_tree: StagedImage;
  projector_tree: StagedImage;
  topic: string;
  data_dir: string;
  processes: StagedProcess[];
}

let stack: Stack | null = null;

beforeAll(async () => {
  const services = await ensure_services();
  // Migrated, as compose's migrate job leaves it: the service loads its (empty) groups from it.
  const database = await fresh_schema("docker");
  stack = {
    services, database, processes: [],
    service_tree: await stage_image(REPO_ROOT, "docker/Dockerfile"),
    projector_tree: await stage_image(REPO_ROOT, "docker/projector.Dockerfile"),
    topic: `docker-stage-${process.pid}-${Date.now().toString(36)}`,
    data_dir: temp_data_dir("docker-stage"),
  };
}, SERVICES_TIMEOUT_MS);

afterAll(async () => {
  if (stack === null) return;
  for (const proc of stack.processes) proc.proc.kill("SIGKILL");
  stack.service_tree.remove();
  stack.projector_tree.remove();
  await stack.database.drop();
});

/** CMD of the image with this test's Bun in place of the image's `bun`. */
function argv_of(dockerfile: string, argv = command_of(load(dockerfile))): string[] {
  expect(argv[0]).toBe("bun");
  return [process.execPath, ...argv.slice(1)];
}

/** The image's HEALTHCHECK, run in its tree until it exits 0. */
async function until_healthy(tree: StagedImage, dockerfile: string, env: Record<string, string>,
  proc: StagedProcess): Promise<void> {
  const argv = argv_of(dockerfile, healthcheck_of(load(dockerfile)));
  let last = "";
  await until(`${dockerfile}'s HEALTHCHECK passes`, async () => {
    const [code, , stderr] = run_staged(tree.dir, argv, env);
    last = stderr;
    return code === 0 ? true : null;
  }, () => `${proc.output}\nlast check: ${last}`, proc);
}

function token(s: Stack, env: Record<string, string>, subject: string[]): string {
  const [code, stdout, stderr] = run_staged(s.service_tree.dir,
    [process.execPath, "scripts/token.ts", ...subject], env);
  expect({ code, stderr: code === 0 ? "" : stderr }).toEqual({ code: 0, stderr: "" });
  return stdout.trim();
}

async function post_json(url: string, token: string, body: unknown): Promise<unknown> {
  const response = await fetch(url, { method: "POST", body: JSON.stringify(body),
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" } });
  expect(response.status).toBe(200);
  return response.json();
}

/** Events the topic holds: the sum of its partitions' high watermarks. */
async function topic_records(s: Stack): Promise<number> {
  const kafka = new Kafka({ clientId: "docker-stage-test", brokers: s.services.kafka_brokers.split(","),
    logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const topics = await admin.listTopics();
    if (!topics.includes(s.topic)) return 0;
    const offsets = await admin.fetchTopicOffsets(s.topic);
    return offsets.reduce((sum, partition) => sum + Number(partition.high), 0);
  } catch (error) {
    // A topic just created may not have its leaders yet (NOT_LEADER_FOR_PARTITION): the caller
    // polls, so "none yet" is the answer; anything else is a failure.
    if ((error as { retriable?: unknown }).retriable === true) return 0;
    throw error;
  } finally {
    await admin.disconnect();
  }
}

/** The service's tree as the image runs it (its ENV and compose's), on this test's addresses. */
async function run_service_tree(s: Stack): Promise<{ env: Record<string, string>; url: string }> {
  const port = free_port();
  const env = { ...base_env(), ...SMALL_LIMITS_ENV, HOST: "127.0.0.1", PORT: String(port),
    TCP_PORT: String(free_port()), DATA_DIR: s.data_dir, KAFKA_BROKERS: s.services.kafka_brokers,
    EVENTS_TOPIC: s.topic, DATABASE_URL: s.services.database_url,
    DATABASE_SCHEMA: s.database.schema };
  const proc = StagedProcess.start(s.service_tree.dir, argv_of("docker/Dockerfile"), env);
  s.processes.push(proc);
  await until_healthy(s.service_tree, "docker/Dockerfile", env, proc);
  const url = `http://127.0.0.1:${port}`;
  const internal = token(s, env, ["--internal"]);
  const partner = token(s, env, ["--partner", String(PARTNER)]);
  await post_json(`${url}/v1/partners/${PARTNER}/accounts`, internal,
    { account: "1001", kind: "user", currency: 978 });
  const id = (BigInt(Date.now()) << 22n) | 1n;
  const reply = await post_json(`${url}/v1/batches`, partner, { orders: [{ id: String(id),
    op: "credit", partner: PARTNER, account: "1001", amount: "500", currency: 978 }] });
  expect(reply).toMatchObject({ results: [{ status: "ok", balance: "500" }] });
  // The publisher Worker runs from the tree too: the events reach the topic.
  await until("the events reach Kafka", async () => (await topic_records(s)) > 0 ? true : null,
    () => proc.output, proc);
  return { env, url };
}

/** The projector's tree on the service's data folder, as compose mounts it, and a fresh schema. */
async function run_projector_tree(s: Stack, partner_token: string): Promise<void> {
  const port = free_port();
  const env = { ...base_env(), DATABASE_URL: s.services.database_url,
    DATABASE_SCHEMA: s.database.schema, KAFKA_BROKERS: s.services.kafka_brokers,
    EVENTS_TOPIC: s.topic, PROJECTOR_GROUP_ID: `${s.topic}-projector`,
    PROJECTOR_HOST: "127.0.0.1", PROJECTOR_PORT: String(port), DATA_DIR: s.data_dir };
  const proc = StagedProcess.start(s.projector_tree.dir, argv_of("docker/projector.Dockerfile"), env);
  s.processes.push(proc);
  await until_healthy(s.projector_tree, "docker/projector.Dockerfile", env, proc);
  const account = await until("the projector serves the credited account", async () => {
    const response = await fetch(`http://127.0.0.1:${port}/accounts/1001?partner=${PARTNER}`,
      { headers: { authorization: `Bearer ${partner_token}` } });
    const body = await response.json() as { balance?: string };
    return response.status === 200 && body.balance === "500" ? body : null;
  }, () => proc.output, proc);
  expect(account).toMatchObject({ account: "1001", partner: PARTNER, balance: "500" });
}

describe("the images' file trees, run without Docker", () => {
  test("the service and the projector start from what their Dockerfiles copy, and work together",
    async () => {
      const s = stack!;
      const { env } = await run_service_tree(s);
      await run_projector_tree(s, token(s, env, ["--partner", String(PARTNER)]));
      // SIGTERM, as `docker compose stop` sends it: both stop cleanly.
      for (const proc of s.processes) proc.proc.kill("SIGTERM");
      const codes = await Promise.all(s.processes.map((proc) => proc.exited));
      expect(codes).toEqual([0, 0]);
      s.processes.length = 0;
    }, STAGED_TIMEOUT_MS);
});
