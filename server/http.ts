// The HTTP front door (Bun.serve): batches in FlatBuffers or JSON, account and order reads,
// account administration, the cluster's routing map, health, readiness and metrics. Every
// malformed or out-of-limit input is answered with its own error and reaches no engine. Every /v1
// route and /cluster/map authenticate their bearer token first (401) and /v1 routes check what the
// principal may touch (403); /healthz, /readyz and /metrics are open.

import { HTTP_BODY_SIZE_BYTES_MAX, ORDER_SIZE_BYTES } from "../common/constants.ts";
import type { ServiceNode } from "../node/service_node.ts";
import { ErrorCode } from "../schema/generated/balance/wire/error-code.ts";
import { Mode } from "../schema/generated/balance/wire/mode.ts";
import { decode_frame, encode_batch_results } from "../schema/codec.ts";
import { parse_batch_json_bytes, results_reply_json_bytes } from "../schema/json.ts";
import { handle_group_move } from "./http_cluster.ts";
import { authenticate_request, forbidden_response } from "../auth/http_auth.ts";
import { authorize_orders, type Authenticator, type Principal } from "../auth/principal.ts";
import { handle_admin, handle_group_state, handle_open_account } from "./http_admin.ts";
import { handle_read_account, handle_read_order } from "./http_reads.ts";
import { handle_in_sync_probe, IN_SYNC_PROBE_PATH } from "./http_probes.ts";
import type { ClusterView } from "../router/leadership.ts";
import type { TlsWatch } from "../auth/tls.ts";
import { TlsFollowingListener } from "../auth/tls_listener.ts";
import {
  FLATBUFFERS_TYPE, bad_request, error_response, is_refusal, json_response, json_text_response,
  refusal_reply, type BodyFormat,
} from "../http/replies.ts";

/** How far above HTTP_BODY_SIZE_BYTES_MAX Bun itself still accepts a body (to refuse it well). */
const HTTP_TRANSPORT_BODY_FACTOR = 16;

export interface HttpServerOptions {
  host: string;
  port: number;
  /** null: AUTH=off, and no request is authenticated (handlers are given AUTH_OFF). */
  auth: Authenticator | null;
  /** The groups this node leads and the routing map it serves (GET /cluster/map). */
  cluster: ClusterView;
  /** HTTPS with this certificate, followed as it rotates; absent or null: plain HTTP. */
  tls?: TlsWatch | null;
}

/** The principal handlers get with AUTH=off: no checks at all. */
export const AUTH_OFF = null;
export type RequestPrincipal = Principal | typeof AUTH_OFF;
type Handler = (req: Request, principal: RequestPrincipal) => Promise<Response>;

export function start_http_server(node: ServiceNode, options: HttpServerOptions) {
  const auth = options.auth;
  // 401s and 403s are counted with every other status (balance_http_responses_total).
  const counted = (handler: Handler) =>
    async (req: Request): Promise<Response> => {
      const response = await authenticated(auth, req, handler);
      node.metrics.count_http(response.status);
      return response;
    };
  const tls = options.tls ?? null;
  return new TlsFollowingListener((port, material) => Bun.serve({
    hostname: options.host,
    port,
    ...(material === undefined ? {} : { tls: material, reusePort: true }),
    // Bun's own cap sits above ours so an oversized body still gets our specific error (413
    // frame_too_large, checked from content-length before reading); past Bun's cap it answers a
    // bare 413 itself and never buffers more.
    maxRequestBodySize: HTTP_BODY_SIZE_BYTES_MAX * HTTP_TRANSPORT_BODY_FACTOR,
    routes: {
      "/healthz": () => json_response({ status: "alive" }),
      "/readyz": () => node.ready && node.accepting
        ? json_response({ status: "ready", recovery_seconds: node.metrics.recovery_seconds })
        : json_response({ status: node.accepting ? "recovering" : "shutting_down" }, 503),
      [IN_SYNC_PROBE_PATH]: () => handle_in_sync_probe(node),
      "/metrics": () => new Response(node.metrics.render({
        ring_depths: () => node.ring_depths(),
        durable_sequences: () => node.router.durable_sequence,
        in_flight: () => node.router.in_flight,
      }), { headers: { "content-type": "text/plain; version=0.0.4" } }),
      "/v1/batches": { POST: counted((req, principal) => handle_batch(node, req, principal)) },
      "/v1/partners/:partner/accounts": {
        POST: counted((req, principal) => handle_open_account(node, req, principal)),
      },
      "/v1/partners/:partner/accounts/:account": {
        GET: counted((req, principal) =>
          handle_read_account(node, options.cluster, req, principal)),
      },
      "/v1/partners/:partner/accounts/:account/:action": {
        POST: counted((req, principal) => handle_admin(node, req, principal)),
      },
      "/v1/partners/:partner/orders/:order": {
        GET: counted((req, principal) => handle_read_order(node, options.cluster, req, principal)),
      },
      "/cluster/map": { GET: counted(async () => json_response(options.cluster.routing_map())) },
      "/admin/groups/:group/state": {
        GET: counted((req, principal) => handle_group_state(node, options.cluster, req, principal)),
      },
      "/admin/groups/:group/move": {
        POST: counted((req, principal) => handle_group_move(node, req, principal)),
      },
    },
    fetch: (req) => bad_request(format_of(req), ErrorCode.not_found,
      `no route for ${req.method} ${new URL(req.url).pathname}`),
    error: (error) => {
      console.error("http handler failed:", error);
      return json_response({ error: "internal", message: "internal error" }, 500);
    },
  }), options.port, tls, "HTTPS");
}

