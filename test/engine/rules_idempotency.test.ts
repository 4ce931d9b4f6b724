// Idempotency (DESIGN.md section 2): a retry within the window gets the original result, flagged
// replayed, with no new sequence; a changed payload is id_conflict; ids older than the window are
// expired, ids too far in the future or zero are id_invalid; a full window answers busy.

import { describe, expect, test } from "bun:test";
import { ORDER_ID_FUTURE_SKEW_MS_MAX } from "../../common/constants.ts";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import { EngineHarness, order_id_at, type TestOrder } from "./harness.ts";

const WINDOW_MS = 60_000;

function funded(): EngineHarness {
  const h = new EngineHarness();
  h.open(10n);
  h.one({ op: Op.credit, account: 10n, amount: 1000n });
  return h;
}

describe("retries", () => {
  test("same id, same payload: the original result, replayed, no new sequence", () => {
    const h = funded();
    const order: TestOrder = { id: h.next_id(), op: Op.debit, account: 10n, amount: 100n };
    const first = h.one(order);
    h.one({ op: Op.debit, account: 10n, amount: 1n });
    const sequence = h.last_sequence;
    const retry = h.one(order);
    expect(retry.replayed).toBe(true);
    expect(first.replayed).toBe(false);
    expect({ ...retry, replayed: false }).toEqual(first);
    expect(h.last_sequence).toBe(sequence);
    expect(h.account(10n)!.balance).toBe(899);
  });

  test("a refused order is remembered too: its retry is replayed with the refusal", () => {
    const h = funded();
    const order: TestOrder = { id: h.next_id(), op: Op.debit, account: 10n, amount: 5000n };
    expect(h.one(order).status_name).toBe("insufficient_funds");
    h.one({ op: Op.credit, account: 10n, amount: 10_000n });
    const retry = h.one(order);
    expect(retry.replayed).toBe(true);
    expect(retry.status_name).toBe("insufficient_funds");
    expect(h.account(10n)!.balance).toBe(11_000);
  });

  test("a retry inside the same batch is replayed", () => {
    const h = funded();
    const order: TestOrder = { id: h.next_id(), op: Op.credit, account: 10n, amount: 1n };
    const results = h.batch([order, order]);
    expect(results.map((r) => r.replayed)).toEqual([false, true]);
    expect(results[1]!.sequence).toBe(results[0]!.sequence);
    expect(h.account(10n)!.balance).toBe(1001);
  });

  test("same id, different payload: id_conflict, and not remembered", () => {
    const h = funded();
    const id = h.next_id();
    h.one({ id, op: Op.debit, account: 10n, amount: 100n });
    for (const changed of [
      { id, op: Op.debit, account: 10n, amount: 101n },
      { id, op: Op.credit, account: 10n, amount: 100n },
      { id, op: Op.debit, account: 10n, amount: 100n, ref: 1n },
      { id, op: Op.debit, account: 10n, amount: 100n, linked: true },
    ]) {
      const result = h.one(changed);
      expect(result.status_name).toBe("id_conflict");
      expect(result.replayed).toBe(false);
    }
    expect(h.one({ id, op: Op.debit, account: 10n, amount: 100n }).replayed).toBe(true);
    expect(h.account(10n)!.balance).toBe(900);
  });

  test("retries are answered up to the window's edge; after it the id is expired", () => {
    const h = funded();
    const order: TestOrder = { id: h.next_id(), op: Op.debit, account: 10n, amount: 100n };
    const created_ms = h.now_ms;
    h.one(order);
    h.tick(created_ms + WINDOW_MS);
    expect(h.one(order).replayed).toBe(true);
    expect(h.one({ ...order, amount: 1n }).status_name).toBe("id_conflict");
    h.tick(created_ms + WINDOW_MS + 1);
    const late = h.one(order);
    expect(late.status_name).toBe("expired");
    expect(late.replayed).toBe(false);
    expect(h.account(10n)!.balance).toBe(900);
  });
});

