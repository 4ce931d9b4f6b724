// Encoders of the per-request messages with the generated Builder API: off the per-order hot path,
// so the generated code (and its BigInt fields) is the simplest correct writer.

import * as flatbuffers from "flatbuffers";
import { assert } from "../common/assert.ts";
import { ERROR_MESSAGE_LENGTH_MAX } from "../common/constants.ts";
import { AccountInfo } from "./generated/balance/wire/account-info.ts";
import { AccountQuery } from "./generated/balance/wire/account-query.ts";
import type { ErrorCode } from "./generated/balance/wire/error-code.ts";
import { Error as ErrorTable } from "./generated/balance/wire/error.ts";
import { Frame } from "./generated/balance/wire/frame.ts";
import { HelloOk } from "./generated/balance/wire/hello-ok.ts";
import { Hello } from "./generated/balance/wire/hello.ts";
import { Message } from "./generated/balance/wire/message.ts";
import { OrderQuery } from "./generated/balance/wire/order-query.ts";
import { OrderStatus } from "./generated/balance/wire/order-status.ts";
import { Ping } from "./generated/balance/wire/ping.ts";
import { Pong } from "./generated/balance/wire/pong.ts";
import type { ProtocolVersion } from "./generated/balance/wire/protocol-version.ts";
import { Result } from "./generated/balance/wire/result.ts";
import { RoutingMapQuery } from "./generated/balance/wire/routing-map-query.ts";
import { RoutingMapReply } from "./generated/balance/wire/routing-map-reply.ts";
import { RESULT_FLAG_REPLAYED } from "../common/constants.ts";
import type { AccountInfoFields, HelloOkFields, OrderStatusFields } from "./messages.ts";

const BUILDER_INITIAL_SIZE_BYTES = 256;

function finish_frame(
  builder: flatbuffers.Builder,
  message_type: Message,
  message: flatbuffers.Offset,
): Uint8Array {
  const frame = Frame.createFrame(builder, message_type, message);
  Frame.finishFrameBuffer(builder, frame);
  return builder.asUint8Array();
}

function is_u32(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= 0xffff_ffff;
}

export function encode_hello(protocol_version: ProtocolVersion, token: string): Uint8Array {
  const builder = new flatbuffers.Builder(BUILDER_INITIAL_SIZE_BYTES + token.length * 3);
  const token_offset = builder.createString(token);
  const hello = Hello.createHello(builder, protocol_version, token_offset);
  return finish_frame(builder, Message.Hello, hello);
}

export function encode_hello_ok(fields: HelloOkFields): Uint8Array {
  assert(is_u32(fields.partner), "HelloOk.partner is a u32");
  assert(is_u32(fields.frame_size_max) && is_u32(fields.in_flight_max), "HelloOk limits are u32");
  assert(is_u32(fields.batch_orders_max), "HelloOk.batch_orders_max is a u32");
  const builder = new flatbuffers.Builder(BUILDER_INITIAL_SIZE_BYTES);
  const hello_ok = HelloOk.createHelloOk(
    builder,
    fields.protocol_version,
    fields.partner,
    fields.internal,
    fields.frame_size_max,
    fields.in_flight_max,
    fields.batch_orders_max,
  );
  return finish_frame(builder, Message.HelloOk, hello_ok);
}

export function encode_account_query(request_id: bigint, account: bigint, partner = 0): Uint8Array {
  assert(is_u32(partner), "AccountQuery.partner is a u32");
  const builder = new flatbuffers.Builder(BUILDER_INITIAL_SIZE_BYTES);
  const query = AccountQuery.createAccountQuery(builder, request_id, account, partner);
  return finish_frame(builder, Message.AccountQuery, query);
}

