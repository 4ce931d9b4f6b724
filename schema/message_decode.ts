// Decoders for the per-request messages (everything but the two batch messages), from a table that
// decode_frame has already checked. Each field read is bounds-checked; a field outside its table
// refuses the frame. Enum fields are passed through as numbers: whether a protocol version, kind or
// error code is acceptable is the reader's decision, and a newer peer may send values we do not
// know.

import { RESULT_SIZE_BYTES } from "../common/constants.ts";
import { AccountKind } from "./generated/balance/wire/account-kind.ts";
import { AccountState } from "./generated/balance/wire/account-state.ts";
import { ErrorCode } from "./generated/balance/wire/error-code.ts";
import { ProtocolVersion } from "./generated/balance/wire/protocol-version.ts";
import {
  ABSENT,
  MALFORMED,
  field_pos,
  i64_field,
  string_field,
  u16_field,
  u32_field,
  u64_field,
  u8_field,
} from "./flatbuffer_read.ts";
import { read_result_fields } from "./layout.ts";
import type { DecodeError, DecodedFrame } from "./messages.ts";

type Decoded = DecodedFrame | DecodeError;

function malformed(what: string): DecodeError {
  const message = `${what} out of bounds`;
  return { type: "decode_error", error: ErrorCode.malformed_frame, message };
}

export function decode_hello(view: DataView, table_pos: number, vtable_pos: number): Decoded {
  const protocol_version = u16_field(view, table_pos, vtable_pos, 0, ProtocolVersion.unknown);
  if (protocol_version === MALFORMED) return malformed("Hello.protocol_version");
  const token = string_field(view, table_pos, vtable_pos, 1);
  if (token === null) return malformed("Hello.token");
  return { type: "hello", protocol_version, token };
}

export function decode_hello_ok(view: DataView, table_pos: number, vtable_pos: number): Decoded {
  const protocol_version = u16_field(view, table_pos, vtable_pos, 0, ProtocolVersion.unknown);
  const partner = u32_field(view, table_pos, vtable_pos, 1, 0);
  const internal = u8_field(view, table_pos, vtable_pos, 2, 0);
  const frame_size_max = u32_field(view, table_pos, vtable_pos, 3, 0);
  const in_flight_max = u32_field(view, table_pos, vtable_pos, 4, 0);
  const batch_orders_max = u32_field(view, table_pos, vtable_pos, 5, 0);
  const fields = [protocol_version, partner, internal, frame_size_max, in_flight_max];
  if (fields.includes(MALFORMED)) return malformed("a HelloOk field");
  if (batch_orders_max === MALFORMED) return malformed("HelloOk.batch_orders_max");
  return {
    type: "hello_ok",
    protocol_version,
    partner,
    internal: internal !== 0,
    frame_size_max,
    in_flight_max,
    batch_orders_max,
  };
}

export function decode_account_query(
  view: DataView,
  table_pos: number,
  vtable_pos: number,
): Decoded {
  const request_id = u64_field(view, table_pos, vtable_pos, 0);
  const account = u64_field(view, table_pos, vtable_pos, 1);
  if (request_id === null || account === null) return malformed("an AccountQuery field");
  const partner = u32_field(view, table_pos, vtable_pos, 2, 0);
  if (partner === MALFORMED) return malformed("AccountQuery.partner");
  return { type: "account_query", request_id, account, partner };
}

/** Ping and Pong share a layout: one nonce. */
export function decode_ping(view: DataView, table_pos: number, vtable_pos: number,
  type: "ping" | "pong"): Decoded {
  const nonce = u64_field(view, table_pos, vtable_pos, 0);
  if (nonce === null) return malformed(`${type === "ping" ? "Ping" : "Pong"}.nonce`);
  return { type, nonce };
}