describe("order ids", () => {
  test("an id older than engine time - window is expired, even if never seen", () => {
    const h = funded();
    const result = h.one({ id: order_id_at(h.now_ms - WINDOW_MS - 1, 1), op: Op.credit,
      account: 10n, amount: 1n });
    expect(result.status_name).toBe("expired");
    expect(result.balance).toBe(1000n);
    expect(h.one({ id: order_id_at(h.now_ms - WINDOW_MS, 1), op: Op.credit, account: 10n,
      amount: 1n }).status_name).toBe("ok");
  });

  test("an id further in the future than the skew limit is id_invalid; exactly at it is accepted", () => {
    const h = funded();
    const skew_ms = ORDER_ID_FUTURE_SKEW_MS_MAX;
    expect(h.one({ id: order_id_at(h.now_ms + skew_ms + 1, 1), op: Op.credit, account: 10n,
      amount: 1n }).status_name).toBe("id_invalid");
    expect(h.one({ id: order_id_at(h.now_ms + skew_ms, 1), op: Op.credit, account: 10n,
      amount: 1n }).status_name).toBe("ok");
  });

  test("id 0 is id_invalid, and a retry of it is answered again, not replayed", () => {
    const h = funded();
    for (let n = 0; n < 2; n++) {
      const result = h.one({ id: 0n, op: Op.credit, account: 10n, amount: 1n });
      expect(result.status_name).toBe("id_invalid");
      expect(result.replayed).toBe(false);
    }
    expect(h.account(10n)!.balance).toBe(1000);
  });
});

describe("window capacity", () => {
  test("a window full of live entries answers busy; after eviction orders pass again", () => {
    const h = new EngineHarness({ accounts_max: 16, holds_max: 16, idempotency_entries_max: 8,
      idempotency_window_ms: WINDOW_MS });
    h.open(10n);
    for (let n = 0; n < 7; n++) h.one({ op: Op.credit, account: 10n, amount: 1n });
    const busy = h.one({ op: Op.credit, account: 10n, amount: 1n });
    expect(busy.status_name).toBe("busy");
    expect(busy.balance).toBe(7n);
    // A retry of a remembered order is still answered while the window is full.
    h.tick(h.now_ms + WINDOW_MS + 1);
    expect(h.one({ op: Op.credit, account: 10n, amount: 1n }).status_name).toBe("ok");
    expect(h.account(10n)!.balance).toBe(8);
  });

  test("a busy order is not remembered: its retry is applied once there is room", () => {
    const h = new EngineHarness({ accounts_max: 16, holds_max: 16, idempotency_entries_max: 2,
      idempotency_window_ms: WINDOW_MS });
    h.open(10n);
    const kept: TestOrder = { id: h.next_id(), op: Op.credit, account: 10n, amount: 1n };
    h.one(kept);
    const order: TestOrder = { id: h.next_id(), op: Op.credit, account: 10n, amount: 5n };
    expect(h.one(order).status_name).toBe("busy");
    expect(h.one(kept).replayed).toBe(true);
    h.tick(h.now_ms + WINDOW_MS + 1);
    const late = h.one({ ...order, id: h.next_id() });
    expect(late.status_name).toBe("ok");
    expect(late.balance).toBe(6n);
  });

  test("a chain larger than the window's free room is busy as a whole", () => {
    const h = new EngineHarness({ accounts_max: 16, holds_max: 16, idempotency_entries_max: 4,
      idempotency_window_ms: WINDOW_MS });
    h.open(10n);
    const results = h.batch([
      { op: Op.credit, account: 10n, amount: 1n, linked: true },
      { op: Op.credit, account: 10n, amount: 1n, linked: true },
      { op: Op.credit, account: 10n, amount: 1n, linked: true },
      { op: Op.credit, account: 10n, amount: 1n },
    ]);
    expect(results.map((r) => r.status_name)).toEqual(["busy", "busy", "busy", "busy"]);
    expect(h.account(10n)!.balance).toBe(0);
  });
});
