// Open-addressing hash index from a 96-bit key (a partner and a 64-bit id in two u32 halves) to a
// non-negative int32 value: account and order ids are each partner's own, so the partner is part of
// every key (two partners of one group may use the same ids).
// Typed arrays only: no allocation after construction, no GC work on the hot path.
// Linear probing with backward-shift deletion, so there are no tombstones to clean up.
// Each position keeps its key halves and value side by side (16 bytes, four to a cache line), so a
// probe costs one cache miss, not one per array: with millions of ids the index is memory-bound.
//
// The table's memory comes from the OS untouched. A first read of one of its pages maps the shared
// zero page, and the write that follows (an insert) then faults again to copy it, with a TLB flush
// of every CPU the process runs on: opening a million accounts paid that for each 4 KiB of the
// table (8,192 pages), about a seventh of a recovery's time (docs/performance.md, "Recovery").
// So the index remembers which pages were ever written (written_pages) and touch_positions, the
// prefetch's early load, writes a zero into a page never written instead of reading it: the page
// is all zeros then, so the write changes nothing but makes the page's first fault its only one.

import { assert } from "../common/assert.ts";

const POSITION_U32S = 4; // key_hi, key_lo, value + 1 (0: empty), key_partner
const KEY_HI = 0;
const KEY_LO = 1;
const VALUE = 2;
const KEY_PARTNER = 3;
/** The granule of written_pages: 4 KiB, the smallest page of the machines we run on. */
const PAGE_WORDS_LOG2 = 10;

