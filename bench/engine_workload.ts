// The workload of bench/engine.ts, generated before anything is timed: order bytes for one round
// (40-byte wire structs, batches of 20), and the set-up orders that open and fund the accounts.
// Order ids are stamped per round (stamp_round), so every round has fresh, time-ordered ids while
// the op mix, accounts and amounts stay the same bytes.

import { assert } from "../common/assert.ts";
import { ORDER_ID_TIME_SHIFT_BITS, ORDER_SIZE_BYTES } from "../common/constants.ts";
import { Prng } from "../common/prng.ts";
import { Op } from "../schema/generated/balance/wire/op.ts";

/** The shape every engine benchmark shares (bench/engine.ts, engine_ab.ts, engine_replay.ts). */
export const BATCH_ORDERS = 20;
/** 10 batches of 20 per ms of engine time: the benches' 200 K orders per second. */
export const BATCHES_PER_MS = 10;
export const ENGINE_TIME_START_MS = 1_700_000_000_000;
export const JOURNAL_OUTPUT_BYTES = 64 * 1024 * 1024;

export const EUR = 978;
export const USD = 840;
const ID_COUNTER_MASK = (1 << ORDER_ID_TIME_SHIFT_BITS) - 1;
const U32_RANGE = 2 ** 32;
/** Orders naming an account never opened (of those not on the partner's own account). */
const UNKNOWN_ACCOUNT_SHARE = 0.0125;
/** Users' debits for more than a user ever holds (set-up credits 1,000,000; amounts <= 5,000). */
const OVERDRAWN_DEBIT_SHARE = 0.04;
const OVERDRAWN_AMOUNT = 1e12;

export interface WorkloadShape {
  partner_count: number;
  accounts_per_partner: number;
  /** Zipf exponent of the partner skew: rank r gets weight 1 / (r + 1)^s. */
  partner_skew: number;
  orders_per_round: number;
  batch_orders: number;
  seed: number;
}

/** One round of orders; `ref_order` names, for captures and releases, the hold order they settle. */
export interface Round {
  bytes: Uint8Array;
  view: DataView;
  order_count: number;
  ref_order: Int32Array;
}

export function account_id_hi(partner: number): number {
  return partner; // account id = partner * 2^32 + index: unique, and the partner is visible
}

function write_order(view: DataView, at: number, op: number, partner: number, account_lo: number,
  amount: number, ref: number, currency: number): void {
  view.setUint32(at + 8, account_lo, true);
  view.setUint32(at + 12, account_id_hi(partner), true);
  view.setUint32(at + 16, amount >>> 0, true);
  view.setUint32(at + 20, Math.floor(amount / U32_RANGE), true);
  view.setUint32(at + 24, ref >>> 0, true);
  view.setUint32(at + 28, Math.floor(ref / U32_RANGE), true);
  view.setUint32(at + 32, partner, true);
  view.setUint16(at + 36, currency, true);
  view.setUint8(at + 38, op);
  view.setUint8(at + 39, 0);
}

export function currency_of(partner: number): number {
  return partner % 10 === 0 ? USD : EUR;
}

/** Cumulative weights of partners 1..partner_count, hottest first. */
function partner_cdf(shape: WorkloadShape): Float64Array {
  const cdf = new Float64Array(shape.partner_count);
  let total = 0;
  for (let rank = 0; rank < shape.partner_count; rank++) {
    total += 1 / Math.pow(rank + 1, shape.partner_skew);
    cdf[rank] = total;
  }
  for (let rank = 0; rank < shape.partner_count; rank++) cdf[rank] = cdf[rank]! / total;
  return cdf;
}

function pick_partner(prng: Prng, cdf: Float64Array): number {
  const roll = prng.next_float();
  let low = 0;
  let high = cdf.length - 1;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (cdf[middle]! < roll) low = middle + 1;
    else high = middle;
  }
  return low + 1;
}

/** Share of orders of the hottest partner (rank 1), for the report. */
export function hottest_partner_share(shape: WorkloadShape): number {
  return partner_cdf(shape)[0]!;
}

/** Set-up: open every account (partner accounts with an overdraft) and fund it. */
export function setup_orders(shape: WorkloadShape): Round {
  const order_count = shape.partner_count * shape.accounts_per_partner * 2;
  const bytes = new Uint8Array(order_count * ORDER_SIZE_BYTES);
  const view = new DataView(bytes.buffer);
  let k = 0;
  for (let partner = 1; partner <= shape.partner_count; partner++) {
    const currency = currency_of(partner);
    for (let index = 0; index < shape.accounts_per_partner; index++) {
      const kind = index === 0 ? 1 : 3; // the partner's own account, then its users
      const overdraft = index === 0 ? 1e12 : 0;
      write_order(view, k++ * ORDER_SIZE_BYTES, Op.open_account, partner, index, overdraft, kind,
        currency);
    }
    for (let index = 0; index < shape.accounts_per_partner; index++) {
      write_order(view, k++ * ORDER_SIZE_BYTES, Op.credit, partner, index, 1_000_000, 0, currency);
    }
  }
  return { bytes, view, order_count, ref_order: new Int32Array(order_count).fill(-1) };
}

