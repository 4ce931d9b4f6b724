// Requests the main thread has handed to engines and not yet answered. A request may be split into
// parts (one per group, ordered by engine worker); each worker gets one ring slot holding its parts
// as runs (common/slots.ts). The reply waits for every slot's results and for the journal to be
// durable up to what each part reflects.

import { RESULT_SIZE_BYTES } from "../common/constants.ts";
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

/** Orders of `request` that `part` carries. */
export function part_order_count(part: PartInfo, request: PendingRequest): number {
  return part.positions === null ? request.order_count : part.count;
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
