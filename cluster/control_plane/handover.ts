// The planned handover (`cluster move`, SIGTERM): the holder gives its lease to an in-sync member
// at epoch + 1. The old holder stops writing before it asks (its last sequence is durable on every
// in-sync member), so the set stays as it is, the old holder in it.
//
// The holder may name itself: a restart at a new epoch. A node that starts and finds it holds a
// lease never writes that epoch again (its journal may have lost entries a standby holds, which
// the same epoch could not tell apart); it takes epoch + 1 with its journal's end + 1 as the first
// sequence, and every standby cuts its tail there when it meets the new epoch.

import { assert } from "../../common/assert.ts";
import { reach, type ControlPlane, type Unreachable } from "./connection.ts";
import { disk_id_problem, lease_ms_problem, node_id_problem, sequence_problem } from "./inputs.ts";
import { granted_of, read_lease, type Granted } from "./lease.ts";
import {
  current_lease, holder_refusal, lease_row_of, member_json, recorded_disk,
  type HolderRefusal, type LeaseRow, type UnknownGroup,
} from "./lease_row.ts";

export interface HandOver {
  group: number;
  /** The holder, at `epoch`. */
  node: string;
  epoch: number;
  /** The member that takes the lease, and the disk the in-sync set must name for it. */
  target: string;
  target_disk: string;
  /** The first sequence the target writes at the new epoch (the holder's last + 1). */
  first_sequence: number;
  lease_ms: number;
  /**
   * The old holder leaves the group's members (and its in-sync set) in the same update: a group
   * moved onto a node it was not placed on keeps REPLICAS members.
   */
  leave?: boolean;
}

export type HandOverRefusal =
  | HolderRefusal
  | { kind: "target_not_in_sync" }
  | { kind: "wrong_disk"; recorded_disk: string }
  | { kind: "sequence_behind"; first_sequence: number };

export type HandOverOutcome = ({ kind: "handed_over" } & Granted) | HandOverRefusal |
  UnknownGroup | Unreachable;

export async function hand_over_lease(plane: ControlPlane,
  request: HandOver): Promise<HandOverOutcome> {
  check_hand_over(request);
  const sql = plane.sql;
  const { group, node, epoch, target, first_sequence } = request;
  const leave = request.leave === true;
  assert(!leave || target !== node, "hand over: a holder leaving hands to another member");
  return reach(async () => {
    const rows = await sql`
      with current as (${current_lease(sql, group)}),
      handed as (
        update group_leases set
          holder = ${target}, epoch = epoch + 1,
          members = case when ${leave} then array_remove(members, ${node}::text) else members end,
          in_sync = case when ${leave} then (select coalesce(jsonb_agg(e), '[]'::jsonb)
            from jsonb_array_elements(group_leases.in_sync) e where e->>'node' <> ${node})
            else in_sync end,
          expires_at = now() + ${request.lease_ms} * interval '1 millisecond',
          first_sequence = ${first_sequence}, updated_at = now()
        where group_id = ${group} and holder = ${node} and epoch = ${epoch}
          and in_sync @> ${member_json(target, request.target_disk)}::text::jsonb
          and first_sequence <= ${first_sequence}
        returning epoch::float8 as epoch, expires_at, now() as db_now)
      select current.*, handed.epoch as granted_epoch, handed.expires_at as granted_expires_at,
        handed.db_now from current left join handed on true`;
    if (rows.length === 0) return { kind: "unknown_group" } as const;
    const row = rows[0]!;
    if (row.granted_epoch !== null) {
      assert(row.granted_epoch === epoch + 1, "a handover increments the epoch once");
      return { kind: "handed_over", ...granted_of(row) } as const;
    }
    const refusal = hand_over_refusal(lease_row_of(row), request) ??
      hand_over_refusal(await read_lease(plane, group), request);
    assert(refusal !== null, "a refused handover has a reason in the row it met");
    return refusal;
  });
}

function check_hand_over(request: HandOver): void {
  assert(node_id_problem(request.node) === null, "hand over: node id");
  assert(node_id_problem(request.target) === null, "hand over: target id");
  assert(disk_id_problem(request.target_disk) === null, "hand over: target disk id");
  assert(sequence_problem(request.first_sequence) === null, "hand over: first sequence");
  assert(lease_ms_problem(request.lease_ms) === null, "hand over: lease");
}

/** Why the handover's WHERE clause did not hold for `lease`; null when it holds. */
function hand_over_refusal(lease: LeaseRow, request: HandOver): HandOverRefusal | null {
  const refusal = holder_refusal(lease, request.node, request.epoch);
  if (refusal !== null) return refusal;
  const disk = recorded_disk(lease, request.target);
  if (disk === null) return { kind: "target_not_in_sync" };
  if (disk !== request.target_disk) return { kind: "wrong_disk", recorded_disk: disk };
  if (lease.first_sequence > request.first_sequence) {
    return { kind: "sequence_behind", first_sequence: lease.first_sequence };
  }
  return null;
}
