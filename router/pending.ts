// Requests the main thread has handed to engines and not yet answered. A request may be split into
// parts (one per group, ordered by engine worker); each worker gets one ring slot holding its parts
// as runs (common/slots.ts). The reply waits for every slot's results and for the journal to be
// durable up to what each part reflects.

import { BATCH_ORDERS_MAX, RESULT_SIZE_BYTES } from "../common/constants.ts";
import type { SlotKind } from "../common/slots.ts";
import type { Refusal } from "../schema/refusal.ts";

export interface PartInfo {
  group: number;
  worker: number;
  /** Partners charged a slot of the worker's ring (released when the part's results arrive). */
  partners: number[];
  /** Positions of the part's orders in the request (the first `count`); null: all of them. */
  positions: Uint8Array | null;
  /** Orders in the part when positions is set (a whole request's part counts its request's). */
  count: number;
  /** A pooled part's own positions (BATCH_ORDERS_MAX of them), which `positions` points at. */
  readonly position_store: Uint8Array | null;
  /** Taken from the router's PartPool, and given back when its request is forgotten. */
  readonly pooled: boolean;
}

/** Parts (and as many part arrays) a PartPool keeps: a thousand mixed requests of four parts. */
const PART_POOL_MAX = 4_096;

/** Result buffers a ResultsPool keeps, of every size together (5 MiB at most). */
const RESULTS_POOL_MAX = 1_024;

/**
 * Results buffers for answers that copy them out at once (TCP, HTTP's submit_read), kept by
 * order count so that each is exactly a request's results: each over an ArrayBuffer of its own,
 * made once, instead of one per request (which was the largest single cost of the main thread's
 * router, docs/performance.md).
 */
export class ResultsPool {
  /** Index: the order count; buffers of exactly that many results. */
  private readonly by_count: Uint8Array[][] =
    Array.from({ length: BATCH_ORDERS_MAX + 1 }, () => []);
  private pooled = 0;

  take(count: number): Uint8Array {
    const buffer = this.by_count[count]!.pop();
    if (buffer === undefined) return new Uint8Array(new ArrayBuffer(count * RESULT_SIZE_BYTES));
    this.pooled--;
    return buffer;
  }

  give_back(buffer: Uint8Array): void {
    if (this.pooled === RESULTS_POOL_MAX) return;
    this.by_count[buffer.length / RESULT_SIZE_BYTES]!.push(buffer);
    this.pooled++;
  }
}

/** Orders of `request` that `part` carries. */
export function part_order_count(part: PartInfo, request: PendingRequest): number {
  return part.positions === null ? request.order_count : part.count;
}

/**
 * The parts of mixed batches, reused: a request split over groups would otherwise build a part,
 * its partner array and its positions per group, and an array of them, for every batch (a
 * tenth of the main thread's samples under TCP load, docs/performance.md). A part goes back when
 * the router forgets its request: every result slot arrived and nothing waits on it. The pool
 * keeps at most PART_POOL_MAX parts: a burst's extra ones are left to the garbage collector.
 */
export class PartPool {
  private readonly parts: PartInfo[] = [];
  private readonly lists: PartInfo[][] = [];

  part(group: number, worker: number, partner: number): PartInfo {
    const part = this.parts.pop() ?? {
      group: 0, worker: 0, partners: [], positions: null, count: 0,
      position_store: new Uint8Array(BATCH_ORDERS_MAX), pooled: true,
    };
    part.group = group;
    part.worker = worker;
    part.partners.push(partner);
    part.positions = null;
    part.count = 0;
    return part;
  }

  /** An empty array for a request's parts. */
  list(): PartInfo[] {
    return this.lists.pop() ?? [];
  }

  /** Takes back a forgotten request's pooled parts and their array. */
  give_back(parts: PartInfo[]): void {
    if (parts.length === 0 || !parts[0]!.pooled) return; // a shared whole-batch part, or none
    for (const part of parts) {
      if (this.parts.length === PART_POOL_MAX) break;
      part.partners.length = 0;
      this.parts.push(part);
    }
    parts.length = 0;
    if (this.lists.length < PART_POOL_MAX) this.lists.push(parts);
  }
}

/** An accepted batch's results are never placed (it was answered when it was placed). */
const NO_RESULTS = new Uint8Array(0);

export class PendingRequest {
  readonly results: Uint8Array;
  /** Result slots still to come, one per engine worker the parts go to. */
  slots_left: number;
  /** Durability still awaited, counted in parts. */
  waits_left: number;
  found = false;
  query_body: Uint8Array | null = null;
  done = false;
  /** A read whose leadership check (Router.read_gate) has been asked for. */
  leadership_asked = false;
  /** Its pooled parts (and lent results) went back to the router's pools (Router.forget). */
  given_back = false;
  /** `results` is a pooled buffer, valid only until the answer returns. */
  readonly results_lent: boolean;
  private results_data_view: DataView | null = null;

  constructor(
    readonly token: number,
    readonly kind: SlotKind,
    readonly parts: PartInfo[],
    readonly order_count: number,
    readonly deadline_ms: number,
    readonly answer: (request: PendingRequest) => void,
    readonly refuse: (refusal: Refusal) => void,
    /** Accepted mode: answered already, kept only to release the partners' ring shares. */
    readonly answered_early: boolean,
    /**
     * A pooled buffer of order_count results when `answer` reads the results only while it runs:
     * the router takes it back after (Router.submit_listen).
     */
    lent_results: Uint8Array | null = null,
  ) {
    // With an ArrayBuffer of its own: the HTTP edge reads it through a DataView, and asking a small
    // typed array for its buffer makes JSC build one then (more work than building it now).
    this.results = answered_early ? NO_RESULTS
      : lent_results ?? new Uint8Array(new ArrayBuffer(order_count * RESULT_SIZE_BYTES));
    this.results_lent = lent_results !== null && !answered_early;
    this.slots_left = slot_count(parts);
    this.waits_left = parts.length;
  }

  /** `results` through a DataView, made once (a mixed batch's results are placed by words). */
  results_view(): DataView {
    this.results_data_view ??= new DataView(this.results.buffer, this.results.byteOffset,
      this.results.byteLength);
    return this.results_data_view;
  }
}

/** Ring slots a request's parts take: one per engine worker (the parts are ordered by worker). */
export function slot_count(parts: readonly PartInfo[]): number {
  let slots = parts.length === 0 ? 0 : 1;
  for (let i = 1; i < parts.length; i++) if (parts[i]!.worker !== parts[i - 1]!.worker) slots++;
  return slots;
}
