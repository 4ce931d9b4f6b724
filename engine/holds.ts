// Holds of one group: reserved funds with an optional timeout. A hold is addressed by its partner
// and the id of the order that created it (order ids are each partner's own). Closed holds
// (captured, released, expired) stay recorded for the idempotency window, so a late capture gets
// hold_settled / hold_expired rather than hold_not_found; then their slot is reclaimed in the
// order they closed.

import { assert } from "../common/assert.ts";
import { HoldState } from "../schema/hold_state.ts";
import { IdIndex, type IdIndexState } from "./id_index.ts";

const NO_EXPIRY = 0;

/** A table's contents as move_out hands them over. */
export interface HoldTableState {
  index: IdIndexState;
  columns: {
    id_hi: Uint32Array; id_lo: Uint32Array; partner: Uint32Array; account_slot: Int32Array;
    amount_minor: Float64Array; expires_at_ms: Float64Array; closed_at_ms: Float64Array;
    state: Uint8Array; free_slots: Int32Array; heap_slot: Int32Array; heap_position: Int32Array;
    closed_fifo: Int32Array;
  };
  used_count: number;
  free_count: number;
  heap_size: number;
  closed_head: number;
  closed_count: number;
}

// The columns are replaced only by move_in.
export class HoldTable {
  readonly capacity: number;
  readonly index: IdIndex;
  id_hi: Uint32Array;
  id_lo: Uint32Array;
  partner: Uint32Array;
  account_slot: Int32Array;
  amount_minor: Float64Array;
  expires_at_ms: Float64Array; // 0: no timeout
  closed_at_ms: Float64Array;
  state: Uint8Array;
  used_count = 0;
  private free_slots: Int32Array;
  private free_count: number;
  // Min-heap of open holds by expiry; heap_position lets a capture remove its hold in O(log n).
  private heap_slot: Int32Array;
  private heap_position: Int32Array;
  private heap_size = 0;
  // Closed holds in closing order, reclaimed once older than the retention time.
  private closed_fifo: Int32Array;
  private closed_head = 0;
  private closed_count = 0;

  constructor(capacity: number) {
    assert(Number.isInteger(capacity) && capacity > 0, "hold capacity must be positive");
    this.capacity = capacity;
    this.index = new IdIndex(capacity);
    this.id_hi = new Uint32Array(capacity);
    this.id_lo = new Uint32Array(capacity);
    this.partner = new Uint32Array(capacity);
    this.account_slot = new Int32Array(capacity);
    this.amount_minor = new Float64Array(capacity);
    this.expires_at_ms = new Float64Array(capacity);
    this.closed_at_ms = new Float64Array(capacity);
    this.state = new Uint8Array(capacity);
    this.free_slots = new Int32Array(capacity);
    for (let i = 0; i < capacity; i++) this.free_slots[i] = capacity - 1 - i;
    this.free_count = capacity;
    this.heap_slot = new Int32Array(capacity);
    this.heap_position = new Int32Array(capacity).fill(-1);
    this.closed_fifo = new Int32Array(capacity);
  }

  find(partner: number, id_hi: number, id_lo: number): number {
    return this.index.find(partner, id_hi, id_lo);
  }

  is_full(): boolean {
    return this.free_count === 0;
  }

  /** Its contents, to move to another thread: this table must not be used again. */
  move_out(): HoldTableState {
    return {
      index: this.index.move_out(),
      columns: {
        id_hi: this.id_hi, id_lo: this.id_lo, partner: this.partner,
        account_slot: this.account_slot, amount_minor: this.amount_minor,
        expires_at_ms: this.expires_at_ms, closed_at_ms: this.closed_at_ms, state: this.state,
        free_slots: this.free_slots, heap_slot: this.heap_slot,
        heap_position: this.heap_position, closed_fifo: this.closed_fifo,
      },
      used_count: this.used_count, free_count: this.free_count, heap_size: this.heap_size,
      closed_head: this.closed_head, closed_count: this.closed_count,
    };
  }

