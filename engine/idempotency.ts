// The idempotency window of one group: every order id applied in the last W ms of engine time, with
// its original result, so a retry is answered with that result (replayed) and never applied twice.
// Entries sit in a FIFO ring in arrival order and leave once their id's creation time is older
// than engine time - W; an order id that old is refused as expired, so forgetting it is safe.
// When the ring is full of entries still inside the window, new orders are refused (busy):
// the window's promise is never broken to make room.

import { assert } from "../common/assert.ts";
import { ORDER_ID_TIME_SHIFT_BITS } from "../common/constants.ts";
import { IdIndex } from "./id_index.ts";

const HI_TIME_FACTOR = 2 ** (32 - ORDER_ID_TIME_SHIFT_BITS);

/** The creation time in ms carried in the high bits of an order id. */
export function order_id_time_ms(id_hi: number, id_lo: number): number {
  return id_hi * HI_TIME_FACTOR + (id_lo >>> ORDER_ID_TIME_SHIFT_BITS);
}

export class IdempotencyWindow {
  readonly capacity: number;
  readonly window_ms: number;
  private readonly mask: number;
  private readonly index: IdIndex;
  readonly id_hi: Uint32Array;
  readonly id_lo: Uint32Array;
  readonly digest: Uint32Array;
  /** The partner that sent the order: an order's result is shown to its own partner only. */
  readonly partner: Uint32Array;
  readonly status: Uint8Array;
  readonly sequence: Float64Array;
  readonly balance_minor: Float64Array;
  readonly available_minor: Float64Array;
  /** Ring positions are counters; position & mask is the array index. */
  head = 0;
  tail = 0;

  constructor(capacity: number, window_ms: number) {
    assert(capacity > 0 && (capacity & (capacity - 1)) === 0, "window capacity: a power of two");
    assert(window_ms > 0, "window_ms must be positive");
    this.capacity = capacity;
    this.window_ms = window_ms;
    this.mask = capacity - 1;
    this.index = new IdIndex(capacity);
    this.id_hi = new Uint32Array(capacity);
    this.id_lo = new Uint32Array(capacity);
    this.digest = new Uint32Array(capacity);
    this.partner = new Uint32Array(capacity);
    this.status = new Uint8Array(capacity);
    this.sequence = new Float64Array(capacity);
    this.balance_minor = new Float64Array(capacity);
    this.available_minor = new Float64Array(capacity);
  }

  get count(): number {
    return this.tail - this.head;
  }

  /** The array index of the entry for this id, or -1. */
  find(id_hi: number, id_lo: number): number {
    return this.index.find(id_hi, id_lo);
  }

  /** Drops entries whose id time is older than engine_time_ms - window_ms. */
  evict(engine_time_ms: number): void {
    const cutoff_ms = engine_time_ms - this.window_ms;
    while (this.tail > this.head) {
      const at = this.head & this.mask;
      if (order_id_time_ms(this.id_hi[at]!, this.id_lo[at]!) >= cutoff_ms) return;
      this.index.remove(this.id_hi[at]!, this.id_lo[at]!);
      this.head++;
    }
  }

  has_room(): boolean {
    return this.tail - this.head < this.capacity;
  }

  insert(id_hi: number, id_lo: number, digest: number, partner: number, status: number,
    sequence: number, balance_minor: number, available_minor: number): void {
    assert(this.has_room(), "idempotency window full");
    const at = this.tail & this.mask;
    this.index.insert(id_hi, id_lo, at);
    this.id_hi[at] = id_hi;
    this.id_lo[at] = id_lo;
    this.digest[at] = digest;
    this.partner[at] = partner;
    this.status[at] = status;
    this.sequence[at] = sequence;
    this.balance_minor[at] = balance_minor;
    this.available_minor[at] = available_minor;
    this.tail++;
  }

  /** Visits live entries oldest first (array indices), for snapshots. */
  for_each(visit: (at: number) => void): void {
    for (let position = this.head; position < this.tail; position++) visit(position & this.mask);
  }
}
