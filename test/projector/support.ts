// Shared by the projector's tests: a schema of its own per test file (dropped at the end) on the
// real PostgreSQL, and an event writer that numbers events and computes their outcomes the way
// the engine would, so tests read as a story of orders rather than as rows of numbers.

import postgres from "postgres";
import { HoldState } from "../../schema/hold_state.ts";
import { u64_key, U64_KEY_OFFSET_SQL } from "../../schema/projection.ts";
import type { ProjectedEvent } from "../../projector/event.ts";
import { AccountKind } from "../../schema/generated/balance/wire/account-kind.ts";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import { Status } from "../../schema/generated/balance/wire/status.ts";

export { fresh_schema, type TestDatabase } from "../../harness/database.ts";

export const SERVICES_TIMEOUT_MS = 600_000;

/**
 * A u64 column (stored as its int8 key: schema/projection.ts) read as the value's decimal text,
 * under the column's name unless `name` says otherwise: `select ${u64_text(sql, "order_id")}`.
 */
export function u64_text(sql: postgres.Sql, column: string,
  name = column): postgres.PendingQuery<postgres.Row[]> {
  return sql.unsafe(`(${column}::numeric + ${U64_KEY_OFFSET_SQL})::text as ${name}`);
}

/** A u64 as the key a stored column is compared with: `where account_id = ${key_of(id)}::bigint`. */
export function key_of(id: bigint): string {
  return u64_key(id).toString();
}

export interface AccountRow {
  account_id: string;
  partner: number;
  kind: number;
  currency: number;
  state: number;
  overdraft_limit_minor: number;
  balance_minor: number;
  held_minor: number;
  available_minor: number;
  last_sequence: number;
}

export async function account_row(sql: postgres.Sql, group: number,
  account: bigint): Promise<AccountRow | undefined> {
  const rows = await sql`
    select ${u64_text(sql, "account_id")}, partner::float8 as partner, kind, currency, state,
      overdraft_limit_minor::float8 as overdraft_limit_minor, balance_minor::float8 as balance_minor,
      held_minor::float8 as held_minor, available_minor::float8 as available_minor,
      last_sequence::float8 as last_sequence
    from accounts where group_id = ${group} and account_id = ${key_of(account)}::bigint`;
  return rows[0] as AccountRow | undefined;
}

export interface HoldRow {
  hold_id: string;
  account_id: string;
  amount_minor: number;
  expires_at_ms: number | null;
  state: number;
  opened_sequence: number;
  sequence: number;
}

export async function hold_row(sql: postgres.Sql, group: number,
  hold: bigint): Promise<HoldRow | undefined> {
  const rows = await sql`
    select ${u64_text(sql, "hold_id")}, ${u64_text(sql, "account_id")},
      amount_minor::float8 as amount_minor,
      expires_at_ms::float8 as expires_at_ms, state, opened_sequence::float8 as opened_sequence,
      sequence::float8 as sequence
    from holds where group_id = ${group} and hold_id = ${key_of(hold)}::bigint`;
  return rows[0] as HoldRow | undefined;
}

export async function applied_row(sql: postgres.Sql,
  group: number): Promise<{ sequence: number; epoch: number } | undefined> {
  const rows = await sql`
    select sequence::float8 as sequence, epoch::float8 as epoch
    from applied_sequence where group_id = ${group}`;
  return rows[0] as { sequence: number; epoch: number } | undefined;
}

export async function count_rows(sql: postgres.Sql, table: string): Promise<number> {
  const rows = await sql`select count(*)::int as count from ${sql(table)}`;
  return rows[0]!.count as number;
}

interface ModelAccount {
  partner: number;
  currency: number;
  balance_minor: number;
  held_minor: number;
  overdraft_limit_minor: number;
  state: number;
}

interface ModelHold {
  account: bigint;
  amount_minor: number;
  state: HoldState;
}

/**
 * Writes one group's events with the outcomes the engine would record. It trusts its caller to
 * send only orders the engine would accept; `refused` writes a rejected one.
 */
export class EventWriter {
  sequence = 0;
  epoch = 1;
  engine_time_ms = 1_700_000_000_000;
  readonly accounts = new Map<bigint, ModelAccount>();
  readonly holds = new Map<bigint, ModelHold>();
  private next_order_id = 1n << 63n; // above 2^63: ids must survive as unsigned

