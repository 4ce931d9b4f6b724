// read_journal_range: visits exactly the whole entries in (after, through], across segments, while
// the writer has more (unsynced) bytes after `through`; never changes a byte; throws on damage or
// missing segments inside the range.

import { afterEach, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { JOURNAL_SEGMENT_SIZE_BYTES_MIN } from "../../common/constants.ts";
import { Prng } from "../../common/prng.ts";
import { NodeFileLayer } from "../../journal/file_layer.ts";
import { read_journal_range } from "../../journal/journal_range_reader.ts";
import { JournalCorruptError, read_journal } from "../../journal/journal_reader.ts";
import { JournalWriter } from "../../journal/journal_writer.ts";
import { list_segments } from "../../journal/segment_names.ts";
import { make_entry } from "../journal/entries.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

const files = new NodeFileLayer();

function setup(entry_count: number) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "range-reader-test-"));
  dirs.push(dir);
  const writer = JournalWriter.open(files, dir, read_journal(files, dir, 0, () => {}),
    { segment_size_bytes: JOURNAL_SEGMENT_SIZE_BYTES_MIN });
  const prng = new Prng(5);
  const boundaries: number[] = [0]; // last sequence after each entry
  let sequence = 1;
  for (let n = 0; n < entry_count; n++) {
    const count = prng.chance(0.05) ? 1 + prng.int_below(4096) : 1 + prng.int_below(40);
    writer.append(make_entry(prng, sequence, count));
    sequence += count;
    boundaries.push(sequence - 1);
  }
  return { dir, writer, boundaries };
}

function visit(dir: string, after: number, through: number): [number, number][] {
  const seen: [number, number][] = [];
  read_journal_range(files, dir, after, through, (_view, _offset, header) => {
    seen.push([header.first_sequence, header.first_sequence + header.record_count - 1]);
  });
  return seen;
}

function snapshot_bytes(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of fs.readdirSync(dir)) {
    out.set(name, Bun.hash(fs.readFileSync(path.join(dir, name))).toString());
  }
  return out;
}

describe("read_journal_range", () => {
  test("visits exactly the entries in (after, through] across segments, changes nothing", () => {
    const { dir, writer, boundaries } = setup(300);
    const durable = writer.sync();
    expect(list_segments(files, dir).length).toBeGreaterThan(2);
    // Unsynced bytes after the durable sequence: the reader must not look at them.
    const prng = new Prng(9);
    writer.append(make_entry(prng, durable + 1, 10));
    const before = snapshot_bytes(dir);
    const prng2 = new Prng(3);
    for (let trial = 0; trial < 40; trial++) {
      const a = prng2.int_below(boundaries.length);
      const b = a + prng2.int_below(boundaries.length - a);
      const after = boundaries[a]!;
      const through = boundaries[b]!;
      const seen = visit(dir, after, through);
      const expected: [number, number][] = [];
      for (let i = a + 1; i <= b; i++) expected.push([boundaries[i - 1]! + 1, boundaries[i]!]);
      expect(seen).toEqual(expected);
    }
    expect(snapshot_bytes(dir)).toEqual(before);
    writer.close();
  });

  test("on_entry returning false stops after that entry", () => {
    const { dir, writer, boundaries } = setup(20);
    writer.sync();
    let calls = 0;
    const result = read_journal_range(files, dir, 0, boundaries[20]!, () => ++calls < 3);
    expect(calls).toBe(3);
    expect(result).toEqual({ last_sequence: boundaries[3]!, stopped: true });
    writer.close();
  });

  test("damage inside the range throws; damage after it does not matter", () => {
    const { dir, writer, boundaries } = setup(20);
    writer.sync();
    writer.close();
    // Beyond the written end (the "durable" sequence is not there): a clear error too.
    expect(() => visit(dir, boundaries[20]!, boundaries[20]! + 5)).toThrow(/ends at sequence/);
    const segment = list_segments(files, dir)[0]!;
    const file = path.join(dir, segment.name);
    const bytes = fs.readFileSync(file);
    // The 10th entry's first body byte.
    let offset = 0;
    for (let i = 1; i < 10; i++) offset += 64 + (boundaries[i]! - boundaries[i - 1]!) * 80;
    bytes[offset + 64] = bytes[offset + 64]! ^ 0xff;
    fs.writeFileSync(file, bytes);
    expect(visit(dir, 0, boundaries[9]!).length).toBe(9);
    expect(() => visit(dir, 0, boundaries[10]!)).toThrow(JournalCorruptError);
    expect(() => visit(dir, 0, boundaries[10]!)).toThrow(/damaged at offset/);
  });

  test("a missing segment in the range throws", () => {
    const { dir, writer, boundaries } = setup(300);
    const durable = writer.sync();
    writer.close();
    const segments = list_segments(files, dir);
    fs.unlinkSync(path.join(dir, segments[0]!.name));
    expect(() => visit(dir, 0, durable)).toThrow(/segments are missing/);
    fs.unlinkSync(path.join(dir, segments[2]!.name));
    expect(() => visit(dir, segments[1]!.first_sequence - 1, durable))
      .toThrow(/sequences are missing|segments are missing/);
    expect(boundaries.length).toBe(301);
  });
});
