// A steady load for the cluster's fault tests, at a modest fixed rate (two cores carry it all):
// per partner, every LOAD_INTERVAL_MS one batch of credits with fresh ids to the primary of the
// partner's group. Every answer is recorded. A batch that gets no answer (a node died, refused,
// timed out, not_primary) is resent with the SAME ids until answered: the cluster answers
// `replayed` with the original result if it was committed, and applies it now if it was not.
// check() then proves nothing was lost or applied twice: every answered order is found on the
// current primary with its original sequence, and each balance is exactly the sum of the answered
// credits.

import { expect } from "bun:test";
import { auth_headers, batch_json, type TestOrder } from "../../harness/http_client.ts";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import type { TestCluster } from "./cluster_support.ts";

const LOAD_INTERVAL_MS = 20;
const ORDERS_PER_BATCH = 5;
/** Batches of one partner in flight at once (so a fault meets work in flight). */
const LOOPS_PER_PARTNER = 4;
const REQUEST_TIMEOUT_MS = 3_000;
const ACCOUNT = 1001n;
const CURRENCY = 978;
const DRAIN_MS_MAX = 60_000;
/** The first failures are printed (why a request got no answer), for a failing test's reader. */
const FAILURES_LOGGED_MAX = 10;

interface SentOrder {
  order: TestOrder;
  /** The committed answer: status and sequence (null until answered). */
  sequence: string | null;
  status: string | null;
}

export class SteadyLoad {
  readonly orders = new Map<bigint, SentOrder>();
  /** Per partner, batches left unanswered when the load stopped (stop() resends them). */
  private readonly unanswered = new Map<number, SentOrder[][]>();
  private running = false;
  private loops: Promise<void>[] = [];
  private id_counter = 0;
  /** Every committed answer per group: when (performance.now()) and which node answered. */
  readonly answered_at_ms = new Map<number, { at_ms: number; node: string }[]>();
  requests_failed = 0;
  /** Per node id: requests sent and not answered yet, and requests that got no answer. */
  readonly in_flight = new Map<string, number>();
  readonly failures = new Map<string, number>();

  constructor(private readonly cluster: TestCluster,
    private readonly partner_groups: ReadonlyMap<number, number>) {
    for (const partner of partner_groups.keys()) this.unanswered.set(partner, []);
  }

  /** Opens each partner's account (on its group's primary), then starts sending. */
  async start(): Promise<void> {
    for (const [partner, group] of this.partner_groups) {
      const leader = this.cluster.node(await this.cluster.leader_of(group));
      const response = await fetch(`${leader.base_url}/v1/partners/${partner}/accounts`, {
        method: "POST", headers: { ...auth_headers(leader.base_url),
          "content-type": "application/json" },
        body: JSON.stringify({ account: String(ACCOUNT), kind: "user", currency: CURRENCY }),
      });
      expect(response.status).toBe(200);
    }
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
        if (!await this.send(partner, batches[0]!)) await Bun.sleep(LOAD_INTERVAL_MS * 5);
        else batches.shift();
      }
    }
  }

  answered_count(): number {
    let count = 0;
    for (const sent of this.orders.values()) if (sent.sequence !== null) count++;
    return count;
  }

  /** The first committed answer of `group` by `node` after `since_ms` (performance.now()). */
  first_answer_after(group: number, since_ms: number, node: string): number | null {
    return this.answered_at_ms.get(group)?.find((a) => a.at_ms > since_ms && a.node === node)
      ?.at_ms ?? null;
  }

  /** Nothing lost, nothing doubled: every order answered, found with its result; sums agree. */
  async check(): Promise<void> {
    for (const [partner, group] of this.partner_groups) {
      const leader = this.cluster.node(await this.cluster.leader_of(group));
      let expected_minor = 0n;
      for (const [id, sent] of this.orders) {
        if (sent.order.partner !== partner) continue;
        expect(sent.sequence, `order ${id} answered`).not.toBeNull();
        expect(sent.status).toBe("ok");
        expected_minor += sent.order.amount;
        const found = await fetch(`${leader.base_url}/v1/partners/${partner}/orders/${id}`,
          { headers: auth_headers(leader.base_url) });
        expect(found.status).toBe(200);
        const result = await found.json() as { sequence: string; status: string };
        expect(result.sequence).toBe(sent.sequence!);
      }
      const account = await fetch(`${leader.base_url}/v1/partners/${partner}/accounts/${ACCOUNT}`,
        { headers: auth_headers(leader.base_url) });
      const figures = await account.json() as { balance: string };
      expect(BigInt(figures.balance)).toBe(expected_minor);
    }
  }

  private async run(partner: number): Promise<void> {
    let batch: SentOrder[] | null = null;
    while (this.running) {
      batch ??= this.new_batch(partner);
      if (await this.send(partner, batch)) batch = null;
      await Bun.sleep(LOAD_INTERVAL_MS);
    }
    if (batch !== null) this.unanswered.get(partner)!.push(batch); // stop() resends it
  }

  private new_batch(partner: number): SentOrder[] {
    const batch: SentOrder[] = [];
    for (let i = 0; i < ORDERS_PER_BATCH; i++) {
      // Time-ordered ids as clients make them (schema/order_id.ts): now in ms, then a counter.
      const id = (BigInt(Date.now()) << 22n) | BigInt(this.id_counter++ & 0x3fffff);
      const order: TestOrder = { id, op: Op.credit, partner, account: ACCOUNT,
        amount: BigInt(1 + Number(id % 997n)), currency: CURRENCY };
      const sent = { order, sequence: null, status: null };
      this.orders.set(id, sent);
      batch.push(sent);
    }
    return batch;
  }

  /** One attempt at the group's current primary; true once every order of it is answered. */
  private async send(partner: number, batch: SentOrder[]): Promise<boolean> {
    const group = this.partner_groups.get(partner)!;
    let id: string | null = null;
    try {
      id = await this.cluster.leader_of(group);
      const node = this.cluster.processes.get(id);
      if (node === undefined || !node.running) return this.failed(id);
      this.in_flight.set(id, (this.in_flight.get(id) ?? 0) + 1);
      const response = await fetch(`${node.base_url}/v1/batches`, {
        method: "POST", signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        headers: { ...auth_headers(node.base_url), "content-type": "application/json" },
        body: batch_json(batch.map((sent) => sent.order)),
      }).finally(() => this.in_flight.set(id!, this.in_flight.get(id!)! - 1));
      if (response.status !== 200) return this.failed(id, `${response.status} ${await response.text()}`);
      const reply = await response.json() as { results: { id: string; status: string;
        sequence: string }[] };
      if (reply.results.some((result) => result.status !== "ok")) {
        return this.failed(id, JSON.stringify(reply.results));
      }
      reply.results.forEach((result, i) => {
        const sent = batch[i]!;
        expect(result.id).toBe(String(sent.order.id));
        if (sent.sequence !== null) expect(result.sequence).toBe(sent.sequence);
        sent.sequence = result.sequence;
        sent.status = result.status;
      });
      const times = this.answered_at_ms.get(group) ?? [];
      times.push({ at_ms: performance.now(), node: id });
      this.answered_at_ms.set(group, times);
      return true;
    } catch (error) {
      return this.failed(id, String(error));
    }
  }

  private failed(id: string | null, reason = ""): boolean {
    if (this.requests_failed < FAILURES_LOGGED_MAX) console.log(`load: ${id}: ${reason}`);
    this.requests_failed++;
    if (id !== null) this.failures.set(id, (this.failures.get(id) ?? 0) + 1);
    return false;
  }
}
