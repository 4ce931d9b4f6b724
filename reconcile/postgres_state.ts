// One group's projection in PostgreSQL (schema/projection.ts), read with drizzle-orm in one
// REPEATABLE READ, read-only transaction, so accounts, holds and the applied sequence are one
// consistent picture even while the projector writes. Before reading, wait_applied waits (bounded)
// until the projector has applied the group at least up to the engine state's sequence.

import { and, eq, gt, or, sql } from "drizzle-orm";
import { drizzle, type PostgresJsDatabase } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import { assert } from "../common/assert.ts";
import { HoldState } from "../schema/hold_state.ts";
import {
  account_figures, accounts, applied_sequence, holds, u64_key, type AccountFigures,
} from "../schema/projection.ts";
import { ReconcileError, type AccountRow, type PostgresHold, type PostgresState } from "./rows.ts";

const CONNECT_TIMEOUT_S = 5;
const CONNECTIONS_MAX = 1;
const END_TIMEOUT_S = 5;
/** How often wait_applied looks at the applied sequence. */
export const APPLIED_POLL_MS = 100;

export interface PostgresSource {
  database_url: string;
  /** The projection's schema; null: the server's search_path (normally public). */
  schema: string | null;
}

export class PostgresReader {
  private readonly client: postgres.Sql;
  private readonly db: PostgresJsDatabase;

  constructor(source: PostgresSource) {
    const connection = source.schema === null ? {} : { search_path: source.schema };
    this.client = postgres(source.database_url, {
      max: CONNECTIONS_MAX, connect_timeout: CONNECT_TIMEOUT_S, onnotice: () => {}, connection,
    });
    this.db = drizzle(this.client);
  }

  close(): Promise<void> {
    return this.client.end({ timeout: END_TIMEOUT_S });
  }

  /** The group's applied sequence (0 before its first event). */
  async applied(group: number): Promise<number> {
    const rows = await this.attempt("read the applied sequence", () => this.db
      .select({ sequence: applied_sequence.sequence }).from(applied_sequence)
      .where(eq(applied_sequence.group_id, group)));
    return rows[0]?.sequence ?? 0;
  }

  /** Waits until the projector has applied `group` up to `sequence`; returns what it applied. */
  async wait_applied(group: number, sequence: number, wait_ms: number): Promise<number> {
    const deadline_ms = performance.now() + wait_ms;
    for (;;) {
      const applied = await this.applied(group);
      if (applied >= sequence) return applied;
      if (performance.now() >= deadline_ms) {
        throw new ReconcileError(`group ${group}: the projector never caught up: PostgreSQL ` +
          `applied sequence ${applied} < the engine's ${sequence} after ${wait_ms} ms ` +
          "(is the projector running, on this schema and topic?)");
      }
      await Bun.sleep(APPLIED_POLL_MS);
    }
  }

  /**
   * Accounts, the holds that matter for a state at `sequence` (open ones, ones changed after it,
   * and the rows of the engine's open holds whatever their state) and the applied sequence.
   */
  read_group(group: number, sequence: number, engine_open_holds: readonly bigint[])
    : Promise<PostgresState> {
    // One text parameter, not one parameter per id (PostgreSQL allows 65,535 per statement); the
    // ids as the int8 keys they are stored as (schema/projection.ts).
    const hold_keys = engine_open_holds.map((id) => u64_key(id).toString()).join(",");
    return this.attempt("read the projection", () => this.db.transaction(async (tx) => {
      const [applied] = await tx.select({ sequence: applied_sequence.sequence })
        .from(applied_sequence).where(eq(applied_sequence.group_id, group));
      const account_rows = await tx.select(account_figures).from(accounts)
        .where(eq(accounts.group_id, group));
      const hold_rows = await tx.select(HOLD_COLUMNS).from(holds).where(and(
        eq(holds.group_id, group),
        or(eq(holds.state, HoldState.open), gt(holds.sequence, sequence),
          sql`${holds.hold_id} = any(string_to_array(${hold_keys}, ',')::bigint[])`),
      ));
      return { group, applied_sequence: applied?.sequence ?? 0,
        accounts: account_rows.map(account_row), holds: hold_rows.map(hold_row) };
    }, { isolationLevel: "repeatable read", accessMode: "read only" }));
  }

  /** Runs a query; a failure to reach PostgreSQL or of the query is a ReconcileError. */
  private async attempt<T>(what: string, query: () => Promise<T>): Promise<T> {
    try {
      return await query();
    } catch (error) {
      if (error instanceof ReconcileError) throw error;
      throw new ReconcileError(`PostgreSQL: could not ${what}: ${String(error)}`);
    }
  }
}

const HOLD_COLUMNS = {
  partner: holds.partner,
  hold: holds.hold_id,
  account: holds.account_id,
  amount_minor: holds.amount_minor,
  expires_at_ms: holds.expires_at_ms,
  state: holds.state,
  sequence: holds.sequence,
};

/** A selected row: each column's TypeScript type as drizzle reads it (null where nullable). */
type Selected<T extends Record<string, { _: { data: unknown; notNull: boolean } }>> =
  { [K in keyof T]: T[K]["_"]["notNull"] extends true ? T[K]["_"]["data"]
    : T[K]["_"]["data"] | null };
type HoldSelect = Selected<typeof HOLD_COLUMNS>;

function account_row(row: AccountFigures): AccountRow {
  const { account_id, ...figures } = row;
  assert(typeof account_id === "bigint", "account_id read as a bigint");
  return { account: account_id, ...figures };
}

function hold_row(row: HoldSelect): PostgresHold {
  assert(typeof row.hold === "bigint" && typeof row.account === "bigint", "ids read as bigints");
  return { ...row };
}
