// The run loop of one engine worker: drains its inbound ring, applies each slot to its group's
// engine, publishes results, and hands the journal entries of each cycle to the journal worker in
// one slot. Parks in Atomics.wait when idle (no spinning), waking at least every ENGINE_TICK_MS so
// hold expiries and window eviction follow engine time.
//
// A cycle reads engine time once and applies its slots' runs group by group (each group's in ring
// order): a group's batches of one cycle then make one journal entry (JournalOutput merging). A
// request of many partners reaches a worker as one slot with a run per group (common/slots.ts);
// per-batch entries were most of the engine's and the journal worker's per-order cost (measured:
// 1.5x throughput when every request named partners of one group; docs/performance.md).
//
// The cycle works through its slots in chunks of at most CHUNK_SLOTS_MAX slots (and
// CHUNK_RUNS_MAX runs): each chunk claims its result slots first (a slot's runs are answered into
// one result slot, out of ring order), and gives its inbound slots back once applied, so a long
// cycle frees ring room as it goes.

import { assert, assert_never } from "../common/assert.ts";
import {
  BATCH_ORDERS_MAX, ENGINE_TICK_MS, ORDER_SIZE_BYTES, RESULT_SIZE_BYTES, RING_RUN_ENTRY_BYTES,
} from "../common/constants.ts";
import { Status } from "../schema/generated/balance/wire/status.ts";
import { write_i64 } from "../schema/layout.ts";
import { Ring } from "../common/ring.ts";
import * as S from "../common/slots.ts";
import { JOURNAL_SLOT_HEADER_BYTES } from "../common/slots.ts";
import type { EngineClock } from "./engine_clock.ts";
import type { GroupEngine } from "./group_engine.ts";
import { JournalOutput } from "./journal_output.ts";
import { snapshot_size_bytes, write_snapshot_into } from "./snapshot.ts";
import {
  allocate_snapshot_buffer, snapshot_buffer_bytes, snapshot_buffer_capacity,
  snapshot_buffer_hand_over, snapshot_buffer_in_use,
} from "../common/snapshot_buffer.ts";
import type { WorkerControl } from "../common/worker_control.ts";

/** Slots one chunk of a cycle applies at most (then gives back to the ring). */
const CHUNK_SLOTS_MAX = 256;
/** Runs one chunk holds at most: a slot has at most BATCH_ORDERS_MAX runs, so one always fits. */
const CHUNK_RUNS_MAX = 4_096;
/** A query slot is one run whose group is in the slot's header. */
const QUERY_RUN = -1;
/** The unit touch_slot_lines reads one byte of. */
const CACHE_LINE_BYTES = 64;

export interface EngineLoopParts {
  engines: Map<number, GroupEngine>;
  inbound: Ring;
  results: Ring;
  journal_ring: Ring;
  control: WorkerControl;
  worker: number;
  /** Engine time of every group of this worker (engine/engine_clock.ts). */
  clock: EngineClock;
  /** The snapshot sits in buffer (common/snapshot_buffer.ts) until the journal worker frees it. */
  on_snapshot: (group: number, sequence: number, buffer: SharedArrayBuffer, size_bytes: number) => void;
  /**
   * Called at the start of every cycle (a cluster node's groups arrive while the loop runs: it
   * calls `adopt` from here). Optional: a single node's groups are fixed at start.
   */
  on_cycle?: () => void;
}


export class EngineLoop {
  private readonly parts: EngineLoopParts;
  private readonly output: JournalOutput;
  private readonly engine_by_group: (GroupEngine | undefined)[] = [];
  private next_tick_ms = 0;
  /** Journal slots handed over so far (a cycle compares it before and after). */
  private flush_count = 0;
  private readonly snapshots_due = new Set<number>();
  private readonly snapshot_buffers = new Map<number, SharedArrayBuffer>();
  // The chunk's runs (apply_chunk): group (-1 once applied), chunk slot, index in the slot (or
  // QUERY_RUN), and the offsets of its orders and of its results.
  private readonly run_group = new Int32Array(CHUNK_RUNS_MAX);
  private readonly run_slot = new Int32Array(CHUNK_RUNS_MAX);
  private readonly run_index = new Int32Array(CHUNK_RUNS_MAX);
  private readonly run_orders_at = new Int32Array(CHUNK_RUNS_MAX);
  private readonly run_results_at = new Int32Array(CHUNK_RUNS_MAX);
  /** The chunk's result slot offsets, by chunk slot. */
  private readonly chunk_results_at = new Int32Array(CHUNK_SLOTS_MAX);
  /** What touch_slot_lines read: never used, only kept so the loads are not optimised away. */
  private touched = 0;

