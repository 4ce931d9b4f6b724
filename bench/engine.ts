// bun run bench:engine [--json] [--rounds=N] [--accounts-per-partner=N] [--window-ms=N] [--replay]
//
// One GroupEngine on one thread, no rings, no I/O: the cost of applying orders, writing their
// results and their journal records (into a JournalOutput that is reset, not written out).
// Order bytes are generated before timing (bench/engine_workload.ts); each round gets fresh,
// time-ordered ids, so idempotency is on: every order is looked up in and added to the window.
//
// Sizing (GroupLimits below):
// - accounts: 1,000 partners x 1,024 accounts = 1,024,000 accounts; accounts_max = 2^20.
// - engine time: 1 ms per 10 batches of 20 (200 orders per ms of engine time, i.e. the engine
//   time of a group taking 200 K orders/s), so a round of 1 M orders spans 5 s of engine time.
// - idempotency window W = 2,000 ms: 400 K live ids at that rate. The window's bucket ring spans
//   W + the 5 s future skew, so idempotency_entries_max = 2^21 gives every 28 ms bucket room for
//   its 5.6 K ids with headroom: nothing is refused busy, and whole buckets drop from the second
//   second of every round on.
// - holds: 5% of orders hold for up to 1,000 ms; settled holds are kept for W: holds_max = 2^17.

import { assert } from "../common/assert.ts";
import {
  ORDER_ID_FUTURE_SKEW_MS_MAX, ORDER_SIZE_BYTES, RESULT_SIZE_BYTES,
} from "../common/constants.ts";
import { IDEMPOTENCY_BUCKETS } from "../engine/idempotency.ts";
import { GroupEngine } from "../engine/group_engine.ts";
import { JournalOutput } from "../engine/journal_output.ts";
import { snapshot_size_bytes, write_snapshot_into } from "../engine/snapshot.ts";
import type { GroupLimits } from "../engine/rules.ts";
import { Status } from "../schema/generated/balance/wire/status.ts";
import { run_replay_bench } from "./engine_replay.ts";
import {
  hottest_partner_share, round_orders, setup_orders, stamp_round, type Round, type WorkloadShape,
} from "./engine_workload.ts";

const BATCH_ORDERS = 20;
const BATCHES_PER_MS = 10;
const ENGINE_TIME_START_MS = 1_700_000_000_000;
const JOURNAL_OUTPUT_BYTES = 64 * 1024 * 1024;

interface Options {
  json: boolean;
  replay: boolean;
  rounds: number;
  accounts_per_partner: number;
  window_ms: number;
}

function parse_options(argv: string[]): Options {
  const options: Options = { json: false, replay: false, rounds: 5, accounts_per_partner: 1_024,
    window_ms: 2_000 };
  for (const arg of argv) {
    if (arg === "--json") options.json = true;
    else if (arg === "--replay") options.replay = true;
    else if (arg.startsWith("--rounds=")) options.rounds = Number(arg.slice(9));
    else if (arg.startsWith("--window-ms=")) options.window_ms = Number(arg.slice(12));
    else if (arg.startsWith("--accounts-per-partner=")) {
      options.accounts_per_partner = Number(arg.slice(23));
    } else throw new Error(`unknown argument ${arg}`);
  }
  assert(Number.isInteger(options.rounds) && options.rounds >= 1, "--rounds: a positive integer");
  assert(options.accounts_per_partner >= 2, "--accounts-per-partner: at least 2");
  assert(options.window_ms >= 1_000, "--window-ms: at least IDEMPOTENCY_WINDOW_MS_MIN");
  return options;
}

interface Bench {
  engine: GroupEngine;
  journal: JournalOutput;
  results: DataView;
  engine_time_ms: number;
}

/** Applies a round's orders in batches; returns the elapsed ns. Nothing else is timed. */
function apply_round(bench: Bench, round: Round): number {
  const { engine, journal, results } = bench;
  const input = round.view;
  const batch_count = round.order_count / BATCH_ORDERS;
  const start_ns = Bun.nanoseconds();
  for (let batch = 0; batch < batch_count; batch++) {
    const time_ms = bench.engine_time_ms + Math.floor(batch / BATCHES_PER_MS);
    if (!journal.has_room_for_entry()) journal.reset(); // the journal worker's drain, for free
    const offset = batch * BATCH_ORDERS;
    engine.apply_batch(input, offset * ORDER_SIZE_BYTES, BATCH_ORDERS, time_ms, results,
      offset * RESULT_SIZE_BYTES, journal);
  }
  return Bun.nanoseconds() - start_ns;
}

