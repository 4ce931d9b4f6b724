// The main thread's router: refuses every linked chain that names more than one partner, and every
// chain of a group this node does not lead (chains.ts, leadership.ts), splits the rest of a batch
// by group, copies each engine worker's parts into one slot of its inbound ring (one run per
// group, no per-order decoding), and answers once every slot's results are back and every part
// is durable. It refuses instead of queueing: a full ring, a partner past its share of a ring, or
// too many requests in flight answer busy, so memory stays bounded whatever the load.

import { copy_bytes, copy_words } from "../common/bytes.ts";
import { assert } from "../common/assert.ts";
import {
  BATCH_ORDERS_MAX, ORDER_SIZE_BYTES, PARTNER_RING_SHARE_DIVISOR, REQUESTS_IN_FLIGHT_MAX,
  RESULT_SIZE_BYTES, RING_RUN_ENTRY_BYTES,
} from "../common/constants.ts";
import { Mode } from "../schema/generated/balance/wire/mode.ts";
import { Status } from "../schema/generated/balance/wire/status.ts";
import { mark_refused_chains, write_refused_results, type LeadsPartner } from "./chains.ts";
import { LEADS_EVERY_GROUP, type GroupLeadership, type ReadGate } from "./leadership.ts";
import type { Partitioning } from "./partition.ts";
import type { Refusal } from "../schema/refusal.ts";
import { PartnerShares } from "./partner_shares.ts";
import { PendingRequest, part_order_count, type PartInfo } from "./pending.ts";
import { PartPool, ResultsPool } from "./request_pools.ts";
import type { Ring } from "../common/ring.ts";
import * as S from "../common/slots.ts";

const PARTNER_OFFSET = 32;
const ORDER_ID_BYTES = 8; // an order's and a result's first field
/** Partners whose single-part layout is kept for reuse (a few thousand partners in all). */
const WHOLE_BATCH_PARTS_CACHED_MAX = 65_536;

export interface RouterCounters {
  on_results(results: Uint8Array, offset: number, count: number): void;
  /** A committed batch answered: ms from its admission to its durable answer (/metrics). */
  on_committed?(duration_ms: number): void;
}

/**
 * Where the router may leave a parked engine's wake while a group commit syncs (WorkerControl):
 * true when the wake will come from there.
 */
export interface EngineWakeGate {
  defer_engine_wake(worker: number): boolean;
}

export class Router {
  private readonly pending = new Map<number, PendingRequest>();
  private next_token = 1;
  /** In-flight ring slots per (partner, worker). */
  private readonly partner_slots: PartnerShares;
  private readonly partner_slots_max: number;
  /** Per group: requests waiting for durability, in sequence order. */
  private readonly durable_waits: { sequence: number; request: PendingRequest }[][] = [];
  readonly durable_sequence: number[] = [];
  /** A cluster primary confirms it still leads before a read is answered; null: a single node. */
  read_gate: ReadGate | null = null;
  /**
   * Takes an engine's wake while the journal worker syncs a group commit and wakes it at the
   * commit's end (common/worker_control.ts); null: every wake is made here.
   */
  engine_wake_gate: EngineWakeGate | null = null;
  /**
   * Runs before a batch is admitted (a single node: answering what became durable meanwhile,
   * node/service_node.ts take_durable_progress); it may answer other requests, never this one.
   */
  before_admission: (() => void) | null = null;
  private readonly whole_batch_parts = new Map<number, PartInfo[]>();
  private readonly part_pool = new PartPool();
  private readonly results_pool = new ResultsPool();
  /** submit_read's accepted answers, read before it returns (over an ArrayBuffer of its own). */
  private readonly accepted_scratch =
    new Uint8Array(new ArrayBuffer(BATCH_ORDERS_MAX * RESULT_SIZE_BYTES));
  /** Per order of the batch being submitted: the status its chain is refused with, else 0. */
  private readonly refused = new Uint8Array(BATCH_ORDERS_MAX);
  /** split_by_group's scratch: each order's part. */
  private readonly part_of_order = new Uint8Array(BATCH_ORDERS_MAX);
  private readonly leads_partner: LeadsPartner;
  private readonly workers_to_wake: Uint8Array;
  /** admission's scratch: 1 for each worker a request needs a slot of. */
  private readonly slots_needed: Uint8Array;
  private wake_scheduled = false;

