// The HTTP transport: FlatBuffers bodies (application/x-flatbuffers) and
// `authorization: Bearer <token>`, through fetch for http:// and node:https for https://
// (sdk/http_request.ts). Works in Bun and Node 20+.

import { ErrorCode } from "../schema/generated/balance/wire/error-code.ts";
import { decode_frame, encode_order_batch } from "../schema/codec.ts";
import type { ResultFields } from "../schema/layout.ts";
import type { RoutingMap } from "../schema/routing_map.ts";
import {
  fetch_requester, https_requester, type HttpRequester, type HttpRequestInit,
} from "./http_request.ts";
import type { TlsOptions } from "./tls.ts";
import {
  parsed_map, type BatchOutcome, type NodeTransport, type ReadOutcome, type TransportLimits,
  type WireBatch,
} from "./transport.ts";
import { account_info, type AccountInfo } from "./types.ts";
import {
  FLATBUFFERS_TYPE, batch_results, token_of, type TokenSource,
} from "./wire.ts";

export interface HttpTransportOptions {
  /** http://host:port or https://host:port (no path). */
  base_url: string;
  token?: TokenSource;
  limits: TransportLimits;
  /** https: how the server is checked (sdk/tls.ts); the runtime's CAs when left out. */
  tls?: TlsOptions;
}

/** One answer: the body decoded, or why there is none. */
type Exchange =
  | { kind: "answer"; status: number; bytes: Uint8Array; content_type: string }
  | { kind: "lost"; message: string }
  | { kind: "unreachable"; message: string };

const HTTP_GATEWAY_TIMEOUT = 504;

export class HttpTransport implements NodeTransport {
  private readonly base_url: string;
  private readonly active = new Set<AbortController>();
  private readonly requester: HttpRequester;

  constructor(private readonly options: HttpTransportOptions) {
    this.base_url = options.base_url.replace(/\/+$/, "");
    const secure = this.base_url.startsWith("https:");
    if (!secure && options.tls !== undefined) {
      throw new RangeError(`tls options need an https:// address, got ${this.base_url}`);
    }
    this.requester = secure
      ? https_requester(options.tls ?? {}, options.limits.in_flight_max) : fetch_requester;
  }

  limits(): TransportLimits {
    return this.options.limits;
  }

  token_partner(): number {
    return 0;
  }

  async send_batch(batch: WireBatch): Promise<BatchOutcome> {
    const body = encode_order_batch(batch.request_id, batch.mode, batch.orders_bytes, batch.count);
    const exchange = await this.exchange("/v1/batches", batch.timeout_ms, {
      method: "POST", body, headers: { "content-type": FLATBUFFERS_TYPE },
    });
    if (exchange.kind !== "answer") return exchange;
    const frame = exchange.content_type.startsWith(FLATBUFFERS_TYPE)
      ? decode_frame(exchange.bytes) : null;
    if (frame !== null && frame.type === "batch_results" && exchange.status < 300) {
      const results = batch_results(exchange.bytes, frame);
      if (results.length !== batch.count) {
        return { kind: "lost", message: `${results.length} results for ${batch.count} orders` };
      }
      return { kind: "results", results };
    }
    const error = error_of(exchange);
    return { kind: "refused", ...error, applied: applied_of(exchange.status, error.code) };
  }

  async read_account(partner: number, account: bigint, timeout_ms: number)
    : Promise<ReadOutcome<AccountInfo>> {
    const path = `/v1/partners/${partner}/accounts/${account}`;
    const answer = await this.read(path, timeout_ms);
    if (answer.kind !== "found") return answer;
    const frame = decode_frame(answer.value);
    if (frame.type !== "account_info") return { kind: "lost", message: `got ${frame.type}` };
    return { kind: "found", value: account_info(frame) };
  }

  async read_order(partner: number, order_id: bigint, timeout_ms: number)
    : Promise<ReadOutcome<ResultFields>> {
    const answer = await this.read(`/v1/partners/${partner}/orders/${order_id}`, timeout_ms);
    if (answer.kind !== "found") return answer;
    const frame = decode_frame(answer.value);
    if (frame.type !== "order_status") return { kind: "lost", message: `got ${frame.type}` };
    if (!frame.found || frame.result === null) return { kind: "not_found" };
    return { kind: "found", value: frame.result };
  }

  async read_map(timeout_ms: number): Promise<ReadOutcome<RoutingMap>> {
    const exchange = await this.exchange("/cluster/map", timeout_ms,
      { method: "GET", headers: { accept: "application/json" } });
    if (exchange.kind !== "answer") return exchange;
    if (exchange.status !== 200) return { kind: "refused", ...error_of(exchange) };
    return parsed_map(new TextDecoder().decode(exchange.bytes));
  }

  close(): void {
    for (const controller of this.active) controller.abort(new Error("the client was closed"));
    this.active.clear();
    this.requester.close();
  }

