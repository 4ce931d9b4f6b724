// The load phase: fresh batches of the workload into every free slot until --requests were sent or
// --duration passed; each final reply is timed (send to final results, into the histogram),
// counted, and its results applied to the ledger. Rates are sampled every SAMPLE_INTERVAL_MS for
// the progress bar and the avg / stdev / max of the summary.

import { Mode } from "../schema/generated/balance/wire/mode.ts";
import { Status } from "../schema/generated/balance/wire/status.ts";
import type { AccountInfoFields } from "../schema/messages.ts";
import { assert } from "../common/assert.ts";
import { Histogram } from "./histogram.ts";
import type { Job } from "./pool.ts";
import type { RequestRecord } from "./request_record.ts";
import type { Workload } from "./workload.ts";

export const SAMPLE_INTERVAL_MS = 500;

export interface LoadLimits {
  requests: number; // Infinity with a duration
  duration_ms: number; // Infinity with a request count
  batch_orders: number;
}

export class LoadJob implements Job {
  readonly latency = new Histogram(); // send to the answer (accepted mode: the pending one)
  readonly ack_latency = new Histogram(); // accepted mode: send to the pending answer
  requests_sent = 0;
  requests_answered = 0; // answered with results
  requests_refused = 0; // no results: refused, or outcome unknown
  orders_answered = 0;
  readonly refusals = new Map<string, number>();
  started_ms = 0;
  ended_ms = 0;
  private stop_at_ms = Infinity;
  // Rates per second, one per sample interval.
  readonly request_rates: number[] = [];
  readonly order_rates: number[] = [];
  private sampled_requests = 0;
  private sampled_orders = 0;
  private sampled_ms = 0;

  constructor(readonly mode: Mode, private readonly workload: Workload,
    private readonly limits: LoadLimits) {}

  start(now_ms: number): void {
    this.started_ms = now_ms;
    this.sampled_ms = now_ms;
    this.stop_at_ms = now_ms + this.limits.duration_ms;
  }

  next(record: RequestRecord): boolean {
    if (this.requests_sent >= this.limits.requests) return false;
    const now_ms = performance.now();
    if (now_ms >= this.stop_at_ms) return false;
    record.kind = "batch";
    record.measured = true;
    this.workload.fill_load_batch(record, this.limits.batch_orders, Date.now());
    record.sent_at_ms = now_ms;
    this.requests_sent++;
    return true;
  }

  on_results(record: RequestRecord, frame: Uint8Array, results_offset: number, count: number) {
    const now_ms = performance.now();
    this.latency.record_us((now_ms - record.sent_at_ms) * 1000);
    this.workload.apply_results(record, frame, results_offset, count);
    this.requests_answered++;
    this.orders_answered += count;
    this.ended_ms = now_ms;
  }

  on_pending(record: RequestRecord, count: number): void {
    const now_ms = performance.now();
    this.ack_latency.record_us((now_ms - record.sent_at_ms) * 1000);
    // Accepted mode: the pending answer is all this client will hear of these orders.
    this.latency.record_us((now_ms - record.sent_at_ms) * 1000);
    this.workload.status_counts[Status.pending]! += count;
    this.workload.forget(record, true);
    this.requests_answered++;
    this.orders_answered += count;
    this.ended_ms = now_ms;
  }

  on_account(_record: RequestRecord, _info: AccountInfoFields | null): void {
    assert(false, "the load phase sends no account queries");
  }

  on_refused(record: RequestRecord, reason: string, outcome_unknown: boolean): void {
    this.refusals.set(reason, (this.refusals.get(reason) ?? 0) + 1);
    this.workload.forget(record, outcome_unknown);
    this.requests_refused++;
    this.ended_ms = performance.now();
  }

  /** Takes one rate sample; returns the orders/s of the interval just ended. */
  sample(now_ms: number): number {
    const elapsed_s = (now_ms - this.sampled_ms) / 1000;
    if (elapsed_s <= 0) return 0;
    const requests = this.requests_answered + this.requests_refused;
    const request_rate = (requests - this.sampled_requests) / elapsed_s;
    const order_rate = (this.orders_answered - this.sampled_orders) / elapsed_s;
    this.request_rates.push(request_rate);
    this.order_rates.push(order_rate);
    this.sampled_requests = requests;
    this.sampled_orders = this.orders_answered;
    this.sampled_ms = now_ms;
    return order_rate;
  }

  elapsed_s(): number {
    return Math.max(1e-9, (this.ended_ms - this.started_ms) / 1000);
  }
}

export function is_accepted(mode: Mode): boolean {
  return mode === Mode.accepted;
}
