// Idempotency (docs/design.md section 2): a retry within the window gets the original result,
// flagged replayed, with no new sequence; a changed payload is id_conflict; ids older than the
// window are expired, ids too far in the future or zero are id_invalid; once the window's memory
// budget is spent, new ids answer busy.

import { describe, expect, test } from "bun:test";
import { ORDER_ID_FUTURE_SKEW_MS_MAX } from "../../common/constants.ts";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import { Status } from "../../schema/generated/balance/wire/status.ts";
import { window_records } from "../../engine/group_engine.ts";
import {
  bucket_start_at_or_after, EngineHarness, order_id_at, T0_MS, type TestOrder, WINDOW_BUCKETS,
  window_bucket_ms,
} from "./harness.ts";

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

// The window keeps ids in time buckets by the creation time they carry (engine/idempotency.ts):
// W = 60 s gives buckets of 512 ms (the power of two at or above (60,000 + 5,000) / 252 = 258).
// Its memory is one budget: BUDGET = 256 ids here, in pages of one id (a budget this small), taken
// by whichever bucket needs them. Each test starts engine time on a bucket boundary, so bucket B
// holds the ids created in [start, start + BUCKET_MS) and its neighbours are known exactly.
const BUCKET_MS = 512;
const BUDGET = 256;

interface Bucketed {
  h: EngineHarness;
  /** The start of bucket B, and engine time when the test begins. */
  start: number;
  /** Makes order ids created at a given time, each one new. */
  id_at: (time_ms: number) => bigint;
}

/** Account 10 opened in the bucket before B; engine time at the start of bucket B. */
function bucketed(): Bucketed {
  const h = new EngineHarness({ accounts_max: 16, holds_max: 16,
    idempotency_entries_max: BUDGET, idempotency_window_ms: WINDOW_MS });
  expect(window_bucket_ms(WINDOW_MS)).toBe(BUCKET_MS);
  expect(h.engine.window.bucket_ms).toBe(BUCKET_MS);
  expect([h.engine.window.page_entries, h.engine.window.page_count]).toEqual([1, BUDGET]);
  const start = bucket_start_at_or_after(T0_MS + BUCKET_MS, WINDOW_MS);
  h.now_ms = start - BUCKET_MS;
  expect(h.open(10n).status_name).toBe("ok");
  h.now_ms = start;
  let counter = 1_000;
  return { h, start, id_at: (time_ms) => order_id_at(time_ms, ++counter) };
}

function credit(id: bigint, amount = 1n): TestOrder {
  return { id, op: Op.credit, account: 10n, amount };
}

/**
 * Credits of 1 with ids all in bucket B (created at its first ms, its last, and between) until the
 * window holds BUDGET - room ids: one bucket takes the whole budget, a burst as a hot partner
 * sends it. Returns them.
 */
function fill_bucket(b: Bucketed, room = 0): TestOrder[] {
  const count = BUDGET - room - b.h.engine.window.count;
  const orders = Array.from({ length: count }, (_, n) =>
    credit(b.id_at(b.start + Math.floor((n * (BUCKET_MS - 1)) / Math.max(1, count - 1)))));
  for (let k = 0; k < orders.length; k += 20) {
    const results = b.h.batch(orders.slice(k, k + 20));
    expect(results.every((r) => r.status_name === "ok")).toBe(true);
  }
  expect(b.h.engine.window.count).toBe(BUDGET - room);
  return orders;
}