  constructor(parts: EngineLoopParts) {
    this.parts = parts;
    this.output = new JournalOutput(parts.journal_ring.slot_bytes - JOURNAL_SLOT_HEADER_BYTES,
      true);
    for (const [group, engine] of parts.engines) this.engine_by_group[group] = engine;
  }

  /**
   * A group this worker hosts from now on (a cluster node's promotion): its engine restored from
   * the standby's state, engine time continuing from the group's. Orders reach it only after the
   * router is told the group is led here, so nothing of it is in the inbound ring yet.
   */
  adopt(engine: GroupEngine): void {
    assert(!this.parts.engines.has(engine.group), `group ${engine.group} adopted once`);
    this.parts.engines.set(engine.group, engine);
    this.engine_by_group[engine.group] = engine;
    this.parts.clock.raise_to(engine.engine_time_ms);
  }

  /**
   * A group this worker stops hosting (a planned handover): the router sends it nothing any more
   * and every request of it was answered, and this cycle's entries were flushed before (on_cycle
   * runs first in a cycle). Returns the group's last sequence.
   */
  release(group: number): number {
    const engine = this.parts.engines.get(group);
    assert(engine !== undefined, `group ${group} is hosted here`);
    this.parts.engines.delete(group);
    this.engine_by_group[group] = undefined;
    this.snapshots_due.delete(group);
    return engine.last_sequence;
  }

  /** Runs until the control block asks it to stop; returns after the last journal flush. */
  run(): void {
    const { inbound, control } = this.parts;
    while (!control.stop_requested()) {
      if (!this.cycle()) inbound.wait_for_data(ENGINE_TICK_MS);
    }
    this.flush_journal();
  }

  /**
   * One turn of the loop without parking (tests on one thread drive it): requested snapshots,
   * then every slot in the inbound ring, or a tick if due when there is none. Returns whether
   * it applied slots.
   */
  cycle(): boolean {
    const inbound = this.parts.inbound;
    this.parts.on_cycle?.();
    this.take_requested_snapshots();
    const count = inbound.available();
    if (count === 0) {
      this.tick_if_due();
      this.flush_journal();
      return false;
    }
    const flushes_before = this.flush_count;
    const engine_time_ms = this.parts.clock.now_ms();
    let applied = 0;
    while (applied < count) {
      const slots = this.apply_chunk(count - applied, engine_time_ms);
      inbound.release(slots);
      applied += slots;
    }
    this.flush_journal();
    // The results were published quietly. When this cycle handed entries to the journal, the
    // journal's durable report wakes the main thread, which drains every results ring before it
    // answers: a second wake per cycle would cost both threads a syscall for nothing. A cycle of
    // reads only hands nothing over, so it wakes the main thread itself.
    if (this.flush_count === flushes_before) this.parts.results.wake_consumer_if_parked();
    return true;
  }

