// The routing map every node serves: the cluster's settings (GROUPS, REPLICAS, the partner map)
// and per group its epoch, its primary (the lease holder) and its standbys with their in-sync flag,
// with every node's advertised addresses. Read in one REPEATABLE READ transaction, so the map is
// one moment of the control plane.

import { assert } from "../../common/assert.ts";
import { reach, type ControlPlane, type Unreachable } from "./connection.ts";
import type { ClusterSettings } from "./inputs.ts";
import { in_sync_of } from "./lease_row.ts";
import { select_settings } from "./settings.ts";

export interface NodeAddresses {
  node_id: string;
  http_address: string;
  tcp_address: string;
  replication_address: string;
  disk_id: string;
  heartbeat_at: Date;
}

export interface GroupRoute {
  group: number;
  epoch: number;
  first_sequence: number;
  primary: string;
  /** Database time; past it a standby in sync may take over. */
  expires_at: Date;
  /** The other members, in placement order. */
  standbys: { node: string; in_sync: boolean }[];
}

export interface RoutingMap {
  settings: ClusterSettings;
  /** Every registered node by id. */
  nodes: Map<string, NodeAddresses>;
  /** Placed groups by id, ascending (every group once placement has run). */
  groups: GroupRoute[];
  db_now: Date;
}

export type RoutingMapOutcome = { kind: "map"; map: RoutingMap } | { kind: "not_initialised" } |
  Unreachable;

export async function read_routing_map(plane: ControlPlane): Promise<RoutingMapOutcome> {
  return reach(() => plane.sql.begin("isolation level repeatable read read only", async (tx) => {
    const settings = await select_settings(tx);
    if (settings === null) return { kind: "not_initialised" } as const;
    const node_rows = await tx`
      select node_id, http_address, tcp_address, replication_address, disk_id, heartbeat_at
      from nodes order by node_id`;
    const group_rows = await tx`
      select group_id, epoch::float8 as epoch, first_sequence::float8 as first_sequence, holder,
        expires_at, members, in_sync
      from group_leases order by group_id`;
    const db_now_rows = await tx`select now() as db_now`;
    const nodes = new Map(node_rows.map((row) => [row.node_id as string, addresses_of(row)]));
    const groups = group_rows.map((row) => route_of(row, nodes));
    const db_now = db_now_rows[0]!.db_now as Date;
    return { kind: "map", map: { settings, nodes, groups, db_now } } as const;
  }));
}

function addresses_of(row: Record<string, unknown>): NodeAddresses {
  return {
    node_id: row.node_id as string,
    http_address: row.http_address as string,
    tcp_address: row.tcp_address as string,
    replication_address: row.replication_address as string,
    disk_id: row.disk_id as string,
    heartbeat_at: row.heartbeat_at as Date,
  };
}

function route_of(row: Record<string, unknown>, nodes: Map<string, NodeAddresses>): GroupRoute {
  const members = row.members as string[];
  const holder = row.holder as string;
  const in_sync_nodes = new Set(in_sync_of(row.in_sync).map((member) => member.node));
  for (const member of members) assert(nodes.has(member), `group member ${member} is registered`);
  assert(in_sync_nodes.has(holder), "the primary is in its own in-sync set");
  return {
    group: row.group_id as number,
    epoch: row.epoch as number,
    first_sequence: row.first_sequence as number,
    primary: holder,
    expires_at: row.expires_at as Date,
    standbys: members.filter((member) => member !== holder)
      .map((member) => ({ node: member, in_sync: in_sync_nodes.has(member) })),
  };
}
