// Account administration over HTTP, for operators and curl: each call is one order (open_account,
// freeze, unfreeze, set_overdraft, close_account) through the same engine path as any batch, so it
// is journaled and idempotent. Send `order_id` to make a retry safe; without one the server mints
// a time-ordered id. Administration needs an internal token (403 forbidden for a partner token).
// GET /admin/groups/:group/state answers one group's engine state at a sequence, as snapshot bytes
// (router/state_capture.ts; read by `bun run reconcile`, docs/reconcile.md).

import { assert } from "../common/assert.ts";
import { ORDER_SIZE_BYTES } from "../common/constants.ts";
import { AccountKind } from "../schema/generated/balance/wire/account-kind.ts";
import { ErrorCode } from "../schema/generated/balance/wire/error-code.ts";
import { Mode } from "../schema/generated/balance/wire/mode.ts";
import { Op } from "../schema/generated/balance/wire/op.ts";
import { results_to_json } from "../schema/json.ts";
import { write_order_fields } from "../schema/layout.ts";
import type { ServiceNode } from "../node/service_node.ts";
import type { CaptureRefusal } from "../router/state_capture.ts";
import { OrderIdGenerator } from "../schema/order_id.ts";
import { forbidden_response } from "../auth/http_auth.ts";
import { AUTH_OFF, node_refusal, type RequestPrincipal } from "./http.ts";
import { parse_partner, parse_u64, params_of } from "../http/params.ts";
import {
  RETRY_AFTER_BUSY_MS, bad_request, error_response, is_refusal, json_response, not_primary_reply,
  refusal_reply,
} from "../http/replies.ts";
import type { ClusterView } from "../router/leadership.ts";

const ids = new OrderIdGenerator();
export const GROUP_TEXT = /^\d{1,4}$/;
/** A capture refused busy is retried after this: another capture of the group is being taken. */
const RETRY_AFTER_CAPTURE_BUSY_MS = 1_000;
const AMOUNT_TEXT = /^\d{1,16}$/;
const KINDS: Record<string, AccountKind> = {
  partner: AccountKind.partner, provider: AccountKind.provider, user: AccountKind.user,
};
const ACTIONS: Record<string, Op> = {
  freeze: Op.freeze, unfreeze: Op.unfreeze, close: Op.close_account, overdraft: Op.set_overdraft,
};

type JsonObject = Record<string, unknown>;

async function json_body(req: Request): Promise<JsonObject | Response> {
  const text = await req.text();
  if (text.trim() === "") return {};
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value === "object" && value !== null && !Array.isArray(value)) return value as JsonObject;
  } catch {
    // answered below
  }
  return bad_request("json", ErrorCode.malformed_frame, "body must be a JSON object");
}

/** A non-negative amount given as a decimal string (or a JSON integer). */
function amount_of(body: JsonObject, name: string): bigint | null {
  const value = body[name];
  if (value === undefined) return 0n;
  const text = typeof value === "number" && Number.isSafeInteger(value) ? String(value) : value;
  if (typeof text !== "string" || !AMOUNT_TEXT.test(text)) return null;
  return BigInt(text);
}

function order_id_of(body: JsonObject): bigint | null {
  const value = body.order_id;
  if (value === undefined) return ids.next();
  return typeof value === "string" ? parse_u64(value) : null;
}

async function submit_one(node: ServiceNode, fields: Parameters<typeof write_order_fields>[2])
  : Promise<Response> {
  const refused = node_refusal(node, "json");
  if (refused !== null) return refused;
  const order = new Uint8Array(ORDER_SIZE_BYTES);
  write_order_fields(new DataView(order.buffer), 0, fields);
  try {
    const results = await node.router.submit(order, 1, Mode.committed);
    return json_response(results_to_json(new DataView(results.buffer), 0, 1)[0]);
  } catch (refusal) {
    if (!is_refusal(refusal)) throw refusal;
    return error_response("json", refusal_reply(refusal));
  }
}

/** 403 unless the principal is internal (or AUTH=off). */
export function admin_refusal(principal: RequestPrincipal, what = "account administration")
  : Response | null {
  if (principal === AUTH_OFF || principal.kind === "internal") return null;
  return forbidden_response("json", { code: ErrorCode.forbidden,
    message: `${what} needs an internal token; this one acts for partner ${principal.partner}` });
}

