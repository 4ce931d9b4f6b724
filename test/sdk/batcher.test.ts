// The SDK's core against a scripted transport (test/sdk/fake_transport.ts): batching per event-loop
// turn, results per call, flush at the batch limit, pipelining bounds, and the retry rules: a lost
// answer is resent with the same ids and resolves its call once; past the window the call fails
// with outcome unknown; busy orders and id collisions are renewed; refusals are typed errors.

import { describe, expect, test } from "bun:test";
import { ErrorCode } from "../../schema/generated/balance/wire/error-code.ts";
import { Status } from "../../schema/generated/balance/wire/status.ts";
import { Mode } from "../../schema/generated/balance/wire/mode.ts";
import { BalanceClient } from "../../sdk/client.ts";
import { BalanceError } from "../../sdk/errors.ts";
import { FakeTransport } from "./fake_transport.ts";
import { ORDER_PARTNER_OFFSET } from "../../schema/layout.ts";
import type { BatchOutcome, WireBatch } from "../../sdk/transport.ts";

const EUR = 978;

function client_of(transport: FakeTransport, options: Parameters<typeof BalanceClient.with_transport>[1] = {})
  : BalanceClient {
  return BalanceClient.with_transport(transport, { partner: 7, timeout_ms: 3_000, ...options });
}

function credit(client: BalanceClient, account: bigint, amount: bigint) {
  return client.credit({ account, amount, currency: EUR });
}

async function rejection(promise: Promise<unknown>): Promise<BalanceError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(BalanceError);
    return error as BalanceError;
  }
  throw new Error("expected a rejection");
}

function next_turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

