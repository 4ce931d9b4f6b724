// Micro benchmark of the main thread's router, one thread: committed batches of 20 credits of
// random partners (as loadgen sends them) submitted, their slots answered, then made durable;
// every request's answer is counted. The slots are answered by a stand-in engine (results with
// the orders' ids, status ok: the router's cost alone), or with --engine by the engine worker's
// loop and real group engines (router and engine on one thread, the journal slots discarded).
// Run with the groups all on one engine worker (the default node) and with one group: the
// difference is what the split of a request by group costs.
//
//   bun bench/router.ts [--engine]          human summary
//   bun bench/router.ts [--engine] --json   one JSON line

import { assert } from "../common/assert.ts";
import {
  IDEMPOTENCY_ENTRIES_PER_GROUP_DEFAULT, IDEMPOTENCY_WINDOW_MS_DEFAULT, JOURNAL_APPEND_BYTES_MAX,
  ORDER_SIZE_BYTES, RESULT_SIZE_BYTES, RING_REQUEST_SLOT_BYTES, RING_RESULT_SLOT_BYTES,
  RING_RUN_ENTRY_BYTES,
} from "../common/constants.ts";
import { Prng } from "../common/prng.ts";
import { Ring } from "../common/ring.ts";
import * as S from "../common/slots.ts";
import { WorkerControl } from "../common/worker_control.ts";
import { EngineClock, system_clock } from "../engine/engine_clock.ts";
import { EngineLoop } from "../engine/engine_loop.ts";
import { GroupEngine } from "../engine/group_engine.ts";
import { LEADS_EVERY_GROUP } from "../router/leadership.ts";
import { Partitioning } from "../router/partition.ts";
import { Router } from "../router/router.ts";
import { Mode } from "../schema/generated/balance/wire/mode.ts";
import { Op } from "../schema/generated/balance/wire/op.ts";
import { Status } from "../schema/generated/balance/wire/status.ts";
import { write_order_fields } from "../schema/layout.ts";

const RUN_MS = 2_000;
const WARMUP_MS = 500;
const ORDERS_PER_BATCH = 20;
const PARTNERS = 100;
const BATCHES_DISTINCT = 256;
const REQUESTS_PER_ROUND = 64; // submitted before the stand-in engine answers them all
const RING_SLOTS = 4_096;
const STATUS_OFFSET = 32; // of a Result struct
const ACCOUNTS_PER_PARTNER = 10;
const CURRENCY = 978;
const ORDER_ID_COUNTER_BITS = 22; // schema/order_id.ts: creation time in ms above a counter

interface Measurement {
  groups: number;
  engine: boolean;
  orders_per_s: number;
  ns_per_order: number;
}

function account_of(partner: number, k: number): bigint {
  return BigInt(partner * 100 + (k % ACCOUNTS_PER_PARTNER));
}

function batches(prng: Prng): Uint8Array[] {
  return Array.from({ length: BATCHES_DISTINCT }, () => {
    const bytes = new Uint8Array(ORDERS_PER_BATCH * ORDER_SIZE_BYTES);
    const view = new DataView(bytes.buffer);
    for (let k = 0; k < ORDERS_PER_BATCH; k++) {
      const partner = 1 + prng.int_below(PARTNERS);
      write_order_fields(view, k * ORDER_SIZE_BYTES, {
        id: 0n, account: account_of(partner, prng.int_below(ACCOUNTS_PER_PARTNER)), amount: 1n,
        ref: 0n, partner, currency: CURRENCY, op: Op.credit, flags: 0,
      });
    }
    return bytes;
  });
}

/** Every partner's accounts, opened in batches of ORDERS_PER_BATCH. */
function openings(): Uint8Array[] {
  const orders: [number, number][] = [];
  for (let partner = 1; partner <= PARTNERS; partner++) {
    for (let k = 0; k < ACCOUNTS_PER_PARTNER; k++) orders.push([partner, k]);
  }
  const frames: Uint8Array[] = [];
  for (let first = 0; first < orders.length; first += ORDERS_PER_BATCH) {
    const bytes = new Uint8Array(ORDERS_PER_BATCH * ORDER_SIZE_BYTES);
    const view = new DataView(bytes.buffer);
    orders.slice(first, first + ORDERS_PER_BATCH).forEach(([partner, k], i) => {
      write_order_fields(view, i * ORDER_SIZE_BYTES, { id: 0n, account: account_of(partner, k),
        amount: 0n, ref: 0n, partner, currency: CURRENCY, op: Op.open_account, flags: 0 });
    });
    frames.push(bytes);
  }
  return frames;
}

