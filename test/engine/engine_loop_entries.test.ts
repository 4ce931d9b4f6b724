// The engine worker's loop applies a cycle's slots group by group at one engine time, so requests
// that mix partners of several groups (one slot per group each) leave one journal entry per group
// and cycle, not one per slot; every order still gets its own result, answered once durable.

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

test("a cycle of requests mixing three groups journals one entry per group", async () => {
  const engines = new Map<number, GroupEngine>();
  for (let group = 0; group < PARTNER_OF_GROUP.length; group++) {
    engines.set(group, new GroupEngine(group, 0, small_limits));
  }
  const inbound = Ring.create({ slot_count: 64, slot_bytes: RING_REQUEST_SLOT_BYTES });
  const results = Ring.create({ slot_count: 64, slot_bytes: RING_RESULT_SLOT_BYTES });
  const journal = Ring.create({ slot_count: 4, slot_bytes: JOURNAL_APPEND_BYTES_MAX });
  const pinned = new Map(PARTNER_OF_GROUP.map((partner, group) => [partner, group]));
  const router = new Router(new Partitioning(PARTNER_OF_GROUP.length, 1, pinned),
    LEADS_EVERY_GROUP, [inbound], 60_000, { on_results: () => {} });
  const loop = new EngineLoop({ engines, inbound, results, journal_ring: journal,
    control: new WorkerControl(), worker: 0, clock: new EngineClock(new FixedClock(), 0),
    on_snapshot: () => {} });

  const answers: Promise<Uint8Array>[] = [];
  const requests: OrderFields[][] = [];
  for (let r = 0; r < REQUESTS; r++) {
    const orders = mixed_request(r);
    const bytes = new Uint8Array(orders.length * ORDER_SIZE_BYTES);
    orders.forEach((o, k) => write_order_fields(new DataView(bytes.buffer), k * ORDER_SIZE_BYTES, o));
    requests.push(orders);
    answers.push(router.submit(bytes, orders.length, Mode.committed));
  }
  // Each request is one slot per group, interleaved in the ring: g0 g1 g2 g0 g1 g2 ...
  expect(inbound.available()).toBe(REQUESTS * PARTNER_OF_GROUP.length);
  expect(loop.cycle()).toBe(true);
  expect(inbound.available()).toBe(0);

  // The cycle's journal slot: one entry per group, in the order the groups first appear.
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
  expect(entries).toEqual(PARTNER_OF_GROUP.map((_, group) => [group, 1, 2 * REQUESTS]));

  // Results to the router, durability reported: every order answered ok, in its request's order,
  // each group's sequences in the order its requests came.
  while (results.available() > 0) {
    router.on_result_slot(results, results.slot_offset(results.consumer_cursor()));
    results.release(1);
  }
  for (const [group, engine] of engines) {
    expect(engine.last_sequence).toBe(2 * REQUESTS);
    router.on_durable(group, engine.last_sequence);
  }
  const answered = await Promise.all(answers);
  answered.forEach((bytes, r) => {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    requests[r]!.forEach((order, k) => {
      const result = read_result_fields(view, k * RESULT_SIZE_BYTES);
      expect(result.order_id).toBe(order.id);
      expect(result.status).toBe(Status.ok);
      expect(result.sequence).toBe(BigInt(2 * r + 1 + (k % 2)));
      if (order.op === Op.credit) expect(result.balance).toBe(order.amount);
    });
  });
});
