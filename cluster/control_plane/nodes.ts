// A node registers its advertised addresses and its disk at every start, and heartbeats while it
// runs (database time). Registration decides nothing about leadership: the in-sync set names the
// disk each member had when it was recorded in sync, so a node that returns with a new disk is not
// promoted on its registration (docs/cluster.md).

import { assert } from "../../common/assert.ts";
import { reach, type ControlPlane, type Unreachable } from "./connection.ts";
import { node_id_problem, registration_problem, type NodeRegistration } from "./inputs.ts";

export type RegisterOutcome = { kind: "registered"; heartbeat_at: Date } | Unreachable;

export type HeartbeatOutcome =
  | { kind: "heard"; heartbeat_at: Date }
  | { kind: "unknown_node" }
  | Unreachable;

/** Inserts the node or replaces its addresses and disk id. */
export async function register_node(plane: ControlPlane,
  node: NodeRegistration): Promise<RegisterOutcome> {
  const problem = registration_problem(node);
  assert(problem === null, `node registration: ${problem}`);
  return reach(async () => {
    const rows = await plane.sql`
      insert into nodes (node_id, http_address, tcp_address, replication_address, disk_id)
      values (${node.node_id}, ${node.http_address}, ${node.tcp_address},
        ${node.replication_address}, ${node.disk_id})
      on conflict (node_id) do update set
        http_address = excluded.http_address, tcp_address = excluded.tcp_address,
        replication_address = excluded.replication_address, disk_id = excluded.disk_id,
        registered_at = now(), heartbeat_at = now()
      returning heartbeat_at`;
    assert(rows.length === 1, "an upsert returns its row");
    return { kind: "registered", heartbeat_at: rows[0]!.heartbeat_at as Date } as const;
  });
}

export async function heartbeat_node(plane: ControlPlane,
  node_id: string): Promise<HeartbeatOutcome> {
  const problem = node_id_problem(node_id);
  assert(problem === null, `heartbeat: ${problem}`);
  return reach(async () => {
    const rows = await plane.sql`
      update nodes set heartbeat_at = now() where node_id = ${node_id} returning heartbeat_at`;
    if (rows.length === 0) return { kind: "unknown_node" } as const;
    return { kind: "heard", heartbeat_at: rows[0]!.heartbeat_at as Date } as const;
  });
}
