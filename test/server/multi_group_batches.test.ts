// Batches that span several groups on one engine worker need one inbound ring slot per group. Sent
// one after another on an idle server, they must never be answered busy: the ring is empty each
// time. (A producer that refreshed its cached view of the consumer only when the ring looked
// exactly full refused them forever once the stale count left fewer free slots than a batch's
// parts: with 3 parts per batch and 256 slots, from the 86th batch on.)

import { afterAll, beforeAll, expect, test } from "bun:test";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import { OrderIdGenerator } from "../../schema/order_id.ts";
import {
  batch_json, open_account, order_frame, post_frame_batch, post_json_batch, type TestOrder,
} from "../../harness/http_client.ts";
import { ServiceProcess } from "../../harness/service_process.ts";

const EUR = 978;
const PARTNERS = [21, 22, 23]; // one per group 0, 1, 2: every batch has 3 parts on worker 0
const RING_SLOTS = 256;

let service: ServiceProcess;
const ids = new OrderIdGenerator();

beforeAll(async () => {
  service = await ServiceProcess.start({
    env: { GROUP_MAP: "21:0,22:1,23:2", RING_SLOTS: String(RING_SLOTS), ENGINE_WORKERS: "1" },
  });
  for (const partner of PARTNERS) {
    expect((await open_account(service.base_url, partner, BigInt(partner * 1000), EUR)).status).toBe("ok");
  }
});

afterAll(async () => {
  if (service === undefined) return;
  expect(await service.stop()).toBe(0);
  service.remove_data();
});

test("batches of 3 groups, one at a time, never busy over several ring turns", async () => {
  const turns = 3;
  const batches = Math.ceil((turns * RING_SLOTS) / PARTNERS.length);
  let applied = 0;
  for (let b = 0; b < batches; b++) {
    const orders: TestOrder[] = PARTNERS.map((partner) => (
      { id: ids.next(), op: Op.credit, partner, account: BigInt(partner * 1000), amount: 1n, currency: EUR }));
    const reply = b % 2 === 0
      ? await post_json_batch(service.base_url, batch_json(orders))
      : await post_frame_batch(service.base_url, order_frame(orders));
    expect({ batch: b, kind: reply.kind, http_status: reply.http_status })
      .toEqual({ batch: b, kind: "results", http_status: 200 });
    if (reply.kind === "results") applied += reply.results.filter((r) => r.status === "ok").length;
  }
  expect(applied).toBe(batches * PARTNERS.length);
});
