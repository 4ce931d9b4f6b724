// The idempotency window of one group: every order id applied in the last W ms of engine time, with
// its original result, so a retry is answered with that result (replayed) and never applied twice.
// Entries are keyed by (partner, order id): order ids are each partner's own.
// An id older than engine time - W is refused as expired, so forgetting it is safe.
//
// Ids are kept in buckets by the creation time they carry (bucket_ms wide, a power of two so the
// bucket number is read off the id's bits; a ring of IDEMPOTENCY_BUCKETS): an id is looked up and
// inserted only in its own bucket's small hash index,
// and a whole bucket is dropped at once when its newest possible id leaves the window. Fresh ids all
// land in the current bucket, whose index stays cache-resident; nothing is ever removed one by one.
// When an id's bucket is full, new orders for it are refused (busy): the window's promise is never
// broken to make room.

import { assert } from "../common/assert.ts";
import { ORDER_ID_FUTURE_SKEW_MS_MAX, ORDER_ID_TIME_SHIFT_BITS } from "../common/constants.ts";
import { IdIndex, type IdIndexState } from "./id_index.ts";

const HI_TIME_FACTOR = 2 ** (32 - ORDER_ID_TIME_SHIFT_BITS);
/** Buckets in the ring; the window and the future skew span all but the margin. */
export const IDEMPOTENCY_BUCKETS = 256;
const BUCKET_MARGIN = 4;
const EMPTY_BUCKET = -1;

/** The creation time in ms carried in the high bits of an order id. */
export function order_id_time_ms(id_hi: number, id_lo: number): number {
  return id_hi * HI_TIME_FACTOR + (id_lo >>> ORDER_ID_TIME_SHIFT_BITS);
}

/** A window's contents as move_out hands them over. */
export interface IdempotencyWindowState {
  indexes: IdIndexState[];
  bucket_number: Float64Array;
  bucket_size: Int32Array;
  oldest_live_number: number;
  count: number;
  columns: {
    id_hi: Uint32Array; id_lo: Uint32Array; digest: Uint32Array; partner: Uint32Array;
    status: Uint8Array; sequence: Float64Array; balance_minor: Float64Array;
    available_minor: Float64Array;
  };
}

// The typed arrays are replaced only by move_in.
export class IdempotencyWindow {
  readonly capacity: number;
  readonly window_ms: number;
  readonly bucket_ms: number;
  readonly bucket_capacity: number;
  // bucket number = floor(id / 2^(22 + log2 bucket_ms)) = id_hi * hi_factor + (id_lo >>> lo_shift)
  // while the shift stays within the low word; past it, id_hi >>> hi_shift.
  private readonly hi_factor: number;
  private readonly lo_shift: number;
  private readonly hi_shift: number;
  private readonly bucket_mask = IDEMPOTENCY_BUCKETS - 1;
  private readonly indexes: IdIndex[] = [];
  /** Which time bucket (time_ms / bucket_ms) each ring position holds, or EMPTY_BUCKET. */
  private bucket_number: Float64Array = new Float64Array(IDEMPOTENCY_BUCKETS).fill(EMPTY_BUCKET);
  private bucket_size: Int32Array = new Int32Array(IDEMPOTENCY_BUCKETS);
  /** Every bucket number below this is empty. */
  private oldest_live_number = 0;
  count = 0;
  // Entry columns: bucket b owns [b * bucket_capacity, (b + 1) * bucket_capacity).
  id_hi: Uint32Array;
  id_lo: Uint32Array;
  digest: Uint32Array;
  /** The partner that sent the order: part of the key (order ids are each partner's own). */
  partner: Uint32Array;
  status: Uint8Array;
  sequence: Float64Array;
  balance_minor: Float64Array;
  available_minor: Float64Array;

  /** capacity: ids over the whole ring (a power of two, at least one per bucket). */
  constructor(capacity: number, window_ms: number) {
    assert(capacity >= IDEMPOTENCY_BUCKETS && (capacity & (capacity - 1)) === 0,
      "window capacity: a power of two, at least one id per bucket");
    assert(window_ms > 0, "window_ms must be positive");
    this.capacity = capacity;
    this.window_ms = window_ms;
    const span_ms = (window_ms + ORDER_ID_FUTURE_SKEW_MS_MAX) / (IDEMPOTENCY_BUCKETS - BUCKET_MARGIN);
    const bucket_bits = Math.max(0, Math.ceil(Math.log2(span_ms)));
    this.bucket_ms = 2 ** bucket_bits;
    const shift = ORDER_ID_TIME_SHIFT_BITS + bucket_bits;
    this.hi_factor = shift <= 32 ? 2 ** (32 - shift) : 0;
    this.lo_shift = shift <= 32 ? shift : 0;
    this.hi_shift = shift <= 32 ? 0 : shift - 32;
    assert(shift < 32 + 32, "bucket width within the id");
    this.bucket_capacity = capacity / IDEMPOTENCY_BUCKETS;
    for (let b = 0; b < IDEMPOTENCY_BUCKETS; b++) this.indexes.push(new IdIndex(this.bucket_capacity));
    this.id_hi = new Uint32Array(capacity);
    this.id_lo = new Uint32Array(capacity);
    this.digest = new Uint32Array(capacity);
    this.partner = new Uint32Array(capacity);
    this.status = new Uint8Array(capacity);
    this.sequence = new Float64Array(capacity);
    this.balance_minor = new Float64Array(capacity);
    this.available_minor = new Float64Array(capacity);
  }

