// What the load generator sends and what it expects: the accounts (partners x accounts per
// partner, dense indexes), the op mix, the hot-partner skew, fresh ids for every order, the pool
// of acknowledged holds waiting to be captured or released, and the ledger: per account, the
// balance and held amount every acknowledged `ok` result implies. Nothing here allocates per order.

import { assert, assert_never } from "../common/assert.ts";
import { ORDER_SIZE_BYTES, RESULT_SIZE_BYTES } from "../common/constants.ts";
import { Prng } from "../common/prng.ts";
import { AccountKind } from "../schema/generated/balance/wire/account-kind.ts";
import { Op } from "../schema/generated/balance/wire/op.ts";
import { Status } from "../schema/generated/balance/wire/status.ts";
import {
  ORDER_ACCOUNT_OFFSET, ORDER_AMOUNT_OFFSET, ORDER_CURRENCY_OFFSET, ORDER_FLAGS_OFFSET,
  ORDER_OP_OFFSET, ORDER_PARTNER_OFFSET, ORDER_REF_OFFSET, RESULT_FLAGS_OFFSET,
  RESULT_ORDER_ID_OFFSET, RESULT_STATUS_OFFSET,
} from "../schema/layout.ts";
import { is_op } from "../schema/vocabulary.ts";
import { OrderIdWriter } from "./order_ids.ts";
import { ORDER_WORDS, type RequestRecord } from "./request_record.ts";
import { ZipfPicker } from "./zipf.ts";

export const MIX_OPS =
  ["debit", "credit", "transfer", "check", "hold", "capture", "release"] as const;
export type MixOp = (typeof MIX_OPS)[number];
export type OpMix = Record<MixOp, number>;
export const OP_MIX_DEFAULT: OpMix = {
  debit: 42, credit: 38, transfer: 10, check: 4, hold: 3, capture: 2, release: 1,
};
const MIX_OP_CODES: readonly Op[] = [
  Op.debit, Op.credit, Op.transfer, Op.check, Op.hold, Op.capture, Op.release,
];

export const AMOUNT_MINOR_MAX = 10_000; // load orders move 1..10,000 minor units
export const HOLD_POOL_CAPACITY = 1 << 16; // acknowledged holds waiting for a capture or release
const STATUS_CODES = 256;
const PICK_ATTEMPTS_MAX = 64; // draws of a partner the partner mask allows, then a scan

// write_order's u32 words against the struct layout.
assert(ORDER_ACCOUNT_OFFSET === 2 * 4 && ORDER_AMOUNT_OFFSET === 4 * 4, "account, amount words");
assert(ORDER_REF_OFFSET === 6 * 4 && ORDER_PARTNER_OFFSET === 8 * 4, "ref and partner words");
assert(ORDER_CURRENCY_OFFSET === 9 * 4 && ORDER_OP_OFFSET === 9 * 4 + 2, "currency, op: word 9");
assert(ORDER_FLAGS_OFFSET === 9 * 4 + 3, "flags in the top byte of word 9");

export interface WorkloadShape {
  partners: number;
  accounts_per_partner: number;
  first_partner: number;
  skew: number; // Zipf exponent over partners; 0 = uniform
  mix: OpMix;
  currency: number;
  seed: number;
}

export class Workload {
  readonly account_count: number;
  private readonly prng: Prng;
  private readonly partner_picker: ZipfPicker;
  private readonly mix_cdf: Float64Array;
  readonly ids: OrderIdWriter;
  // The ledger: what the acknowledged ok results add to the figures read after set-up.
  readonly initial_balance: Float64Array;
  readonly initial_held: Float64Array;
  readonly delta_balance: Float64Array;
  readonly delta_held: Float64Array;
  readonly touched: Uint8Array;
  readonly status_counts = new Float64Array(STATUS_CODES);
  /** Orders of unknown outcome (timeouts, connections lost, accepted mode over HTTP). */
  unknown_orders = 0;
  /** Results whose id did not match the order at their position, or answered `replayed`. */
  mismatched_results = 0;
  replayed_results = 0;
  // Acknowledged holds not yet settled: a ring of (id, account, amount).
  private readonly pool_id_low = new Uint32Array(HOLD_POOL_CAPACITY);
  private readonly pool_id_high = new Uint32Array(HOLD_POOL_CAPACITY);
  private readonly pool_account = new Int32Array(HOLD_POOL_CAPACITY);
  private readonly pool_amount = new Float64Array(HOLD_POOL_CAPACITY);
  private pool_head = 0;
  pool_size = 0;
  private holds_in_flight = 0;
  /**
   * --seeds: the partner ranks load batches are drawn from now (1 = allowed), so that a batch goes
   * to one node; null: every partner.
   */
  partner_mask: Uint8Array | null = null;

