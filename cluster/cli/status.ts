// `bun run cluster -- status`: the control plane's routing map (one REPEATABLE READ read, times
// judged by the database's clock) and each node's replication lag from its /metrics, as a table
// or as one JSON object. docs/cluster.md, "Operating: cluster status".

import { assert_never } from "../../common/assert.ts";
import { reach, type ControlPlane, type Unreachable } from "../control_plane/connection.ts";
import {
  read_routing_map, type GroupRoute, type RoutingMap,
} from "../control_plane/routing_map.ts";
import { fetch_node_metrics, lag_key, type NodeMetrics } from "./metrics.ts";

export interface NodeStatus {
  node_id: string;
  http_address: string;
  tcp_address: string;
  replication_address: string;
  disk_id: string;
  /** The database's now() minus the node's last heartbeat (database time too). */
  heartbeat_age_ms: number;
  /** Whether its /metrics answered. */
  metrics: "ok" | "unreachable";
}

export interface StandbyStatus {
  node: string;
  in_sync: boolean;
  /** From the primary's /metrics; null when the primary does not export it for this standby. */
  lag_entries: number | null | "unreachable";
}

export interface GroupStatus {
  group: number;
  epoch: number;
  first_sequence: number;
  primary: string;
  /** The lease's expiry minus the database's now(): negative once it has expired. */
  lease_expires_in_ms: number;
  standbys: StandbyStatus[];
}

export interface ClusterStatus {
  schema: string;
  database_time: string;
  groups_count: number;
  replicas: number;
  nodes: NodeStatus[];
  groups: GroupStatus[];
}

export type StatusOutcome = { kind: "status"; status: ClusterStatus } |
  { kind: "not_initialised"; why: string } | Unreachable;

/** Reads the control plane, then every node's metrics at once. */
export async function read_cluster_status(plane: ControlPlane): Promise<StatusOutcome> {
  const tables = await reach(() => plane.sql`
    select to_regclass('cluster_settings') is not null as present`);
  if ("kind" in tables) return tables;
  if (tables[0]!.present !== true) {
    return { kind: "not_initialised", why: `no control plane tables in schema ${plane.schema}` };
  }
  const outcome = await read_routing_map(plane);
  switch (outcome.kind) {
    case "unreachable":
      return outcome;
    case "not_initialised":
      return { kind: "not_initialised", why: "no cluster settings adopted yet" };
    case "map":
      return { kind: "status", status: await status_of(plane.schema, outcome.map) };
    default:
      return assert_never(outcome, "routing map outcome");
  }
}

async function status_of(schema: string, map: RoutingMap): Promise<ClusterStatus> {
  const nodes = [...map.nodes.values()];
  const answers = await Promise.all(nodes.map((node) => fetch_node_metrics(node.http_address)));
  const metrics = new Map<string, NodeMetrics>();
  nodes.forEach((node, index) => metrics.set(node.node_id, answers[index]!));
  const now_ms = map.db_now.getTime();
  return {
    schema,
    database_time: map.db_now.toISOString(),
    groups_count: map.settings.groups,
    replicas: map.settings.replicas,
    nodes: nodes.map((node) => ({
      node_id: node.node_id, http_address: node.http_address, tcp_address: node.tcp_address,
      replication_address: node.replication_address, disk_id: node.disk_id,
      heartbeat_age_ms: now_ms - node.heartbeat_at.getTime(),
      metrics: metrics.get(node.node_id)!.kind,
    })),
    groups: map.groups.map((route) => group_status_of(route, now_ms, metrics.get(route.primary))),
  };
}

function group_status_of(route: GroupRoute, now_ms: number,
  primary_metrics: NodeMetrics | undefined): GroupStatus {
  return {
    group: route.group,
    epoch: route.epoch,
    first_sequence: route.first_sequence,
    primary: route.primary,
    lease_expires_in_ms: route.expires_at.getTime() - now_ms,
    standbys: route.standbys.map((standby) => ({
      node: standby.node,
      in_sync: standby.in_sync,
      lag_entries: primary_metrics === undefined || primary_metrics.kind === "unreachable"
        ? "unreachable"
        : primary_metrics.lag.get(lag_key(route.group, standby.node)) ?? null,
    })),
  };
}

/** The status as the table `status` prints. */
export function format_status(status: ClusterStatus): string {
  const nodes = table(["NODE", "HTTP", "TCP", "REPLICATION", "HEARTBEAT", "DISK", "METRICS"],
    status.nodes.map((node) => [node.node_id, node.http_address, node.tcp_address,
      node.replication_address, `${seconds(node.heartbeat_age_ms)} ago`, node.disk_id,
      node.metrics]));
  const groups = table(["GROUP", "EPOCH", "PRIMARY", "LEASE", "STANDBYS (in sync, lag)"],
    status.groups.map((group) => [String(group.group), String(group.epoch), group.primary,
      lease_text(group.lease_expires_in_ms), group.standbys.map(standby_text).join("  ")]));
  return `control plane: schema ${status.schema}, ${status.groups_count} groups, ` +
    `${status.replicas} replicas, database time ${status.database_time}\n\n` +
    `${nodes}\n${groups}`;
}

function standby_text(standby: StandbyStatus): string {
  const lag = standby.lag_entries === null ? "-" : String(standby.lag_entries);
  return `${standby.node} (${standby.in_sync ? "in sync" : "NOT in sync"}, lag ${lag})`;
}

function lease_text(expires_in_ms: number): string {
  return expires_in_ms > 0 ? `expires in ${seconds(expires_in_ms)}`
    : `EXPIRED ${seconds(-expires_in_ms)} ago`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** Left-aligned columns two spaces apart, one line per row, the header first. */
function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) =>
    cells.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd();
  return [line(header), ...rows.map(line)].map((text) => `${text}\n`).join("");
}
