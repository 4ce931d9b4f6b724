// bun run bench:engine [--json] [--rounds=N] [--partners=N] [--accounts-per-partner=N]
//   [--rate=ORDERS_PER_S] [--window-ms=N] [--replay]
//
// One GroupEngine on one thread, no rings, no I/O: the cost of applying orders, writing their
// results and their journal records (into a JournalOutput that is reset, not written out; it
// merges a group's batches of one engine time into one entry, as the engine worker's loop does).
// Order bytes are generated before timing (bench/engine_workload.ts); each round gets fresh,
// time-ordered ids, so idempotency is on: every order is looked up in and added to the window.
//
// Sizing (GroupLimits below):
// - accounts: 1,000 partners (--partners) x 1,024 accounts = 1,024,000 accounts; accounts_max 2^20.
// - engine time: --rate orders per second of it (default 200,000: 10 batches of 20 per ms), so a
//   round of 1 M orders spans 5 s of engine time at the default.
// - the idempotency window as the service runs it by default: W = 10 s, a budget of 2^24 ids.
//   From the third round on at the default rate it holds 2 M ids and forgets a bucket every 64 ms.
//   `--partners=1 --rate=1000000 --rounds=12` is a hot partner at 1 M orders/s for longer than W:
//   the window holds 10 M ids of one partner and nothing is refused busy.
// - holds: 5% of orders hold for up to 1,000 ms; settled holds are kept for W: holds_max = 2^19.

import { assert } from "../common/assert.ts";
import {
  IDEMPOTENCY_ENTRIES_PER_GROUP_DEFAULT, IDEMPOTENCY_WINDOW_MS_DEFAULT, ORDER_SIZE_BYTES,
  RESULT_SIZE_BYTES,
} from "../common/constants.ts";
import { WINDOW_BYTES_PER_ID } from "../engine/idempotency.ts";
import { GroupEngine } from "../engine/group_engine.ts";
import { JournalOutput } from "../engine/journal_output.ts";
import { snapshot_size_bytes, write_snapshot_into } from "../engine/snapshot.ts";
import type { GroupLimits } from "../engine/rules.ts";
import { Status } from "../schema/generated/balance/wire/status.ts";
import { run_replay_bench } from "./engine_replay.ts";
import { thread_cpu_ns } from "./thread_cpu.ts";
import {
  BATCH_ORDERS, ENGINE_TIME_START_MS, JOURNAL_OUTPUT_BYTES, hottest_partner_share, round_orders,
  setup_orders, stamp_round, type Round, type WorkloadShape,
} from "./engine_workload.ts";

interface Options {
  json: boolean;
  replay: boolean;
  rounds: number;
  partners: number;
  accounts_per_partner: number;
  /** Orders per second of engine time. */
  rate: number;
  window_ms: number;
}

function parse_options(argv: string[]): Options {
  const options: Options = { json: false, replay: false, rounds: 5, partners: 1_000,
    accounts_per_partner: 1_024, rate: 200_000, window_ms: IDEMPOTENCY_WINDOW_MS_DEFAULT };
  for (const arg of argv) {
    if (arg === "--json") options.json = true;
    else if (arg === "--replay") options.replay = true;
    else if (arg.startsWith("--rounds=")) options.rounds = Number(arg.slice(9));
    else if (arg.startsWith("--window-ms=")) options.window_ms = Number(arg.slice(12));
    else if (arg.startsWith("--partners=")) options.partners = Number(arg.slice(11));
    else if (arg.startsWith("--rate=")) options.rate = Number(arg.slice(7));
    else if (arg.startsWith("--accounts-per-partner=")) {
      options.accounts_per_partner = Number(arg.slice(23));
    } else throw new Error(`unknown argument ${arg}`);
  }
  assert(Number.isInteger(options.rounds) && options.rounds >= 1, "--rounds: a positive integer");
  assert(options.accounts_per_partner >= 2, "--accounts-per-partner: at least 2");
  assert(options.window_ms >= 1_000, "--window-ms: at least IDEMPOTENCY_WINDOW_MS_MIN");
  assert(Number.isInteger(options.partners) && options.partners >= 1, "--partners: at least 1");
  assert(options.rate % (BATCH_ORDERS * 1_000) === 0 && options.rate > 0,
    "--rate: whole batches of 20 per ms (a multiple of 20,000)");
  return options;
}

interface Bench {
  batches_per_ms: number;
  engine: GroupEngine;
  journal: JournalOutput;
  results: DataView;
  engine_time_ms: number;
}