  /** Takes the contents of a table of the same capacity (move_out). */
  move_in(moved: HoldTableState): void {
    const c = moved.columns;
    for (const column of Object.values(c)) {
      assert(column.length === this.capacity, "moved hold columns of the same capacity");
    }
    this.index.move_in(moved.index);
    this.id_hi = c.id_hi;
    this.id_lo = c.id_lo;
    this.partner = c.partner;
    this.account_slot = c.account_slot;
    this.amount_minor = c.amount_minor;
    this.expires_at_ms = c.expires_at_ms;
    this.closed_at_ms = c.closed_at_ms;
    this.state = c.state;
    this.free_slots = c.free_slots;
    this.heap_slot = c.heap_slot;
    this.heap_position = c.heap_position;
    this.closed_fifo = c.closed_fifo;
    this.used_count = moved.used_count;
    this.free_count = moved.free_count;
    this.heap_size = moved.heap_size;
    this.closed_head = moved.closed_head;
    this.closed_count = moved.closed_count;
  }

  open(partner: number, id_hi: number, id_lo: number, account_slot: number, amount: number,
    expires_at_ms: number) {
    assert(this.free_count > 0, "hold table full");
    const slot = this.free_slots[--this.free_count]!;
    assert(this.state[slot] === HoldState.free, "allocated hold slot is in use");
    this.index.insert(partner, id_hi, id_lo, slot);
    this.id_hi[slot] = id_hi;
    this.id_lo[slot] = id_lo;
    this.partner[slot] = partner;
    this.account_slot[slot] = account_slot;
    this.amount_minor[slot] = amount;
    this.expires_at_ms[slot] = expires_at_ms;
    this.closed_at_ms[slot] = 0;
    this.state[slot] = HoldState.open;
    this.used_count++;
    if (expires_at_ms !== NO_EXPIRY) this.heap_push(slot);
    return slot;
  }

  /** Removes a hold opened in a linked chain that then failed: as if it never existed. */
  unopen(slot: number): void {
    assert(this.state[slot] === HoldState.open, "only an open hold can be un-opened");
    if (this.heap_position[slot] !== -1) this.heap_remove(slot);
    this.index.remove(this.partner[slot]!, this.id_hi[slot]!, this.id_lo[slot]!);
    this.state[slot] = HoldState.free;
    this.free_slots[this.free_count++] = slot;
    this.used_count--;
  }

  /** Marks an open hold closed. finish_close() must follow (chains defer it until they commit). */
  close(slot: number, state: HoldState, closed_at_ms: number): void {
    assert(this.state[slot] === HoldState.open, "closing a hold that is not open");
    assert(state !== HoldState.open && state !== HoldState.free, "closing into a closed state");
    this.state[slot] = state;
    this.closed_at_ms[slot] = closed_at_ms;
  }

  /** A failed linked chain reopens the holds it closed. */
  unclose(slot: number): void {
    assert(this.state[slot] !== HoldState.open, "reopening an open hold");
    this.state[slot] = HoldState.open;
    this.closed_at_ms[slot] = 0;
  }

  finish_close(slot: number): void {
    assert(this.state[slot]! > HoldState.open, "finishing the close of an open hold");
    if (this.heap_position[slot] !== -1) this.heap_remove(slot);
    assert(this.closed_count < this.capacity, "closed fifo overflow");
    this.closed_fifo[(this.closed_head + this.closed_count) % this.capacity] = slot;
    this.closed_count++;
  }

  /** The open hold that expires first, if it expires at or before now_ms; else -1. */
  next_expired(now_ms: number): number {
    if (this.heap_size === 0) return -1;
    const slot = this.heap_slot[0]!;
    return this.expires_at_ms[slot]! <= now_ms ? slot : -1;
  }