  /** Its contents, to move to another thread: this window must not be used again. */
  move_out(): IdempotencyWindowState {
    return {
      indexes: this.indexes.map((index) => index.move_out()),
      bucket_number: this.bucket_number, bucket_size: this.bucket_size,
      oldest_live_number: this.oldest_live_number, count: this.count,
      columns: {
        id_hi: this.id_hi, id_lo: this.id_lo, digest: this.digest, partner: this.partner,
        status: this.status, sequence: this.sequence, balance_minor: this.balance_minor,
        available_minor: this.available_minor,
      },
    };
  }

  /** Takes the contents of a window of the same capacity and window_ms (move_out). */
  move_in(moved: IdempotencyWindowState): void {
    const c = moved.columns;
    for (const column of Object.values(c)) {
      assert(column.length === this.capacity, "moved window columns of the same capacity");
    }
    assert(moved.indexes.length === IDEMPOTENCY_BUCKETS &&
      moved.bucket_number.length === IDEMPOTENCY_BUCKETS &&
      moved.bucket_size.length === IDEMPOTENCY_BUCKETS, "a moved window of as many buckets");
    moved.indexes.forEach((index, b) => this.indexes[b]!.move_in(index));
    this.bucket_number = moved.bucket_number;
    this.bucket_size = moved.bucket_size;
    this.oldest_live_number = moved.oldest_live_number;
    this.count = moved.count;
    this.id_hi = c.id_hi;
    this.id_lo = c.id_lo;
    this.digest = c.digest;
    this.partner = c.partner;
    this.status = c.status;
    this.sequence = c.sequence;
    this.balance_minor = c.balance_minor;
    this.available_minor = c.available_minor;
  }

  /** The time bucket of an id: floor(creation time / bucket_ms), from its bits. */
  bucket_of(id_hi: number, id_lo: number): number {
    if (this.hi_factor === 0) return id_hi >>> this.hi_shift;
    return id_hi * this.hi_factor + (id_lo >>> this.lo_shift);
  }

  /** The entry index for the partner's order id, or -1. */
  find(partner: number, id_hi: number, id_lo: number): number {
    return this.find_in(this.bucket_of(id_hi, id_lo), partner, id_hi, id_lo);
  }

  /** find() for a caller that already has the id's bucket number. */
  find_in(number: number, partner: number, id_hi: number, id_lo: number): number {
    const b = number & this.bucket_mask;
    if (this.bucket_number[b] !== number) return -1;
    const index = this.indexes[b]!.find(partner, id_hi, id_lo);
    return index === -1 ? -1 : b * this.bucket_capacity + index;
  }

  /** Free entries in the bucket this id belongs to. */
  room_for(id_hi: number, id_lo: number): number {
    return this.room_in(this.bucket_of(id_hi, id_lo));
  }

  room_in(number: number): number {
    const b = number & this.bucket_mask;
    const held = this.bucket_number[b];
    if (held === number) return this.bucket_capacity - this.bucket_size[b]!;
    // The position still holds an older bucket only if time ran past the ring: never in range.
    return held === EMPTY_BUCKET ? this.bucket_capacity : 0;
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

  private drop_bucket(b: number): void {
    this.count -= this.bucket_size[b]!;
    this.bucket_size[b] = 0;
    this.bucket_number[b] = EMPTY_BUCKET;
    this.indexes[b]!.clear();
  }

  insert(id_hi: number, id_lo: number, digest: number, partner: number, status: number,
    sequence: number, balance_minor: number, available_minor: number): void {
    this.insert_in(this.bucket_of(id_hi, id_lo), id_hi, id_lo, digest, partner, status, sequence,
      balance_minor, available_minor);
  }

  insert_in(number: number, id_hi: number, id_lo: number, digest: number, partner: number,
    status: number, sequence: number, balance_minor: number, available_minor: number): void {
    assert(number >= this.oldest_live_number, "inserting an id older than the window");
    const b = number & this.bucket_mask;
    if (this.bucket_number[b] !== number) {
      assert(this.bucket_number[b] === EMPTY_BUCKET, "bucket ring overrun");
      this.bucket_number[b] = number;
    }
    const index = this.bucket_size[b]!;
    assert(index < this.bucket_capacity, "idempotency bucket full");
    this.indexes[b]!.insert(partner, id_hi, id_lo, index);
    this.bucket_size[b] = index + 1;
    this.count++;
    const at = b * this.bucket_capacity + index;
    this.id_hi[at] = id_hi;
    this.id_lo[at] = id_lo;
    this.digest[at] = digest;
    this.partner[at] = partner;
    this.status[at] = status;
    this.sequence[at] = sequence;
    this.balance_minor[at] = balance_minor;
    this.available_minor[at] = available_minor;
  }

  /** [first entry index, count] of each live bucket, oldest bucket first. */
  live_ranges(): [number, number][] {
    const live: number[] = [];
    for (let b = 0; b < IDEMPOTENCY_BUCKETS; b++) {
      if (this.bucket_number[b] !== EMPTY_BUCKET) live.push(b);
    }
    live.sort((x, y) => this.bucket_number[x]! - this.bucket_number[y]!);
    return live.map((b) => [b * this.bucket_capacity, this.bucket_size[b]!]);
  }

  /** Visits live entries, oldest bucket first and in insertion order within a bucket. */
  for_each(visit: (at: number) => void): void {
    for (const [start, count] of this.live_ranges()) {
      for (let at = start; at < start + count; at++) visit(at);
    }
  }
}