  private async read(path: string, timeout_ms: number): Promise<ReadOutcome<Uint8Array>> {
    const exchange = await this.exchange(path, timeout_ms, { method: "GET" });
    if (exchange.kind !== "answer") return exchange;
    if (exchange.status === 200 && exchange.content_type.startsWith(FLATBUFFERS_TYPE)) {
      return { kind: "found", value: exchange.bytes };
    }
    const error = error_of(exchange);
    if (error.code === ErrorCode.not_found) return { kind: "not_found" };
    return { kind: "refused", ...error };
  }

  private async exchange(path: string, timeout_ms: number,
    init: Partial<Pick<HttpRequestInit, "headers" | "body">> & Pick<HttpRequestInit, "method">)
    : Promise<Exchange> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error("timeout")), timeout_ms);
    this.active.add(controller);
    let sent = false;
    try {
      const token = await token_of(this.options.token);
      const headers: Record<string, string> = { accept: FLATBUFFERS_TYPE, ...init.headers };
      if (token !== null) headers.authorization = `Bearer ${token}`;
      sent = true;
      const answer = await this.requester.request(`${this.base_url}${path}`,
        { ...init, headers, signal: controller.signal });
      return { kind: "answer", ...answer };
    } catch (error) {
      const message = error_text(error);
      if (!sent || is_connection_refused(error) || is_tls_refusal(error)) {
        return { kind: "unreachable", message };
      }
      return { kind: "lost", message };
    } finally {
      clearTimeout(timer);
      this.active.delete(controller);
    }
  }
}

/**
 * Whether a refused batch may have been applied: a 504 (not durable in time) or another 5xx that
 * is not one of the named refusals before the engine (the handler failed) leaves it unknown.
 */
function applied_of(http_status: number, code: ErrorCode): "no" | "unknown" {
  if (http_status === HTTP_GATEWAY_TIMEOUT) return "unknown";
  if (http_status < 500) return "no";
  const refused_before_engine = code === ErrorCode.busy || code === ErrorCode.not_ready ||
    code === ErrorCode.shutting_down || code === ErrorCode.disk_full;
  return refused_before_engine ? "no" : "unknown";
}

function error_text(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    return cause instanceof Error ? `${error.message}: ${cause.message}` : error.message;
  }
  return String(error);
}

/** Nothing was sent: the connection was refused (Node puts the code on `cause`, Bun on the
 *  error). */
function is_connection_refused(error: unknown): boolean {
  const codes = [error, (error as { cause?: unknown } | null)?.cause]
    .map((value) => (value as { code?: unknown } | null)?.code);
  return codes.includes("ECONNREFUSED") || codes.includes("ConnectionRefused");
}

/**
 * Nothing was sent: the TLS handshake refused the server (its certificate did not verify), which
 * happens before any request byte goes out.
 */
function is_tls_refusal(error: unknown): boolean {
  const codes = [error, (error as { cause?: unknown } | null)?.cause]
    .map((value) => (value as { code?: unknown } | null)?.code);
  return codes.some((code) => typeof code === "string" && TLS_REFUSAL.test(code));
}

const TLS_REFUSAL = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/;

const STATUS_CODES: Record<number, ErrorCode> = {
  401: ErrorCode.not_authenticated, 403: ErrorCode.forbidden, 404: ErrorCode.not_found,
  413: ErrorCode.frame_too_large, 415: ErrorCode.unsupported_media_type, 421: ErrorCode.not_primary,
  503: ErrorCode.busy,
  504: ErrorCode.busy, 507: ErrorCode.disk_full,
};

/** A refusal's Error: a FlatBuffers Error frame, a JSON {error, message}, or the HTTP status. */
function error_of(exchange: Extract<Exchange, { kind: "answer" }>)
  : { code: ErrorCode; message: string; retry_after_ms: number } {
  const fallback = {
    code: STATUS_CODES[exchange.status] ?? ErrorCode.none,
    message: `HTTP ${exchange.status}`,
    retry_after_ms: 0,
  };
  if (exchange.content_type.startsWith(FLATBUFFERS_TYPE)) {
    const frame = decode_frame(exchange.bytes);
    if (frame.type !== "error") return fallback;
    return { code: frame.code, message: frame.message, retry_after_ms: frame.retry_after_ms };
  }
  try {
    const json = JSON.parse(new TextDecoder().decode(exchange.bytes)) as Record<string, unknown>;
    const code = typeof json.error === "string"
      ? (ErrorCode as unknown as Record<string, ErrorCode | undefined>)[json.error] : undefined;
    return {
      code: code ?? fallback.code,
      message: typeof json.message === "string" ? json.message : fallback.message,
      retry_after_ms: typeof json.retry_after_ms === "number" ? json.retry_after_ms : 0,
    };
  } catch {
    return fallback;
  }
}