describe("batching", () => {
  test("calls of one turn share one batch; each call gets its own result", async () => {
    const transport = new FakeTransport();
    const client = client_of(transport);
    const calls = [1n, 2n, 3n, 4n, 5n].map((amount) => credit(client, 1001n, amount));
    const results = await Promise.all(calls);
    expect(transport.sent.length).toBe(1);
    expect(transport.sent[0]!.orders.length).toBe(5);
    // Each result answers its own call: running balances 1, 3, 6, 10, 15 in call order.
    expect(results.map((r) => r.balance)).toEqual([1n, 3n, 6n, 10n, 15n]);
    expect(results.map((r) => r.id)).toEqual(transport.sent[0]!.orders.map((o) => o.id));
    expect(new Set(results.map((r) => r.id)).size).toBe(5);
    for (const result of results) {
      expect(result.status).toBe(Status.ok);
      expect(result.status_name).toBe("ok");
      expect(result.replayed).toBe(false);
    }
    client.close();
  });

  test("calls bound for different nodes go in different batches: one node's stall holds only its own",
    async () => {
      // Partner 8's node answers only once released (a failover in progress); partner 7's at once.
      let release = () => {};
      const released = new Promise<void>((resolve) => (release = resolve));
      class TwoNodes extends FakeTransport {
        route_of(partner: number): string {
          return partner === 8 ? "node-b:9000" : "node-a:9000";
        }
        override async send_batch(batch: WireBatch): Promise<BatchOutcome> {
          const partner = new DataView(batch.orders_bytes.buffer).getUint32(ORDER_PARTNER_OFFSET, true);
          if (partner === 8) await released;
          return super.send_batch(batch);
        }
      }
      const transport = new TwoNodes();
      const client = client_of(transport);
      const held = client.credit({ partner: 8, account: 1001n, amount: 2n, currency: EUR });
      const quick = await client.credit({ partner: 7, account: 1001n, amount: 1n, currency: EUR });
      expect(quick.status).toBe(Status.ok);
      let held_answered = false;
      void held.then(() => (held_answered = true));
      await next_turn();
      expect(held_answered).toBe(false);
      release();
      expect((await held).status).toBe(Status.ok);
      expect(transport.sent.map((batch) => batch.orders.map((order) => order.partner)))
        .toEqual([[7], [8]]);
      client.close();
    });

  test("ids are time-ordered and increase within a batch", async () => {
    const transport = new FakeTransport();
    const client = client_of(transport);
    const before_ms = Date.now();
    const results = await Promise.all([1n, 2n, 3n].map((a) => credit(client, 1n, a)));
    const times = results.map((r) => Number(r.id >> 22n));
    expect(times.every((t) => t >= before_ms && t <= Date.now() + 1)).toBe(true);
    expect(results[0]!.id < results[1]!.id && results[1]!.id < results[2]!.id).toBe(true);
    client.close();
  });

  test("calls in different turns go in different batches", async () => {
    const transport = new FakeTransport();
    const client = client_of(transport);
    const first = credit(client, 1n, 1n);
    await next_turn();
    const second = credit(client, 1n, 2n);
    await Promise.all([first, second]);
    expect(transport.sent.map((b) => b.orders.length)).toEqual([1, 1]);
    client.close();
  });

  test("a queue that reaches the batch limit is flushed at once, the rest at the end of the turn", async () => {
    const transport = new FakeTransport();
    const client = client_of(transport, { batch_orders_max: 20 });
    const calls = Array.from({ length: 45 }, (_, k) => credit(client, 1n, BigInt(k + 1)));
    // Two full batches left synchronously, before the turn ended.
    expect(transport.sent.map((b) => b.orders.length)).toEqual([20, 20]);
    await Promise.all(calls);
    expect(transport.sent.map((b) => b.orders.length)).toEqual([20, 20, 5]);
    client.close();
  });

  test("the batch limit of 128 is the default and the maximum", async () => {
    const transport = new FakeTransport();
    const client = client_of(transport, { batch_orders_max: 500 });
    const calls = Array.from({ length: 300 }, () => credit(client, 1n, 1n));
    const results = await Promise.all(calls);
    expect(transport.sent.map((b) => b.orders.length)).toEqual([128, 128, 44]);
    expect(results[299]!.balance).toBe(300n);
    client.close();
  });

  test("pipelining: batches in flight never exceed in_flight_max", async () => {
    const transport = new FakeTransport({ batch_orders_max: 10, in_flight_max: 3 });
    transport.answer_delay_ms = 5;
    const client = client_of(transport);
    const results = await Promise.all(Array.from({ length: 200 }, () => credit(client, 1n, 1n)));
    expect(transport.in_flight_peak).toBe(3);
    expect(transport.sent.length).toBe(20);
    expect(results.every((r) => r.ok)).toBe(true);
    expect(transport.server.balances.get(1n)).toBe(200n);
    client.close();
  });

  test("a linked chain stays whole in one batch; submit returns results in order", async () => {
    const transport = new FakeTransport({ batch_orders_max: 4, in_flight_max: 4 });
    const client = client_of(transport);
    const singles = [credit(client, 1n, 1n), credit(client, 1n, 1n), credit(client, 1n, 1n)];
    const chain = client.submit([
      { op: "credit", account: 2n, amount: 5n, currency: EUR, linked: true },
      { op: "debit", account: 2n, amount: 3n, currency: EUR },
    ]);
    await Promise.all([...singles, chain]);
    expect(transport.sent.map((b) => b.orders.length)).toEqual([3, 2]);
    const results = await chain;
    expect(results.map((r) => r.balance)).toEqual([5n, 2n]);
    expect(transport.sent[1]!.orders[0]!.flags).toBe(1);
    expect(transport.sent[1]!.orders[1]!.flags).toBe(0);
    client.close();
  });

  test("an open chain and an order without a partner are refused before sending", async () => {
    const transport = new FakeTransport();
    const client = client_of(transport);
    await expect(client.submit([{ op: "credit", account: 1n, amount: 1n, currency: EUR, linked: true }]))
      .rejects.toThrow(RangeError);
    await expect(client.credit({ account: 1n, amount: -1, currency: EUR })).rejects.toThrow(RangeError);
    expect(transport.sent.length).toBe(0);
    client.close();
  });

  test("queue_orders_max bounds the queue: calls past it fail at once", async () => {
    const transport = new FakeTransport({ batch_orders_max: 128, in_flight_max: 1 });
    const client = client_of(transport, { queue_orders_max: 10, batch_orders_max: 128 });
    const calls = Array.from({ length: 12 }, () => credit(client, 1n, 1n).catch((e: unknown) => e));
    const outcomes = await Promise.all(calls);
    const refused = outcomes.filter((o) => o instanceof BalanceError);
    expect(refused.length).toBe(2);
    expect((refused[0] as BalanceError).reason).toBe("queue_full");
    client.close();
  });
});

