// The hand-written offsets of schema/layout.ts against the flatc-generated accessors, both ways,
// and the BigInt-free u64/i64 helpers at the edges of the safe-integer range.

import { describe, expect, test } from "bun:test";
import * as flatbuffers from "flatbuffers";
import { ORDER_SIZE_BYTES, RESULT_SIZE_BYTES } from "../../common/constants.ts";
import { Prng } from "../../common/prng.ts";
import { Order } from "../../schema/generated/balance/wire/order.ts";
import { Result } from "../../schema/generated/balance/wire/result.ts";
import {
  ORDER_ACCOUNT_OFFSET,
  ORDER_AMOUNT_OFFSET,
  ORDER_CURRENCY_OFFSET,
  ORDER_FLAGS_OFFSET,
  ORDER_ID_OFFSET,
  ORDER_OP_OFFSET,
  ORDER_PARTNER_OFFSET,
  ORDER_REF_OFFSET,
  RESULT_AVAILABLE_OFFSET,
  RESULT_BALANCE_OFFSET,
  RESULT_FLAGS_OFFSET,
  RESULT_ORDER_ID_OFFSET,
  RESULT_RESERVED16_OFFSET,
  RESULT_RESERVED32_OFFSET,
  RESULT_SEQUENCE_OFFSET,
  RESULT_STATUS_OFFSET,
  read_i64_safe,
  read_u64_high_u32,
  read_u64_low_u32,
  read_u64_safe,
  write_i64,
  write_u64,
} from "../../schema/layout.ts";

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

// The Builder writes back to front: a struct built alone is the last offset() bytes of its buffer.
function built_struct(build: (builder: flatbuffers.Builder) => void): DataView {
  const builder = new flatbuffers.Builder(64);
  build(builder);
  expect(builder.offset()).toBe(40);
  const all_bytes = builder.dataBuffer().bytes();
  const start = all_bytes.length - builder.offset();
  return new DataView(all_bytes.buffer, all_bytes.byteOffset + start, builder.offset());
}

describe("struct sizes", () => {
  test("generated sizeOf equals the constants", () => {
    expect(Order.sizeOf()).toBe(ORDER_SIZE_BYTES);
    expect(Result.sizeOf()).toBe(RESULT_SIZE_BYTES);
  });
});

describe("Order offsets", () => {
  test("createOrder bytes read back with the DataView helpers", () => {
    const view = built_struct((builder) => {
      const amount = 9_007_199_254_740_991n;
      Order.createOrder(builder, 0x0102030405060708n, 42n, amount, 7n, 0xdeadbeef, 978, 4, 1);
    });
    expect(read_u64_high_u32(view, ORDER_ID_OFFSET)).toBe(0x01020304);
    expect(read_u64_low_u32(view, ORDER_ID_OFFSET)).toBe(0x05060708);
    expect(read_u64_safe(view, ORDER_ACCOUNT_OFFSET)).toBe(42);
    expect(read_u64_safe(view, ORDER_AMOUNT_OFFSET)).toBe(MAX_SAFE);
    expect(read_u64_safe(view, ORDER_REF_OFFSET)).toBe(7);
    expect(view.getUint32(ORDER_PARTNER_OFFSET, true)).toBe(0xdeadbeef);
    expect(view.getUint16(ORDER_CURRENCY_OFFSET, true)).toBe(978);
    expect(view.getUint8(ORDER_OP_OFFSET)).toBe(4);
    expect(view.getUint8(ORDER_FLAGS_OFFSET)).toBe(1);
  });

  test("DataView-written bytes read back with the generated accessors", () => {
    const bytes = new Uint8Array(ORDER_SIZE_BYTES);
    const view = new DataView(bytes.buffer);
    view.setUint32(ORDER_ID_OFFSET, 0x55667788, true);
    view.setUint32(ORDER_ID_OFFSET + 4, 0x11223344, true);
    write_u64(view, ORDER_ACCOUNT_OFFSET, 123_456_789_012);
    write_u64(view, ORDER_AMOUNT_OFFSET, MAX_SAFE);
    write_u64(view, ORDER_REF_OFFSET, 0);
    view.setUint32(ORDER_PARTNER_OFFSET, 77, true);
    view.setUint16(ORDER_CURRENCY_OFFSET, 840, true);
    view.setUint8(ORDER_OP_OFFSET, 7);
    view.setUint8(ORDER_FLAGS_OFFSET, 1);
    const order = new Order().__init(0, new flatbuffers.ByteBuffer(bytes));
    expect(order.id()).toBe(0x1122334455667788n);
    expect(order.account()).toBe(123_456_789_012n);
    expect(order.amount()).toBe(BigInt(MAX_SAFE));
    expect(order.ref()).toBe(0n);
    expect(order.partner()).toBe(77);
    expect(order.currency()).toBe(840);
    expect(order.op()).toBe(7);
    expect(order.flags()).toBe(1);
  });
});

