// The publisher against the real Kafka: a real server process with KAFKA_BROKERS and a fresh topic;
// orders go in over HTTP; a kafkajs consumer reads the topic. Every event's (group, sequence)
// appears once, in order, per partition (= group), and each order's event carries the figures the
// service answered. Then the server is killed with SIGKILL, restarted on the same data directory,
// more orders go in: the stream continues with no gap; any repeat is of a sequence already sent.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { Kafka, logLevel, type Consumer } from "kafkajs";
import { decode_event_record } from "../../events/decode.ts";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import { OrderIdGenerator } from "../../schema/order_id.ts";
import {
  batch_json, open_account, post_json_batch, type Result, type TestOrder,
} from "../../harness/http_client.ts";
import { ServiceProcess } from "../../harness/service_process.ts";
import { broker_list, ensure_services, type Services } from "../../harness/services.ts";

const SERVICES_TIMEOUT_MS = 600_000;
const TEST_TIMEOUT_MS = 120_000;
const CATCH_UP_TIMEOUT_MS = 45_000;
const POLL_INTERVAL_MS = 50;
const AFTER_ALL_TIMEOUT_MS = 30_000;
const GROUPS = 4;
const EUR = 978;
// Partner p is pinned to group p - 11, so each result's (group, sequence) is known.
const PARTNERS = [11, 12, 13, 14];
const GROUP_OF_PARTNER = new Map(PARTNERS.map((p, g) => [p, g]));
const BATCHES_PER_ROUND = 12;
const BATCH_ORDERS = 10;

interface Seen {
  sequence: number;
  order_id: bigint;
  balance_after: number;
}

let services: Services;
let kafka: Kafka;
let consumer: Consumer | null = null;
let service: ServiceProcess | null = null;
const topic = `publisher-test-${process.pid}-${Date.now().toString(36)}`;
/** Per partition (group), every event in the order it was read, repeats included. */
const seen = new Map<number, Seen[]>(PARTNERS.map((_, g) => [g, []]));
const problems: string[] = [];

beforeAll(async () => {
  services = await ensure_services();
  kafka = new Kafka({
    clientId: "balance-publisher-test", brokers: broker_list(services), logLevel: logLevel.NOTHING,
  });
}, SERVICES_TIMEOUT_MS);

afterAll(async () => {
  service?.kill_now();
  await consumer?.disconnect().catch(() => {});
  const admin = kafka.admin();
  await admin.connect().catch(() => {});
  await admin.deleteTopics({ topics: [topic] }).catch(() => {});
  await admin.disconnect().catch(() => {});
}, AFTER_ALL_TIMEOUT_MS);

async function start_consumer(): Promise<void> {
  consumer = kafka.consumer({ groupId: `${topic}-reader` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      if (message.value === null) return void problems.push(`null value on ${partition}`);
      const decoded = decode_event_record(new Uint8Array(message.value));
      if (!decoded.ok) return void problems.push(`bad record on ${partition}: ${decoded.error}`);
      const record = decoded.record;
      if (record.header.group !== partition) {
        problems.push(`record of group ${record.header.group} on partition ${partition}`);
      }
      for (let i = 0; i < record.header.event_count; i++) {
        seen.get(partition)!.push({ sequence: record.sequence(i), order_id: record.order_id(i),
          balance_after: record.balance_after(i) });
      }
    },
  });
}

async function wait_until(what: string, done: () => boolean): Promise<void> {
  const deadline = performance.now() + CATCH_UP_TIMEOUT_MS;
  while (!done()) {
    if (performance.now() > deadline) {
      throw new Error(`timed out after ${CATCH_UP_TIMEOUT_MS} ms waiting for ${what}; last seen ` +
        `per group: ${[...seen].map(([g, s]) => `${g}:${s.at(-1)?.sequence ?? 0}`).join(" ")}` +
        `\nproblems: ${problems.join("; ")}\nservice output:\n${service?.output() ?? ""}`);
    }
    await Bun.sleep(POLL_INTERVAL_MS);
  }
}

const ids = new OrderIdGenerator();
/** Every committed result by (group, sequence). */
const results = new Map<string, { id: bigint; result: Result }>();

