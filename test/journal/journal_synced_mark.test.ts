// The synced mark: only what was written after the last completed fsync may be cut as a torn
// tail. Damage to synced entries of the last segment stops recovery with an error naming the
// group, segment and offset; a torn unsynced tail, its pages landed in any order, is cut and
// every synced (acknowledged) entry survives. All on the power-loss file layer.

import { describe, expect, test } from "bun:test";
import { JOURNAL_SEGMENT_SIZE_BYTES_MIN } from "../../common/constants.ts";
import { Prng } from "../../common/prng.ts";
import { ENTRY_SYNCED_SEQUENCE_OFFSET } from "../../schema/journal_entry_layout.ts";
import { JournalCorruptError, read_journal } from "../../journal/journal_reader.ts";
import { JournalWriter } from "../../journal/journal_writer.ts";
import { PowerLossFileLayer } from "../../journal/power_loss_file_layer.ts";
import { segment_name } from "../../journal/segment_names.ts";
import { append_entries, make_entry } from "./entries.ts";

const DIR = "/data/group-0007";
const OPTIONS = { segment_size_bytes: JOURNAL_SEGMENT_SIZE_BYTES_MIN };
const SEGMENT = segment_name(1);
const TORN_SEEDS_COUNT = 200;

function open_writer(files: PowerLossFileLayer): JournalWriter {
  return JournalWriter.open(files, DIR, read_journal(files, DIR, 0, () => {}), OPTIONS);
}

function fresh(): PowerLossFileLayer {
  const files = new PowerLossFileLayer();
  files.mkdir_p(DIR);
  return files;
}

/** Appends one write of `count` entries of 3 records; returns each entry's offset and bytes. */
function write_entries(writer: JournalWriter, prng: Prng, count: number,
  offset_bytes: number): { offsets: number[]; entries: Uint8Array[] } {
  const entries: Uint8Array[] = [];
  const offsets: number[] = [];
  for (let index = 0; index < count; index++) {
    const first_sequence = writer.last_sequence + 1 + index * 3;
    entries.push(make_entry(prng, first_sequence, 3));
    offsets.push(offset_bytes);
    offset_bytes += entries[index]!.length;
  }
  append_entries(writer, entries);
  return { offsets, entries };
}

/** Overwrites bytes of the segment and makes it durable: rot, not a torn write. */
function damage(files: PowerLossFileLayer, position_bytes: number, bytes: Uint8Array): void {
  const fd = files.open(`${DIR}/${SEGMENT}`, false);
  files.write(fd, bytes, position_bytes);
  files.datasync(fd);
  files.close(fd);
}

function mark_of(entry: Uint8Array): number {
  const view = new DataView(entry.buffer, entry.byteOffset);
  return view.getFloat64(ENTRY_SYNCED_SEQUENCE_OFFSET, true);
}

describe("the synced mark of the last segment", () => {
  test("every write carries the sequence its last completed sync covered", () => {
    const prng = new Prng(5);
    const files = fresh();
    const writer = open_writer(files);
    const first = write_entries(writer, prng, 2, 0);
    writer.sync();
    const second = write_entries(writer, prng, 1, 2 * first.entries[0]!.length);
    expect(first.entries.map(mark_of)).toEqual([0, 0]);
    expect(second.entries.map(mark_of)).toEqual([6]);
  });

  test("damage inside the synced part stops recovery, naming group, segment and offset", () => {
    const prng = new Prng(6);
    const files = fresh();
    const writer = open_writer(files);
    const first = write_entries(writer, prng, 1, 0);
    writer.sync(); // sequences 1..3 acknowledged
    const second = write_entries(writer, prng, 1, first.entries[0]!.length);
    writer.sync(); // 4..6 acknowledged; the next write says so
    write_entries(writer, prng, 1, 2 * first.entries[0]!.length);
    writer.sync();
    writer.close();
    const damaged_at = second.offsets[0]!;
    damage(files, damaged_at + 100, new Uint8Array([0xde, 0xad]));
    let message = "";
    try {
      read_journal(files, DIR, 0, () => {});
    } catch (error) {
      expect(error).toBeInstanceOf(JournalCorruptError);
      message = (error as Error).message;
    }
    console.log(`recovery refused: ${message}`);
    expect(message).toContain("group-0007");
    expect(message).toContain(SEGMENT);
    expect(message).toContain(`offset ${damaged_at}`);
    expect(message).toContain("through 6");
    // Refusing changed nothing: the next start-up refuses again, the entries after it are there.
    expect(() => read_journal(files, DIR, 0, () => {})).toThrow(JournalCorruptError);
  });

  test("a torn unsynced write whose later pages landed and earlier ones did not is cut", () => {
    const prng = new Prng(7);
    const files = fresh();
    const writer = open_writer(files);
    const first = write_entries(writer, prng, 2, 0);
    writer.sync(); // 1..6 acknowledged
    const size_bytes = first.entries[0]!.length;
    const torn = write_entries(writer, prng, 3, 2 * size_bytes);
    writer.close();
    // Its first entry never reached the disk, its last one did (pages land in any order).
    damage(files, torn.offsets[0]!, new Uint8Array(size_bytes));
    const sequences: number[] = [];
    const recovery = read_journal(files, DIR, 0, (_view, _offset, header) => {
      sequences.push(header.first_sequence);
    });
    expect(sequences).toEqual([1, 4]);
    expect(recovery.last_sequence).toBe(6);
    expect(recovery.tail_cut_bytes).toBeGreaterThan(0);
  });

  test(`${TORN_SEEDS_COUNT} power losses over unsynced writes: cut, nothing synced lost`, () => {
    let cut_count = 0;
    for (let seed = 1; seed <= TORN_SEEDS_COUNT; seed++) {
      const prng = new Prng(seed);
      const files = fresh();
      const writer = open_writer(files);
      let offset_bytes = 0;
      for (let round = 0; round < 3; round++) {
        const written = write_entries(writer, prng, 1 + prng.int_below(3), offset_bytes);
        offset_bytes = written.offsets.at(-1)! + written.entries.at(-1)!.length;
      }
      const synced_sequence = writer.sync();
      for (let round = 0; round < 4; round++) {
        const written = write_entries(writer, prng, 1 + prng.int_below(3), offset_bytes);
        offset_bytes = written.offsets.at(-1)! + written.entries.at(-1)!.length;
      }
      files.crash(prng);
      const recovery = read_journal(files, DIR, 0, () => {});
      expect(recovery.last_sequence).toBeGreaterThanOrEqual(synced_sequence);
      if (recovery.tail_cut_bytes > 0) cut_count++;
    }
    console.log(`torn tails cut: ${cut_count} of ${TORN_SEEDS_COUNT}`);
    expect(cut_count).toBeGreaterThan(TORN_SEEDS_COUNT / 4);
  });
});
