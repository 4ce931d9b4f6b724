// The router's admission rules, with rings nobody drains: a full ring answers busy, a partner past
// its share of a ring answers busy while other partners still get in, a batch that mixes groups is
// split into one slot per engine worker (a run per group) and reassembled in order, and a linked
// chain that names several partners is refused cross_partner before the split, reaching no ring.
// With a GroupLeadership that leads only some groups, the orders (whole chains) and reads of the
// others are refused not_primary the same way.

import { describe, expect, test } from "bun:test";
import {
  ORDER_SIZE_BYTES, PARTNER_RING_SHARE_DIVISOR, RESULT_SIZE_BYTES, RING_REQUEST_SLOT_BYTES,
  RING_RESULT_SLOT_BYTES, RING_RUN_ENTRY_BYTES,
} from "../../common/constants.ts";
import { Partitioning } from "../../router/partition.ts";
import { Ring } from "../../common/ring.ts";
import { LEADS_EVERY_GROUP, type GroupLeadership } from "../../router/leadership.ts";
import { Router } from "../../router/router.ts";
import { WorkerControl } from "../../common/worker_control.ts";
import * as S from "../../common/slots.ts";
import { Mode } from "../../schema/generated/balance/wire/mode.ts";
import { Status } from "../../schema/generated/balance/wire/status.ts";
import { ErrorCode } from "../../schema/generated/balance/wire/error-code.ts";
import { error_status, not_primary_reply, refusal_reply } from "../../http/replies.ts";
import {
  SLOTS, answer_all, answer_next, orders_of, statuses,
} from "./router_harness.ts";

function make_router(groups = 1, pinned = new Map<number, number>(), in_flight_max = 1_000,
  leadership: GroupLeadership = LEADS_EVERY_GROUP) {
  const inbound = Ring.create({ slot_count: SLOTS, slot_bytes: RING_REQUEST_SLOT_BYTES });
  const counters = { on_results: () => {} };
  const router = new Router(new Partitioning(groups, 1, pinned), leadership, [inbound], 60_000,
    counters, in_flight_max);
  return { router, inbound };
}

/** Each run of the slot at the ring's consumer cursor: [group, orders]. */
function slot_runs(inbound: Ring): [number, number][] {
  const at = inbound.slot_offset(inbound.consumer_cursor());
  return Array.from({ length: inbound.view.getUint32(at + S.REQUEST_RUNS, true) }, (_, r) => {
    const entry = at + S.REQUEST_RUN_TABLE + r * RING_RUN_ENTRY_BYTES;
    return [inbound.view.getUint32(entry + S.RUN_GROUP, true),
      inbound.view.getUint32(entry + S.RUN_COUNT, true)];
  });
}

/** The order ids in each request slot of the ring, oldest first (nothing consumed). */
function slot_ids(inbound: Ring, slots: number): bigint[][] {
  return Array.from({ length: slots }, (_, i) => {
    const at = inbound.slot_offset(inbound.consumer_cursor() + i);
    const count = inbound.view.getUint32(at + S.REQUEST_COUNT, true);
    return Array.from({ length: count }, (_, k) =>
      inbound.view.getBigUint64(at + S.REQUEST_BODY + k * ORDER_SIZE_BYTES, true));
  });
}

describe("admission", () => {
  test("a partner past its share of a ring is busy; another partner still gets in", async () => {
    const { router, inbound } = make_router();
    const share = SLOTS / PARTNER_RING_SHARE_DIVISOR;
    for (let i = 0; i < share; i++) void router.submit(orders_of([7]), 1, Mode.committed);
    expect(inbound.depth()).toBe(share);
    await expect(router.submit(orders_of([7]), 1, Mode.committed)).rejects.toBe("busy");
    expect(inbound.depth()).toBe(share); // the refused batch took no slot
    void router.submit(orders_of([8]), 1, Mode.committed);
    expect(inbound.depth()).toBe(share + 1);
  });

  test("a full ring is busy for everyone, and nothing is queued", async () => {
    const { router, inbound } = make_router();
    for (let partner = 1; partner <= SLOTS; partner++) {
      void router.submit(orders_of([partner]), 1, Mode.committed);
    }
    expect(inbound.free_slots()).toBe(0);
    await expect(router.submit(orders_of([SLOTS + 1]), 1, Mode.committed)).rejects.toBe("busy");
    expect(router.in_flight).toBe(SLOTS);
  });
});

