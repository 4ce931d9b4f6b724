// The accounts of one group as struct-of-arrays, addressed by a dense slot that the id index maps
// from the 64-bit account id once per order. Figures are integers in minor units held in float64,
// kept exact by the engine's range checks (common/constants.ts, Money).

import { assert } from "../common/assert.ts";
import { BALANCE_MINOR_MAX } from "../common/constants.ts";
import { AccountKind } from "../schema/generated/balance/wire/account-kind.ts";
import { AccountState } from "../schema/generated/balance/wire/account-state.ts";
import { IdIndex } from "./id_index.ts";

export class AccountTable {
  readonly capacity: number;
  count = 0;
  readonly index: IdIndex;
  readonly id_hi: Uint32Array;
  readonly id_lo: Uint32Array;
  readonly partner: Uint32Array;
  readonly currency: Uint16Array;
  readonly kind: Uint8Array;
  readonly state: Uint8Array;
  readonly balance_minor: Float64Array;
  readonly held_minor: Float64Array;
  readonly overdraft_limit_minor: Float64Array;
  readonly open_hold_count: Uint32Array;
  /** The group sequence of the last event that changed this account. */
  readonly sequence: Float64Array;

  constructor(capacity: number) {
    assert(Number.isInteger(capacity) && capacity > 0, "account capacity must be positive");
    this.capacity = capacity;
    this.index = new IdIndex(capacity);
    this.id_hi = new Uint32Array(capacity);
    this.id_lo = new Uint32Array(capacity);
    this.partner = new Uint32Array(capacity);
    this.currency = new Uint16Array(capacity);
    this.kind = new Uint8Array(capacity);
    this.state = new Uint8Array(capacity);
    this.balance_minor = new Float64Array(capacity);
    this.held_minor = new Float64Array(capacity);
    this.overdraft_limit_minor = new Float64Array(capacity);
    this.open_hold_count = new Uint32Array(capacity);
    this.sequence = new Float64Array(capacity);
  }

  /** The slot of an account id, or -1. */
  find(id_hi: number, id_lo: number): number {
    return this.index.find(id_hi, id_lo);
  }

  is_full(): boolean {
    return this.count === this.capacity;
  }

  open(
    id_hi: number,
    id_lo: number,
    partner: number,
    currency: number,
    kind: AccountKind,
    overdraft_limit_minor: number,
  ): number {
    assert(!this.is_full(), "account table full");
    assert(overdraft_limit_minor >= 0 && overdraft_limit_minor <= BALANCE_MINOR_MAX, "overdraft");
    const slot = this.count++;
    this.index.insert(id_hi, id_lo, slot);
    this.id_hi[slot] = id_hi;
    this.id_lo[slot] = id_lo;
    this.partner[slot] = partner;
    this.currency[slot] = currency;
    this.kind[slot] = kind;
    this.state[slot] = AccountState.open;
    this.balance_minor[slot] = 0;
    this.held_minor[slot] = 0;
    this.overdraft_limit_minor[slot] = overdraft_limit_minor;
    this.open_hold_count[slot] = 0;
    this.sequence[slot] = 0;
    return slot;
  }

  /** Removes the newest account: a linked chain that opened it failed. */
  unopen_last(): void {
    assert(this.count > 0, "no account to un-open");
    const slot = this.count - 1;
    this.index.remove(this.id_hi[slot]!, this.id_lo[slot]!);
    this.count--;
  }

  /** balance - held + overdraft limit: exact, because balance + overdraft limit <= 2^53 - 1. */
  available_minor(slot: number): number {
    return this.balance_minor[slot]! - this.held_minor[slot]! + this.overdraft_limit_minor[slot]!;
  }

  /** The account invariants of DESIGN.md section 2, for one slot. */
  verify(slot: number): void {
    const balance = this.balance_minor[slot]!;
    const held = this.held_minor[slot]!;
    const overdraft = this.overdraft_limit_minor[slot]!;
    assert(Number.isSafeInteger(balance), `balance not exact at slot ${slot}`);
    assert(Number.isSafeInteger(held) && held >= 0, `held negative at slot ${slot}`);
    assert(balance + overdraft <= BALANCE_MINOR_MAX, `balance + overdraft out of range ${slot}`);
    assert(balance >= -overdraft, `balance below -overdraft_limit at slot ${slot}`);
    assert(held <= balance + overdraft, `held above balance + overdraft at slot ${slot}`);
  }
}