  /**
   * Applies up to `available` slots from the ring's consumer cursor at one engine time; returns
   * how many. Their result slots are claimed first (waiting for room if there is none); then the
   * runs are applied group by group in the order each group first appears, each group's runs in
   * ring order (groups are independent; within a group the order is the ring's), and the result
   * slots are published together. The router takes results by token, in any order.
   */
  private apply_chunk(available: number, engine_time_ms: number): number {
    const { inbound, results } = this.parts;
    while (results.free_slots() === 0) {
      results.wake_consumer(); // it may be waiting for the journal, which waits for this cycle
      results.wait_for_room(ENGINE_TICK_MS);
    }
    const slot_max = Math.min(available, results.free_slots(available), CHUNK_SLOTS_MAX);
    const first = inbound.consumer_cursor();
    const first_result = results.claim_many(slot_max);
    const view = inbound.view;
    let runs = 0;
    let slots = 0;
    while (slots < slot_max) {
      const at = inbound.slot_offset(first + slots);
      const kind = view.getUint8(at + S.REQUEST_KIND);
      assert(S.is_slot_kind(kind), `unknown slot kind ${kind}`);
      const slot_runs = kind === S.SlotKind.batch ? view.getUint32(at + S.REQUEST_RUNS, true) : 1;
      assert(slot_runs >= 1 && slot_runs <= BATCH_ORDERS_MAX, "a slot's runs: 1 to 128");
      if (runs + slot_runs > CHUNK_RUNS_MAX) break; // never the chunk's first slot
      const out = results.slot_offset(first_result + slots);
      this.chunk_results_at[slots] = out;
      if (kind === S.SlotKind.batch) {
        this.touch_slot_lines(at, out, view.getUint32(at + S.REQUEST_COUNT, true));
      }
      this.write_result_header(at, out, kind);
      if (kind === S.SlotKind.batch) {
        runs = this.add_batch_runs(at, out, slots, slot_runs, runs);
      } else {
        this.run_group[runs] = view.getUint32(at + S.REQUEST_GROUP, true);
        this.run_slot[runs] = slots;
        this.run_index[runs] = QUERY_RUN;
        runs++;
      }
      slots++;
    }
    this.apply_runs_by_group(runs, engine_time_ms);
    results.publish_many_quietly(first_result, slots); // the cycle's end decides on a wake
    return slots;
  }

  /**
   * Reads a byte of every cache line the slot's orders and its results will take, back to back.
   * The main thread wrote the orders on its core, and the results slot was last used a ring's
   * turn ago (4,096 slots of 6 KiB): either is a miss here. Loads that do not depend on one
   * another overlap their misses; the results' stores, made one by one as the orders apply,
   * stalled on each line in turn. TCP committed, 6 alternating pairs: the engine worker's CPU per
   * order 0.59 -> 0.55 us at the medians (docs/performance.md).
   */
  private touch_slot_lines(at: number, out: number, count: number): void {
    const view = this.parts.inbound.view;
    const results_view = this.parts.results.view;
    let kept = 0;
    const orders_end = at + S.REQUEST_BODY + count * ORDER_SIZE_BYTES;
    for (let line = at + S.REQUEST_BODY; line < orders_end; line += CACHE_LINE_BYTES) {
      kept += view.getUint8(line);
    }
    const results_end = out + S.RESULT_BODY + count * RESULT_SIZE_BYTES;
    for (let line = out + S.RESULT_BODY; line < results_end; line += CACHE_LINE_BYTES) {
      kept += results_view.getUint8(line);
    }
    this.touched = kept;
  }

  /** The runs of the batch slot at `at` (chunk slot `slot`) from chunk run `runs` on. */
  private add_batch_runs(at: number, out: number, slot: number, slot_runs: number,
    runs: number): number {
    const view = this.parts.inbound.view;
    let orders_before = 0;
    for (let r = 0; r < slot_runs; r++) {
      const entry = at + S.REQUEST_RUN_TABLE + r * RING_RUN_ENTRY_BYTES;
      this.run_group[runs] = view.getUint32(entry + S.RUN_GROUP, true);
      this.run_slot[runs] = slot;
      this.run_index[runs] = r;
      this.run_orders_at[runs] = at + S.REQUEST_BODY + orders_before * ORDER_SIZE_BYTES;
      this.run_results_at[runs] = out + S.RESULT_BODY + orders_before * RESULT_SIZE_BYTES;
      orders_before += view.getUint32(entry + S.RUN_COUNT, true);
      runs++;
    }
    const count = view.getUint32(at + S.REQUEST_COUNT, true);
    assert(orders_before === count, "runs hold the slot's orders");
    return runs;
  }

  private write_result_header(at: number, out: number, kind: S.SlotKind): void {
    const view = this.parts.inbound.view;
    const rv = this.parts.results.view;
    rv.setUint8(out + S.RESULT_KIND, kind);
    rv.setUint8(out + S.RESULT_FOUND, 0);
    rv.setUint32(out + S.RESULT_GROUP, view.getUint32(at + S.REQUEST_GROUP, true), true);
    rv.setUint32(out + S.RESULT_TOKEN, view.getUint32(at + S.REQUEST_TOKEN, true), true);
    rv.setUint32(out + S.RESULT_PART, view.getUint32(at + S.REQUEST_PART, true), true);
    rv.setUint32(out + S.RESULT_COUNT, view.getUint32(at + S.REQUEST_COUNT, true), true);
    rv.setUint32(out + S.RESULT_RUNS, view.getUint32(at + S.REQUEST_RUNS, true), true);
  }