describe("requests in flight", () => {
  test("past the limit new requests are busy, even with free ring slots", async () => {
    const { router, inbound } = make_router(1, new Map(), 6);
    for (let i = 0; i < 6; i++) void router.submit(orders_of([i + 1]), 1, Mode.committed);
    answer_all(router, inbound, 100); // answered by the engine, waiting for a journal that lags
    expect(inbound.depth()).toBe(0);
    expect(router.in_flight).toBe(6);
    await expect(router.submit(orders_of([9]), 1, Mode.committed)).rejects.toBe("busy");
    router.on_durable(0, 100);
    expect(router.in_flight).toBe(0);
    void router.submit(orders_of([9]), 1, Mode.committed);
    expect(router.in_flight).toBe(1);
  });
});

describe("splitting by group", () => {
  test("a batch of two groups takes one slot, a run per group; results come back in order",
    async () => {
      const { router, inbound } = make_router(2, new Map([[7, 0], [8, 1]]));
      const reply = router.submit(orders_of([7, 8, 7]), 3, Mode.committed);
      expect(inbound.depth()).toBe(1);
      expect(slot_runs(inbound)).toEqual([[0, 2], [1, 1]]);
      expect(slot_ids(inbound, 1)).toEqual([[1n, 3n, 2n]]); // group 0's orders, then group 1's
      answer_all(router, inbound, 5);
      router.on_durable(0, 5);
      expect(router.in_flight).toBe(1); // group 1's part is not durable yet
      router.on_durable(1, 5);
      const bytes = await reply;
      const view = new DataView(bytes.buffer);
      expect([0, 1, 2].map((k) => view.getBigUint64(k * RESULT_SIZE_BYTES, true)))
        .toEqual([1n, 2n, 3n]);
      expect(router.in_flight).toBe(0);
    });

  test("groups on two engine workers: one slot in each worker's ring", async () => {
    const inbound = [0, 1].map(() =>
      Ring.create({ slot_count: SLOTS, slot_bytes: RING_REQUEST_SLOT_BYTES }));
    // Groups 0 and 2 on worker 0, group 1 on worker 1 (group % workers).
    const pinned = new Map([[7, 0], [8, 1], [9, 2]]);
    const router = new Router(new Partitioning(3, 2, pinned), LEADS_EVERY_GROUP, inbound, 60_000,
      { on_results: () => {} });
    const reply = router.submit(orders_of([8, 9, 7, 8, 9]), 5, Mode.committed);
    expect(inbound.map((ring) => ring.depth())).toEqual([1, 1]);
    expect(slot_runs(inbound[0]!)).toEqual([[2, 2], [0, 1]]); // in the order the groups appear
    expect(slot_ids(inbound[0]!, 1)).toEqual([[2n, 5n, 3n]]);
    expect(slot_runs(inbound[1]!)).toEqual([[1, 2]]);
    expect(slot_ids(inbound[1]!, 1)).toEqual([[1n, 4n]]);
    answer_all(router, inbound[1]!, 4);
    answer_all(router, inbound[0]!, 4);
    for (const group of [0, 1, 2]) router.on_durable(group, 4);
    const bytes = await reply;
    const view = new DataView(bytes.buffer);
    expect([0, 1, 2, 3, 4].map((k) => view.getBigUint64(k * RESULT_SIZE_BYTES, true)))
      .toEqual([1n, 2n, 3n, 4n, 5n]);
    expect(router.in_flight).toBe(0);
  });

  test("committed results wait for the journal: not answered before the durable sequence", async () => {
    const { router, inbound } = make_router();
    let answered = false;
    const reply = router.submit(orders_of([7]), 1, Mode.committed).then(() => (answered = true));
    const results = Ring.create({ slot_count: SLOTS, slot_bytes: RING_RESULT_SLOT_BYTES });
    answer_next(router, inbound, results, 3);
    router.on_durable(0, 2);
    await Bun.sleep(1);
    expect(answered).toBe(false);
    router.on_durable(0, 3);
    await reply;
    expect(answered).toBe(true);
  });

  test("accepted: answered when placed; the engine's results release it, no durability awaited",
    () => {
      const { router, inbound } = make_router(2, new Map([[7, 0], [8, 1]]));
      const answer = new Uint8Array(2 * RESULT_SIZE_BYTES);
      expect(router.submit_accepted(orders_of([7, 8]), 2, answer)).toBeNull();
      expect(statuses(answer, 2)).toEqual([[1n, "pending", 0n], [2n, "pending", 0n]]);
      expect(inbound.depth()).toBe(1);
      expect(router.in_flight).toBe(1); // its ring shares are held until the engine answered
      answer_all(router, inbound, 5); // nothing is durable: the request leaves all the same
      expect(router.in_flight).toBe(0);
    });
});

