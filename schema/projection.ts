// The projection's tables in PostgreSQL (docs/design.md sections 3-5): what the projector keeps up
// to date from the event stream, for every other service to read. drizzle-kit generates the
// committed migrations in projector/migrations/ from this file (`npm run db:generate`); apply_batch
// (projector/apply.ts) writes these tables with bulk statements, the read API queries them.
//
// Types, and why:
// - 64-bit unsigned values (account, order and hold ids, an order's ref and amount as received)
//   are int8 keys: the u64 minus 2^63 (u64_key below), so every u64 fits, and keys sort as the
//   values do. numeric(20,0) read the same to any other service but made the orders table's
//   indexes about half of the projector's database time (bigger entries, slower comparisons;
//   docs/performance.md, "Pipeline"). Every reader goes through u64_column's conversion (drizzle)
//   or u64_key / u64_of_key; SQL that wants the value writes `key::numeric + 9223372036854775808`
//   (U64_KEY_OFFSET_SQL). The TypeScript side holds the values as bigint, the JSON API as decimal
//   strings of the unsigned value.
// - Money is bigint (int8) minor units: the engine keeps every figure a safe integer
//   (|x| <= 2^53 - 1, common/constants.ts), so int8 is exact and drizzle reads it as a number.
// - Sequences, epochs (u32) and engine times are bigint too; partner ids (u32) do not fit int4.
// - Enums (kind, state, op, status, hold state) are smallint holding the wire values of
//   schema/balance.fbs (and engine/holds.ts HoldState): retired values are never reused there.
// - Account and order ids (so hold ids) are each partner's own: accounts and holds are keyed by
//   (group_id, partner, id), and every read names the partner. Every row carries its group, and
//   (group_id, sequence) names one event.
// - No foreign keys: the projector writes in bulk and in event order, and drizzle-kit would pin
//   them to the "public" schema.

import { sql } from "drizzle-orm";
import {
  bigint, check, customType, index, integer, pgTable, primaryKey, smallint, timestamp,
} from "drizzle-orm/pg-core";
import { assert } from "../common/assert.ts";
import { HoldState } from "../schema/hold_state.ts";
import { Op } from "./generated/balance/wire/op.ts";

const U64_MAX = (1n << 64n) - 1n;
/** A u64 is stored as this much less: [0, 2^64) maps onto int8's [-2^63, 2^63), order kept. */
export const U64_KEY_OFFSET = 1n << 63n;
/** U64_KEY_OFFSET as a SQL literal, for statements that turn a key back into its value. */
export const U64_KEY_OFFSET_SQL = U64_KEY_OFFSET.toString();

/** The int8 key a u64 value is stored as. */
export function u64_key(value: bigint): bigint {
  assert(value >= 0n && value <= U64_MAX, "a u64 value");
  return value - U64_KEY_OFFSET;
}

/** The u64 value an int8 key stands for. */
export function u64_of_key(key: bigint): bigint {
  assert(key >= -U64_KEY_OFFSET && key < U64_KEY_OFFSET, "an int8 key");
  return key + U64_KEY_OFFSET;
}

/**
 * A u64 column: an int8 key in PostgreSQL (every int8 is some u64's key, so no range check is
 * needed), the unsigned value (bigint) in TypeScript. drizzle converts both ways, for values
 * written and compared (eq(column, value)) and for rows read. postgres.js hands int8 over as
 * text, so no precision is lost on the way.
 */
const u64 = customType<{ data: bigint; driverData: string }>({
  dataType: () => "bigint",
  toDriver: (value) => u64_key(value).toString(),
  fromDriver: (key) => u64_of_key(BigInt(key)),
});

function money(name: string) {
  return bigint(name, { mode: "number" });
}

/** One row per account: its figures as of last_sequence, set (never added) from the events. */
export const accounts = pgTable(
  "accounts",
  {
    group_id: integer("group_id").notNull(),
    account_id: u64("account_id").notNull(),
    partner: bigint("partner", { mode: "number" }).notNull(),
    kind: smallint("kind").notNull(), // AccountKind
    currency: smallint("currency").notNull(), // ISO 4217 numeric
    state: smallint("state").notNull(), // AccountState
    overdraft_limit_minor: money("overdraft_limit_minor").notNull(),
    balance_minor: money("balance_minor").notNull(),
    held_minor: money("held_minor").notNull(),
    // Computed by PostgreSQL, so it can never disagree with the three figures it is made of.
    available_minor: money("available_minor")
      .notNull()
      .generatedAlwaysAs(sql`balance_minor - held_minor + overdraft_limit_minor`),
    last_sequence: bigint("last_sequence", { mode: "number" }).notNull(),
    updated_at: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ name: "accounts_pk", columns: [t.group_id, t.partner, t.account_id] }),
    index("accounts_partner_account_idx").on(t.partner, t.account_id),
    check("accounts_held_not_negative", sql`held_minor >= 0`),
    check("accounts_overdraft_not_negative", sql`overdraft_limit_minor >= 0`),
  ],
);

