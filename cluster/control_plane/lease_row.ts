// A group's lease row as the operations read it back to say why a conditional write did not apply.
// The decision is always the write's own WHERE clause, evaluated by PostgreSQL on the row it
// locks; this row (read in the same statement) only names the reason.

import type postgres from "postgres";
import { assert } from "../../common/assert.ts";
import { EPOCH_MAX } from "../../common/constants.ts";

/** A member of the in-sync set: a node and the disk it had when it was recorded in sync. */
export interface InSyncMember {
  node: string;
  disk: string;
}

export interface LeaseRow {
  holder: string;
  epoch: number;
  /** expires_at <= now() of the database, in the statement that wrote (or did not). */
  expired: boolean;
  expires_at: Date;
  first_sequence: number;
  members: string[];
  in_sync: InSyncMember[];
}

/** The holder's refusals: the caller is not the holder at the epoch it named. */
export type HolderRefusal =
  /** A higher epoch exists: the caller was deposed and must step down. */
  | { kind: "deposed"; epoch: number; holder: string }
  /** The epoch is current but the caller does not hold it (or names an epoch never granted). */
  | { kind: "not_holder"; epoch: number; holder: string };

export type UnknownGroup = { kind: "unknown_group" };

export function lease_row_of(row: postgres.Row): LeaseRow {
  const lease: LeaseRow = {
    holder: row.holder as string,
    epoch: row.epoch as number,
    expired: row.expired as boolean,
    expires_at: row.expires_at as Date,
    first_sequence: row.first_sequence as number,
    members: row.members as string[],
    in_sync: in_sync_of(row.in_sync),
  };
  assert(lease.epoch >= 1 && lease.epoch <= EPOCH_MAX, "a stored epoch is a u32 from 1");
  assert(lease.members.includes(lease.holder), "the holder is a member");
  return lease;
}

export function in_sync_of(value: unknown): InSyncMember[] {
  assert(Array.isArray(value), "the in-sync set is stored as an array");
  for (const member of value as InSyncMember[]) {
    assert(typeof member.node === "string" && typeof member.disk === "string",
      "an in-sync member names its node and disk");
  }
  return value as InSyncMember[];
}

/** Null when `node` holds the lease at `epoch`. */
export function holder_refusal(lease: LeaseRow, node: string, epoch: number): HolderRefusal | null {
  if (lease.epoch > epoch) return { kind: "deposed", epoch: lease.epoch, holder: lease.holder };
  if (lease.epoch !== epoch || lease.holder !== node) {
    return { kind: "not_holder", epoch: lease.epoch, holder: lease.holder };
  }
  return null;
}

/** The disk the in-sync set records for `node`, or null when it is not in the set. */
export function recorded_disk(lease: LeaseRow, node: string): string | null {
  const member = lease.in_sync.find((entry) => entry.node === node);
  return member === undefined ? null : member.disk;
}

/**
 * The text of the jsonb that the containment test `in_sync @> ...` takes for one member. Always
 * cast `::text::jsonb`: a parameter typed jsonb would be serialised again, as a JSON string.
 */
export function member_json(node: string, disk: string): string {
  return JSON.stringify([{ node, disk }]);
}

/**
 * The lease row as a statement's first CTE (`current`): the same snapshot the statement's
 * conditional UPDATE starts from, so a refusal is explained by the row the write saw (unless
 * another writer changed it meanwhile: the write then re-checked the new row, and the reason is
 * `raced`).
 */
export function current_lease(sql: postgres.Sql,
  group: number): postgres.PendingQuery<postgres.Row[]> {
  return sql`
    select holder, epoch::float8 as epoch, expires_at <= now() as expired, expires_at,
      first_sequence::float8 as first_sequence, members, in_sync
    from group_leases where group_id = ${group}`;
}
