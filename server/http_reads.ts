// Reads: an account's figures and an order's result, answered by the engine that owns them and
// released only once the journal is durable up to what they reflect. A read of a group this node
// does not lead is answered 421 not_primary, naming the group's primary.

import { ErrorCode } from "../schema/generated/balance/wire/error-code.ts";
import { encode_account_info, encode_order_status } from "../schema/codec.ts";
import { account_info_to_json, results_to_json } from "../schema/json.ts";
import { read_result_fields } from "../schema/layout.ts";
import type { PendingRequest } from "../router/pending.ts";
import type { ServiceNode } from "../node/service_node.ts";
import { account_info_of } from "../router/query_results.ts";
import * as S from "../common/slots.ts";
import { forbidden_response } from "../auth/http_auth.ts";
import { partner_for_read } from "../auth/principal.ts";
import { AUTH_OFF, node_refusal, type RequestPrincipal } from "./http.ts";
import { parse_partner, parse_u64, params_of } from "../http/params.ts";
import {
  FLATBUFFERS_TYPE, bad_request, error_response, is_refusal, json_response, not_primary_reply,
  refusal_reply, type BodyFormat,
} from "../http/replies.ts";
import type { ClusterView } from "../router/leadership.ts";

function accept_format(req: Request): BodyFormat {
  return (req.headers.get("accept") ?? "").startsWith(FLATBUFFERS_TYPE) ? "flatbuffers" : "json";
}

async function query(node: ServiceNode, cluster: ClusterView, req: Request,
  principal: RequestPrincipal, kind: S.SlotKind, id_name: string)
  : Promise<{ request: PendingRequest; id: bigint; partner: number } | Response> {
  const format = accept_format(req);
  const params = params_of(req);
  const partner = parse_partner(params.partner);
  if (partner === null) return bad_request(format, ErrorCode.malformed_frame, "partner must be 1..2^32-1");
  if (principal !== AUTH_OFF) {
    const allowed = partner_for_read(principal, partner);
    if (typeof allowed !== "number") return forbidden_response(format, allowed);
  }
  const id = parse_u64(params[id_name]);
  if (id === null) return bad_request(format, ErrorCode.malformed_frame, `${id_name} must be 1..2^64-1`);
  const refused = node_refusal(node, format);
  if (refused !== null) return refused;
  try {
    return { request: await node.router.query(kind, partner, id), id, partner };
  } catch (refusal) {
    if (!is_refusal(refusal)) throw refusal;
    if (refusal !== "not_primary") return error_response(format, refusal_reply(refusal));
    const group = node.partitioning.group_of_partner(partner);
    return error_response(format, not_primary_reply(group, cluster.primary_of(group)));
  }
}

export async function handle_read_account(node: ServiceNode, cluster: ClusterView, req: Request,
  principal: RequestPrincipal): Promise<Response> {
  const answer = await query(node, cluster, req, principal, S.SlotKind.query_account, "account");
  if (answer instanceof Response) return answer;
  const format = accept_format(req);
  const { request, id } = answer;
  if (!request.found) return bad_request(format, ErrorCode.not_found, `account ${id} not found`);
  const info = account_info_of(0n, id, request.query_body!);
  if (format === "flatbuffers") {
    return new Response(encode_account_info(info), { headers: { "content-type": FLATBUFFERS_TYPE } });
  }
  return json_response(account_info_to_json(info));
}

export async function handle_read_order(node: ServiceNode, cluster: ClusterView, req: Request,
  principal: RequestPrincipal): Promise<Response> {
  const answer = await query(node, cluster, req, principal, S.SlotKind.query_order, "order");
  if (answer instanceof Response) return answer;
  const format = accept_format(req);
  const { request, id, partner } = answer;
  if (!request.found) {
    return bad_request(format, ErrorCode.not_found,
      `order ${id} of partner ${partner} is not in the idempotency window (unknown or older)`);
  }
  const body = request.query_body!;
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  if (format === "flatbuffers") {
    const frame = encode_order_status({ request_id: 0n, found: true, result: read_result_fields(view, 0) });
    return new Response(frame, { headers: { "content-type": FLATBUFFERS_TYPE } });
  }
  return json_response(results_to_json(view, 0, 1)[0]);
}
