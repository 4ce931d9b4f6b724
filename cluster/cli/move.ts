// One planned move as `cluster move`, `rebalance` and `drain` make it: POST
// /admin/groups/G/move {"to": NODE} to the group's primary (node/cluster_controller.ts move), then,
// for rebalance and drain, a wait until the target's /metrics says it leads the group (it learns
// the grant from the control plane, then its engine adopts the group).

import type { RoutingMap } from "../control_plane/routing_map.ts";
import { node_fetch } from "./node_http.ts";

/**
 * The primary answers a move after the target caught up (up to 60 s at the node,
 * MOVE_CATCH_UP_MS_MAX) and the journal drained to it (up to 10 s): the tool waits longer.
 */
export const MOVE_TIMEOUT_MS = 90_000;
/** After the handover, the target leads the group within this (its next membership ticks). */
export const MOVE_LEAD_WAIT_MS_MAX = 30_000;
const MOVE_LEAD_POLL_MS = 100;
const METRICS_TIMEOUT_MS = 1_000;

export type MoveOutcome = { kind: "moved"; body: string } | { kind: "refused"; message: string };

/** Asks the group's primary, as `map` names it, to hand the group to `target`. */
export async function request_move(map: RoutingMap, group: number, target: string,
  token: string): Promise<MoveOutcome> {
  const route = map.groups.find((g) => g.group === group);
  const primary = route === undefined ? undefined : map.nodes.get(route.primary);
  if (route === undefined || primary === undefined) {
    return { kind: "refused", message: `no group ${group} placed` };
  }
  const response = await node_fetch(primary.http_address, `/admin/groups/${group}/move`,
    { method: "POST", body: JSON.stringify({ to: target }),
      headers: { "content-type": "application/json",
        ...(token === "" ? {} : { authorization: `Bearer ${token}` }) },
      signal: AbortSignal.timeout(MOVE_TIMEOUT_MS) }).catch((error: unknown) => String(error));
  if (typeof response === "string") {
    return { kind: "refused", message: `${route.primary} at ${primary.http_address}: ${response}` };
  }
  const body = await response.text();
  if (response.status !== 200) {
    return { kind: "refused", message: `move refused by ${route.primary} (${response.status}): ` +
      body };
  }
  return { kind: "moved", body };
}

/** Waits until `http_address`'s /metrics says it leads `group`; false past the limit. */
export async function wait_leads(http_address: string, group: number): Promise<boolean> {
  const deadline_ms = performance.now() + MOVE_LEAD_WAIT_MS_MAX;
  const line = `balance_group_leader{group="${group}"} 1`;
  while (performance.now() < deadline_ms) {
    const text = await node_fetch(http_address, "/metrics",
      { signal: AbortSignal.timeout(METRICS_TIMEOUT_MS) })
      .then((response) => response.text()).catch(() => "");
    if (text.split("\n").includes(line)) return true;
    await Bun.sleep(MOVE_LEAD_POLL_MS);
  }
  return false;
}