describe("retries and idempotency", () => {
  test("an answer lost after the server applied: resent with the same ids, resolved once, replayed", async () => {
    const transport = new FakeTransport();
    transport.steps = ["lose_after_apply"];
    const client = client_of(transport);
    const results = await Promise.all([credit(client, 1n, 10n), credit(client, 1n, 20n)]);
    expect(transport.sent.length).toBe(2);
    expect(transport.sent[1]!.orders.map((o) => o.id)).toEqual(transport.sent[0]!.orders.map((o) => o.id));
    expect(results.map((r) => r.replayed)).toEqual([true, true]);
    expect(results.map((r) => r.balance)).toEqual([10n, 30n]);
    expect(transport.server.balances.get(1n)).toBe(30n); // applied once
    expect(transport.server.applied).toBe(2);
    client.close();
  });

  test("an answer lost before the server read it: resent with the same ids, applied now", async () => {
    const transport = new FakeTransport();
    transport.steps = ["lose_before_apply", "lose_before_apply"];
    const client = client_of(transport);
    const result = await credit(client, 1n, 10n);
    expect(transport.sent.length).toBe(3);
    expect(new Set(transport.sent.map((b) => b.orders[0]!.id)).size).toBe(1);
    expect(result.replayed).toBe(false);
    expect(transport.server.balances.get(1n)).toBe(10n);
    client.close();
  });

  test("past the idempotency window: outcome unknown, never resent under a new id", async () => {
    const transport = new FakeTransport();
    transport.steps = Array.from({ length: 1_000 }, () => "lose_after_apply" as const);
    const client = client_of(transport, {
      idempotency_window_ms: 1_000, window_margin_ms: 200, retry_delay_ms_max: 50, timeout_ms: 5_000,
    });
    const started_ms = Date.now();
    const error = await rejection(credit(client, 1n, 10n));
    expect(error.reason).toBe("window_passed");
    expect(error.outcome_unknown).toBe(true);
    expect(error.order_ids.length).toBe(1);
    expect(Date.now() - started_ms).toBeLessThan(1_500);
    // Every attempt carried the same id, and it was applied exactly once.
    expect(new Set(transport.sent.map((b) => b.orders[0]!.id))).toEqual(new Set(error.order_ids));
    expect(transport.server.balances.get(1n)).toBe(10n);
    client.close();
  });

  test("a call with no answer in timeout_ms fails with timeout and outcome unknown", async () => {
    const transport = new FakeTransport();
    transport.steps = ["hang"];
    const client = client_of(transport, { timeout_ms: 200 });
    const started_ms = Date.now();
    const error = await rejection(credit(client, 1n, 10n));
    expect(error.reason).toBe("timeout");
    expect(error.outcome_unknown).toBe(true);
    expect(Date.now() - started_ms).toBeLessThan(1_000);
    client.close();
  });

  test("per-order busy (idempotency budget spent): resent with a new id, applied once", async () => {
    const transport = new FakeTransport();
    transport.steps = ["all_busy", "all_busy"];
    const client = client_of(transport);
    const result = await credit(client, 1n, 10n);
    expect(transport.sent.length).toBe(3);
    const ids = transport.sent.map((b) => b.orders[0]!.id);
    expect(new Set(ids).size).toBe(3);
    expect(result.id).toBe(ids[2]!);
    expect(result.ok).toBe(true);
    expect(transport.server.balances.get(1n)).toBe(10n);
    client.close();
  });

  test("busy with a caller's own id is a result, never renewed", async () => {
    const transport = new FakeTransport();
    transport.steps = ["all_busy"];
    const client = client_of(transport);
    const id = (BigInt(Date.now()) << 22n) | 5n;
    const result = await client.credit({ account: 1n, amount: 10n, currency: EUR, id });
    expect(result.status).toBe(Status.busy);
    expect(result.id).toBe(id);
    expect(transport.sent.length).toBe(1);
    client.close();
  });

  test("whole-request busy (ring full): retried after retry_after_ms with the same ids", async () => {
    const transport = new FakeTransport();
    transport.steps = [{ refuse: ErrorCode.busy, retry_after_ms: 60 }];
    const client = client_of(transport);
    const started_ms = Date.now();
    const result = await credit(client, 1n, 10n);
    expect(Date.now() - started_ms).toBeGreaterThanOrEqual(55);
    expect(transport.sent.length).toBe(2);
    expect(transport.sent[1]!.orders[0]!.id).toBe(transport.sent[0]!.orders[0]!.id);
    expect(result.replayed).toBe(false);
    client.close();
  });

  test("applied but not durable in time: resent with the same ids, the replay is the call's own", async () => {
    const transport = new FakeTransport();
    transport.steps = ["not_durable_in_time"];
    const client = client_of(transport);
    const result = await credit(client, 1n, 10n);
    expect(transport.sent.length).toBe(2);
    expect(transport.sent[1]!.orders[0]!.id).toBe(transport.sent[0]!.orders[0]!.id);
    expect(result.replayed).toBe(true);
    expect(transport.server.balances.get(1n)).toBe(10n); // never renewed into a second credit
    client.close();
  });

  test("a first attempt answered replayed is another client's id: resent with a new one", async () => {
    const transport = new FakeTransport();
    const client = client_of(transport);
    // Another client already used the id this client will mint first (same time, instance, counter).
    const original_next = transport.send_batch.bind(transport);
    let first = true;
    transport.send_batch = async (batch) => {
      if (first) {
        first = false;
        const view = new DataView(batch.orders_bytes.buffer, batch.orders_bytes.byteOffset);
        const id = view.getBigUint64(0, true);
        transport.server.apply({ id, account: 9n, amount: 1n, ref: 0n, partner: 7, currency: EUR,
          op: 1, flags: 0 });
      }
      return original_next(batch);
    };
    const result = await credit(client, 1n, 10n);
    expect(transport.sent.length).toBe(2);
    expect(result.replayed).toBe(false);
    expect(result.id).not.toBe(transport.sent[0]!.orders[0]!.id);
    expect(transport.server.balances.get(1n)).toBe(10n);
    client.close();
  });

  test("a refusal that is not temporary is a typed error (nothing applied)", async () => {
    const transport = new FakeTransport();
    transport.steps = [{ refuse: ErrorCode.forbidden }];
    const client = client_of(transport);
    const error = await rejection(credit(client, 1n, 10n));
    expect(error.reason).toBe("refused");
    expect(error.code).toBe(ErrorCode.forbidden);
    expect(error.code_name).toBe("forbidden");
    expect(error.outcome_unknown).toBe(false);
    expect(transport.sent.length).toBe(1);
    client.close();
  });

  test("a refusal after a lost attempt says the outcome is unknown", async () => {
    const transport = new FakeTransport();
    transport.steps = ["lose_after_apply", { refuse: ErrorCode.forbidden }];
    const client = client_of(transport);
    const error = await rejection(credit(client, 1n, 10n));
    expect(error.code).toBe(ErrorCode.forbidden);
    expect(error.outcome_unknown).toBe(true);
    client.close();
  });

  test("business outcomes are results, not errors", async () => {
    const transport = new FakeTransport();
    const client = client_of(transport);
    const result = await client.debit({ account: 1n, amount: 10n, currency: EUR });
    expect(result.status).toBe(Status.insufficient_funds);
    expect(result.status_name).toBe("insufficient_funds");
    expect(result.ok).toBe(false);
    client.close();
  });

  test("accepted mode: the promise resolves with the pending answer; order() reads the outcome",
    async () => {
      const transport = new FakeTransport();
      const client = client_of(transport);
      const result = await client.credit({ account: 1n, amount: 10n, currency: EUR },
        { mode: "accepted" });
      expect([result.status, result.ok, result.sequence]).toEqual([Status.pending, false, 0n]);
      expect(transport.sent.map((batch) => batch.mode)).toEqual([Mode.accepted]);
      const outcome = await client.order(0, result.id);
      expect([outcome!.status, outcome!.sequence]).toEqual([Status.ok, 1n]);
      client.close();
    });

  test("close() fails calls still queued with reason closed", async () => {
    const transport = new FakeTransport();
    const client = client_of(transport);
    const call = credit(client, 1n, 10n);
    client.close();
    const error = await rejection(call);
    expect(error.reason).toBe("closed");
    expect(transport.sent.length).toBe(0);
  });
});