describe("chains naming several partners", () => {
  test("refused whole before the split: no ring slot, answered at once, both modes", async () => {
    const { router, inbound } = make_router(2, new Map([[7, 0], [8, 1]]));
    const refused: [bigint, string, bigint][] =
      [[1n, "cross_partner", 0n], [2n, "cross_partner", 0n]];
    const closed = await router.submit(orders_of([7, 8], [0]), 2, Mode.committed);
    expect(statuses(closed, 2)).toEqual(refused);
    const open = await router.submit(orders_of([8, 7], [0, 1]), 2, Mode.accepted);
    expect(statuses(open, 2)).toEqual(refused);
    expect(inbound.depth()).toBe(0);
    expect(router.in_flight).toBe(0);
  });

  test("submit_listen answers a batch refused whole after it returns, never before", async () => {
    const { router, inbound } = make_router(2, new Map([[7, 0], [8, 1]]));
    let answered: Uint8Array | null = null;
    const refusal = router.submit_listen(orders_of([7, 8], [0]), 2,
      (request) => (answered = request.results), () => {});
    expect(refusal).toBeNull();
    expect(answered).toBeNull();
    await Promise.resolve();
    expect(statuses(answered!, 2)).toEqual([[1n, "cross_partner", 0n], [2n, "cross_partner", 0n]]);
    expect(inbound.depth()).toBe(0);
  });

  test("the batch's other orders reach their groups; one partner's chain stays whole", async () => {
    const { router, inbound } = make_router(2, new Map([[7, 0], [8, 1]]));
    // 1 alone (7); chain 2-3 (7, 8): refused; 4 alone (8); chain 5-6 (7, 7); chain 7-8 (8, 7) open.
    const orders = orders_of([7, 7, 8, 8, 7, 7, 8, 7], [1, 4, 6, 7]);
    const reply = router.submit(orders, 8, Mode.committed);
    const at = inbound.slot_offset(inbound.consumer_cursor());
    const count = inbound.view.getUint32(at + S.REQUEST_COUNT, true);
    const slot = Array.from({ length: count }, (_, k) => [
      inbound.view.getBigUint64(at + S.REQUEST_BODY + k * ORDER_SIZE_BYTES, true),
      inbound.view.getUint8(at + S.REQUEST_BODY + k * ORDER_SIZE_BYTES + 39)]);
    expect(inbound.depth()).toBe(1);
    expect(slot).toEqual([[1n, 0], [5n, 1], [6n, 0], [4n, 0]]); // group 0's run, then group 1's
    expect(slot_runs(inbound)).toEqual([[0, 3], [1, 1]]);
    answer_all(router, inbound, 1);
    router.on_durable(0, 1);
    router.on_durable(1, 1);
    const refused = statuses(await reply, 8).filter(([, status]) => status === "cross_partner");
    expect(refused.map(([id]) => id)).toEqual([2n, 3n, 7n, 8n]);
  });
});

