// JournalOutput's merging (the engine worker's loop): consecutive batches of one group at one
// engine time make one entry; another group, epoch or time, a full entry (JOURNAL_ENTRY_RECORDS_MAX
// records) or seal() ends it. Every entry drained must read back valid, with contiguous sequences.

import { describe, expect, test } from "bun:test";
import {
  JOURNAL_ENTRY_BYTES_MAX, JOURNAL_ENTRY_HEADER_BYTES, JOURNAL_ENTRY_RECORDS_MAX, JOURNAL_RECORD_BYTES,
} from "../../common/constants.ts";
import { JournalOutput } from "../../engine/journal_output.ts";
import {
  entry_header_empty, read_entry_header, type EntryHeader,
} from "../../schema/journal_entry_layout.ts";
import { T0_MS } from "./harness.ts";

const CAPACITY_BYTES = 4 * JOURNAL_ENTRY_BYTES_MAX;

interface Batch {
  group: number;
  epoch?: number;
  first_sequence: number;
  records: number;
  time_ms?: number;
}

/** Writes each batch as the engine does: begin, one record per event (marked), end. */
function write_batches(output: JournalOutput, batches: Batch[]): void {
  for (const b of batches) {
    output.begin_entry(b.group, b.epoch ?? 1, b.first_sequence, b.time_ms ?? T0_MS);
    for (let i = 0; i < b.records; i++) {
      const at = output.next_record(b.first_sequence + i);
      output.view.setFloat64(at, b.first_sequence + i, true); // the record says its sequence
      output.view.setUint32(at + 8, b.group, true);
    }
    output.end_entry();
  }
}

/** Every entry in the drained bytes, checked valid and its records matching its header. */
function drained_entries(output: JournalOutput): EntryHeader[] {
  output.seal();
  const entries: EntryHeader[] = [];
  let offset = 0;
  while (offset < output.size_bytes) {
    const header = entry_header_empty();
    expect(read_entry_header(output.view, offset, output.size_bytes - offset, header)).toBe("ok");
    for (let i = 0; i < header.record_count; i++) {
      const at = offset + JOURNAL_ENTRY_HEADER_BYTES + i * JOURNAL_RECORD_BYTES;
      expect(output.view.getFloat64(at, true)).toBe(header.first_sequence + i);
      expect(output.view.getUint32(at + 8, true)).toBe(header.group);
    }
    entries.push(header);
    offset += JOURNAL_ENTRY_HEADER_BYTES + header.body_bytes;
  }
  expect(offset).toBe(output.size_bytes);
  return entries;
}

function shape(entries: EntryHeader[]): [number, number, number, number][] {
  return entries.map((e) => [e.group, e.first_sequence, e.record_count, e.engine_time_ms - T0_MS]);
}

describe("journal output merging", () => {
  test("a group's batches at one time make one entry; another group, time or epoch starts one",
    () => {
      const output = new JournalOutput(CAPACITY_BYTES, true);
      write_batches(output, [
        { group: 0, first_sequence: 1, records: 20 },
        { group: 0, first_sequence: 21, records: 5 },
        { group: 0, first_sequence: 26, records: 1 },
        { group: 1, first_sequence: 1, records: 7 },
        { group: 1, first_sequence: 8, records: 3 },
        { group: 1, first_sequence: 11, records: 2, time_ms: T0_MS + 1 },
        { group: 1, first_sequence: 13, records: 2, time_ms: T0_MS + 1, epoch: 2 },
        { group: 0, first_sequence: 27, records: 4, time_ms: T0_MS + 1 },
      ]);
      expect(shape(drained_entries(output))).toEqual([
        [0, 1, 26, 0], [1, 1, 10, 0], [1, 11, 2, 1], [1, 13, 2, 1], [0, 27, 4, 1],
      ]);
    });

  test("a batch with no records leaves the held entry as it was", () => {
    const output = new JournalOutput(CAPACITY_BYTES, true);
    write_batches(output, [
      { group: 3, first_sequence: 1, records: 4 },
      { group: 3, first_sequence: 5, records: 0 }, // every order a replayed retry
      { group: 3, first_sequence: 5, records: 2 },
    ]);
    expect(shape(drained_entries(output))).toEqual([[3, 1, 6, 0]]);
  });

  test("a full entry is sealed and the batch goes on in a new one", () => {
    const output = new JournalOutput(CAPACITY_BYTES, true);
    const first = JOURNAL_ENTRY_RECORDS_MAX - 10;
    write_batches(output, [
      { group: 2, first_sequence: 1, records: first },
      { group: 2, first_sequence: first + 1, records: 30 },
      { group: 2, first_sequence: first + 31, records: 1 },
    ]);
    expect(shape(drained_entries(output))).toEqual([
      [2, 1, JOURNAL_ENTRY_RECORDS_MAX, 0], [2, JOURNAL_ENTRY_RECORDS_MAX + 1, 21, 0],
    ]);
  });

  test("the bytes are drained only sealed; reset refuses a held entry", () => {
    const output = new JournalOutput(CAPACITY_BYTES, true);
    write_batches(output, [{ group: 0, first_sequence: 1, records: 3 }]);
    expect(() => output.reset()).toThrow("held");
    output.seal();
    output.seal(); // nothing held: nothing to do
    expect(shape(drained_entries(output))).toEqual([[0, 1, 3, 0]]);
    output.reset();
    expect(output.size_bytes).toBe(0);
    write_batches(output, [{ group: 0, first_sequence: 4, records: 2 }]);
    expect(shape(drained_entries(output))).toEqual([[0, 4, 2, 0]]); // a new entry after a drain
  });

  test("without merging every batch is its own sealed entry, and the record limit holds", () => {
    const output = new JournalOutput(CAPACITY_BYTES);
    write_batches(output, [
      { group: 0, first_sequence: 1, records: 2 },
      { group: 0, first_sequence: 3, records: 2 },
    ]);
    // Read back without seal(): a plain output's entries are whole as soon as each batch ends.
    const header = entry_header_empty();
    expect(read_entry_header(output.view, 0, output.size_bytes, header)).toBe("ok");
    expect(header.record_count).toBe(2);
    expect(shape(drained_entries(output))).toEqual([[0, 1, 2, 0], [0, 3, 2, 0]]);
    output.reset();
    output.begin_entry(0, 1, 1, T0_MS);
    for (let i = 0; i < JOURNAL_ENTRY_RECORDS_MAX; i++) output.next_record(1 + i);
    expect(() => output.next_record(1 + JOURNAL_ENTRY_RECORDS_MAX)).toThrow("entry record limit");
  });
});
