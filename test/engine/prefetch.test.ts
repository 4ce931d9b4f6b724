// The prefetch's slots (engine/prefetch.ts): what the engine applies with, found before any
// order of a pass applies. One batch's pass (orders), and a warm-up gathered over many small
// batches (gather, load: an engine worker's cycle of runs), past its capacity, find for every
// order the slot the account table's own lookup gives: its account, a transfer's other account,
// -1 for an account that is not there.

import { expect, test } from "bun:test";
import { ORDER_SIZE_BYTES } from "../../common/constants.ts";
import { Prng } from "../../common/prng.ts";
import { AccountTable } from "../../engine/accounts.ts";
import { HoldTable } from "../../engine/holds.ts";
import { Prefetch } from "../../engine/prefetch.ts";
import { AccountKind } from "../../schema/generated/balance/wire/account-kind.ts";
import { Op } from "../../schema/generated/balance/wire/op.ts";

const PARTNERS = 5;
const ACCOUNTS_PER_PARTNER = 200;
const ORDERS = 3_000;
/** A small warm-up, so a cycle's batches fill it many times over. */
const WARM_ORDERS_MAX = 64;
const OPS = [Op.credit, Op.debit, Op.transfer, Op.hold, Op.capture, Op.release, Op.check];

function set_up(prng: Prng): { accounts: AccountTable; holds: HoldTable; view: DataView } {
  const accounts = new AccountTable(PARTNERS * ACCOUNTS_PER_PARTNER);
  for (let partner = 1; partner <= PARTNERS; partner++) {
    for (let id = 0; id < ACCOUNTS_PER_PARTNER; id++) {
      accounts.open(id % 3, id, partner, 978, AccountKind.user, 0);
    }
  }
  const view = new DataView(new ArrayBuffer(ORDERS * ORDER_SIZE_BYTES));
  for (let k = 0; k < ORDERS; k++) {
    const at = k * ORDER_SIZE_BYTES;
    // Ids past the opened ones too: accounts that are not there.
    const account = prng.int_below(ACCOUNTS_PER_PARTNER + 20);
    const other = prng.int_below(ACCOUNTS_PER_PARTNER + 20);
    view.setUint32(at, k + 1, true);
    view.setUint32(at + 8, account, true);
    view.setUint32(at + 12, account % 3, true);
    view.setUint32(at + 24, other, true);
    view.setUint32(at + 28, other % 3, true);
    view.setUint32(at + 32, 1 + prng.int_below(PARTNERS), true);
    view.setUint8(at + 38, OPS[prng.int_below(OPS.length)]!);
  }
  return { accounts, holds: new HoldTable(1_024), view };
}

/** The slots the table's own lookups give order k: its account's, a transfer's target's. */
function expected(accounts: AccountTable, view: DataView, k: number): [number, number] {
  const at = k * ORDER_SIZE_BYTES;
  const partner = view.getUint32(at + 32, true);
  const slot = accounts.find(partner, view.getUint32(at + 12, true), view.getUint32(at + 8, true));
  const target = view.getUint8(at + 38) !== Op.transfer ? -1
    : accounts.find(partner, view.getUint32(at + 28, true), view.getUint32(at + 24, true));
  return [slot, target];
}

test("one batch's pass finds each order's account and a transfer's target", () => {
  const prng = new Prng(21);
  const { accounts, holds, view } = set_up(prng);
  const prefetch = new Prefetch();
  let not_there = 0;
  for (let first = 0; first < ORDERS; first += 20) {
    prefetch.orders(accounts, holds, view, first * ORDER_SIZE_BYTES, ORDER_SIZE_BYTES, 20);
    for (let k = 0; k < 20; k++) {
      const [slot, target] = expected(accounts, view, first + k);
      expect(prefetch.order_slot[k]).toBe(slot);
      expect(prefetch.order_target_slot[k]).toBe(target);
      if (slot === -1) not_there++;
    }
  }
  expect(not_there).toBeGreaterThan(0); // the pass met accounts that are not there
});

test("a warm-up gathered over many small batches, past its capacity, finds the same slots", () => {
  const prng = new Prng(22);
  const { accounts, holds, view } = set_up(prng);
  const warmup = new Prefetch(WARM_ORDERS_MAX);
  let first = 0;
  let pass_first = 0; // the first order of the pass under way
  let passes = 0;
  while (first < ORDERS) {
    const count = Math.min(1 + prng.int_below(20), ORDERS - first);
    // A full warm-up loads what it holds before it takes more: a new pass starts here.
    if (first - pass_first + count > WARM_ORDERS_MAX) {
      pass_first = first;
      passes++;
    }
    warmup.gather(accounts, holds, view, first * ORDER_SIZE_BYTES, ORDER_SIZE_BYTES, count);
    first += count;
    if (prng.chance(0.9) && first < ORDERS) continue;
    warmup.load(accounts, holds, view); // the cycle's end
    for (let k = pass_first; k < first; k++) {
      const [slot, target] = expected(accounts, view, k);
      expect(warmup.order_slot[k - pass_first]).toBe(slot);
      expect(warmup.order_target_slot[k - pass_first]).toBe(target);
    }
    pass_first = first;
    passes++;
  }
  expect(passes).toBeGreaterThan(ORDERS / WARM_ORDERS_MAX); // it filled up, and loaded, often
});