describe("groups this node does not lead", () => {
  // Groups 0 and 2 are led; partner 8's group 1 is not.
  const PINNED = new Map([[7, 0], [8, 1], [9, 2]]);
  const LEADS_0_AND_2: GroupLeadership = { leads: (group) => group !== 1 };

  function router_leading_some() {
    return make_router(3, PINNED, 1_000, LEADS_0_AND_2);
  }

  test("a mixed batch: orders of the group not led are not_primary, the rest run", async () => {
    const { router, inbound } = router_leading_some();
    const reply = router.submit(orders_of([7, 8, 9, 8]), 4, Mode.committed);
    expect(slot_ids(inbound, inbound.depth())).toEqual([[1n, 3n]]);
    expect(slot_runs(inbound)).toEqual([[0, 1], [2, 1]]);
    answer_all(router, inbound, 1);
    router.on_durable(0, 1);
    router.on_durable(2, 1);
    const answered = statuses(await reply, 4);
    expect([answered[1], answered[3]]).toEqual([[2n, "not_primary", 0n], [4n, "not_primary", 0n]]);
    expect(answered[0]![1]).not.toBe("not_primary");
    expect(answered[2]![1]).not.toBe("not_primary");
  });

  test("a batch wholly of a group not led reaches no ring and is answered at once", async () => {
    const { router, inbound } = router_leading_some();
    const expected: [bigint, string, bigint][] =
      [[1n, "not_primary", 0n], [2n, "not_primary", 0n]];
    expect(statuses(await router.submit(orders_of([8, 8]), 2, Mode.committed), 2))
      .toEqual(expected);
    expect(statuses(await router.submit(orders_of([8, 8]), 2, Mode.accepted), 2))
      .toEqual(expected);
    let listened: Uint8Array | null = null;
    expect(router.submit_listen(orders_of([8, 8]), 2,
      (request) => (listened = request.results), () => {})).toBeNull();
    await Promise.resolve();
    expect(statuses(listened!, 2)).toEqual(expected);
    expect(inbound.depth()).toBe(0);
    expect(router.in_flight).toBe(0);
  });

  test("a chain of a group not led is refused whole; one naming two partners is cross_partner",
    async () => {
      const { router, inbound } = router_leading_some();
      // chain 1-2 (8, 8): not led; chain 3-4 (7, 7): led; chain 5-6 (7, 8): cross_partner.
      const reply = router.submit(orders_of([8, 8, 7, 7, 7, 8], [0, 2, 4]), 6, Mode.committed);
      expect(slot_ids(inbound, inbound.depth())).toEqual([[3n, 4n]]);
      answer_all(router, inbound, 1);
      router.on_durable(0, 1);
      const answered = statuses(await reply, 6).map(([id, status]) => [id, status]);
      expect([answered[0], answered[1], answered[4], answered[5]]).toEqual([
        [1n, "not_primary"], [2n, "not_primary"], [5n, "cross_partner"], [6n, "cross_partner"]]);
    });

  test("accepted mode's one answer marks the orders not led not_primary, the rest pending",
    () => {
      const { router, inbound } = router_leading_some();
      const target = new Uint8Array(3 * RESULT_SIZE_BYTES);
      expect(router.submit_accepted(orders_of([7, 8, 9]), 3, target)).toBeNull();
      expect(statuses(target, 3)).toEqual(
        [[1n, "pending", 0n], [2n, "not_primary", 0n], [3n, "pending", 0n]]);
      expect(slot_ids(inbound, inbound.depth())).toEqual([[1n, 3n]]);
    });

  test("a read of a group not led is refused not_primary, reaching no ring", async () => {
    const { router, inbound } = router_leading_some();
    await expect(router.query(S.SlotKind.query_account, 8, 1n)).rejects.toBe("not_primary");
    expect(inbound.depth()).toBe(0);
    expect(router.in_flight).toBe(0);
    void router.query(S.SlotKind.query_account, 9, 1n);
    expect(inbound.depth()).toBe(1);
  });

  test("the refusal's answer: HTTP 421 and ErrorCode.not_primary, naming the primary", () => {
    const primary = { id: "node-b", http: "10.0.0.2:8080", tcp: "10.0.0.2:8090" };
    const reply = not_primary_reply(1, primary);
    expect(reply.http_status).toBe(421);
    expect(ErrorCode[reply.code]).toBe("not_primary");
    expect(reply.message).toContain("group 1");
    expect(reply.message).toContain("node node-b at http://10.0.0.2:8080 and tcp://10.0.0.2:8090");
    expect(error_status(ErrorCode.not_primary)).toBe(421);
    const unknown = refusal_reply("not_primary");
    expect([unknown.http_status, unknown.code]).toEqual([421, ErrorCode.not_primary]);
    expect(unknown.message).toContain("GET /cluster/map");
  });
});

