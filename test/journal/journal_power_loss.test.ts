// Power loss at random points of a stream of appends, syncs, rollovers and deletions: recovery must
// return exactly a prefix of what was appended, holding at least everything a completed sync()
// covered, and the journal must keep working after it, crash after crash.

import { describe, expect, test } from "bun:test";
import { JOURNAL_SEGMENT_SIZE_BYTES_MIN } from "../../common/constants.ts";
import { Prng } from "../../common/prng.ts";
import {
  ENTRY_FIRST_SEQUENCE_OFFSET,
  ENTRY_RECORD_COUNT_OFFSET,
} from "../../schema/journal_entry_layout.ts";
import { read_journal, type JournalRecovery } from "../../journal/journal_reader.ts";
import { JournalWriter } from "../../journal/journal_writer.ts";
import { PowerLossFileLayer, SimulatedCrashError } from "../../journal/power_loss_file_layer.ts";
import { list_segments } from "../../journal/segment_names.ts";
import { append_entries, equal_bytes, make_entry } from "./entries.ts";

const DIR = "/data/group-7";
const OPTIONS = { segment_size_bytes: JOURNAL_SEGMENT_SIZE_BYTES_MIN };
const SCENARIOS_COUNT = 300;
const ROUNDS_COUNT = 3;

function last_sequence_of(entry: Uint8Array): number {
  const view = new DataView(entry.buffer, entry.byteOffset, entry.byteLength);
  return view.getFloat64(ENTRY_FIRST_SEQUENCE_OFFSET, true) +
    view.getUint32(ENTRY_RECORD_COUNT_OFFSET, true) - 1;
}

interface Model {
  entries: Uint8Array[]; // every entry appended (or being appended), in sequence order
  synced_sequence: number; // covered by a completed sync()
  deleted_through: number; // the reader starts after this
}

interface Stats {
  tail_cuts_count: number;
  segments_max: number;
  crashes_count: number;
}

// Recovers (crashing again during recovery now and then) and checks the prefix property.
function recover(files: PowerLossFileLayer, model: Model, prng: Prng, stats: Stats): JournalWriter {
  for (;;) {
    files.crash_after_operations(prng.chance(0.3) ? 1 + prng.int_below(4) : null);
    try {
      const read: Uint8Array[] = [];
      const recovery = read_journal(files, DIR, model.deleted_through, (view, offset, header) => {
        const start = view.byteOffset + offset;
        read.push(new Uint8Array(view.buffer.slice(start, start + 64 + header.body_bytes)));
      });
      check_prefix(model, read, recovery);
      if (recovery.tail_cut_bytes > 0) stats.tail_cuts_count++;
      const writer = JournalWriter.open(files, DIR, recovery, OPTIONS);
      model.synced_sequence = recovery.last_sequence; // open() syncs what recovery found
      files.crash_after_operations(null);
      return writer;
    } catch (error) {
      if (!(error instanceof SimulatedCrashError)) throw error;
      files.crash(prng);
      stats.crashes_count++;
    }
  }
}

function check_prefix(model: Model, read: Uint8Array[], recovery: JournalRecovery): void {
  const expected = model.entries.filter((entry) => last_sequence_of(entry) > model.deleted_through);
  if (read.length > expected.length) throw new Error("recovered more entries than appended");
  for (let index = 0; index < read.length; index++) {
    const entry = read[index];
    const wanted = expected[index];
    if (entry === undefined || wanted === undefined || !equal_bytes(entry, wanted)) {
      throw new Error(`recovered entry ${index} differs from the one appended`);
    }
  }
  const last_read = read[read.length - 1];
  const last_sequence =
    last_read === undefined ? model.deleted_through : last_sequence_of(last_read);
  if (recovery.last_sequence !== last_sequence) throw new Error("recovery.last_sequence is wrong");
  if (last_sequence < model.synced_sequence) {
    throw new Error(`lost synced entries: recovered through ${last_sequence}, ` +
      `synced through ${model.synced_sequence}`);
  }
  // What did not survive is forgotten: the next appends reuse those sequences with new bytes.
  model.entries = model.entries.filter((entry) => last_sequence_of(entry) <= last_sequence);
}

// Random work until the armed crash point (or the end of the round, then a crash anyway).
function work(writer: JournalWriter, files: PowerLossFileLayer, model: Model, prng: Prng): void {
  files.crash_after_operations(1 + prng.int_below(120));
  try {
    for (let step = 0; step < 200; step++) work_step(writer, model, prng);
  } catch (error) {
    if (!(error instanceof SimulatedCrashError)) throw error;
  }
}

