// Where an engine writes its journal entries for the host to drain: one entry per batch (or per tick
// that expired holds; merging, per run of batches: below), holding one 80-byte record per event.
// The buffer is allocated once; the host drains it (to the journal worker or a file) and calls
// reset() before the next batch.
//
// Merging (the engine worker's loop): consecutive batches of one group at one engine time go into
// one entry. Each entry costs a header, two CRC32s on the engine and three on the journal worker
// (verify, stamp), so with many small batches per cycle (a request split over the groups) the
// entries, not the records, were the cost. An entry then stays open after end_entry() (held, its
// header not written) until a batch of another group or time begins, the entry reaches
// JOURNAL_ENTRY_RECORDS_MAX records (it is sealed and the next record starts a new entry), or the
// host calls seal() before it drains the bytes.

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
  private entry_offset = -1; // the entry being written, -1 between entries
  private held_offset = -1; // merging: the last entry, its records written, its header not yet
  private entry_record_count = 0;
  private entry_group = 0;
  private entry_epoch = 0;
  private entry_first_sequence = 0;
  private entry_engine_time_ms = 0;

  constructor(capacity_bytes: number, readonly merge_entries = false) {
    assert(capacity_bytes >= JOURNAL_ENTRY_BYTES_MAX, "journal output holds at least one entry");
    this.bytes = new Uint8Array(capacity_bytes);
    this.view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
  }

  /** True when another full entry fits; the host drains the buffer otherwise. */
  has_room_for_entry(): boolean {
    return this.bytes.byteLength - this.size_bytes >= JOURNAL_ENTRY_BYTES_MAX;
  }

  /**
   * Opens an entry for a batch (the caller checked has_room_for_entry). Merging, the held entry
   * goes on instead when it is of the same group, epoch and engine time and ends right before
   * `first_sequence`; otherwise it is sealed first.
   */
  begin_entry(group: number, epoch: number, first_sequence: number, engine_time_ms: number): void {
    assert(this.entry_offset === -1, "journal entry already open");
    assert(this.has_room_for_entry(), "journal output full: drain before the batch");
    if (this.held_offset !== -1) {
      if (group === this.entry_group && epoch === this.entry_epoch &&
        engine_time_ms === this.entry_engine_time_ms &&
        first_sequence === this.entry_first_sequence + this.entry_record_count) {
        this.entry_offset = this.held_offset;
        this.held_offset = -1;
        return;
      }
      this.seal();
    }
    this.start_entry(group, epoch, first_sequence, engine_time_ms);
  }

  private start_entry(group: number, epoch: number, first_sequence: number,
    engine_time_ms: number): void {
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
    if (this.entry_record_count === JOURNAL_ENTRY_RECORDS_MAX) {
      // Only a merged entry gets here (one batch writes at most JOURNAL_ENTRY_RECORDS_MAX
      // records): it is full, the batch goes on in a new entry. Room: the batch began with room
      // for a whole entry, and went on an existing one without a header of its own.
      assert(this.merge_entries, "entry record limit");
      this.write_header();
      this.start_entry(this.entry_group, this.entry_epoch, sequence, this.entry_engine_time_ms);
    }
    const offset = this.size_bytes;
    this.size_bytes += JOURNAL_RECORD_BYTES;
    this.entry_record_count++;
    return offset;
  }

  /**
   * Ends the batch's part of the entry: an entry without records is dropped; otherwise it is
   * sealed, or, merging, held open for the next batch (seal() writes its header).
   */
  end_entry(): void {
    assert(this.entry_offset !== -1, "no journal entry open");
    if (this.entry_record_count === 0) {
      this.size_bytes = this.entry_offset;
    } else if (this.merge_entries) {
      this.held_offset = this.entry_offset;
    } else {
      this.write_header();
    }
    this.entry_offset = -1;
  }

  /** Writes the held entry's header: bytes[0, size_bytes) are then whole entries to drain. */
  seal(): void {
    assert(this.entry_offset === -1, "seal with a batch's entry open");
    if (this.held_offset === -1) return;
    this.entry_offset = this.held_offset;
    this.held_offset = -1;
    this.write_header();
    this.entry_offset = -1;
  }

  reset(): void {
    assert(this.entry_offset === -1 && this.held_offset === -1, "reset with an entry open or held");
    this.size_bytes = 0;
  }

  private write_header(): void {
    write_entry_header(this.view, this.entry_offset, {
      record_count: this.entry_record_count,
      group: this.entry_group,
      epoch: this.entry_epoch,
      first_sequence: this.entry_first_sequence,
      engine_time_ms: this.entry_engine_time_ms,
    });
  }
}
