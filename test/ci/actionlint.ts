// actionlint for the tests of .github/workflows/: installed by scripts/install-actionlint.sh (from
// the Go module proxy, once per machine), then run on files or on a changed copy through stdin,
// its findings read back as JSON. When shellcheck is on PATH actionlint also checks every `run:`
// script with it; the workflows pass either way.

import { readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { assert } from "../../common/assert.ts";

export const REPO_ROOT = resolve(import.meta.dir, "..", "..");
export const WORKFLOWS_DIR = ".github/workflows";
const INSTALL_SCRIPT = join(REPO_ROOT, "scripts", "install-actionlint.sh");
/** A cold install downloads the module and compiles it: minutes on a loaded 2-core machine. */
const INSTALL_TIMEOUT_MS = 900_000;
/** actionlint checks two small files in well under a second; shellcheck adds a few. */
const LINT_TIMEOUT_MS = 60_000;

export interface Install {
  /** The binary's path, or null when the script failed. */
  binary: string | null;
  exit_code: number;
  stderr: string;
}

/** Runs scripts/install-actionlint.sh (a no-op when the pinned version is there). */
export function install_actionlint(): Install {
  const result = Bun.spawnSync(["bash", INSTALL_SCRIPT], {
    cwd: REPO_ROOT,
    env: process.env,
    timeout: INSTALL_TIMEOUT_MS,
  });
  const exit_code = result.exitCode ?? -1;
  const stdout = result.stdout.toString().trim();
  const stderr = result.stderr.toString();
  if (exit_code !== 0 || stdout === "") return { binary: null, exit_code, stderr };
  return { binary: stdout, exit_code, stderr };
}

/** The installed binary; throws (never skips) with the script's own words when it failed. */
export function binary_of(install: Install): string {
  if (install.binary === null) {
    throw new Error(`actionlint could not be installed: scripts/install-actionlint.sh exited ` +
      `${install.exit_code}:\n${install.stderr}`);
  }
  return install.binary;
}

/** One finding, as actionlint's `-format '{{json .}}'` writes it. */
export interface Finding {
  message: string;
  filepath: string;
  line: number;
  column: number;
  kind: string;
}

export interface Lint {
  exit_code: number;
  findings: Finding[];
  stderr: string;
}

/** Workflow files, as repository paths, sorted. */
export function workflow_files(): string[] {
  return readdirSync(join(REPO_ROOT, WORKFLOWS_DIR))
    .filter((name) => name.endsWith(".yml") || name.endsWith(".yaml"))
    .sort()
    .map((name) => `${WORKFLOWS_DIR}/${name}`);
}

function lint(binary: string, args: string[], stdin: string | undefined): Lint {
  const result = Bun.spawnSync([binary, "-no-color", "-format", "{{json .}}", ...args], {
    cwd: REPO_ROOT,
    // No ACTIONLINT_* or GitHub settings from the shell may change what is checked.
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? tmpdir() },
    stdin: stdin === undefined ? "ignore" : Buffer.from(stdin),
    timeout: LINT_TIMEOUT_MS,
  });
  const stdout = result.stdout.toString().trim();
  const findings = stdout === "" ? [] : JSON.parse(stdout) as Finding[];
  assert(Array.isArray(findings), "actionlint's JSON output is a list of findings");
  return { exit_code: result.exitCode ?? -1, findings, stderr: result.stderr.toString() };
}

/** actionlint on workflow files (repository paths). */
export function lint_files(binary: string, paths: readonly string[]): Lint {
  assert(paths.length > 0, "lint_files needs at least one file");
  return lint(binary, [...paths], undefined);
}

/** actionlint on `text`, read from stdin as if it were the workflow at `path`. */
export function lint_text(binary: string, path: string, text: string): Lint {
  return lint(binary, ["-stdin-filename", path, "-"], text);
}