test("a parked engine's wake for orders goes to the group commit under way, else is made at once", async () => {
  const { router, inbound } = make_router();
  const control = new WorkerControl();
  router.engine_wake_gate = control;
  const engine_side = Ring.attach(inbound.buffer,
    { slot_count: SLOTS, slot_bytes: RING_REQUEST_SLOT_BYTES });
  // The journal worker is in a group commit: the router leaves the wake to its end.
  control.begin_group_commit();
  let woken = false;
  const parked = engine_side.wait_for_data_async(60_000).then(() => (woken = true));
  router.submit_listen(orders_of([1]), 1, () => {}, () => {});
  await Bun.sleep(50); // past the event-loop turn that makes the wakes
  expect(woken).toBe(false);
  expect(inbound.available()).toBe(1); // published, the engine not woken
  control.end_group_commit();
  expect(control.take_deferred_engine_wake(0)).toBe(true); // the journal worker's to make
  engine_side.wake_consumer();
  await parked;

  // No commit under way: the router wakes the parked engine itself.
  let woken_again = false;
  engine_side.release(1);
  const parked_again = engine_side.wait_for_data_async(60_000).then(() => (woken_again = true));
  router.submit_listen(orders_of([1]), 1, () => {}, () => {});
  expect(await Promise.race([parked_again, Bun.sleep(10_000).then(() => "still parked")]))
    .toBe(true);
  expect(woken_again).toBe(true);
  expect(control.take_deferred_engine_wake(0)).toBe(false);
});

describe("durability heard twice (a single node's board, then its message)", () => {
  test("a report of no new progress changes nothing; one going back is ignored", async () => {
    const { router, inbound } = make_router();
    const first = router.submit(orders_of([1]), 1, Mode.committed);
    answer_all(router, inbound, 5);
    router.on_durable(0, 5);
    expect(router.durable_sequence[0]).toBe(5);
    await first;
    router.on_durable(0, 5); // the message after the board: the same commit
    router.on_durable(0, 3); // an older message
    expect(router.durable_sequence[0]).toBe(5);
    const second = router.submit(orders_of([2]), 1, Mode.committed);
    answer_all(router, inbound, 6);
    expect(router.in_flight).toBe(1); // 6 is not durable: nothing above answered it
    router.on_durable(0, 6);
    await second;
    expect(router.in_flight).toBe(0);
  });

  test("before_admission runs before each batch is admitted and may answer the earlier ones",
    async () => {
      const { router, inbound } = make_router();
      let durable_reported = 0;
      const calls: number[] = [];
      router.before_admission = () => {
        calls.push(router.in_flight);
        router.on_durable(0, durable_reported);
      };
      let answered = false;
      const first = router.submit(orders_of([1]), 1, Mode.committed).then(() => (answered = true));
      answer_all(router, inbound, 4);
      durable_reported = 4; // the journal made it durable; no message has come yet
      const scratch = new Uint8Array(RESULT_SIZE_BYTES);
      expect(router.submit_accepted(orders_of([2]), 1, scratch)).toBeNull();
      expect(router.durable_sequence[0]).toBe(4); // taken before the accepted batch was placed
      await first;
      expect(answered).toBe(true);
      void router.submit(orders_of([3]), 1, Mode.committed);
      // In flight when each admission began: the first (committed), then the accepted one only.
      expect(calls).toEqual([0, 1, 1]);
    });
});
