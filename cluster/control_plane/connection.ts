// The control plane's connections to PostgreSQL, and the one place that tells "could not reach the
// database" from every other failure. A caller must never read an outage as a lost lease: a primary
// steps down only on seeing a higher epoch (docs/cluster.md), so every operation answers
// `unreachable` for the first and lets anything else (a bug, a broken schema) throw.

import postgres from "postgres";
import { assert } from "../../common/assert.ts";
import {
  CONTROL_PLANE_CONNECT_TIMEOUT_S, CONTROL_PLANE_RECONNECT_DELAY_FIRST_MS,
  CONTROL_PLANE_RECONNECT_DELAY_MAX_MS, CONTROL_PLANE_STATEMENT_TIMEOUT_MS,
} from "../../common/constants.ts";
import { CONTROL_PLANE_SCHEMA_DEFAULT, schema_problem } from "./inputs.ts";

/** A node needs few: its renewals, its in-sync changes and a map read may overlap. */
const CONNECTIONS_MAX = 2;

export interface ControlPlaneOptions {
  /** postgres://user@host:port/database */
  database_url: string;
  /** The tables' PostgreSQL schema (default "cluster"). */
  schema?: string;
}

export interface ControlPlane {
  readonly schema: string;
  /** Connections whose search_path is the control plane's schema. */
  readonly sql: postgres.Sql;
  close(): Promise<void>;
}

/** The database could not be asked, or did not answer: nothing is known about the change. */
export interface Unreachable {
  kind: "unreachable";
  message: string;
}

/** Opens a pool (lazily connected: an unreachable database shows at the first operation). */
export function open_control_plane(options: ControlPlaneOptions): ControlPlane {
  const schema = options.schema ?? CONTROL_PLANE_SCHEMA_DEFAULT;
  const problem = schema_problem(schema);
  assert(problem === null, `control plane: ${problem}`);
  const sql = postgres(options.database_url, {
    max: CONNECTIONS_MAX,
    connect_timeout: CONTROL_PLANE_CONNECT_TIMEOUT_S,
    backoff: reconnect_delay_s,
    onnotice: () => {},
    connection: {
      search_path: schema,
      statement_timeout: CONTROL_PLANE_STATEMENT_TIMEOUT_MS,
      // A lease's expiry is compared in the database; its text form is read back in UTC.
      TimeZone: "UTC",
    },
  });
  return {
    schema,
    sql,
    close: () => sql.end({ timeout: CONTROL_PLANE_CONNECT_TIMEOUT_S }),
  };
}

/** How long postgres.js waits before connecting again after `failures` failed connections, in
 * seconds (its unit): doubling from the first delay, never above the max (constants.ts says why). */
export function reconnect_delay_s(failures: number): number {
  const delay_ms = CONTROL_PLANE_RECONNECT_DELAY_FIRST_MS * 2 ** Math.max(0, failures - 1);
  return Math.min(delay_ms, CONTROL_PLANE_RECONNECT_DELAY_MAX_MS) / 1000;
}

// Socket-level failures (Node's and postgres.js's own codes).
const CONNECTION_ERROR_CODES: ReadonlySet<string> = new Set([
  "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EPIPE", "ENOTFOUND",
  "EAI_AGAIN", "CONNECT_TIMEOUT", "CONNECTION_CLOSED", "CONNECTION_ENDED", "CONNECTION_DESTROYED",
]);
// SQLSTATEs of a server that is going away, starting, overloaded or too slow to answer in time.
const UNAVAILABLE_SQLSTATES: ReadonlySet<string> = new Set([
  "57P01", "57P02", "57P03", "57014", "53300",
]);

/** True when `error` says the database was not reached or could not answer now. */
export function is_unreachable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code !== "string") return false;
  if (error instanceof postgres.PostgresError) {
    return code.startsWith("08") || UNAVAILABLE_SQLSTATES.has(code);
  }
  return CONNECTION_ERROR_CODES.has(code);
}

/** Runs one operation; an outage becomes `unreachable`, anything else is thrown on. */
export async function reach<T>(operation: () => Promise<T>): Promise<T | Unreachable> {
  try {
    return await operation();
  } catch (error) {
    if (!is_unreachable(error)) throw error;
    return { kind: "unreachable", message: (error as Error).message };
  }
}
