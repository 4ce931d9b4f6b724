// What requests borrow from the router and give back when it forgets them: the parts of a batch
// split over groups (PartPool), and results buffers lent to an answer that copies them out at
// once (ResultsPool). Both keep a bounded number; a burst's extras are left to the collector.

import { BATCH_ORDERS_MAX, RESULT_SIZE_BYTES } from "../common/constants.ts";
import type { PartInfo } from "./pending.ts";

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