/** Applies a round's orders in batches; returns the elapsed ns. Nothing else is timed. */
function apply_round(bench: Bench, round: Round, cpu_ns?: number[]): number {
  const { engine, journal, results } = bench;
  const input = round.view;
  const batch_count = Math.ceil(round.order_count / BATCH_ORDERS); // set-up: a last short one
  const start_cpu_ns = thread_cpu_ns();
  const start_ns = Bun.nanoseconds();
  for (let batch = 0; batch < batch_count; batch++) {
    const time_ms = bench.engine_time_ms + Math.floor(batch / bench.batches_per_ms);
    if (!journal.has_room_for_entry()) { // the journal worker's drain, for free
      journal.seal();
      journal.reset();
    }
    const offset = batch * BATCH_ORDERS;
    engine.apply_batch(input, offset * ORDER_SIZE_BYTES,
      Math.min(BATCH_ORDERS, round.order_count - offset), time_ms, results,
      offset * RESULT_SIZE_BYTES, journal);
  }
  const elapsed_ns = Bun.nanoseconds() - start_ns;
  cpu_ns?.push(thread_cpu_ns() - start_cpu_ns);
  return elapsed_ns;
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

function set_up(shape: WorkloadShape, limits: GroupLimits, batches_per_ms: number): Bench {
  const setup = setup_orders(shape);
  const bench: Bench = {
    batches_per_ms,
    engine: new GroupEngine(0, 1, limits),
    journal: new JournalOutput(JOURNAL_OUTPUT_BYTES, true),
    results: new DataView(new ArrayBuffer(shape.orders_per_round * RESULT_SIZE_BYTES)),
    engine_time_ms: ENGINE_TIME_START_MS,
  };
  const setup_results = new DataView(new ArrayBuffer(setup.order_count * RESULT_SIZE_BYTES));
  bench.engine_time_ms = stamp_round(setup, BATCH_ORDERS, bench.engine_time_ms, batches_per_ms);
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

function main(): void {
  const options = parse_options(process.argv.slice(2));
  const shape: WorkloadShape = { partner_count: options.partners,
    accounts_per_partner: options.accounts_per_partner, partner_skew: 1.1,
    orders_per_round: 1_000_000, batch_orders: BATCH_ORDERS, seed: 20_240_601 };
  const limits: GroupLimits = { accounts_max: 1 << 20, holds_max: 1 << 19,
    idempotency_entries_max: IDEMPOTENCY_ENTRIES_PER_GROUP_DEFAULT,
    idempotency_window_ms: options.window_ms };
  const batches_per_ms = options.rate / 1_000 / BATCH_ORDERS;
  assert(shape.partner_count * shape.accounts_per_partner <= limits.accounts_max, "accounts fit");
  if (options.replay) return run_replay_bench(options.json, shape, limits);
  const round = round_orders(shape);
  const bench = set_up(shape, limits, batches_per_ms);
  const rounds_ns: number[] = [];
  const rounds_cpu_ns: number[] = [];
  for (let r = 0; r <= options.rounds; r++) {
    const start_ms = bench.engine_time_ms;
    bench.engine_time_ms = stamp_round(round, BATCH_ORDERS, start_ms, batches_per_ms);
    const cpu_ns: number[] = [];
    const elapsed_ns = apply_round({ ...bench, engine_time_ms: start_ms }, round, cpu_ns);
    if (r > 0) rounds_ns.push(elapsed_ns); // round 0 warms up
    if (r > 0) rounds_cpu_ns.push(cpu_ns[0]!);
  }
  // The only stall a snapshot puts on the engine: copying its state into the group's reused
  // snapshot buffer (the worker keeps one per group; the first copy also pays the page faults).
  const snapshot_bytes = snapshot_size_bytes(bench.engine);
  const buffer = new Uint8Array(snapshot_bytes);
  write_snapshot_into(bench.engine, buffer);
  const snapshot_start_ns = Bun.nanoseconds();
  write_snapshot_into(bench.engine, buffer);
  const snapshot_ms = (Bun.nanoseconds() - snapshot_start_ns) / 1e6;
  report(options, shape, bench, round, { wall: rounds_ns, cpu: rounds_cpu_ns },
    { snapshot_ms, snapshot_bytes });
}

function report(options: Options, shape: WorkloadShape, bench: Bench, round: Round,
  rounds: { wall: number[]; cpu: number[] },
  snapshot: { snapshot_ms: number; snapshot_bytes: number }): void {
  const rounds_ns = rounds.wall;
  const rates = rounds_ns.map((ns) => round.order_count / (ns / 1e9));
  const orders_per_sec = Math.round(median(rates));
  const cpu_rates = rounds.cpu.map((ns) => round.order_count / (ns / 1e9));
  const orders_per_cpu_sec = Math.round(median(cpu_rates));
  const ns_per_order = 1e9 / orders_per_sec;
  const mix = status_mix(bench.results, round.order_count); // the last round's results
  const summary = {
    orders_per_sec,
    orders_per_cpu_sec,
    ns_per_order: Number(ns_per_order.toFixed(1)),
    rounds_orders_per_sec: rates.map(Math.round),
    rounds_orders_per_cpu_sec: cpu_rates.map(Math.round),
    orders_per_round: round.order_count,
    batch_orders: BATCH_ORDERS,
    accounts: bench.engine.accounts.count,
    partners: shape.partner_count,
    hottest_partner_share: Number(hottest_partner_share(shape).toFixed(3)),
    window_ms: options.window_ms,
    engine_time_rate: options.rate,
    window_entries: bench.engine.window.count,
    window_budget_ids: bench.engine.window.capacity,
    window_bytes_per_id: WINDOW_BYTES_PER_ID,
    window_used_bytes_per_live_id: Number((bench.engine.window.used_bytes() /
      Math.max(1, bench.engine.window.count)).toFixed(1)),
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
      .map((rate) => (rate / 1e6).toFixed(2)).join(", ")} M/s; ` +
    `${orders_per_cpu_sec.toLocaleString()} orders per second of the thread's CPU time (median)`);
  console.log(`  idempotency window: ${summary.window_entries.toLocaleString()} live ids of a ` +
    `budget of ${summary.window_budget_ids.toLocaleString()} (${WINDOW_BYTES_PER_ID} bytes each ` +
    `at most; in use now: ${summary.window_used_bytes_per_live_id} bytes per live id), ` +
    `W = ${options.window_ms} ms of engine time at ${options.rate.toLocaleString()} ` +
    `orders/s of it; holds in use: ${summary.holds_used.toLocaleString()}`);
  console.log(`  snapshot capture (the engine's only snapshot stall): ${summary.snapshot_capture_ms} ms ` +
    `for ${(summary.snapshot_bytes / 1e6).toFixed(1)} MB`);
  const total = round.order_count;
  console.log("  status mix: " + [...mix].sort((a, b) => b[1] - a[1])
    .map(([name, count]) => `${name} ${((count / total) * 100).toFixed(1)}%`).join(", "));
}

main();
