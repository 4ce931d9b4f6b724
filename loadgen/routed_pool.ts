// --seeds: the load over a cluster. The routing map is read from every known node (map_reader.ts)
// and each node gets a Pool of its own. A load batch is drawn from the partners whose group the
// node leads (Workload.partner_mask), so it goes whole to one primary. Set-up, clean-up and end
// check requests, whose items span partners, are split per node, and each part reaches the job
// as a request of its own. A request answered not_primary (the whole request, or any order of
// it), or in flight on a connection that was lost, makes the pool read the map again and send it
// again with the SAME ids, at most SDK_ROUTING_RESENDS_MAX times, each after a backoff (the
// SDK's rule, sdk/routing_transport.ts): a primary answers `replayed` with the original result for an order it
// committed already, so nothing is applied twice.
//
// The map is read again WHILE the other nodes' pools go on (a failover must not stall them, and a
// resend must go out at once: held back longer than the idempotency window it would be refused
// `expired`, its first outcome unknown). A node's pool that ran out of work (its parts all sent,
// the job exhausted) is started again when parts wait for it; the job ends once it has nothing
// more, nothing waits and no pool runs.

import { assert } from "../common/assert.ts";
import {
  ORDER_SIZE_BYTES, SDK_MAP_READ_TIMEOUT_MS, SDK_ROUTING_BACKOFF_MS_MAX,
  SDK_ROUTING_BACKOFF_MS_MIN, SDK_ROUTING_RESENDS_MAX,
} from "../common/constants.ts";
import { Status } from "../schema/generated/balance/wire/status.ts";
import type { AccountInfoFields } from "../schema/messages.ts";
import { ORDER_PARTNER_OFFSET, RESULT_STATUS_OFFSET } from "../schema/layout.ts";
import { RoutingTable } from "../schema/routing_map.ts";
import { RESULT_SIZE_BYTES } from "../common/constants.ts";
import type { ClientTls, Connection } from "./connection.ts";
import { read_cluster_map, split_address } from "./map_reader.ts";
import { Pool, type Job, type JobRunner } from "./pool.ts";
import { RequestRecord } from "./request_record.ts";
import type { Workload } from "./workload.ts";

// A request refused for these reasons went to a node that does not lead its group (now).
const REROUTED_REFUSALS = /not_primary|^connection lost/;
/** How often the job looks whether the map must be read again or a pool started again. */
const ROUTING_POLL_MS = 10;

/**
 * The wait before the `attempt`-th try again (1 = the first): a resend, or a map read after one
 * that left parts without a primary. The SDK's doubling (sdk/routing_transport.ts).
 */
function backoff_ms(attempt: number): number {
  return Math.min(SDK_ROUTING_BACKOFF_MS_MAX, SDK_ROUTING_BACKOFF_MS_MIN * 2 ** (attempt - 1));
}

export interface RoutedOptions {
  /** Seed nodes' TCP addresses, host:port each. */
  seeds: string[];
  token: string | null;
  /** TLS on every node (tls:// seeds); null: plaintext. */
  tls: ClientTls | null;
  connections: number;
  in_flight: number;
  request_timeout_ms: number;
}

export class RoutedPool implements JobRunner {
  private table: RoutingTable | null = null;
  private readonly pools = new Map<string, Pool>();
  private readonly masks = new Map<string, Uint8Array>();
  /** Parts waiting for a node's free slot, by the node's address. */
  private readonly queues = new Map<string, RequestRecord[]>();
  /** Parts to send again once the map is read again. */
  private readonly unrouted: RequestRecord[] = [];
  /** Resends waiting out their backoff: due (performance.now()) and the part. */
  private readonly delayed: { due_ms: number; part: RequestRecord }[] = [];
  private readonly staging = new RequestRecord();
  private job: Job | null = null;
  private exhausted = false;
  private known: string[];
  private stale = false;
  /** Requests sent again (not_primary or a lost node). */
  resends = 0;
  /** Every pool the run used (for the summary's byte and reply counts). */
  readonly used: Pool[] = [];
  readonly lost_connections: string[] = [];

  private constructor(private readonly options: RoutedOptions,
    private readonly workload: Workload) {
    this.known = [...new Set(options.seeds)];
  }

  static async open(options: RoutedOptions, workload: Workload): Promise<RoutedPool> {
    const pool = new RoutedPool(options, workload);
    await pool.refresh();
    return pool;
  }

  get connections(): Connection[] {
    return this.used.flatMap((pool) => pool.connections);
  }

  /** The nodes that lead a group now, by TCP address. */
  primaries(): string[] {
    return [...this.masks.keys()].filter((address) => this.masks.get(address)!.includes(1));
  }

  async run(job: Job): Promise<void> {
    assert(this.job === null, "one job at a time");
    this.job = job;
    this.exhausted = false;
    try {
      await this.drive();
    } finally {
      this.job = null;
    }
  }

