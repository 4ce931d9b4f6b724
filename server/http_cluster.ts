// POST /admin/groups/:group/move {"to": NODE_ID}: a planned handover of a group this node leads
// to one of its in-sync standbys, or to a registered node it is not placed on, which catches up
// first (node/cluster_controller.ts move), for `bun run cluster -- move`. Internal token only. Answers 200 with the new epoch once the control plane recorded it,
// 421 when this node does not lead the group, 409 when the target cannot take it now.

import type { RequestPrincipal } from "./http.ts";
import { ErrorCode } from "../schema/generated/balance/wire/error-code.ts";
import { bad_request, json_response } from "../http/replies.ts";
import { params_of } from "../http/params.ts";
import type { ServiceNode } from "../node/service_node.ts";
import { admin_refusal, GROUP_TEXT } from "./http_admin.ts";

const NODE_ID_TEXT = /^[A-Za-z0-9._-]{1,63}$/;
const HTTP_MISDIRECTED = 421;
const HTTP_CONFLICT = 409;

export async function handle_group_move(node: ServiceNode, req: Request,
  principal: RequestPrincipal): Promise<Response> {
  const refused = admin_refusal(principal, "moving a group");
  if (refused !== null) return refused;
  const controller = node.cluster_controller;
  if (controller === null) {
    return bad_request("json", ErrorCode.not_found, "this node is not a cluster member");
  }
  const text = params_of(req).group;
  if (text === undefined || !GROUP_TEXT.test(text) || Number(text) >= node.config.groups) {
    return bad_request("json", ErrorCode.not_found, `group: 0..${node.config.groups - 1}`);
  }
  let body: unknown;
  try {
    body = await req.json();
  } catch {
    return bad_request("json", ErrorCode.malformed_frame, 'body: {"to": "<node id>"}');
  }
  const to = (body as { to?: unknown } | null)?.to;
  if (typeof to !== "string" || !NODE_ID_TEXT.test(to)) {
    return bad_request("json", ErrorCode.malformed_frame, 'body: {"to": "<node id>"}');
  }
  const result = await controller.move(Number(text), to);
  switch (result.kind) {
    case "handed_over": return json_response(result);
    case "not_leading": return json_response({ error: "not_primary", ...result }, HTTP_MISDIRECTED);
    case "not_in_sync":
    case "busy":
    case "refused": return json_response({ error: result.kind, ...result }, HTTP_CONFLICT);
  }
}
