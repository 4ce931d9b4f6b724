// bun run bench:engine --replay [--json]: recovery speed. One engine applies the set-up (opening
// every account) and two rounds of the benchmark workload while a JournalWriter writes its journal to
// a temporary directory on this machine's disk (fsynced at the end), its entries merged as the
// engine worker's loop merges them (a group's batches of one engine time in one entry). Then a
// fresh engine recovers from that directory with recover_group, exactly as a restarting worker
// does (read the segments, check every CRC, apply recorded outcomes, rebuild the window), and that
// is what is timed.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { assert } from "../common/assert.ts";
import { JOURNAL_APPEND_BYTES_MAX, ORDER_SIZE_BYTES, RESULT_SIZE_BYTES } from "../common/constants.ts";
import { GroupEngine } from "../engine/group_engine.ts";
import { JournalOutput } from "../engine/journal_output.ts";
import { recover_group } from "../node/recovery.ts";
import type { GroupLimits } from "../engine/rules.ts";
import { NodeFileLayer } from "../journal/file_layer.ts";
import { read_journal } from "../journal/journal_reader.ts";
import { JournalWriter } from "../journal/journal_writer.ts";
import { thread_cpu_ns } from "./thread_cpu.ts";
import {
  BATCH_ORDERS, BATCHES_PER_MS, ENGINE_TIME_START_MS, round_orders, setup_orders, stamp_round,
  type Round, type WorkloadShape,
} from "./engine_workload.ts";
const ROUNDS = 2;

function write_journal(dir: string, shape: WorkloadShape, limits: GroupLimits): number {
  const files = new NodeFileLayer();
  const writer = JournalWriter.open(files, dir, read_journal(files, dir, 0, () => {}));
  const engine = new GroupEngine(0, 1, limits);
  const output = new JournalOutput(JOURNAL_APPEND_BYTES_MAX, true);
  const round = round_orders(shape);
  const rounds: Round[] = [setup_orders(shape), ...Array.from({ length: ROUNDS }, () => round)];
  let time_ms = ENGINE_TIME_START_MS;
  const results = new DataView(new ArrayBuffer(BATCH_ORDERS * RESULT_SIZE_BYTES));
  for (const r of rounds) {
    const start_ms = time_ms;
    time_ms = stamp_round(r, BATCH_ORDERS, start_ms, BATCHES_PER_MS);
    for (let batch = 0; batch < r.order_count / BATCH_ORDERS; batch++) {
      if (!output.has_room_for_entry()) {
        output.seal();
        writer.append(output.bytes.subarray(0, output.size_bytes));
        output.reset();
      }
      engine.apply_batch(r.view, batch * BATCH_ORDERS * ORDER_SIZE_BYTES, BATCH_ORDERS,
        start_ms + Math.floor(batch / BATCHES_PER_MS), results, 0, output);
    }
    time_ms += limits.idempotency_window_ms + 1;
  }
  output.seal();
  if (output.size_bytes > 0) writer.append(output.bytes.subarray(0, output.size_bytes));
  writer.sync();
  writer.close();
  return engine.last_sequence;
}

export function run_replay_bench(json: boolean, shape: WorkloadShape, limits: GroupLimits): void {
  const dir = mkdtempSync(`${tmpdir()}/balance-replay-`);
  try {
    const events = write_journal(dir, shape, limits);
    const engine = new GroupEngine(0, 0, limits);
    const start_cpu_ns = thread_cpu_ns();
    const start_ns = Bun.nanoseconds();
    const recovery = recover_group(new NodeFileLayer(), dir, engine);
    const seconds = (Bun.nanoseconds() - start_ns) / 1e9;
    const cpu_seconds = (thread_cpu_ns() - start_cpu_ns) / 1e9;
    assert(recovery.last_sequence === events, "recovery reached the last event");
    const summary = {
      replay_orders_per_sec: Math.round(events / seconds),
      replay_orders_per_cpu_sec: Math.round(events / cpu_seconds),
      events,
      seconds: Number(seconds.toFixed(3)),
      accounts: engine.accounts.count,
      window_entries: engine.window.count,
      journal_bytes: events * 80,
    };
    if (json) {
      console.log(JSON.stringify(summary));
      return;
    }
    console.log(`recovery of one group from its journal on disk (no snapshot): ` +
      `${events.toLocaleString()} events (${summary.accounts.toLocaleString()} accounts opened, ` +
      `${ROUNDS} rounds of the engine workload) in ${summary.seconds} s`);
    console.log(`  ${summary.replay_orders_per_sec.toLocaleString()} events/s replayed ` +
      `(${summary.replay_orders_per_cpu_sec.toLocaleString()} per second of the thread's CPU) ` +
      `(read, CRC-checked, applied by recorded outcome; window rebuilt: ` +
      `${summary.window_entries.toLocaleString()} live ids)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
