// bun bench/engine_ab.ts DIR_A DIR_B [ROUNDS]: two builds of the engine side by side in one process.
// Each directory is a source tree of this project (e.g. `git archive <commit> | tar -x -C DIR`);
// both engines get bench/engine.ts's workload (from this tree) and apply its rounds alternately,
// A then B, then B then A, so both see the same noise of the shared machine at a few seconds'
// distance. Reports each build's orders per second of thread CPU time per round, and the median
// of the per-round ratios B / A: compare it with an A/A run (the same tree twice) to know the
// noise (on the development machine: 0.97, rounds 0.77 to 1.31).

import { assert } from "../common/assert.ts";
import {
  IDEMPOTENCY_ENTRIES_PER_GROUP_DEFAULT, IDEMPOTENCY_WINDOW_MS_DEFAULT, ORDER_SIZE_BYTES,
  RESULT_SIZE_BYTES,
} from "../common/constants.ts";
import type { GroupEngine } from "../engine/group_engine.ts";
import type { JournalOutput } from "../engine/journal_output.ts";
import type { GroupLimits } from "../engine/rules.ts";
import {
  BATCH_ORDERS, BATCHES_PER_MS, ENGINE_TIME_START_MS, JOURNAL_OUTPUT_BYTES, round_orders,
  setup_orders, stamp_round, type Round, type WorkloadShape,
} from "./engine_workload.ts";
import { thread_cpu_ns } from "./thread_cpu.ts";

interface Side {
  name: string;
  engine: GroupEngine;
  journal: JournalOutput;
  engine_time_ms: number;
  rates: number[];
}

async function load_side(dir: string, limits: GroupLimits): Promise<Side> {
  const engine_module = await import(`${dir}/engine/group_engine.ts`);
  const journal_module = await import(`${dir}/engine/journal_output.ts`);
  return { name: dir, engine: new engine_module.GroupEngine(0, 1, limits),
    journal: new journal_module.JournalOutput(JOURNAL_OUTPUT_BYTES),
    engine_time_ms: ENGINE_TIME_START_MS, rates: [] };
}

/** Applies a round with fresh ids at the side's engine time; returns the thread CPU ns taken. */
function apply_round(side: Side, round: Round, results: DataView): number {
  const start_ms = side.engine_time_ms;
  side.engine_time_ms = stamp_round(round, BATCH_ORDERS, start_ms, BATCHES_PER_MS);
  const batch_count = Math.ceil(round.order_count / BATCH_ORDERS);
  const start_ns = thread_cpu_ns();
  for (let batch = 0; batch < batch_count; batch++) {
    if (!side.journal.has_room_for_entry()) side.journal.reset();
    const offset = batch * BATCH_ORDERS;
    side.engine.apply_batch(round.view, offset * ORDER_SIZE_BYTES,
      Math.min(BATCH_ORDERS, round.order_count - offset),
      start_ms + Math.floor(batch / BATCHES_PER_MS), results, offset * RESULT_SIZE_BYTES,
      side.journal);
  }
  return thread_cpu_ns() - start_ns;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

async function main(): Promise<void> {
  const [dir_a, dir_b, rounds_arg] = process.argv.slice(2);
  assert(dir_a !== undefined && dir_b !== undefined, "usage: engine_ab.ts DIR_A DIR_B [ROUNDS]");
  const rounds = Number(rounds_arg ?? 8);
  const shape: WorkloadShape = { partner_count: 1_000, accounts_per_partner: 1_024,
    partner_skew: 1.1, orders_per_round: 1_000_000, batch_orders: BATCH_ORDERS, seed: 20_240_601 };
  const limits: GroupLimits = { accounts_max: 1 << 20, holds_max: 1 << 19,
    idempotency_entries_max: IDEMPOTENCY_ENTRIES_PER_GROUP_DEFAULT,
    idempotency_window_ms: IDEMPOTENCY_WINDOW_MS_DEFAULT };
  const sides = [await load_side(dir_a, limits), await load_side(dir_b, limits)] as const;
  for (const side of sides) {
    const setup = setup_orders(shape);
    apply_round(side, setup, new DataView(new ArrayBuffer(setup.order_count * RESULT_SIZE_BYTES)));
    side.engine_time_ms += limits.idempotency_window_ms + 1; // the set-up ids leave the window
  }
  const round = round_orders(shape);
  const results = new DataView(new ArrayBuffer(round.order_count * RESULT_SIZE_BYTES));
  for (let r = 0; r <= rounds; r++) {
    const order = r % 2 === 0 ? [sides[0], sides[1]] : [sides[1], sides[0]];
    for (const side of order) {
      const ns = apply_round(side, round, results);
      if (r > 0) side.rates.push(round.order_count / (ns / 1e9)); // round 0 warms up
    }
  }
  for (const side of sides) {
    console.log(`${side.name}: ${Math.round(median(side.rates)).toLocaleString()} orders per ` +
      `CPU-second (median); rounds ${side.rates.map((rate) => (rate / 1e6).toFixed(2)).join(", ")} M`);
  }
  const ratios = sides[1].rates.map((rate, i) => rate / sides[0].rates[i]!);
  console.log(`B / A per round: median ${median(ratios).toFixed(3)}; ` +
    ratios.map((ratio) => ratio.toFixed(2)).join(", "));
}

await main();
