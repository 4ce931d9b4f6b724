// The router reuses what a request borrows: the parts of a batch split over groups (PartPool) and,
// for an answer that copies them out at once (TCP, submit_listen's lend_results), the results
// buffer (ResultsPool). A part or buffer given back while its request can still be written would
// show up as another request's orders or results: here many mixed batches over two engine
// workers are in flight at once, answered slot by slot in a shuffled order, made durable before
// or after their results, and every answer must carry exactly its own order ids, while the
// buffers are seen to be reused. A request that timed out keeps its buffer until its late
// results are in. submit_read (the HTTP edge) makes its reply from the lent results.

import { describe, expect, test } from "bun:test";
import {
  RESULT_SIZE_BYTES, RING_REQUEST_SLOT_BYTES, RING_RESULT_SLOT_BYTES,
} from "../../common/constants.ts";
import { Prng } from "../../common/prng.ts";
import { Ring } from "../../common/ring.ts";
import { LEADS_EVERY_GROUP } from "../../router/leadership.ts";
import { Partitioning } from "../../router/partition.ts";
import type { PendingRequest } from "../../router/pending.ts";
import { Router } from "../../router/router.ts";
import * as S from "../../common/slots.ts";
import { answer_next, orders_of, statuses } from "./router_harness.ts";
import { Mode } from "../../schema/generated/balance/wire/mode.ts";

const GROUPS = 4; // groups 0 and 2 on worker 0, 1 and 3 on worker 1
const PARTNERS = 8; // partner p in group p % GROUPS
const REQUESTS_PER_ROUND = 6;
const ROUNDS = 12;
const REQUEST_TIMEOUT_MS = 60_000;
/** Batch sizes drawn from (buffers are pooled by size): small ones and the usual 20. */
const ORDER_COUNTS = [1, 3, 7, 20];
// Room for a round: each partner may hold a quarter of a ring (PARTNER_RING_SHARE_DIVISOR).
const RING_SLOTS = 64;

function make_router() {
  const inbound = [0, 1].map(() =>
    Ring.create({ slot_count: RING_SLOTS, slot_bytes: RING_REQUEST_SLOT_BYTES }));
  const results = [0, 1].map(() =>
    Ring.create({ slot_count: RING_SLOTS, slot_bytes: RING_RESULT_SLOT_BYTES }));
  const pinned = new Map(Array.from({ length: PARTNERS }, (_, k) => [k + 1, (k + 1) % GROUPS]));
  const router = new Router(new Partitioning(GROUPS, 2, pinned), LEADS_EVERY_GROUP, inbound,
    REQUEST_TIMEOUT_MS, { on_results: () => {} });
  return { router, inbound, results };
}

function ids_of(results: Uint8Array, count: number): bigint[] {
  const view = new DataView(results.buffer, results.byteOffset, results.byteLength);
  return Array.from({ length: count }, (_, k) => view.getBigUint64(k * RESULT_SIZE_BYTES, true));
}

/** Orders in the request slots waiting in `ring` (each order reaches an engine once). */
function orders_placed(ring: Ring): number {
  let orders = 0;
  for (let i = 0; i < ring.available(); i++) {
    orders += ring.view.getUint32(ring.slot_offset(ring.consumer_cursor() + i) + S.REQUEST_COUNT,
      true);
  }
  return orders;
}

function range(first: number, count: number): bigint[] {
  return Array.from({ length: count }, (_, k) => BigInt(first + k));
}

