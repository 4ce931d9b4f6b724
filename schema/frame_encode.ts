// Encoders of Frame messages. The two batch messages (OrderBatch, BatchResults) are the hot path
// and are written by hand: a fixed 64-byte header built once, then the structs copied in with one
// Uint8Array.set, no Builder and no per-element call. Their layout is a valid FlatBuffer (checked
// by flatc's verifier and the generated accessors in test/schema/frame_encode.test.ts):
//
//   0 root uoffset -> 16        8 Frame vtable (8 bytes)      16 Frame table: soffset, message
//   uoffset -> 40, type u8      28 message vtable (<= 12)     40 message table: soffset,
//   vector uoffset -> 60, request_id u64 at 48, mode u8 at 56  60 vector length   64 elements
//
// Offsets point forward and the structs sit 8-aligned, as a Builder would place them.

import { assert } from "../common/assert.ts";
import { BATCH_ORDERS_MAX, ORDER_SIZE_BYTES, RESULT_SIZE_BYTES } from "../common/constants.ts";
import { FRAME_SIZE_BYTES_MAX } from "../common/constants.ts";
import { Message } from "./generated/balance/wire/message.ts";
import type { Mode } from "./generated/balance/wire/mode.ts";
import { FILE_IDENTIFIER } from "./frame_decode.ts";

export const BATCH_FRAME_HEADER_BYTES = 64;
const FRAME_TABLE_POS = 16;
const MESSAGE_VTABLE_POS = 28;
const MESSAGE_TABLE_POS = 40;
const MESSAGE_TYPE_POS = 24;
const REQUEST_ID_POS = 48;
const MODE_POS = 56;
const VECTOR_LENGTH_POS = 60;

// The header of every batch frame of `message_type`, built once: vtable field offsets are relative
// to the table, so request_id is at 48 - 40 = 8, the vector uoffset at 4, mode at 16.
function batch_header(message_type: Message): Uint8Array {
  const header = new Uint8Array(BATCH_FRAME_HEADER_BYTES);
  const view = new DataView(header.buffer);
  view.setUint32(0, FRAME_TABLE_POS, true);
  for (let i = 0; i < FILE_IDENTIFIER.length; i++) header[4 + i] = FILE_IDENTIFIER.charCodeAt(i);
  const frame_vtable_pos = 8;
  view.setUint16(frame_vtable_pos, 8, true); // vtable size: header + 2 fields
  view.setUint16(frame_vtable_pos + 2, 12, true); // table size: soffset, uoffset, type + padding
  view.setUint16(frame_vtable_pos + 4, MESSAGE_TYPE_POS - FRAME_TABLE_POS, true);
  view.setUint16(frame_vtable_pos + 6, 4, true);
  view.setInt32(FRAME_TABLE_POS, FRAME_TABLE_POS - frame_vtable_pos, true);
  view.setUint32(FRAME_TABLE_POS + 4, MESSAGE_TABLE_POS - (FRAME_TABLE_POS + 4), true);
  view.setUint8(MESSAGE_TYPE_POS, message_type);
  const is_order_batch = message_type === Message.OrderBatch;
  const field_count = is_order_batch ? 3 : 2;
  view.setUint16(MESSAGE_VTABLE_POS, 4 + 2 * field_count, true);
  view.setUint16(MESSAGE_VTABLE_POS + 2, is_order_batch ? 20 : 16, true);
  view.setUint16(MESSAGE_VTABLE_POS + 4, REQUEST_ID_POS - MESSAGE_TABLE_POS, true);
  if (is_order_batch) {
    view.setUint16(MESSAGE_VTABLE_POS + 6, MODE_POS - MESSAGE_TABLE_POS, true);
    view.setUint16(MESSAGE_VTABLE_POS + 8, 4, true);
  } else {
    view.setUint16(MESSAGE_VTABLE_POS + 6, 4, true);
  }
  view.setInt32(MESSAGE_TABLE_POS, MESSAGE_TABLE_POS - MESSAGE_VTABLE_POS, true);
  view.setUint32(MESSAGE_TABLE_POS + 4, VECTOR_LENGTH_POS - (MESSAGE_TABLE_POS + 4), true);
  return header;
}

