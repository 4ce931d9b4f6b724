// The idempotency window of one group: every order id applied in the last W ms of engine time, with
// its original result, so a retry is answered with that result (replayed) and never applied twice.
// Entries are keyed by (partner, order id): order ids are each partner's own.
// An id older than engine time - W is refused as expired, so forgetting it is safe.
//
// Memory is one budget for the whole window (capacity ids), never a quota per time slice: a hot
// partner's burst takes whatever the budget has left, and busy means the budget is spent.
// - Ids are grouped by the creation time they carry into time buckets (bucket_ms wide, a power of
//   two so the bucket number is read off the id's bits; a ring of IDEMPOTENCY_BUCKETS). A whole
//   bucket is forgotten at once when its newest possible id leaves the window.
// - A bucket's entries live in pages of page_entries taken from one shared pool as it fills, and
//   go back to the pool when it is forgotten. Only a bucket's last page is ever partly used.
// - Each bucket has its own open-addressing index (linear probing, a power of two of slots that
//   doubles when it is 3/4 full), so fresh ids, which all land in the newest buckets, probe a
//   table that stays in cache, and a forgotten bucket's index is dropped whole: no id is ever
//   removed one by one. A slot is the entry number + 1 (0: empty) in its low entry_bits and, in
//   the bits above, a tag: the top bits of the id's hash. A probe compares the entry's key only
//   when the tags match, so a fresh id (most of them) walks its probe run in the index alone
//   instead of reading one entry per slot passed (at a load of 3/4, about eight). Growing re-inserts the bucket's ids (each id
//   about once over its life) into a new table: the only allocation, a few per bucket.
//
// Per remembered id (WINDOW_BYTES_PER_ID): the key (partner, the id's low word; its high word
// follows from the page's bucket when buckets are at most 2^10 ms wide, else it is kept too),
// the payload digest, status, sequence (an offset from its page's first; kept whole for wide
// buckets), the balance and
// available figures (8 bytes each: the result a retry gets): 33 bytes; and index slots of 4 bytes
// at a load between 3/8 and 3/4: at most 10.7 bytes.

import { assert } from "../common/assert.ts";
import { ORDER_ID_FUTURE_SKEW_MS_MAX, ORDER_ID_TIME_SHIFT_BITS } from "../common/constants.ts";
import { hash_u96 } from "./id_index.ts";

// An int32-valued constant (the `| 0`), not the double that `2 ** n` yields: JSC folds a double
// module constant into order_id_time_ms as an int32 multiply, which overflows for every real id and
// leaves optimized code on every call through an exit that never triggers a recompile (seen with
// BUN_JSC_printEachOSRExit=1: screen_id ran mostly in the baseline tier; docs/performance.md).
const HI_TIME_FACTOR = (2 ** (32 - ORDER_ID_TIME_SHIFT_BITS)) | 0;
/** Buckets in the ring; the window and the future skew span all but the margin. */
export const IDEMPOTENCY_BUCKETS = 256;
const BUCKET_MARGIN = 4;
const EMPTY_BUCKET = -1;
const NO_PAGE = -1;
/** A page is capacity / PAGES_PER_WINDOW_MIN ids or fewer, at most PAGE_ENTRIES_MAX: a live
 * bucket leaves less than a page unused, so at most IDEMPOTENCY_BUCKETS / PAGES_PER_WINDOW_MIN
 * (6%) of the budget is ever out of reach, and at most 1.6% for windows of 2^18 ids or more. */
const PAGE_ENTRIES_MAX = 1024;
const PAGES_PER_WINDOW_MIN = 4096;
/** A bucket's index doubles once more than 3/4 of its slots are used. */
const INDEX_LOAD_MAX = 0.75;
/** The smallest index of a bucket (a power of two): an empty ring costs 256 of them. */
const INDEX_SLOTS_MIN = 64;
const INDEX_SLOT_BYTES = 4;
/** Sequence offsets within a narrow bucket's page are int32 (the page lives W + the skew). */
const SEQUENCE_OFFSET_MAX = 2 ** 31 - 1;

