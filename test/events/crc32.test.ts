// events/crc32.ts: the table-driven CRC-32 equals Bun.hash.crc32 for every length around its word
// loop, for random contents, and when fed in pieces.

import { describe, expect, test } from "bun:test";
import { crc32, crc32_table, crc32_update } from "../../events/crc32.ts";
import { prng } from "./fixtures.ts";

describe("crc32", () => {
  test("known value: CRC-32 of '123456789' is 0xCBF43926", () => {
    const bytes = new TextEncoder().encode("123456789");
    expect(crc32_table(bytes)).toBe(0xcbf43926);
    expect(crc32(bytes)).toBe(0xcbf43926);
  });

  test("the table matches Bun.hash.crc32 for lengths 0..300 and random contents", () => {
    const seed = 0xc0ffee;
    const random = prng(seed);
    for (let length = 0; length <= 300; length++) {
      const bytes = new Uint8Array(length);
      for (let i = 0; i < length; i++) bytes[i] = Math.floor(random() * 256);
      const expected = Bun.hash.crc32(bytes);
      if (crc32_table(bytes) !== expected) throw new Error(`seed ${seed}, length ${length}`);
      expect(crc32(bytes)).toBe(expected);
    }
  });

  test("unaligned views and 1 MiB agree with Bun.hash.crc32", () => {
    const bytes = new Uint8Array((1 << 20) + 7);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919 + 13) & 0xff;
    for (const start of [0, 1, 3, 7]) {
      const view = bytes.subarray(start);
      expect(crc32_table(view)).toBe(Bun.hash.crc32(view));
    }
  });

  test("crc32_update over pieces equals the CRC of their concatenation", () => {
    const random = prng(7);
    const bytes = new Uint8Array(1000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(random() * 256);
    for (let cut = 0; cut <= bytes.length; cut += 37) {
      const first = crc32_update(0, bytes, 0, cut);
      expect(crc32_update(first, bytes, cut, bytes.length)).toBe(Bun.hash.crc32(bytes));
    }
  });
});
