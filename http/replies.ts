// How refusals and decode errors become HTTP responses: one status code and one error code each,
// in the body's own format (a FlatBuffers Error frame, or JSON for JSON callers).

import { assert, assert_never } from "../common/assert.ts";
import { ErrorCode } from "../schema/generated/balance/wire/error-code.ts";
import { encode_error } from "../schema/codec.ts";
import type { Refusal } from "../schema/refusal.ts";
import type { RoutingMapNode } from "../schema/routing_map.ts";

export const FLATBUFFERS_TYPE = "application/x-flatbuffers";
export const JSON_TYPE = "application/json";
export const RETRY_AFTER_BUSY_MS = 50;
export const RETRY_AFTER_DISK_FULL_MS = 1_000;

export type BodyFormat = "flatbuffers" | "json";

export interface ErrorReply {
  http_status: number;
  code: ErrorCode;
  message: string;
  retry_after_ms: number;
}

export function refusal_reply(refusal: Refusal): ErrorReply {
  switch (refusal) {
    case "busy":
      return { http_status: 503, code: ErrorCode.busy, retry_after_ms: RETRY_AFTER_BUSY_MS,
        message: "ring or partner share full: retry the same orders later" };
    case "disk_full":
      return { http_status: 507, code: ErrorCode.disk_full, retry_after_ms: RETRY_AFTER_DISK_FULL_MS,
        message: "the journal cannot be written (disk full): nothing was accepted" };
    case "not_ready":
      return { http_status: 503, code: ErrorCode.not_ready, retry_after_ms: RETRY_AFTER_DISK_FULL_MS,
        message: "recovering: not serving yet" };
    case "shutting_down":
      return { http_status: 503, code: ErrorCode.shutting_down, retry_after_ms: RETRY_AFTER_DISK_FULL_MS,
        message: "shutting down: send to another node or retry" };
    case "timeout":
      return { http_status: 504, code: ErrorCode.busy, retry_after_ms: RETRY_AFTER_BUSY_MS,
        message: "not durable in time: the outcome is unknown, retry with the same order ids" };
    case "not_primary":
      return not_primary_reply(null, null);
    default:
      return assert_never(refusal, "refusal");
  }
}

/**
 * A read of a group this node does not lead: 421, naming the group and its primary's addresses
 * when known, so a client can go there at once (or read the routing map, GET /cluster/map).
 */
export function not_primary_reply(group: number | null,
  primary: RoutingMapNode | null): ErrorReply {
  const which = group === null ? "the group" : `group ${group}`;
  const where = primary === null
    ? "its primary is not known here: read the routing map (GET /cluster/map)"
    : `its primary is node ${primary.id} at http://${primary.http} and tcp://${primary.tcp}`;
  return { http_status: error_status(ErrorCode.not_primary), code: ErrorCode.not_primary,
    retry_after_ms: 0, message: `this node does not lead ${which}: ${where}` };
}

/** The HTTP status of an error code: every code decided here (none is no error at all). */
export function error_status(code: ErrorCode): number {
  switch (code) {
    case ErrorCode.malformed_frame:
    case ErrorCode.wrong_identifier:
    case ErrorCode.unsupported_version:
    case ErrorCode.batch_empty:
      return 400;
    case ErrorCode.frame_too_large:
    case ErrorCode.batch_too_large:
      return 413;
    case ErrorCode.unsupported_media_type:
      return 415;
    case ErrorCode.not_found:
      return 404;
    case ErrorCode.not_authenticated:
    case ErrorCode.token_invalid:
    case ErrorCode.token_expired:
    case ErrorCode.token_revoked:
    case ErrorCode.unknown_key:
      return 401;
    case ErrorCode.forbidden:
      return 403;
    case ErrorCode.too_many_in_flight:
    case ErrorCode.too_many_connections:
      return 429;
    case ErrorCode.frame_timeout:
      return 408;
    case ErrorCode.not_primary:
      return 421; // Misdirected Request: another node serves it
    case ErrorCode.busy:
    case ErrorCode.not_ready:
    case ErrorCode.shutting_down:
      return 503;
    case ErrorCode.disk_full:
      return 507;
    case ErrorCode.none: // no error at all: a caller's mistake
      assert(false, "error code none is no error");
    default:
      return assert_never(code, "error code");
  }
}

export function error_response(format: BodyFormat, reply: ErrorReply, request_id = 0n): Response {
  const headers: Record<string, string> = {};
  if (reply.retry_after_ms > 0) headers["retry-after"] = String(Math.ceil(reply.retry_after_ms / 1000));
  if (format === "flatbuffers") {
    headers["content-type"] = FLATBUFFERS_TYPE;
    const frame = encode_error(request_id, reply.code, reply.message, reply.retry_after_ms);
    return new Response(frame, { status: reply.http_status, headers });
  }
  headers["content-type"] = JSON_TYPE;
  const body = { error: ErrorCode[reply.code], message: reply.message,
    retry_after_ms: reply.retry_after_ms };
  return new Response(JSON.stringify(body), { status: reply.http_status, headers });
}

export function bad_request(format: BodyFormat, code: ErrorCode, message: string, request_id = 0n)
  : Response {
  return error_response(format, { http_status: error_status(code), code, message, retry_after_ms: 0 },
    request_id);
}

export function json_response(body: unknown, http_status = 200): Response {
  return json_text_response(JSON.stringify(body), http_status);
}

/** A reply whose JSON is already written, as text or as bytes (schema/json.ts,
 * results_reply_json_bytes). */
export function json_text_response(text: string | Uint8Array, http_status = 200): Response {
  return new Response(text, { status: http_status, headers: { "content-type": JSON_TYPE } });
}

export function is_refusal(value: unknown): value is Refusal {
  return value === "busy" || value === "disk_full" || value === "not_ready" ||
    value === "shutting_down" || value === "timeout" || value === "not_primary";
}
