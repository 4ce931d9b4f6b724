// A small HTTP client of the balance service for tests: batches as JSON or as FlatBuffers frames,
// account and order reads, and the counters of /metrics. Replies are returned as they came (status
// and decoded body), so tests can assert on error codes as well as on results. Requests carry the
// bearer token registered for their base URL (ServiceProcess.start registers an internal token);
// an `authorization` header passed by the caller wins (`""` sends none).

import { ORDER_SIZE_BYTES, RESULT_SIZE_BYTES } from "../common/constants.ts";
import { decode_frame, encode_order_batch } from "../schema/codec.ts";
import { ErrorCode } from "../schema/generated/balance/wire/error-code.ts";
import { Mode } from "../schema/generated/balance/wire/mode.ts";
import { Op } from "../schema/generated/balance/wire/op.ts";
import { Status } from "../schema/generated/balance/wire/status.ts";
import type { AccountInfoJson, ResultJson } from "../schema/json.ts";
import { read_result_fields, write_order_fields } from "../schema/layout.ts";

export const FLATBUFFERS_TYPE = "application/x-flatbuffers";
const REQUEST_TIMEOUT_MS = 15_000;

export interface TestOrder {
  id: bigint;
  op: Op;
  partner: number;
  account: bigint;
  amount: bigint;
  currency: number;
  ref?: bigint;
  linked?: boolean;
}

/** One order's result, in the JSON shape whichever format it came in. */
export type Result = ResultJson;

export type Reply =
  | { kind: "results"; http_status: number; results: Result[] }
  | { kind: "error"; http_status: number; error: string; message: string; content_type: string }
  | { kind: "other"; http_status: number; body: string; content_type: string };

const tokens = new Map<string, string>();

/** The bearer token every request to base_url carries from now on (null: none). */
export function use_token(base_url: string, token: string | null): void {
  if (token === null) tokens.delete(base_url);
  else tokens.set(base_url, token);
}

/** `authorization: Bearer <token>` for base_url's registered token, or nothing. */
export function auth_headers(base_url: string): Record<string, string> {
  const token = tokens.get(base_url);
  return token === undefined ? {} : { authorization: `Bearer ${token}` };
}

function with_auth(base_url: string, headers: Record<string, string>): Record<string, string> {
  const merged = { ...auth_headers(base_url), ...headers };
  if (merged.authorization === "") delete merged.authorization;
  return merged;
}

export function order_bytes(orders: readonly TestOrder[]): Uint8Array {
  const bytes = new Uint8Array(orders.length * ORDER_SIZE_BYTES);
  const view = new DataView(bytes.buffer);
  orders.forEach((order, k) => write_order_fields(view, k * ORDER_SIZE_BYTES, {
    id: order.id, account: order.account, amount: order.amount, ref: order.ref ?? 0n,
    partner: order.partner, currency: order.currency, op: order.op, flags: order.linked ? 1 : 0,
  }));
  return bytes;
}

export function order_frame(orders: readonly TestOrder[], mode = Mode.committed, request_id = 1n)
  : Uint8Array {
  return encode_order_batch(request_id, mode, order_bytes(orders), orders.length);
}

export function order_json(order: TestOrder): Record<string, unknown> {
  const json: Record<string, unknown> = {
    id: order.id.toString(), op: Op[order.op], partner: order.partner,
    account: order.account.toString(), amount: order.amount.toString(), currency: order.currency,
  };
  if (order.ref !== undefined) json.ref = order.ref.toString();
  if (order.linked) json.linked = true;
  return json;
}

export function batch_json(orders: readonly TestOrder[], mode: "committed" | "accepted" = "committed")
  : string {
  return JSON.stringify({ mode, orders: orders.map(order_json) });
}

/** A reply body decoded by its content type: BatchResults or Error frames, or JSON. */
export async function decode_reply(response: Response): Promise<Reply> {
  const http_status = response.status;
  const content_type = response.headers.get("content-type") ?? "";
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (content_type.startsWith(FLATBUFFERS_TYPE)) {
    const frame = decode_frame(bytes);
    if (frame.type === "batch_results") {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const results: Result[] = [];
      for (let k = 0; k < frame.result_count; k++) {
        const r = read_result_fields(view, frame.results_byte_offset + k * RESULT_SIZE_BYTES);
        results.push({
          id: r.order_id.toString(), status: Status[r.status] ?? `unknown_${r.status}`,
          sequence: r.sequence.toString(), balance: r.balance.toString(),
          available: r.available.toString(), replayed: r.replayed,
        });
      }
      return { kind: "results", http_status, results };
    }
    if (frame.type === "error") {
      return { kind: "error", http_status, error: ErrorCode[frame.code] ?? String(frame.code),
        message: frame.message, content_type };
    }
    return { kind: "other", http_status, body: `${frame.type} frame`, content_type };
  }
  const text = new TextDecoder().decode(bytes);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { kind: "other", http_status, body: text, content_type };
  }
  if (typeof json === "object" && json !== null) {
    const object = json as Record<string, unknown>;
    if (Array.isArray(object.results)) return { kind: "results", http_status, results: object.results as Result[] };
    if (typeof object.error === "string") {
      return { kind: "error", http_status, error: object.error, message: String(object.message ?? ""),
        content_type };
    }
  }
  return { kind: "other", http_status, body: text, content_type };
}

