// Command-line options and environment of `bun run reconcile` (docs/reconcile.md). A bad option is
// a ReconcileError (exit 2) that names it.

import { ReconcileError } from "./rows.ts";

export const URL_DEFAULT = "http://127.0.0.1:8080";
/** How long reconcile waits for the projector to reach the engine state's sequence, per group. */
export const WAIT_MS_DEFAULT = 30_000;
export const WAIT_MS_MAX = 3_600_000;
/** The service allows up to 1024 groups (common/constants.ts GROUPS_MAX). */
const GROUP_MAX = 1023;
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export const USAGE = `usage: bun run reconcile [--url ${URL_DEFAULT}] [--token T] [--groups 0,1] ` +
  `[--wait-ms ${WAIT_MS_DEFAULT}] [--json]
  --token: an internal token (or RECONCILE_TOKEN); --groups: default every group of the service
  environment: DATABASE_URL (required), DATABASE_SCHEMA (default: the server's search_path)`;

export interface ReconcileOptions {
  url: string;
  token: string;
  /** null: every group the service has. */
  groups: number[] | null;
  wait_ms: number;
  json: boolean;
  database_url: string;
  database_schema: string | null;
}

function integer_of(name: string, text: string, max: number): number {
  if (!/^\d{1,10}$/.test(text) || Number(text) > max) {
    throw new ReconcileError(`${name} must be an integer 0..${max}, got "${text}"`);
  }
  return Number(text);
}

function groups_of(text: string): number[] {
  const groups = text.split(",").map((part) => integer_of("--groups", part.trim(), GROUP_MAX));
  if (new Set(groups).size !== groups.length) {
    throw new ReconcileError(`--groups repeats a group: ${text}`);
  }
  return groups;
}

function url_of(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ReconcileError(`--url is not a URL: "${text}"`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ReconcileError(`--url must be http:// or https://, got "${text}"`);
  }
  return text.replace(/\/+$/, "");
}

/** Parses argv (without the runtime and script) and the environment. */
export function parse_options(argv: readonly string[], env: Record<string, string | undefined>)
  : ReconcileOptions {
  const options: ReconcileOptions = {
    url: URL_DEFAULT, token: env.RECONCILE_TOKEN ?? "", groups: null, wait_ms: WAIT_MS_DEFAULT,
    json: false, database_url: env.DATABASE_URL ?? "", database_schema: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i]!;
    if (name === "--json") {
      options.json = true;
      continue;
    }
    const value = argv[++i];
    if (value === undefined) throw new ReconcileError(`${name} needs a value\n${USAGE}`);
    if (name === "--url") options.url = url_of(value);
    else if (name === "--token") options.token = value;
    else if (name === "--groups") options.groups = groups_of(value);
    else if (name === "--wait-ms") options.wait_ms = integer_of("--wait-ms", value, WAIT_MS_MAX);
    else throw new ReconcileError(`unknown option ${name}\n${USAGE}`);
  }
  if (options.token === "") {
    throw new ReconcileError(`no token: --token T or RECONCILE_TOKEN\n${USAGE}`);
  }
  if (options.database_url === "") {
    throw new ReconcileError("DATABASE_URL is not set (postgres://user@host:port/database)");
  }
  const schema = env.DATABASE_SCHEMA ?? "";
  if (schema !== "" && !SCHEMA_NAME.test(schema)) {
    throw new ReconcileError(`DATABASE_SCHEMA "${schema}" is not a schema name (a-z 0-9 _)`);
  }
  options.database_schema = schema === "" ? null : schema;
  return options;
}