  private apply_runs_by_group(runs: number, engine_time_ms: number): void {
    const groups = this.run_group;
    let applied = 0;
    let next = 0;
    while (applied < runs) {
      while (groups[next] === -1) next++;
      const group = groups[next]!;
      const engine = this.engine_by_group[group];
      assert(engine !== undefined, `group ${group} is not hosted by this worker`);
      this.warm_group_runs(engine, group, next, runs);
      for (let i = next; i < runs; i++) {
        if (groups[i] !== group) continue;
        groups[i] = -1;
        if (!this.output.has_room_for_entry()) this.flush_journal();
        this.apply_run(engine, i, engine_time_ms);
        applied++;
      }
    }
  }

  /** Touches what the group's batch runs [next, runs) of this chunk look up, all at once. */
  private warm_group_runs(engine: GroupEngine, group: number, next: number, runs: number): void {
    const view = this.parts.inbound.view;
    const at_first = this.parts.inbound.consumer_cursor();
    let gathered = 0;
    for (let i = next; i < runs; i++) {
      if (this.run_group[i] !== group || this.run_index[i] === QUERY_RUN) continue;
      const at = this.parts.inbound.slot_offset(at_first + this.run_slot[i]!);
      const count = view.getUint32(at + S.REQUEST_RUN_TABLE +
        this.run_index[i]! * RING_RUN_ENTRY_BYTES + S.RUN_COUNT, true);
      engine.warm_gather(view, this.run_orders_at[i]!, count);
      gathered++;
    }
    if (gathered > 0) engine.warm_load(view);
  }

  private apply_run(engine: GroupEngine, run: number, engine_time_ms: number): void {
    const view = this.parts.inbound.view;
    const rv = this.parts.results.view;
    const at = this.parts.inbound.slot_offset(this.parts.inbound.consumer_cursor() +
      this.run_slot[run]!);
    const out = this.chunk_results_at[this.run_slot[run]!]!;
    const index = this.run_index[run]!;
    if (index !== QUERY_RUN) {
      const count = view.getUint32(at + S.REQUEST_RUN_TABLE + index * RING_RUN_ENTRY_BYTES +
        S.RUN_COUNT, true);
      engine.apply_batch(view, this.run_orders_at[run]!, count, engine_time_ms, rv,
        this.run_results_at[run]!, this.output);
      // Whatever the reply reflects must be durable before it leaves: the group's sequence now.
      rv.setFloat64(out + S.RESULT_RUN_TABLE + index * 8, engine.last_sequence, true);
      return;
    }
    const kind = view.getUint8(at + S.REQUEST_KIND) as S.SlotKind;
    switch (kind) {
      case S.SlotKind.query_account:
        this.answer_account_query(engine, view, at, rv, out);
        break;
      case S.SlotKind.query_order:
        this.answer_order_query(engine, view, at, rv, out);
        break;
      case S.SlotKind.batch:
        assert(false, "a batch slot's runs are applied above");
        break;
      default:
        assert_never(kind, "slot kind");
    }
    rv.setFloat64(out + S.RESULT_REQUIRED_SEQUENCE, engine.last_sequence, true);
  }

  private answer_account_query(engine: GroupEngine, view: DataView, at: number, rv: DataView,
    out: number): void {
    const a = engine.accounts;
    const slot = a.find(view.getUint32(at + S.REQUEST_QUERY_PARTNER, true),
      view.getUint32(at + S.REQUEST_QUERY_ID + 4, true),
      view.getUint32(at + S.REQUEST_QUERY_ID, true));
    if (slot === -1) return;
    const body = out + S.RESULT_BODY;
    rv.setUint8(out + S.RESULT_FOUND, 1);
    rv.setUint32(body + S.ACCOUNT_PARTNER, a.partner(slot), true);
    rv.setUint16(body + S.ACCOUNT_CURRENCY, a.currency(slot), true);
    rv.setUint8(body + S.ACCOUNT_KIND, a.kind(slot));
    rv.setUint8(body + S.ACCOUNT_STATE, a.state(slot));
    rv.setFloat64(body + S.ACCOUNT_OVERDRAFT, a.overdraft_limit_minor(slot), true);
    rv.setFloat64(body + S.ACCOUNT_BALANCE, a.balance_minor(slot), true);
    rv.setFloat64(body + S.ACCOUNT_HELD, a.held_minor(slot), true);
    rv.setFloat64(body + S.ACCOUNT_AVAILABLE, a.available_minor(slot), true);
    rv.setFloat64(body + S.ACCOUNT_SEQUENCE, a.sequence(slot), true);
  }

