// The fast path of the JSON batch parser (schema/json_batch.ts): the usual body, read from its
// bytes in one pass straight into the 40-byte Order structs, with no text decoding, no JSON.parse,
// no object or string per order or field and no bigint. Under HTTP JSON load those steps were
// about a third of the main thread's samples (docs/performance.md).
//
// It takes a body only when the full parser would surely accept it with the same bytes: ASCII
// only; strings without escapes; the top-level keys "mode" and "orders" and, per order, the fields
// its op allows, each at most once; integers as decimal strings of plain digits or as JSON
// integers of at most MAX_BARE_DIGITS digits; op, kind and mode names the full parser knows.
// Anything else, valid or not (a duplicate key, an escape, a fraction, a missing field, a value
// over its field's width, an empty or oversized batch), returns null, and the full parser decides:
// the same orders, or the error message naming the order and the field. So this file never
// decides a refusal, and test/schema/json_fast.test.ts checks that whatever it takes, the full
// parser takes with the same bytes.

import { assert } from "../common/assert.ts";
import {
  BATCH_ORDERS_MAX, HTTP_BODY_SIZE_BYTES_MAX, ORDER_FLAG_LINKED, ORDER_SIZE_BYTES,
} from "../common/constants.ts";
import { Mode } from "./generated/balance/wire/mode.ts";
import { Op } from "./generated/balance/wire/op.ts";
import {
  ACCOUNT_KINDS, ALIASES, BASE_FIELDS, CLIENT_OPS, KIND_ALIAS, type BaseField,
} from "./json_batch_fields.ts";
import type { JsonBatch } from "./json_batch.ts";
import {
  ORDER_ACCOUNT_OFFSET, ORDER_AMOUNT_OFFSET, ORDER_CURRENCY_OFFSET, ORDER_FLAGS_OFFSET,
  ORDER_ID_OFFSET, ORDER_OP_OFFSET, ORDER_PARTNER_OFFSET, ORDER_REF_OFFSET,
} from "./layout.ts";

/** JSON integers of at most this many digits are below 10^15 < 2^53: exact as doubles. */
const MAX_BARE_DIGITS = 15;
const U32_RANGE = 2 ** 32;
const U32_MAX = U32_RANGE - 1;
const U16_MAX = 0xffff;

const SPACE = 0x20;
const TAB = 0x09;
const LINE_FEED = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const PRINTABLE_MIN = 0x20;
const PRINTABLE_MAX = 0x7e;
const DOT = 0x2e;
const LOWER_E = 0x65;
const UPPER_E = 0x45;
/** A name, key or value this path does not take. */
const NOT_TAKEN = -1;
const TRUE_BYTES = new TextEncoder().encode("true");
const FALSE_BYTES = new TextEncoder().encode("false");

const NAME_SLOTS = 256;
const NAME_SEEDS_TRIED = 10_000;

/**
 * Names (ASCII) with the value each stands for: a perfect hash of a name's length and its first,
 * second and last bytes picks its one candidate, then its bytes are compared. Per order of a
 * batch the parser looks up every key and the op: an array of candidates per length with an
 * object each measured 29 ns a lookup, several times this.
 */
class NameTable {
  private readonly slots = new Int32Array(NAME_SLOTS).fill(NOT_TAKEN);
  private readonly name_bytes: Uint8Array;
  private readonly name_start: Int32Array;
  private readonly name_length: Int32Array;
  private readonly values: Int32Array;
  private readonly seed: number;

