// A steady SDK load for the cluster's fault tests, at a modest fixed rate (two cores carry it
// all): per partner, LOOPS_PER_PARTNER loops each send one batch of credits every
// LOAD_INTERVAL_MS through a BalanceClient given every node as a seed (TCP): the SDK reads the
// routing map and follows the primaries by itself. Each partner has a client of its own: one
// client packs the calls of one event-loop turn bound for one node into one batch whatever their
// groups, and a batch is answered whole, so a group stalled on a node would hold the answers of
// another group's orders sent with it, and a test would take their time for that group's. Every
// answer is recorded. A batch the SDK
// gives up on (the call's time limit, refusals) is resent with the SAME ids until answered: the
// cluster answers `replayed` with the original result if it was committed, and applies it now if
// it was not. check() then proves nothing was lost or applied twice: every answered order is
// found on the current primary with its original sequence, and each balance is exactly the sum
// of the answered credits.

import { expect } from "bun:test";
import { BalanceClient } from "../../sdk/client.ts";
import type { OrderRequest } from "../../sdk/types.ts";
import type { TestCluster } from "./cluster_support.ts";

const LOAD_INTERVAL_MS = 20;
const ORDERS_PER_BATCH = 5;
/** Batches of one partner in flight at once (so a fault meets work in flight). */
const LOOPS_PER_PARTNER = 4;
const CALL_TIMEOUT_MS = 3_000;
/** A check's read may meet a group still failing over: it waits longer than a call. */
const CHECK_READ_TIMEOUT_MS = 30_000;
/** The one account each partner's load credits. */
export const LOAD_ACCOUNT = 1001n;
const CURRENCY = 978;
const DRAIN_MS_MAX = 60_000;
const RESEND_PAUSE_MS = 100;
/** The first failures are printed (why a call got no answer), for a failing test's reader. */
const FAILURES_LOGGED_MAX = 10;

interface SentOrder {
  id: bigint;
  partner: number;
  amount_minor: bigint;
  /** The committed answer (null until answered). */
  sequence: bigint | null;
  status: string | null;
}

interface BatchTiming {
  group: number;
  sent_ms: number;
  answered_ms: number;
}

export class SteadyLoad {
  readonly orders = new Map<bigint, SentOrder>();
  /** Per partner, batches left unanswered when the load stopped (stop() resends them). */
  private readonly unanswered = new Map<number, SentOrder[][]>();
  private running = false;
  private loops: Promise<void>[] = [];
  private id_counter = 0;
  /** Per partner, its own client (see the header). */
  private readonly clients = new Map<number, BalanceClient>();
  /** Every answered batch: its group, when it was first sent, when it was answered. */
  readonly timings: BatchTiming[] = [];
  /** Per group: batches sent and not answered yet. */
  readonly in_flight = new Map<number, number>();
  /** Every call not answered yet: its batch's group and when the batch was first sent. */
  private readonly calls_open = new Set<{ group: number; sent_ms: number }>();
  calls_failed = 0;

  constructor(private readonly cluster: TestCluster,
    private readonly partner_groups: ReadonlyMap<number, number>) {
    for (const partner of partner_groups.keys()) this.unanswered.set(partner, []);
  }

  /** Connects the SDK to every node, opens each partner's account, then starts sending. */
  async start(): Promise<void> {
    const ids = this.cluster.ids();
    const token = this.cluster.node(ids[0]!).internal_token!;
    for (const partner of this.partner_groups.keys()) {
      const client = await BalanceClient.connect({
        seeds: ids.map((id) => `tcp://${this.cluster.tcp_address(id)}`), token,
        timeout_ms: CALL_TIMEOUT_MS, idempotency_window_ms: this.cluster.idempotency_window_ms,
      });
      this.clients.set(partner, client);
      const [opened] = await client.submit([{ op: "open_account", partner,
        account: LOAD_ACCOUNT, kind: "user", currency: CURRENCY }]);
      expect(opened!.status_name).toBe("ok");
    }
    this.resume();
  }

  /** Starts sending again after stop() (the accounts are open, the orders so far are kept). */
  resume(): void {
    expect(this.running).toBe(false);
    this.running = true;
    this.loops = [...this.partner_groups.keys()].flatMap((partner) =>
      Array.from({ length: LOOPS_PER_PARTNER }, () => this.run(partner)));
  }

  /** Stops sending new orders, resends every unanswered one until answered. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    const deadline = performance.now() + DRAIN_MS_MAX;
    for (const [partner, batches] of this.unanswered) {
      while (batches.length > 0) {
        if (performance.now() > deadline) {
          throw new Error(`partner ${partner}: ${batches.length} batches unanswered after ` +
            `${DRAIN_MS_MAX} ms\n${this.cluster.outputs()}`);
        }
        if (await this.send(partner, batches[0]!, performance.now())) batches.shift();
        else await Bun.sleep(RESEND_PAUSE_MS);
      }
    }
  }

  close(): void {
    for (const client of this.clients.values()) client.close();
  }

  /** Per partner, the sum of its answered credits (the balance its account must hold). */
  answered_sums(): Map<number, bigint> {
    const sums = new Map<number, bigint>([...this.partner_groups.keys()].map((p) => [p, 0n]));
    for (const sent of this.orders.values()) {
      if (sent.sequence !== null) sums.set(sent.partner, sums.get(sent.partner)! + sent.amount_minor);
    }
    return sums;
  }