  constructor(readonly shape: WorkloadShape) {
    assert(shape.partners >= 1 && shape.accounts_per_partner >= 1, "at least one account");
    assert(shape.first_partner >= 1, "partner ids start at 1");
    assert(shape.first_partner + shape.partners - 1 <= 0xffff_ffff, "partner ids fit a u32");
    this.account_count = shape.partners * shape.accounts_per_partner;
    this.prng = new Prng(shape.seed);
    this.partner_picker = new ZipfPicker(shape.partners, shape.skew);
    this.mix_cdf = mix_cdf(shape.mix, shape.accounts_per_partner);
    this.ids = new OrderIdWriter(shape.seed);
    this.initial_balance = new Float64Array(this.account_count);
    this.initial_held = new Float64Array(this.account_count);
    this.delta_balance = new Float64Array(this.account_count);
    this.delta_held = new Float64Array(this.account_count);
    this.touched = new Uint8Array(this.account_count);
  }

  /** The share of load orders the hottest partner gets. */
  hottest_partner_share(): number {
    return this.partner_picker.share(0);
  }

  partner_of(account_index: number): number {
    return this.shape.first_partner + Math.floor(account_index / this.shape.accounts_per_partner);
  }

  /** Account id = partner * 2^32 + index within the partner: unique, and the partner visible. */
  account_id(account_index: number): bigint {
    const index = account_index % this.shape.accounts_per_partner;
    return (BigInt(this.partner_of(account_index)) << 32n) | BigInt(index);
  }

  // --- set-up and clean-up batches ----------------------------------------------------------

  write_open_account(record: RequestRecord, k: number, account_index: number, now_ms: number) {
    const kind = account_index % this.shape.accounts_per_partner === 0
      ? AccountKind.partner : AccountKind.user;
    this.write_order(record, k, Op.open_account, account_index, 0, kind, now_ms);
  }

  write_credit(record: RequestRecord, k: number, account_index: number, amount: number,
    now_ms: number) {
    this.write_order(record, k, Op.credit, account_index, amount, 0, now_ms);
  }

  /** A release of the oldest pooled hold, or false when the pool is empty. */
  write_pool_release(record: RequestRecord, k: number, now_ms: number): boolean {
    if (this.pool_size === 0) return false;
    this.write_settlement(record, k, Op.release, now_ms);
    return true;
  }

  // --- load batches ---------------------------------------------------------------------------

  /** Fills `record` with `count` load orders of the mix, each with a fresh id. */
  fill_load_batch(record: RequestRecord, count: number, now_ms: number): void {
    assert(count >= 1 && count <= record.capacity, "the batch fits its record");
    for (let k = 0; k < count; k++) this.write_load_order(record, k, now_ms);
    record.count = count;
  }

  private write_load_order(record: RequestRecord, k: number, now_ms: number): void {
    const op = this.pick_op();
    if (op === Op.capture || op === Op.release) {
      if (this.pool_size > 0 && this.allowed(this.pool_account[this.pool_head]!)) {
        this.write_settlement(record, k, op, now_ms);
        return;
      }
    }
    const account = this.pick_account();
    const amount = 1 + this.prng.int_below(AMOUNT_MINOR_MAX);
    switch (op) {
      case Op.transfer: {
        const per_partner = this.shape.accounts_per_partner;
        const base = account - (account % per_partner);
        const offset = 1 + this.prng.int_below(per_partner - 1);
        const target = base + ((account - base + offset) % per_partner);
        this.write_order(record, k, Op.transfer, account, amount, 0, now_ms);
        this.write_account_ref(record, k, target);
        record.target[k] = target;
        return;
      }
      case Op.hold:
        if (this.pool_size + this.holds_in_flight >= HOLD_POOL_CAPACITY) break;
        this.holds_in_flight++;
        this.write_order(record, k, Op.hold, account, amount, 0, now_ms); // ref 0: no timeout
        return;
      case Op.debit:
      case Op.credit:
      case Op.check:
        this.write_order(record, k, op, account, amount, 0, now_ms);
        return;
      case Op.capture:
      case Op.release:
        break; // no hold to settle: a debit (as for a hold with a full pool)
      case Op.none: case Op.open_account: case Op.freeze: case Op.unfreeze:
      case Op.set_overdraft: case Op.close_account: case Op.expire_hold:
        assert(false, `the mix holds no ${Op[op]}`);
      default:
        assert_never(op, "op");
    }
    this.write_order(record, k, Op.debit, account, amount, 0, now_ms);
  }