/** Fresh order ids (the engine's window would answer a repeated id with its first result). */
class OrderIds {
  private counter = 0;
  stamp(frame: Uint8Array): void {
    const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    const high = BigInt(Date.now()) << BigInt(ORDER_ID_COUNTER_BITS);
    for (let k = 0; k < ORDERS_PER_BATCH; k++) {
      this.counter = (this.counter + 1) & ((1 << ORDER_ID_COUNTER_BITS) - 1);
      view.setBigUint64(k * ORDER_SIZE_BYTES, high | BigInt(this.counter), true);
    }
  }
}

/** The engine worker's loop over real group engines, on this thread; journal slots discarded. */
interface EngineSide { loop: EngineLoop; engines: Map<number, GroupEngine>; journal_ring: Ring }

function engine_side(groups: number, inbound: Ring, results: Ring): EngineSide {
  const engines = new Map<number, GroupEngine>();
  for (let group = 0; group < groups; group++) {
    engines.set(group, new GroupEngine(group, 1, { accounts_max: 1 << 16, holds_max: 1 << 10,
      idempotency_entries_max: IDEMPOTENCY_ENTRIES_PER_GROUP_DEFAULT,
      idempotency_window_ms: IDEMPOTENCY_WINDOW_MS_DEFAULT }));
  }
  const journal_ring = Ring.create({ slot_count: 64, slot_bytes: JOURNAL_APPEND_BYTES_MAX });
  const loop = new EngineLoop({ engines, inbound, results, journal_ring,
    control: new WorkerControl(), worker: 0, clock: new EngineClock(system_clock, 0),
    on_snapshot: () => {} });
  return { loop, engines, journal_ring };
}

/**
 * Answers every slot in `inbound` as an engine would (ids copied, status ok, each run's group
 * sequence advanced in `sequences`) and hands the results to the router.
 */
function answer(router: Router, inbound: Ring, results: Ring, sequences: Float64Array): void {
  const count = inbound.available();
  const first = inbound.consumer_cursor();
  const iv = inbound.view;
  const rv = results.view;
  for (let i = 0; i < count; i++) {
    const at = inbound.slot_offset(first + i);
    const cursor = results.claim();
    const out = results.slot_offset(cursor);
    const orders = iv.getUint32(at + S.REQUEST_COUNT, true);
    const runs = iv.getUint32(at + S.REQUEST_RUNS, true);
    rv.setUint8(out + S.RESULT_KIND, iv.getUint8(at + S.REQUEST_KIND));
    rv.setUint32(out + S.RESULT_TOKEN, iv.getUint32(at + S.REQUEST_TOKEN, true), true);
    rv.setUint32(out + S.RESULT_PART, iv.getUint32(at + S.REQUEST_PART, true), true);
    rv.setUint32(out + S.RESULT_COUNT, orders, true);
    rv.setUint32(out + S.RESULT_RUNS, runs, true);
    for (let k = 0; k < orders; k++) {
      const order = at + S.REQUEST_BODY + k * ORDER_SIZE_BYTES;
      const result = out + S.RESULT_BODY + k * RESULT_SIZE_BYTES;
      rv.setFloat64(result, iv.getFloat64(order, true), true);
      rv.setUint32(result + STATUS_OFFSET, Status.ok, true);
    }
    for (let r = 0; r < runs; r++) {
      const entry = at + S.REQUEST_RUN_TABLE + r * RING_RUN_ENTRY_BYTES;
      const group = iv.getUint32(entry + S.RUN_GROUP, true);
      sequences[group]! += iv.getUint32(entry + S.RUN_COUNT, true);
      rv.setFloat64(out + S.RESULT_RUN_TABLE + r * 8, sequences[group]!, true);
    }
    results.publish_quietly(cursor);
  }
  inbound.release(count);
  const taken = results.available();
  const taken_first = results.consumer_cursor();
  for (let i = 0; i < taken; i++) {
    router.on_result_slot(results, results.slot_offset(taken_first + i));
  }
  results.release(taken);
}