describe("Result offsets", () => {
  test("createResult bytes read back with the DataView helpers", () => {
    const view = built_struct((builder) => {
      const available = -(2n ** 53n - 1n);
      Result.createResult(builder, 99n, 1_000_000n, -5n, available, 2, 1, 0xbeef, 0xcafe_babe);
    });
    expect(read_u64_safe(view, RESULT_ORDER_ID_OFFSET)).toBe(99);
    expect(read_u64_safe(view, RESULT_SEQUENCE_OFFSET)).toBe(1_000_000);
    expect(read_i64_safe(view, RESULT_BALANCE_OFFSET)).toBe(-5);
    expect(read_i64_safe(view, RESULT_AVAILABLE_OFFSET)).toBe(-MAX_SAFE);
    expect(view.getUint8(RESULT_STATUS_OFFSET)).toBe(2);
    expect(view.getUint8(RESULT_FLAGS_OFFSET)).toBe(1);
    expect(view.getUint16(RESULT_RESERVED16_OFFSET, true)).toBe(0xbeef);
    expect(view.getUint32(RESULT_RESERVED32_OFFSET, true)).toBe(0xcafe_babe);
  });

  test("DataView-written bytes read back with the generated accessors", () => {
    const bytes = new Uint8Array(RESULT_SIZE_BYTES);
    const view = new DataView(bytes.buffer);
    write_u64(view, RESULT_ORDER_ID_OFFSET, 31);
    write_u64(view, RESULT_SEQUENCE_OFFSET, 2 ** 40 + 3);
    write_i64(view, RESULT_BALANCE_OFFSET, -1);
    write_i64(view, RESULT_AVAILABLE_OFFSET, MAX_SAFE);
    view.setUint8(RESULT_STATUS_OFFSET, 19);
    view.setUint8(RESULT_FLAGS_OFFSET, 1);
    const result = new Result().__init(0, new flatbuffers.ByteBuffer(bytes));
    expect(result.orderId()).toBe(31n);
    expect(result.sequence()).toBe(2n ** 40n + 3n);
    expect(result.balance()).toBe(-1n);
    expect(result.available()).toBe(BigInt(MAX_SAFE));
    expect(result.status()).toBe(19);
    expect(result.flags()).toBe(1);
    expect(result.reserved16()).toBe(0);
    expect(result.reserved32()).toBe(0);
  });
});

describe("u64 / i64 helpers", () => {
  const view = new DataView(new ArrayBuffer(8));

  test("read_u64_safe returns -1 above 2^53 - 1", () => {
    view.setBigUint64(0, 2n ** 53n - 1n, true);
    expect(read_u64_safe(view, 0)).toBe(MAX_SAFE);
    view.setBigUint64(0, 2n ** 53n, true);
    expect(read_u64_safe(view, 0)).toBe(-1);
    view.setBigUint64(0, 2n ** 64n - 1n, true);
    expect(read_u64_safe(view, 0)).toBe(-1);
  });

  test("read_i64_safe returns NaN outside +-(2^53 - 1)", () => {
    const max_safe = 2n ** 53n - 1n;
    for (const inside of [0n, 1n, -1n, 2n ** 32n, -(2n ** 32n), max_safe, -max_safe]) {
      view.setBigInt64(0, inside, true);
      expect(read_i64_safe(view, 0)).toBe(Number(inside));
    }
    for (const outside of [2n ** 53n, -(2n ** 53n), 2n ** 63n - 1n, -(2n ** 63n)]) {
      view.setBigInt64(0, outside, true);
      expect(read_i64_safe(view, 0)).toBeNaN();
    }
  });

  test("write_u64 / write_i64 agree with BigInt on random safe integers", () => {
    const seed = 0x5eed_0001;
    const prng = new Prng(seed);
    for (let i = 0; i < 10_000; i++) {
      const magnitude = Math.floor(prng.next_float() * 2 ** prng.int_below(54));
      const value = Math.min(magnitude, MAX_SAFE);
      write_u64(view, 0, value);
      if (view.getBigUint64(0, true) !== BigInt(value)) {
        throw new Error(`u64 ${value}, seed ${seed}`);
      }
      const signed = prng.int_below(2) === 0 ? value : -value;
      write_i64(view, 0, signed);
      if (view.getBigInt64(0, true) !== BigInt(signed)) {
        throw new Error(`i64 ${signed}, seed ${seed}`);
      }
      if (read_i64_safe(view, 0) !== signed) throw new Error(`read i64 ${signed} seed ${seed}`);
    }
  });

  test("writers refuse values that are not safe integers", () => {
    expect(() => write_u64(view, 0, -1)).toThrow();
    expect(() => write_u64(view, 0, 2 ** 53)).toThrow();
    expect(() => write_u64(view, 0, 1.5)).toThrow();
    expect(() => write_i64(view, 0, -(2 ** 53))).toThrow();
  });
});
