// Every placed group's lease row in one statement: the membership loop's view of the table.

import { reach, type ControlPlane, type Unreachable } from "../control_plane/connection.ts";
import { lease_row_of, type LeaseRow } from "../control_plane/lease_row.ts";

export interface GroupLease {
  group: number;
  lease: LeaseRow;
}

export async function read_leases(plane: ControlPlane): Promise<GroupLease[] | Unreachable> {
  return reach(async () => {
    const rows = await plane.sql`
      select group_id, holder, epoch::float8 as epoch, expires_at <= now() as expired, expires_at,
        first_sequence::float8 as first_sequence, members, in_sync
      from group_leases order by group_id`;
    return rows.map((row) => ({ group: row.group_id as number, lease: lease_row_of(row) }));
  });
}