function status_mix(results: DataView, order_count: number): Map<string, number> {
  const mix = new Map<string, number>();
  for (let k = 0; k < order_count; k++) {
    const name = Status[results.getUint8(k * RESULT_SIZE_BYTES + 32)] ?? "unknown";
    mix.set(name, (mix.get(name) ?? 0) + 1);
  }
  return mix;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function set_up(shape: WorkloadShape, limits: GroupLimits): Bench {
  const setup = setup_orders(shape);
  const bench: Bench = {
    engine: new GroupEngine(0, 1, limits),
    journal: new JournalOutput(JOURNAL_OUTPUT_BYTES),
    results: new DataView(new ArrayBuffer(shape.orders_per_round * RESULT_SIZE_BYTES)),
    engine_time_ms: ENGINE_TIME_START_MS,
  };
  const setup_results = new DataView(new ArrayBuffer(setup.order_count * RESULT_SIZE_BYTES));
  bench.engine_time_ms = stamp_round(setup, BATCH_ORDERS, bench.engine_time_ms, BATCHES_PER_MS);
  const saved = bench.results;
  bench.results = setup_results;
  apply_round({ ...bench, engine_time_ms: ENGINE_TIME_START_MS }, setup);
  bench.results = saved;
  const mix = status_mix(setup_results, setup.order_count);
  assert(mix.get("ok") === setup.order_count, `set-up orders all ok: ${[...mix]}`);
  // Let the set-up ids leave the window before the rounds.
  bench.engine_time_ms += limits.idempotency_window_ms + 1;
  return bench;
}

/**
 * Ids the window must hold at 200 per ms of engine time: the bucket ring spans W plus the future
 * skew (engine/idempotency.ts), each bucket needs room for its share at that rate, plus 30% headroom;
 * rounded up to a power of two.
 */
function window_entries_max(window_ms: number): number {
  const span_ms = (window_ms + ORDER_ID_FUTURE_SKEW_MS_MAX) * IDEMPOTENCY_BUCKETS /
    (IDEMPOTENCY_BUCKETS - 4);
  const needed = span_ms * BATCHES_PER_MS * BATCH_ORDERS * 1.3;
  let entries = IDEMPOTENCY_BUCKETS;
  while (entries < needed) entries *= 2;
  return entries;
}

function main(): void {
  const options = parse_options(process.argv.slice(2));
  const shape: WorkloadShape = { partner_count: 1_000,
    accounts_per_partner: options.accounts_per_partner, partner_skew: 1.1,
    orders_per_round: 1_000_000, batch_orders: BATCH_ORDERS, seed: 20_240_601 };
  const limits: GroupLimits = { accounts_max: 1 << 20, holds_max: 1 << 17,
    idempotency_entries_max: window_entries_max(options.window_ms),
    idempotency_window_ms: options.window_ms };
  assert(shape.partner_count * shape.accounts_per_partner <= limits.accounts_max, "accounts fit");
  if (options.replay) return run_replay_bench(options.json, shape, limits);
  const round = round_orders(shape);
  const bench = set_up(shape, limits);
  const rounds_ns: number[] = [];
  for (let r = 0; r <= options.rounds; r++) {
    const start_ms = bench.engine_time_ms;
    bench.engine_time_ms = stamp_round(round, BATCH_ORDERS, start_ms, BATCHES_PER_MS);
    const elapsed_ns = apply_round({ ...bench, engine_time_ms: start_ms }, round);
    if (r > 0) rounds_ns.push(elapsed_ns); // round 0 warms up
  }
  // The only stall a snapshot puts on the engine: copying its state into the group's reused
  // snapshot buffer (the worker keeps one per group; the first copy also pays the page faults).
  const snapshot_bytes = snapshot_size_bytes(bench.engine);
  const buffer = new Uint8Array(snapshot_bytes);
  write_snapshot_into(bench.engine, buffer);
  const snapshot_start_ns = Bun.nanoseconds();
  write_snapshot_into(bench.engine, buffer);
  const snapshot_ms = (Bun.nanoseconds() - snapshot_start_ns) / 1e6;
  report(options, shape, bench, round, rounds_ns, { snapshot_ms, snapshot_bytes });
}

function report(options: Options, shape: WorkloadShape, bench: Bench, round: Round,
  rounds_ns: number[], snapshot: { snapshot_ms: number; snapshot_bytes: number }): void {
  const rates = rounds_ns.map((ns) => round.order_count / (ns / 1e9));
  const orders_per_sec = Math.round(median(rates));
  const ns_per_order = 1e9 / orders_per_sec;
  const mix = status_mix(bench.results, round.order_count); // the last round's results
  const summary = {
    orders_per_sec,
    ns_per_order: Number(ns_per_order.toFixed(1)),
    rounds_orders_per_sec: rates.map(Math.round),
    orders_per_round: round.order_count,
    batch_orders: BATCH_ORDERS,
    accounts: bench.engine.accounts.count,
    partners: shape.partner_count,
    hottest_partner_share: Number(hottest_partner_share(shape).toFixed(3)),
    window_ms: options.window_ms,
    window_entries: bench.engine.window.count,
    holds_used: bench.engine.holds.used_count,
    status_mix: Object.fromEntries([...mix].sort((a, b) => b[1] - a[1])),
    snapshot_capture_ms: Number(snapshot.snapshot_ms.toFixed(1)),
    snapshot_bytes: snapshot.snapshot_bytes,
  };
  if (options.json) {
    console.log(JSON.stringify(summary));
    return;
  }
  console.log(`engine alone, 1 thread: ${summary.accounts.toLocaleString()} accounts of ` +
    `${summary.partners} partners (hottest partner ${(summary.hottest_partner_share * 100).toFixed(1)}% ` +
    `of orders), batches of ${BATCH_ORDERS}, ${rounds_ns.length} rounds of ` +
    `${round.order_count.toLocaleString()} orders after 1 warm-up round`);
  console.log(`  ${orders_per_sec.toLocaleString()} orders/s (median), ` +
    `${ns_per_order.toFixed(1)} ns/order; rounds: ${summary.rounds_orders_per_sec
      .map((rate) => (rate / 1e6).toFixed(2)).join(", ")} M/s`);
  console.log(`  idempotency window: ${summary.window_entries.toLocaleString()} live ids ` +
    `(W = ${options.window_ms} ms of engine time); holds in use: ${summary.holds_used.toLocaleString()}`);
  console.log(`  snapshot capture (the engine's only snapshot stall): ${summary.snapshot_capture_ms} ms ` +
    `for ${(summary.snapshot_bytes / 1e6).toFixed(1)} MB`);
  const total = round.order_count;
  console.log("  status mix: " + [...mix].sort((a, b) => b[1] - a[1])
    .map(([name, count]) => `${name} ${((count / total) * 100).toFixed(1)}%`).join(", "));
}

main();