/** An entry's bytes with narrow buckets: partner, id_lo, digest, status, sequence offset, two
 * balances. */
const ENTRY_BYTES = 4 + 4 + 4 + 1 + 4 + 8 + 8;
/** Bytes per remembered id at most, with narrow buckets: the entry, its index slots at the least
 * load (just after a doubling). docs/performance.md. */
export const WINDOW_BYTES_PER_ID = Math.ceil(ENTRY_BYTES + INDEX_SLOT_BYTES / (INDEX_LOAD_MAX / 2));

/** The creation time in ms carried in the high bits of an order id. */
export function order_id_time_ms(id_hi: number, id_lo: number): number {
  return id_hi * HI_TIME_FACTOR + (id_lo >>> ORDER_ID_TIME_SHIFT_BITS);
}

/** Ids per page for a window of `capacity` ids (the model in the tests uses the same rule). */
export function window_page_entries(capacity: number): number {
  let entries = 1;
  while (entries * 2 <= PAGE_ENTRIES_MAX && entries * 2 * PAGES_PER_WINDOW_MIN <= capacity) {
    entries *= 2;
  }
  return entries;
}

/** Pages a bucket of `count` ids takes. */
export function pages_for(count: number, page_entries: number): number {
  return Math.ceil(count / page_entries);
}

type WindowArray = Uint32Array | Int32Array | Uint8Array | Float64Array;

/** A window's contents as move_out hands them over (typed arrays, moved by name). */
export interface IdempotencyWindowState {
  arrays: Record<string, WindowArray>;
  /** Each ring position's index (their sizes differ). */
  indexes: Uint32Array[];
  oldest_live_number: number;
  count: number;
  free_page_count: number;
  live_bucket_count: number;
}

// The typed arrays are replaced only by move_in.
export class IdempotencyWindow {
  readonly capacity: number;
  readonly window_ms: number;
  readonly bucket_ms: number;
  readonly page_entries: number;
  readonly page_count: number;
  // bucket number = floor(id / 2^(22 + log2 bucket_ms)) = id_hi * hi_factor + (id_lo >>> lo_shift)
  // while the shift stays below 32 (narrow: the bucket and id_lo give id_hi back); from 32 on
  // (wide), id_hi >>> hi_shift, and id_hi is kept per entry.
  private readonly hi_factor: number;
  private readonly lo_shift: number;
  private readonly hi_shift: number;
  private readonly wide: boolean;
  private readonly page_bits: number;
  /** Index slot: entry + 1 in the low entry_bits, the tag (hash >>> tag_shift) above them. */
  private readonly entry_bits: number;
  private readonly entry_mask: number;
  private readonly tag_shift: number;
  /** 2^entry_bits: a tag's unit in a slot. */
  private readonly tag_unit: number;
  private readonly bucket_mask = IDEMPOTENCY_BUCKETS - 1;
  /** Every bucket number below this is empty. */
  private oldest_live_number = 0;
  count = 0;
  private free_page_count: number;
  private live_bucket_count = 0;

  // The ring: which time bucket each position holds (or EMPTY_BUCKET), its pages and id count.
  private bucket_number: Float64Array;
  private bucket_first_page: Int32Array;
  private bucket_last_page: Int32Array;
  private bucket_size: Int32Array;
  // Pages: the next page of the same bucket, ids used, the bucket that owns it, first sequence.
  private page_next: Int32Array;
  private page_fill: Int32Array;
  private page_bucket: Float64Array;
  private page_base_sequence: Float64Array;
  private free_pages: Int32Array;
  /** Per ring position, its bucket's index: slots of entry + 1, 0 when free. */
  private indexes: Uint32Array[] = [];
  // Entry columns: entry = page * page_entries + position in the page.
  partner: Uint32Array;
  id_lo: Uint32Array;
  /** Only for wide buckets (empty otherwise). */
  private id_hi_column: Uint32Array;
  digest: Uint32Array;
  status: Uint8Array;
  private sequence_offset: Int32Array;
  /** Only for wide buckets (they live up to a day: offsets could overflow); empty otherwise. */
  private sequence_column: Float64Array;
  balance_minor: Float64Array;
  available_minor: Float64Array;