/** An account's figures as the readers of the projection select them (read API, loading). */
export const account_figures = {
  account_id: accounts.account_id,
  partner: accounts.partner,
  kind: accounts.kind,
  currency: accounts.currency,
  state: accounts.state,
  overdraft_limit_minor: accounts.overdraft_limit_minor,
  balance_minor: accounts.balance_minor,
  held_minor: accounts.held_minor,
  available_minor: accounts.available_minor,
  last_sequence: accounts.last_sequence,
};

export type AccountFigures = {
  [K in keyof typeof account_figures]: (typeof account_figures)[K]["_"]["data"];
};

/**
 * Holds by their partner and the id of the order that opened them; closed holds stay, with their
 * closing state.
 */
export const holds = pgTable(
  "holds",
  {
    group_id: integer("group_id").notNull(),
    partner: bigint("partner", { mode: "number" }).notNull(),
    hold_id: u64("hold_id").notNull(),
    account_id: u64("account_id").notNull(),
    amount_minor: money("amount_minor").notNull(),
    // Engine time the hold expires at; null: no timeout.
    expires_at_ms: bigint("expires_at_ms", { mode: "number" }),
    state: smallint("state").notNull(), // HoldState (engine/holds.ts)
    opened_sequence: bigint("opened_sequence", { mode: "number" }).notNull(),
    sequence: bigint("sequence", { mode: "number" }).notNull(), // the last event that changed it
  },
  (t) => [
    primaryKey({ name: "holds_pk", columns: [t.group_id, t.partner, t.hold_id] }),
    // Start-up without local state reads a group's open holds (docs/design.md section 5).
    index("holds_open_idx").on(t.group_id, t.partner, t.account_id)
      .where(sql`state = ${sql.raw(String(HoldState.open))}`),
    check("holds_amount_not_negative", sql`amount_minor >= 0`),
  ],
);

/**
 * Every event of a group, one row each: client orders with their outcome (rejected ones too, each
 * took a sequence) and engine-made hold expiries (order_id 0). An order id can appear more than
 * once (a later id_conflict or expired rejection), so the key is (group_id, sequence); an order's
 * status is its first event: the lowest sequence for (partner, order_id).
 */
export const orders = pgTable(
  "orders",
  {
    group_id: integer("group_id").notNull(),
    sequence: bigint("sequence", { mode: "number" }).notNull(),
    epoch: bigint("epoch", { mode: "number" }).notNull(),
    engine_time_ms: bigint("engine_time_ms", { mode: "number" }).notNull(),
    partner: bigint("partner", { mode: "number" }).notNull(),
    order_id: u64("order_id").notNull(),
    account_id: u64("account_id").notNull(),
    op: smallint("op").notNull(), // Op
    status: smallint("status").notNull(), // Status
    // As received: a refused order may carry any u64 (amount_out_of_range).
    amount_minor: u64("amount_minor").notNull(),
    ref: u64("ref").notNull(), // see Op in schema/balance.fbs
    currency: smallint("currency").notNull(),
    balance_after_minor: money("balance_after_minor").notNull(),
    held_after_minor: money("held_after_minor").notNull(),
    counter_balance_after_minor: money("counter_balance_after_minor").notNull(),
    projected_at: timestamp("projected_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ name: "orders_pk", columns: [t.group_id, t.sequence] }),
    // An order's rows are its first event and the refusals of retries that conflicted with it
    // (sent by the same partner): the status query sorts those few itself. Without `sequence`
    // the index entries are a quarter narrower, and the projector's COPY, which feeds all three indexes,
    // ran about 4% faster (docs/performance.md, "Project: the order index without sequence").
    index("orders_partner_order_idx").on(t.partner, t.order_id),
    index("orders_account_sequence_idx").on(t.partner, t.account_id, t.sequence),
    // A transfer is in its target's history too.
    index("orders_transfer_target_idx").on(t.partner, t.ref, t.sequence)
      .where(sql`op = ${sql.raw(String(Op.transfer))}`),
  ],
);

/** How far each group is projected: the last applied sequence, written in the batch's transaction. */
export const applied_sequence = pgTable("applied_sequence", {
  group_id: integer("group_id").primaryKey(),
  sequence: bigint("sequence", { mode: "number" }).notNull(),
  epoch: bigint("epoch", { mode: "number" }).notNull(),
  updated_at: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
});