/**
 * The measured mix, per order: debit 45%, credit 28%, transfer 10%, check 5%, hold 5%, and for
 * each hold later in the round a capture (70%), a release (20%) or nothing: it times out (10%).
 * 20% of orders touch the partner's own account (index 0): the hot spot of a payment gateway.
 * Some are refused, as in production: 1% name an account never opened (account_not_found), and
 * 4% of users' debits ask for more than any user holds (insufficient_funds).
 */
export function round_orders(shape: WorkloadShape): Round {
  assert(shape.orders_per_round % shape.batch_orders === 0, "whole batches");
  const prng = new Prng(shape.seed);
  const cdf = partner_cdf(shape);
  const count = shape.orders_per_round;
  const bytes = new Uint8Array(count * ORDER_SIZE_BYTES);
  const view = new DataView(bytes.buffer);
  const ref_order = new Int32Array(count).fill(-1);
  const settles_at = new Int32Array(count).fill(-1); // order k settles the hold of order settles_at
  for (let k = 0; k < count; k++) {
    const at = k * ORDER_SIZE_BYTES;
    const hold_order = settles_at[k]!;
    if (hold_order !== -1) {
      write_settlement(view, at, hold_order, prng);
      ref_order[k] = hold_order;
      continue;
    }
    const partner = pick_partner(prng, cdf);
    const currency = currency_of(partner);
    const account = prng.chance(0.2) ? 0 : prng.chance(UNKNOWN_ACCOUNT_SHARE)
      ? shape.accounts_per_partner + prng.int_below(1_000) : prng.int_below(shape.accounts_per_partner);
    const amount = 1 + prng.int_below(5_000);
    const roll = prng.next_float();
    if (roll < 0.45) {
      const too_much = account !== 0 && prng.chance(OVERDRAWN_DEBIT_SHARE);
      write_order(view, at, Op.debit, partner, account, too_much ? OVERDRAWN_AMOUNT : amount, 0,
        currency);
    } else if (roll < 0.73) {
      write_order(view, at, Op.credit, partner, account, amount, 0, currency);
    } else if (roll < 0.83) {
      const target = (account + 1 + prng.int_below(shape.accounts_per_partner - 1)) %
        shape.accounts_per_partner;
      write_order(view, at, Op.transfer, partner, account, amount, partner * U32_RANGE + target,
        currency);
    } else if (roll < 0.88) {
      write_order(view, at, Op.check, partner, account, amount, 0, currency);
    } else if (roll < 0.93) {
      write_order(view, at, Op.hold, partner, account, amount, 1_000, currency);
      const later = k + 1 + prng.int_below(2_000);
      if (later < count && settles_at[later] === -1 && prng.chance(0.9)) settles_at[later] = k;
    } else {
      write_order(view, at, Op.debit, partner, account, amount, 0, currency);
    }
  }
  return { bytes, view, order_count: count, ref_order };
}

/** A capture (of part or all of the hold) or a release of the hold made by order `hold_order`. */
function write_settlement(view: DataView, at: number, hold_order: number, prng: Prng): void {
  const hold_at = hold_order * ORDER_SIZE_BYTES;
  const partner = view.getUint32(hold_at + 32, true);
  const account = view.getUint32(hold_at + 8, true);
  const held = view.getUint32(hold_at + 16, true);
  const currency = view.getUint16(hold_at + 36, true);
  if (prng.chance(0.78)) {
    write_order(view, at, Op.capture, partner, account, 1 + prng.int_below(held), 0, currency);
  } else {
    write_order(view, at, Op.release, partner, account, 0, 0, currency);
  }
}

/**
 * Stamps fresh, time-ordered ids: batch b of the round is applied at engine time
 * start_ms + floor(b / batches_per_ms), and its ids carry that time. Captures and releases get the
 * id of the hold they settle as ref. Returns the engine time after the round.
 */
export function stamp_round(round: Round, batch_orders: number, start_ms: number,
  batches_per_ms: number): number {
  const view = round.view;
  let time_ms = start_ms;
  let counter = 0;
  for (let k = 0; k < round.order_count; k++) {
    const batch = Math.floor(k / batch_orders);
    const batch_time_ms = start_ms + Math.floor(batch / batches_per_ms);
    if (batch_time_ms !== time_ms) {
      time_ms = batch_time_ms;
      counter = 0;
    }
    assert(counter <= ID_COUNTER_MASK, "id counter per ms");
    const at = k * ORDER_SIZE_BYTES;
    // id = time_ms * 2^22 + counter, written as two u32 halves.
    const high_bits = time_ms * 2 ** ORDER_ID_TIME_SHIFT_BITS;
    view.setUint32(at, (high_bits % U32_RANGE) + counter, true);
    view.setUint32(at + 4, Math.floor(high_bits / U32_RANGE), true);
    counter++;
    const hold_order = round.ref_order[k]!;
    if (hold_order === -1) continue;
    const hold_at = hold_order * ORDER_SIZE_BYTES;
    view.setUint32(at + 24, view.getUint32(hold_at, true), true);
    view.setUint32(at + 28, view.getUint32(hold_at + 4, true), true);
  }
  const batches = round.order_count / batch_orders;
  return start_ms + Math.ceil(batches / batches_per_ms);
}
