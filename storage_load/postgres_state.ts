// Loading from storage, step 1 (docs/design.md section 5): one group's projected state from
// PostgreSQL, read in ONE repeatable-read, read-only transaction so accounts, holds and the applied
// sequence are the same instant: the state after event `sequence` of the group, exactly as the
// projector set it. The projector's tables are in schema/projection.ts; this is only a reader of
// them.
//
// Closed holds are read too when they closed within the idempotency window before `sequence`:
// the engine keeps those (a late capture answers hold_settled, not hold_not_found), so a loaded
// engine must as well. Their closing time is the engine time of the event that closed them.

import { and, asc, eq, gte, ne, or, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/postgres-js";
import type postgres from "postgres";
import { HoldState } from "../schema/hold_state.ts";
import {
  account_figures, accounts, applied_sequence, holds, orders, type AccountFigures,
} from "../schema/projection.ts";

export interface HoldRecord {
  /** A hold is named by its partner and the id of the order that opened it. */
  partner: number;
  hold_id: bigint;
  account_id: bigint;
  amount_minor: number;
  /** Engine time the hold expires at; 0: no timeout (the engine's convention). */
  expires_at_ms: number;
  state: HoldState;
  /** Engine time it closed; 0 while open. */
  closed_at_ms: number;
  /** The last event that changed it (holds are restored open first, then in closing order). */
  sequence: number;
}

export interface GroupStoredState {
  group: number;
  /** The last event applied to these rows; 0 when the group was never projected. */
  sequence: number;
  epoch: number;
  /** Engine time of event `sequence` (0 when there is none). */
  engine_time_ms: number;
  accounts: AccountFigures[];
  holds: HoldRecord[];
}

/** Whether the projector's tables are there (on the search path): a projector has migrated. */
export async function projection_exists(client: postgres.Sql): Promise<boolean> {
  const rows = await client`select to_regclass('applied_sequence') is not null as present`;
  return rows[0]?.present === true;
}

/** A group nothing was projected of: Kafka alone then holds its events, from the first. */
export function nothing_stored(group: number): GroupStoredState {
  return { group, sequence: 0, epoch: 0, engine_time_ms: 0, accounts: [], holds: [] };
}

/** The group's state as PostgreSQL holds it, read in one REPEATABLE READ transaction. */
export async function read_group_state(client: postgres.Sql, group: number,
  window_ms: number): Promise<GroupStoredState> {
  const db = drizzle(client);
  return db.transaction(async (tx) => {
    const applied = await tx
      .select({ sequence: applied_sequence.sequence, epoch: applied_sequence.epoch })
      .from(applied_sequence).where(eq(applied_sequence.group_id, group));
    const sequence = applied[0]?.sequence ?? 0;
    const epoch = applied[0]?.epoch ?? 0;
    const at_sequence = sequence === 0 ? [] : await tx.select({ time: orders.engine_time_ms })
      .from(orders).where(and(eq(orders.group_id, group), eq(orders.sequence, sequence)));
    if (sequence !== 0 && at_sequence.length === 0) {
      throw new Error(`group ${group}: applied sequence ${sequence} has no row in orders`);
    }
    const engine_time_ms = at_sequence[0]?.time ?? 0;
    const account_rows = await tx.select(account_figures).from(accounts)
      .where(eq(accounts.group_id, group)).orderBy(asc(accounts.last_sequence));
    const hold_rows = await read_holds(tx, group, engine_time_ms - window_ms);
    return { group, sequence, epoch, engine_time_ms, accounts: account_rows, holds: hold_rows };
  }, { isolationLevel: "repeatable read", accessMode: "read only" });
}

type Transaction = Parameters<Parameters<ReturnType<typeof drizzle>["transaction"]>[0]>[0];

/** Open holds, and those closed at or after `closed_since_ms`; open first, then by closing. */
async function read_holds(tx: Transaction, group: number,
  closed_since_ms: number): Promise<HoldRecord[]> {
  const rows = await tx.select({
    partner: holds.partner, hold_id: holds.hold_id, account_id: holds.account_id,
    amount_minor: holds.amount_minor,
    expires_at_ms: holds.expires_at_ms, state: holds.state, sequence: holds.sequence,
    closed_at_ms: orders.engine_time_ms,
  }).from(holds)
    .innerJoin(orders,
      and(eq(orders.group_id, holds.group_id), eq(orders.sequence, holds.sequence)))
    .where(and(eq(holds.group_id, group), or(eq(holds.state, HoldState.open),
      and(ne(holds.state, HoldState.open), gte(orders.engine_time_ms, closed_since_ms)))))
    .orderBy(sql`${holds.state} <> ${HoldState.open}`, asc(holds.sequence));
  return rows.map((row) => ({
    partner: row.partner,
    hold_id: row.hold_id,
    account_id: row.account_id,
    amount_minor: row.amount_minor,
    expires_at_ms: row.expires_at_ms ?? 0,
    state: row.state as HoldState,
    closed_at_ms: row.state === HoldState.open ? 0 : row.closed_at_ms,
    sequence: row.sequence,
  }));
}
