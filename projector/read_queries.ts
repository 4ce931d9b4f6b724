// The read API's queries over the projection (schema/projection.ts), with drizzle-orm. Each one is
// a single statement served by an index of the schema:
//   account          accounts_partner_account_idx (partner, account_id), then applied_sequence's key
//   order status     orders_partner_order_idx (partner, order_id): the order's few rows, the
//                    first event by sequence
//   account history  orders_account_sequence_idx (account_id, sequence) for the account's own
//                    events, union all orders_transfer_target_idx (ref, sequence) where op =
//                    transfer for the transfers it received; each side stops after `limit + 1`
//                    rows, so a page costs O(limit) however long the history is.

import { and, asc, eq, gt, ne, sql } from "drizzle-orm";
import { unionAll } from "drizzle-orm/pg-core";
import { drizzle, type PostgresJsDatabase } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import { assert } from "../common/assert.ts";
import { Op } from "../schema/generated/balance/wire/op.ts";
import {
  account_figures, accounts, applied_sequence, orders, type AccountFigures,
} from "../schema/projection.ts";

/** The most events one history page holds; `limit` defaults to HISTORY_LIMIT_DEFAULT. */
export const HISTORY_LIMIT_MAX = 1_000;
export const HISTORY_LIMIT_DEFAULT = 100;

// A literal, not a parameter: the planner may use the partial index (where op = transfer) only
// when it can see the value, and prepared statements turn generic after a few executions.
function is_transfer() {
  return sql`${orders.op} = ${sql.raw(String(Op.transfer))}`;
}

export type ReadDatabase = PostgresJsDatabase<Record<string, never>>;

/** A read-only transaction of the pool: what several reads share to see one snapshot. */
export type ReadTransaction = Parameters<Parameters<ReadDatabase["transaction"]>[0]>[0];
/** Either: every read runs alone or inside a snapshot. */
export type Reader = ReadDatabase | ReadTransaction;

/** Runs `reads` in one REPEATABLE READ, read-only transaction: they all see the same snapshot. */
export function read_snapshot<T>(db: ReadDatabase, reads: (tx: ReadTransaction) => Promise<T>)
  : Promise<T> {
  return db.transaction(reads, { isolationLevel: "repeatable read", accessMode: "read only" });
}

/** Connections the read API holds at most: reads queue for one beyond that. */
export const READ_CONNECTIONS_MAX = 4;
/** postgres.js gives up connecting after this, so a read fails fast while PostgreSQL is away. */
export const READ_CONNECT_TIMEOUT_S = 3;
/** PostgreSQL cancels a read running longer (every read is one indexed statement). */
export const READ_STATEMENT_TIMEOUT_MS = 5_000;
const READ_END_TIMEOUT_S = 5;

export interface ReadPool {
  db: ReadDatabase;
  close(): Promise<void>;
}

/** A pool of its own for the read API, so reads never wait behind the consumer's batches. */
export function open_read_pool(database_url: string, search_path: string | null): ReadPool {
  const client = postgres(database_url, {
    max: READ_CONNECTIONS_MAX,
    onnotice: () => {},
    connect_timeout: READ_CONNECT_TIMEOUT_S,
    connection: {
      statement_timeout: READ_STATEMENT_TIMEOUT_MS,
      ...(search_path === null ? {} : { search_path }),
    },
  });
  return { db: drizzle(client), close: () => client.end({ timeout: READ_END_TIMEOUT_S }) };
}

export type AccountView = AccountFigures & {
  group_id: number;
  /** The group's applied sequence: the projection is current up to it. */
  applied_sequence: number;
};

/** The account of `partner`, or null when the projection has no such account of that partner. */
export async function read_account(db: Reader, partner: number,
  account_id: bigint): Promise<AccountView | null> {
  const rows = await db
    .select({
      group_id: accounts.group_id,
      ...account_figures,
      applied_sequence: applied_sequence.sequence,
    })
    .from(accounts)
    .innerJoin(applied_sequence, eq(applied_sequence.group_id, accounts.group_id))
    .where(and(eq(accounts.partner, partner), eq(accounts.account_id, account_id)));
  // (partner, account id) is unique within a group and a partner lives in one group: one row.
  assert(rows.length <= 1, `account ${account_id} of partner ${partner} projected twice`);
  const row = rows[0];
  if (row === undefined) return null;
  assert(row.applied_sequence >= row.last_sequence, "an account is never ahead of its group");
  return row;
}