  /** capacity: ids over the whole window (a power of two, at least one per bucket). */
  constructor(capacity: number, window_ms: number) {
    assert(capacity >= IDEMPOTENCY_BUCKETS && (capacity & (capacity - 1)) === 0,
      "window capacity: a power of two, at least one id per bucket");
    assert(capacity < 2 ** 31, "window capacity: entry numbers in an index slot");
    assert(window_ms > 0, "window_ms must be positive");
    this.capacity = capacity;
    this.window_ms = window_ms;
    const span_ms = (window_ms + ORDER_ID_FUTURE_SKEW_MS_MAX) / (IDEMPOTENCY_BUCKETS - BUCKET_MARGIN);
    const bucket_bits = Math.max(0, Math.ceil(Math.log2(span_ms)));
    this.bucket_ms = 2 ** bucket_bits;
    const shift = ORDER_ID_TIME_SHIFT_BITS + bucket_bits;
    assert(shift < 32 + 32, "bucket width within the id");
    this.wide = shift >= 32;
    this.hi_factor = this.wide ? 0 : 2 ** (32 - shift);
    this.lo_shift = this.wide ? 0 : shift;
    this.hi_shift = this.wide ? shift - 32 : 0;
    this.entry_bits = Math.log2(capacity) + 1; // entry + 1 <= capacity
    assert(this.entry_bits < 32, "index slots keep at least one bit of tag");
    this.entry_mask = 2 ** this.entry_bits - 1;
    this.tag_shift = this.entry_bits;
    this.tag_unit = 2 ** this.entry_bits;
    this.page_entries = window_page_entries(capacity);
    this.page_bits = Math.log2(this.page_entries);
    this.page_count = capacity / this.page_entries;
    this.free_page_count = this.page_count;

    this.bucket_number = new Float64Array(IDEMPOTENCY_BUCKETS).fill(EMPTY_BUCKET);
    this.bucket_first_page = new Int32Array(IDEMPOTENCY_BUCKETS).fill(NO_PAGE);
    this.bucket_last_page = new Int32Array(IDEMPOTENCY_BUCKETS).fill(NO_PAGE);
    this.bucket_size = new Int32Array(IDEMPOTENCY_BUCKETS);
    this.page_next = new Int32Array(this.page_count).fill(NO_PAGE);
    this.page_fill = new Int32Array(this.page_count);
    this.page_bucket = new Float64Array(this.page_count).fill(EMPTY_BUCKET);
    this.page_base_sequence = new Float64Array(this.page_count);
    // A stack of free pages, lowest number on top.
    this.free_pages = new Int32Array(this.page_count);
    for (let k = 0; k < this.page_count; k++) this.free_pages[k] = this.page_count - 1 - k;
    for (let b = 0; b < IDEMPOTENCY_BUCKETS; b++) this.indexes.push(new Uint32Array(INDEX_SLOTS_MIN));
    this.partner = new Uint32Array(capacity);
    this.id_lo = new Uint32Array(capacity);
    this.id_hi_column = new Uint32Array(this.wide ? capacity : 0);
    this.digest = new Uint32Array(capacity);
    this.status = new Uint8Array(capacity);
    this.sequence_offset = new Int32Array(this.wide ? 0 : capacity);
    this.sequence_column = new Float64Array(this.wide ? capacity : 0);
    this.balance_minor = new Float64Array(capacity);
    this.available_minor = new Float64Array(capacity);
  }

  private arrays(): Record<string, WindowArray> {
    return {
      bucket_number: this.bucket_number, bucket_first_page: this.bucket_first_page,
      bucket_last_page: this.bucket_last_page, bucket_size: this.bucket_size,
      page_next: this.page_next, page_fill: this.page_fill, page_bucket: this.page_bucket,
      page_base_sequence: this.page_base_sequence, free_pages: this.free_pages,
      partner: this.partner, id_lo: this.id_lo, id_hi_column: this.id_hi_column,
      digest: this.digest, status: this.status, sequence_offset: this.sequence_offset,
      sequence_column: this.sequence_column,
      balance_minor: this.balance_minor, available_minor: this.available_minor,
    };
  }

