// The cluster as this node's front doors see it (router/leadership.ts ClusterView): which groups
// it leads (its engine adopted them), and the routing map as the control plane last said, in the
// wire shape every client reads (schema/routing_map.ts).

import type { RoutingMap as PlaneRoutingMap } from "../cluster/control_plane/routing_map.ts";
import type { ClusterView } from "../router/leadership.ts";
import type { RoutingMap, RoutingMapNode } from "../schema/routing_map.ts";

export interface ClusterViewSource {
  readonly leads: Uint8Array;
  plane_map(): PlaneRoutingMap | null;
}

/** The plane's map in the wire shape; null before the first read. */
export function wire_map(plane: PlaneRoutingMap): RoutingMap {
  return {
    version: 1,
    groups: plane.settings.groups,
    group_map: [...plane.settings.partner_map].sort(([a], [b]) => a - b),
    nodes: [...plane.nodes.values()].map((node) => ({
      id: node.node_id, http: node.http_address, tcp: node.tcp_address,
    })),
    group_primaries: plane.groups.map((route) => ({
      group: route.group, epoch: route.epoch, primary: route.primary,
      standbys: route.standbys.map((standby) => ({ ...standby })),
    })),
  };
}

export function cluster_view(source: ClusterViewSource): ClusterView {
  let converted_from: PlaneRoutingMap | null = null;
  let converted: RoutingMap | null = null;
  const current = (): RoutingMap | null => {
    const plane = source.plane_map();
    if (plane === null) return null;
    if (plane !== converted_from) {
      converted = wire_map(plane);
      converted_from = plane;
    }
    return converted;
  };
  return {
    leads: (group) => source.leads[group] === 1,
    routing_map: () => current()!,
    primary_of: (group): RoutingMapNode | null => {
      const map = current();
      const primary = map?.group_primaries.find((g) => g.group === group)?.primary;
      return map?.nodes.find((node) => node.id === primary) ?? null;
    },
  };
}
