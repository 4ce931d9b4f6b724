// Changes of the in-sync set, by the holder at its epoch only. A primary that loses a standby stops
// committing until remove_in_sync has applied (docs/cluster.md): from then on a takeover, which
// checks the set in the same row, can no longer promote that standby. A standby that has caught
// up is added back with the disk it runs on. A deposed primary can change neither: its epoch is
// not the row's.

import { assert } from "../../common/assert.ts";
import { reach, type ControlPlane, type Unreachable } from "./connection.ts";
import { disk_id_problem, node_id_problem } from "./inputs.ts";
import { read_lease } from "./lease.ts";
import {
  current_lease, holder_refusal, in_sync_of, lease_row_of,
  type HolderRefusal, type InSyncMember, type LeaseRow, type UnknownGroup,
} from "./lease_row.ts";

/** Who asks (the holder at its epoch) and about which member. */
export interface InSyncChange {
  group: number;
  node: string;
  epoch: number;
  member: string;
}

export type InSyncRefusal =
  | HolderRefusal
  /** The member is not placed on the group (add), or is the holder (either). */
  | { kind: "not_member" }
  | { kind: "member_is_holder" };

export type InSyncOutcome = { kind: "in_sync_set"; in_sync: InSyncMember[] } | InSyncRefusal |
  UnknownGroup | Unreachable;

/** Takes `member` out of the set (no change if it is not in it). */
export async function remove_in_sync(plane: ControlPlane,
  change: InSyncChange): Promise<InSyncOutcome> {
  check_change(change);
  const sql = plane.sql;
  const { group, node, epoch, member } = change;
  return reach(async () => {
    const rows = await sql`
      with current as (${current_lease(sql, group)}),
      changed as (
        update group_leases set
          in_sync = (select jsonb_agg(e) from jsonb_array_elements(group_leases.in_sync) e
            where e->>'node' <> ${member}),
          updated_at = now()
        where group_id = ${group} and holder = ${node} and epoch = ${epoch} and holder <> ${member}
        returning in_sync)
      select current.*, changed.in_sync as changed_in_sync from current left join changed on true`;
    return in_sync_outcome(plane, rows, change);
  });
}

/** Puts `member` (a placed standby) into the set with `disk`, replacing any entry it had. */
export async function add_in_sync(plane: ControlPlane, change: InSyncChange,
  disk: string): Promise<InSyncOutcome> {
  check_change(change);
  assert(disk_id_problem(disk) === null, "in-sync change: disk id");
  const sql = plane.sql;
  const { group, node, epoch, member } = change;
  return reach(async () => {
    const rows = await sql`
      with current as (${current_lease(sql, group)}),
      changed as (
        update group_leases set
          in_sync = (select coalesce(jsonb_agg(e), '[]'::jsonb)
            from jsonb_array_elements(group_leases.in_sync) e where e->>'node' <> ${member})
            || jsonb_build_array(
              jsonb_build_object('node', ${member}::text, 'disk', ${disk}::text)),
          updated_at = now()
        where group_id = ${group} and holder = ${node} and epoch = ${epoch} and holder <> ${member}
          and ${member} = any(members)
        returning in_sync)
      select current.*, changed.in_sync as changed_in_sync from current left join changed on true`;
    return in_sync_outcome(plane, rows, change);
  });
}

function check_change(change: InSyncChange): void {
  assert(node_id_problem(change.node) === null, "in-sync change: node id");
  assert(node_id_problem(change.member) === null, "in-sync change: member id");
  assert(Number.isInteger(change.epoch) && change.epoch >= 1, "in-sync change: epoch");
}

async function in_sync_outcome(plane: ControlPlane, rows: readonly Record<string, unknown>[],
  change: InSyncChange): Promise<InSyncOutcome> {
  if (rows.length === 0) return { kind: "unknown_group" };
  const row = rows[0]!;
  if (row.changed_in_sync !== null) {
    return { kind: "in_sync_set", in_sync: in_sync_of(row.changed_in_sync) };
  }
  const refusal = change_refusal(lease_row_of(row), change) ??
    change_refusal(await read_lease(plane, change.group), change);
  assert(refusal !== null, "a refused in-sync change has a reason in the row it met");
  return refusal;
}

function change_refusal(lease: LeaseRow, change: InSyncChange): InSyncRefusal | null {
  const refusal = holder_refusal(lease, change.node, change.epoch);
  if (refusal !== null) return refusal;
  if (change.member === lease.holder) return { kind: "member_is_holder" };
  if (!lease.members.includes(change.member)) return { kind: "not_member" };
  return null;
}