export function hash_u96(partner: number, hi: number, lo: number): number {
  let h = Math.imul(lo ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(hi ^ 0x7f4a7c15, 0xc2b2ae35);
  h ^= Math.imul(partner ^ 0x165667b1, 0x27d4eb2f);
  h ^= h >>> 16;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 13;
  return h >>> 0;
}

/** An index's contents as move_out hands them over (plain data and typed arrays). */
export interface IdIndexState {
  table: Uint32Array;
  entry_count: number;
}

export class IdIndex {
  readonly position_count: number;
  readonly entries_max: number;
  entry_count = 0;
  private readonly mask: number;
  private table: Uint32Array; // replaced only by move_in
  /** Per 4 KiB of the table: 1 once anything was written there (then it may hold entries). */
  private readonly written_pages: Uint8Array;

  /** entries_max ids; positions are twice that, rounded up to a power of two (load <= 0.5). */
  constructor(entries_max: number) {
    assert(Number.isInteger(entries_max) && entries_max > 0, "entries_max must be positive");
    let position_count = 2;
    while (position_count < entries_max * 2) position_count *= 2;
    this.position_count = position_count;
    this.entries_max = entries_max;
    this.mask = position_count - 1;
    this.table = new Uint32Array(position_count * POSITION_U32S);
    this.written_pages = new Uint8Array(Math.ceil(this.table.length / 2 ** PAGE_WORDS_LOG2));
  }

  /**
   * Its contents, to move to another thread (their buffers transferred): this index must not be
   * used again. An index of the same entries_max takes them with move_in.
   */
  move_out(): IdIndexState {
    return { table: this.table, entry_count: this.entry_count };
  }

  move_in(state: IdIndexState): void {
    assert(state.table.length === this.table.length, "a moved index of the same size");
    this.table = state.table;
    this.entry_count = state.entry_count;
    this.written_pages.fill(1); // written by the index it came from
  }

  /** The value stored for the partner's id, or -1. */
  find(partner: number, hi: number, lo: number): number {
    const table = this.table;
    const mask = this.mask;
    let position = hash_u96(partner, hi, lo) & mask;
    for (;;) {
      const at = position * POSITION_U32S;
      const stored = table[at + VALUE]!;
      if (stored === 0) return -1;
      if (table[at + KEY_LO] === lo && table[at + KEY_HI] === hi &&
        table[at + KEY_PARTNER] === partner) return stored - 1;
      position = (position + 1) & mask;
    }
  }

  /**
   * Where the key's probe starts (a word offset into the table), for touch_positions: computing
   * positions apart from loading them keeps the loads back to back (engine/prefetch.ts).
   */
  position_of(partner: number, hi: number, lo: number): number {
    return (hash_u96(partner, hi, lo) & this.mask) * POSITION_U32S;
  }

  /**
   * Reads positions[0..count) (their value words): early loads whose misses overlap, so that the
   * probes that follow hit the cache. Returns what was read, to be kept. A position in a page never
   * written is written instead (a zero over a zero; see the top of this file).
   */
  touch_positions(positions: Int32Array, count: number): number {
    const table = this.table;
    const written_pages = this.written_pages;
    let kept = 0;
    for (let i = 0; i < count; i++) {
      const at = positions[i]! + VALUE;
      const page = at >>> PAGE_WORDS_LOG2;
      if (written_pages[page] === 1) {
        kept += table[at]!;
      } else {
        table[at] = 0;
        written_pages[page] = 1;
      }
    }
    return kept;
  }

  /** How many 4 KiB pages of the table were ever written (tests: a touch reached a fresh one). */
  written_page_count(): number {
    let count = 0;
    for (const written of this.written_pages) count += written;
    return count;
  }

  /** Inserts a new key. The caller has checked it is absent and that there is room. */
  insert(partner: number, hi: number, lo: number, value: number): void {
    assert(value >= 0 && value < 0xffff_ffff, "index values are non-negative int32");
    assert(this.entry_count < this.entries_max, "id index full");
    const table = this.table;
    const mask = this.mask;
    let position = hash_u96(partner, hi, lo) & mask;
    for (;;) {
      const at = position * POSITION_U32S;
      if (table[at + VALUE] === 0) break;
      assert(table[at + KEY_LO] !== lo || table[at + KEY_HI] !== hi ||
        table[at + KEY_PARTNER] !== partner, "id already indexed");
      position = (position + 1) & mask;
    }
    const at = position * POSITION_U32S;
    table[at + KEY_HI] = hi;
    table[at + KEY_LO] = lo;
    table[at + KEY_PARTNER] = partner;
    table[at + VALUE] = value + 1;
    this.written_pages[(at + VALUE) >>> PAGE_WORDS_LOG2] = 1;
    this.entry_count++;
  }

  /** Removes a key that is present. */
  remove(partner: number, hi: number, lo: number): void {
    const table = this.table;
    const mask = this.mask;
    let hole = hash_u96(partner, hi, lo) & mask;
    for (;;) {
      const at = hole * POSITION_U32S;
      assert(table[at + VALUE] !== 0, "removing an id that is not indexed");
      if (table[at + KEY_LO] === lo && table[at + KEY_HI] === hi &&
        table[at + KEY_PARTNER] === partner) break;
      hole = (hole + 1) & mask;
    }
    table[hole * POSITION_U32S + VALUE] = 0;
    this.entry_count--;
    // Backward shift: pull later entries of the probe run into the hole unless their home lies
    // cyclically after the hole (then moving them would put them before their home).
    let probe = hole;
    for (;;) {
      probe = (probe + 1) & mask;
      const from = probe * POSITION_U32S;
      if (table[from + VALUE] === 0) return;
      const home = hash_u96(table[from + KEY_PARTNER]!, table[from + KEY_HI]!,
        table[from + KEY_LO]!) & mask;
      const stays = hole <= probe ? hole < home && home <= probe : hole < home || home <= probe;
      if (stays) continue;
      const to = hole * POSITION_U32S;
      table[to + KEY_HI] = table[from + KEY_HI]!;
      table[to + KEY_LO] = table[from + KEY_LO]!;
      table[to + KEY_PARTNER] = table[from + KEY_PARTNER]!;
      table[to + VALUE] = table[from + VALUE]!;
      table[from + VALUE] = 0;
      hole = probe;
    }
  }

  clear(): void {
    this.table.fill(0);
    this.written_pages.fill(1);
    this.entry_count = 0;
  }
}