  constructor(entries: Iterable<[string, number]>) {
    const names = [...entries];
    const encoded = names.map(([name]) => new TextEncoder().encode(name));
    assert(encoded.every((bytes) => bytes.length >= 1), "names are not empty");
    this.name_bytes = new Uint8Array(encoded.reduce((total, bytes) => total + bytes.length, 0));
    this.name_start = new Int32Array(names.length);
    this.name_length = new Int32Array(names.length);
    this.values = Int32Array.from(names.map(([, value]) => value));
    let at = 0;
    encoded.forEach((bytes, n) => {
      this.name_bytes.set(bytes, at);
      this.name_start[n] = at;
      this.name_length[n] = bytes.length;
      at += bytes.length;
    });
    let seed = 1;
    while (!this.place(encoded, seed)) {
      seed++;
      assert(seed < NAME_SEEDS_TRIED, "a perfect hash for the names");
    }
    this.seed = seed;
  }

  private place(encoded: Uint8Array[], seed: number): boolean {
    this.slots.fill(NOT_TAKEN);
    for (let n = 0; n < encoded.length; n++) {
      const bytes = encoded[n]!;
      const slot = NameTable.slot_of(bytes, 0, bytes.length, seed);
      if (this.slots[slot] !== NOT_TAKEN) return false;
      this.slots[slot] = n;
    }
    return true;
  }

  private static slot_of(bytes: Uint8Array, start: number, end: number, seed: number): number {
    const length = end - start;
    const key = length ^ (bytes[start]! << 8) ^ (bytes[start + (length > 1 ? 1 : 0)]! << 16) ^
      (bytes[end - 1]! << 24);
    return Math.imul(key, seed) >>> 24; // NAME_SLOTS = 2^8: the top byte
  }

  /** The value of the name bytes[start, end), or NOT_TAKEN. */
  find(bytes: Uint8Array, start: number, end: number): number {
    if (end <= start) return NOT_TAKEN;
    const n = this.slots[NameTable.slot_of(bytes, start, end, this.seed)]!;
    if (n === NOT_TAKEN || this.name_length[n] !== end - start) return NOT_TAKEN;
    const name_bytes = this.name_bytes;
    const offset = this.name_start[n]! - start;
    for (let i = start; i < end; i++) {
      if (name_bytes[offset + i] !== bytes[i]) return NOT_TAKEN;
    }
    return this.values[n]!;
  }
}

// Field numbers: the base fields in BASE_FIELDS' order, then each alias name once.
const ALIAS_NAMES = [...new Set([...ALIASES.values()].flat().map((alias) => alias.name))];
const FIELD_NAMES = [...BASE_FIELDS, ...ALIAS_NAMES];
const FIELDS = new NameTable(FIELD_NAMES.map((name, field) => [name, field]));
const field_of = (name: BaseField | string): number => FIELD_NAMES.indexOf(name);
const FIELD_ID = field_of("id");
const FIELD_OP = field_of("op");
const FIELD_PARTNER = field_of("partner");
const FIELD_ACCOUNT = field_of("account");
const FIELD_AMOUNT = field_of("amount");
const FIELD_CURRENCY = field_of("currency");
const FIELD_REF = field_of("ref");
const FIELD_LINKED = field_of("linked");
const FIELD_KIND = field_of(KIND_ALIAS);
const REQUIRED_FIELDS = (1 << FIELD_ID) | (1 << FIELD_PARTNER) | (1 << FIELD_ACCOUNT);
const BASE_FIELDS_MASK = BASE_FIELDS.reduce((mask, name) => mask | (1 << field_of(name)), 0);

/**
 * Per op: the fields an order of it may carry (a bit per field), and its aliases as pairs of
 * field numbers (alias, the field it fills).
 */
const ALLOWED_FIELDS = new Int32Array(256);
const ALIAS_PAIRS: Int32Array[] = [];
for (const op of CLIENT_OPS.values()) {
  const aliases = ALIASES.get(op) ?? [];
  ALIAS_PAIRS[op] = Int32Array.from(aliases.flatMap((alias) =>
    [field_of(alias.name), field_of(alias.target)]));
  ALLOWED_FIELDS[op] = aliases.reduce((mask, alias) => mask | (1 << field_of(alias.name)),
    BASE_FIELDS_MASK);
}

