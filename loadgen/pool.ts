// The connections of a run and the loop that keeps their request slots busy: a Job says what to
// send next and hears every reply; the pool refills a slot as soon as its request is answered
// (pipelining up to each connection's in_flight_max) and resolves once the job has nothing more
// to send and nothing is in flight. Replies arrive in socket callbacks; each connection flushes
// what its callback queued once, at the end of the callback.

import { assert } from "../common/assert.ts";
import type { Mode } from "../schema/generated/balance/wire/mode.ts";
import type { AccountInfoFields } from "../schema/messages.ts";
import type { Connection, Endpoint, ReplyHandler } from "./connection.ts";
import { HttpConnection } from "./http_client.ts";
import type { WireFormat } from "./json_wire.ts";
import { RequestRecord } from "./request_record.ts";
import { TcpConnection } from "./tcp_client.ts";
import type { Transport } from "./options.ts";

export interface Job {
  readonly mode: Mode;
  /** Writes the next request into `record` (kind, orders or account); false when there is none. */
  next(record: RequestRecord): boolean;
  on_results(record: RequestRecord, frame: Uint8Array, results_offset: number, count: number): void;
  /** Accepted mode's answer: every order pending, and nothing after it. */
  on_pending(record: RequestRecord, count: number): void;
  on_account(record: RequestRecord, info: AccountInfoFields | null): void;
  on_refused(record: RequestRecord, reason: string, outcome_unknown: boolean): void;
}

/** What the phases run their jobs on: one service's Pool, or a cluster's RoutedPool. */
export interface JobRunner {
  run(job: Job): Promise<void>;
}

const WATCHDOG_INTERVAL_MS = 250;

export class Pool implements JobRunner {
  readonly connections: Connection[] = [];
  private readonly records: RequestRecord[][] = [];
  private readonly open: boolean[] = [];
  private job: Job | null = null;
  private in_flight = 0;
  private finish: ((error: Error | null) => void) | null = null;
  private last_progress_ms = 0;
  lost_connections: string[] = [];

  private constructor(private readonly request_timeout_ms: number) {}

  static async open(transport: Transport, endpoint: Endpoint, count: number, in_flight: number,
    request_timeout_ms: number, format: WireFormat = "flatbuffers"): Promise<Pool> {
    const pool = new Pool(request_timeout_ms);
    const opened = await Promise.all(Array.from({ length: count }, (_, index) => {
      const handler = pool.handler(index);
      return transport === "tcp"
        ? TcpConnection.open(endpoint, in_flight, handler)
        : HttpConnection.open(endpoint, in_flight, handler, format);
    }));
    for (const connection of opened) {
      pool.connections.push(connection);
      const slots = connection.in_flight_max;
      pool.records.push(Array.from({ length: slots }, () => new RequestRecord()));
      pool.open.push(true);
    }
    return pool;
  }

  /** Slots over all open connections. */
  slot_count(): number {
    return this.connections.reduce((sum, c, i) => sum + (this.open[i] ? c.in_flight_max : 0), 0);
  }

  /** Whether a connection is still open. */
  usable(): boolean {
    return this.open.some((open) => open);
  }

  run(job: Job): Promise<void> {
    assert(this.job === null && this.in_flight === 0, "one job at a time");
    if (!this.open.some((open) => open)) {
      return Promise.reject(new Error(`no open connection left (${this.lost_connections.at(-1)})`));
    }
    this.job = job;
    this.last_progress_ms = performance.now();
    const done = new Promise<void>((resolve, reject) => {
      this.finish = (error) => (error === null ? resolve() : reject(error));
    });
    const watchdog = setInterval(() => this.check_stalled(), WATCHDOG_INTERVAL_MS);
    for (let c = 0; c < this.connections.length; c++) {
      if (!this.open[c]) continue;
      for (let tag = 0; tag < this.connections[c]!.in_flight_max; tag++) this.send(c, tag);
      this.connections[c]!.flush();
    }
    this.settle_if_done();
    return done.finally(() => {
      clearInterval(watchdog);
      this.job = null;
      this.finish = null;
    });
  }

  close(): void {
    for (const connection of this.connections) connection.close();
  }

  private send(c: number, tag: number): void {
    const job = this.job!;
    const record = this.records[c]![tag]!;
    if (!job.next(record)) {
      record.kind = "idle";
      return;
    }
    const connection = this.connections[c]!;
    this.in_flight++;
    if (record.kind === "batch") {
      connection.send_batch(tag, job.mode, record.orders(), record.count);
    } else {
      assert(record.kind === "account", "a job sends batches or account queries");
      const account = record.query_account_id;
      connection.send_account_query(tag, record.query_partner, account);
    }
  }

  private complete(c: number, tag: number): void {
    this.in_flight--;
    this.last_progress_ms = performance.now();
    this.records[c]![tag]!.kind = "idle";
    if (this.open[c]) this.send(c, tag);
    this.settle_if_done();
  }

  private settle_if_done(): void {
    if (this.in_flight === 0 && this.finish !== null) this.finish(null);
  }

  private check_stalled(): void {
    if (this.in_flight === 0 || this.finish === null) return;
    const quiet_ms = performance.now() - this.last_progress_ms;
    if (quiet_ms < this.request_timeout_ms) return;
    this.finish(new Error(`no reply for ${Math.round(quiet_ms)} ms with ${this.in_flight} ` +
      `requests in flight (--timeout)`));
  }

  private handler(c: number): ReplyHandler {
    const record = (tag: number) => this.records[c]![tag]!;
    return {
      on_batch_results: (tag, frame, results_offset, count, pending) => {
        const job = this.job;
        if (job === null) return; // a late reply after a failed run
        if (pending) job.on_pending(record(tag), count);
        else job.on_results(record(tag), frame, results_offset, count);
        this.complete(c, tag);
      },
      on_account_info: (tag, info) => {
        if (this.job === null) return;
        this.job.on_account(record(tag), info);
        this.complete(c, tag);
      },
      on_refused: (tag, reason, outcome_unknown) => {
        this.open[c] = this.open[c]! && !reason.startsWith("connection lost");
        if (this.job === null) return;
        this.job.on_refused(record(tag), reason, outcome_unknown);
        this.complete(c, tag);
      },
      on_closed: (reason) => {
        this.open[c] = false;
        this.lost_connections.push(reason);
        this.settle_if_done();
      },
    };
  }
}
