import { describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Prng } from "../../common/prng.ts";
import { NodeFileLayer } from "../../journal/file_layer.ts";
import { PowerLossFileLayer, SimulatedCrashError } from "../../journal/power_loss_file_layer.ts";
import {
  read_newest_snapshot,
  snapshot_name,
  SnapshotWriter,
  write_snapshot,
} from "../../journal/snapshot_file.ts";
import { concat, equal_bytes, fill_fast } from "./entries.ts";

const DIR = "/data/group-3";

function random_chunks(prng: Prng): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let count = prng.int_below(6); count > 0; count--) {
    const chunk = new Uint8Array(prng.int_below(40_000));
    fill_fast(prng, chunk);
    chunks.push(chunk);
  }
  return chunks;
}

describe("snapshot files", () => {
  test("round trip on disk, in pieces, keeping the newest two", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "snapshot-test-"));
    try {
      const files = new NodeFileLayer();
      const prng = new Prng(51);
      expect(read_newest_snapshot(files, dir)).toBeNull();
      const written: Uint8Array[] = [];
      for (const sequence of [10, 20, 30]) {
        const chunks = random_chunks(prng);
        const writer = SnapshotWriter.begin(files, dir, sequence);
        for (const chunk of chunks) writer.write_chunk(chunk);
        writer.finish();
        written.push(concat(chunks));
      }
      expect(fs.readdirSync(dir).sort()).toEqual([snapshot_name(20), snapshot_name(30)]);
      const newest = read_newest_snapshot(files, dir);
      expect(newest?.sequence).toBe(30);
      expect(newest?.bytes).toEqual(written[2] ?? new Uint8Array(0));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a damaged or cut newest snapshot falls back to the previous one", () => {
    const files = new PowerLossFileLayer();
    files.mkdir_p(DIR);
    const prng = new Prng(52);
    const older = [new Uint8Array([1, 2, 3])];
    write_snapshot(files, DIR, 5, older);
    const newer = random_chunks(prng).concat([new Uint8Array(100).fill(9)]);
    write_snapshot(files, DIR, 8, newer);
    const total_bytes = 32 + concat(newer).length + 8;
    const damages: [number, Uint8Array | null][] = [
      [0, new Uint8Array([0])], [9, new Uint8Array([0x55])], [40, new Uint8Array([0xaa])],
      [total_bytes - 1, new Uint8Array([0])], [total_bytes - 6, new Uint8Array([7])], [0, null],
    ];
    for (const [position, patch] of damages) {
      const fd = files.open(`${DIR}/${snapshot_name(8)}`, false);
      const original = new Uint8Array(files.size_bytes(fd));
      files.read(fd, original, 0);
      if (patch === null) files.truncate(fd, total_bytes - 3);
      else files.write(fd, patch, position);
      const fallback = read_newest_snapshot(files, DIR);
      expect(fallback).toEqual({ sequence: 5, bytes: concat(older) });
      files.truncate(fd, 0);
      files.write(fd, original, 0);
      files.close(fd);
      expect(read_newest_snapshot(files, DIR)?.sequence).toBe(8);
    }
  });

  test("a .tmp is ignored and deleted", () => {
    const files = new PowerLossFileLayer();
    files.mkdir_p(DIR);
    write_snapshot(files, DIR, 1, [new Uint8Array([4])]);
    const writer = SnapshotWriter.begin(files, DIR, 2);
    writer.write_chunk(new Uint8Array([5]));
    expect(files.list(DIR)).toContain(`${snapshot_name(2)}.tmp`);
    expect(read_newest_snapshot(files, DIR)?.sequence).toBe(1);
    expect(files.list(DIR)).toEqual([snapshot_name(1)]);
  });

  test("power loss at any point leaves the old or the new snapshot, whole", () => {
    let crashed_old_count = 0;
    let crashed_new_count = 0;
    for (let seed = 2_000; seed < 2_400; seed++) {
      const prng = new Prng(seed);
      const files = new PowerLossFileLayer();
      files.mkdir_p(DIR);
      let durable = { sequence: 1, bytes: concat(random_chunks(prng)) };
      write_snapshot(files, DIR, durable.sequence, [durable.bytes]);
      for (let sequence = 2; sequence < 6; sequence++) {
        const chunks = random_chunks(prng);
        const attempt = { sequence, bytes: concat(chunks) };
        files.crash_after_operations(1 + prng.int_below(16));
        try {
          write_snapshot(files, DIR, sequence, chunks);
          durable = attempt;
          files.crash_after_operations(null);
          continue;
        } catch (error) {
          if (!(error instanceof SimulatedCrashError)) throw error;
        }
        files.crash(prng);
        const found = read_newest_snapshot(files, DIR);
        if (found === null) throw new Error(`seed ${seed}: no snapshot after a crash`);
        const is_old =
          found.sequence === durable.sequence && equal_bytes(found.bytes, durable.bytes);
        const is_new = found.sequence === sequence && equal_bytes(found.bytes, attempt.bytes);
        if (!is_old && !is_new) throw new Error(`seed ${seed}: snapshot is neither old nor new`);
        if (is_new) durable = attempt;
        crashed_old_count += is_old ? 1 : 0;
        crashed_new_count += is_new ? 1 : 0;
      }
    }
    // Both outcomes happen, so the test covers crashes before and after the rename.
    expect(crashed_old_count).toBeGreaterThan(50);
    expect(crashed_new_count).toBeGreaterThan(10);
  });
});
