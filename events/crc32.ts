// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, the zlib / Bun.hash.crc32 / Kafka-v0 one),
// table-driven, with no runtime dependency: a consumer on Node reads event records with the same
// code. On Bun, `crc32` uses the native Bun.hash.crc32 (same values, much faster);
// test/events/crc32.test.ts checks the table against it.

const POLYNOMIAL = 0xedb88320;

// Slicing-by-4: four 256-entry tables, 4 KiB, built once at import.
const TABLE = build_tables();

function build_tables(): Uint32Array {
  const table = new Uint32Array(4 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? POLYNOMIAL ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    let c = table[n]!;
    for (let t = 1; t < 4; t++) {
      c = table[c & 0xff]! ^ (c >>> 8);
      table[t * 256 + n] = c >>> 0;
    }
  }
  return table;
}

/**
 * Continues a CRC-32 over bytes[start, end). Start with crc = 0; feed ranges in order; the result
 * of the last call is the CRC of their concatenation.
 */
export function crc32_update(crc: number, bytes: Uint8Array, start: number, end: number): number {
  const t = TABLE;
  let c = ~crc >>> 0;
  let at = start;
  for (; at + 4 <= end; at += 4) {
    c ^= bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24);
    c = t[768 + (c & 0xff)]! ^ t[512 + ((c >>> 8) & 0xff)]! ^ t[256 + ((c >>> 16) & 0xff)]! ^
      t[c >>> 24]!;
  }
  for (; at < end; at++) c = t[(c ^ bytes[at]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** The table-driven CRC-32 of all of `bytes` (runs anywhere). */
export function crc32_table(bytes: Uint8Array): number {
  return crc32_update(0, bytes, 0, bytes.byteLength);
}

type Crc32 = (bytes: Uint8Array) => number;
type MaybeBun = { Bun?: { hash?: { crc32?: Crc32 } } };

const native_crc32: Crc32 | undefined = (globalThis as MaybeBun).Bun?.hash?.crc32;

/** The CRC-32 of `bytes`: Bun's native one where it exists, the table elsewhere (same values). */
export function crc32(bytes: Uint8Array): number {
  if (native_crc32 !== undefined) return native_crc32(bytes) >>> 0;
  return crc32_table(bytes);
}
