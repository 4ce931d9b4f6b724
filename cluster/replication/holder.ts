// Who may write a group at which epoch: the control plane's record (another part of the cluster
// builds it on PostgreSQL). A standby asks it only when a link offers an epoch above the highest it
// accepted: the answer must name that link's node and epoch, and gives where the epoch begins, so
// the standby cuts what it holds from there on (entries the new holder never wrote).

export interface GroupHolder {
  node: number;
  epoch: number;
  /** The first sequence the holder writes at this epoch (its journal's end + 1 at takeover). */
  first_sequence: number;
}

export interface HolderDirectory {
  /** The recorded holder of `group`, or null when none is; rejects when it cannot be asked. */
  who_holds(group: number): Promise<GroupHolder | null>;
}