describe("window capacity: one budget", () => {
  test("one bucket takes the whole budget; then ids of any bucket answer busy, and retries of " +
    "remembered orders are still replayed", () => {
    const b = bucketed();
    const { h, start } = b;
    const kept = fill_bucket(b);
    const balance = BigInt(BUDGET - 1);
    for (const time_ms of [start, start + 7, start + BUCKET_MS - 1, start + BUCKET_MS, start - 1]) {
      const busy = h.one(credit(b.id_at(time_ms)));
      expect(busy.status_name).toBe("busy");
      expect(busy.replayed).toBe(false);
      expect([busy.balance, busy.available]).toEqual([balance, balance]);
    }
    const retry = h.one(kept.at(-1)!);
    expect([retry.status_name, retry.replayed]).toEqual(["ok", true]);
    expect(h.account(10n)!.balance).toBe(BUDGET - 1);
    expect(h.engine.window.count).toBe(BUDGET);
  });

  test("the budget comes back as whole buckets are forgotten, at their end + W", () => {
    const b = bucketed();
    const { h, start } = b;
    const kept = fill_bucket(b);
    const end = start + BUCKET_MS;
    const newest = kept.at(-1)!; // created at end - 1
    h.tick(end + WINDOW_MS - 1);
    // The bucket before B (the account's opening) is gone, B is not, though its first ids expired:
    // the opening's entry is free again, for an id of any bucket.
    expect(h.engine.window.count).toBe(BUDGET - 1);
    expect(h.one(kept[0]!).status_name).toBe("expired");
    expect(h.one(newest).replayed).toBe(true);
    expect(h.one(credit(h.next_id())).status_name).toBe("ok");
    expect(h.one(credit(h.next_id())).status_name).toBe("busy");
    h.tick(end + WINDOW_MS);
    expect(h.engine.window.count).toBe(1);
    // Every id B held is expired now: none is answered busy, none replayed.
    const late = h.one(newest);
    expect([late.status_name, late.replayed]).toEqual(["expired", false]);
    expect(h.one(credit(b.id_at(end - 1))).status_name).toBe("expired");
    expect(h.one(credit(h.next_id())).status_name).toBe("ok");
    expect(h.engine.window.count).toBe(2);
    expect(h.account(10n)!.balance).toBe(BUDGET + 1);
  });

  test("expiry is at W exactly, wherever the id sits in its bucket", () => {
    const b = bucketed();
    const { h, start } = b;
    const first = credit(b.id_at(start)); // the bucket's first ms: kept longest after W
    const last = credit(b.id_at(start + BUCKET_MS - 1)); // its last ms: dropped right after W
    expect(h.batch([first, last]).map((r) => r.status_name)).toEqual(["ok", "ok"]);
    h.tick(start + WINDOW_MS);
    expect(h.one(first).replayed).toBe(true);
    h.tick(start + WINDOW_MS + 1);
    expect(h.one(first).status_name).toBe("expired");
    expect(h.engine.window.count).toBe(2); // still held, yet never answered again
    h.tick(start + BUCKET_MS - 1 + WINDOW_MS);
    expect(h.one(last).replayed).toBe(true);
    expect(h.one({ ...last, amount: 2n }).status_name).toBe("id_conflict");
    h.tick(start + BUCKET_MS + WINDOW_MS);
    expect(h.one(last).status_name).toBe("expired");
    expect(h.engine.window.count).toBe(0);
    expect(h.account(10n)!.balance).toBe(2);
  });

  test("a busy order is not remembered: its retry is decided anew, and a new id applies it", () => {
    const b = bucketed();
    const { h, start } = b;
    fill_bucket(b);
    const order = credit(b.id_at(start + 5), 5n);
    const sequence = h.last_sequence;
    expect(h.one(order).status_name).toBe("busy");
    expect(h.last_sequence).toBe(sequence + 1); // journaled as an event, with its own sequence
    expect(h.records().at(-1)!.status).toBe(Status.busy);
    for (const retry of [order, { ...order, amount: 6n }]) {
      const result = h.one(retry);
      expect([result.status_name, result.replayed]).toEqual(["busy", false]); // not id_conflict
    }
    expect(h.engine.window.count).toBe(BUDGET);
    // Once the opening's bucket is forgotten there is room: the client's new id applies it.
    h.tick(start + WINDOW_MS);
    const again = h.one({ ...order, id: h.next_id() });
    expect(again.status_name).toBe("ok");
    expect(again.balance).toBe(BigInt(BUDGET - 1 + 5));
    // The busy id itself can never be applied: busy while the budget is spent, then expired.
    h.tick(start + 5 + WINDOW_MS);
    expect(h.one(order).status_name).toBe("busy");
    h.tick(start + 5 + WINDOW_MS + 1);
    expect(h.one(order).status_name).toBe("expired");
    expect(h.account(10n)!.balance).toBe(BUDGET - 1 + 5);
  });

  test("a chain larger than the budget's rest is busy as a whole; exactly the rest passes", () => {
    const b = bucketed();
    const { h, start } = b;
    const chain = (times: number[]): TestOrder[] => times.map((time_ms, n) => ({
      ...credit(b.id_at(time_ms)), linked: n < times.length - 1 }));
    const statuses = (orders: TestOrder[]) => h.batch(orders).map((r) => r.status_name);
    fill_bucket(b, 3);
    const next = start + BUCKET_MS;
    // 3 left: a chain of 4 over two buckets is busy whole, nothing of it remembered.
    expect(statuses(chain([start + 1, start + 2, next, next + 1]))).toEqual(
      ["busy", "busy", "busy", "busy"]);
    expect(h.engine.window.count).toBe(BUDGET - 3);
    // A chain of 3 over B and the next bucket takes exactly the rest.
    expect(statuses(chain([start + 3, next + 2, next + 3]))).toEqual(["ok", "ok", "ok"]);
    expect(h.engine.window.count).toBe(BUDGET);
    // With nothing left, each id of a chain is busy on its own: the chain is refused for them.
    const full = chain([next + 4, start + 9]);
    expect(statuses(full)).toEqual(["busy", "busy"]);
    expect(h.account(10n)!.balance).toBe(BUDGET - 4 + 3);
  });

  test("a bucket's place in the ring serves again 256 buckets later", () => {
    const b = bucketed();
    const { h, start } = b;
    fill_bucket(b);
    // Bucket B + 256 takes B's place; its ids are first accepted once within the future skew.
    const reuse = start + WINDOW_BUCKETS * BUCKET_MS;
    h.tick(reuse - ORDER_ID_FUTURE_SKEW_MS_MAX - 1);
    expect(h.engine.window.count).toBe(0);
    expect(h.one(credit(b.id_at(reuse))).status_name).toBe("id_invalid");
    h.tick(reuse - ORDER_ID_FUTURE_SKEW_MS_MAX);
    const ids = [reuse, reuse + 1, reuse + BUCKET_MS - 2, reuse + BUCKET_MS - 1]
      .map((time_ms) => b.id_at(time_ms));
    expect(h.one(credit(ids[0]!)).status_name).toBe("ok");
    expect(h.one(credit(ids[1]!)).status_name).toBe("id_invalid"); // beyond the skew still
    h.tick(reuse + BUCKET_MS - 1 - ORDER_ID_FUTURE_SKEW_MS_MAX);
    expect(h.batch(ids.slice(1).map((id) => credit(id))).map((r) => r.status_name))
      .toEqual(["ok", "ok", "ok"]);
    ids.forEach((id) => {
      const hi = Number(id >> 32n), lo = Number(id & 0xffff_ffffn);
      const at = h.engine.window.find(1, hi, lo);
      expect([h.engine.window.id_hi(at), h.engine.window.id_lo[at]]).toEqual([hi, lo]);
    });
    expect(h.engine.window.count).toBe(4);
    expect(h.account(10n)!.balance).toBe(BUDGET - 1 + 4);
  });
});

describe("which statuses the window remembers", () => {
  test("every status is decided: the id's own refusals and busy are forgotten, the rest kept", () => {
    const forgotten = [Status.id_invalid, Status.expired, Status.id_conflict, Status.busy];
    for (const value of Object.values(Status)) {
      if (typeof value !== "number") continue;
      expect({ value, kept: window_records(value) })
        .toEqual({ value, kept: !forgotten.includes(value) });
    }
  });

  test("a byte the schema does not name as a status fails an assertion", () => {
    expect(() => window_records(200)).toThrow("a status the schema names");
  });
});