/** A Ping (keep-alive) or the Pong that answers it. */
export function encode_ping(nonce: bigint, pong = false): Uint8Array {
  const builder = new flatbuffers.Builder(BUILDER_INITIAL_SIZE_BYTES);
  if (pong) return finish_frame(builder, Message.Pong, Pong.createPong(builder, nonce));
  return finish_frame(builder, Message.Ping, Ping.createPing(builder, nonce));
}

export function encode_routing_map_query(request_id: bigint): Uint8Array {
  const builder = new flatbuffers.Builder(BUILDER_INITIAL_SIZE_BYTES);
  const query = RoutingMapQuery.createRoutingMapQuery(builder, request_id);
  return finish_frame(builder, Message.RoutingMapQuery, query);
}

/** `json`: the JSON of a RoutingMap (schema/routing_map.ts), as GET /cluster/map answers it. */
export function encode_routing_map_reply(request_id: bigint, json: string): Uint8Array {
  const builder = new flatbuffers.Builder(BUILDER_INITIAL_SIZE_BYTES + json.length * 3);
  const json_offset = builder.createString(json);
  const reply = RoutingMapReply.createRoutingMapReply(builder, request_id, json_offset);
  return finish_frame(builder, Message.RoutingMapReply, reply);
}

export function encode_account_info(fields: AccountInfoFields): Uint8Array {
  assert(is_u32(fields.partner), "AccountInfo.partner is a u32");
  const builder = new flatbuffers.Builder(BUILDER_INITIAL_SIZE_BYTES);
  const info = AccountInfo.createAccountInfo(
    builder,
    fields.request_id,
    fields.account,
    fields.partner,
    fields.kind,
    fields.currency,
    fields.state,
    fields.overdraft_limit,
    fields.balance,
    fields.held,
    fields.available,
    fields.sequence,
  );
  return finish_frame(builder, Message.AccountInfo, info);
}

export function encode_order_query(
  request_id: bigint,
  order_id: bigint,
  partner: number,
): Uint8Array {
  assert(is_u32(partner), "OrderQuery.partner is a u32");
  const builder = new flatbuffers.Builder(BUILDER_INITIAL_SIZE_BYTES);
  const query = OrderQuery.createOrderQuery(builder, request_id, order_id, partner);
  return finish_frame(builder, Message.OrderQuery, query);
}

export function encode_order_status(fields: OrderStatusFields): Uint8Array {
  assert(fields.found === (fields.result !== null), "an order status has a result iff found");
  const builder = new flatbuffers.Builder(BUILDER_INITIAL_SIZE_BYTES);
  OrderStatus.startOrderStatus(builder);
  OrderStatus.addRequestId(builder, fields.request_id);
  OrderStatus.addFound(builder, fields.found);
  const result = fields.result;
  if (result !== null) {
    // A struct field is written inline, right before it is added to the table.
    const flags = result.replayed ? RESULT_FLAG_REPLAYED : 0;
    const result_offset = Result.createResult(
      builder, result.order_id, result.sequence, result.balance, result.available, result.status,
      flags, 0, 0,
    );
    OrderStatus.addResult(builder, result_offset);
  }
  const status = OrderStatus.endOrderStatus(builder);
  return finish_frame(builder, Message.OrderStatus, status);
}

// `message` is cut to ERROR_MESSAGE_LENGTH_MAX characters, so an error frame stays small whatever
// input it quotes.
export function encode_error(
  request_id: bigint,
  code: ErrorCode,
  message: string,
  retry_after_ms: number,
): Uint8Array {
  assert(is_u32(retry_after_ms), "Error.retry_after_ms is a u32");
  const text = message.length > ERROR_MESSAGE_LENGTH_MAX
    ? message.slice(0, ERROR_MESSAGE_LENGTH_MAX)
    : message;
  const builder = new flatbuffers.Builder(BUILDER_INITIAL_SIZE_BYTES + text.length * 3);
  const message_offset = builder.createString(text);
  const error = ErrorTable.createError(builder, request_id, code, message_offset, retry_after_ms);
  return finish_frame(builder, Message.Error, error);
}
