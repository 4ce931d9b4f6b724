// The lease operations (docs/cluster.md, "Operations"). Each is one conditional UPDATE decided by
// PostgreSQL on the group's row, against the database's now(); its answer says what the caller
// needs: `deposed` (a higher epoch exists: step down), a refusal that changes nothing, or
// `unreachable` (nothing is known: a primary goes on as it was, a standby does not take over).

import { assert } from "../../common/assert.ts";
import { reach, type ControlPlane, type Unreachable } from "./connection.ts";
import {
  lease_ms_problem, node_id_problem, disk_id_problem, sequence_problem,
} from "./inputs.ts";
import {
  current_lease, holder_refusal, in_sync_of, lease_row_of, member_json, recorded_disk,
  type HolderRefusal, type InSyncMember, type LeaseRow, type UnknownGroup,
} from "./lease_row.ts";

/** The lease as granted: its epoch, and its expiry and the grant's time, both database time. */
export interface Granted {
  epoch: number;
  expires_at: Date;
  db_now: Date;
}

export type RenewOutcome = ({ kind: "renewed" } & Granted) | HolderRefusal | UnknownGroup |
  Unreachable;

export interface TakeOver {
  group: number;
  node: string;
  /** The disk the caller runs on: the in-sync set must name this one for it. */
  disk: string;
  /** The epoch the caller saw expire. */
  epoch: number;
  /** The first sequence the caller will write at the new epoch (its durable end + 1). */
  first_sequence: number;
  /** In-sync members (besides the caller) that stay in sync at the new epoch. */
  keep: readonly string[];
  lease_ms: number;
}

export type TakeOverRefusal =
  | { kind: "stale_epoch"; epoch: number; holder: string }
  | { kind: "not_expired"; expires_at: Date }
  | { kind: "not_in_sync" }
  | { kind: "wrong_disk"; recorded_disk: string }
  | { kind: "member_not_in_sync"; member: string }
  | { kind: "sequence_behind"; first_sequence: number }
  /** The row changed while the write waited for it: read the map again. */
  | { kind: "raced" };

export type TakeOverOutcome = ({ kind: "taken"; in_sync: InSyncMember[] } & Granted) |
  TakeOverRefusal | UnknownGroup | Unreachable;

function interval_ms(lease_ms: number): number {
  const problem = lease_ms_problem(lease_ms);
  assert(problem === null, `lease: ${problem}`);
  return lease_ms;
}

/** The holder extends its lease by `lease_ms` from the database's now(), at its epoch only. */
export async function renew_lease(plane: ControlPlane, group: number, node: string, epoch: number,
  lease_ms: number): Promise<RenewOutcome> {
  assert(node_id_problem(node) === null, "renew: node id");
  const lease_interval_ms = interval_ms(lease_ms);
  const sql = plane.sql;
  return reach(async () => {
    const rows = await sql`
      with current as (${current_lease(sql, group)}),
      renewed as (
        update group_leases set
          expires_at = now() + ${lease_interval_ms} * interval '1 millisecond', updated_at = now()
        where group_id = ${group} and holder = ${node} and epoch = ${epoch}
        returning epoch::float8 as epoch, expires_at, now() as db_now)
      select current.*, renewed.epoch as granted_epoch, renewed.expires_at as granted_expires_at,
        renewed.db_now from current left join renewed on true`;
    if (rows.length === 0) return { kind: "unknown_group" } as const;
    const row = rows[0]!;
    if (row.granted_epoch !== null) return { kind: "renewed", ...granted_of(row) } as const;
    // The row the write saw may have changed while it waited: then the later row says why.
    const refusal = holder_refusal(lease_row_of(row), node, epoch) ??
      holder_refusal(await read_lease(plane, group), node, epoch);
    assert(refusal !== null, "a renewal by the holder at its epoch always applies");
    return refusal;
  });
}

/**
 * A standby takes over an expired lease: epoch + 1, itself the holder, `first_sequence` recorded,
 * the in-sync set cut down to itself and `keep` (with the disks the set already names).
 */