const OPS = new NameTable(CLIENT_OPS);
const KINDS = new NameTable(ACCOUNT_KINDS);
const MODES = new NameTable([["committed", Mode.committed], ["accepted", Mode.accepted]]);
const TOP_MODE = 0;
const TOP_ORDERS = 1;
const TOP_KEYS = new NameTable([["mode", TOP_MODE], ["orders", TOP_ORDERS]]);

class FastBatchParser {
  private bytes: Uint8Array = new Uint8Array(0);
  private at = 0;
  private readonly scratch = new Uint8Array(BATCH_ORDERS_MAX * ORDER_SIZE_BYTES);
  private readonly out = new DataView(this.scratch.buffer);
  // The current order's fields: which were given (a bit each), and each one's value: the two
  // 32-bit halves of an integer, or the code of an op, a kind, or linked (0 or 1). Kept apart so
  // the codes stay int32 (array indexes) and the halves doubles (up to 2^32 - 1).
  private given = 0;
  private readonly value_high = new Float64Array(FIELD_NAMES.length);
  private readonly value_low = new Float64Array(FIELD_NAMES.length);
  private readonly code = new Int32Array(FIELD_NAMES.length);

  parse(bytes: Uint8Array): JsonBatch | null {
    if (bytes.length > HTTP_BODY_SIZE_BYTES_MAX) return null;
    this.bytes = bytes;
    this.at = 0;
    let mode: number = Mode.committed;
    let seen = 0;
    let count = NOT_TAKEN;
    if (!this.expect(OPEN_BRACE)) return null;
    for (;;) {
      const key = this.key(TOP_KEYS);
      if (key === NOT_TAKEN || (seen & (1 << key)) !== 0) return null;
      seen |= 1 << key;
      this.skip_space();
      if (key === TOP_MODE) {
        mode = this.name(MODES);
        if (mode === NOT_TAKEN) return null;
      } else {
        count = this.orders();
        if (count === NOT_TAKEN) return null;
      }
      this.skip_space();
      const next = this.bytes[this.at++];
      if (next === CLOSE_BRACE) break;
      if (next !== COMMA) return null;
    }
    this.skip_space();
    if (this.at !== bytes.length || count === NOT_TAKEN) return null;
    // A copy with an ArrayBuffer of its own: the edge and the router view it through a DataView,
    // and asking a small typed array made by slice() for its buffer makes JSC build one then.
    const orders_bytes = new Uint8Array(this.scratch.buffer.slice(0, count * ORDER_SIZE_BYTES));
    return { type: "json_batch", mode: mode as Mode, orders_bytes, order_count: count };
  }

  /** The orders array into the scratch structs: their count, or NOT_TAKEN. */
  private orders(): number {
    if (this.bytes[this.at++] !== OPEN_BRACKET) return NOT_TAKEN;
    let count = 0;
    for (;;) {
      if (count === BATCH_ORDERS_MAX || !this.order(count * ORDER_SIZE_BYTES)) return NOT_TAKEN;
      count++;
      this.skip_space();
      const next = this.bytes[this.at++];
      if (next === CLOSE_BRACKET) return count;
      if (next !== COMMA) return NOT_TAKEN;
    }
  }

  /** One order object into the struct at `offset`; false when it is not the fast path's. */
  private order(offset: number): boolean {
    if (!this.expect(OPEN_BRACE)) return false;
    this.given = 0;
    for (;;) {
      const field = this.key(FIELDS);
      if (field === NOT_TAKEN || (this.given & (1 << field)) !== 0) return false;
      this.given |= 1 << field;
      this.skip_space();
      if (!this.field_value(field)) return false;
      this.skip_space();
      const next = this.bytes[this.at++];
      if (next === CLOSE_BRACE) break;
      if (next !== COMMA) return false;
    }
    return this.write_order(offset);
  }

