// Open-addressing hash index from a 64-bit id (two u32 halves) to a non-negative int32 value.
// Typed arrays only: no allocation after construction, no GC work on the hot path.
// Linear probing with backward-shift deletion, so there are no tombstones to clean up.

import { assert } from "../common/assert.ts";

const EMPTY = -1;

export function hash_u64(hi: number, lo: number): number {
  let h = Math.imul(lo ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(hi ^ 0x7f4a7c15, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 13;
  return h >>> 0;
}

export class IdIndex {
  readonly position_count: number;
  readonly entries_max: number;
  entry_count = 0;
  private readonly mask: number;
  private readonly keys_hi: Uint32Array;
  private readonly keys_lo: Uint32Array;
  private readonly values: Int32Array;

  /** entries_max ids; positions are twice that, rounded up to a power of two (load <= 0.5). */
  constructor(entries_max: number) {
    assert(Number.isInteger(entries_max) && entries_max > 0, "entries_max must be positive");
    let position_count = 2;
    while (position_count < entries_max * 2) position_count *= 2;
    this.position_count = position_count;
    this.entries_max = entries_max;
    this.mask = position_count - 1;
    this.keys_hi = new Uint32Array(position_count);
    this.keys_lo = new Uint32Array(position_count);
    this.values = new Int32Array(position_count).fill(EMPTY);
  }

  /** The value stored for the id, or -1. */
  find(hi: number, lo: number): number {
    const mask = this.mask;
    let position = hash_u64(hi, lo) & mask;
    for (;;) {
      const value = this.values[position]!;
      if (value === EMPTY) return EMPTY;
      if (this.keys_lo[position] === lo && this.keys_hi[position] === hi) return value;
      position = (position + 1) & mask;
    }
  }

  /** Inserts a new id. The caller has checked it is absent and that there is room. */
  insert(hi: number, lo: number, value: number): void {
    assert(value >= 0, "index values are non-negative");
    assert(this.entry_count < this.entries_max, "id index full");
    const mask = this.mask;
    let position = hash_u64(hi, lo) & mask;
    while (this.values[position] !== EMPTY) {
      assert(this.keys_lo[position] !== lo || this.keys_hi[position] !== hi, "id already indexed");
      position = (position + 1) & mask;
    }
    this.keys_hi[position] = hi;
    this.keys_lo[position] = lo;
    this.values[position] = value;
    this.entry_count++;
  }

  /** Removes an id that is present. */
  remove(hi: number, lo: number): void {
    const mask = this.mask;
    let hole = hash_u64(hi, lo) & mask;
    while (this.keys_lo[hole] !== lo || this.keys_hi[hole] !== hi || this.values[hole] === EMPTY) {
      assert(this.values[hole] !== EMPTY, "removing an id that is not indexed");
      hole = (hole + 1) & mask;
    }
    this.values[hole] = EMPTY;
    this.entry_count--;
    // Backward shift: pull later entries of the probe run into the hole unless their home lies
    // cyclically after the hole (then moving them would put them before their home).
    let probe = hole;
    for (;;) {
      probe = (probe + 1) & mask;
      if (this.values[probe] === EMPTY) return;
      const home = hash_u64(this.keys_hi[probe]!, this.keys_lo[probe]!) & mask;
      const stays = hole <= probe ? hole < home && home <= probe : hole < home || home <= probe;
      if (stays) continue;
      this.keys_hi[hole] = this.keys_hi[probe]!;
      this.keys_lo[hole] = this.keys_lo[probe]!;
      this.values[hole] = this.values[probe]!;
      this.values[probe] = EMPTY;
      hole = probe;
    }
  }

  clear(): void {
    this.values.fill(EMPTY);
    this.entry_count = 0;
  }
}
