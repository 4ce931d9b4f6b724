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
  /** Positions of the part's orders in the request; null when the part is the whole request. */
  positions: Uint8Array | null;
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
  ) {
    // With an ArrayBuffer of its own: the HTTP edge reads it through a DataView, and asking a small
    // typed array for its buffer makes JSC build one then (more work than building it now).
    this.results = answered_early ? NO_RESULTS
      : new Uint8Array(new ArrayBuffer(order_count * RESULT_SIZE_BYTES));
    this.slots_left = slot_count(parts);
    this.waits_left = parts.length;
  }
}

/** Ring slots a request's parts take: one per engine worker (the parts are ordered by worker). */
export function slot_count(parts: readonly PartInfo[]): number {
  let slots = parts.length === 0 ? 0 : 1;
  for (let i = 1; i < parts.length; i++) if (parts[i]!.worker !== parts[i - 1]!.worker) slots++;
  return slots;
}
