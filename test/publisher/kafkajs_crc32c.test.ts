// kafkajs's CRC-32C as patched (patches/kafkajs@2.2.4.patch: eight bytes per step): the checksum
// every record batch the publisher sends carries, which the broker checks. Compared here with a
// bit-by-bit CRC-32C written from the definition, on the standard check string and on buffers of
// every length from 0 to 1,100 bytes (the byte tail after the last whole step: 0 to 7 bytes), at
// offsets inside a larger buffer as kafkajs hands them over. The publisher's tests send real
// batches to a real broker with it.

import { createRequire } from "node:module";
import { expect, test } from "bun:test";
import { Prng } from "../../common/prng.ts";

const require_from_here = createRequire(import.meta.url);
const crc32c_path = require_from_here.resolve("kafkajs/src/protocol/recordBatch/crc32C/crc32C.js");
const kafkajs_crc32c = require_from_here(crc32c_path) as (buffer: Buffer) => number;

const CASTAGNOLI_REFLECTED = 0x82f63b78;
/** CRC-32C of the ASCII bytes "123456789" (the catalogue's check value for CRC-32/ISCSI). */
const CHECK_VALUE = 0xe3069283;
const LENGTH_MAX = 1_100;

/** One bit at a time, straight from the definition: slow, and obviously right. */
function crc32c_bitwise(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = (crc & 1) !== 0 ? (crc >>> 1) ^ CASTAGNOLI_REFLECTED : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

test("the patched kafkajs CRC-32C is the one installed", async () => {
  const source = await Bun.file(crc32c_path).text();
  expect(source).toContain("patches/kafkajs@2.2.4.patch");
});

test("the standard check value", () => {
  const bytes = Buffer.from("123456789", "ascii");
  expect(crc32c_bitwise(bytes)).toBe(CHECK_VALUE);
  expect(kafkajs_crc32c(bytes)).toBe(CHECK_VALUE);
});

test("every length up to 1,100 bytes, at offsets within a larger buffer", () => {
  const random = new Prng(20_261_203);
  const backing = Buffer.alloc(LENGTH_MAX + 16);
  for (let i = 0; i < backing.length; i++) backing[i] = random.next_u32() & 0xff;
  let mismatches = 0;
  for (let length = 0; length <= LENGTH_MAX; length++) {
    const offset = length % 11;
    const slice = backing.subarray(offset, offset + length);
    if (kafkajs_crc32c(slice) !== crc32c_bitwise(slice)) mismatches++;
  }
  expect(mismatches).toBe(0);
  // A single changed byte changes the checksum (the tables are not all zero, nor all alike).
  const bytes = Buffer.from(backing.subarray(0, 64));
  const before = kafkajs_crc32c(bytes);
  bytes[37] = bytes[37]! ^ 0x01;
  expect(kafkajs_crc32c(bytes)).not.toBe(before);
});
