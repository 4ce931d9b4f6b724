// The engine worker's loop applies a cycle's runs group by group at one engine time, so requests
// that mix partners of several groups (one slot each, a run per group) leave one journal entry per
// group and cycle, not one per run; every order still gets its own result, answered once durable.
// A cycle longer than a chunk (CHUNK_SLOTS_MAX slots) gives the applied slots back as it goes.

import { expect, test } from "bun:test";
import {
  JOURNAL_APPEND_BYTES_MAX, JOURNAL_ENTRY_HEADER_BYTES, JOURNAL_RECORD_BYTES, ORDER_SIZE_BYTES,
  RESULT_SIZE_BYTES, RING_REQUEST_SLOT_BYTES, RING_RESULT_SLOT_BYTES,
} from "../../common/constants.ts";
import { Ring } from "../../common/ring.ts";
import { JOURNAL_SLOT_HEADER_BYTES } from "../../common/slots.ts";
import { WorkerControl } from "../../common/worker_control.ts";
import { EngineClock, type Clock } from "../../engine/engine_clock.ts";
import { EngineLoop } from "../../engine/engine_loop.ts";
import { GroupEngine } from "../../engine/group_engine.ts";
import { LEADS_EVERY_GROUP } from "../../router/leadership.ts";
import { Partitioning } from "../../router/partition.ts";
import { Router } from "../../router/router.ts";
import { Mode } from "../../schema/generated/balance/wire/mode.ts";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import { Status } from "../../schema/generated/balance/wire/status.ts";
import { entry_header_empty, read_entry_header } from "../../schema/journal_entry_layout.ts";
import { read_result_fields, write_order_fields, type OrderFields } from "../../schema/layout.ts";
import { order_id_at, small_limits, T0_MS } from "./harness.ts";

const PARTNER_OF_GROUP = [11, 12, 13];
const EUR = 978;
const REQUESTS = 6;
// Each request opens an account per group: 500 requests stay within small_limits' 1,024.

class FixedClock implements Clock {
  monotonic_ms(): number {
    return 0;
  }
  wall_ms(): number {
    return T0_MS;
  }
}

/** One request: an account of each group opened and credited (2 orders per group). */
function mixed_request(request: number): OrderFields[] {
  const orders: OrderFields[] = [];
  let counter = request * 100;
  for (const partner of PARTNER_OF_GROUP) {
    const account = BigInt(request * 1000 + partner);
    orders.push({ id: order_id_at(T0_MS, ++counter), op: Op.open_account, partner, account,
      amount: 0n, ref: 3n, currency: EUR, flags: 0 });
    orders.push({ id: order_id_at(T0_MS, ++counter), op: Op.credit, partner, account,
      amount: BigInt(100 + request), ref: 0n, currency: EUR, flags: 0 });
  }
  return orders;
}

/** The cycle's journal slot's entries: [group, first sequence, records]. */
function journal_entries(journal: Ring): [number, number, number][] {
  expect(journal.available()).toBe(1);
  const at = journal.slot_offset(journal.consumer_cursor());
  const size_bytes = journal.view.getUint32(at, true);
  const entries: [number, number, number][] = [];
  let offset = at + JOURNAL_SLOT_HEADER_BYTES;
  while (offset < at + JOURNAL_SLOT_HEADER_BYTES + size_bytes) {
    const header = entry_header_empty();
    expect(read_entry_header(journal.view, offset, size_bytes, header)).toBe("ok");
    entries.push([header.group, header.first_sequence, header.record_count]);
    offset += JOURNAL_ENTRY_HEADER_BYTES + header.record_count * JOURNAL_RECORD_BYTES;
  }
  return entries;
}

/**
 * `requests` mixed requests submitted through a router into one engine worker's ring (of
 * `ring_slots`), then one cycle of its loop. Returns the journal's entries; checks that every
 * order was answered ok in its request's order, each group's sequences in request order.
 */
