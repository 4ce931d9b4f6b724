// A seeded random workload for durability tests: a few partners with a few accounts each, and
// "units" of orders (one order, or a linked chain) mixing credits, debits, transfers, holds with and
// without timeouts, captures, releases, checks, account administration, retries of earlier units
// and the odd id conflict. A unit keeps its ids, so re-sending it is a retry.

import { assert } from "../../common/assert.ts";
import { BATCH_ORDERS_MAX } from "../../common/constants.ts";
import type { Prng } from "../../common/prng.ts";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import { EUR, order_id_at, type TestOrder } from "../engine/harness.ts";

/** Orders sent together: one order, or a linked chain (all-or-nothing). */
export interface Unit {
  orders: TestOrder[];
  /** A known id with another payload: must be refused as id_conflict, never recorded. */
  conflict: boolean;
}

interface AccountRef {
  id: bigint;
  partner: number;
}

interface HoldRef {
  id: bigint;
  account: AccountRef;
  amount: bigint;
}

const SENT_KEPT_COUNT = 400; // recent units that retries pick from
const HOLDS_KEPT_COUNT = 200; // recent holds that captures and releases pick from
const HOLD_TIMEOUT_MS_MAX = 5_000;

export class Workload {
  readonly accounts: AccountRef[] = [];
  private readonly holds: HoldRef[] = [];
  private readonly sent: Unit[] = [];
  private counter = 0;

  constructor(private readonly prng: Prng) {
    const partner_count = 2 + prng.int_below(2);
    for (let partner = 1; partner <= partner_count; partner++) {
      const account_count = 2 + prng.int_below(3);
      for (let k = 1; k <= account_count; k++) {
        // High bits set, so both halves of the 64-bit id matter.
        this.accounts.push({ id: (BigInt(partner) << 40n) | BigInt(k), partner });
      }
    }
  }

  next_id(now_ms: number): bigint {
    this.counter++;
    assert(this.counter < 0x3fffff, "order id counter fits 22 bits");
    return order_id_at(now_ms, this.counter);
  }

  /** One unit per account: open it, sometimes linked with an opening credit. */
  opening_units(now_ms: number): Unit[] {
    return this.accounts.map((account) => {
      const overdraft = this.prng.chance(0.3) ? BigInt(100 + this.prng.int_below(1_000)) : 0n;
      const open: TestOrder = { id: this.next_id(now_ms), op: Op.open_account,
        account: account.id, partner: account.partner, currency: EUR, amount: overdraft, ref: 3n };
      if (this.prng.chance(0.5)) return { orders: [open], conflict: false };
      open.linked = true;
      const credit = this.order(now_ms, Op.credit, account, BigInt(1 + this.prng.int_below(20_000)));
      return { orders: [open, credit], conflict: false };
    });
  }

  /** Remembers a unit as sent: retries and captures pick from what was sent. */
  note_sent(unit: Unit): void {
    if (unit.conflict) return;
    this.sent.push(unit);
    if (this.sent.length > SENT_KEPT_COUNT * 2) this.sent.splice(0, SENT_KEPT_COUNT);
    for (const order of unit.orders) {
      if (order.op !== Op.hold) continue;
      const account = this.accounts.find((a) => a.id === order.account);
      assert(account !== undefined && order.id !== undefined, "a hold names a known account");
      this.holds.push({ id: order.id, account, amount: order.amount ?? 0n });
    }
    if (this.holds.length > HOLDS_KEPT_COUNT * 2) this.holds.splice(0, HOLDS_KEPT_COUNT);
  }

  /** A random earlier unit, sent again unchanged (a client retry). */
  retry_unit(): Unit | null {
    if (this.sent.length === 0) return null;
    const start = Math.max(0, this.sent.length - SENT_KEPT_COUNT);
    return this.sent[start + this.prng.int_below(this.sent.length - start)]!;
  }

  /** The same id as `original` (a single order) with another amount. */
  conflict_unit(original: TestOrder): Unit {
    assert(original.linked !== true, "conflicts copy single orders");
    return { orders: [{ ...original, amount: (original.amount ?? 0n) + 1n }], conflict: true };
  }

  random_unit(now_ms: number): Unit {
    const roll = this.prng.int_below(100);
    if (roll < 10) return this.chain_unit(now_ms);
    if (roll < 13) return this.admin_unit(now_ms);
    return { orders: [this.money_order(now_ms, this.pick_account())], conflict: false };
  }

