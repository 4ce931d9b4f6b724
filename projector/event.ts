// One event as the projector applies it: a group's order with its outcome, or a hold expiry. The
// Kafka decoding step (events/) produces these from the event layout; the fields mirror a journal
// record (schema/journal_record.ts) plus the entry's epoch and engine time. 64-bit ids are bigint;
// money is a number, exact because the engine keeps every figure a safe integer.
//
// What an ok event sets (as replay does, engine/replay.ts): it sets figures, never adds.
//   open_account   a new account: partner, currency, kind = ref, overdraft limit = amount
//   credit, debit  balance = balance_after
//   hold           held = held_after; a hold `order_id` of `amount`, expiring at
//                  engine_time_ms + ref when ref > 0
//   capture, release, expire_hold   balance and held after; hold `ref` closes
//   transfer       balance = balance_after; account `ref`: balance = counter_balance_after
//   freeze, unfreeze, close_account   state; set_overdraft: overdraft limit = amount
//   check, and every refused event: nothing but its row in orders

import { assert } from "../common/assert.ts";
import { BALANCE_MINOR_MAX, HOLD_TIMEOUT_MS_MAX, PARTNER_ID_MAX } from "../common/constants.ts";
import type { EventRecord } from "../events/decode.ts";
import type { Op } from "../schema/generated/balance/wire/op.ts";
import type { Status } from "../schema/generated/balance/wire/status.ts";

export const U64_MAX = (1n << 64n) - 1n;
const U32_MAX = 0xffff_ffff;
const CURRENCY_MAX = 0xffff;

export interface ProjectedEvent {
  /** The event's number in its group: 1, 2, 3, ... with no gaps. */
  sequence: number;
  /** The writer's epoch (u32). */
  epoch: number;
  /** Engine time of the journal entry that holds the event. */
  engine_time_ms: number;
  /** 0n for an engine-made hold expiry. */
  order_id: bigint;
  partner: number;
  account: bigint;
  op: Op;
  status: Status;
  /** As received (u64): a refused order may carry an amount out of the money range. */
  amount_minor: bigint;
  /** See Op in schema/balance.fbs: a counter-account, a hold id, a timeout or a kind. */
  ref: bigint;
  currency: number;
  balance_after_minor: number;
  held_after_minor: number;
  /** transfer: the target's balance after; else 0. */
  counter_balance_after_minor: number;
}

/**
 * Event `index` of a decoded Kafka record (events/decode.ts) as the projector applies it; the
 * epoch is the record header's (one epoch per record). The decoder has checked every field.
 */
export function projected_event_of(record: EventRecord, index: number): ProjectedEvent {
  return {
    sequence: record.sequence(index),
    epoch: record.header.epoch,
    engine_time_ms: record.engine_time_ms(index),
    order_id: record.order_id(index),
    partner: record.partner(index),
    account: record.account(index),
    op: record.op(index),
    status: record.status(index),
    amount_minor: record.amount(index),
    ref: record.ref(index),
    currency: record.currency(index),
    balance_after_minor: record.balance_after(index),
    held_after_minor: record.held_after(index),
    counter_balance_after_minor: record.counter_balance_after(index),
  };
}

/** Checks one event's fields before it is written: a bad event is a bug upstream, never data. */
export function verify_event(event: ProjectedEvent): void {
  assert(Number.isSafeInteger(event.sequence) && event.sequence > 0, "event sequence");
  assert(Number.isInteger(event.epoch) && event.epoch >= 0 && event.epoch <= U32_MAX, "epoch");
  assert(Number.isSafeInteger(event.engine_time_ms) && event.engine_time_ms >= 0, "engine time");
  assert(is_u64(event.order_id) && is_u64(event.account) && is_u64(event.ref), "64-bit ids");
  assert(is_u64(event.amount_minor), "event amount is a u64");
  assert(Number.isInteger(event.partner) && event.partner >= 0 && event.partner <= PARTNER_ID_MAX,
    "event partner");
  assert(Number.isInteger(event.currency) && event.currency >= 0 && event.currency <= CURRENCY_MAX,
    "event currency");
  assert(Number.isInteger(event.op) && event.op >= 0 && event.op <= 0xff, "event op");
  assert(Number.isInteger(event.status) && event.status >= 0 && event.status <= 0xff, "status");
  assert(is_money(event.balance_after_minor), "balance after is exact");
  assert(is_money(event.held_after_minor) && event.held_after_minor >= 0, "held after");
  assert(is_money(event.counter_balance_after_minor), "counter balance after is exact");
}

/** An amount that a state change uses (an overdraft limit, a hold's amount): a safe integer. */
export function money_of(amount_minor: bigint): number {
  assert(amount_minor <= BigInt(BALANCE_MINOR_MAX), "amount within the money range");
  return Number(amount_minor);
}

/** A hold's expiry in engine time, or null for none; ref is the timeout in ms. */
export function hold_expires_at_ms(event: ProjectedEvent): number | null {
  if (event.ref === 0n) return null;
  assert(event.ref <= BigInt(HOLD_TIMEOUT_MS_MAX), "hold timeout within its limit");
  return event.engine_time_ms + Number(event.ref);
}

function is_u64(value: bigint): boolean {
  return value >= 0n && value <= U64_MAX;
}

function is_money(value: number): boolean {
  return Number.isSafeInteger(value);
}
