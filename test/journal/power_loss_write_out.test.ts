// The power-loss model's disk cache (journal/power_loss_file_layer.ts): what write_out sends is as
// fragile as a pending write until any file's datasync flushes the disk; only overwrites of
// durable bytes go, since nothing writes the metadata a growing file would need.

import { expect, test } from "bun:test";
import { Prng } from "../../common/prng.ts";
import { PowerLossFileLayer } from "../../journal/power_loss_file_layer.ts";

const SIZE_BYTES = 4096;

/** Two files of durable zeros in /d, their descriptors, and an overwrite of the first. */
function two_files(): { files: PowerLossFileLayer; a: number; b: number; read_a: () => Uint8Array } {
  const files = new PowerLossFileLayer();
  files.mkdir_p("/d");
  const a = files.open("/d/a", true);
  const b = files.open("/d/b", true);
  files.write(a, new Uint8Array(SIZE_BYTES), 0);
  files.write(b, new Uint8Array(SIZE_BYTES), 0);
  files.datasync(a);
  files.datasync(b);
  files.fsync_dir("/d");
  files.write(a, new Uint8Array(16).fill(7), 100);
  const read_a = () => {
    const fd = files.open("/d/a", false);
    const target = new Uint8Array(SIZE_BYTES + 16);
    const count = files.read(fd, target, 0);
    files.close(fd);
    return target.subarray(0, count);
  };
  return { files, a, b, read_a };
}

test("written out, then another file's datasync: the overwrite survives every power loss", () => {
  for (let seed = 1; seed <= 20; seed++) {
    const { files, a, b, read_a } = two_files();
    files.write_out(a, 100, 16);
    files.write(b, new Uint8Array(8).fill(1), 0);
    files.datasync(b);
    files.crash(new Prng(seed));
    expect([...read_a().subarray(100, 116)]).toEqual(new Array(16).fill(7));
  }
});

test("written out with no flush after it: some power losses take the overwrite, some keep it", () => {
  const kept = new Set<boolean>();
  for (let seed = 1; seed <= 30; seed++) {
    const { files, a, read_a } = two_files();
    files.write_out(a, 100, 16);
    files.crash(new Prng(seed));
    kept.add(read_a().subarray(100, 116).every((byte) => byte === 7));
  }
  expect([...kept].sort()).toEqual([false, true]);
});

test("a write past the durable end is not written out: another file's flush leaves it fragile", () => {
  const kept = new Set<number>();
  for (let seed = 1; seed <= 30; seed++) {
    const { files, a, b, read_a } = two_files();
    files.write(a, new Uint8Array(16).fill(9), SIZE_BYTES); // grows the file
    files.write_out(a, 0, SIZE_BYTES + 16);
    files.datasync(b);
    files.crash(new Prng(seed));
    kept.add(read_a().length);
  }
  expect(kept.has(SIZE_BYTES)).toBe(true); // lost in some: only its own datasync would keep it
});
