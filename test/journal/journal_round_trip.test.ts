import { afterEach, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { JOURNAL_SEGMENT_SIZE_BYTES_MIN } from "../../common/constants.ts";
import { Prng } from "../../common/prng.ts";
import { NodeFileLayer, type FileLayer } from "../../journal/file_layer.ts";
import { JournalCorruptError, read_journal } from "../../journal/journal_reader.ts";
import { JournalWriter } from "../../journal/journal_writer.ts";
import { list_segments } from "../../journal/segment_names.ts";
import { append_entries, make_entry } from "./entries.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function temp_dir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "journal-test-"));
  dirs.push(dir);
  return dir;
}

/** Reads everything after `after_sequence`; returns the entries' bytes (copied) and the end. */
function read_all(files: FileLayer, dir: string, after_sequence: number) {
  const entries: Uint8Array[] = [];
  const recovery = read_journal(files, dir, after_sequence, (view, offset, header) => {
    const start = view.byteOffset + offset;
    entries.push(new Uint8Array(view.buffer.slice(start, start + 64 + header.body_bytes)));
  });
  return { entries, recovery };
}

/** Appends random entries in random groups; returns the entries. */
function append_random(writer: JournalWriter, prng: Prng, count: number): Uint8Array[] {
  const entries: Uint8Array[] = [];
  let sequence = writer.last_sequence + 1;
  while (entries.length < count) {
    const batch: Uint8Array[] = [];
    const batch_count = 1 + prng.int_below(4);
    for (let index = 0; index < batch_count && entries.length < count; index++) {
      const record_count = prng.chance(0.1) ? 1 + prng.int_below(4096) : 1 + prng.int_below(40);
      const entry = make_entry(prng, sequence, record_count);
      sequence += record_count;
      batch.push(entry);
      entries.push(entry);
    }
    append_entries(writer, batch);
    if (prng.chance(0.3)) writer.sync();
  }
  return entries;
}

describe("journal round trip on disk", () => {
  test("rollover, delete_through, reopen and continue", () => {
    const files = new NodeFileLayer();
    const dir = temp_dir();
    const prng = new Prng(11);
    const options = { segment_size_bytes: JOURNAL_SEGMENT_SIZE_BYTES_MIN };
    const empty = read_all(files, dir, 0);
    expect(empty.entries.length).toBe(0);
    expect(empty.recovery.segment_name).toBeNull();

    const writer = JournalWriter.open(files, dir, empty.recovery, options);
    const first = append_random(writer, prng, 400);
    const last_sequence = writer.sync();
    writer.close();
    const segments = list_segments(files, dir);
    expect(segments.length).toBeGreaterThan(3);
    for (const segment of segments) {
      expect(fs.statSync(path.join(dir, segment.name)).size).toBe(JOURNAL_SEGMENT_SIZE_BYTES_MIN);
    }

    const reread = read_all(files, dir, 0);
    expect(reread.entries).toEqual(first);
    expect(reread.recovery.last_sequence).toBe(last_sequence);
    expect(reread.recovery.tail_cut_bytes).toBe(0);

    const reopened = JournalWriter.open(files, dir, reread.recovery, options);
    const second = append_random(reopened, prng, 300);
    reopened.sync();
    const third_segment = list_segments(files, dir)[2];
    if (third_segment === undefined) throw new Error("three segments expected");
    const deleted_count = reopened.delete_through(third_segment.first_sequence - 1);
    expect(deleted_count).toBe(2);
    expect(list_segments(files, dir)[0]).toEqual(third_segment);
    reopened.close();

    const after = third_segment.first_sequence - 1;
    const final = read_all(files, dir, after);
    const expected = [...first, ...second].filter((entry) =>
      new DataView(entry.buffer).getFloat64(24, true) > after);
    expect(final.entries).toEqual(expected);
    expect(() => read_all(files, dir, 0)).toThrow(JournalCorruptError);
  });

  test("entries are delivered from the one holding after_sequence + 1", () => {
    const files = new NodeFileLayer();
    const dir = temp_dir();
    const writer = JournalWriter.open(files, dir, read_all(files, dir, 0).recovery);
    const prng = new Prng(12);
    const entries = [make_entry(prng, 1, 5), make_entry(prng, 6, 5), make_entry(prng, 11, 1)];
    append_entries(writer, entries);
    writer.sync();
    writer.close();
    expect(read_all(files, dir, 5).entries.length).toBe(2);
    expect(read_all(files, dir, 7).entries.length).toBe(2); // 6..10 holds 8
    expect(read_all(files, dir, 11).entries.length).toBe(0);
    expect(() => read_all(files, dir, 12)).toThrow(JournalCorruptError);
  });

  test("append refuses entries that do not continue the sequence", () => {
    const files = new NodeFileLayer();
    const dir = temp_dir();
    const writer = JournalWriter.open(files, dir, read_all(files, dir, 0).recovery);
    const prng = new Prng(13);
    writer.append(make_entry(prng, 1, 2));
    expect(() => writer.append(make_entry(prng, 4, 1))).toThrow(/expected 3/);
    const corrupt = make_entry(prng, 3, 1);
    corrupt[100] = (corrupt[100] ?? 0) ^ 1;
    expect(() => writer.append(corrupt)).toThrow(/bad_body_crc/);
    writer.append(make_entry(prng, 3, 1));
    expect(writer.sync()).toBe(3);
    writer.close();
  });
});