  /** Its contents, to move to another thread: this window must not be used again. */
  move_out(): IdempotencyWindowState {
    return { arrays: this.arrays(), indexes: this.indexes, oldest_live_number: this.oldest_live_number,
      count: this.count, free_page_count: this.free_page_count,
      live_bucket_count: this.live_bucket_count };
  }

  /** Takes the contents of a window of the same capacity and window_ms (move_out). */
  move_in(moved: IdempotencyWindowState): void {
    const mine = this.arrays();
    for (const [name, array] of Object.entries(mine)) {
      const other = moved.arrays[name];
      assert(other !== undefined && other.length === array.length &&
        other.constructor === array.constructor, "a moved window of the same shape");
    }
    const a = moved.arrays;
    this.bucket_number = a.bucket_number as Float64Array;
    this.bucket_first_page = a.bucket_first_page as Int32Array;
    this.bucket_last_page = a.bucket_last_page as Int32Array;
    this.bucket_size = a.bucket_size as Int32Array;
    this.page_next = a.page_next as Int32Array;
    this.page_fill = a.page_fill as Int32Array;
    this.page_bucket = a.page_bucket as Float64Array;
    this.page_base_sequence = a.page_base_sequence as Float64Array;
    this.free_pages = a.free_pages as Int32Array;
    assert(moved.indexes.length === IDEMPOTENCY_BUCKETS && moved.indexes.every((index) =>
      index.length >= INDEX_SLOTS_MIN && (index.length & (index.length - 1)) === 0),
    "a moved window's indexes: one per ring position, powers of two");
    this.indexes = moved.indexes;
    this.partner = a.partner as Uint32Array;
    this.id_lo = a.id_lo as Uint32Array;
    this.id_hi_column = a.id_hi_column as Uint32Array;
    this.digest = a.digest as Uint32Array;
    this.status = a.status as Uint8Array;
    this.sequence_offset = a.sequence_offset as Int32Array;
    this.sequence_column = a.sequence_column as Float64Array;
    this.balance_minor = a.balance_minor as Float64Array;
    this.available_minor = a.available_minor as Float64Array;
    this.oldest_live_number = moved.oldest_live_number;
    this.count = moved.count;
    this.free_page_count = moved.free_page_count;
    this.live_bucket_count = moved.live_bucket_count;
  }

  /** Bytes the window's ids use now: the pages taken (whole) and every bucket's index. */
  used_bytes(): number {
    const entry_bytes = ENTRY_BYTES + (this.wide ? 4 + 8 - 4 : 0);
    let bytes = (this.page_count - this.free_page_count) * this.page_entries * entry_bytes;
    for (const index of this.indexes) bytes += index.byteLength;
    return bytes;
  }

  /** The time bucket of an id: floor(creation time / bucket_ms), from its bits. */
  bucket_of(id_hi: number, id_lo: number): number {
    if (this.wide) return id_hi >>> this.hi_shift;
    return id_hi * this.hi_factor + (id_lo >>> this.lo_shift);
  }

  /** The entry's order id, high word. */
  id_hi(entry: number): number {
    if (this.wide) return this.id_hi_column[entry]!;
    return Math.floor(this.page_bucket[entry >>> this.page_bits]! / this.hi_factor);
  }

  /** The entry's sequence (the event that first answered the order). */
  sequence(entry: number): number {
    if (this.wide) return this.sequence_column[entry]!;
    return this.page_base_sequence[entry >>> this.page_bits]! + this.sequence_offset[entry]!;
  }

  /** The entry index for the partner's order id, or -1. */
  find(partner: number, id_hi: number, id_lo: number): number {
    return this.find_in(this.bucket_of(id_hi, id_lo), partner, id_hi, id_lo);
  }