async function submit_round(base_url: string, round: number): Promise<void> {
  for (let b = 0; b < BATCHES_PER_ROUND; b++) {
    const partner = PARTNERS[b % PARTNERS.length]!;
    const orders: TestOrder[] = [];
    for (let n = 0; n < BATCH_ORDERS; n++) {
      const account = BigInt(partner * 1000 + (n % 3));
      orders.push({ id: ids.next(), op: (n + round) % 4 === 3 ? Op.debit : Op.credit, partner,
        account, amount: BigInt(1 + ((n * 7 + b) % 50)), currency: EUR });
    }
    const reply = await post_json_batch(base_url, batch_json(orders));
    if (reply.kind !== "results") throw new Error(`batch refused: ${JSON.stringify(reply)}`);
    reply.results.forEach((result, i) => {
      if (result.status !== "ok" && result.status !== "insufficient_funds") {
        throw new Error(`unexpected status ${result.status}`);
      }
      const group = GROUP_OF_PARTNER.get(partner)!;
      results.set(`${group}/${result.sequence}`, { id: orders[i]!.id, result });
    });
  }
}

function max_result_sequence(group: number): number {
  let max = 0;
  for (const key of results.keys()) {
    const [g, s] = key.split("/").map(Number);
    if (g === group) max = Math.max(max, s!);
  }
  return max;
}

/** Checks the stream: no gap, repeats only of sequences already sent, results match. */
function check_stream(): { repeats: number } {
  expect(problems).toEqual([]);
  let repeats = 0;
  for (const [group, events] of seen) {
    let last = 0;
    const first_of = new Map<number, Seen>();
    for (const event of events) {
      if (event.sequence > last) {
        expect(event.sequence).toBe(last + 1); // no gap
        last = event.sequence;
        first_of.set(event.sequence, event);
      } else {
        // A repeat after the crash: the same event as the first time.
        repeats++;
        expect(first_of.get(event.sequence)).toEqual(event);
      }
    }
    for (const [sequence, event] of first_of) {
      const sent = results.get(`${group}/${sequence}`);
      if (sent === undefined) continue; // an account opening
      expect(event.order_id).toBe(sent.id);
      expect(String(event.balance_after)).toBe(sent.result.balance);
    }
  }
  return { repeats };
}

test("the publisher streams every committed order once and in order, and resumes after SIGKILL", async () => {
  service = await ServiceProcess.start({ env: {
    GROUPS: String(GROUPS), KAFKA_BROKERS: services.kafka_brokers, EVENTS_TOPIC: topic,
    GROUP_MAP: PARTNERS.map((p) => `${p}:${GROUP_OF_PARTNER.get(p)}`).join(","),
  } });
  for (const partner of PARTNERS) {
    for (let k = 0; k < 3; k++) await open_account(service.base_url, partner, BigInt(partner * 1000 + k), EUR);
  }
  await submit_round(service.base_url, 0);
  await submit_round(service.base_url, 1);
  // The publisher creates the topic; the consumer subscribes once it exists.
  const admin = kafka.admin();
  await admin.connect();
  await wait_until_async("the topic", async () => (await admin.listTopics()).includes(topic));
  const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
  expect(metadata.topics[0]!.partitions.length).toBe(GROUPS);
  await admin.disconnect();
  await start_consumer();
  const caught_up = () => PARTNERS.every((_, g) =>
    (seen.get(g)!.at(-1)?.sequence ?? 0) >= max_result_sequence(g));
  await wait_until("the first rounds' events", caught_up);
  expect(check_stream().repeats).toBe(0);
  for (const events of seen.values()) expect(events[0]?.sequence).toBe(1);

  // SIGKILL, restart, more orders: the stream continues without a gap.
  await submit_round(service.base_url, 2);
  service.kill_now();
  await service.kill();
  service = await service.restart();
  await submit_round(service.base_url, 3);
  await submit_round(service.base_url, 4);
  await wait_until("the events after the restart", caught_up);
  const { repeats } = check_stream();
  console.log(`events per group: ${[...seen].map(([g, s]) => `${g}:${s.length}`).join(" ")}, ` +
    `repeats after the crash: ${repeats}`);
  expect(problems).toEqual([]);
}, TEST_TIMEOUT_MS);

async function wait_until_async(what: string, done: () => Promise<boolean>): Promise<void> {
  const deadline = performance.now() + CATCH_UP_TIMEOUT_MS;
  while (!(await done())) {
    if (performance.now() > deadline) {
      throw new Error(`timed out after ${CATCH_UP_TIMEOUT_MS} ms waiting for ${what}\n` +
        `service output:\n${service?.output() ?? ""}`);
    }
    await Bun.sleep(POLL_INTERVAL_MS);
  }
}
