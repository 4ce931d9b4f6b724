// Reads a group's unshipped durable range into Kafka records, several per pass. Each pass of
// read_journal_range starts at the beginning of the segment holding the start sequence, so reading
// one record per pass costs O(position in the segment) per record (quadratic over a segment); a
// pass that builds up to `records_max` records divides that by `records_max`.

import { assert } from "../common/assert.ts";
import { EventRecordBuilder } from "../events/encode.ts";
import type { FileLayer } from "../journal/file_layer.ts";
import { read_journal_range, type RangeReader } from "../journal/journal_range_reader.ts";

export interface PendingRecord {
  /** The record's bytes (a copy: the builder's buffer is reused). */
  value: Buffer;
  first_sequence: number;
  last_sequence: number;
  event_count: number;
  /** Engine time of its first event (ms since the epoch). */
  first_time_ms: number;
}

export interface BacklogSource {
  dir: string;
  builder: EventRecordBuilder;
}

/**
 * Up to `records_max` records (and at most about `bytes_max` bytes, at least one record) of the
 * entries in (after_sequence, through_sequence], in order, each ending on an entry boundary.
 */
export function read_backlog(files: FileLayer, reader: RangeReader, source: BacklogSource,
  after_sequence: number, through_sequence: number, records_max: number, bytes_max: number)
  : PendingRecord[] {
  assert(records_max >= 1 && bytes_max >= 1, "room for one record");
  const builder = source.builder;
  const records: PendingRecord[] = [];
  let bytes = 0;
  let first_time_ms = 0;
  const seal = () => {
    const value = Buffer.from(builder.seal());
    records.push({ value, first_sequence: builder.first_sequence,
      last_sequence: builder.last_sequence, event_count: builder.event_count, first_time_ms });
    bytes += value.byteLength;
    builder.reset();
  };
  builder.reset();
  // The range starts on an entry boundary (a checkpoint is always the end of a record).
  builder.next_sequence = after_sequence + 1;
  read_journal_range(files, source.dir, after_sequence, through_sequence,
    (view, offset, header) => {
      if (builder.event_count === 0) first_time_ms = header.engine_time_ms;
      if (builder.append_entry(view, offset, header) === "ok") return true;
      assert(builder.event_count > 0, "any entry fits an empty record");
      seal();
      if (records.length >= records_max || bytes >= bytes_max) return false; // read again later
      first_time_ms = header.engine_time_ms;
      const appended = builder.append_entry(view, offset, header);
      assert(appended === "ok", "an entry fits an empty record");
      return true;
    }, reader);
  if (builder.event_count > 0) seal();
  for (let i = 1; i < records.length; i++) {
    assert(records[i]!.first_sequence === records[i - 1]!.last_sequence + 1, "records follow");
  }
  assert(records.length === 0 || records[0]!.first_sequence === after_sequence + 1,
    "the backlog starts right after the checkpoint");
  return records;
}
