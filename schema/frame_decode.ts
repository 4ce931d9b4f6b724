// decode_frame: one untrusted FlatBuffers frame (no length prefix) to a typed message, or a refusal
// with the ErrorCode to answer. It never throws on input and never reads outside `bytes`: every
// offset is checked by schema/flatbuffer_read.ts before it is followed. An OrderBatch is not
// decoded order by order: the caller gets the byte offset of its contiguous Order structs and
// copies them at once.

import { assert_never } from "../common/assert.ts";
import {
  BATCH_ORDERS_MAX,
  FRAME_SIZE_BYTES_MAX,
  FRAME_SIZE_BYTES_MIN,
} from "../common/constants.ts";
import { ORDER_SIZE_BYTES, RESULT_SIZE_BYTES } from "../common/constants.ts";
import { ErrorCode } from "./generated/balance/wire/error-code.ts";
import { Message } from "./generated/balance/wire/message.ts";
import { Mode } from "./generated/balance/wire/mode.ts";
import {
  ABSENT,
  MALFORMED,
  field_pos,
  follow_offset,
  table_vtable,
  u8_field,
  u64_field,
  vector_length,
} from "./flatbuffer_read.ts";
import {
  decode_account_info,
  decode_account_query,
  decode_ping,
  decode_error_message,
  decode_hello,
  decode_hello_ok,
  decode_order_query,
  decode_order_status,
  decode_routing_map_query,
  decode_routing_map_reply,
} from "./message_decode.ts";
import type { DecodeError, DecodedFrame } from "./messages.ts";
import { is_message } from "./vocabulary.ts";

export const FILE_IDENTIFIER = "BAL1";
const IDENTIFIER_OFFSET = 4;
const VECTOR_LENGTH_BYTES = 4;

// Frame: field 0 is the union's type, field 1 the union's table.
const FRAME_MESSAGE_TYPE_FIELD = 0;
const FRAME_MESSAGE_FIELD = 1;
// OrderBatch: request_id, mode, orders. BatchResults: request_id, results.
const BATCH_REQUEST_ID_FIELD = 0;
const ORDER_BATCH_MODE_FIELD = 1;
const ORDER_BATCH_ORDERS_FIELD = 2;
const BATCH_RESULTS_RESULTS_FIELD = 1;

export function decode_error(error: ErrorCode, message: string): DecodeError {
  return { type: "decode_error", error, message };
}

function malformed(message: string): DecodeError {
  return decode_error(ErrorCode.malformed_frame, message);
}

function has_identifier(bytes: Uint8Array): boolean {
  for (let i = 0; i < FILE_IDENTIFIER.length; i++) {
    if (bytes[IDENTIFIER_OFFSET + i] !== FILE_IDENTIFIER.charCodeAt(i)) return false;
  }
  return true;
}

