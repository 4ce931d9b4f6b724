// Where an engine writes its journal entries for the host to drain: one entry per batch (or per tick
// that expired holds), holding one 80-byte record per event. The buffer is allocated once; the host
// drains it (to the journal worker or a file) and calls reset() before the next batch.

import { assert } from "../common/assert.ts";
import {
  BATCH_ORDERS_MAX, JOURNAL_ENTRY_BYTES_MAX, JOURNAL_ENTRY_HEADER_BYTES, JOURNAL_ENTRY_RECORDS_MAX,
  JOURNAL_RECORD_BYTES,
} from "../common/constants.ts";
import { write_entry_header } from "../schema/journal_entry_layout.ts";

/** Hold expiries one entry may carry ahead of its batch; the rest go into the next entry. */
export const EXPIRIES_PER_ENTRY_MAX = JOURNAL_ENTRY_RECORDS_MAX - BATCH_ORDERS_MAX;

export class JournalOutput {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  size_bytes = 0;
  private entry_offset = -1;
  private entry_record_count = 0;
  private entry_group = 0;
  private entry_epoch = 0;
  private entry_first_sequence = 0;
  private entry_engine_time_ms = 0;

  constructor(capacity_bytes: number) {
    assert(capacity_bytes >= JOURNAL_ENTRY_BYTES_MAX, "journal output holds at least one entry");
    this.bytes = new Uint8Array(capacity_bytes);
    this.view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
  }

  /** True when another full entry fits; the host drains the buffer otherwise. */
  has_room_for_entry(): boolean {
    return this.bytes.byteLength - this.size_bytes >= JOURNAL_ENTRY_BYTES_MAX;
  }

  begin_entry(group: number, epoch: number, first_sequence: number, engine_time_ms: number): void {
    assert(this.entry_offset === -1, "journal entry already open");
    assert(this.has_room_for_entry(), "journal output full: drain before the batch");
    this.entry_offset = this.size_bytes;
    this.entry_record_count = 0;
    this.entry_group = group;
    this.entry_epoch = epoch;
    this.entry_first_sequence = first_sequence;
    this.entry_engine_time_ms = engine_time_ms;
    this.size_bytes += JOURNAL_ENTRY_HEADER_BYTES;
  }

  /** Reserves the next record and returns its byte offset in `view`. */
  next_record(sequence: number): number {
    assert(this.entry_offset !== -1, "record outside an entry");
    assert(sequence === this.entry_first_sequence + this.entry_record_count, "sequence gap");
    assert(this.entry_record_count < JOURNAL_ENTRY_RECORDS_MAX, "entry record limit");
    const offset = this.size_bytes;
    this.size_bytes += JOURNAL_RECORD_BYTES;
    this.entry_record_count++;
    return offset;
  }

  /** Seals the open entry; an entry without records is dropped. */
  end_entry(): void {
    assert(this.entry_offset !== -1, "no journal entry open");
    if (this.entry_record_count === 0) {
      this.size_bytes = this.entry_offset;
    } else {
      write_entry_header(this.view, this.entry_offset, {
        record_count: this.entry_record_count,
        group: this.entry_group,
        epoch: this.entry_epoch,
        first_sequence: this.entry_first_sequence,
        engine_time_ms: this.entry_engine_time_ms,
      });
    }
    this.entry_offset = -1;
  }

  reset(): void {
    assert(this.entry_offset === -1, "reset with an entry open");
    this.size_bytes = 0;
  }
}
