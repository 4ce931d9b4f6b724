// What a node is for each group, as the control plane last told it: the node reads these to know
// which groups it leads (and at which epoch) and which it follows. A role only ever becomes
// `primary` from a grant the database made to this node on this disk (found at start, or a
// takeover); reading the table never promotes, and `deposed` is the only way down.

import type { InSyncMember, LeaseRow } from "../control_plane/lease_row.ts";
import { recorded_disk } from "../control_plane/lease_row.ts";

export type GroupRole =
  /** This node holds the lease at `epoch`; `expires_at` is the database's last grant. */
  | { kind: "primary"; epoch: number; expires_at: Date; in_sync: InSyncMember[] }
  /**
   * A member that does not hold the lease. `expires_at` is the lease's expiry as last read (null
   * until read after a step-down); `in_sync`: the set names this node with its current disk.
   */
  | { kind: "standby"; epoch: number; holder: string; expires_at: Date | null; in_sync: boolean }
  /** Not a member of the group (or the group is not placed yet). */
  | { kind: "none" };

export const ROLE_NONE: GroupRole = { kind: "none" };

/** The role a row gives a node at start: primary only when it holds it on the disk recorded. */
export function role_at_start(lease: LeaseRow, node_id: string, disk_id: string): GroupRole {
  if (lease.holder === node_id && recorded_disk(lease, node_id) === disk_id) {
    return { kind: "primary", epoch: lease.epoch, expires_at: lease.expires_at,
      in_sync: lease.in_sync };
  }
  return role_following(lease, node_id, disk_id);
}

/** The role a row gives a node that does not lead the group: standby of the holder, or none. */
export function role_following(lease: LeaseRow, node_id: string, disk_id: string): GroupRole {
  if (!lease.members.includes(node_id)) return ROLE_NONE;
  return {
    kind: "standby", epoch: lease.epoch, holder: lease.holder, expires_at: lease.expires_at,
    in_sync: recorded_disk(lease, node_id) === disk_id,
  };
}
