// The initial placement: every group gets a primary and REPLICAS - 1 standbys, each on another
// node, primaries spread evenly (group g's primary is the (g mod n)-th node by id, its standbys the
// next ones round the ring, so each node is primary for GROUPS / n groups, give or take one). One
// transaction: the settings row is locked first, so placements running at once take turns and
// the later ones find every group placed (idempotent: a placed group is never moved here; moves
// are planned handovers).
//
// A new group's lease is its primary's at epoch 1 with only the primary in sync: a standby becomes
// in sync when the primary records it, after it has caught up (docs/cluster.md).

import type postgres from "postgres";
import { assert } from "../../common/assert.ts";
import { CLUSTER_NODES_MAX } from "../../common/constants.ts";
import { reach, type ControlPlane, type Unreachable } from "./connection.ts";
import { lease_ms_problem } from "./inputs.ts";
import { select_settings } from "./settings.ts";

/** The first epoch and the first sequence of a group's journal. */
export const EPOCH_FIRST = 1;
export const SEQUENCE_FIRST = 1;

export type PlaceOutcome =
  | { kind: "placed"; placed_count: number }
  | { kind: "not_initialised" }
  | { kind: "too_few_nodes"; node_count: number; replicas: number }
  | { kind: "too_many_nodes"; node_count: number }
  | Unreachable;

/** Members of group `group` (primary first) over `node_ids` sorted by id. */
export function members_of(group: number, node_ids: readonly string[],
  replicas: number): string[] {
  assert(replicas >= 1 && replicas <= node_ids.length, "each replica on its own node");
  const members: string[] = [];
  for (let i = 0; i < replicas; i++) members.push(node_ids[(group + i) % node_ids.length]!);
  return members;
}

/**
 * Places every group not placed yet over the registered nodes; see the file comment. Nothing is
 * placed before `nodes_min` nodes (at least REPLICAS) registered: a cluster started node by node
 * spreads its first placement over all of them (INITIAL_NODES).
 */
export async function place_groups(plane: ControlPlane, lease_ms: number,
  nodes_min = 1): Promise<PlaceOutcome> {
  const problem = lease_ms_problem(lease_ms);
  assert(problem === null, `placement: ${problem}`);
  assert(Number.isInteger(nodes_min) && nodes_min >= 1 && nodes_min <= CLUSTER_NODES_MAX,
    "placement: nodes_min in range");
  return reach(() => plane.sql.begin(async (tx) => {
    const settings = await lock_settings(tx);
    if (settings === null) return { kind: "not_initialised" } as const;
    const nodes = await tx`select node_id, disk_id from nodes order by node_id`;
    if (nodes.length > CLUSTER_NODES_MAX) {
      return { kind: "too_many_nodes", node_count: nodes.length } as const;
    }
    if (nodes.length < Math.max(settings.replicas, nodes_min)) {
      const replicas = settings.replicas;
      return { kind: "too_few_nodes", node_count: nodes.length, replicas } as const;
    }
    const placed = await tx`select group_id from group_leases`;
    const placed_ids = new Set(placed.map((row) => row.group_id as number));
    const node_ids = nodes.map((row) => row.node_id as string);
    const disks = new Map(nodes.map((row) => [row.node_id as string, row.disk_id as string]));
    let placed_count = 0;
    for (let group = 0; group < settings.groups; group++) {
      if (placed_ids.has(group)) continue;
      const members = members_of(group, node_ids, settings.replicas);
      await insert_group(tx, group, members, disks.get(members[0]!)!, lease_ms);
      placed_count += 1;
    }
    return { kind: "placed", placed_count } as const;
  }));
}

async function lock_settings(tx: postgres.TransactionSql) {
  await tx`select id from cluster_settings where id = 1 for update`;
  return select_settings(tx);
}

async function insert_group(tx: postgres.TransactionSql, group: number, members: string[],
  primary_disk: string, lease_ms: number): Promise<void> {
  const in_sync = [{ node: members[0]!, disk: primary_disk }];
  await tx`
    insert into group_leases (group_id, members, holder, epoch, expires_at, first_sequence, in_sync)
    values (${group}, ${members}::text[], ${members[0]!}, ${EPOCH_FIRST},
      now() + ${lease_ms} * interval '1 millisecond', ${SEQUENCE_FIRST},
      ${JSON.stringify(in_sync)}::text::jsonb)`;
}