const order_batch_header = batch_header(Message.OrderBatch);
const batch_results_header = batch_header(Message.BatchResults);

// A frame's request_id goes through this scratch: a DataView over each target frame was an object
// made per reply (and per request in loadgen).
const request_id_view = new DataView(new ArrayBuffer(8));
const request_id_bytes = new Uint8Array(request_id_view.buffer);

export function batch_frame_size_bytes(count: number): number {
  return BATCH_FRAME_HEADER_BYTES + count * ORDER_SIZE_BYTES;
}

assert(ORDER_SIZE_BYTES === RESULT_SIZE_BYTES, "one batch frame size serves orders and results");
assert(batch_frame_size_bytes(BATCH_ORDERS_MAX) <= FRAME_SIZE_BYTES_MAX, "a batch fits a frame");

function write_batch_frame(
  header: Uint8Array,
  target: Uint8Array,
  target_offset: number,
  request_id: bigint,
  structs_bytes: Uint8Array,
  count: number,
): number {
  assert(count >= 0 && count <= BATCH_ORDERS_MAX, "a batch frame holds 0..128 structs");
  const structs_size_bytes = count * ORDER_SIZE_BYTES;
  assert(structs_bytes.length >= structs_size_bytes, "structs_bytes holds count structs");
  const frame_size_bytes = BATCH_FRAME_HEADER_BYTES + structs_size_bytes;
  assert(target_offset + frame_size_bytes <= target.length, "the frame fits the target");
  target.set(header, target_offset);
  request_id_view.setBigUint64(0, request_id, true);
  const id_at = target_offset + REQUEST_ID_POS;
  for (let i = 0; i < 8; i++) target[id_at + i] = request_id_bytes[i]!;
  const length_at = target_offset + VECTOR_LENGTH_POS; // a u32, little-endian
  target[length_at] = count & 0xff; // count <= BATCH_ORDERS_MAX: the other bytes are 0
  target[length_at + 1] = 0;
  target[length_at + 2] = 0;
  target[length_at + 3] = 0;
  const structs_offset = target_offset + BATCH_FRAME_HEADER_BYTES;
  // A view only when the structs are part of a larger array (a subarray is an object made).
  target.set(structs_bytes.length === structs_size_bytes ? structs_bytes
    : structs_bytes.subarray(0, structs_size_bytes), structs_offset);
  return frame_size_bytes;
}

// Writes a BatchResults frame of `count` Result structs (count * 40 bytes of `results_bytes`) into
// `target` at `target_offset`; returns its size in bytes, batch_frame_size_bytes(count).
export function write_batch_results(
  target: Uint8Array,
  target_offset: number,
  request_id: bigint,
  results_bytes: Uint8Array,
  count: number,
): number {
  const header = batch_results_header;
  return write_batch_frame(header, target, target_offset, request_id, results_bytes, count);
}

export function encode_batch_results(
  request_id: bigint,
  results_bytes: Uint8Array,
  count: number,
): Uint8Array {
  // Over an ArrayBuffer made now: write_batch_frame views it through a DataView, and asking a
  // small typed array for its buffer makes JSC build one then (more work than this).
  const frame = new Uint8Array(new ArrayBuffer(batch_frame_size_bytes(count)));
  write_batch_results(frame, 0, request_id, results_bytes, count);
  return frame;
}

// Writes an OrderBatch frame (clients, load generators, tests). An empty or oversized batch cannot
// be encoded: the server would refuse it; tests that need one build it with the Builder.
export function write_order_batch(
  target: Uint8Array,
  target_offset: number,
  request_id: bigint,
  mode: Mode,
  orders_bytes: Uint8Array,
  count: number,
): number {
  assert(count >= 1, "an order batch holds at least one order");
  const size_bytes = write_batch_frame(
    order_batch_header, target, target_offset, request_id, orders_bytes, count,
  );
  target[target_offset + MODE_POS] = mode;
  return size_bytes;
}

export function encode_order_batch(
  request_id: bigint,
  mode: Mode,
  orders_bytes: Uint8Array,
  count: number,
): Uint8Array {
  const frame = new Uint8Array(new ArrayBuffer(batch_frame_size_bytes(count))); // as above
  write_order_batch(frame, 0, request_id, mode, orders_bytes, count);
  return frame;
}
