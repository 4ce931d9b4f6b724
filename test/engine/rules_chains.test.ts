// Linked chains (docs/design.md section 2, Batch): all-or-nothing, within one partner, closed
// inside the batch. A failed chain is rolled back exactly, yet every order of it still takes a
// sequence.

import { describe, expect, test } from "bun:test";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import { GroupEngine } from "../../engine/group_engine.ts";
import {
  bucket_start_at_or_after, EngineHarness, engine_state, replay_entries, small_limits,
  type TestOrder, WINDOW_BUCKETS, window_bucket_ms,
} from "./harness.ts";

function funded(): EngineHarness {
  const h = new EngineHarness();
  h.open(10n);
  h.open(11n);
  h.open(12n);
  h.open(20n, { partner: 2 });
  h.one({ op: Op.credit, account: 10n, amount: 1000n });
  return h;
}

function figures(h: EngineHarness) {
  return [10n, 11n, 12n].map((account) => h.account(account));
}

describe("linked chain", () => {
  test("all ok: applied together", () => {
    const h = funded();
    const results = h.batch([
      { op: Op.debit, account: 10n, amount: 100n, linked: true },
      { op: Op.credit, account: 11n, amount: 100n, linked: true },
      { op: Op.transfer, account: 11n, ref: 12n, amount: 30n },
    ]);
    expect(results.map((r) => r.status_name)).toEqual(["ok", "ok", "ok"]);
    expect(results.map((r) => r.balance)).toEqual([900n, 100n, 70n]);
    expect(figures(h).map((f) => f!.balance)).toEqual([900, 70, 30]);
  });

  test("failing in the middle: all rolled back, linked_failed + the failing status", () => {
    const h = funded();
    const before = figures(h);
    const sequence_before = h.last_sequence;
    const results = h.batch([
      { op: Op.debit, account: 10n, amount: 100n, linked: true },
      { op: Op.credit, account: 11n, amount: 100n, linked: true },
      { op: Op.debit, account: 12n, amount: 1n, linked: true },
      { op: Op.credit, account: 12n, amount: 5n },
      { op: Op.credit, account: 11n, amount: 1n }, // not linked: stands alone
    ]);
    expect(results.map((r) => r.status_name)).toEqual([
      "linked_failed", "linked_failed", "insufficient_funds", "linked_failed", "ok",
    ]);
    // The figures after the roll-back.
    expect(results.map((r) => r.balance)).toEqual([1000n, 0n, 0n, 0n, 1n]);
    expect(results.map((r) => r.sequence)).toEqual(
      [1, 2, 3, 4, 5].map((n) => BigInt(sequence_before + n)));
    h.one({ op: Op.debit, account: 11n, amount: 1n });
    expect(figures(h)).toEqual(before);
  });

  test("orders after the failing one show their own account's figures", () => {
    const h = funded();
    h.one({ op: Op.credit, account: 12n, amount: 33n });
    const results = h.batch([
      { op: Op.debit, account: 10n, amount: 5_000n, linked: true },
      { op: Op.credit, account: 12n, amount: 1n, linked: true },
      { op: Op.transfer, account: 11n, ref: 10n, amount: 1n },
    ]);
    expect(results.map((r) => r.status_name)).toEqual([
      "insufficient_funds", "linked_failed", "linked_failed",
    ]);
    expect(results.map((r) => r.balance)).toEqual([1000n, 33n, 0n]);
    expect(results.map((r) => r.available)).toEqual([1000n, 33n, 0n]);
    const records = h.records().slice(-3);
    expect(records.map((r) => r.balance_after)).toEqual([1000, 33, 0]);
  });

  test("holds opened and closed inside a failed chain are rolled back", () => {
    const h = funded();
    const kept = h.next_id();
    h.one({ id: kept, op: Op.hold, account: 10n, amount: 200n, ref: 5_000n });
    const opened = h.next_id();
    const results = h.batch([
      { id: opened, op: Op.hold, account: 10n, amount: 300n, ref: 1_000n, linked: true },
      { op: Op.capture, account: 10n, ref: kept, amount: 150n, linked: true },
      { op: Op.capture, account: 10n, ref: opened, amount: 300n, linked: true },
      { op: Op.debit, account: 10n, amount: 10_000n },
    ]);
    expect(results.map((r) => r.status_name)).toEqual([
      "linked_failed", "linked_failed", "linked_failed", "insufficient_funds",
    ]);
    expect(h.account(10n)).toEqual({ balance: 1000, held: 200, available: 800 });
    // The opened hold never existed; the captured one is open again and still expires on time.
    expect(h.one({ op: Op.release, account: 10n, ref: opened }).status_name).toBe("hold_not_found");
    const sequence = h.last_sequence;
    h.tick(h.now_ms + 5_000);
    expect(h.last_sequence).toBe(sequence + 1);
    expect(h.account(10n)).toEqual({ balance: 1000, held: 0, available: 1000 });
  });

  test("a chain that opens and settles a hold commits it settled", () => {
    const h = funded();
    const opened = h.next_id();
    const results = h.batch([
      { id: opened, op: Op.hold, account: 10n, amount: 300n, ref: 1_000n, linked: true },
      { op: Op.capture, account: 10n, ref: opened, amount: 100n },
    ]);
    expect(results.map((r) => r.status_name)).toEqual(["ok", "ok"]);
    expect(h.account(10n)).toEqual({ balance: 900, held: 0, available: 900 });
    expect(h.one({ op: Op.release, account: 10n, ref: opened }).status_name).toBe("hold_settled");
    const sequence = h.last_sequence;
    h.tick(h.now_ms + 2_000);
    expect(h.last_sequence).toBe(sequence);
  });

  // The router refuses such a chain before any engine sees it (router/chains.ts); the engine's own
  // check gives the same answer, open chain or not.
  test("a chain spanning partners is cross_partner and applies nothing", () => {
    const h = funded();
    const results = h.batch([
      { op: Op.credit, account: 10n, amount: 1n, linked: true },
      { op: Op.credit, partner: 2, account: 20n, amount: 1n },
    ]);
    expect(results.map((r) => r.status_name)).toEqual(["cross_partner", "cross_partner"]);
    expect(h.account(10n)!.balance).toBe(1000);
    expect(h.account(20n, 2)!.balance).toBe(0);
  });

  test("a chain spanning partners left open is cross_partner too", () => {
    const h = funded();
    const results = h.batch([
      { op: Op.credit, account: 10n, amount: 1n, linked: true },
      { op: Op.credit, partner: 2, account: 20n, amount: 1n, linked: true },
    ]);
    expect(results.map((r) => r.status_name)).toEqual(["cross_partner", "cross_partner"]);
    expect(h.account(10n)!.balance).toBe(1000);
    expect(h.account(20n, 2)!.balance).toBe(0);
  });

  test("administration inside a chain is invalid", () => {
    const h = funded();
    const results = h.batch([
      { op: Op.credit, account: 11n, amount: 1n, linked: true },
      { op: Op.freeze, account: 11n },
    ]);
    expect(results.map((r) => r.status_name)).toEqual(["invalid", "invalid"]);
    expect(h.one({ op: Op.debit, account: 11n, amount: 0n }).status_name).toBe("amount_invalid");
  });

  test("a chain left open at the end of the batch is chain_open", () => {
    const h = funded();
    const results = h.batch([
      { op: Op.credit, account: 11n, amount: 1n },
      { op: Op.credit, account: 11n, amount: 2n, linked: true },
      { op: Op.credit, account: 11n, amount: 3n, linked: true },
    ]);
    expect(results.map((r) => r.status_name)).toEqual(["ok", "chain_open", "chain_open"]);
    expect(h.account(11n)!.balance).toBe(1);
  });

  test("two chains back to back are independent", () => {
    const h = funded();
    const results = h.batch([
      { op: Op.debit, account: 11n, amount: 1n, linked: true },
      { op: Op.credit, account: 11n, amount: 1n },
      { op: Op.debit, account: 10n, amount: 1n, linked: true },
      { op: Op.credit, account: 11n, amount: 1n },
    ]);
    expect(results.map((r) => r.status_name)).toEqual([
      "insufficient_funds", "linked_failed", "ok", "ok",
    ]);
    expect(h.account(11n)!.balance).toBe(1);
  });

  test("a chain of the longest batch rolls back", () => {
    const h = funded();
    const orders: TestOrder[] = [];
    for (let n = 0; n < 127; n++) {
      orders.push({ op: Op.transfer, account: 10n + BigInt(n % 2), ref: 11n - BigInt(n % 2),
        amount: 1000n, linked: true });
    }
    orders.push({ op: Op.debit, account: 12n, amount: 1n });
    const results = h.batch(orders);
    expect(results.at(-1)!.status_name).toBe("insufficient_funds");
    expect(results.slice(0, -1).every((r) => r.status_name === "linked_failed")).toBe(true);
    expect(h.account(10n)!.balance).toBe(1000);
    expect(h.account(11n)!.balance).toBe(0);
  });

  test("a chain retried whole is replayed; retried with one new order, the new one fails", () => {
    const h = funded();
    const chain: TestOrder[] = [
      { id: h.next_id(), op: Op.debit, account: 10n, amount: 10n, linked: true },
      { id: h.next_id(), op: Op.credit, account: 11n, amount: 10n },
    ];
    const first = h.batch(chain);
    const again = h.batch(chain);
    expect(again.map((r) => r.replayed)).toEqual([true, true]);
    expect(again.map((r) => r.sequence)).toEqual(first.map((r) => r.sequence));
    const mixed = h.batch([chain[0]!, { ...chain[1]!, id: h.next_id() }]);
    expect(mixed.map((r) => [r.status_name, r.replayed])).toEqual([
      ["ok", true], ["linked_failed", false],
    ]);
    expect(h.account(11n)!.balance).toBe(10);
  });

  test("a chain that repeats an order id is invalid and the engine keeps running", () => {
    const h = funded();
    const id = h.next_id();
    const results = h.batch([
      { id, op: Op.credit, account: 11n, amount: 5n, linked: true },
      { id, op: Op.credit, account: 11n, amount: 5n, linked: true },
      { op: Op.credit, account: 11n, amount: 5n },
    ]);
    // The second is a retry of the first (same id, same payload, flags included): answered so.
    expect(results.map((r) => [r.status_name, r.replayed])).toEqual([
      ["invalid", false], ["invalid", true], ["invalid", false],
    ]);
    expect(results[1]!.sequence).toBe(results[0]!.sequence);
    expect(h.account(11n)!.balance).toBe(0);
    expect(h.one({ op: Op.credit, account: 11n, amount: 1n }).status_name).toBe("ok");
    const changed = h.batch([
      { id: h.next_id(), op: Op.credit, account: 11n, amount: 5n, linked: true },
      { id, op: Op.credit, account: 11n, amount: 6n, linked: true },
      { id, op: Op.credit, account: 11n, amount: 5n, linked: true },
      { id, op: Op.freeze, account: 11n },
    ]);
    expect(changed.map((r) => [r.status_name, r.replayed])).toEqual([
      ["invalid", false], ["id_conflict", false], ["invalid", true], ["id_conflict", false],
    ]);
    expect(h.account(11n)!.balance).toBe(1);
  });

  test("a refused chain never overfills the idempotency window", () => {
    // A budget of WINDOW_BUCKETS ids (engine/idempotency.ts); engine time on a bucket's start.
    const window_ms = 60_000;
    const h = new EngineHarness({ accounts_max: 16, holds_max: 16,
      idempotency_entries_max: WINDOW_BUCKETS, idempotency_window_ms: window_ms });
    h.now_ms = bucket_start_at_or_after(h.now_ms, window_ms);
    h.open(10n);
    h.open(11n);
    for (let n = 2; n < WINDOW_BUCKETS - 2; n += 20) {
      const count = Math.min(20, WINDOW_BUCKETS - 2 - n);
      h.batch(Array.from({ length: count }, () => ({ op: Op.credit, account: 11n, amount: 1n })));
    }
    expect(h.engine.window.count).toBe(WINDOW_BUCKETS - 2);
    // Two entries left; a refused chain of three fresh orders records two and answers busy to the
    // third.
    const results = h.batch([
      { op: Op.credit, account: 10n, amount: 1n, linked: true },
      { op: Op.credit, account: 10n, amount: 1n, linked: true },
      { op: Op.credit, partner: 2, account: 10n, amount: 1n },
    ]);
    expect(results.map((r) => r.status_name)).toEqual(["cross_partner", "cross_partner", "busy"]);
    expect(h.engine.window.count).toBe(WINDOW_BUCKETS);
    expect(h.one({ op: Op.credit, account: 10n, amount: 1n }).status_name).toBe("busy");
    h.now_ms += window_ms + window_bucket_ms(window_ms); // every id so far forgotten: room again
    expect(h.one({ op: Op.credit, account: 10n, amount: 1n }).status_name).toBe("ok");
    expect(h.account(10n)!.balance).toBe(1);
  });

  // The batch's prefetch resolves every order's accounts before any applies; an account opened,
  // rolled back or reopened in the same batch must still be resolved as it is when the order
  // applies (a slot freed by a roll-back is taken by the next account opened).
  test("accounts opened, rolled back and reopened within one batch resolve as they are then", () => {
    const h = funded();
    // A batch as long before it, every order naming account 11: nothing of it may leak into the
    // next batch's lookups.
    h.batch(Array.from({ length: 10 }, () => ({ op: Op.credit, account: 11n, amount: 1n })));
    const results = h.batch([
      { op: Op.open_account, account: 30n, ref: 3n },
      { op: Op.credit, account: 30n, amount: 50n }, // opened by the order before
      { op: Op.open_account, account: 31n, ref: 3n, linked: true },
      { op: Op.credit, account: 31n, amount: 5n, linked: true },
      { op: Op.debit, account: 12n, amount: 1n }, // fails: 31 is un-opened, its slot free again
      { op: Op.open_account, account: 32n, ref: 3n }, // takes 31's slot
      { op: Op.credit, account: 31n, amount: 7n },
      { op: Op.credit, account: 32n, amount: 9n },
      { op: Op.transfer, account: 10n, ref: 32n, amount: 100n }, // a target opened in the batch
      { op: Op.transfer, account: 30n, ref: 10n, amount: 20n }, // a source opened in the batch
    ]);
    expect(results.map((r) => r.status_name)).toEqual([
      "ok", "ok", "linked_failed", "linked_failed", "insufficient_funds", "ok",
      "account_not_found", "ok", "ok", "ok",
    ]);
    expect([10n, 11n, 30n, 31n, 32n].map((account) => h.account(account)?.balance ?? null))
      .toEqual([920, 10, 30, null, 109]);
    const replayed = new GroupEngine(0, 1, small_limits);
    replay_entries(h.journal_bytes, replayed);
    expect(engine_state(replayed)).toEqual(engine_state(h.engine));
  });
});