export async function post(base_url: string, path: string, body: RequestInit["body"],
  headers: Record<string, string> = {}): Promise<Reply> {
  const response = await fetch(`${base_url}${path}`, {
    method: "POST", body, headers: with_auth(base_url, headers),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  return decode_reply(response);
}

export function post_json_batch(base_url: string, body: string): Promise<Reply> {
  return post(base_url, "/v1/batches", body, { "content-type": "application/json" });
}

export function post_frame_batch(base_url: string, frame: Uint8Array): Promise<Reply> {
  return post(base_url, "/v1/batches", frame, { "content-type": FLATBUFFERS_TYPE });
}

export async function get(base_url: string, path: string, headers: Record<string, string> = {})
  : Promise<{ http_status: number; json: Record<string, unknown> | null; text: string }> {
  const response = await fetch(`${base_url}${path}`,
    { headers: with_auth(base_url, headers), signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  const text = await response.text();
  let json: Record<string, unknown> | null = null;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === "object" && parsed !== null) json = parsed as Record<string, unknown>;
  } catch {
    // not JSON: left null
  }
  return { http_status: response.status, json, text };
}

/** An account's figures, or null when it is not found (404); any other answer throws. */
export async function read_account(base_url: string, partner: number, account: bigint)
  : Promise<AccountInfoJson | null> {
  const reply = await get(base_url, `/v1/partners/${partner}/accounts/${account}`);
  if (reply.http_status === 404 && reply.json?.error === "not_found") return null;
  if (reply.http_status !== 200) {
    throw new Error(`read of account ${partner}/${account}: ${reply.http_status} ${reply.text}`);
  }
  return reply.json as unknown as AccountInfoJson;
}

/** Reads refused `busy` (a burst filled the ring or the partner's share) are tried this often. */
const READ_BUSY_ATTEMPTS_MAX = 20;

/**
 * An order's result, or null when it is not in the window (404); any other answer throws. A
 * `busy` refusal is retried after its retry_after_ms, as the protocol asks of a client (tests read
 * many orders of one partner at once).
 */
export async function read_order(base_url: string, partner: number, id: bigint | string)
  : Promise<Result | null> {
  let reply = await get(base_url, `/v1/partners/${partner}/orders/${id}`);
  for (let attempt = 1; attempt < READ_BUSY_ATTEMPTS_MAX && reply.http_status === 503 &&
    reply.json?.error === "busy"; attempt++) {
    await Bun.sleep(Number(reply.json.retry_after_ms ?? 50));
    reply = await get(base_url, `/v1/partners/${partner}/orders/${id}`);
  }
  if (reply.http_status === 404 && reply.json?.error === "not_found") return null;
  if (reply.http_status !== 200) {
    throw new Error(`read of order ${partner}/${id}: ${reply.http_status} ${reply.text}`);
  }
  return reply.json as unknown as Result;
}

/** Opens an account through the admin route; returns the open order's result. */
export async function open_account(base_url: string, partner: number, account: bigint,
  currency: number, kind = "user"): Promise<Result> {
  const reply = await post(base_url, `/v1/partners/${partner}/accounts`,
    JSON.stringify({ account: account.toString(), kind, currency }),
    { "content-type": "application/json" });
  if (reply.kind !== "other" || reply.http_status !== 200) {
    throw new Error(`open of account ${partner}/${account}: ${JSON.stringify(reply)}`);
  }
  return JSON.parse(reply.body) as Result;
}

/** /metrics balance_orders_total by status. */
export async function orders_total(base_url: string): Promise<Map<string, number>> {
  const reply = await get(base_url, "/metrics");
  if (reply.http_status !== 200) throw new Error(`/metrics: ${reply.http_status} ${reply.text}`);
  const totals = new Map<string, number>();
  for (const line of reply.text.split("\n")) {
    const match = /^balance_orders_total\{status="([^"]+)"\} (\d+)$/.exec(line);
    if (match !== null) totals.set(match[1]!, Number(match[2]));
  }
  return totals;
}

/** Runs `tasks` with at most `limit` at a time; resolves with their results in order. */
export async function with_concurrency<T>(limit: number, tasks: (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, tasks.length) }, async () => {
    while (next < tasks.length) {
      const index = next++;
      results[index] = await tasks[index]!();
    }
  });
  await Promise.all(runners);
  return results;
}
