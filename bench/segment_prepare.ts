// What preparing one journal segment costs the journal worker, done the way its loop does it:
// zeros written in PREPARE_BYTES_IDLE_CYCLE steps (journal/journal_loop.ts), each step a call of
// JournalWriter.prepare_next_segment_step on the real file layer. A commit that arrives while a
// step runs waits behind it, so both the whole segment's time and the longest step matter.
// To compare two builds, run it in each tree, taking turns.
//
//   bun bench/segment_prepare.ts [--segments=6] [--gap-ms=0] [--dir=PATH] [--json]
// --gap-ms: a pause between steps, as the commits between the loop's idle turns make (0: steps
//   back to back, the worst case for the last step, which waits for what is still being written).
// --dir: where the files go (default: a temporary directory); put it on the journal's disk.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { JOURNAL_SEGMENT_SIZE_BYTES_DEFAULT } from "../common/constants.ts";
import { NodeFileLayer } from "../journal/file_layer.ts";
import { PREPARE_BYTES_IDLE_CYCLE } from "../journal/journal_loop.ts";
import { read_journal } from "../journal/journal_reader.ts";
import { JournalWriter } from "../journal/journal_writer.ts";

function option(name: string): string | undefined {
  return process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
}

const segments = Number(option("segments") ?? 6);
const gap_ms = Number(option("gap-ms") ?? 0);
const json = process.argv.includes("--json");
const dir_arg = option("dir");
const files = new NodeFileLayer();

interface Sample { work_ms: number; cpu_ms: number; longest_step_ms: number; last_step_ms: number }

/** Prepares the segment that follows a fresh journal's first one, step by step. */
function prepare_one_segment(): Sample {
  const dir = fs.mkdtempSync(path.join(dir_arg ?? os.tmpdir(), "segment-prepare-"));
  try {
    const writer = JournalWriter.open(files, dir, read_journal(files, dir, 0, () => {}),
      { segment_size_bytes: JOURNAL_SEGMENT_SIZE_BYTES_DEFAULT });
    const cpu_before = process.cpuUsage();
    let work_ms = 0;
    let longest_step_ms = 0;
    let last_step_ms = 0;
    for (let prepared = false; !prepared;) {
      if (gap_ms > 0) Bun.sleepSync(gap_ms);
      const step_started_ms = performance.now();
      prepared = writer.prepare_next_segment_step(PREPARE_BYTES_IDLE_CYCLE);
      last_step_ms = performance.now() - step_started_ms;
      work_ms += last_step_ms;
      longest_step_ms = Math.max(longest_step_ms, last_step_ms);
    }
    const cpu = process.cpuUsage(cpu_before);
    writer.close();
    return { work_ms, cpu_ms: (cpu.user + cpu.system) / 1000, longest_step_ms, last_step_ms };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const samples = Array.from({ length: segments }, prepare_one_segment);
const summary = {
  segment_bytes: JOURNAL_SEGMENT_SIZE_BYTES_DEFAULT,
  step_bytes: PREPARE_BYTES_IDLE_CYCLE,
  segments,
  gap_ms,
  work_ms: median(samples.map((sample) => sample.work_ms)),
  cpu_ms: median(samples.map((sample) => sample.cpu_ms)),
  longest_step_ms: median(samples.map((sample) => sample.longest_step_ms)),
  last_step_ms: median(samples.map((sample) => sample.last_step_ms)),
};
const cpus = os.cpus();
if (json) {
  console.log(JSON.stringify({ ...summary, cpu_model: cpus[0]?.model ?? "unknown",
    cpu_count: cpus.length, bun: Bun.version }));
} else {
  console.log(`one ${summary.segment_bytes >> 20} MiB journal segment prepared in ` +
    `${summary.step_bytes >> 10} KiB steps ${gap_ms} ms apart, ${segments} segments (medians): ` +
    `${summary.work_ms.toFixed(1)} ms in its steps, ${summary.cpu_ms.toFixed(1)} ms of CPU, ` +
    `longest step ${summary.longest_step_ms.toFixed(2)} ms, ` +
    `last ${summary.last_step_ms.toFixed(2)} ms`);
  console.log(`  machine: ${cpus.length} x ${cpus[0]?.model ?? "unknown"}, Bun ${Bun.version}`);
}
