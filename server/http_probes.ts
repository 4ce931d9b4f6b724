// GET /readyz/in-sync: Kubernetes' readiness probe of a cluster node (deploy/k8s/, docs/deploy.md).
// 200 only when the node is ready (as /readyz) and it holds a copy that could take over without
// loss of every group it is a member of: a group it leads (its engine adopted it), or a group it
// follows whose in-sync set, as the control plane last said, names this node on its current disk
// (cluster/membership/group_roles.ts). A PodDisruptionBudget of maxUnavailable 1 counts a pod that
// answers 503 here as unavailable, so while any copy is catching up no other pod is evicted: a
// drain never takes a group's only in-sync copy. A single node (no cluster) is in sync once ready.
// Open like /readyz (the kubelet has no token); it reads only what the node holds in memory.

import { assert, assert_never } from "../common/assert.ts";
import type { ServiceNode } from "../node/service_node.ts";
import { json_response } from "../http/replies.ts";

export const IN_SYNC_PROBE_PATH = "/readyz/in-sync";

export type GroupCopy = { group: number; role: "primary" | "standby"; in_sync: boolean };

/** not_in_sync: a copy here is catching up, or a group led here is promoted or handed over. */
export type InSyncStatus = "in_sync" | "not_in_sync" | "recovering" | "shutting_down";

/** The node's copies of the groups it is a member of (none on a single node or before start). */
export function group_copies(node: ServiceNode): GroupCopy[] {
  const controller = node.cluster_controller;
  if (controller === null) return [];
  const copies: GroupCopy[] = [];
  for (let group = 0; group < node.config.groups; group++) {
    const role = controller.membership.role(group);
    switch (role.kind) {
      case "primary":
        copies.push({ group, role: "primary", in_sync: controller.leads[group] === 1 });
        break;
      case "standby":
        copies.push({ group, role: "standby", in_sync: role.in_sync });
        break;
      case "none": break;
      default: assert_never(role, "group role");
    }
  }
  return copies;
}

export function in_sync_status(node: ServiceNode, copies: readonly GroupCopy[]): InSyncStatus {
  if (!node.accepting) return "shutting_down";
  if (!node.ready) return "recovering";
  return copies.every((copy) => copy.in_sync) ? "in_sync" : "not_in_sync";
}

export function handle_in_sync_probe(node: ServiceNode): Response {
  const copies = node.ready ? group_copies(node) : [];
  const status = in_sync_status(node, copies);
  assert(status !== "in_sync" || node.ready, "in sync only once ready");
  return json_response({ status, groups: copies }, status === "in_sync" ? 200 : 503);
}
