// The primary side of one group: one sender per standby, fed by the journal. The hook for the
// node: after each group-commit write of this group, entries_written(bytes) with the bytes it
// appended (whole entries, stamped), and after each fsync entries_durable(sequence). Both are
// cheap: a copy into each live standby's send buffer, or nothing for one catching up.

import { assert } from "../../common/assert.ts";
import type { FileLayer } from "../../journal/file_layer.ts";
import { JOURNAL_APPEND_BYTES_MAX, JOURNAL_ENTRY_HEADER_BYTES } from "../../common/constants.ts";
import {
  ENTRY_BODY_BYTES_OFFSET, ENTRY_FIRST_SEQUENCE_OFFSET, ENTRY_RECORD_COUNT_OFFSET,
} from "../../schema/journal_entry_layout.ts";
import { PrimaryJournal } from "./primary_journal.ts";
import { StandbySender, type SenderOptions, type StandbyAddress } from "./standby_sender.ts";

export interface ReplicatorOptions extends SenderOptions {
  files: FileLayer;
  /** The group's journal directory on this node. */
  dir: string;
  group: number;
  node: number;
  /** The epoch this primary writes (the lease's). */
  epoch: number;
  /** Where the journal ends when replication starts. */
  last_sequence: number;
  standbys: readonly StandbyAddress[];
}

export class Replicator {
  readonly senders: StandbySender[];
  private readonly journal: PrimaryJournal;
  private started = false;

  constructor(private readonly options: ReplicatorOptions) {
    this.journal = new PrimaryJournal(options.files, options.dir, options.group, options.node,
      options.epoch, options.last_sequence);
    this.senders = options.standbys.map((standby) => {
      assert(standby.node !== options.node, "a standby is another node");
      return new StandbySender(standby, this.journal, options);
    });
  }

  start(): void {
    this.started = true;
    for (const sender of this.senders) sender.start();
  }

  /** A member added to the group while it is led here (a move onto a new node): it catches up. */
  add_standby(standby: StandbyAddress): void {
    assert(standby.node !== this.journal.node, "a standby is another node");
    assert(!this.senders.some((s) => s.standby.node === standby.node), "one sender per standby");
    const sender = new StandbySender(standby, this.journal, this.options);
    this.senders.push(sender);
    if (this.started) sender.start();
  }

  stop(): void {
    for (const sender of this.senders) sender.stop();
  }

  /** The journal appended `bytes` (whole entries continuing it): sent to live standbys. */
  entries_written(bytes: Uint8Array): void {
    assert(bytes.length >= JOURNAL_ENTRY_HEADER_BYTES && bytes.length <= JOURNAL_APPEND_BYTES_MAX,
      "one append's bytes");
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const first_sequence = view.getFloat64(ENTRY_FIRST_SEQUENCE_OFFSET, true);
    const last_sequence = last_sequence_of(view);
    this.journal.written(first_sequence, last_sequence);
    for (const sender of this.senders) {
      sender.entries_written(bytes, first_sequence, last_sequence);
    }
  }

  /** Every standby streaming hears this primary is alive (called every heartbeat interval). */
  heartbeat(read_id = 0): void {
    for (const sender of this.senders) sender.heartbeat(read_id);
  }

  /**
   * The group's publisher has its events in Kafka through `sequence`: the standbys hear it with
   * the next heartbeat (they free journal segments only behind it).
   */
  published(sequence: number): void {
    assert(Number.isSafeInteger(sequence) && sequence >= 0, "a published sequence");
    this.journal.published_sequence = Math.max(this.journal.published_sequence, sequence);
  }

  /** The journal is durable through `sequence`. */
  entries_durable(sequence: number): void {
    this.journal.durable(sequence);
    for (const sender of this.senders) sender.entries_durable();
  }

  get written_sequence(): number {
    return this.journal.written_sequence;
  }

  /** The lowest sequence every standby acknowledged as durable (what "committed" will wait on). */
  acked_sequence_min(): number {
    let lowest = this.journal.written_sequence;
    for (const sender of this.senders) lowest = Math.min(lowest, sender.acked_sequence);
    return lowest;
  }
}

// The journal writer verified these entries; only their lengths are walked here.
function last_sequence_of(view: DataView): number {
  let at = 0;
  let last_sequence = 0;
  while (at < view.byteLength) {
    const record_count = view.getUint32(at + ENTRY_RECORD_COUNT_OFFSET, true);
    last_sequence = view.getFloat64(at + ENTRY_FIRST_SEQUENCE_OFFSET, true) + record_count - 1;
    at += JOURNAL_ENTRY_HEADER_BYTES + view.getUint32(at + ENTRY_BODY_BYTES_OFFSET, true);
  }
  assert(at === view.byteLength, "whole entries");
  return last_sequence;
}