  /** Money orders only, for large batches that fill journal segments. */
  bulk_unit(now_ms: number): Unit {
    return { orders: [this.money_order(now_ms, this.pick_account())], conflict: false };
  }

  private chain_unit(now_ms: number): Unit {
    const first = this.pick_account();
    const length = 2 + this.prng.int_below(3);
    const orders: TestOrder[] = [];
    for (let n = 0; n < length; n++) {
      const account = this.pick_account_of(first.partner);
      const order = this.money_order(now_ms, account);
      order.linked = n + 1 < length;
      orders.push(order);
    }
    return { orders, conflict: false };
  }

  private admin_unit(now_ms: number): Unit {
    const account = this.pick_account();
    // Unfreezing more often than freezing, so that frozen accounts do not pile up.
    const roll = this.prng.int_below(4);
    const op = roll === 0 ? Op.freeze : roll === 3 ? Op.set_overdraft : Op.unfreeze;
    const amount = op === Op.set_overdraft ? BigInt(this.prng.int_below(2_000)) : 0n;
    return { orders: [this.order(now_ms, op, account, amount)], conflict: false };
  }

  private money_order(now_ms: number, account: AccountRef): TestOrder {
    const roll = this.prng.int_below(100);
    if (roll < 25) return this.order(now_ms, Op.credit, account, this.amount(10_000));
    if (roll < 45) return this.order(now_ms, Op.debit, account, this.amount(8_000));
    if (roll < 62) return this.transfer(now_ms, account);
    if (roll < 78) {
      const timeout_ms = this.prng.chance(0.5) ? 0 : 50 + this.prng.int_below(HOLD_TIMEOUT_MS_MAX);
      return { ...this.order(now_ms, Op.hold, account, this.amount(3_000)), ref: BigInt(timeout_ms) };
    }
    if (roll < 95) return this.settle(now_ms, account, roll < 88 ? Op.capture : Op.release);
    return this.order(now_ms, Op.check, account, this.amount(5_000));
  }

  private transfer(now_ms: number, source: AccountRef): TestOrder {
    // Now and then to another partner's account number: not the order's partner's, so
    // account_not_found.
    let target = this.prng.chance(0.05) ? this.pick_account() : this.pick_account_of(source.partner);
    if (target === source && this.prng.chance(0.8)) target = this.pick_account_of(source.partner);
    return { ...this.order(now_ms, Op.transfer, source, this.amount(6_000)), ref: target.id };
  }

  /**
   * Capture or release of a recent hold of the account's partner (so that it may sit in that
   * partner's chain), on the hold's own account mostly.
   */
  private settle(now_ms: number, account: AccountRef, op: Op): TestOrder {
    let hold: HoldRef | null = null;
    for (let n = 0; n < 8 && this.holds.length > 0; n++) {
      const candidate = this.holds[this.holds.length - 1 -
        this.prng.int_below(Math.min(this.holds.length, 60))]!;
      if (candidate.account.partner !== account.partner) continue;
      hold = candidate;
      break;
    }
    if (hold === null) return this.order(now_ms, Op.credit, account, this.amount(1_000));
    const owner = this.prng.chance(0.9) ? hold.account : account;
    let amount = 0n;
    if (op === Op.capture) {
      amount = this.prng.chance(0.1) ? hold.amount + 1n : 1n + BigInt(
        this.prng.int_below(Number(hold.amount)));
    }
    return { ...this.order(now_ms, op, owner, amount), ref: hold.id };
  }

  private order(now_ms: number, op: Op, account: AccountRef, amount: bigint): TestOrder {
    return { id: this.next_id(now_ms), op, account: account.id, partner: account.partner,
      currency: EUR, amount, ref: 0n };
  }

  private amount(max: number): bigint {
    return BigInt(1 + this.prng.int_below(max));
  }

  private pick_account(): AccountRef {
    return this.accounts[this.prng.int_below(this.accounts.length)]!;
  }

  private pick_account_of(partner: number): AccountRef {
    const own = this.accounts.filter((a) => a.partner === partner);
    return own[this.prng.int_below(own.length)]!;
  }
}

/** The orders of `units`, back to back, as one batch. */
export function orders_of(units: Unit[]): TestOrder[] {
  const orders = units.flatMap((unit) => unit.orders);
  assert(orders.length >= 1 && orders.length <= BATCH_ORDERS_MAX, "batch size in range");
  return orders;
}