export async function handle_open_account(node: ServiceNode, req: Request,
  principal: RequestPrincipal): Promise<Response> {
  const refused = admin_refusal(principal);
  if (refused !== null) return refused;
  const partner = parse_partner(params_of(req).partner);
  if (partner === null) return bad_request("json", ErrorCode.malformed_frame, "partner must be 1..2^32-1");
  const body = await json_body(req);
  if (body instanceof Response) return body;
  const account = typeof body.account === "string" ? parse_u64(body.account) : null;
  if (account === null) return bad_request("json", ErrorCode.malformed_frame, "account: a u64 as a string");
  const kind = typeof body.kind === "string" ? KINDS[body.kind] : undefined;
  if (kind === undefined) return bad_request("json", ErrorCode.malformed_frame, "kind: partner|provider|user");
  const currency = body.currency;
  if (typeof currency !== "number" || !Number.isInteger(currency) || currency < 1 || currency > 999) {
    return bad_request("json", ErrorCode.malformed_frame, "currency: an ISO 4217 numeric code");
  }
  const overdraft = amount_of(body, "overdraft_limit");
  if (overdraft === null) return bad_request("json", ErrorCode.malformed_frame, "overdraft_limit: minor units");
  const id = order_id_of(body);
  if (id === null) return bad_request("json", ErrorCode.malformed_frame, "order_id: a u64 as a string");
  return submit_one(node, { id, account, amount: overdraft, ref: BigInt(kind), partner, currency,
    op: Op.open_account, flags: 0 });
}

export async function handle_admin(node: ServiceNode, req: Request, principal: RequestPrincipal)
  : Promise<Response> {
  const refused = admin_refusal(principal);
  if (refused !== null) return refused;
  const params = params_of(req);
  const partner = parse_partner(params.partner);
  if (partner === null) return bad_request("json", ErrorCode.malformed_frame, "partner must be 1..2^32-1");
  const account = parse_u64(params.account);
  if (account === null) return bad_request("json", ErrorCode.malformed_frame, "account must be 1..2^64-1");
  const op = ACTIONS[params.action ?? ""];
  if (op === undefined) {
    return bad_request("json", ErrorCode.not_found, "action: freeze | unfreeze | close | overdraft");
  }
  const body = await json_body(req);
  if (body instanceof Response) return body;
  const amount = op === Op.set_overdraft ? amount_of(body, "overdraft_limit") : 0n;
  if (amount === null) return bad_request("json", ErrorCode.malformed_frame, "overdraft_limit: minor units");
  const id = order_id_of(body);
  if (id === null) return bad_request("json", ErrorCode.malformed_frame, "order_id: a u64 as a string");
  return submit_one(node, { id, account, amount, ref: 0n, partner, currency: 0, op, flags: 0 });
}

/** The GET /admin/groups/:group/state headers: what the bytes are, and the limits to read them. */
/** The epoch the group's state was written at: the cluster's lease, or the node's start. */
function epoch_of(node: ServiceNode, group: number): number {
  if (node.cluster_controller !== null) return node.cluster_controller.epoch_of(group);
  const recovery = node.recoveries.find((r) => r.group === group);
  assert(recovery !== undefined, `group ${group} was recovered at start`);
  return recovery.epoch; // a single node's epoch is set once per start (recovery)
}

function state_headers(node: ServiceNode, group: number, sequence: number): Record<string, string> {
  const config = node.config;
  return {
    "content-type": "application/octet-stream",
    "x-group": String(group),
    "x-groups": String(config.groups),
    "x-sequence": String(sequence),
    "x-epoch": String(epoch_of(node, group)),
    // The engine's limits, so a reader restores the bytes into an engine shaped like this one.
    "x-accounts-max": String(config.accounts_per_group),
    "x-holds-max": String(config.holds_per_group),
    "x-idempotency-entries-max": String(config.idempotency_entries_per_group),
    "x-idempotency-window-ms": String(config.idempotency_window_ms),
  };
}

function capture_refusal_response(refusal: CaptureRefusal): Response {
  if (refusal === "busy") {
    return error_response("json", { http_status: 503, code: ErrorCode.busy,
      retry_after_ms: RETRY_AFTER_CAPTURE_BUSY_MS,
      message: "a capture of this group (or the most at once) is in progress: retry later" });
  }
  return error_response("json", { http_status: 504, code: ErrorCode.busy,
    retry_after_ms: RETRY_AFTER_BUSY_MS, message: "no durable snapshot of the group in time" });
}

/** One group's state at a sequence: the bytes of a fresh snapshot, once durable (internal only). */
export async function handle_group_state(node: ServiceNode, cluster: ClusterView, req: Request,
  principal: RequestPrincipal): Promise<Response> {
  const refused = admin_refusal(principal, "reading a group's state");
  if (refused !== null) return refused;
  const text = params_of(req).group;
  if (text === undefined || !GROUP_TEXT.test(text)) {
    return bad_request("json", ErrorCode.malformed_frame, "group: a decimal number 0..GROUPS-1");
  }
  const group = Number(text);
  if (group >= node.config.groups) {
    return bad_request("json", ErrorCode.not_found,
      `no group ${group}: this service has groups 0..${node.config.groups - 1}`);
  }
  const refused_now = node_refusal(node, "json");
  if (refused_now !== null) return refused_now;
  // A cluster node holds the state of the groups it leads only (421 names the primary).
  if (!cluster.leads(group)) {
    return error_response("json", not_primary_reply(group, cluster.primary_of(group)));
  }
  try {
    const state = await node.captures.capture(group);
    return new Response(state.bytes, { headers: state_headers(node, group, state.sequence) });
  } catch (refusal) {
    if (refusal !== "busy" && refusal !== "timeout") throw refusal;
    return capture_refusal_response(refusal);
  }
}
