// loadgen's allocation-free ids have the SDK's layout: time in ms above bit 22, the instance in
// bits 12..21, a counter below; within one ms they count up, past 4,096 they borrow the next ms.

import { describe, expect, test } from "bun:test";
import { ORDER_ID_TIME_SHIFT_BITS } from "../../common/constants.ts";
import { OrderIdWriter, read_id } from "../../loadgen/order_ids.ts";
import { order_id_time_ms } from "../../schema/order_id.ts";

describe("loadgen order ids", () => {
  test("time, instance and counter in the SDK's layout", () => {
    const view = new DataView(new ArrayBuffer(16));
    const writer = new OrderIdWriter(0x2a5);
    const now_ms = 1_795_600_000_123;
    writer.write(view, 0, now_ms);
    writer.write(view, 8, now_ms);
    const first = read_id(view, 0);
    const second = read_id(view, 8);
    expect(order_id_time_ms(first)).toBe(now_ms);
    expect(first).toBe((BigInt(now_ms) << BigInt(ORDER_ID_TIME_SHIFT_BITS)) | (0x2a5n << 12n));
    expect(second).toBe(first + 1n);
  });

  test("ids only grow, and 4,097 ids in one ms borrow the next ms", () => {
    const view = new DataView(new ArrayBuffer(8));
    const writer = new OrderIdWriter(3);
    const now_ms = 1_795_600_000_000;
    let last = 0n;
    for (let i = 0; i < 4_097; i++) {
      writer.write(view, 0, now_ms);
      const id = read_id(view, 0);
      expect(id > last).toBe(true);
      last = id;
    }
    expect(order_id_time_ms(last)).toBe(now_ms + 1);
    expect(writer.ahead_ms_max).toBe(1);
    writer.write(view, 0, now_ms + 5);
    expect(order_id_time_ms(read_id(view, 0))).toBe(now_ms + 5);
  });
});
