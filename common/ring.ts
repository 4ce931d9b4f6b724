// A single-producer single-consumer ring of fixed-size slots in a SharedArrayBuffer, shared by two
// threads. Cursors are u32 counters that wrap (differences are taken modulo 2^32); each sits on its
// own 128-byte line so producer and consumer never share a cache line. A claimed slot is always
// published. A consumer with nothing to do parks in Atomics.wait / waitAsync on the published
// cursor; the producer notifies only when the consumer says it is parked (no syscall otherwise).

import { assert } from "./assert.ts";

const LINE_INT32S = 32; // 128 bytes
const PUBLISHED = 0;
const CONSUMED = LINE_INT32S;
const CONSUMER_PARKED = LINE_INT32S * 2;
const PRODUCER_PARKED = LINE_INT32S * 3;
const CONTROL_BYTES = LINE_INT32S * 4 * 4;

export interface RingShape {
  slot_count: number;
  slot_bytes: number;
}

export class Ring {
  readonly buffer: SharedArrayBuffer;
  readonly slot_count: number;
  readonly slot_bytes: number;
  readonly view: DataView;
  readonly bytes: Uint8Array;
  private readonly control: Int32Array;
  private readonly mask: number;
  // Each side caches the other's cursor and re-reads it only when the cache says full / empty.
  private published_cache = 0;
  private consumed_cache = 0;

  static create(shape: RingShape): Ring {
    assert(shape.slot_count > 0 && (shape.slot_count & (shape.slot_count - 1)) === 0,
      "ring slot count: a power of two");
    assert(shape.slot_bytes > 0 && shape.slot_bytes % 8 === 0, "ring slots stay 8-aligned");
    return new Ring(new SharedArrayBuffer(CONTROL_BYTES + shape.slot_count * shape.slot_bytes), shape);
  }

  /** The other thread's handle on the same ring. */
  static attach(buffer: SharedArrayBuffer, shape: RingShape): Ring {
    return new Ring(buffer, shape);
  }

  private constructor(buffer: SharedArrayBuffer, shape: RingShape) {
    assert(buffer.byteLength === CONTROL_BYTES + shape.slot_count * shape.slot_bytes, "ring size");
    this.buffer = buffer;
    this.slot_count = shape.slot_count;
    this.slot_bytes = shape.slot_bytes;
    this.mask = shape.slot_count - 1;
    this.control = new Int32Array(buffer, 0, CONTROL_BYTES / 4);
    this.view = new DataView(buffer);
    this.bytes = new Uint8Array(buffer);
    this.published_cache = Atomics.load(this.control, PUBLISHED);
    this.consumed_cache = Atomics.load(this.control, CONSUMED);
  }

  /** Byte offset of the slot a cursor value names. The only cursor -> slot conversion. */
  slot_offset(cursor: number): number {
    return CONTROL_BYTES + (cursor & this.mask) * this.slot_bytes;
  }

  /** Slots published and not yet consumed, read fresh (for metrics, from either side). */
  depth(): number {
    return (Atomics.load(this.control, PUBLISHED) - Atomics.load(this.control, CONSUMED)) | 0;
  }

  // --- producer side ---------------------------------------------------------------------------

  /**
   * Slots the producer may still claim; the consumer's cursor is re-read when the cached one leaves
   * fewer than `wanted` (a stale cache must not refuse a request the ring has room for).
   */
  free_slots(wanted = 1): number {
    let used = (this.published_local() - this.consumed_cache) | 0;
    if (this.slot_count - used < wanted) {
      this.consumed_cache = Atomics.load(this.control, CONSUMED);
      used = (this.published_local() - this.consumed_cache) | 0;
    }
    return this.slot_count - used;
  }

  /** The cursor of the next slot to fill; the caller checked free_slots() > 0. */
  claim(): number {
    assert(this.free_slots() > 0, "ring full");
    return this.published_local();
  }

  /** The cursor of the first of `count` slots to fill together; the caller checked they are free. */
  claim_many(count: number): number {
    assert(count >= 1 && this.free_slots(count) >= count, "ring has room for the slots");
    return this.published_local();
  }