  constructor(
    private readonly partitioning: Partitioning,
    private readonly leadership: GroupLeadership,
    private readonly inbound: Ring[],
    private readonly request_timeout_ms: number,
    private readonly counters: RouterCounters,
    /** Requests registered and not yet answered (waiting for engines or for the journal). */
    private readonly requests_in_flight_max = REQUESTS_IN_FLIGHT_MAX,
  ) {
    this.partner_slots_max = Math.max(1, inbound[0]!.slot_count / PARTNER_RING_SHARE_DIVISOR);
    this.partner_slots = new PartnerShares(inbound.length);
    this.workers_to_wake = new Uint8Array(inbound.length);
    this.slots_needed = new Uint8Array(inbound.length);
    this.leads_partner = leadership === LEADS_EVERY_GROUP ? null
      : (partner) => leadership.leads(partitioning.group_of_partner(partner));
    for (let group = 0; group < partitioning.groups; group++) {
      this.durable_waits.push([]);
      this.durable_sequence.push(0);
    }
  }

  get in_flight(): number {
    return this.pending.size;
  }

  /** Requests with a part for `group` not answered yet (a cluster handover waits for none). */
  in_flight_of(group: number): number {
    let count = 0;
    for (const request of this.pending.values()) {
      if (!request.done && request.parts.some((part) => part.group === group)) count++;
    }
    return count;
  }

  /**
   * Submits `count` orders (40-byte structs at orders[0..]). Resolves with the results (committed:
   * after durability; accepted: at once, submit_accepted's answer), or rejects with a Refusal.
   */
  submit(orders: Uint8Array, count: number, mode: Mode): Promise<Uint8Array> {
    if (mode === Mode.accepted) {
      // Over an ArrayBuffer of its own, as PendingRequest's results (router/pending.ts).
      const answer = new Uint8Array(new ArrayBuffer(count * RESULT_SIZE_BYTES));
      const refusal = this.submit_accepted(orders, count, answer);
      return refusal === null ? Promise.resolve(answer) : Promise.reject(refusal);
    }
    return new Promise<Uint8Array>((resolve, reject) => {
      const refusal = this.submit_listen(orders, count, (r) => resolve(r.results), reject);
      if (refusal !== null) reject(refusal);
    });
  }