  close(): void {
    for (const pool of this.pools.values()) pool.close();
  }

  // Reads the map when it is stale, (re)starts the pools with work, until the job is done.
  private async drive(): Promise<void> {
    const running = new Map<Pool, Promise<void>>();
    let refreshes_failed = 0;
    let next_refresh_ms = 0;
    let unroutable_since_ms: number | null = null;
    for (;;) {
      this.release_due_resends();
      if ((this.stale || this.unrouted.length > 0) && performance.now() >= next_refresh_ms) {
        await this.refresh_or_wait();
        // Still nothing to send some parts to (a group failing over): read again after a backoff.
        const unroutable = this.stale || this.unrouted.length > 0;
        refreshes_failed = unroutable ? refreshes_failed + 1 : 0;
        next_refresh_ms = performance.now() + (unroutable ? backoff_ms(refreshes_failed) : 0);
        unroutable_since_ms = unroutable ? unroutable_since_ms ?? performance.now() : null;
      }
      for (const [address, pool] of this.pools) this.start_pool(address, pool, running);
      const waiting = this.unrouted.length + this.queued() + this.delayed.length;
      if (this.exhausted && running.size === 0 && waiting === 0) return;
      if (unroutable_since_ms !== null &&
        performance.now() - unroutable_since_ms > this.options.request_timeout_ms) {
        const error = new Error(`${this.unrouted.length} requests found no primary within ` +
          `${this.options.request_timeout_ms} ms (--timeout)`);
        this.exhausted = true; // the pools draw nothing more; the job fails once they are done
        await Promise.allSettled(running.values());
        throw error;
      }
      await Bun.sleep(ROUTING_POLL_MS);
    }
  }

  /** Runs `pool` on the job unless it runs already, is lost, or has nothing to do. */
  private start_pool(address: string, pool: Pool, running: Map<Pool, Promise<void>>): void {
    if (running.has(pool) || !pool.usable()) return;
    if (this.exhausted && (this.queues.get(address)?.length ?? 0) === 0) return;
    running.set(pool, pool.run(this.node_job(address))
      .catch((error: unknown) => this.on_pool_failed(address, error))
      .finally(() => running.delete(pool)));
  }

  private async refresh_or_wait(): Promise<void> {
    try {
      await this.refresh();
    } catch (error) {
      // No node answered: read again after a backoff (the run's time limit bounds it).
      this.lost_connections.push(error instanceof Error ? error.message : String(error));
    }
  }

  private on_pool_failed(address: string, error: unknown): void {
    this.lost_connections.push(`${address}: ${error instanceof Error ? error.message : error}`);
    this.stale = true;
  }

  private queued(): number {
    let count = 0;
    for (const queue of this.queues.values()) count += queue.length;
    return count;
  }

  /** Reads the map, opens pools for new (or lost) primaries, routes every waiting part again. */
  private async refresh(): Promise<void> {
    const map = await read_cluster_map(this.known, this.options.token, SDK_MAP_READ_TIMEOUT_MS,
      this.options.tls);
    const table = new RoutingTable(map, "tcp");
    this.table = table;
    this.stale = false;
    this.known = [...new Set([...this.options.seeds, ...table.addresses])];
    this.masks.clear();
    for (const address of table.addresses) this.masks.set(address, this.mask_of(table, address));
    await Promise.all(this.primaries().map((address) => this.ensure_pool(address)));
    for (const queue of this.queues.values()) this.unrouted.push(...queue.splice(0));
    for (const part of this.unrouted.splice(0)) this.route(part);
  }

  private mask_of(table: RoutingTable, address: string): Uint8Array {
    const { partners, first_partner } = this.workload.shape;
    const mask = new Uint8Array(partners);
    for (let rank = 0; rank < partners; rank++) {
      mask[rank] = table.address_of_partner(first_partner + rank) === address ? 1 : 0;
    }
    return mask;
  }

  private async ensure_pool(address: string): Promise<void> {
    const pool = this.pools.get(address);
    if (pool !== undefined && pool.usable()) return;
    pool?.close();
    this.pools.delete(address);
    const [host, port] = split_address(address);
    try {
      const opened = await Pool.open("tcp",
        { host, port, token: this.options.token, tls: this.options.tls },
        this.options.connections, this.options.in_flight, this.options.request_timeout_ms);
      this.pools.set(address, opened);
      this.used.push(opened);
      if (!this.queues.has(address)) this.queues.set(address, []);
    } catch (error) {
      this.on_pool_failed(address, error);
    }
  }

