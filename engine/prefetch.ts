// Touches what a batch of orders (or a journal entry's records, in replay) will look up before any
// of them is applied: their accounts, a transfer's other account, the hold a capture, release or
// expiry settles, the index position a new hold takes. With a million accounts each lookup is a
// cache miss; these loads do not depend on one another, so the CPU can overlap their misses, where
// applying the orders one by one would wait for each in turn.
//
// How many misses overlap is bounded by how many loads fit in the CPU's reorder window, not by the
// memory: a loop that decodes and hashes between two loads (about a hundred instructions) keeps
// only two or three misses in flight. So the work is split in passes: compute every index position
// first (no memory beyond the batch), then load them back to back in a loop of a few instructions
// per load; then, the index lines being in cache, resolve the account slots, and load the records
// back to back the same way.

import { assert } from "../common/assert.ts";
import { JOURNAL_ENTRY_RECORDS_MAX } from "../common/constants.ts";
import { Op } from "../schema/generated/balance/wire/op.ts";
import type { AccountTable } from "./accounts.ts";
import type { HoldTable } from "./holds.ts";

/** Orders one pass takes: a batch, or a journal entry's records (a batch and its expiries). */
const PREFETCH_ORDERS_MAX = JOURNAL_ENTRY_RECORDS_MAX;

// Where the order struct keeps what is looked up (schema/layout.ts, struct Order).
const ID_LO = 0;
const ID_HI = 4;
const ACCOUNT_LO = 8;
const ACCOUNT_HI = 12;
const REF_LO = 24;
const REF_HI = 28;
const PARTNER = 32;
const OP = 38;

export class Prefetch {
  private readonly orders_max: number;
  private readonly account_positions: Int32Array;
  private readonly account_slots: Int32Array;
  private readonly hold_positions: Int32Array;
  /** Where each gathered order starts in the view (gather: many batches' orders at once). */
  private readonly order_at: Int32Array;
  private order_count = 0;
  private account_count = 0;
  private hold_count = 0;
  /**
   * Per order of the last pass, its account's slot as found before any of them applied (-1: not
   * there then), and a transfer's target's (-1 otherwise). Slots never move, and the only
   * accounts that can go are ones opened after the pass (a linked chain's roll-back), so a slot
   * found here is still the order's account when the order applies: no second index probe.
   */
  readonly order_slot: Int32Array;
  readonly order_target_slot: Int32Array;
  /** What the loads read: never used, only kept so they are not optimised away. */
  kept = 0;

  /** orders_max: the orders one pass takes (a journal entry's records, or a cycle's share). */
  constructor(orders_max = PREFETCH_ORDERS_MAX) {
    this.orders_max = orders_max;
    this.account_positions = new Int32Array(orders_max * 2); // a transfer looks up two accounts
    this.account_slots = new Int32Array(orders_max * 2);
    this.hold_positions = new Int32Array(orders_max);
    this.order_at = new Int32Array(orders_max);
    this.order_slot = new Int32Array(orders_max);
    this.order_target_slot = new Int32Array(orders_max);
  }

  /** `count` orders (40-byte structs from `offset`, `stride` bytes apart), in one pass. */
  orders(accounts: AccountTable, holds: HoldTable, view: DataView, offset: number, stride: number,
    count: number): void {
    assert(count >= 0 && count <= this.orders_max, "prefetch: orders within a pass");
    this.order_count = 0;
    this.account_count = 0;
    this.hold_count = 0;
    this.gather(accounts, holds, view, offset, stride, count);
    this.load(accounts, holds, view);
  }

  /**
   * Adds `count` orders to the pass under way (load() then touches them all at once): many small
   * batches' lookups overlap their misses where each batch's own pass could not. A full pass is
   * loaded first.
   */
  gather(accounts: AccountTable, holds: HoldTable, view: DataView, offset: number,
    stride: number, count: number): void {
    assert(count <= this.orders_max, "prefetch: orders within a pass");
    if (this.order_count + count > this.orders_max) this.load(accounts, holds, view);
    for (let k = 0; k < count; k++) this.order_at[this.order_count++] = offset + k * stride;
    this.index_positions(accounts, holds, view, this.order_count - count, this.order_count);
  }

  /** Touches what the gathered orders look up; order_slot then holds their slots. */
  load(accounts: AccountTable, holds: HoldTable, view: DataView): void {
    let kept = accounts.index.touch_positions(this.account_positions, this.account_count);
    kept += holds.index.touch_positions(this.hold_positions, this.hold_count);
    const slot_count = this.find_slots(accounts, view);
    kept += accounts.touch_slots(this.account_slots, slot_count);
    this.kept = kept;
    this.order_count = 0;
    this.account_count = 0;
    this.hold_count = 0;
  }

  /** Adds the index positions of orders [first, end) to account_positions and hold_positions. */
  private index_positions(accounts: AccountTable, holds: HoldTable, view: DataView, first: number,
    end: number): void {
    const account_index = accounts.index;
    const hold_index = holds.index;
    const account_positions = this.account_positions;
    const hold_positions = this.hold_positions;
    let account_count = this.account_count;
    let hold_count = this.hold_count;
    for (let k = first; k < end; k++) {
      const at = this.order_at[k]!;
      const partner = view.getUint32(at + PARTNER, true);
      account_positions[account_count++] = account_index.position_of(partner,
        view.getUint32(at + ACCOUNT_HI, true), view.getUint32(at + ACCOUNT_LO, true));
      const op = view.getUint8(at + OP);
      if (op === Op.transfer) {
        account_positions[account_count++] = account_index.position_of(partner,
          view.getUint32(at + REF_HI, true), view.getUint32(at + REF_LO, true));
      } else if (op === Op.capture || op === Op.release || op === Op.expire_hold) {
        hold_positions[hold_count++] = hold_index.position_of(partner,
          view.getUint32(at + REF_HI, true), view.getUint32(at + REF_LO, true));
      } else if (op === Op.hold) {
        // Where the new hold is indexed: its own order id.
        hold_positions[hold_count++] = hold_index.position_of(partner,
          view.getUint32(at + ID_HI, true), view.getUint32(at + ID_LO, true));
      }
    }
    this.account_count = account_count;
    this.hold_count = hold_count;
  }

  /**
   * Fills account_slots with the slots of the accounts found (the index lines are in cache), and
   * order_slot / order_target_slot; returns how many slots.
   */
  private find_slots(accounts: AccountTable, view: DataView): number {
    const slots = this.account_slots;
    let slot_count = 0;
    for (let k = 0; k < this.order_count; k++) {
      const at = this.order_at[k]!;
      const partner = view.getUint32(at + PARTNER, true);
      const slot = accounts.find(partner, view.getUint32(at + ACCOUNT_HI, true),
        view.getUint32(at + ACCOUNT_LO, true));
      this.order_slot[k] = slot;
      if (slot !== -1) slots[slot_count++] = slot;
      if (view.getUint8(at + OP) !== Op.transfer) {
        this.order_target_slot[k] = -1;
        continue;
      }
      const target = accounts.find(partner, view.getUint32(at + REF_HI, true),
        view.getUint32(at + REF_LO, true));
      this.order_target_slot[k] = target;
      if (target !== -1) slots[slot_count++] = target;
    }
    return slot_count;
  }
}
