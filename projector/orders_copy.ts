// A batch's orders rows in PostgreSQL's binary COPY format (the "Binary Format" section of the
// COPY page of PostgreSQL's documentation), for `copy orders (ORDERS_COPY_COLUMNS) from stdin
// with (format binary)`. Measured here, binary rows cost the projector about a sixth of the CPU
// of text rows (no decimal formatting of bigints and numbers, one buffer instead of a string per
// row) and PostgreSQL less parsing (docs/performance.md, "Pipeline").
//
// Binary COPY converts nothing: every value must have its column's exact size (int2, int4, int8),
// so the columns, their sizes and the order the encoder writes them in are listed together below.
// Every field is fixed-size and never null, so every row has the same size.

import { assert } from "../common/assert.ts";
import { U64_KEY_OFFSET } from "../schema/projection.ts";
import type { ProjectedEvent } from "./event.ts";

/** "PGCOPY\n\377\r\n\0", then the flags (int32, 0: no OIDs) and the header extension's size. */
const SIGNATURE = [0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00] as const;
const HEADER_BYTES = SIGNATURE.length + 4 + 4;
/** A tuple's field count of -1 ends the data. */
const TRAILER_BYTES = 2;
const TRAILER_FIELD_COUNT = -1;
const FIELD_COUNT_BYTES = 2;
const FIELD_LENGTH_BYTES = 4;
const INT2_BYTES = 2;
const INT4_BYTES = 4;
const INT8_BYTES = 8;
const TWO_POW_32 = 0x1_0000_0000;
const INT2_MIN = -0x8000;
const INT2_MAX = 0x7fff;
/** U64_KEY_OFFSET (2^63) is the top bit of the high byte. */
const KEY_FLIP_HIGH_BYTE = 0x80;
assert(BigInt(KEY_FLIP_HIGH_BYTE) << 56n === U64_KEY_OFFSET, "the key offset is the top bit");

/** The columns in the order each row carries them, with their sizes in bytes. */
const COLUMNS: readonly (readonly [name: string, size_bytes: number])[] = [
  ["group_id", INT4_BYTES],
  ["sequence", INT8_BYTES],
  ["epoch", INT8_BYTES],
  ["engine_time_ms", INT8_BYTES],
  ["partner", INT8_BYTES],
  ["order_id", INT8_BYTES], // u64 key
  ["account_id", INT8_BYTES], // u64 key
  ["op", INT2_BYTES],
  ["status", INT2_BYTES],
  ["amount_minor", INT8_BYTES], // u64 key
  ["ref", INT8_BYTES], // u64 key
  ["currency", INT2_BYTES],
  ["balance_after_minor", INT8_BYTES],
  ["held_after_minor", INT8_BYTES],
  ["counter_balance_after_minor", INT8_BYTES],
];

/** The column list of the COPY statement, in the rows' order. */
export const ORDERS_COPY_COLUMNS = COLUMNS.map(([name]) => name).join(", ");

const FIELD_COUNT = COLUMNS.length;
/** Every row: its field count, then each field's length and value. */
export const ORDERS_COPY_ROW_BYTES = FIELD_COUNT_BYTES +
  COLUMNS.reduce((sum, [, size_bytes]) => sum + FIELD_LENGTH_BYTES + size_bytes, 0);
assert(ORDERS_COPY_ROW_BYTES === 160, "orders COPY row: 15 fields, 98 bytes of values");

/** The whole COPY data of `events` (checked by verify_event) as rows of `group`. */
export function orders_copy_bytes(group: number, events: readonly ProjectedEvent[]): Uint8Array {
  assert(Number.isInteger(group) && group >= 0 && group <= 0x7fff_ffff, "group fits int4");
  const size_bytes = HEADER_BYTES + events.length * ORDERS_COPY_ROW_BYTES + TRAILER_BYTES;
  const bytes = new Uint8Array(size_bytes); // zeroed: the flags and extension size are 0
  const view = new DataView(bytes.buffer);
  bytes.set(SIGNATURE, 0);
  let offset = HEADER_BYTES;
  for (const event of events) offset = write_row(view, offset, group, event);
  view.setInt16(offset, TRAILER_FIELD_COUNT);
  offset += TRAILER_BYTES;
  assert(offset === size_bytes, "orders COPY data filled exactly");
  return bytes;
}

/** One row at `offset`, in COLUMNS' order; returns the offset after it. */
function write_row(view: DataView, offset: number, group: number, e: ProjectedEvent): number {
  const start = offset;
  view.setInt16(offset, FIELD_COUNT);
  offset += FIELD_COUNT_BYTES;
  offset = write_int4(view, offset, group);
  offset = write_int8(view, offset, e.sequence);
  offset = write_int8(view, offset, e.epoch);
  offset = write_int8(view, offset, e.engine_time_ms);
  offset = write_int8(view, offset, e.partner);
  offset = write_key(view, offset, e.order_id);
  offset = write_key(view, offset, e.account);
  offset = write_int2(view, offset, e.op);
  offset = write_int2(view, offset, e.status);
  offset = write_key(view, offset, e.amount_minor);
  offset = write_key(view, offset, e.ref);
  offset = write_int2(view, offset, e.currency);
  offset = write_int8(view, offset, e.balance_after_minor);
  offset = write_int8(view, offset, e.held_after_minor);
  offset = write_int8(view, offset, e.counter_balance_after_minor);
  assert(offset - start === ORDERS_COPY_ROW_BYTES, "an orders row has its size");
  return offset;
}

// Values are big-endian (network order), each after its length.

function write_int2(view: DataView, offset: number, value: number): number {
  // setInt16 would wrap a currency above 32767 where a text COPY refused it: refuse it here.
  assert(value >= INT2_MIN && value <= INT2_MAX, "value fits int2");
  view.setInt32(offset, INT2_BYTES);
  view.setInt16(offset + FIELD_LENGTH_BYTES, value);
  return offset + FIELD_LENGTH_BYTES + INT2_BYTES;
}

function write_int4(view: DataView, offset: number, value: number): number {
  view.setInt32(offset, INT4_BYTES);
  view.setInt32(offset + FIELD_LENGTH_BYTES, value);
  return offset + FIELD_LENGTH_BYTES + INT4_BYTES;
}

/** A safe integer as int8: the high word by floor division, so negative values come out right. */
function write_int8(view: DataView, offset: number, value: number): number {
  view.setInt32(offset, INT8_BYTES);
  view.setInt32(offset + FIELD_LENGTH_BYTES, Math.floor(value / TWO_POW_32));
  view.setUint32(offset + FIELD_LENGTH_BYTES + INT4_BYTES, value >>> 0);
  return offset + FIELD_LENGTH_BYTES + INT8_BYTES;
}

/**
 * A u64 as its int8 key (schema/projection.ts, u64_key: the value minus 2^63): in 64 bits that is
 * the value with its top bit flipped, done on the written high byte (big-endian: the first)
 * rather than with a bigint operation, which would allocate a bigint per field.
 */
function write_key(view: DataView, offset: number, value: bigint): number {
  view.setInt32(offset, INT8_BYTES);
  const at = offset + FIELD_LENGTH_BYTES;
  view.setBigUint64(at, value);
  view.setUint8(at, view.getUint8(at) ^ KEY_FLIP_HIGH_BYTE);
  return at + INT8_BYTES;
}
