// docker/docker-compose.yml as Compose itself reads it, without a Docker engine: Debian's
// `docker-compose` (1.29, scripts/services/install.sh compose) validates a file against the
// Compose Specification's schema and its cross-references (`config`), and prints the resolved
// file (anchors and defaults applied), which the tests read with Bun's YAML parser.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { assert } from "../../common/assert.ts";

export const REPO_ROOT = resolve(import.meta.dir, "..", "..");
export const COMPOSE_FILE = join(REPO_ROOT, "docker", "docker-compose.yml");
/** `config` reads one small file; a cold Python start takes about a second. */
const COMPOSE_TIMEOUT_MS = 60_000;

export interface ComposeRun {
  exit_code: number;
  stdout: string;
  stderr: string;
}

/** The docker-compose binary; throws (never skips) with how to install it when it is missing. */
export function compose_binary(): string {
  const path = Bun.which("docker-compose");
  if (path === null) {
    throw new Error("docker-compose is not installed: `scripts/services/install.sh compose` " +
      "installs Debian's (no Docker engine needed)");
  }
  return path;
}

/** `docker-compose -f <file> config` (no engine is contacted). */
export function compose_config(file: string): ComposeRun {
  const result = Bun.spawnSync([compose_binary(), "--ansi", "never", "-f", file, "config"], {
    cwd: REPO_ROOT,
    // No COMPOSE_* or DOCKER_* from the shell may change what is checked.
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? tmpdir() },
    timeout: COMPOSE_TIMEOUT_MS,
  });
  return {
    exit_code: result.exitCode ?? -1,
    stdout: result.stdout.toString(),
    stderr: result.stderr.toString(),
  };
}

/**
 * Validates `document` (a compose file as a value) by writing it as JSON, which YAML reads as
 * is, to <temporary>/docker/docker-compose.yml: the same depth as the real file, so `context: ..`
 * still names an existing folder.
 */
export function compose_config_of(document: unknown): ComposeRun {
  const dir = mkdtempSync(join(tmpdir(), "compose-check-"));
  try {
    mkdirSync(join(dir, "docker"));
    const file = join(dir, "docker", "docker-compose.yml");
    writeFileSync(file, JSON.stringify(document, null, 2));
    return compose_config(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export type Yaml = Record<string, unknown>;

export function is_map(value: unknown): value is Yaml {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function parse_yaml(text: string, what: string): Yaml {
  const value: unknown = Bun.YAML.parse(text);
  if (!is_map(value)) throw new Error(`${what} is not a YAML mapping`);
  return value;
}

/** The mapping at `path` (keys) inside `value`; throws naming the path when it is not one. */
export function map_at(value: unknown, ...path: string[]): Yaml {
  let current = value;
  for (const key of path) {
    if (!is_map(current)) break;
    current = current[key];
  }
  if (!is_map(current)) throw new Error(`${path.join(".")} is not a mapping`);
  return current;
}

/** A service's environment as strings (compose's resolved output is always a mapping). */
export function environment_of(config: Yaml, service: string): Record<string, string> {
  const environment = map_at(config, "services", service, "environment");
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(environment)) {
    assert(typeof value === "string", `${service}: ${name} is not a string in the resolved file`);
    env[name] = value;
  }
  return env;
}

/** A list of strings at `path`; throws naming the path otherwise. */
export function strings_at(value: unknown, ...path: string[]): string[] {
  const parent = map_at(value, ...path.slice(0, -1));
  const list = parent[path[path.length - 1]!];
  if (!Array.isArray(list) || !list.every((item) => typeof item === "string")) {
    throw new Error(`${path.join(".")} is not a list of strings`);
  }
  return list as string[];
}
