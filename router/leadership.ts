// Which groups this node leads, and the cluster as the front doors see it. The router refuses
// orders and reads of a group it does not lead (not_primary) before any ring sees them; the
// servers answer the routing map and name a group's primary in that refusal. A single node leads
// every group and is the whole map.

import { assert } from "../common/assert.ts";
import type { RoutingMap, RoutingMapNode } from "../schema/routing_map.ts";

export interface GroupLeadership {
  leads(group: number): boolean;
}

/** A single node: every group is its own. */
export const LEADS_EVERY_GROUP: GroupLeadership = { leads: () => true };

/**
 * A cluster primary's check before a read is answered (node/read_barriers.ts, Raft's ReadIndex):
 * `proceed` runs once this node is confirmed to lead `group` still, after the read's state was
 * taken; never, if it was deposed (the read then times out).
 */
export interface ReadGate {
  confirm(group: number, proceed: () => void): void;
}

export interface ClusterView extends GroupLeadership {
  routing_map(): RoutingMap;
  /** The group's primary as the map knows it, null when the map names none. */
  primary_of(group: number): RoutingMapNode | null;
}

export const SINGLE_NODE_ID = "local";
/** A single node's groups never change hands: one epoch in its map. */
const SINGLE_NODE_EPOCH = 1;

/** The map of one node that leads every group, at its own addresses (host:port each). */
export function single_node_view(http: string, tcp: string, groups: number,
  pinned: ReadonlyMap<number, number>): ClusterView {
  assert(groups >= 1, "at least one group");
  const node: RoutingMapNode = { id: SINGLE_NODE_ID, http, tcp };
  const map: RoutingMap = {
    version: 1,
    groups,
    group_map: [...pinned].sort(([a], [b]) => a - b),
    nodes: [node],
    group_primaries: Array.from({ length: groups }, (_, group) => ({
      group, epoch: SINGLE_NODE_EPOCH, primary: SINGLE_NODE_ID, standbys: [],
    })),
  };
  return {
    leads: () => true,
    routing_map: () => map,
    primary_of: () => node,
  };
}
