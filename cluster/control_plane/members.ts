// Growing a group onto a node it was not placed on (`cluster move` to a new node, which is how a
// cluster grows): the holder, at its epoch, adds a registered node to the group's members. The new
// member then catches up as a standby, is recorded in sync like any standby, and the holder hands
// the lease to it with `leave` (handover.ts), which takes the old holder out of the members.

import { assert } from "../../common/assert.ts";
import { REPLICAS_MAX } from "../../common/constants.ts";
import { reach, type ControlPlane, type Unreachable } from "./connection.ts";
import { node_id_problem } from "./inputs.ts";
import { read_lease } from "./lease.ts";
import {
  current_lease, holder_refusal, lease_row_of, type HolderRefusal, type LeaseRow,
  type UnknownGroup,
} from "./lease_row.ts";

/** A group holds at most this many members while one is being added (REPLICAS_MAX + 1). */
export const GROUP_MEMBERS_MAX = REPLICAS_MAX + 1;

export interface MemberAdd {
  group: number;
  /** The holder, at `epoch`. */
  node: string;
  epoch: number;
  member: string;
}

export type MemberAddOutcome =
  | { kind: "members"; members: string[] }
  | HolderRefusal
  | { kind: "already_member" }
  | { kind: "unknown_node" }
  | { kind: "too_many_members"; members_max: number }
  | UnknownGroup
  | Unreachable;

/** Adds `member` (a registered node) to the group's members; the in-sync set is unchanged. */
export async function add_member(plane: ControlPlane, change: MemberAdd): Promise<MemberAddOutcome> {
  assert(node_id_problem(change.node) === null, "add member: node id");
  assert(node_id_problem(change.member) === null, "add member: member id");
  assert(Number.isInteger(change.epoch) && change.epoch >= 1, "add member: epoch");
  const sql = plane.sql;
  const { group, node, epoch, member } = change;
  return reach(async () => {
    const rows = await sql`
      with current as (${current_lease(sql, group)}),
      registered as (select count(*)::int as found from nodes where node_id = ${member}),
      added as (
        update group_leases set members = array_append(members, ${member}::text),
          updated_at = now()
        where group_id = ${group} and holder = ${node} and epoch = ${epoch}
          and not (${member} = any(members))
          and cardinality(members) < ${GROUP_MEMBERS_MAX}
          and (select found from registered) = 1
        returning members)
      select current.*, added.members as added_members, (select found from registered) as found
      from current left join added on true`;
    if (rows.length === 0) return { kind: "unknown_group" } as const;
    const row = rows[0]!;
    if (row.added_members !== null) return { kind: "members", members: row.added_members } as const;
    if (row.found !== 1) return { kind: "unknown_node" } as const;
    const refusal = add_refusal(lease_row_of(row), change) ??
      add_refusal(await read_lease(plane, group), change);
    assert(refusal !== null, "a refused member add has a reason in the row it met");
    return refusal;
  });
}

function add_refusal(lease: LeaseRow, change: MemberAdd): MemberAddOutcome | null {
  const refusal = holder_refusal(lease, change.node, change.epoch);
  if (refusal !== null) return refusal;
  if (lease.members.includes(change.member)) return { kind: "already_member" };
  if (lease.members.length >= GROUP_MEMBERS_MAX) {
    return { kind: "too_many_members", members_max: GROUP_MEMBERS_MAX };
  }
  return null;
}