  private field_value(field: number): boolean {
    if (field === FIELD_OP) return this.name_into(field, OPS);
    if (field === FIELD_KIND) return this.name_into(field, KINDS);
    if (field === FIELD_LINKED) {
      this.code[field] = this.literal(TRUE_BYTES) ? 1 : this.literal(FALSE_BYTES) ? 0 : -1;
      return this.code[field] !== -1;
    }
    return this.unsigned_into(field);
  }

  /** Checks the order's fields as the full parser does, then writes its 40 bytes. */
  private write_order(offset: number): boolean {
    const given = this.given;
    if ((given & (1 << FIELD_OP)) === 0) return false;
    const op = this.code[FIELD_OP]!;
    if ((given & ~ALLOWED_FIELDS[op]!) !== 0 || (given & REQUIRED_FIELDS) !== REQUIRED_FIELDS) {
      return false;
    }
    const high = this.value_high;
    const low = this.value_low;
    if (high[FIELD_PARTNER] !== 0) return false;
    const currency_given = (given & (1 << FIELD_CURRENCY)) !== 0;
    if (currency_given && (high[FIELD_CURRENCY] !== 0 || low[FIELD_CURRENCY]! > U16_MAX)) {
      return false;
    }
    const pairs = ALIAS_PAIRS[op]!;
    for (let i = 0; i < pairs.length; i += 2) {
      const alias = pairs[i]!;
      const target = pairs[i + 1]!;
      if ((given & (1 << alias)) === 0) continue;
      if ((given & (1 << target)) !== 0) return false; // both given: the full parser's error
      if (alias === FIELD_KIND) {
        high[target] = 0;
        low[target] = this.code[FIELD_KIND]!;
      } else {
        high[target] = high[alias]!;
        low[target] = low[alias]!;
      }
      this.given |= 1 << target;
    }
    const out = this.out;
    this.write_u64(offset + ORDER_ID_OFFSET, FIELD_ID);
    this.write_u64(offset + ORDER_ACCOUNT_OFFSET, FIELD_ACCOUNT);
    this.write_u64(offset + ORDER_AMOUNT_OFFSET, FIELD_AMOUNT);
    this.write_u64(offset + ORDER_REF_OFFSET, FIELD_REF);
    out.setUint32(offset + ORDER_PARTNER_OFFSET, low[FIELD_PARTNER]!, true);
    out.setUint16(offset + ORDER_CURRENCY_OFFSET, currency_given ? low[FIELD_CURRENCY]! : 0, true);
    out.setUint8(offset + ORDER_OP_OFFSET, op as Op);
    const linked = (given & (1 << FIELD_LINKED)) !== 0 && this.code[FIELD_LINKED] === 1;
    out.setUint8(offset + ORDER_FLAGS_OFFSET, linked ? ORDER_FLAG_LINKED : 0);
    return true;
  }

  private write_u64(offset: number, field: number): void {
    const given = (this.given & (1 << field)) !== 0;
    this.out.setUint32(offset, given ? this.value_low[field]! : 0, true);
    this.out.setUint32(offset + 4, given ? this.value_high[field]! : 0, true);
  }

  /**
   * An unsigned integer (a string of plain decimal digits, or a JSON integer of at most
   * MAX_BARE_DIGITS digits) as two 32-bit halves, exact up to 2^64 - 1 without a bigint.
   */
  private unsigned_into(field: number): boolean {
    const bytes = this.bytes;
    if (bytes[this.at] !== QUOTE) return this.bare_integer_into(field);
    const start = this.at + 1;
    // The first MAX_BARE_DIGITS digits in one double (exact: below 10^15 < 2^53), with no
    // division; only digits past them (a u64 has up to 20) carry between the two halves.
    const exact_end = start + MAX_BARE_DIGITS;
    let at = start;
    let value = 0;
    let byte = bytes[at];
    while (at < exact_end && byte !== undefined && byte >= DIGIT_0 && byte <= DIGIT_9) {
      value = value * 10 + (byte - DIGIT_0);
      byte = bytes[++at];
    }
    let high = Math.floor(value / U32_RANGE);
    let low = value - high * U32_RANGE;
    for (;;) {
      if (byte === QUOTE) break;
      if (byte === undefined || byte < DIGIT_0 || byte > DIGIT_9) return false;
      // (high * 2^32 + low) * 10 + digit, carrying between the halves.
      low = low * 10 + (byte - DIGIT_0);
      const carry = Math.floor(low / U32_RANGE);
      low -= carry * U32_RANGE;
      high = high * 10 + carry;
      if (high > U32_MAX) return false; // over 2^64 - 1: the full parser's error
      byte = bytes[++at];
    }
    const digits = at - start;
    if (digits === 0 || (digits > 1 && bytes[start] === DIGIT_0)) return false;
    this.at = at + 1; // after the closing quote
    this.value_high[field] = high;
    this.value_low[field] = low;
    return true;
  }

