// The run loop of one engine worker: drains its inbound ring, applies each slot to its group's
// engine, publishes results, and hands the journal entries of each cycle to the journal worker in
// one slot. Parks in Atomics.wait when idle (no spinning), waking at least every ENGINE_TICK_MS so
// hold expiries and window eviction follow engine time.
//
// A cycle reads engine time once and applies its slots group by group (each group's in ring
// order): a group's batches of one cycle then make one journal entry (JournalOutput merging). A
// request of many partners reaches a worker as one slot per group, so per-batch entries were
// most of the engine's and the journal worker's per-order cost (measured: 1.5x throughput when
// every request named partners of one group; docs/performance.md).

import { assert, assert_never } from "../common/assert.ts";
import { ENGINE_TICK_MS } from "../common/constants.ts";
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
  /** The group of each slot of the cycle, -1 once applied (apply_slots_by_group). */
  private readonly cycle_groups: Int32Array;

  constructor(parts: EngineLoopParts) {
    this.parts = parts;
    this.output = new JournalOutput(parts.journal_ring.slot_bytes - JOURNAL_SLOT_HEADER_BYTES,
      true);
    this.cycle_groups = new Int32Array(parts.inbound.slot_count);
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
    this.apply_slots_by_group(count, this.parts.clock.now_ms());
    inbound.release(count);
    this.flush_journal();
    // The results were published quietly. When this cycle handed entries to the journal, the
    // journal's durable report wakes the main thread, which drains every results ring before it
    // answers: a second wake per cycle would cost both threads a syscall for nothing. A cycle of
    // reads only hands nothing over, so it wakes the main thread itself.
    if (this.flush_count === flushes_before) this.parts.results.wake_consumer_if_parked();
    return true;
  }

  /**
   * Applies the cycle's `count` slots at one engine time, group by group in the order each group
   * first appears, each group's slots in ring order (groups are independent; within a group the
   * order is the ring's). The results ring gets them in that order: the router takes results by
   * token, in any order.
   */
  private apply_slots_by_group(count: number, engine_time_ms: number): void {
    const inbound = this.parts.inbound;
    const first = inbound.consumer_cursor();
    const groups = this.cycle_groups;
    for (let i = 0; i < count; i++) {
      groups[i] = inbound.view.getUint32(inbound.slot_offset(first + i) + S.REQUEST_GROUP, true);
    }
    let applied = 0;
    let next = 0;
    while (applied < count) {
      while (groups[next] === -1) next++;
      const group = groups[next]!;
      for (let i = next; i < count; i++) {
        if (groups[i] !== group) continue;
        groups[i] = -1;
        if (!this.output.has_room_for_entry()) this.flush_journal();
        this.apply_slot(inbound.slot_offset(first + i), engine_time_ms);
        applied++;
      }
    }
  }

  private apply_slot(at: number, engine_time_ms: number): void {
    const { inbound, results } = this.parts;
    const view = inbound.view;
    const kind = view.getUint8(at + S.REQUEST_KIND);
    assert(S.is_slot_kind(kind), `unknown slot kind ${kind}`);
    const group = view.getUint32(at + S.REQUEST_GROUP, true);
    const engine = this.engine_by_group[group];
    assert(engine !== undefined, `group ${group} is not hosted by this worker`);
    while (results.free_slots() === 0) {
      results.wake_consumer(); // it may be waiting for the journal, which waits for this cycle
      results.wait_for_room(ENGINE_TICK_MS);
    }
    const cursor = results.claim();
    const out = results.slot_offset(cursor);
    const rv = results.view;
    rv.setUint8(out + S.RESULT_KIND, kind);
    rv.setUint8(out + S.RESULT_FOUND, 0);
    rv.setUint32(out + S.RESULT_GROUP, group, true);
    rv.setUint32(out + S.RESULT_TOKEN, view.getUint32(at + S.REQUEST_TOKEN, true), true);
    rv.setUint32(out + S.RESULT_PART, view.getUint32(at + S.REQUEST_PART, true), true);
    const count = view.getUint32(at + S.REQUEST_COUNT, true);
    rv.setUint32(out + S.RESULT_COUNT, count, true);
    switch (kind) {
      case S.SlotKind.batch:
        engine.apply_batch(view, at + S.REQUEST_BODY, count, engine_time_ms, rv,
          out + S.RESULT_BODY, this.output);
        break;
      case S.SlotKind.query_account:
        this.answer_account_query(engine, view, at, rv, out);
        break;
      case S.SlotKind.query_order:
        this.answer_order_query(engine, view, at, rv, out);
        break;
      default:
        assert_never(kind, "slot kind");
    }
    // Whatever the reply reflects must be durable before it leaves: the group's sequence now.
    rv.setFloat64(out + S.RESULT_REQUIRED_SEQUENCE, engine.last_sequence, true);
    results.publish_quietly(cursor); // the cycle's end decides on a wake (cycle())
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