  /** Frees closed holds that closed before cutoff_ms. */
  reclaim_closed_before(cutoff_ms: number): void {
    while (this.closed_count > 0) {
      const slot = this.closed_fifo[this.closed_head]!;
      if (this.closed_at_ms[slot]! >= cutoff_ms) return;
      this.closed_head = (this.closed_head + 1) % this.capacity;
      this.closed_count--;
      this.index.remove(this.partner[slot]!, this.id_hi[slot]!, this.id_lo[slot]!);
      this.state[slot] = HoldState.free;
      this.free_slots[this.free_count++] = slot;
      this.used_count--;
    }
  }

  /** Slots in use, open first then closed in closing order: the order a snapshot restores them. */
  for_each_used(visit: (slot: number) => void): void {
    for (let slot = 0; slot < this.capacity; slot++) {
      if (this.state[slot] === HoldState.open) visit(slot);
    }
    for (let i = 0; i < this.closed_count; i++) visit(this.closed_fifo[(this.closed_head + i) % this.capacity]!);
  }

  /** Restores a hold from a snapshot (open holds first, then closed ones in closing order). */
  restore(partner: number, id_hi: number, id_lo: number, account_slot: number, amount: number,
    expires_at_ms: number, state: HoldState, closed_at_ms: number): void {
    const slot = this.open(partner, id_hi, id_lo, account_slot, amount, expires_at_ms);
    if (state === HoldState.open) return;
    this.close(slot, state, closed_at_ms);
    this.finish_close(slot);
  }

  private heap_less(a: number, b: number): boolean {
    // Ties break on the hold's key, not the slot, so a restored table expires in the same order:
    // the id first (ids are time-ordered, so holds arrive nearly in heap order and a push rarely
    // sifts far), then the partner (two partners may use the same id).
    const slot_a = this.heap_slot[a]!;
    const slot_b = this.heap_slot[b]!;
    const ta = this.expires_at_ms[slot_a]!;
    const tb = this.expires_at_ms[slot_b]!;
    if (ta !== tb) return ta < tb;
    if (this.id_hi[slot_a] !== this.id_hi[slot_b]) return this.id_hi[slot_a]! < this.id_hi[slot_b]!;
    if (this.id_lo[slot_a] !== this.id_lo[slot_b]) return this.id_lo[slot_a]! < this.id_lo[slot_b]!;
    return this.partner[slot_a]! < this.partner[slot_b]!;
  }

  private heap_swap(a: number, b: number): void {
    const slot_a = this.heap_slot[a]!;
    const slot_b = this.heap_slot[b]!;
    this.heap_slot[a] = slot_b;
    this.heap_slot[b] = slot_a;
    this.heap_position[slot_b] = a;
    this.heap_position[slot_a] = b;
  }

  private heap_push(slot: number): void {
    const position = this.heap_size++;
    this.heap_slot[position] = slot;
    this.heap_position[slot] = position;
    this.sift_up(position);
  }

  private heap_remove(slot: number): void {
    const position = this.heap_position[slot]!;
    assert(position >= 0 && position < this.heap_size, "hold not in the expiry heap");
    const last = --this.heap_size;
    if (position !== last) {
      this.heap_swap(position, last);
      this.sift_down(position);
      this.sift_up(position);
    }
    this.heap_position[slot] = -1;
  }

  private sift_up(position: number): void {
    while (position > 0) {
      const parent = (position - 1) >> 1;
      if (!this.heap_less(position, parent)) return;
      this.heap_swap(position, parent);
      position = parent;
    }
  }

  private sift_down(position: number): void {
    for (;;) {
      const left = position * 2 + 1;
      if (left >= this.heap_size) return;
      const right = left + 1;
      const child = right < this.heap_size && this.heap_less(right, left) ? right : left;
      if (!this.heap_less(child, position)) return;
      this.heap_swap(position, child);
      position = child;
    }
  }
}