describe("parts and lent results are reused, never while their request can be written", () => {
  test("mixed batches in flight together, answered out of order: each answer is its own", () => {
    const { router, inbound, results } = make_router();
    const prng = new Prng(7);
    const answered = new Map<number, bigint[]>();
    const buffers = new Set<Uint8Array>();
    let reused = 0;
    let next_id = 1;
    for (let round = 0; round < ROUNDS; round++) {
      // Every other round, durability is ahead: a part is answered while its slot is being read.
      const durable_first = round % 2 === 1;
      const durable = 1_000 * (round + 1);
      if (durable_first) for (let g = 0; g < GROUPS; g++) router.on_durable(g, durable);
      const expected = new Map<number, bigint[]>();
      let round_orders = 0;
      for (let r = 0; r < REQUESTS_PER_ROUND; r++) {
        const count = ORDER_COUNTS[prng.next_u32() % ORDER_COUNTS.length]!;
        const partners = Array.from({ length: count }, () => 1 + prng.next_u32() % PARTNERS);
        const first_id = next_id;
        next_id += count;
        round_orders += count;
        const key = first_id;
        expected.set(key, range(first_id, count));
        const refusal = router.submit_listen(orders_of(partners, [], first_id), count,
          (request: PendingRequest) => {
            expect(answered.has(key)).toBe(false); // answered once
            answered.set(key, ids_of(request.results, count)); // read while lent, as TCP does
            if (buffers.has(request.results)) reused++;
            buffers.add(request.results);
          },
          () => expect.unreachable("nothing times out here"), true);
        expect(refusal).toBeNull();
      }
      expect(orders_placed(inbound[0]!) + orders_placed(inbound[1]!)).toBe(round_orders);
      // The engine workers answer their slots in turns, worker 1's first in odd rounds.
      const order = round % 2 === 0 ? [0, 1] : [1, 0];
      while (inbound.some((ring) => ring.available() > 0)) {
        for (const w of order) {
          if (inbound[w]!.available() > 0) {
            answer_next(router, inbound[w]!, results[w]!, durable);
          }
        }
      }
      if (!durable_first) for (let g = 0; g < GROUPS; g++) router.on_durable(g, durable);
      for (const [key, ids] of expected) expect(answered.get(key)).toEqual(ids);
      expect(router.in_flight).toBe(0);
    }
    expect(answered.size).toBe(ROUNDS * REQUESTS_PER_ROUND);
    // The pools did their work: later rounds were answered in buffers of earlier ones.
    expect(reused).toBeGreaterThan(ROUNDS * REQUESTS_PER_ROUND / 2);
  });

  test("a request that timed out keeps its buffer until its late results are in", () => {
    const { router, inbound, results } = make_router();
    // One earlier request answered: its buffer is in the pool, next in line for 2 orders.
    let pooled: Uint8Array | null = null;
    router.submit_listen(orders_of([2, 2], [], 100), 2, (r) => (pooled = r.results), () => {},
      true);
    answer_next(router, inbound[0]!, results[0]!, 1);
    router.on_durable(2, 1);
    expect(pooled).not.toBeNull();

    // X (partner 1: group 1, worker 1) takes that buffer, and times out before its results.
    let timed_out = false;
    router.submit_listen(orders_of([1, 1], [], 1), 2, () => expect.unreachable("X timed out"),
      (refusal) => (timed_out = refusal === "timeout"), true);
    router.expire_overdue(performance.now() + REQUEST_TIMEOUT_MS + 1);
    expect(timed_out).toBe(true);
    expect(router.in_flight).toBe(1); // X waits for its results still

    // Y (partner 2: group 2, worker 0) is placed meanwhile and its results come first.
    let y_ids: bigint[] = [];
    let y_results: Uint8Array | null = null;
    router.submit_listen(orders_of([2, 2], [], 11), 2, (r) => {
      y_ids = ids_of(r.results, 2);
      y_results = r.results;
    }, () => expect.unreachable("Y is answered"), true);
    answer_next(router, inbound[0]!, results[0]!, 2);
    // X's late results arrive: written into X's buffer, which must not be Y's.
    answer_next(router, inbound[1]!, results[1]!, 2);
    router.on_durable(2, 2);
    expect(y_ids).toEqual([11n, 12n]);
    expect(y_results).not.toBe(pooled); // X still held the pooled buffer when Y was placed

    // Once X's results are in and it is dropped, its buffer goes back and is lent again.
    router.expire_overdue(performance.now() + REQUEST_TIMEOUT_MS + 1);
    expect(router.in_flight).toBe(0);
    router.on_durable(1, 2); // X's part made durable late changes nothing
    let z_results: Uint8Array | null = null;
    router.submit_listen(orders_of([2, 2], [], 21), 2, (r) => (z_results = r.results), () => {},
      true);
    answer_next(router, inbound[0]!, results[0]!, 3);
    router.on_durable(2, 3);
    expect(z_results).toBe(pooled);
  });

  test("submit_read: the reply is made from lent results; a failing read rejects, nothing leaks",
    async () => {
      const { router, inbound, results } = make_router();
      const ids = (bytes: Uint8Array) => ids_of(bytes, 3);
      const first = router.submit_read(orders_of([1, 2, 1], [], 1), 3, Mode.committed, ids);
      answer_next(router, inbound[1]!, results[1]!, 1); // group 1 (partner 1)
      answer_next(router, inbound[0]!, results[0]!, 1); // group 2 (partner 2)
      for (let g = 0; g < GROUPS; g++) router.on_durable(g, 1);
      expect(await first).toEqual([1n, 2n, 3n]);

      const failing = router.submit_read(orders_of([2], [], 4), 1, Mode.committed, () => {
        throw new Error("the reply could not be made");
      });
      answer_next(router, inbound[0]!, results[0]!, 2);
      router.on_durable(2, 2);
      await expect(failing).rejects.toThrow("the reply could not be made");
      expect(router.in_flight).toBe(0);

      // Accepted: read at once from the router's scratch, every order pending.
      const accepted = await router.submit_read(orders_of([1, 2], [], 5), 2, Mode.accepted,
        (bytes) => statuses(bytes, 2).map(([id, status]) => `${id} ${status}`));
      expect(accepted).toEqual(["5 pending", "6 pending"]);
      while (inbound.some((ring) => ring.available() > 0)) {
        for (const w of [0, 1]) {
          if (inbound[w]!.available() > 0) answer_next(router, inbound[w]!, results[w]!, 3);
        }
      }
      expect(router.in_flight).toBe(0);
    });
});