  private pick_op(): Op {
    const roll = this.prng.next_float();
    const cdf = this.mix_cdf;
    for (let i = 0; i < cdf.length; i++) if (roll < cdf[i]!) return MIX_OP_CODES[i]!;
    return Op.debit;
  }

  private pick_account(): number {
    let partner_rank = this.partner_picker.pick(this.prng);
    const mask = this.partner_mask;
    // Drawn again while the partner is not allowed, then the next allowed one: the skew holds
    // among the allowed partners, and the draw is bounded.
    for (let k = 0; mask !== null && mask[partner_rank] === 0 && k < PICK_ATTEMPTS_MAX; k++) {
      partner_rank = this.partner_picker.pick(this.prng);
    }
    for (let k = 0; mask !== null && mask[partner_rank] === 0 && k < mask.length; k++) {
      partner_rank = (partner_rank + 1) % mask.length;
    }
    return partner_rank * this.shape.accounts_per_partner +
      this.prng.int_below(this.shape.accounts_per_partner);
  }

  /** Whether an account's partner is allowed by the partner mask. */
  private allowed(account_index: number): boolean {
    const mask = this.partner_mask;
    return mask === null || mask[Math.floor(account_index / this.shape.accounts_per_partner)] === 1;
  }

  /** A capture (of 1..held) or a release of the oldest pooled hold. */
  private write_settlement(record: RequestRecord, k: number, op: Op, now_ms: number): void {
    const at = this.pool_head;
    this.pool_head = (this.pool_head + 1) & (HOLD_POOL_CAPACITY - 1);
    this.pool_size--;
    const account = this.pool_account[at]!;
    const held = this.pool_amount[at]!;
    const amount = op === Op.capture ? 1 + this.prng.int_below(held) : 0;
    this.write_order(record, k, op, account, amount, 0, now_ms);
    const offset = k * ORDER_SIZE_BYTES + ORDER_REF_OFFSET;
    record.view.setUint32(offset, this.pool_id_low[at]!, true);
    record.view.setUint32(offset + 4, this.pool_id_high[at]!, true);
    record.hold_amount[k] = held;
  }

  private pool_push(id_low: number, id_high: number, account: number, amount: number): void {
    if (this.pool_size === HOLD_POOL_CAPACITY) return; // stays held; the ledger counts it
    const at = (this.pool_head + this.pool_size) & (HOLD_POOL_CAPACITY - 1);
    this.pool_id_low[at] = id_low;
    this.pool_id_high[at] = id_high;
    this.pool_account[at] = account;
    this.pool_amount[at] = amount;
    this.pool_size++;
  }

  // Writes all 40 bytes of order k as ten u32 words (layout: schema/layout.ts).
  private write_order(record: RequestRecord, k: number, op: Op, account_index: number,
    amount: number, ref_u32: number, now_ms: number): void {
    const words = record.words;
    const w = k * ORDER_WORDS;
    const per_partner = this.shape.accounts_per_partner;
    const partner_rank = Math.floor(account_index / per_partner);
    const partner = this.shape.first_partner + partner_rank;
    this.ids.write_words(words, w, now_ms);
    words[w + 2] = account_index - partner_rank * per_partner; // account: index within the partner
    words[w + 3] = partner; // account: the partner above bit 32
    words[w + 4] = amount >>> 0;
    words[w + 5] = Math.floor(amount / 2 ** 32);
    words[w + 6] = ref_u32;
    words[w + 7] = 0;
    words[w + 8] = partner;
    words[w + 9] = (this.shape.currency | (op << 16)) >>> 0; // currency u16, op u8, flags u8 = 0
    record.account[k] = account_index;
  }

  private write_account_ref(record: RequestRecord, k: number, account_index: number): void {
    const w = k * ORDER_WORDS;
    record.words[w + 6] = account_index % this.shape.accounts_per_partner;
    record.words[w + 7] = this.partner_of(account_index);
  }

  // --- results --------------------------------------------------------------------------------