  /** find() for a caller that already has the id's bucket number. */
  find_in(number: number, partner: number, id_hi: number, id_lo: number): number {
    const b = number & this.bucket_mask;
    if (this.bucket_number[b] !== number) return -1;
    const index = this.indexes[b]!;
    const mask = index.length - 1;
    const hash = hash_u96(partner, id_hi, id_lo);
    const tag = hash >>> this.tag_shift;
    let position = hash & mask;
    for (;;) {
      const stored = index[position]!;
      if (stored === 0) return -1;
      if (stored >>> this.entry_bits === tag) {
        // In the bucket's own index, the bucket and id_lo give id_hi back (narrow buckets).
        const entry = (stored & this.entry_mask) - 1;
        if (this.id_lo[entry] === id_lo && this.partner[entry] === partner &&
          (!this.wide || this.id_hi_column[entry] === id_hi)) return entry;
      }
      position = (position + 1) & mask;
    }
  }

  /** Ids the window can still take into this id's bucket. */
  room_for(id_hi: number, id_lo: number): number {
    return this.room_in(this.bucket_of(id_hi, id_lo));
  }

  room_in(number: number): number {
    const b = number & this.bucket_mask;
    const held = this.bucket_number[b];
    const free = this.free_page_count * this.page_entries;
    if (held === number) {
      return free + this.page_entries - this.page_fill[this.bucket_last_page[b]!]!;
    }
    // The position still holds an older bucket only if time ran past the ring: never in range.
    return held === EMPTY_BUCKET ? free : 0;
  }

  /**
   * Whether ids of these buckets (numbers[0..n), a chain's fresh ids) all fit at once: the pages
   * they need beyond their buckets' last pages, counted per bucket, are free.
   */
  fits(numbers: Float64Array, n: number): boolean {
    let pages_needed = 0;
    for (let i = 0; i < n; i++) {
      const number = numbers[i]!;
      let first = true;
      let more = 0;
      for (let j = 0; j < n; j++) {
        if (numbers[j] !== number) continue;
        if (j < i) first = false;
        more++;
      }
      if (!first) continue;
      const b = number & this.bucket_mask;
      const held = this.bucket_number[b];
      if (held !== number && held !== EMPTY_BUCKET) return false;
      const size = held === number ? this.bucket_size[b]! : 0;
      pages_needed += pages_for(size + more, this.page_entries) - pages_for(size, this.page_entries);
    }
    return pages_needed <= this.free_page_count;
  }

  /** Drops buckets whose every id is older than engine_time_ms - window_ms. */
  evict(engine_time_ms: number): void {
    const first_live = Math.floor((engine_time_ms - this.window_ms) / this.bucket_ms);
    // Per batch, not per order: the division is fine here.
    if (first_live <= this.oldest_live_number) return;
    if (first_live - this.oldest_live_number > IDEMPOTENCY_BUCKETS) {
      for (let b = 0; b < IDEMPOTENCY_BUCKETS; b++) {
        if (this.bucket_number[b] !== EMPTY_BUCKET && this.bucket_number[b]! < first_live) {
          this.drop_bucket(b);
        }
      }
    } else {
      for (let number = this.oldest_live_number; number < first_live; number++) {
        const b = number & this.bucket_mask;
        if (this.bucket_number[b] === number) this.drop_bucket(b);
      }
    }
    this.oldest_live_number = first_live;
  }

