// The accounts of one group, addressed by a dense slot that the id index maps from the partner and
// the 64-bit account id once per order (account ids are each partner's own). Each account is one
// 64-byte record (one cache line): an order touches its account's figures and attributes
// together, so with a million accounts one miss brings them all. Figures are integers in minor units held in float64, kept exact by the engine's range
// checks (common/constants.ts, Money).
//
// Record layout, by 8-byte word (f64) and 4-byte word (u32):
//   f64 0 balance   f64 1 held   f64 2 overdraft limit   f64 3 sequence of the last change
//   u32 8 id low    u32 9 id high   u32 10 partner   u32 11 open holds
//   u32 12 currency   u32 13 kind   u32 14 state   u32 15 reserved

import { assert } from "../common/assert.ts";
import { BALANCE_MINOR_MAX } from "../common/constants.ts";
import { AccountKind } from "../schema/generated/balance/wire/account-kind.ts";
import { AccountState } from "../schema/generated/balance/wire/account-state.ts";
import { IdIndex, type IdIndexState } from "./id_index.ts";

export const ACCOUNT_RECORD_BYTES = 64;
const F64_STRIDE = 8;
const U32_STRIDE = 16;
const BALANCE = 0;
const HELD = 1;
const OVERDRAFT = 2;
const SEQUENCE = 3;
const ID_LO = 8;
const ID_HI = 9;
const PARTNER = 10;
const OPEN_HOLDS = 11;
const CURRENCY = 12;
const KIND = 13;
const STATE = 14;

/** A table's contents as move_out hands them over. */
export interface AccountTableState {
  records: ArrayBuffer;
  count: number;
  index: IdIndexState;
}

export class AccountTable {
  readonly capacity: number;
  count = 0;
  readonly index: IdIndex;
  // Replaced only by move_in.
  private records: ArrayBuffer;
  private f64: Float64Array;
  private u32: Uint32Array;

  constructor(capacity: number) {
    assert(Number.isInteger(capacity) && capacity > 0, "account capacity must be positive");
    this.capacity = capacity;
    this.index = new IdIndex(capacity);
    this.records = new ArrayBuffer(capacity * ACCOUNT_RECORD_BYTES);
    this.f64 = new Float64Array(this.records);
    this.u32 = new Uint32Array(this.records);
  }

  /** Its contents, to move to another thread: this table must not be used again. */
  move_out(): AccountTableState {
    return { records: this.records, count: this.count, index: this.index.move_out() };
  }

  /** Takes the contents of a table of the same capacity (move_out). */
  move_in(state: AccountTableState): void {
    assert(state.records.byteLength === this.records.byteLength, "moved accounts of the same size");
    this.records = state.records;
    this.f64 = new Float64Array(this.records);
    this.u32 = new Uint32Array(this.records);
    this.count = state.count;
    this.index.move_in(state.index);
  }

  /** The slot of the partner's account id, or -1. */
  find(partner: number, id_hi: number, id_lo: number): number {
    return this.index.find(partner, id_hi, id_lo);
  }

  is_full(): boolean {
    return this.count === this.capacity;
  }

  open(id_hi: number, id_lo: number, partner: number, currency: number, kind: AccountKind,
    overdraft_limit_minor: number): number {
    assert(!this.is_full(), "account table full");
    assert(overdraft_limit_minor >= 0 && overdraft_limit_minor <= BALANCE_MINOR_MAX, "overdraft");
    const slot = this.count++;
    this.index.insert(partner, id_hi, id_lo, slot);
    const f = slot * F64_STRIDE;
    this.f64[f + BALANCE] = 0;
    this.f64[f + HELD] = 0;
    this.f64[f + OVERDRAFT] = overdraft_limit_minor;
    this.f64[f + SEQUENCE] = 0;
    const u = slot * U32_STRIDE;
    this.u32[u + ID_LO] = id_lo;
    this.u32[u + ID_HI] = id_hi;
    this.u32[u + PARTNER] = partner;
    this.u32[u + OPEN_HOLDS] = 0;
    this.u32[u + CURRENCY] = currency;
    this.u32[u + KIND] = kind;
    this.u32[u + STATE] = AccountState.open;
    return slot;
  }

  /** Removes the newest account: a linked chain that opened it failed. */
  unopen_last(): void {
    assert(this.count > 0, "no account to un-open");
    const slot = this.count - 1;
    this.index.remove(this.partner(slot), this.id_hi(slot), this.id_lo(slot));
    this.count--;
  }