async function one_cycle(requests: number, ring_slots: number)
  : Promise<[number, number, number][]> {
  const engines = new Map<number, GroupEngine>();
  for (let group = 0; group < PARTNER_OF_GROUP.length; group++) {
    engines.set(group, new GroupEngine(group, 0, small_limits));
  }
  const inbound = Ring.create({ slot_count: ring_slots, slot_bytes: RING_REQUEST_SLOT_BYTES });
  const results = Ring.create({ slot_count: ring_slots, slot_bytes: RING_RESULT_SLOT_BYTES });
  const journal = Ring.create({ slot_count: 4, slot_bytes: JOURNAL_APPEND_BYTES_MAX });
  const pinned = new Map(PARTNER_OF_GROUP.map((partner, group) => [partner, group]));
  const router = new Router(new Partitioning(PARTNER_OF_GROUP.length, 1, pinned),
    LEADS_EVERY_GROUP, [inbound], 60_000, { on_results: () => {} });
  const loop = new EngineLoop({ engines, inbound, results, journal_ring: journal,
    control: new WorkerControl(), worker: 0, clock: new EngineClock(new FixedClock(), 0),
    on_snapshot: () => {} });

  const answers: Promise<Uint8Array>[] = [];
  const sent: OrderFields[][] = [];
  for (let r = 0; r < requests; r++) {
    const orders = mixed_request(r);
    const bytes = new Uint8Array(orders.length * ORDER_SIZE_BYTES);
    const view = new DataView(bytes.buffer);
    orders.forEach((o, k) => write_order_fields(view, k * ORDER_SIZE_BYTES, o));
    sent.push(orders);
    answers.push(router.submit(bytes, orders.length, Mode.committed));
  }
  // Each request is one slot, a run per group: g0 g1 g2 | g0 g1 g2 | ...
  expect(inbound.available()).toBe(requests);
  expect(loop.cycle()).toBe(true);
  expect(inbound.available()).toBe(0);
  const entries = journal_entries(journal);

  // Results to the router, durability reported: every order answered ok, in its request's order,
  // each group's sequences in the order its requests came.
  expect(results.available()).toBe(requests);
  while (results.available() > 0) {
    router.on_result_slot(results, results.slot_offset(results.consumer_cursor()));
    results.release(1);
  }
  for (const [group, engine] of engines) {
    expect(engine.last_sequence).toBe(2 * requests);
    router.on_durable(group, engine.last_sequence);
  }
  const answered = await Promise.all(answers);
  answered.forEach((bytes, r) => {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    sent[r]!.forEach((order, k) => {
      const result = read_result_fields(view, k * RESULT_SIZE_BYTES);
      expect(result.order_id).toBe(order.id);
      expect(result.status).toBe(Status.ok);
      expect(result.sequence).toBe(BigInt(2 * r + 1 + (k % 2)));
      if (order.op === Op.credit) expect(result.balance).toBe(order.amount);
    });
  });
  expect(router.in_flight).toBe(0);
  return entries;
}

test("a cycle of requests mixing three groups journals one entry per group", async () => {
  // One entry per group, in the order the groups first appear.
  expect(await one_cycle(REQUESTS, 64))
    .toEqual(PARTNER_OF_GROUP.map((_, group) => [group, 1, 2 * REQUESTS]));
});

test("a cycle longer than a chunk: an entry per group and chunk, every slot answered", async () => {
  // 500 slots: chunks of 256 and 244 (CHUNK_SLOTS_MAX in engine/engine_loop.ts); a chunk's runs
  // are applied group by group, so each chunk leaves an entry per group. (A ring of 2,048 slots:
  // each of the three partners may hold a quarter of it.)
  const chunks: [number, number][] = [[0, 256], [256, 244]];
  const expected = chunks.flatMap(([first, slots]) =>
    PARTNER_OF_GROUP.map((_, group): [number, number, number] =>
      [group, 2 * first + 1, 2 * slots]));
  expect(await one_cycle(500, 2048)).toEqual(expected);
});
