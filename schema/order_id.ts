// Time-ordered order ids: id = creation time in ms (42 bits) * 2^22 + instance (10 bits, random per
// generator) * 2^12 + counter (12 bits, per ms). The engine reads the time back to bound its
// idempotency window. Ids must be unique per partner within the window: a first attempt answered
// `replayed` means another client used the same id, and the caller must send again with a new one.

import { ORDER_ID_TIME_SHIFT_BITS } from "../common/constants.ts";

const INSTANCE_BITS = 10;
const COUNTER_BITS = ORDER_ID_TIME_SHIFT_BITS - INSTANCE_BITS;
const COUNTER_MAX = (1 << COUNTER_BITS) - 1;

export class OrderIdGenerator {
  private readonly instance: number;
  private time_ms = 0;
  private counter = 0;

  constructor(instance = Math.floor(Math.random() * (1 << INSTANCE_BITS))) {
    this.instance = instance & ((1 << INSTANCE_BITS) - 1);
  }

  /** The next id; within one ms ids count up, past 4096 they borrow the next ms. */
  next(now_ms: number = Date.now()): bigint {
    if (now_ms > this.time_ms) {
      this.time_ms = now_ms;
      this.counter = 0;
    } else if (this.counter === COUNTER_MAX) {
      this.time_ms++;
      this.counter = 0;
    } else {
      this.counter++;
    }
    const low = (this.instance << COUNTER_BITS) | this.counter;
    return (BigInt(this.time_ms) << BigInt(ORDER_ID_TIME_SHIFT_BITS)) | BigInt(low);
  }
}

export function order_id_time_ms(id: bigint): number {
  return Number(id >> BigInt(ORDER_ID_TIME_SHIFT_BITS));
}