export function decode_account_info(
  view: DataView,
  table_pos: number,
  vtable_pos: number,
): Decoded {
  const request_id = u64_field(view, table_pos, vtable_pos, 0);
  const account = u64_field(view, table_pos, vtable_pos, 1);
  const partner = u32_field(view, table_pos, vtable_pos, 2, 0);
  const kind = u8_field(view, table_pos, vtable_pos, 3, AccountKind.none);
  const currency = u16_field(view, table_pos, vtable_pos, 4, 0);
  const state = u8_field(view, table_pos, vtable_pos, 5, AccountState.none);
  const overdraft_limit = i64_field(view, table_pos, vtable_pos, 6);
  const balance = i64_field(view, table_pos, vtable_pos, 7);
  const held = i64_field(view, table_pos, vtable_pos, 8);
  const available = i64_field(view, table_pos, vtable_pos, 9);
  const sequence = u64_field(view, table_pos, vtable_pos, 10);
  if (request_id === null || account === null || sequence === null) {
    return malformed("an AccountInfo id field");
  }
  if (overdraft_limit === null || balance === null || held === null || available === null) {
    return malformed("an AccountInfo amount field");
  }
  if ([partner, kind, currency, state].includes(MALFORMED)) {
    return malformed("an AccountInfo field");
  }
  return {
    type: "account_info",
    request_id,
    account,
    partner,
    kind,
    currency,
    state,
    overdraft_limit,
    balance,
    held,
    available,
    sequence,
  };
}

export function decode_order_query(view: DataView, table_pos: number, vtable_pos: number): Decoded {
  const request_id = u64_field(view, table_pos, vtable_pos, 0);
  const order_id = u64_field(view, table_pos, vtable_pos, 1);
  const partner = u32_field(view, table_pos, vtable_pos, 2, 0);
  if (request_id === null || order_id === null) return malformed("an OrderQuery id field");
  if (partner === MALFORMED) return malformed("OrderQuery.partner");
  return { type: "order_query", request_id, order_id, partner };
}

export function decode_order_status(
  view: DataView,
  table_pos: number,
  vtable_pos: number,
): Decoded {
  const request_id = u64_field(view, table_pos, vtable_pos, 0);
  if (request_id === null) return malformed("OrderStatus.request_id");
  const found = u8_field(view, table_pos, vtable_pos, 1, 0);
  if (found === MALFORMED) return malformed("OrderStatus.found");
  // A struct field lives inline in its table: field_pos checks all 40 bytes are inside it.
  const result_pos = field_pos(view, table_pos, vtable_pos, 2, RESULT_SIZE_BYTES);
  if (result_pos === MALFORMED) return malformed("OrderStatus.result");
  const result = result_pos === ABSENT ? null : read_result_fields(view, result_pos);
  return { type: "order_status", request_id, found: found !== 0, result };
}

export function decode_error_message(
  view: DataView,
  table_pos: number,
  vtable_pos: number,
): Decoded {
  const request_id = u64_field(view, table_pos, vtable_pos, 0);
  if (request_id === null) return malformed("Error.request_id");
  const code = u16_field(view, table_pos, vtable_pos, 1, ErrorCode.none);
  if (code === MALFORMED) return malformed("Error.code");
  const message = string_field(view, table_pos, vtable_pos, 2);
  if (message === null) return malformed("Error.message");
  const retry_after_ms = u32_field(view, table_pos, vtable_pos, 3, 0);
  if (retry_after_ms === MALFORMED) return malformed("Error.retry_after_ms");
  return { type: "error", request_id, code, message, retry_after_ms };
}

export function decode_routing_map_query(view: DataView, table_pos: number, vtable_pos: number)
  : Decoded {
  const request_id = u64_field(view, table_pos, vtable_pos, 0);
  if (request_id === null) return malformed("RoutingMapQuery.request_id");
  return { type: "routing_map_query", request_id };
}

/** The JSON is passed on as text: parse_routing_map (schema/routing_map.ts) is the reader's. */
export function decode_routing_map_reply(view: DataView, table_pos: number, vtable_pos: number)
  : Decoded {
  const request_id = u64_field(view, table_pos, vtable_pos, 0);
  if (request_id === null) return malformed("RoutingMapReply.request_id");
  const json = string_field(view, table_pos, vtable_pos, 1);
  if (json === null) return malformed("RoutingMapReply.json");
  return { type: "routing_map_reply", request_id, json };
}