  /** Publishes the `count` slots claim_many gave from `first` on, without waking the consumer. */
  publish_many_quietly(first: number, count: number): void {
    assert(first === this.published_local() && count >= 1, "publish in order");
    Atomics.store(this.control, PUBLISHED, (first + count) | 0);
  }

  /** Publishes every slot claimed up to and including cursor. */
  publish(cursor: number): void {
    this.publish_quietly(cursor);
    this.wake_consumer_if_parked();
  }

  /**
   * Publishes without waking a parked consumer: the producer wakes it later, once for many slots
   * (wake_consumer_if_parked), or knows that something else will (the engine's results: the
   * journal's durable report).
   */
  publish_quietly(cursor: number): void {
    assert(cursor === this.published_local(), "publish in order");
    Atomics.store(this.control, PUBLISHED, (cursor + 1) | 0);
  }

  /** Wakes the consumer if it is parked (after publish_quietly). */
  wake_consumer_if_parked(): void {
    if (Atomics.load(this.control, CONSUMER_PARKED) !== 0) Atomics.notify(this.control, PUBLISHED);
  }

  /** Wakes a parked consumer without publishing (it has something else to look at). */
  wake_consumer(): void {
    Atomics.notify(this.control, PUBLISHED);
  }

  private published_local(): number {
    return Atomics.load(this.control, PUBLISHED);
  }

  /** Blocks the producer thread (a worker) until the consumer frees a slot or timeout_ms passes. */
  wait_for_room(timeout_ms: number): void {
    const consumed = Atomics.load(this.control, CONSUMED);
    Atomics.store(this.control, PRODUCER_PARKED, 1);
    if (((this.published_local() - consumed) | 0) === this.slot_count) {
      Atomics.wait(this.control, CONSUMED, consumed, timeout_ms);
    }
    Atomics.store(this.control, PRODUCER_PARKED, 0);
  }

  // --- consumer side ---------------------------------------------------------------------------

  /** Slots published and not yet consumed. */
  available(): number {
    let count = (this.published_cache - this.consumed_local()) | 0;
    if (count === 0) {
      this.published_cache = Atomics.load(this.control, PUBLISHED);
      count = (this.published_cache - this.consumed_local()) | 0;
    }
    return count;
  }

  /** The cursor of the oldest unconsumed slot. */
  consumer_cursor(): number {
    return this.consumed_local();
  }

  /** Hands `count` slots back to the producer. */
  release(count: number): void {
    assert(count > 0 && count <= this.available(), "release within what was published");
    Atomics.store(this.control, CONSUMED, (this.consumed_local() + count) | 0);
    if (Atomics.load(this.control, PRODUCER_PARKED) !== 0) Atomics.notify(this.control, CONSUMED);
  }

  private consumed_local(): number {
    return Atomics.load(this.control, CONSUMED);
  }

  /** Blocks the consumer thread (a worker) until something is published or timeout_ms passes. */
  wait_for_data(timeout_ms: number): void {
    const consumed = this.consumed_local();
    Atomics.store(this.control, CONSUMER_PARKED, 1);
    if (Atomics.load(this.control, PUBLISHED) === consumed) {
      Atomics.wait(this.control, PUBLISHED, consumed, timeout_ms);
    }
    Atomics.store(this.control, CONSUMER_PARKED, 0);
  }

  /** The same for a consumer on an event loop (the main thread): resolves when data may be there. */
  async wait_for_data_async(timeout_ms: number): Promise<void> {
    const consumed = this.consumed_local();
    Atomics.store(this.control, CONSUMER_PARKED, 1);
    if (Atomics.load(this.control, PUBLISHED) === consumed) {
      const waiting = Atomics.waitAsync(this.control, PUBLISHED, consumed, timeout_ms);
      if (waiting.async) await waiting.value;
    }
    Atomics.store(this.control, CONSUMER_PARKED, 0);
  }
}