export interface EventView {
  group_id: number;
  sequence: number;
  engine_time_ms: number;
  order_id: bigint;
  account_id: bigint;
  op: number;
  status: number;
  amount_minor: bigint;
  ref: bigint;
  currency: number;
  balance_after_minor: number;
  held_after_minor: number;
  counter_balance_after_minor: number;
}

const event_columns = {
  group_id: orders.group_id,
  sequence: orders.sequence,
  engine_time_ms: orders.engine_time_ms,
  order_id: orders.order_id,
  account_id: orders.account_id,
  op: orders.op,
  status: orders.status,
  amount_minor: orders.amount_minor,
  ref: orders.ref,
  currency: orders.currency,
  balance_after_minor: orders.balance_after_minor,
  held_after_minor: orders.held_after_minor,
  counter_balance_after_minor: orders.counter_balance_after_minor,
};

/** The order's first event (its status), or null when no event of it is projected. */
export async function read_order(db: Reader, partner: number,
  order_id: bigint): Promise<EventView | null> {
  assert(order_id > 0n, "order id 0 names engine-made expiries, not an order");
  const rows = await db
    .select(event_columns)
    .from(orders)
    .where(and(eq(orders.partner, partner), eq(orders.order_id, order_id)))
    .orderBy(asc(orders.sequence))
    .limit(1);
  return rows[0] ?? null;
}

export interface HistoryPage {
  events: EventView[];
  /** Whether events after the page's last one exist (as of the query). */
  more: boolean;
}

/**
 * The account's events after `after_sequence`, in sequence order: orders naming it, and transfers
 * it received. `group` is the account's (read_account), so sequences are comparable.
 */
export async function read_history(db: Reader, group: number, partner: number,
  account_id: bigint, after_sequence: number, limit: number): Promise<HistoryPage> {
  assert(Number.isInteger(limit) && limit >= 1 && limit <= HISTORY_LIMIT_MAX, "history limit");
  assert(Number.isSafeInteger(after_sequence) && after_sequence >= 0, "history cursor");
  const rows_max = limit + 1; // one more than the page says whether there is a next page
  const own = db
    .select(event_columns)
    .from(orders)
    .where(and(eq(orders.account_id, account_id), gt(orders.sequence, after_sequence),
      eq(orders.group_id, group), eq(orders.partner, partner)))
    .orderBy(asc(orders.sequence))
    .limit(rows_max);
  // A transfer to itself is refused but recorded: the account's own side already lists it.
  const received = db
    .select(event_columns)
    .from(orders)
    .where(and(eq(orders.ref, account_id), is_transfer(),
      gt(orders.sequence, after_sequence), eq(orders.group_id, group),
      eq(orders.partner, partner), ne(orders.account_id, account_id)))
    .orderBy(asc(orders.sequence))
    .limit(rows_max);
  const rows = await unionAll(own, received).orderBy(asc(orders.sequence)).limit(rows_max);
  for (let i = 1; i < rows.length; i++) {
    assert(rows[i]!.sequence > rows[i - 1]!.sequence, "one event per (group, sequence)");
  }
  return { events: rows.slice(0, limit), more: rows.length > limit };
}

/** How many migrations the database has recorded as applied (0 when drizzle's table is missing). */
export async function applied_migration_count(db: ReadDatabase,
  migrations_schema: string): Promise<number> {
  const exists = await db.execute<{ name: string | null }>(
    sql`select to_regclass(${`${migrations_schema}.__drizzle_migrations`}::text)::text as name`);
  if (exists[0]?.name === null || exists[0]?.name === undefined) return 0;
  const rows = await db.execute<{ count: number }>(
    sql`select count(*)::int as count from ${sql.identifier(migrations_schema)}.__drizzle_migrations`);
  return rows[0]?.count ?? 0;
}
