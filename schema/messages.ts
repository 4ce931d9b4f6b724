// The message types of schema/balance.fbs as plain objects: what the encoders take and the decoders
// return. One rule for 64-bit fields: BigInt here (these messages are per request, not per order);
// the per-order hot path never builds these, it moves raw Order / Result structs
// (schema/layout.ts).

import type { AccountKind } from "./generated/balance/wire/account-kind.ts";
import type { AccountState } from "./generated/balance/wire/account-state.ts";
import type { ErrorCode } from "./generated/balance/wire/error-code.ts";
import type { Mode } from "./generated/balance/wire/mode.ts";
import type { ProtocolVersion } from "./generated/balance/wire/protocol-version.ts";
import type { ResultFields } from "./layout.ts";

export type HelloFields = { protocol_version: ProtocolVersion; token: string };

export type HelloOkFields = {
  protocol_version: ProtocolVersion;
  partner: number; // 0 for an internal token
  internal: boolean;
  frame_size_max: number;
  in_flight_max: number;
  batch_orders_max: number;
};

// The orders stay in the frame: `orders_byte_offset` indexes the decoded bytes, where order_count
// 40-byte Order structs follow each other, ready for one Uint8Array.set into a ring slot.
export type OrderBatchView = {
  request_id: bigint;
  mode: Mode;
  orders_byte_offset: number;
  order_count: number;
};

export type BatchResultsView = {
  request_id: bigint;
  results_byte_offset: number;
  result_count: number;
};

export type AccountQueryFields = { request_id: bigint; account: bigint; partner: number };

// Keep-alive on an idle connection.
export type PingFields = { nonce: bigint };

export type AccountInfoFields = {
  request_id: bigint;
  account: bigint;
  partner: number;
  kind: AccountKind;
  currency: number;
  state: AccountState;
  overdraft_limit: bigint;
  balance: bigint;
  held: bigint;
  available: bigint;
  sequence: bigint; // the group's durable sequence the figures reflect
};

export type OrderQueryFields = { request_id: bigint; order_id: bigint; partner: number };

export type OrderStatusFields = {
  request_id: bigint;
  found: boolean;
  result: ResultFields | null; // null when not found
};

export type ErrorFields = {
  request_id: bigint;
  code: ErrorCode;
  message: string;
  retry_after_ms: number;
};

// The cluster's routing map: asked for on a session, answered as the JSON of a RoutingMap
// (schema/routing_map.ts), the body GET /cluster/map answers.
export type RoutingMapQueryFields = { request_id: bigint };
export type RoutingMapReplyFields = { request_id: bigint; json: string };

export type DecodedFrame =
  | ({ type: "hello" } & HelloFields)
  | ({ type: "hello_ok" } & HelloOkFields)
  | ({ type: "order_batch" } & OrderBatchView)
  | ({ type: "batch_results" } & BatchResultsView)
  | ({ type: "account_query" } & AccountQueryFields)
  | ({ type: "ping" } & PingFields)
  | ({ type: "pong" } & PingFields)
  | ({ type: "account_info" } & AccountInfoFields)
  | ({ type: "order_query" } & OrderQueryFields)
  | ({ type: "order_status" } & OrderStatusFields)
  | ({ type: "error" } & ErrorFields)
  | ({ type: "routing_map_query" } & RoutingMapQueryFields)
  | ({ type: "routing_map_reply" } & RoutingMapReplyFields);

// Why a frame (or a JSON body) was refused: `error` is the code to answer with.
export type DecodeError = { type: "decode_error"; error: ErrorCode; message: string };