/** Runs a handler with the request's principal, or answers 401 (AUTH=off: no check at all). */
async function authenticated(auth: Authenticator | null, req: Request, handler: Handler)
  : Promise<Response> {
  if (auth === null) return handler(req, AUTH_OFF);
  const principal = await authenticate_request(auth, req, format_of);
  if (principal instanceof Response) return principal;
  return handler(req, principal);
}

function format_of(req: Request): BodyFormat {
  const type = req.headers.get("content-type") ?? req.headers.get("accept") ?? "";
  return type.startsWith(FLATBUFFERS_TYPE) || type.startsWith("application/octet-stream")
    ? "flatbuffers" : "json";
}

/** Refusals that apply before a body is even read. */
export function node_refusal(node: ServiceNode, format: BodyFormat): Response | null {
  if (!node.accepting) return error_response(format, refusal_reply("shutting_down"));
  if (!node.ready) return error_response(format, refusal_reply("not_ready"));
  if (node.control.disk_full()) return error_response(format, refusal_reply("disk_full"));
  return null;
}

async function read_body(req: Request, format: BodyFormat): Promise<Uint8Array | Response> {
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > HTTP_BODY_SIZE_BYTES_MAX) {
    return bad_request(format, ErrorCode.frame_too_large,
      `body of ${declared} bytes exceeds ${HTTP_BODY_SIZE_BYTES_MAX}`);
  }
  // Over an ArrayBuffer of its own: decode_frame views it through a DataView (.buffer).
  const body = new Uint8Array(await req.arrayBuffer());
  if (body.byteLength > HTTP_BODY_SIZE_BYTES_MAX) {
    return bad_request(format, ErrorCode.frame_too_large, `body exceeds ${HTTP_BODY_SIZE_BYTES_MAX} bytes`);
  }
  if (body.byteLength === 0) return bad_request(format, ErrorCode.batch_empty, "empty body");
  return body;
}

async function handle_batch(node: ServiceNode, req: Request, principal: RequestPrincipal)
  : Promise<Response> {
  const content_type = (req.headers.get("content-type") ?? "").split(";")[0]!.trim();
  const format: BodyFormat | null = content_type === "application/json" ? "json"
    : content_type === FLATBUFFERS_TYPE || content_type === "application/octet-stream"
      ? "flatbuffers" : null;
  if (format === null) {
    return bad_request("json", ErrorCode.unsupported_media_type,
      `content-type must be ${FLATBUFFERS_TYPE} or application/json, got "${content_type}"`);
  }
  const refused = node_refusal(node, format);
  if (refused !== null) return refused;
  const body = await read_body(req, format);
  if (body instanceof Response) return body;
  const batch = decode_batch(body, format);
  if (batch instanceof Response) return batch;
  if (principal !== AUTH_OFF) {
    const orders = new DataView(batch.orders.buffer, batch.orders.byteOffset, batch.orders.byteLength);
    const forbidden = authorize_orders(principal, orders, batch.count);
    if (forbidden !== null) return forbidden_response(format, forbidden, batch.request_id);
  }
  let reply: Uint8Array;
  try {
    // The reply's bytes are written from the results where the router has them (lent, reused).
    reply = await node.router.submit_read(batch.orders, batch.count, batch.mode,
      format === "flatbuffers"
        ? (results) => encode_batch_results(batch.request_id, results, batch.count)
        : (results) => results_reply_json_bytes(
          new DataView(results.buffer, results.byteOffset, results.byteLength), 0, batch.count));
  } catch (refusal) {
    if (!is_refusal(refusal)) throw refusal;
    node.metrics.count_batch(refusal);
    return error_response(format, refusal_reply(refusal), batch.request_id);
  }
  node.metrics.count_batch(batch.mode === Mode.accepted ? "accepted" : "committed");
  const http_status = batch.mode === Mode.accepted ? 202 : 200;
  if (format === "flatbuffers") {
    return new Response(reply, {
      status: http_status, headers: { "content-type": FLATBUFFERS_TYPE },
    });
  }
  return json_text_response(reply, http_status);
}

interface DecodedBatch {
  request_id: bigint;
  mode: Mode;
  orders: Uint8Array;
  count: number;
}

function decode_batch(body: Uint8Array, format: BodyFormat): DecodedBatch | Response {
  if (format === "json") {
    const parsed = parse_batch_json_bytes(body);
    if (parsed.type === "decode_error") return bad_request(format, parsed.error, parsed.message);
    return { request_id: 0n, mode: parsed.mode, orders: parsed.orders_bytes, count: parsed.order_count };
  }
  const frame = decode_frame(body);
  if (frame.type === "decode_error") return bad_request(format, frame.error, frame.message);
  if (frame.type !== "order_batch") {
    return bad_request(format, ErrorCode.malformed_frame, `expected an OrderBatch, got ${frame.type}`);
  }
  const start = frame.orders_byte_offset;
  return {
    request_id: frame.request_id,
    mode: frame.mode,
    orders: body.subarray(start, start + frame.order_count * ORDER_SIZE_BYTES),
    count: frame.order_count,
  };
}