  /** Forgets a bucket: each id leaves the index, each page goes back to the pool. */
  private drop_bucket(b: number): void {
    let page = this.bucket_first_page[b]!;
    while (page !== NO_PAGE) {
      const first = page * this.page_entries;
      const end = first + this.page_fill[page]!;
      const next = this.page_next[page]!;
      this.page_next[page] = NO_PAGE;
      this.page_fill[page] = 0;
      this.page_bucket[page] = EMPTY_BUCKET;
      this.free_pages[this.free_page_count++] = page;
      page = next;
    }
    this.count -= this.bucket_size[b]!;
    this.bucket_size[b] = 0;
    this.live_bucket_count--;
    // The index is kept for the bucket that takes this ring position next (no regrowing) while it
    // is no larger than twice what an average live bucket needs; a burst's index goes: memory
    // follows the ids the window holds, not its past bursts.
    const index = this.indexes[b]!;
    const typical_ids = this.count / Math.max(1, this.live_bucket_count);
    if (index.length > INDEX_SLOTS_MIN && index.length * INDEX_LOAD_MAX > 2 * typical_ids) {
      this.indexes[b] = new Uint32Array(INDEX_SLOTS_MIN);
    } else {
      index.fill(0);
    }
    this.bucket_number[b] = EMPTY_BUCKET;
    this.bucket_first_page[b] = NO_PAGE;
    this.bucket_last_page[b] = NO_PAGE;
  }

  insert(id_hi: number, id_lo: number, digest: number, partner: number, status: number,
    sequence: number, balance_minor: number, available_minor: number): void {
    this.insert_in(this.bucket_of(id_hi, id_lo), id_hi, id_lo, digest, partner, status, sequence,
      balance_minor, available_minor);
  }

  /** Remembers an id that is not in the window yet; the caller checked there is room. */
  insert_in(number: number, id_hi: number, id_lo: number, digest: number, partner: number,
    status: number, sequence: number, balance_minor: number, available_minor: number): void {
    assert(number >= this.oldest_live_number, "inserting an id older than the window");
    const b = number & this.bucket_mask;
    if (this.bucket_number[b] !== number) {
      assert(this.bucket_number[b] === EMPTY_BUCKET, "bucket ring overrun");
      this.bucket_number[b] = number;
      this.live_bucket_count++;
      this.size_index_as_previous(b, number);
    }
    if (this.bucket_size[b]! + 1 > this.indexes[b]!.length * INDEX_LOAD_MAX) this.grow_index(b);
    let page = this.bucket_last_page[b]!;
    if (page === NO_PAGE || this.page_fill[page] === this.page_entries) {
      page = this.take_page(b, number, sequence);
    }
    const entry = page * this.page_entries + this.page_fill[page]!;
    this.page_fill[page]!++;
    this.bucket_size[b]!++;
    this.count++;
    this.partner[entry] = partner;
    this.id_lo[entry] = id_lo;
    this.digest[entry] = digest;
    this.status[entry] = status;
    if (this.wide) {
      this.id_hi_column[entry] = id_hi;
      this.sequence_column[entry] = sequence;
    } else {
      const offset = sequence - this.page_base_sequence[page]!;
      // A narrow bucket lives at most ~256 s: 2^31 events in that time is beyond any engine.
      assert(offset >= -SEQUENCE_OFFSET_MAX && offset <= SEQUENCE_OFFSET_MAX,
        "a sequence near its page's first");
      this.sequence_offset[entry] = offset;
    }
    this.balance_minor[entry] = balance_minor;
    this.available_minor[entry] = available_minor;
    this.index_into(this.indexes[b]!, hash_u96(partner, id_hi, id_lo), entry);
  }

  private take_page(b: number, number: number, sequence: number): number {
    assert(this.free_page_count > 0, "idempotency window full");
    const page = this.free_pages[--this.free_page_count]!;
    this.page_bucket[page] = number;
    this.page_base_sequence[page] = sequence;
    const last = this.bucket_last_page[b]!;
    if (last === NO_PAGE) this.bucket_first_page[b] = page;
    else this.page_next[last] = page;
    this.bucket_last_page[b] = page;
    return page;
  }

  private index_into(index: Uint32Array, hash: number, entry: number): void {
    const mask = index.length - 1;
    let position = hash & mask;
    while (index[position] !== 0) position = (position + 1) & mask;
    // The tag's top bit may be the slot's sign bit: the Uint32Array stores it unsigned.
    index[position] = (hash >>> this.tag_shift) * this.tag_unit + entry + 1;
  }

