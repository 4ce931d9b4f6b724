// What a group commit of several groups costs on this machine's disk, in the two ways the journal
// worker makes them durable (journal/journal_loop.ts), side by side in one process, taking turns:
// - "own fdatasync": every group's file fdatasynced, one after another (each ends with a flush of
//   the disk's cache); what a file system without a shared flush gets;
// - "one flush": every group but one written out (sync_file_range, waited for), then the last
//   one's fdatasync flushes the disk for all; what ext4 gets (journal/disk_flush_scope.ts).
// Both start every file's writeback right after its write, as the journal does. Files are
// preallocated segments (zeros written and synced), overwritten in place, as the journal's are.
// The disk's flush requests per commit are read from /sys/dev/block when the device has them.
//
//   bun bench/group_commit.ts [--groups=4] [--commit-kb=40] [--commits=300] [--rounds=3]
//                             [--dir=PATH] [--json]
// --dir: where the files go (default: a temporary directory); put it on the disk to measure.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { device_major, device_minor, flush_disk_of } from "../journal/disk_flush_scope.ts";
import { NodeFileLayer } from "../journal/file_layer.ts";

const SEGMENT_BYTES = 64 << 20;
const ZERO_CHUNK_BYTES = 1 << 20;
/** /sys/block/.../stat's field of completed flush requests (kernel 5.5 and later). */
const STAT_FLUSHES_COMPLETED_FIELD = 15;

function option(name: string, fallback: number): number {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  return arg === undefined ? fallback : Number(arg.split("=")[1]);
}

const groups = option("groups", 4);
const commit_bytes = option("commit-kb", 40) * 1024;
const commits = option("commits", 300);
const rounds = option("rounds", 3);
const json = process.argv.includes("--json");
const dir_arg = process.argv.find((a) => a.startsWith("--dir="))?.split("=")[1];
const dir = fs.mkdtempSync(path.join(dir_arg ?? os.tmpdir(), "group-commit-"));
const files = new NodeFileLayer();

function flushes_completed(): number | null {
  const dev = fs.statSync(dir).dev;
  try {
    const stat = fs.readFileSync(`/sys/dev/block/${device_major(dev)}:${device_minor(dev)}/stat`,
      "utf8").trim().split(/\s+/);
    const value = stat[STAT_FLUSHES_COMPLETED_FIELD];
    return value === undefined ? null : Number(value);
  } catch {
    return null; // no block device behind it (tmpfs, overlay) or an older kernel
  }
}

const fds: number[] = [];
const zeros = new Uint8Array(ZERO_CHUNK_BYTES);
for (let group = 0; group < groups; group++) {
  const fd = files.open(path.join(dir, `segment-${group}`), true);
  for (let at = 0; at < SEGMENT_BYTES; at += ZERO_CHUNK_BYTES) files.write(fd, zeros, at);
  files.datasync(fd);
  fds.push(fd);
}
files.fsync_dir(dir);
const entries = new Uint8Array(commit_bytes).fill(0x5a);
let position_bytes = 0;

type Mode = "own fdatasync" | "one flush";
const MODES: Mode[] = ["own fdatasync", "one flush"];

function commit(mode: Mode): void {
  for (const fd of fds) {
    files.write(fd, entries, position_bytes);
    files.start_writeback(fd, position_bytes, commit_bytes);
  }
  if (mode === "own fdatasync") {
    for (const fd of fds) files.datasync(fd);
  } else {
    for (const fd of fds.slice(0, -1)) files.write_out(fd, position_bytes, commit_bytes);
    files.datasync(fds[fds.length - 1]!);
  }
  position_bytes += commit_bytes;
  if (position_bytes + commit_bytes > SEGMENT_BYTES) position_bytes = 0;
}

interface Sample { ms_per_commit: number; cpu_us_per_commit: number; flushes_per_commit: number | null }
const samples = new Map<Mode, Sample[]>(MODES.map((mode) => [mode, []]));
for (let round = 0; round < rounds; round++) {
  for (const mode of round % 2 === 0 ? MODES : [...MODES].reverse()) {
    const flushes_before = flushes_completed();
    const cpu_before = process.cpuUsage();
    const started_ms = performance.now();
    for (let n = 0; n < commits; n++) commit(mode);
    const elapsed_ms = performance.now() - started_ms;
    const cpu = process.cpuUsage(cpu_before);
    const flushes_after = flushes_completed();
    samples.get(mode)!.push({
      ms_per_commit: elapsed_ms / commits,
      cpu_us_per_commit: (cpu.user + cpu.system) / commits,
      flushes_per_commit: flushes_before === null || flushes_after === null ? null
        : (flushes_after - flushes_before) / commits,
    });
  }
}
for (const fd of fds) files.close(fd);
fs.rmSync(dir, { recursive: true, force: true });

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const summary = MODES.map((mode) => {
  const runs = samples.get(mode)!;
  const flushes = runs.map((run) => run.flushes_per_commit);
  return {
    mode,
    ms_per_commit: median(runs.map((run) => run.ms_per_commit)),
    cpu_us_per_commit: median(runs.map((run) => run.cpu_us_per_commit)),
    flushes_per_commit: flushes.includes(null) ? null : median(flushes as number[]),
  };
});
const disk = flush_disk_of(path.dirname(dir));
const cpus = os.cpus();
if (json) {
  console.log(JSON.stringify({ groups, commit_bytes, commits, rounds, flush_disk: disk,
    modes: summary, cpu_model: cpus[0]?.model ?? "unknown", cpu_count: cpus.length,
    bun: Bun.version }));
} else {
  console.log(`group commit of ${groups} groups, ${commit_bytes / 1024} KiB each, ${commits} ` +
    `commits x ${rounds} rounds (medians); the service's way here: ` +
    (disk === null ? "own fdatasync (no shared flush on this file system)" : `one flush (${disk})`));
  for (const row of summary) {
    console.log(`  ${row.mode.padEnd(14)} ${row.ms_per_commit.toFixed(3)} ms per commit, ` +
      `${row.cpu_us_per_commit.toFixed(0)} us of CPU, ` +
      `${row.flushes_per_commit === null ? "n/a" : row.flushes_per_commit.toFixed(1)} disk flushes`);
  }
  console.log(`  machine: ${cpus.length} x ${cpus[0]?.model ?? "unknown"}, Bun ${Bun.version}`);
}