  answered_count(): number {
    let count = 0;
    for (const sent of this.orders.values()) if (sent.sequence !== null) count++;
    return count;
  }

  /** When the first batch of `group` sent after `since_ms` was answered (performance.now()). */
  first_answer_after(group: number, since_ms: number): number | null {
    let first: number | null = null;
    for (const t of this.timings) {
      if (t.group === group && t.answered_ms > since_ms && (first === null || t.answered_ms < first)) {
        first = t.answered_ms;
      }
    }
    return first;
  }

  /** Calls of `group` not answered yet whose batch was first sent at `since_ms` or later. */
  in_flight_sent_since(group: number, since_ms: number): number {
    let count = 0;
    for (const call of this.calls_open) if (call.group === group && call.sent_ms >= since_ms) count++;
    return count;
  }

  /**
   * Whether the fault at `at_ms` hit work in flight: a batch of `group` sent before it (and after
   * `sent_after_ms`, if given) was answered only at `resumed_ms` or later.
   */
  fault_hit_in_flight(group: number, at_ms: number, resumed_ms: number,
    sent_after_ms = Number.NEGATIVE_INFINITY): boolean {
    return this.timings.some((t) => t.group === group && t.sent_ms < at_ms &&
      t.sent_ms >= sent_after_ms && t.answered_ms >= resumed_ms);
  }

  /** Nothing lost, nothing doubled: every order answered, found with its result; sums agree. */
  async check(): Promise<void> {
    for (const partner of this.partner_groups.keys()) {
      let expected_minor = 0n;
      for (const [id, sent] of this.orders) {
        if (sent.partner !== partner) continue;
        expect(sent.sequence, `order ${id} answered`).not.toBeNull();
        expect(sent.status).toBe("ok");
        expected_minor += sent.amount_minor;
        const found = await this.clients.get(partner)!.order(partner, id, { timeout_ms: CHECK_READ_TIMEOUT_MS });
        expect(found, `order ${id} found`).not.toBeNull();
        expect(found!.sequence).toBe(sent.sequence!);
      }
      const figures = await this.clients.get(partner)!.account(partner, LOAD_ACCOUNT,
        { timeout_ms: CHECK_READ_TIMEOUT_MS });
      expect(figures!.balance).toBe(expected_minor);
    }
  }

  private async run(partner: number): Promise<void> {
    let batch: SentOrder[] | null = null;
    let sent_ms = 0;
    while (this.running) {
      if (batch === null) {
        batch = this.new_batch(partner);
        sent_ms = performance.now();
      }
      if (await this.send(partner, batch, sent_ms)) batch = null;
      await Bun.sleep(LOAD_INTERVAL_MS);
    }
    if (batch !== null) this.unanswered.get(partner)!.push(batch); // stop() resends it
  }

  private new_batch(partner: number): SentOrder[] {
    const batch: SentOrder[] = [];
    for (let i = 0; i < ORDERS_PER_BATCH; i++) {
      // Time-ordered ids as clients make them (schema/order_id.ts): now in ms, then a counter.
      const id = (BigInt(Date.now()) << 22n) | BigInt(this.id_counter++ & 0x3fffff);
      const sent = { id, partner, amount_minor: 1n + id % 997n, sequence: null, status: null };
      this.orders.set(id, sent);
      batch.push(sent);
    }
    return batch;
  }

  /** One call (the SDK routes and resends within it); true once every order is answered ok. */
  private async send(partner: number, batch: SentOrder[], sent_ms: number): Promise<boolean> {
    const group = this.partner_groups.get(partner)!;
    const requests: OrderRequest[] = batch.map((sent) => ({
      op: "credit", id: sent.id, partner, account: LOAD_ACCOUNT, amount: sent.amount_minor,
      currency: CURRENCY,
    }));
    this.in_flight.set(group, (this.in_flight.get(group) ?? 0) + 1);
    const call = { group, sent_ms };
    this.calls_open.add(call);
    try {
      const results = await this.clients.get(partner)!.submit(requests);
      const refused = results.find((result) => !result.ok);
      if (refused !== undefined) return this.failed(`${refused.status_name}`);
      results.forEach((result, i) => {
        const sent = batch[i]!;
        expect(result.id).toBe(sent.id);
        if (sent.sequence !== null) expect(result.sequence).toBe(sent.sequence);
        sent.sequence = result.sequence;
        sent.status = result.status_name;
      });
      this.timings.push({ group, sent_ms, answered_ms: performance.now() });
      return true;
    } catch (error) {
      return this.failed(String(error));
    } finally {
      this.in_flight.set(group, this.in_flight.get(group)! - 1);
      this.calls_open.delete(call);
    }
  }

  private failed(reason: string): boolean {
    if (this.calls_failed < FAILURES_LOGGED_MAX) console.log(`load: ${reason}`);
    this.calls_failed++;
    return false;
  }
}