function work_step(writer: JournalWriter, model: Model, prng: Prng): void {
  const action = prng.int_below(10);
  if (action < 6) {
    const batch: Uint8Array[] = [];
    let sequence = writer.last_sequence + 1;
    for (let count = 1 + prng.int_below(3); count > 0; count--) {
      const record_count = prng.chance(0.15) ? 1 + prng.int_below(4096) : 1 + prng.int_below(30);
      batch.push(make_entry(prng, sequence, record_count));
      sequence += record_count;
    }
    model.entries.push(...batch); // in flight: may or may not survive a crash now
    append_entries(writer, batch);
  } else if (action < 9) {
    model.synced_sequence = writer.sync();
  } else if (prng.chance(0.5)) {
    writer.prepare_next_segment();
  } else {
    const through = model.deleted_through + prng.int_below(model.synced_sequence -
      model.deleted_through + 1);
    model.deleted_through = through; // a crash part-way may leave old segments: still readable
    writer.delete_through(through);
  }
}

function run_scenario(seed: number, stats: Stats): void {
  const prng = new Prng(seed);
  const files = new PowerLossFileLayer();
  files.mkdir_p(DIR);
  const model: Model = { entries: [], synced_sequence: 0, deleted_through: 0 };
  for (let round = 0; round < ROUNDS_COUNT; round++) {
    const writer = recover(files, model, prng, stats);
    work(writer, files, model, prng);
    files.crash(prng);
    stats.segments_max = Math.max(stats.segments_max, list_segments(files, DIR).length);
    stats.crashes_count++;
  }
  recover(files, model, prng, stats);
}

describe("journal under power loss", () => {
  test(`${SCENARIOS_COUNT} scenarios of random crashes keep exactly a synced prefix`, () => {
    const stats: Stats = { tail_cuts_count: 0, segments_max: 0, crashes_count: 0 };
    const seed_base = Number(process.env.JOURNAL_SEED ?? 1_000);
    for (let seed = seed_base; seed < seed_base + SCENARIOS_COUNT; seed++) {
      try {
        run_scenario(seed, stats);
      } catch (error) {
        console.error(`power-loss scenario failed: JOURNAL_SEED=${seed}`);
        throw error;
      }
    }
    console.log("power-loss stats", stats);
    // The test exercises what it claims to: torn tails, rollovers, many crashes.
    expect(stats.tail_cuts_count).toBeGreaterThan(SCENARIOS_COUNT / 10);
    expect(stats.segments_max).toBeGreaterThan(2);
    expect(stats.crashes_count).toBeGreaterThanOrEqual(SCENARIOS_COUNT * ROUNDS_COUNT);
  }, 120_000);
});

/** The real layer, counting each file's bytes written since its last datasync, and of those the
 * bytes whose writeback no one started. */
class DirtyTrackingFileLayer extends PowerLossFileLayer {
  readonly unsynced_bytes = new Map<number, number>();
  readonly unstarted_bytes = new Map<number, number>();
  override write(fd: number, source: Uint8Array, position_bytes: number): void {
    super.write(fd, source, position_bytes);
    this.unsynced_bytes.set(fd, (this.unsynced_bytes.get(fd) ?? 0) + source.byteLength);
    this.unstarted_bytes.set(fd, (this.unstarted_bytes.get(fd) ?? 0) + source.byteLength);
  }
  override start_writeback(fd: number, position_bytes: number, size_bytes: number): boolean {
    const started = super.start_writeback(fd, position_bytes, size_bytes);
    this.unstarted_bytes.set(fd, Math.max(0, (this.unstarted_bytes.get(fd) ?? 0) - size_bytes));
    return started;
  }
  override datasync(fd: number): void {
    super.datasync(fd);
    this.unsynced_bytes.set(fd, 0);
    this.unstarted_bytes.set(fd, 0);
  }
  total(bytes_by_fd: Map<number, number>): number {
    let total = 0;
    for (const bytes of bytes_by_fd.values()) total += bytes;
    return total;
  }
}

test("preparing the next segment: each step starts its zeros' writeback, one more syncs", () => {
  const files = new DirtyTrackingFileLayer();
  files.mkdir_p(DIR);
  const writer = JournalWriter.open(files, DIR, read_journal(files, DIR, 0, () => {}), OPTIONS);
  const step_bytes = JOURNAL_SEGMENT_SIZE_BYTES_MIN / 8;
  let steps = 0;
  let prepared = false;
  while (!prepared) {
    prepared = writer.prepare_next_segment_step(step_bytes);
    steps++;
    // A commit's fdatasync after this step would otherwise write the step's zeros with it.
    expect(files.total(files.unstarted_bytes)).toBe(0);
    // One fdatasync (one flush of the disk's cache) for the whole file, at its last step.
    expect(files.total(files.unsynced_bytes)).toBe(prepared ? 0 : step_bytes * steps);
  }
  expect(steps).toBe(9); // 8 of zeros, then the fdatasync
  expect(writer.next_segment_prepared).toBe(true);
});