/** Applies every slot in `inbound` with the engine loop and hands its results to the router. */
function apply(router: Router, side: EngineSide, results: Ring): void {
  while (side.loop.cycle()) {
    side.journal_ring.release(side.journal_ring.available());
    const taken = results.available();
    const first = results.consumer_cursor();
    for (let i = 0; i < taken; i++) router.on_result_slot(results, results.slot_offset(first + i));
    results.release(taken);
  }
}

function measure(groups: number, with_engine: boolean): Measurement {
  const inbound = Ring.create({ slot_count: RING_SLOTS, slot_bytes: RING_REQUEST_SLOT_BYTES });
  const results = Ring.create({ slot_count: RING_SLOTS, slot_bytes: RING_RESULT_SLOT_BYTES });
  let answered_orders = 0;
  const router = new Router(new Partitioning(groups, 1, new Map()), LEADS_EVERY_GROUP, [inbound],
    60_000, { on_results: () => {} });
  const on_committed = (request: { order_count: number }) => {
    answered_orders += request.order_count;
  };
  const on_refused = () => assert(false, "nothing is refused here");
  const sequences = new Float64Array(groups);
  const side = with_engine ? engine_side(groups, inbound, results) : null;
  const ids = new OrderIds();
  const submit = (frame: Uint8Array): void => {
    if (side !== null) ids.stamp(frame);
    // Results lent, as the TCP edge takes them (it copies them out in on_committed).
    const refusal = router.submit_listen(frame, ORDERS_PER_BATCH, on_committed, on_refused, true);
    assert(refusal === null, `refused ${refusal}`);
  };
  const settle = (): void => {
    if (side === null) {
      answer(router, inbound, results, sequences);
    } else {
      apply(router, side, results);
      for (const [group, engine] of side.engines) sequences[group] = engine.last_sequence;
    }
    for (let group = 0; group < groups; group++) router.on_durable(group, sequences[group]!);
  };
  if (side !== null) {
    for (const frame of openings()) submit(frame);
    settle();
  }
  const frames = batches(new Prng(7));
  let next = 0;
  const round = (): void => {
    for (let r = 0; r < REQUESTS_PER_ROUND; r++) submit(frames[next++ % BATCHES_DISTINCT]!);
    settle();
  };
  const run_for = (duration_ms: number): { orders: number; seconds: number } => {
    const start_orders = answered_orders;
    const start_ns = Bun.nanoseconds();
    const end_ns = start_ns + duration_ms * 1e6;
    let now_ns = start_ns;
    while (now_ns < end_ns) {
      round();
      now_ns = Bun.nanoseconds();
    }
    return { orders: answered_orders - start_orders, seconds: (now_ns - start_ns) / 1e9 };
  };
  run_for(WARMUP_MS);
  const { orders, seconds } = run_for(RUN_MS);
  assert(router.in_flight === 0, "every request answered");
  return { groups, engine: with_engine, orders_per_s: orders / seconds,
    ns_per_order: (seconds * 1e9) / orders };
}

const with_engine = process.argv.includes("--engine");
const measurements = [4, 1, 4, 1].map((groups) => measure(groups, with_engine));
if (process.argv.includes("--json")) {
  console.log(JSON.stringify({ benchmark: "router", orders_per_batch: ORDERS_PER_BATCH,
    measurements }));
} else {
  for (const m of measurements) {
    const answerer = m.engine ? "engine loop" : "stand-in engine";
    console.log(`${m.groups} group(s) on one worker: ${(m.orders_per_s / 1e6).toFixed(2)} M ` +
      `orders/s, ${m.ns_per_order.toFixed(0)} ns per order (router + ${answerer})`);
  }
}
