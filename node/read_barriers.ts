// Reads on a cluster primary, as Raft's ReadIndex: a read's state is taken by the engine, then the
// reply waits for a read barrier issued AFTER that (every standby counted in sync confirms, in one
// round trip, that it still follows this node's epoch). A standby that accepted a newer epoch never
// confirms, and a new primary commits nothing before its standbys accepted its epoch, so a reply
// can never miss a commit of another primary: a deposed or frozen primary answers no read (it
// times out). Barriers of one group are coalesced: reads arriving while one is in flight share the
// next one.

import { assert } from "../common/assert.ts";

interface GroupReads {
  /** The barrier in flight (0: none) and the reads it answers. */
  in_flight_id: number;
  answers: (() => void)[];
  /** Reads that arrived after it was issued: they need the next one. */
  waiting: (() => void)[];
}

export class ReadBarriers {
  private next_id = 1;
  private readonly groups: GroupReads[];

  constructor(groups: number, private readonly issue: (group: number, read_id: number) => void) {
    this.groups = Array.from({ length: groups }, () => ({ in_flight_id: 0, answers: [],
      waiting: [] }));
  }

  /** Calls `proceed` once a barrier issued after this call is confirmed. */
  confirm(group: number, proceed: () => void): void {
    const reads = this.groups[group]!;
    if (reads.in_flight_id !== 0) {
      reads.waiting.push(proceed);
      return;
    }
    reads.answers.push(proceed);
    this.send(group, reads);
  }

  /** The journal worker: every counted standby confirmed barriers up to `read_id`. */
  confirmed(group: number, read_id: number): void {
    const reads = this.groups[group]!;
    if (reads.in_flight_id === 0 || read_id < reads.in_flight_id) return;
    const answers = reads.answers;
    reads.answers = reads.waiting;
    reads.waiting = [];
    reads.in_flight_id = 0;
    if (reads.answers.length > 0) this.send(group, reads);
    for (const answer of answers) answer();
  }

  private send(group: number, reads: GroupReads): void {
    assert(reads.in_flight_id === 0, "one barrier in flight per group");
    reads.in_flight_id = this.next_id++;
    this.issue(group, reads.in_flight_id);
  }
}