  /**
   * A bucket going live (empty) gets an index the size its predecessor's ids took, when that is
   * larger than what it has: at a steady rate it would double up to that size anyway, inserting
   * its ids again at every step. That was all of the window's growth until the window is full
   * (the first W after a start, or a rate rising); after it, a forgotten bucket's index is kept
   * for the next one (forget). Sized at the same load as doubling leaves it.
   */
  private size_index_as_previous(b: number, number: number): void {
    const previous = (number - 1) & this.bucket_mask;
    if (this.bucket_number[previous] !== number - 1) return;
    const ids = this.bucket_size[previous]!;
    let slots = this.indexes[b]!.length;
    if (ids <= slots * INDEX_LOAD_MAX) return;
    while (ids > slots * INDEX_LOAD_MAX) slots *= 2;
    this.indexes[b] = new Uint32Array(slots);
  }

  /** Doubles a bucket's index: its ids, page by page, into a table twice the size. */
  private grow_index(b: number): void {
    const index = new Uint32Array(this.indexes[b]!.length * 2);
    for (let page = this.bucket_first_page[b]!; page !== NO_PAGE; page = this.page_next[page]!) {
      const first = page * this.page_entries;
      for (let entry = first; entry < first + this.page_fill[page]!; entry++) {
        this.index_into(index,
          hash_u96(this.partner[entry]!, this.id_hi(entry), this.id_lo[entry]!), entry);
      }
    }
    this.indexes[b] = index;
  }

  /** Visits live entries, oldest bucket first and in insertion order within a bucket. */
  for_each(visit: (entry: number) => void): void {
    this.for_each_page((first, fill) => {
      for (let entry = first; entry < first + fill; entry++) visit(entry);
    });
  }

  /**
   * Copies every live entry into `out` (columns of `count` ids), in for_each's order: a page at a
   * time, the columns kept as they are by memcpy. A snapshot's copy of millions of ids is an
   * engine stall, so no per-entry call.
   */
  copy_live_into(out: WindowColumns): void {
    let i = 0;
    this.for_each_page((first, fill, page) => {
      const end = first + fill;
      out.id_lo.set(this.id_lo.subarray(first, end), i);
      out.digest.set(this.digest.subarray(first, end), i);
      out.partner.set(this.partner.subarray(first, end), i);
      out.status.set(this.status.subarray(first, end), i);
      out.balance_minor.set(this.balance_minor.subarray(first, end), i);
      out.available_minor.set(this.available_minor.subarray(first, end), i);
      if (this.wide) {
        out.id_hi.set(this.id_hi_column.subarray(first, end), i);
        out.sequence.set(this.sequence_column.subarray(first, end), i);
      } else {
        out.id_hi.fill(this.id_hi(first), i, i + fill);
        const base = this.page_base_sequence[page]!;
        for (let k = 0; k < fill; k++) out.sequence[i + k] = base + this.sequence_offset[first + k]!;
      }
      i += fill;
    });
    assert(i === this.count, "every live id copied");
  }

  /** Visits live pages (first entry, ids used, page), oldest bucket first, in chain order. */
  private for_each_page(visit: (first: number, fill: number, page: number) => void): void {
    const live: number[] = [];
    for (let b = 0; b < IDEMPOTENCY_BUCKETS; b++) {
      if (this.bucket_number[b] !== EMPTY_BUCKET) live.push(b);
    }
    live.sort((x, y) => this.bucket_number[x]! - this.bucket_number[y]!);
    for (const b of live) {
      for (let page = this.bucket_first_page[b]!; page !== NO_PAGE; page = this.page_next[page]!) {
        visit(page * this.page_entries, this.page_fill[page]!, page);
      }
    }
  }
}

/** The window's ids as columns (a snapshot's layout): see IdempotencyWindow.copy_live_into. */
export interface WindowColumns {
  id_hi: Uint32Array;
  id_lo: Uint32Array;
  digest: Uint32Array;
  partner: Uint32Array;
  status: Uint8Array;
  sequence: Float64Array;
  balance_minor: Float64Array;
  available_minor: Float64Array;
}