  id_hi(slot: number): number { return this.u32[slot * U32_STRIDE + ID_HI]!; }
  id_lo(slot: number): number { return this.u32[slot * U32_STRIDE + ID_LO]!; }
  partner(slot: number): number { return this.u32[slot * U32_STRIDE + PARTNER]!; }
  currency(slot: number): number { return this.u32[slot * U32_STRIDE + CURRENCY]!; }
  kind(slot: number): AccountKind { return this.u32[slot * U32_STRIDE + KIND]! as AccountKind; }
  /** Reads the records of slots[0..count) (a cache line each): early loads, back to back. */
  touch_slots(slots: Int32Array, count: number): number {
    const u32 = this.u32;
    let kept = 0;
    for (let i = 0; i < count; i++) kept += u32[slots[i]! * U32_STRIDE + STATE]!;
    return kept;
  }
  state(slot: number): AccountState { return this.u32[slot * U32_STRIDE + STATE]! as AccountState; }
  open_hold_count(slot: number): number { return this.u32[slot * U32_STRIDE + OPEN_HOLDS]!; }
  balance_minor(slot: number): number { return this.f64[slot * F64_STRIDE + BALANCE]!; }
  held_minor(slot: number): number { return this.f64[slot * F64_STRIDE + HELD]!; }
  overdraft_limit_minor(slot: number): number { return this.f64[slot * F64_STRIDE + OVERDRAFT]!; }
  /** The group sequence of the last event that changed this account. */
  sequence(slot: number): number { return this.f64[slot * F64_STRIDE + SEQUENCE]!; }

  set_state(slot: number, state: AccountState): void {
    this.u32[slot * U32_STRIDE + STATE] = state;
  }
  set_open_hold_count(slot: number, count: number): void {
    this.u32[slot * U32_STRIDE + OPEN_HOLDS] = count;
  }
  add_open_hold_count(slot: number, delta: number): void {
    const at = slot * U32_STRIDE + OPEN_HOLDS;
    this.u32[at] = this.u32[at]! + delta;
  }
  set_balance_minor(slot: number, value: number): void {
    this.f64[slot * F64_STRIDE + BALANCE] = value;
  }
  add_balance_minor(slot: number, delta: number): void {
    const at = slot * F64_STRIDE + BALANCE;
    this.f64[at] = this.f64[at]! + delta;
  }
  set_held_minor(slot: number, value: number): void { this.f64[slot * F64_STRIDE + HELD] = value; }
  add_held_minor(slot: number, delta: number): void {
    const at = slot * F64_STRIDE + HELD;
    this.f64[at] = this.f64[at]! + delta;
  }
  set_overdraft_limit_minor(slot: number, value: number): void {
    this.f64[slot * F64_STRIDE + OVERDRAFT] = value;
  }
  set_sequence(slot: number, sequence: number): void {
    this.f64[slot * F64_STRIDE + SEQUENCE] = sequence;
  }

  /** balance - held + overdraft limit: exact, because balance + overdraft limit <= 2^53 - 1. */
  available_minor(slot: number): number {
    const f = slot * F64_STRIDE;
    return this.f64[f + BALANCE]! - this.f64[f + HELD]! + this.f64[f + OVERDRAFT]!;
  }

  /** The first `count` records as bytes (a view, not a copy), for snapshots. */
  records_view(count: number): Uint8Array {
    assert(count <= this.count, "viewing records in use");
    return new Uint8Array(this.records, 0, count * ACCOUNT_RECORD_BYTES);
  }

  /** Loads records written from records_view into an empty table and indexes them. */
  restore_records(bytes: Uint8Array, count: number): void {
    assert(this.count === 0, "restore into an empty table");
    assert(count <= this.capacity, "snapshot holds more accounts than configured");
    assert(bytes.byteLength >= count * ACCOUNT_RECORD_BYTES, "snapshot records truncated");
    new Uint8Array(this.records).set(bytes.subarray(0, count * ACCOUNT_RECORD_BYTES));
    for (let slot = 0; slot < count; slot++) {
      this.index.insert(this.partner(slot), this.id_hi(slot), this.id_lo(slot), slot);
    }
    this.count = count;
  }

  /** The account invariants of docs/design.md section 2, for one slot. */
  verify(slot: number): void {
    const balance = this.balance_minor(slot);
    const held = this.held_minor(slot);
    const overdraft = this.overdraft_limit_minor(slot);
    assert(Number.isSafeInteger(balance), `balance not exact at slot ${slot}`);
    assert(Number.isSafeInteger(held) && held >= 0, `held negative at slot ${slot}`);
    assert(balance + overdraft <= BALANCE_MINOR_MAX, `balance + overdraft out of range ${slot}`);
    assert(balance >= -overdraft, `balance below -overdraft_limit at slot ${slot}`);
    assert(held <= balance + overdraft, `held above balance + overdraft at slot ${slot}`);
  }
}
