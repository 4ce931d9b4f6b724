// A full disk and a failed fsync, with the power-loss file layer injecting them.

import { describe, expect, test } from "bun:test";
import { AssertionError } from "../../common/assert.ts";
import { JOURNAL_SEGMENT_SIZE_BYTES_MIN } from "../../common/constants.ts";
import { Prng } from "../../common/prng.ts";
import { DiskFullError, FsyncFailedError } from "../../journal/file_layer.ts";
import { JournalCorruptError, read_journal } from "../../journal/journal_reader.ts";
import { JournalWriter } from "../../journal/journal_writer.ts";
import { PowerLossFileLayer } from "../../journal/power_loss_file_layer.ts";
import { list_segments, segment_name } from "../../journal/segment_names.ts";
import { make_entry } from "./entries.ts";

const DIR = "/data/group-1";
const OPTIONS = { segment_size_bytes: JOURNAL_SEGMENT_SIZE_BYTES_MIN };

function read_all(files: PowerLossFileLayer): { entries: Uint8Array[]; last_sequence: number } {
  const entries: Uint8Array[] = [];
  const recovery = read_journal(files, DIR, 0, (view, offset, header) => {
    const start = view.byteOffset + offset;
    entries.push(new Uint8Array(view.buffer.slice(start, start + 64 + header.body_bytes)));
  });
  return { entries, last_sequence: recovery.last_sequence };
}

function open_writer(files: PowerLossFileLayer): JournalWriter {
  return JournalWriter.open(files, DIR, read_journal(files, DIR, 0, () => {}), OPTIONS);
}

/** Appends 4000-record entries until the current segment has no room for another. */
function fill_first_segment(writer: JournalWriter, prng: Prng): Uint8Array[] {
  const entries: Uint8Array[] = [];
  for (let index = 0; index < 3; index++) {
    const entry = make_entry(prng, writer.last_sequence + 1, 4000);
    writer.append(entry);
    entries.push(entry);
  }
  writer.sync();
  return entries;
}

describe("full disk", () => {
  test("rollover on a full disk throws, corrupts nothing, and the same bytes append later", () => {
    const prng = new Prng(21);
    const files = new PowerLossFileLayer();
    files.mkdir_p(DIR);
    const writer = open_writer(files);
    const before = fill_first_segment(writer, prng);
    const last_sequence = writer.last_sequence;

    files.set_free_bytes(100_000); // less than a segment: preallocation fails
    const next = make_entry(prng, last_sequence + 1, 4000);
    expect(() => writer.append(next)).toThrow(DiskFullError);
    expect(() => writer.append(next)).toThrow(DiskFullError);
    expect(writer.last_sequence).toBe(last_sequence);
    expect(writer.sync()).toBe(last_sequence);
    expect(read_all(files).entries).toEqual(before);
    expect(list_segments(files, DIR).length).toBe(1);

    files.set_free_bytes(null); // space freed
    writer.append(next);
    expect(writer.sync()).toBe(last_sequence + 4000);
    expect(list_segments(files, DIR).map((segment) => segment.name))
      .toEqual([segment_name(1), segment_name(last_sequence + 1)]);
    files.crash(prng);
    expect(read_all(files).entries).toEqual([...before, next]);
  });

  test("a write refused in place (copy-on-write file system) leaves the journal clean", () => {
    const prng = new Prng(22);
    const files = new PowerLossFileLayer();
    files.mkdir_p(DIR);
    const writer = open_writer(files);
    const first = make_entry(prng, 1, 10);
    writer.append(first);
    writer.sync();

    files.set_free_bytes(500, true); // part of the next write lands, then ENOSPC
    const second = make_entry(prng, 11, 10);
    expect(() => writer.append(second)).toThrow(DiskFullError);
    expect(writer.last_sequence).toBe(10);
    writer.close(); // as if the process restarted once space is free
    files.set_free_bytes(null);
    expect(read_all(files).entries).toEqual([first]); // the partial write is a tail, cut

    const reopened = open_writer(files);
    reopened.append(second);
    expect(reopened.sync()).toBe(20);
    files.crash(prng);
    expect(read_all(files).entries).toEqual([first, second]);
  });

  test("the same writer retries the same bytes after a refused in-place write", () => {
    const prng = new Prng(23);
    const files = new PowerLossFileLayer();
    files.mkdir_p(DIR);
    const writer = open_writer(files);
    files.set_free_bytes(100, true);
    const first = make_entry(prng, 1, 3);
    expect(() => writer.append(first)).toThrow(DiskFullError);
    files.set_free_bytes(null);
    writer.append(first);
    expect(writer.sync()).toBe(3);
    files.crash(prng);
    expect(read_all(files).entries).toEqual([first]);
  });
});

describe("failed fsync", () => {
  test("throws FsyncFailedError, then the writer refuses all work", () => {
    const prng = new Prng(31);
    const files = new PowerLossFileLayer();
    files.mkdir_p(DIR);
    const writer = open_writer(files);
    const first = make_entry(prng, 1, 2);
    writer.append(first);
    writer.sync();
    writer.append(make_entry(prng, 3, 2));
    files.fail_next_fsync();
    expect(() => writer.sync()).toThrow(FsyncFailedError);
    expect(() => writer.sync()).toThrow(AssertionError); // never retried
    expect(() => writer.append(make_entry(prng, 5, 1))).toThrow(AssertionError);
    // The kernel dropped the failed pages: after power loss only the synced entry is left.
    files.crash(prng);
    expect(read_all(files).entries).toEqual([first]);
  });

  test("a failed directory fsync at rollover also stops the writer", () => {
    const prng = new Prng(32);
    const files = new PowerLossFileLayer();
    files.mkdir_p(DIR);
    const writer = open_writer(files);
    fill_first_segment(writer, prng);
    writer.prepare_next_segment();
    files.fail_next_fsync();
    expect(() => writer.append(make_entry(prng, writer.last_sequence + 1, 4000)))
      .toThrow(FsyncFailedError);
    expect(() => writer.sync()).toThrow(AssertionError);
  });
});

describe("corruption that is not a torn tail", () => {
  test("a damaged entry in an earlier segment stops recovery with an error", () => {
    const prng = new Prng(41);
    const files = new PowerLossFileLayer();
    files.mkdir_p(DIR);
    const writer = open_writer(files);
    fill_first_segment(writer, prng);
    writer.append(make_entry(prng, writer.last_sequence + 1, 4000));
    writer.sync();
    const fd = files.open(`${DIR}/${segment_name(1)}`, false);
    files.write(fd, new Uint8Array([0xff]), 500);
    files.close(fd);
    expect(() => read_all(files)).toThrow(JournalCorruptError);
  });

  test("a missing segment in the middle is a gap, not skipped", () => {
    const prng = new Prng(42);
    const files = new PowerLossFileLayer();
    files.mkdir_p(DIR);
    const writer = open_writer(files);
    for (let round = 0; round < 3; round++) fill_first_segment(writer, prng);
    writer.close();
    const segments = list_segments(files, DIR);
    expect(segments.length).toBe(3);
    files.unlink(`${DIR}/${segments[1]?.name}`);
    expect(() => read_all(files)).toThrow(/sequences are missing/);
  });
});
