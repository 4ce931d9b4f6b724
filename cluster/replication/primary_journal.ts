// What every sender of one group shares on the primary: where its journal is, how far it is
// written and durable, the epoch it writes, and one read buffer for catch-up (senders run on one
// thread, one read at a time).

import { assert } from "../../common/assert.ts";
import type { FileLayer } from "../../journal/file_layer.ts";
import { ChunkReader } from "../../journal/journal_reader.ts";

export class PrimaryJournal {
  /** The last sequence the journal holds (written; maybe not yet durable). */
  written_sequence: number;
  /** The last sequence a completed fsync covers: catch-up reads up to it. */
  durable_sequence: number;
  /** The last sequence the group's publisher has in Kafka (0: none known; no publisher). */
  published_sequence = 0;
  readonly reader = new ChunkReader();

  constructor(
    readonly files: FileLayer,
    readonly dir: string,
    readonly group: number,
    readonly node: number,
    readonly epoch: number,
    last_sequence: number,
  ) {
    assert(Number.isSafeInteger(last_sequence) && last_sequence >= 0, "last_sequence >= 0");
    assert(epoch >>> 0 === epoch && epoch >= 1, "epoch is a u32 >= 1");
    this.written_sequence = last_sequence;
    this.durable_sequence = last_sequence;
  }

  written(first_sequence: number, last_sequence: number): void {
    assert(first_sequence === this.written_sequence + 1, "the journal continues");
    assert(last_sequence >= first_sequence, "whole entries were written");
    this.written_sequence = last_sequence;
  }

  durable(sequence: number): void {
    assert(sequence >= this.durable_sequence, "the durable sequence never goes back");
    assert(sequence <= this.written_sequence, "only what was written is durable");
    this.durable_sequence = sequence;
  }
}