  open(account: bigint, partner: number, overdraft_limit_minor = 0,
    kind: AccountKind = AccountKind.user, currency = 978): ProjectedEvent {
    this.accounts.set(account, {
      partner, currency, balance_minor: 0, held_minor: 0, overdraft_limit_minor, state: 1,
    });
    return this.event(account, Op.open_account, BigInt(overdraft_limit_minor), BigInt(kind));
  }

  credit(account: bigint, amount_minor: number): ProjectedEvent {
    this.model(account).balance_minor += amount_minor;
    return this.event(account, Op.credit, BigInt(amount_minor), 0n);
  }

  debit(account: bigint, amount_minor: number): ProjectedEvent {
    this.model(account).balance_minor -= amount_minor;
    return this.event(account, Op.debit, BigInt(amount_minor), 0n);
  }

  check(account: bigint, amount_minor: number): ProjectedEvent {
    return this.event(account, Op.check, BigInt(amount_minor), 0n);
  }

  transfer(source: bigint, target: bigint, amount_minor: number): ProjectedEvent {
    this.model(source).balance_minor -= amount_minor;
    this.model(target).balance_minor += amount_minor;
    const event = this.event(source, Op.transfer, BigInt(amount_minor), target);
    event.counter_balance_after_minor = this.model(target).balance_minor;
    return event;
  }

  /** A hold whose id is the event's order id; timeout 0: none. */
  hold(account: bigint, amount_minor: number, timeout_ms = 0): ProjectedEvent {
    this.model(account).held_minor += amount_minor;
    const event = this.event(account, Op.hold, BigInt(amount_minor), BigInt(timeout_ms));
    this.holds.set(event.order_id, { account, amount_minor, state: HoldState.open });
    return event;
  }

  capture(hold_id: bigint, amount_minor: number): ProjectedEvent {
    const hold = this.close(hold_id, HoldState.captured);
    this.model(hold.account).balance_minor -= amount_minor;
    return this.event(hold.account, Op.capture, BigInt(amount_minor), hold_id);
  }

  release(hold_id: bigint): ProjectedEvent {
    const hold = this.close(hold_id, HoldState.released);
    return this.event(hold.account, Op.release, 0n, hold_id);
  }

  expire(hold_id: bigint): ProjectedEvent {
    const hold = this.close(hold_id, HoldState.expired);
    const event = this.event(hold.account, Op.expire_hold, BigInt(hold.amount_minor), hold_id);
    event.order_id = 0n;
    return event;
  }

  set_state(account: bigint, op: typeof Op.freeze | typeof Op.unfreeze | typeof Op.close_account) {
    this.model(account).state = op === Op.freeze ? 2 : op === Op.unfreeze ? 1 : 3;
    return this.event(account, op, 0n, 0n);
  }

  set_overdraft(account: bigint, overdraft_limit_minor: number): ProjectedEvent {
    this.model(account).overdraft_limit_minor = overdraft_limit_minor;
    return this.event(account, Op.set_overdraft, BigInt(overdraft_limit_minor), 0n);
  }

  /** A refused order: it takes a sequence and changes nothing. */
  refused(account: bigint, op: Op, amount_minor: bigint, status: Status): ProjectedEvent {
    const event = this.event(account, op, amount_minor, 0n);
    event.status = status;
    return event;
  }

  model(account: bigint): ModelAccount {
    const found = this.accounts.get(account);
    if (found === undefined) throw new Error(`the test never opened account ${account}`);
    return found;
  }

  private close(hold_id: bigint, state: HoldState): ModelHold {
    const hold = this.holds.get(hold_id);
    if (hold === undefined || hold.state !== HoldState.open) throw new Error(`hold ${hold_id}`);
    hold.state = state;
    this.model(hold.account).held_minor -= hold.amount_minor;
    return hold;
  }

  private event(account: bigint, op: Op, amount_minor: bigint, ref: bigint): ProjectedEvent {
    const model = this.accounts.get(account);
    this.engine_time_ms += 1;
    return {
      sequence: ++this.sequence,
      epoch: this.epoch,
      engine_time_ms: this.engine_time_ms,
      order_id: this.next_order_id++,
      partner: model?.partner ?? 0,
      account,
      op,
      status: Status.ok,
      amount_minor,
      ref,
      currency: model?.currency ?? 0,
      balance_after_minor: model?.balance_minor ?? 0,
      held_after_minor: model?.held_minor ?? 0,
      counter_balance_after_minor: 0,
    };
  }
}