export async function take_over_lease(plane: ControlPlane,
  request: TakeOver): Promise<TakeOverOutcome> {
  check_take_over(request);
  const sql = plane.sql;
  const names = [request.node, ...request.keep];
  const { group, epoch, first_sequence } = request;
  return reach(async () => {
    const rows = await sql`
      with current as (${current_lease(sql, group)}),
      taken as (
        update group_leases set
          holder = ${request.node}, epoch = epoch + 1,
          expires_at = now() + ${request.lease_ms} * interval '1 millisecond',
          first_sequence = ${first_sequence},
          in_sync = (select jsonb_agg(e) from jsonb_array_elements(group_leases.in_sync) e
            where e->>'node' = any(${names}::text[])),
          updated_at = now()
        where group_id = ${group} and epoch = ${epoch} and expires_at <= now()
          and in_sync @> ${member_json(request.node, request.disk)}::text::jsonb
          and (select count(*) from jsonb_array_elements(group_leases.in_sync) e
            where e->>'node' = any(${names}::text[])) = ${names.length}
          and first_sequence <= ${first_sequence}
        returning epoch::float8 as epoch, expires_at, now() as db_now, in_sync)
      select current.*, taken.epoch as granted_epoch, taken.expires_at as granted_expires_at,
        taken.db_now, taken.in_sync as granted_in_sync from current left join taken on true`;
    if (rows.length === 0) return { kind: "unknown_group" } as const;
    const row = rows[0]!;
    if (row.granted_epoch === null) {
      const refusal = take_over_refusal(lease_row_of(row), request);
      if (refusal.kind !== "raced") return refusal;
      return take_over_refusal(await read_lease(plane, group), request);
    }
    assert(row.granted_epoch === epoch + 1, "a takeover increments the epoch once");
    return { kind: "taken", ...granted_of(row), in_sync: in_sync_of(row.granted_in_sync) } as const;
  });
}

function check_take_over(request: TakeOver): void {
  assert(node_id_problem(request.node) === null, "take over: node id");
  assert(disk_id_problem(request.disk) === null, "take over: disk id");
  assert(sequence_problem(request.first_sequence) === null, "take over: first sequence");
  assert(Number.isInteger(request.epoch) && request.epoch >= 1, "take over: epoch");
  for (const member of request.keep) assert(node_id_problem(member) === null, "take over: keep");
  const names = new Set([request.node, ...request.keep]);
  assert(names.size === request.keep.length + 1, "take over: keep names others, each once");
  interval_ms(request.lease_ms);
}

/** Why the takeover's WHERE clause did not hold for the row it saw; see current_lease. */
function take_over_refusal(lease: LeaseRow, request: TakeOver): TakeOverRefusal {
  if (lease.epoch !== request.epoch) {
    return { kind: "stale_epoch", epoch: lease.epoch, holder: lease.holder };
  }
  if (!lease.expired) return { kind: "not_expired", expires_at: lease.expires_at };
  const disk = recorded_disk(lease, request.node);
  if (disk === null) return { kind: "not_in_sync" };
  if (disk !== request.disk) return { kind: "wrong_disk", recorded_disk: disk };
  const missing = request.keep.find((member) => recorded_disk(lease, member) === null);
  if (missing !== undefined) return { kind: "member_not_in_sync", member: missing };
  if (lease.first_sequence > request.first_sequence) {
    return { kind: "sequence_behind", first_sequence: lease.first_sequence };
  }
  return { kind: "raced" };
}

/** The group's row now (a group that was placed is never removed). */
export async function read_lease(plane: ControlPlane, group: number): Promise<LeaseRow> {
  const rows = await current_lease(plane.sql, group);
  assert(rows.length === 1, "a placed group keeps its row");
  return lease_row_of(rows[0]!);
}

export function granted_of(row: Record<string, unknown>): Granted {
  const granted: Granted = {
    epoch: row.granted_epoch as number,
    expires_at: row.granted_expires_at as Date,
    db_now: row.db_now as Date,
  };
  assert(granted.expires_at.getTime() >= granted.db_now.getTime(), "a lease expires after now");
  return granted;
}