  /**
   * submit() for a caller that turns the results into its reply at once (the HTTP edge): `read`
   * runs on them where they are, a lent buffer (submit_listen's lend_results) or, in accepted
   * mode, the router's scratch, and the promise resolves with what it returns. No results buffer
   * is made per request. Rejects with a Refusal, or with what `read` throws.
   */
  submit_read<T>(orders: Uint8Array, count: number, mode: Mode, read: (results: Uint8Array) => T)
    : Promise<T> {
    if (mode === Mode.accepted) {
      const refusal = this.submit_accepted(orders, count, this.accepted_scratch);
      if (refusal !== null) return Promise.reject(refusal);
      try {
        return Promise.resolve(read(this.accepted_scratch));
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return new Promise<T>((resolve, reject) => {
      const refusal = this.submit_listen(orders, count, (request) => {
        try {
          resolve(read(request.results));
        } catch (error) {
          reject(error); // never into the router's loop: the request is answered either way
        }
      }, reject, true);
      if (refusal !== null) reject(refusal);
    });
  }

  /**
   * Committed mode in the callback form, for connections that answer many pipelined requests:
   * returns a Refusal at once (nothing was claimed), or null and later calls exactly one of
   * `on_committed` (the final results, once durable) or `on_refused` ("timeout": not durable
   * within the request timeout, the outcome is unknown). The orders are copied into the rings
   * before it returns. A batch whose every order is in a refused chain reaches no ring:
   * `on_committed` follows at once (in a microtask). With `lend_results`, on_committed reads
   * request.results only while it runs (it copies them out): they are then a pooled buffer of
   * `count` results, reused after.
   */
  submit_listen(orders: Uint8Array, count: number,
    on_committed: (request: PendingRequest) => void, on_refused: (refusal: Refusal) => void,
    lend_results = false): Refusal | null {
    this.before_admission?.();
    const view = this.batch_view(orders, count);
    const refused_count = mark_refused_chains(view, count, this.refused, this.leads_partner);
    if (refused_count === count) {
      const request = new PendingRequest(0, S.SlotKind.batch, [], count, 0, on_committed,
        on_refused, false);
      this.refuse_chains(request.results, orders, count);
      queueMicrotask(() => on_committed(request)); // never before this call returns
      return null;
    }
    const parts = this.split_by_group(view, count, refused_count);
    const refusal = this.admission(parts);
    if (refusal !== null) return refusal;
    const request = this.register(S.SlotKind.batch, parts, count, on_committed, on_refused, false,
      lend_results ? this.results_pool.take(count) : null);
    if (refused_count > 0) this.refuse_chains(request.results, orders, count);
    this.publish_slots(request, orders, view, Mode.committed);
    return null;
  }

  /**
   * Accepted mode (docs/protocol.md): the orders are copied into the rings and the one answer
   * they get is written into `target` now: every order pending with its id, or, for an order of
   * a chain refused before the rings, that final refusal. Nothing follows: the engines' results
   * only release the ring shares (no results are placed, no durability is waited for), so an
   * accepted batch costs less than a committed one. Returns a Refusal instead when nothing could
   * be placed (nothing was claimed, `target` untouched).
   */
  submit_accepted(orders: Uint8Array, count: number, target: Uint8Array): Refusal | null {
    this.before_admission?.();
    const view = this.batch_view(orders, count);
    const refused_count = mark_refused_chains(view, count, this.refused, this.leads_partner);
    if (refused_count < count) {
      const parts = this.split_by_group(view, count, refused_count);
      const refusal = this.admission(parts);
      if (refusal !== null) return refusal;
      const request = this.register(S.SlotKind.batch, parts, count, answered_already,
        answered_already, true);
      this.publish_slots(request, orders, view, Mode.accepted);
    }
    write_pending_statuses(target, 0, orders, count);
    if (refused_count > 0) this.refuse_chains(target, orders, count);
    return null;
  }

  private batch_view(orders: Uint8Array, count: number): DataView {
    assert(count >= 1 && count <= BATCH_ORDERS_MAX, "batch size checked at the edge");
    assert(orders.byteLength >= count * ORDER_SIZE_BYTES, "orders fit the bytes");
    return new DataView(orders.buffer, orders.byteOffset, count * ORDER_SIZE_BYTES);
  }

  /**
   * A read of one account or one order's result, answered once what it reflects is durable;
   * refused not_primary when this node does not lead the partner's group.
   */
  query(kind: S.SlotKind, partner: number, id: bigint): Promise<PendingRequest> {
    const group = this.partitioning.group_of_partner(partner);
    if (!this.leadership.leads(group)) return Promise.reject<PendingRequest>("not_primary");
    const part: PartInfo = {
      group, worker: this.partitioning.worker_of_group(group), partners: [partner], positions: null,
      count: 0, position_store: null, pooled: false,
    };
    const refusal = this.admission([part]);
    if (refusal !== null) return Promise.reject(refusal);
    return new Promise((resolve, reject) => {
      const request = this.register(kind, [part], 0, resolve, reject, false);
      const ring = this.inbound[part.worker]!;
      const cursor = ring.claim();
      const at = ring.slot_offset(cursor);
      this.write_header(ring.view, at, kind, Mode.committed, group, request.token, 0, 0, 0);
      ring.view.setBigUint64(at + S.REQUEST_QUERY_ID, id, true);
      ring.view.setUint32(at + S.REQUEST_QUERY_PARTNER, partner, true);
      ring.publish(cursor);
    });
  }

  /** The one part of a batch from one partner: built once per partner, then reused (read-only). */
  private whole_batch_part(partner: number): PartInfo[] {
    let parts = this.whole_batch_parts.get(partner);
    if (parts === undefined) {
      const p = this.partitioning;
      const group = p.group_of_partner(partner);
      parts = [{ group, worker: p.worker_of_group(group), partners: [partner], positions: null,
        count: 0, position_store: null, pooled: false }];
      if (this.whole_batch_parts.size < WHOLE_BATCH_PARTS_CACHED_MAX) {
        this.whole_batch_parts.set(partner, parts);
      }
    }
    return parts;
  }

  /**
   * The batch's parts, one per group, without the orders marked refused (refused_count), ordered
   * by engine worker (each worker's parts become the runs of one slot). Plain loops over scratch
   * arrays: a batch has at most BATCH_ORDERS_MAX orders, so finding an order's part (or a partner
   * within a part) by a linear scan beats building Maps and Sets per request. A mixed batch's
   * parts come from the part pool (given back in forget).
   */
  private split_by_group(view: DataView, count: number, refused_count: number): PartInfo[] {
    assert(refused_count < count, "a batch refused whole has no parts");
    const first_partner = view.getUint32(PARTNER_OFFSET, true);
    let same_partner = true;
    for (let k = 1; k < count && same_partner; k++) {
      same_partner = view.getUint32(k * ORDER_SIZE_BYTES + PARTNER_OFFSET, true) === first_partner;
    }
    const p = this.partitioning;
    if (same_partner) return this.whole_batch_part(first_partner); // no chain names two partners
    const pool = this.part_pool;
    const parts = pool.list();
    const part_of_order = this.part_of_order;
    let last_partner = -1;
    let last_group = -1;
    for (let k = 0; k < count; k++) {
      if (this.refused[k] !== 0) continue;
      const partner = view.getUint32(k * ORDER_SIZE_BYTES + PARTNER_OFFSET, true);
      const group = partner === last_partner ? last_group : p.group_of_partner(partner);
      last_partner = partner;
      last_group = group;
      let index = 0;
      while (index < parts.length && parts[index]!.group !== group) index++;
      if (index === parts.length) {
        parts.push(pool.part(group, p.worker_of_group(group), partner));
      } else if (!parts[index]!.partners.includes(partner)) {
        parts[index]!.partners.push(partner);
      }
      part_of_order[k] = index;
    }
    if (parts.length === 1 && refused_count === 0) return parts; // positions null: the whole batch
    for (const part of parts) part.positions = part.position_store;
    for (let k = 0; k < count; k++) {
      if (this.refused[k] !== 0) continue;
      const part = parts[part_of_order[k]!]!;
      part.positions![part.count++] = k;
    }
    if (this.inbound.length > 1) parts.sort(by_worker); // stable: a worker's parts keep their order
    return parts;
  }

  /** Writes (and counts) the result of every order this.refused marks. */
  private refuse_chains(results: Uint8Array, orders: Uint8Array, count: number): void {
    write_refused_results(results, 0, orders, count, this.refused);
    for (let k = 0; k < count; k++) {
      if (this.refused[k] === 0) continue;
      const at = k * RESULT_SIZE_BYTES;
      this.counters.on_results(results, at, 1);
    }
  }

  /** Checks every part can be placed now, before anything is claimed. */
  private admission(parts: PartInfo[]): Refusal | null {
    if (this.pending.size >= this.requests_in_flight_max) return "busy";
    for (const part of parts) {
      for (const partner of part.partners) {
        if (this.partner_slots.used(partner, part.worker) >= this.partner_slots_max) return "busy";
      }
    }
    // Parts of several groups may share a worker's ring: together they take one slot.
    const needed = this.slots_needed; // all 0 between calls
    for (const part of parts) needed[part.worker] = 1;
    let refusal: Refusal | null = null;
    for (const part of parts) {
      if (needed[part.worker] === 0) continue;
      needed[part.worker] = 0;
      if (this.inbound[part.worker]!.free_slots() === 0) refusal = "busy";
    }
    return refusal;
  }

  private register(kind: S.SlotKind, parts: PartInfo[], count: number,
    answer: (r: PendingRequest) => void, refuse: (refusal: Refusal) => void, early: boolean,
    lent_results: Uint8Array | null = null) {
    const token = this.next_token;
    this.next_token = (this.next_token + 1) >>> 0 || 1;
    const request = new PendingRequest(token, kind, parts, count,
      performance.now() + this.request_timeout_ms, answer, refuse, early, lent_results);
    this.pending.set(token, request);
    for (const part of parts) {
      for (const partner of part.partners) this.partner_slots.take(partner, part.worker);
    }
    return request;
  }

  /** One slot per engine worker: its parts (consecutive, parts are ordered by worker) as runs. */
  private publish_slots(request: PendingRequest, orders: Uint8Array, orders_view: DataView,
    mode: Mode): void {
    const parts = request.parts;
    let first = 0;
    while (first < parts.length) {
      let end = first + 1;
      while (end < parts.length && parts[end]!.worker === parts[first]!.worker) end++;
      this.publish_slot(request, first, end, orders, orders_view, mode);
      first = end;
    }
  }

  /**
   * Copies parts first..end-1 (one worker's) into one slot of its ring, one run each. A part of
   * a mixed batch is copied order by order in 32-bit words: byte by byte, the copies of a mixed
   * batch's orders and results were a fifth of the router's time (bench/router.ts).
   */
  private publish_slot(request: PendingRequest, first: number, end: number, orders: Uint8Array,
    orders_view: DataView, mode: Mode): void {
    const parts = request.parts;
    const worker = parts[first]!.worker;
    const ring = this.inbound[worker]!;
    const cursor = ring.claim();
    const at = ring.slot_offset(cursor);
    const view = ring.view;
    let body = at + S.REQUEST_BODY;
    let total = 0;
    for (let index = first; index < end; index++) {
      const part = parts[index]!;
      const count = part_order_count(part, request);
      if (part.positions === null) {
        const size_bytes = count * ORDER_SIZE_BYTES; // a view only when orders is longer
        const whole = orders.length === size_bytes ? orders : orders.subarray(0, size_bytes);
        ring.bytes.set(whole, body);
      } else {
        for (let i = 0; i < count; i++) {
          copy_words(orders_view, part.positions[i]! * ORDER_SIZE_BYTES, view,
            body + i * ORDER_SIZE_BYTES, ORDER_SIZE_BYTES / 4);
        }
      }
      const run = at + S.REQUEST_RUN_TABLE + (index - first) * RING_RUN_ENTRY_BYTES;
      view.setUint32(run + S.RUN_GROUP, part.group, true);
      view.setUint32(run + S.RUN_COUNT, count, true);
      body += count * ORDER_SIZE_BYTES;
      total += count;
    }
    this.write_header(view, at, S.SlotKind.batch, mode, parts[first]!.group, request.token, first,
      total, end - first);
    ring.publish_quietly(cursor);
    this.wake_later(worker);
  }

  /**
   * Wakes a parked engine once per event-loop turn, after every request the turn read: a wake
   * costs this thread a syscall (and the engine a context switch) each time, so one per request
   * is the most expensive way to hand over many small requests (HTTP).
   */
  private wake_later(worker: number): void {
    this.workers_to_wake[worker] = 1;
    if (this.wake_scheduled) return;
    this.wake_scheduled = true;
    setImmediate(this.wake_workers);
  }

  private readonly wake_workers = (): void => {
    this.wake_scheduled = false;
    const gate = this.engine_wake_gate;
    for (let worker = 0; worker < this.inbound.length; worker++) {
      if (this.workers_to_wake[worker] === 0) continue;
      this.workers_to_wake[worker] = 0;
      // Orders only: a read (query) wakes its engine at once (Ring.publish).
      if (gate !== null && gate.defer_engine_wake(worker)) continue;
      this.inbound[worker]!.wake_consumer_if_parked();
    }
  };

  private write_header(view: DataView, at: number, kind: S.SlotKind, mode: Mode, group: number,
    token: number, part: number, count: number, runs: number): void {
    view.setUint8(at + S.REQUEST_KIND, kind);
    view.setUint8(at + S.REQUEST_MODE, mode);
    view.setUint32(at + S.REQUEST_GROUP, group, true);
    view.setUint32(at + S.REQUEST_TOKEN, token, true);
    view.setUint32(at + S.REQUEST_PART, part, true);
    view.setUint32(at + S.REQUEST_COUNT, count, true);
    view.setUint32(at + S.REQUEST_RUNS, runs, true);
  }

  /** Takes one result slot from an engine worker's results ring. */
  on_result_slot(ring: Ring, at: number): void {
    const view = ring.view;
    const token = view.getUint32(at + S.RESULT_TOKEN, true);
    const request = this.pending.get(token);
    assert(request !== undefined, `result for unknown request ${token}`);
    if (request.kind !== S.SlotKind.batch) {
      this.on_query_result(request, ring, at);
      return;
    }
    const first = view.getUint32(at + S.RESULT_PART, true);
    const runs = view.getUint32(at + S.RESULT_RUNS, true);
    let body = at + S.RESULT_BODY;
    for (let run = 0; run < runs; run++) {
      const part = request.parts[first + run]!;
      this.release_partner_slots(part);
      const count = part_order_count(part, request);
      this.counters.on_results(ring.bytes, body, count);
      // An accepted batch was answered already: its results are counted, never placed.
      if (!request.answered_early) {
        this.place_results(request, part, ring, body, count);
        const required = view.getFloat64(at + S.RESULT_RUN_TABLE + run * 8, true);
        this.await_durable(request, part.group, required);
      }
      body += count * RESULT_SIZE_BYTES;
    }
    request.slots_left--;
    if (request.slots_left > 0) return;
    if (request.answered_early) this.forget(request);
    // Answered (or expired) while this slot's runs were read: what it borrowed can go back now.
    else if (this.pending.get(token) !== request) this.give_back(request);
  }

  /**
   * Drops a request from the ones in flight (answered, or expired with its results in); what it
   * borrowed goes back once no result slot of it is due.
   */
  private forget(request: PendingRequest): void {
    this.pending.delete(request.token);
    this.give_back(request);
  }

  /** A forgotten request's pooled parts and lent results go back to their pools, once. */
  private give_back(request: PendingRequest): void {
    if (request.slots_left > 0 || request.given_back) return;
    request.given_back = true;
    this.part_pool.give_back(request.parts);
    if (request.results_lent) this.results_pool.give_back(request.results);
  }

  private on_query_result(request: PendingRequest, ring: Ring, at: number): void {
    const view = ring.view;
    const part = request.parts[0]!;
    this.release_partner_slots(part);
    request.found = view.getUint8(at + S.RESULT_FOUND) === 1;
    const body = at + S.RESULT_BODY;
    request.query_body = ring.bytes.slice(body, body + S.ACCOUNT_BYTES);
    request.slots_left--;
    this.await_durable(request, part.group, view.getFloat64(at + S.RESULT_REQUIRED_SEQUENCE, true));
  }

  /** A part answered; its reply waits until `group` is durable up to `required`. */
  private await_durable(request: PendingRequest, group: number, required: number): void {
    if (this.durable_sequence[group]! >= required) this.part_durable(request);
    else this.durable_waits[group]!.push({ sequence: required, request });
  }

  private place_results(request: PendingRequest, part: PartInfo, ring: Ring, body: number,
    count: number): void {
    if (part.positions === null) {
      request.results.set(ring.bytes.subarray(body, body + count * RESULT_SIZE_BYTES));
      return;
    }
    const results = request.results_view();
    for (let i = 0; i < count; i++) {
      copy_words(ring.view, body + i * RESULT_SIZE_BYTES, results,
        part.positions[i]! * RESULT_SIZE_BYTES, RESULT_SIZE_BYTES / 4);
    }
  }

  private release_partner_slots(part: PartInfo): void {
    for (const partner of part.partners) this.partner_slots.give_back(partner, part.worker);
  }

  /**
   * The journal worker made `group` durable up to `sequence`. A single node hears of a commit
   * twice (its durable board, then its message): a report of no new progress changes nothing.
   */
  on_durable(group: number, sequence: number): void {
    if (sequence <= this.durable_sequence[group]!) return;
    this.durable_sequence[group] = sequence;
    const waits = this.durable_waits[group]!;
    let released = 0;
    while (released < waits.length && waits[released]!.sequence <= sequence) {
      this.part_durable(waits[released]!.request);
      released++;
    }
    if (released > 0) waits.splice(0, released);
  }

  private part_durable(request: PendingRequest): void {
    // A read is answered only once this node is confirmed to lead still (a cluster primary).
    if (this.read_gate !== null && request.kind !== S.SlotKind.batch && !request.leadership_asked) {
      request.leadership_asked = true;
      this.read_gate.confirm(request.parts[0]!.group, () => this.part_durable(request));
      return;
    }
    request.waits_left--;
    if (request.waits_left > 0) return;
    this.pending.delete(request.token);
    if (!request.done) { // else refused on timeout already
      request.done = true;
      if (request.kind === S.SlotKind.batch) {
        // Registered at deadline_ms - request_timeout_ms (register).
        const admitted_ms = request.deadline_ms - this.request_timeout_ms;
        this.counters.on_committed?.(performance.now() - admitted_ms);
      }
      request.answer(request);
    }
    this.give_back(request); // after the answer: lent results are read while it runs
  }

  /** Refuses requests past their deadline; their outcome is unknown, a retry with the same ids is safe. */
  expire_overdue(now_ms: number): void {
    for (const request of this.pending.values()) {
      if (request.done || request.answered_early || request.deadline_ms > now_ms) continue;
      request.done = true; // stays registered until its results arrive, to release ring shares
      request.refuse("timeout");
    }
    for (const [token, request] of this.pending) {
      const answered_by_engines = request.slots_left === 0;
      if (request.done && answered_by_engines && request.waits_left > 0) this.forget(request);
    }
  }
}

function by_worker(a: PartInfo, b: PartInfo): number {
  return a.worker - b.worker;
}

/** An accepted batch's callbacks: never called (it was answered when it was placed). */
function answered_already(): void {
  assert(false, "an accepted batch is answered once, when it is placed");
}

/** One Result per order, its id, status pending, sequence and figures 0. */
function write_pending_statuses(target: Uint8Array, offset: number, orders: Uint8Array,
  count: number): void {
  target.fill(0, offset, offset + count * RESULT_SIZE_BYTES);
  for (let k = 0; k < count; k++) {
    const at = offset + k * RESULT_SIZE_BYTES;
    copy_bytes(orders, k * ORDER_SIZE_BYTES, target, at, ORDER_ID_BYTES);
    target[at + 32] = Status.pending;
  }
}