  /** Adds every ok order's effect to the ledger; counts statuses of load (measured) requests. */
  apply_results(record: RequestRecord, frame: Uint8Array, results_offset: number, count: number) {
    const orders = record.bytes;
    for (let k = 0; k < count; k++) {
      const at = results_offset + k * RESULT_SIZE_BYTES;
      const order_at = k * ORDER_SIZE_BYTES;
      const status = frame[at + RESULT_STATUS_OFFSET]!;
      if (record.measured) this.status_counts[status]! += 1;
      let same_id = k < record.count;
      for (let i = 0; i < 8 && same_id; i++) {
        same_id = frame[at + RESULT_ORDER_ID_OFFSET + i] === orders[order_at + i];
      }
      if (!same_id) {
        this.mismatched_results++;
        continue;
      }
      const replayed = (frame[at + RESULT_FLAGS_OFFSET]! & 1) !== 0;
      if (replayed && record.resends === 0) this.replayed_results++;
      if (status === Status.expired && record.resends > 0) {
        // Resent too late for the idempotency window: its first sending may have been applied.
        this.unknown_orders++;
        this.settle_not_ok(record, k, true);
        continue;
      }
      this.apply_order(record, k, status);
    }
  }

  /** The orders of `record` got no final result: their outcome is unknown. */
  forget(record: RequestRecord, outcome_unknown: boolean): void {
    if (outcome_unknown) this.unknown_orders += record.count;
    for (let k = 0; k < record.count; k++) this.settle_not_ok(record, k, outcome_unknown);
  }

  private apply_order(record: RequestRecord, k: number, status: number): void {
    if (status !== Status.ok) {
      this.settle_not_ok(record, k, false);
      return;
    }
    const words = record.words;
    const w = k * ORDER_WORDS;
    const op = record.bytes[k * ORDER_SIZE_BYTES + ORDER_OP_OFFSET]!;
    // Guarded: a template message is built on every call, even when the condition holds.
    if (!is_op(op)) assert(false, `the load generator sent op ${op}`);
    const account = record.account[k]!;
    const amount = words[w + 4]! + words[w + 5]! * 2 ** 32;
    this.touched[account] = 1;
    switch (op) {
      case Op.credit: this.delta_balance[account]! += amount; return;
      case Op.debit: this.delta_balance[account]! -= amount; return;
      case Op.check: case Op.open_account: return;
      case Op.transfer: {
        const target = record.target[k]!;
        this.delta_balance[account]! -= amount;
        this.delta_balance[target]! += amount;
        this.touched[target] = 1;
        return;
      }
      case Op.hold:
        this.holds_in_flight--;
        this.delta_held[account]! += amount;
        this.pool_push(words[w]!, words[w + 1]!, account, amount);
        return;
      case Op.capture:
        this.delta_balance[account]! -= amount;
        this.delta_held[account]! -= record.hold_amount[k]!;
        return;
      case Op.release:
        this.delta_held[account]! -= record.hold_amount[k]!;
        return;
      case Op.none: case Op.freeze: case Op.unfreeze: case Op.set_overdraft:
      case Op.close_account: case Op.expire_hold:
        assert(false, `the load generator sent no ${Op[op]}`);
      default:
        assert_never(op, "op");
    }
  }

  /** A hold that failed leaves the in-flight count; a settlement that failed returns its hold. */
  private settle_not_ok(record: RequestRecord, k: number, outcome_unknown: boolean): void {
    const orders = record.view;
    const at = k * ORDER_SIZE_BYTES;
    const op = orders.getUint8(at + ORDER_OP_OFFSET);
    if (op === Op.hold) {
      this.holds_in_flight--;
      return;
    }
    if (op !== Op.capture && op !== Op.release) return;
    if (outcome_unknown) return; // maybe settled: never settle it again
    const ref = at + ORDER_REF_OFFSET;
    this.pool_push(orders.getUint32(ref, true), orders.getUint32(ref + 4, true), record.account[k]!,
      record.hold_amount[k]!);
  }
}

/** Cumulative shares of MIX_OPS; transfers need a second account of the same partner. */
function mix_cdf(mix: OpMix, accounts_per_partner: number): Float64Array {
  const weights =
    MIX_OPS.map((op) => (op === "transfer" && accounts_per_partner < 2 ? 0 : mix[op]));
  const total = weights.reduce((a, b) => a + b, 0);
  assert(total > 0, "the op mix has a positive weight");
  const cdf = new Float64Array(weights.length);
  let sum = 0;
  weights.forEach((weight, i) => {
    assert(weight >= 0, "op weights are >= 0");
    sum += weight;
    cdf[i] = sum / total;
  });
  return cdf;
}
