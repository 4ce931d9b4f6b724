// Decimal digits written as bytes into a Uint8Array, for JSON bodies built without strings: the
// service's JSON batch replies (schema/json.ts) and loadgen's JSON batches (loadgen/json_wire.ts).
// Building such a body as strings costs a string per 64-bit field, a rope, and its flattening and
// encoding when it is sent (docs/performance.md, "The HTTP edge: the JSON reply as bytes").

/** ASCII text as bytes (the pieces of a body, made once). */
export function ascii(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** High words below this make a u64 below 2^53: a double holds it exactly. */
const SAFE_HIGH_WORD_LIMIT = 2 ** 21;
const U32_RANGE = 2 ** 32;
const DIGIT_0 = 48;
const MINUS = 45;
/** "00" to "99", two bytes each. */
const DIGIT_PAIRS =
  ascii(Array.from({ length: 100 }, (_, n) => String(n).padStart(2, "0")).join(""));

/** A few bytes, copied in a loop: a `set` call per piece cost more than its copy. */
export function put(target: Uint8Array, at: number, bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) target[at + i] = bytes[i]!;
  return at + bytes.length;
}

/** The decimal digits of `value` (an integer, 0 <= value < 2^31), at least `width` of them, two at
 * a time. `(x * 0.01) | 0` is floor(x / 100) for these x (0.01 as a double lies just above 1/100,
 * by far less than one part in x) and costs a multiply where the division cost ten of them. */
export function put_digits(target: Uint8Array, at: number, value: number, width: number): number {
  let digits = 1;
  for (let power = 10; power <= value; power *= 10) digits++;
  if (digits < width) digits = width;
  let rest = value | 0;
  let k = at + digits;
  while (k - at >= 2) {
    const next = (rest * 0.01) | 0;
    const pair = (rest - next * 100) * 2;
    target[--k] = DIGIT_PAIRS[pair + 1]!;
    target[--k] = DIGIT_PAIRS[pair]!;
    rest = next;
  }
  if (k > at) target[--k] = DIGIT_0 + rest;
  return at + digits;
}

/** The decimal of an integer 0 <= value < 2^53: nine digits at a time, each an int32. */
export function put_safe(target: Uint8Array, at: number, value: number): number {
  if (value < 1e9) return put_digits(target, at, value, 0);
  const high = Math.floor(value / 1e9);
  return put_digits(target, put_digits(target, at, high, 0), value - high * 1e9, 9);
}

/** The decimal of the u64 at view[offset] (little-endian): below 2^53 as one double, above it as
 * value / 10^5 (exact: 2^32 = 42,949 * 10^5 + 67,296) and its last five digits. */
export function put_u64(target: Uint8Array, at: number, view: DataView, offset: number): number {
  const low = view.getUint32(offset, true);
  const high = view.getUint32(offset + 4, true);
  if (high < SAFE_HIGH_WORD_LIMIT) return put_safe(target, at, high * U32_RANGE + low);
  const low_part = high * 67_296 + low;
  const rest = low_part % 100_000;
  return put_digits(target, put_safe(target, at, high * 42_949 + Math.floor(low_part / 100_000)),
    rest, 5);
}

/** The decimal of the i64 at view[offset] (little-endian), which the engine keeps within
 * +-(2^53 - 1) (money, sequences): exact as one double. */
export function put_safe_i64(target: Uint8Array, at: number, view: DataView, offset: number)
  : number {
  const value = view.getInt32(offset + 4, true) * U32_RANGE + view.getUint32(offset, true);
  if (value >= 0) return put_safe(target, at, value);
  target[at] = MINUS;
  return put_safe(target, at + 1, -value);
}