export function decode_frame(bytes: Uint8Array): DecodedFrame | DecodeError {
  if (bytes.length > FRAME_SIZE_BYTES_MAX) {
    return decode_error(
      ErrorCode.frame_too_large,
      `frame of ${bytes.length} bytes exceeds ${FRAME_SIZE_BYTES_MAX}`,
    );
  }
  if (bytes.length < FRAME_SIZE_BYTES_MIN) {
    return malformed(`frame of ${bytes.length} bytes is shorter than ${FRAME_SIZE_BYTES_MIN}`);
  }
  if (!has_identifier(bytes)) {
    return decode_error(ErrorCode.wrong_identifier, `file identifier is not "${FILE_IDENTIFIER}"`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const frame_pos = follow_offset(view, 0);
  if (frame_pos === MALFORMED) return malformed("root offset out of bounds");
  const frame_vtable = table_vtable(view, frame_pos);
  if (frame_vtable === MALFORMED) return malformed("Frame table out of bounds");
  const message_type = u8_field(view, frame_pos, frame_vtable, FRAME_MESSAGE_TYPE_FIELD, 0);
  if (message_type === MALFORMED) return malformed("Frame.message_type out of bounds");
  const message_field = field_pos(view, frame_pos, frame_vtable, FRAME_MESSAGE_FIELD, 4);
  if (message_field === ABSENT) return malformed("Frame carries no message");
  if (message_field === MALFORMED) return malformed("Frame.message out of bounds");
  const message_pos = follow_offset(view, message_field);
  if (message_pos === MALFORMED) return malformed("message offset out of bounds");
  const message_vtable = table_vtable(view, message_pos);
  if (message_vtable === MALFORMED) return malformed("message table out of bounds");
  return decode_message(view, message_type, message_pos, message_vtable);
}

function decode_message(
  view: DataView,
  message_type: number,
  table_pos: number,
  vtable_pos: number,
): DecodedFrame | DecodeError {
  if (!is_message(message_type)) return malformed(`unknown message type ${message_type}`);
  switch (message_type) {
    case Message.OrderBatch:
      return decode_order_batch(view, table_pos, vtable_pos);
    case Message.BatchResults:
      return decode_batch_results(view, table_pos, vtable_pos);
    case Message.Hello:
      return decode_hello(view, table_pos, vtable_pos);
    case Message.HelloOk:
      return decode_hello_ok(view, table_pos, vtable_pos);
    case Message.AccountQuery:
      return decode_account_query(view, table_pos, vtable_pos);
    case Message.AccountInfo:
      return decode_account_info(view, table_pos, vtable_pos);
    case Message.OrderQuery:
      return decode_order_query(view, table_pos, vtable_pos);
    case Message.OrderStatus:
      return decode_order_status(view, table_pos, vtable_pos);
    case Message.Error:
      return decode_error_message(view, table_pos, vtable_pos);
    case Message.Ping:
      return decode_ping(view, table_pos, vtable_pos, "ping");
    case Message.Pong:
      return decode_ping(view, table_pos, vtable_pos, "pong");
    case Message.RoutingMapQuery:
      return decode_routing_map_query(view, table_pos, vtable_pos);
    case Message.RoutingMapReply:
      return decode_routing_map_reply(view, table_pos, vtable_pos);
    case Message.NONE:
      return malformed("the frame holds no message");
    default:
      return assert_never(message_type, "message type");
  }
}

// The position of the first element of a struct vector field (its count is the u32 just before),
// ABSENT for a missing vector, MALFORMED when it does not fit.
function struct_vector(
  view: DataView,
  table_pos: number,
  vtable_pos: number,
  field_index: number,
  element_size_bytes: number,
): number {
  const pos = field_pos(view, table_pos, vtable_pos, field_index, 4);
  if (pos === ABSENT || pos === MALFORMED) return pos;
  const vector_pos = follow_offset(view, pos);
  if (vector_pos === MALFORMED) return MALFORMED;
  const count = vector_length(view, vector_pos, element_size_bytes);
  if (count === MALFORMED) return MALFORMED;
  return vector_pos + VECTOR_LENGTH_BYTES;
}

function struct_vector_count(view: DataView, elements_pos: number): number {
  if (elements_pos === ABSENT) return 0;
  return view.getUint32(elements_pos - VECTOR_LENGTH_BYTES, true);
}

function decode_order_batch(view: DataView, table_pos: number, vtable_pos: number) {
  const request_id = u64_field(view, table_pos, vtable_pos, BATCH_REQUEST_ID_FIELD);
  if (request_id === null) return malformed("OrderBatch.request_id out of bounds");
  const mode = u8_field(view, table_pos, vtable_pos, ORDER_BATCH_MODE_FIELD, Mode.committed);
  if (mode === MALFORMED) return malformed("OrderBatch.mode out of bounds");
  if (mode !== Mode.committed && mode !== Mode.accepted) return malformed(`unknown mode ${mode}`);
  const orders_pos = struct_vector(
    view, table_pos, vtable_pos, ORDER_BATCH_ORDERS_FIELD, ORDER_SIZE_BYTES,
  );
  if (orders_pos === MALFORMED) return malformed("OrderBatch.orders out of bounds");
  const order_count = struct_vector_count(view, orders_pos);
  if (order_count === 0) return decode_error(ErrorCode.batch_empty, "the batch holds no orders");
  if (order_count > BATCH_ORDERS_MAX) {
    return decode_error(
      ErrorCode.batch_too_large,
      `the batch holds ${order_count} orders, more than ${BATCH_ORDERS_MAX}`,
    );
  }
  return {
    type: "order_batch" as const,
    request_id,
    mode,
    orders_byte_offset: orders_pos,
    order_count,
  };
}

function decode_batch_results(view: DataView, table_pos: number, vtable_pos: number) {
  const request_id = u64_field(view, table_pos, vtable_pos, BATCH_REQUEST_ID_FIELD);
  if (request_id === null) return malformed("BatchResults.request_id out of bounds");
  const results_pos = struct_vector(
    view, table_pos, vtable_pos, BATCH_RESULTS_RESULTS_FIELD, RESULT_SIZE_BYTES,
  );
  if (results_pos === MALFORMED) return malformed("BatchResults.results out of bounds");
  const result_count = struct_vector_count(view, results_pos);
  if (result_count > BATCH_ORDERS_MAX) {
    return malformed(`${result_count} results, more than ${BATCH_ORDERS_MAX}`);
  }
  return {
    type: "batch_results" as const,
    request_id,
    results_byte_offset: results_pos,
    result_count,
  };
}