  private bare_integer_into(field: number): boolean {
    const bytes = this.bytes;
    const start = this.at;
    let at = start;
    let value = 0;
    for (;;) {
      const byte = bytes[at];
      if (byte === undefined || byte < DIGIT_0 || byte > DIGIT_9) break;
      value = value * 10 + (byte - DIGIT_0);
      at++;
    }
    const digits = at - start;
    if (digits === 0 || digits > MAX_BARE_DIGITS) return false;
    if (digits > 1 && bytes[start] === DIGIT_0) return false;
    const next = bytes[at];
    if (next === DOT || next === LOWER_E || next === UPPER_E) return false;
    this.at = at;
    this.value_high[field] = Math.floor(value / U32_RANGE);
    this.value_low[field] = value % U32_RANGE;
    return true;
  }

  /** A name from `table` as the field's code. */
  private name_into(field: number, table: NameTable): boolean {
    const value = this.name(table);
    this.code[field] = value;
    return value !== NOT_TAKEN;
  }

  /** A string naming an entry of `table`: its value, or NOT_TAKEN. */
  private name(table: NameTable): number {
    const end = this.string_end();
    if (end === NOT_TAKEN) return NOT_TAKEN;
    const value = table.find(this.bytes, this.at + 1, end);
    this.at = end + 1;
    return value;
  }

  /** After the separating space: a key of `table`, then its colon. */
  private key(table: NameTable): number {
    this.skip_space();
    const value = this.name(table);
    this.skip_space();
    if (this.bytes[this.at++] !== COLON) return NOT_TAKEN;
    return value;
  }

  /** The closing quote's position of the string at `at`: printable ASCII, no escape. */
  private string_end(): number {
    const bytes = this.bytes;
    if (bytes[this.at] !== QUOTE) return NOT_TAKEN;
    for (let i = this.at + 1; i < bytes.length; i++) {
      const byte = bytes[i]!;
      if (byte === QUOTE) return i;
      if (byte === BACKSLASH || byte < PRINTABLE_MIN || byte > PRINTABLE_MAX) return NOT_TAKEN;
    }
    return NOT_TAKEN;
  }

  private literal(word: Uint8Array): boolean {
    for (let i = 0; i < word.length; i++) {
      if (this.bytes[this.at + i] !== word[i]) return false;
    }
    this.at += word.length;
    return true;
  }

  private expect(byte: number): boolean {
    this.skip_space();
    return this.bytes[this.at++] === byte;
  }

  private skip_space(): void {
    const bytes = this.bytes;
    let at = this.at;
    for (;;) {
      const byte = bytes[at];
      if (byte !== SPACE && byte !== LINE_FEED && byte !== CARRIAGE_RETURN && byte !== TAB) break;
      at++;
    }
    this.at = at;
  }
}

const parser = new FastBatchParser();

/** The batch when the body is one the fast path takes (see above); null: ask the full parser. */
export function parse_batch_json_fast(bytes: Uint8Array): JsonBatch | null {
  return parser.parse(bytes);
}