  /** An order's result while its id is in the idempotency window (a Result struct). */
  private answer_order_query(engine: GroupEngine, view: DataView, at: number, rv: DataView,
    out: number): void {
    const w = engine.window;
    const id_lo = view.getUint32(at + S.REQUEST_QUERY_ID, true);
    const id_hi = view.getUint32(at + S.REQUEST_QUERY_ID + 4, true);
    const entry = w.find(view.getUint32(at + S.REQUEST_QUERY_PARTNER, true), id_hi, id_lo);
    if (entry === -1) return;
    const body = out + S.RESULT_BODY;
    rv.setUint8(out + S.RESULT_FOUND, 1);
    rv.setUint32(body, id_lo, true);
    rv.setUint32(body + 4, id_hi, true);
    write_i64(rv, body + 8, w.sequence(entry));
    write_i64(rv, body + 16, w.balance_minor[entry]!);
    write_i64(rv, body + 24, w.available_minor[entry]!);
    rv.setUint32(body + 32, w.status[entry]! as Status, true);
    rv.setUint32(body + 36, 0, true);
  }

  private tick_if_due(): void {
    const now_ms = this.parts.clock.now_ms();
    if (now_ms < this.next_tick_ms) return;
    this.next_tick_ms = now_ms + ENGINE_TICK_MS;
    for (const engine of this.parts.engines.values()) {
      if (!this.output.has_room_for_entry()) this.flush_journal();
      engine.tick(now_ms, this.output);
    }
  }

  /**
   * Snapshots every group once asked (or the groups asked for one by one); a group whose buffer
   * the journal worker is still writing waits for a later cycle (the engine never blocks on it).
   */
  private take_requested_snapshots(): void {
    const control = this.parts.control;
    if (control.snapshot_requested(this.parts.worker)) {
      control.clear_snapshot_request(this.parts.worker);
      for (const group of this.parts.engines.keys()) this.snapshots_due.add(group);
    }
    if (control.take_group_snapshot_requests(this.parts.worker)) {
      for (const group of this.parts.engines.keys()) {
        if (control.take_group_snapshot_request(group)) this.snapshots_due.add(group);
      }
    }
    if (this.snapshots_due.size === 0) return;
    this.flush_journal(); // the snapshot's sequence must reach the journal worker first
    for (const group of this.snapshots_due) {
      let buffer = this.snapshot_buffers.get(group);
      if (buffer !== undefined && snapshot_buffer_in_use(buffer)) continue;
      const engine = this.parts.engines.get(group)!;
      const size_bytes = snapshot_size_bytes(engine);
      if (buffer === undefined || snapshot_buffer_capacity(buffer) < size_bytes) {
        buffer = allocate_snapshot_buffer(size_bytes);
        this.snapshot_buffers.set(group, buffer);
      }
      write_snapshot_into(engine, snapshot_buffer_bytes(buffer, size_bytes));
      snapshot_buffer_hand_over(buffer);
      this.parts.on_snapshot(group, engine.last_sequence, buffer, size_bytes);
      this.snapshots_due.delete(group);
    }
  }

  /** Hands this cycle's journal entries to the journal worker: one slot, one doorbell. */
  private flush_journal(): void {
    const output = this.output;
    output.seal();
    if (output.size_bytes === 0) return;
    const ring = this.parts.journal_ring;
    // Backpressure: if the journal worker is behind, the engine waits rather than buffer more.
    while (ring.free_slots() === 0) ring.wait_for_room(ENGINE_TICK_MS);
    const cursor = ring.claim();
    const at = ring.slot_offset(cursor);
    ring.view.setUint32(at, output.size_bytes, true);
    ring.bytes.set(output.bytes.subarray(0, output.size_bytes), at + JOURNAL_SLOT_HEADER_BYTES);
    ring.publish(cursor);
    output.reset();
    this.flush_count++;
    this.parts.control.ring_journal_doorbell();
  }
}