  /** The job one node's pool runs: its waiting parts first, then fresh requests of the job. */
  private node_job(address: string): Job {
    const job = this.job!;
    return {
      mode: job.mode,
      next: (record) => this.next(address, record),
      on_results: (record, frame, offset, count) => {
        if (has_not_primary(frame, offset, count)) this.resend(record, "not_primary result");
        else job.on_results(record, frame, offset, count);
      },
      on_pending: (record, count) => job.on_pending(record, count),
      on_account: (record, info: AccountInfoFields | null) => job.on_account(record, info),
      on_refused: (record, reason, outcome_unknown) => {
        if (REROUTED_REFUSALS.test(reason)) this.resend(record, reason);
        else job.on_refused(record, reason, outcome_unknown);
      },
    };
  }

  private next(address: string, record: RequestRecord): boolean {
    const waiting = this.queues.get(address)?.shift();
    if (waiting !== undefined) {
      record.copy_from(waiting);
      return true;
    }
    while (!this.exhausted) {
      this.workload.partner_mask = this.masks.get(address) ?? null;
      const more = this.job!.next(this.staging);
      this.workload.partner_mask = null;
      if (!more) {
        this.exhausted = true;
        return false;
      }
      if (this.dispatch(address, record)) return true;
    }
    return false;
  }

  /**
   * Splits the staged request by primary: the part for `address` goes into `record` (true), the
   * others wait in their nodes' queues.
   */
  private dispatch(address: string, record: RequestRecord): boolean {
    const staged = this.staging;
    if (staged.kind === "account") {
      if (this.address_of(staged.query_partner) === address) {
        record.copy_from(staged);
        return true;
      }
      this.route(RequestRecord.copy_of(staged));
      return false;
    }
    const positions = new Map<string, number[]>();
    for (let k = 0; k < staged.count; k++) {
      const partner = staged.view.getUint32(k * ORDER_SIZE_BYTES + ORDER_PARTNER_OFFSET, true);
      const target = this.address_of(partner);
      const part = positions.get(target);
      if (part === undefined) positions.set(target, [k]);
      else part.push(k);
    }
    if (positions.size === 1 && positions.has(address)) {
      record.copy_from(staged); // the load's case: no split, no allocation
      return true;
    }
    for (const [target, part] of positions) this.route(part_of(staged, part), target);
    const mine = this.queues.get(address)?.shift();
    if (mine === undefined) return false;
    record.copy_from(mine);
    return true;
  }

  private address_of(partner: number): string {
    return this.table!.address_of_partner(partner);
  }

  /** Queues a part for its primary (`target`, or its first order's), or for after a refresh. */
  private route(part: RequestRecord, target: string | null = null): void {
    const address = target ?? (part.kind === "account" ? this.address_of(part.query_partner)
      : this.address_of(part.view.getUint32(ORDER_PARTNER_OFFSET, true)));
    const queue = this.queues.get(address);
    if (queue !== undefined && this.pools.get(address)?.usable() === true) queue.push(part);
    else this.unrouted.push(part);
  }

  /** A request to send again with the same ids once the map is read again. */
  private resend(record: RequestRecord, reason: string): void {
    if (record.resends >= SDK_ROUTING_RESENDS_MAX) {
      this.job!.on_refused(record, `${reason} after ${record.resends} resends`, true);
      return;
    }
    const copy = RequestRecord.copy_of(record);
    this.delayed.push({ due_ms: performance.now() + backoff_ms(copy.resends + 1), part: copy });
    copy.resends++;
    this.resends++;
  }

  /** Resends whose backoff passed go out with the next map read. */
  private release_due_resends(): void {
    const now_ms = performance.now();
    for (let k = this.delayed.length - 1; k >= 0; k--) {
      const { due_ms, part } = this.delayed[k]!;
      if (due_ms > now_ms) continue;
      this.delayed.splice(k, 1);
      this.unrouted.push(part);
      this.stale = true;
    }
  }
}

function has_not_primary(frame: Uint8Array, offset: number, count: number): boolean {
  for (let k = 0; k < count; k++) {
    if (frame[offset + k * RESULT_SIZE_BYTES + RESULT_STATUS_OFFSET] === Status.not_primary) {
      return true;
    }
  }
  return false;
}

/** A new record of the orders of `source` at `positions` (a split: allocates). */
function part_of(source: RequestRecord, positions: number[]): RequestRecord {
  const part = new RequestRecord(positions.length);
  part.kind = source.kind;
  part.count = positions.length;
  part.sent_at_ms = source.sent_at_ms;
  part.measured = source.measured;
  part.resends = source.resends;
  positions.forEach((position, k) => {
    part.bytes.set(source.bytes.subarray(position * ORDER_SIZE_BYTES,
      (position + 1) * ORDER_SIZE_BYTES), k * ORDER_SIZE_BYTES);
    part.account[k] = source.account[position]!;
    part.target[k] = source.target[position]!;
    part.hold_amount[k] = source.hold_amount[position]!;
  });
  return part;
}
