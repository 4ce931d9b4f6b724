// Fresh, time-ordered order ids written straight into Order structs, with no BigInt per id: the
// same layout as schema/order_id.ts (id = time_ms * 2^22 + instance * 2^12 + counter; within one ms
// ids count up, past 4,096 they borrow the next ms), as two u32 halves. One generator makes at
// most 4.096 M ids/s before it runs ahead of the clock; the service refuses ids more than
// ORDER_ID_FUTURE_SKEW_MS_MAX ahead, so `ahead_ms` is reported.

import { assert } from "../common/assert.ts";
import { ORDER_ID_TIME_SHIFT_BITS } from "../common/constants.ts";

const INSTANCE_BITS = 10;
const COUNTER_BITS = ORDER_ID_TIME_SHIFT_BITS - INSTANCE_BITS;
const COUNTER_MAX = (1 << COUNTER_BITS) - 1;
// time_ms * 2^22 split at bit 32: the high u32 is time_ms / 2^10, the low one carries the 10 low
// bits of time_ms above the 22 id bits.
const TIME_LOW_BITS = 32 - ORDER_ID_TIME_SHIFT_BITS;
const TIME_LOW_RANGE = 1 << TIME_LOW_BITS;
const U32_RANGE = 2 ** 32;

export class OrderIdWriter {
  private readonly instance_bits: number;
  private time_ms = 0;
  private counter = 0;
  /** The most the ids ran ahead of the clock, in ms (0 while under 4,096 ids per ms). */
  ahead_ms_max = 0;

  constructor(instance: number) {
    assert(Number.isInteger(instance) && instance >= 0, "instance is a non-negative integer");
    this.instance_bits = (instance & ((1 << INSTANCE_BITS) - 1)) << COUNTER_BITS;
  }

  /** Writes the next id as a little-endian u64 at `offset`. */
  write(view: DataView, offset: number, now_ms: number): void {
    const low = this.next_low(now_ms);
    view.setUint32(offset, low, true);
    view.setUint32(offset + 4, this.high, true);
  }

  /** Writes the next id into words[index] (low half) and words[index + 1] (high half). */
  write_words(words: Uint32Array, index: number, now_ms: number): void {
    words[index] = this.next_low(now_ms);
    words[index + 1] = this.high;
  }

  private high = 0;

  /** Advances to the next id; returns its low u32 and leaves its high u32 in `high`. */
  private next_low(now_ms: number): number {
    if (now_ms > this.time_ms) {
      this.time_ms = now_ms;
      this.counter = 0;
    } else if (this.counter === COUNTER_MAX) {
      this.time_ms++;
      this.counter = 0;
      const ahead_ms = this.time_ms - now_ms;
      if (ahead_ms > this.ahead_ms_max) this.ahead_ms_max = ahead_ms;
    } else {
      this.counter++;
    }
    const high = Math.floor(this.time_ms / TIME_LOW_RANGE);
    const time_low = this.time_ms - high * TIME_LOW_RANGE;
    this.high = high;
    return time_low * (1 << ORDER_ID_TIME_SHIFT_BITS) + (this.instance_bits | this.counter);
  }
}

/** The id at `offset` as a BigInt (reports and tests, not the hot path). */
export function read_id(view: DataView, offset: number): bigint {
  return (BigInt(view.getUint32(offset + 4, true)) << 32n) | BigInt(view.getUint32(offset, true));
}

assert(TIME_LOW_RANGE * (1 << ORDER_ID_TIME_SHIFT_BITS) === U32_RANGE, "the id splits at bit 32");
