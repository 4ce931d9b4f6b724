// The publisher while Kafka is away, against a PRIVATE Kafka broker started for this file
// (scripts/services/kafka.sh with its own SERVICES_DIR and ports, so stopping it disturbs nobody)
// and a real service process. While the broker is down the service keeps committing orders, the
// lag in /metrics grows, and journal segments behind the publisher's checkpoint are kept although
// snapshots pass them; once the broker is back the stream catches up: every committed order's
// event is in the topic, per group in sequence order with no gap, and a repeat is only a repeated
// (group, sequence) with byte-identical content. The second test stops the broker under a steady
// load and checks the same, and that the lag returns to 0. The third makes the ambiguous failure
// of a stop under load happen every time (harness/kafka_proxy.ts, in front of the broker): a send
// appended by the broker whose response is lost, retried only after more orders committed.
// Progress is counted in rounds of orders and waits are bounded; nothing asserts a duration.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Kafka, logLevel } from "kafkajs";
import { decode_event_record } from "../../events/decode.ts";
import { EVENT_BYTES, event_offset } from "../../events/event_layout.ts";
import { read_checkpoint } from "../../journal/publisher_checkpoint.ts";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import { OrderIdGenerator } from "../../schema/order_id.ts";
import {
  get, open_account, order_frame, post_frame_batch, with_concurrency, type Result, type TestOrder,
} from "../../harness/http_client.ts";
import { KafkaProxy } from "../../harness/kafka_proxy.ts";
import { free_port, ServiceProcess } from "../../harness/service_process.ts";

const REPO_ROOT = resolve(import.meta.dir, "..", "..");
const KAFKA_SCRIPT = resolve(REPO_ROOT, "scripts", "services", "kafka.sh");
const BROKER_TIMEOUT_MS = 300_000;
const TEST_TIMEOUT_MS = 240_000;
const WAIT_TIMEOUT_MS = 90_000;
const POLL_INTERVAL_MS = 100;
const GROUPS = 4;
const EUR = 978;
// Partner p is pinned to group p - 31, so each result's (group, sequence) is known.
const PARTNERS = [31, 32, 33, 34];
const ACCOUNTS_PER_PARTNER = 3;
const BATCH_ORDERS = 128; // BATCH_ORDERS_MAX: one journal entry of ~10 KiB per batch
const CONCURRENCY = 4;
// 1 MiB segments (SMALL_LIMITS_ENV) hold ~100 such entries: 240 batches span 2+ segments per group.
const OUTAGE_BATCHES_PER_GROUP = 240;

let services_dir = "";
let brokers = "";
let service: ServiceProcess | null = null;
/** In front of the broker, which advertises the proxy's port: every client goes through it. */
let proxy: KafkaProxy | null = null;
const ids = new OrderIdGenerator();

async function kafka_script(action: "up" | "down"): Promise<string> {
  const child = Bun.spawn(["bash", KAFKA_SCRIPT, action], {
    cwd: REPO_ROOT, stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: BROKER_TIMEOUT_MS,
    env: { ...process.env, SERVICES_DIR: services_dir, KAFKA_PORT: kafka_port,
      KAFKA_CONTROLLER_PORT: controller_port, KAFKA_ADVERTISED_PORT: proxy_port },
  });
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(),
    new Response(child.stderr).text(), child.exited]);
  if (code !== 0) throw new Error(`kafka.sh ${action} exited ${code}:\n${stdout}\n${stderr}`);
  return stdout;
}
let kafka_port = "";
let controller_port = "";
let proxy_port = "";

beforeAll(async () => {
  services_dir = mkdtempSync(join(tmpdir(), "kafka-outage-"));
  kafka_port = String(free_port());
  controller_port = String(free_port());
  proxy_port = String(free_port());
  proxy = await KafkaProxy.start(Number(proxy_port), Number(kafka_port));
  const printed = await kafka_script("up");
  brokers = /^KAFKA_BROKERS=(.+)$/m.exec(printed)?.[1] ?? "";
  if (brokers === "") throw new Error(`kafka.sh up printed no KAFKA_BROKERS:\n${printed}`);
  console.log(`private Kafka broker on ${brokers} (${services_dir})`);
}, BROKER_TIMEOUT_MS);

afterAll(async () => {
  await service?.kill();
  service?.remove_data();
  if (services_dir !== "") {
    await kafka_script("down").catch((error) => console.error(String(error)));
    rmSync(services_dir, { recursive: true, force: true });
  }
  await proxy?.close();
}, BROKER_TIMEOUT_MS);

// --- the service and its orders ---

/** Every committed result by `${group}/${sequence}`. */
type Committed = Map<string, { id: bigint; result: Result }>;

async function start_service(topic: string): Promise<ServiceProcess> {
  const started = await ServiceProcess.start({ env: {
    GROUPS: String(GROUPS), KAFKA_BROKERS: brokers, EVENTS_TOPIC: topic, SNAPSHOT_INTERVAL_MS: "1000",
    GROUP_MAP: PARTNERS.map((p, g) => `${p}:${g}`).join(","),
    // Room for the load: 524,288 ids in a 1 s window, never `busy`.
    IDEMPOTENCY_WINDOW_MS: "1000", IDEMPOTENCY_ENTRIES_PER_GROUP: "524288", RING_SLOTS: "1024",
  } });
  for (const partner of PARTNERS) {
    for (let k = 0; k < ACCOUNTS_PER_PARTNER; k++) {
      await open_account(started.base_url, partner, BigInt(partner * 1000 + k), EUR);
    }
  }
  return started;
}

const EXPECTED_STATUSES = new Set(["ok", "insufficient_funds", "busy"]);
let busy_count = 0;

/** One committed batch of `partner`: credits and some debits; records each result. */
async function submit_batch(base_url: string, partner: number, committed: Committed)
  : Promise<void> {
  const orders: TestOrder[] = [];
  for (let n = 0; n < BATCH_ORDERS; n++) {
    orders.push({ id: ids.next(), op: n % 4 === 3 ? Op.debit : Op.credit, partner,
      account: BigInt(partner * 1000 + (n % ACCOUNTS_PER_PARTNER)),
      amount: BigInt(1 + (n * 7) % 50), currency: EUR });
  }
  const reply = await post_frame_batch(base_url, order_frame(orders));
  if (reply.kind !== "results") throw new Error(`batch refused: ${JSON.stringify(reply)}`);
  const group = PARTNERS.indexOf(partner);
  reply.results.forEach((result, i) => {
    // `busy` (the idempotency window's budget spent) is an outcome with a
    // sequence like the others: its event must be in the stream too.
    if (!EXPECTED_STATUSES.has(result.status)) throw new Error(`unexpected status ${result.status}`);
    if (result.status === "busy") busy_count++;
    committed.set(`${group}/${result.sequence}`, { id: orders[i]!.id, result });
  });
}

async function submit_batches(base_url: string, per_group: number, committed: Committed)
  : Promise<void> {
  const tasks = Array.from({ length: per_group * PARTNERS.length },
    (_, k) => () => submit_batch(base_url, PARTNERS[k % PARTNERS.length]!, committed));
  await with_concurrency(CONCURRENCY, tasks);
}

// --- /metrics ---

interface PublisherFigures {
  durable: number[];
  shipped: number[];
  lag: number[];
  age_ms: number[];
  failures: number;
  reachable: number;
}

async function figures(base_url: string): Promise<PublisherFigures> {
  const reply = await get(base_url, "/metrics");
  expect(reply.http_status).toBe(200);
  const per_group = (name: string) => Array.from({ length: GROUPS }, (_, g) => {
    const match = new RegExp(`^${name}\\{group="${g}"\\} (\\d+)$`, "m").exec(reply.text);
    if (match === null) throw new Error(`${name} of group ${g} missing from /metrics`);
    return Number(match[1]);
  });
  const single = (name: string) => {
    const match = new RegExp(`^${name} (\\d+)$`, "m").exec(reply.text);
    if (match === null) throw new Error(`${name} missing from /metrics`);
    return Number(match[1]);
  };
  return { durable: per_group("balance_durable_sequence"),
    shipped: per_group("balance_publisher_shipped_sequence"),
    lag: per_group("balance_publisher_lag_events"),
    age_ms: per_group("balance_publisher_oldest_unshipped_age_ms"),
    failures: single("balance_publisher_send_failures_total"),
    reachable: single("balance_publisher_kafka_reachable") };
}

async function wait_for(what: string, done: () => Promise<boolean>): Promise<void> {
  const deadline = performance.now() + WAIT_TIMEOUT_MS;
  while (!(await done())) {
    if (performance.now() > deadline) {
      throw new Error(`timed out after ${WAIT_TIMEOUT_MS} ms waiting for ${what}\n` +
        `${service?.output() ?? ""}`);
    }
    await Bun.sleep(POLL_INTERVAL_MS);
  }
}

async function caught_up(base_url: string): Promise<PublisherFigures> {
  let last: PublisherFigures | null = null;
  await wait_for("the publisher to catch up", async () => {
    last = await figures(base_url);
    return last.reachable === 1 && last.lag.every((lag, g) => lag === 0 && last!.durable[g]! > 0);
  });
  return last!;
}

// --- the topic ---

/** Per partition, every event's (sequence, bytes) in the order read, repeats included. */
async function read_topic(topic: string, through: number[]): Promise<Map<number, Seen[]>> {
  const kafka = new Kafka({ clientId: "outage-test-reader", brokers: [brokers],
    logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `${topic}-check-${Date.now()}` });
  const seen = new Map<number, Seen[]>(Array.from({ length: GROUPS }, (_, g) => [g, []]));
  const problems: string[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ partition, message }) => {
      const decoded = decode_event_record(new Uint8Array(message.value ?? new Uint8Array(0)));
      if (!decoded.ok) return void problems.push(`partition ${partition}: ${decoded.error}`);
      const { record } = decoded;
      if (record.header.group !== partition) problems.push(`group ${record.header.group} on ${partition}`);
      for (let i = 0; i < record.event_count; i++) {
        const at = record.view.byteOffset + event_offset(i);
        seen.get(partition)!.push({ sequence: record.sequence(i), order_id: record.order_id(i),
          balance_after: record.balance_after(i),
          bytes: Buffer.from(record.view.buffer.slice(at, at + EVENT_BYTES)) });
      }
    } });
    await wait_for("the topic to hold every durable event", async () =>
      problems.length > 0 || through.every((s, g) => (seen.get(g)!.at(-1)?.sequence ?? 0) >= s));
  } finally {
    await consumer.disconnect();
  }
  expect(problems).toEqual([]);
  return seen;
}

interface Seen {
  sequence: number;
  order_id: bigint;
  balance_after: number;
  bytes: Buffer;
}

/** No gap, repeats identical, every committed order present with its figures. */
function check_stream(seen: Map<number, Seen[]>, committed: Committed, through: number[])
  : number {
  let repeats = 0;
  for (const [group, events] of seen) {
    const first_of = new Map<number, Seen>();
    let last = 0;
    for (const event of events) {
      if (event.sequence > last) {
        expect(event.sequence).toBe(last + 1);
        last = event.sequence;
        first_of.set(event.sequence, event);
        continue;
      }
      repeats++;
      expect(first_of.get(event.sequence)!.bytes.equals(event.bytes)).toBe(true);
    }
    expect(last).toBeGreaterThanOrEqual(through[group]!);
    for (const [key, sent] of committed) {
      const [g, sequence] = key.split("/").map(Number);
      if (g !== group) continue;
      const event = first_of.get(sequence!);
      expect(event?.order_id).toBe(sent.id);
      expect(String(event?.balance_after)).toBe(sent.result.balance);
    }
  }
  return repeats;
}

/** Snapshots (sequence) and segments (first sequence) of a group's directory. */
function group_files(data_dir: string, group: number): { snapshots: number[]; segments: number[] } {
  const names = readdirSync(join(data_dir, `group-${String(group).padStart(4, "0")}`));
  const numbers = (pattern: RegExp) => names.flatMap((name) => {
    const match = pattern.exec(name);
    return match === null ? [] : [Number(match[1])];
  }).sort((a, b) => a - b);
  return { snapshots: numbers(/^snapshot-(\d{20})\.snap$/),
    segments: numbers(/^segment-(\d{20})\.jrnl$/) };
}

/**
 * Waits (a small batch per group now and then, so snapshots keep coming) until every group has
 * two snapshots past its publisher checkpoint: without the checkpoint rule, segments behind the
 * older of them would be gone.
 */
async function snapshots_past_checkpoints(data_dir: string, committed: Committed)
  : Promise<number[]> {
  const checkpoints = PARTNERS.map((_, g) =>
    read_checkpoint(join(data_dir, `group-${String(g).padStart(4, "0")}`)) ?? 0);
  await wait_for("two snapshots past each checkpoint", async () => {
    const passed = PARTNERS.every((_, g) =>
      group_files(data_dir, g).snapshots.filter((s) => s > checkpoints[g]! + 1).length >= 2);
    if (!passed) await submit_batches(service!.base_url, 1, committed);
    else return true;
    await Bun.sleep(300);
    return false;
  });
  return checkpoints;
}

test("Kafka down: orders commit, the lag grows, segments are kept; back up: the stream catches up", async () => {
  const topic = `outage-${process.pid}-${Date.now().toString(36)}`;
  const committed: Committed = new Map();
  service = await start_service(topic);
  await submit_batches(service.base_url, 2, committed);
  const before = await caught_up(service.base_url);
  expect(before.failures).toBe(0);

  await kafka_script("down");
  await submit_batches(service.base_url, OUTAGE_BATCHES_PER_GROUP / 2, committed);
  const half = await figures(service.base_url);
  await submit_batches(service.base_url, OUTAGE_BATCHES_PER_GROUP / 2, committed);
  await wait_for("the publisher to notice the outage", async () =>
    (await figures(service!.base_url)).reachable === 0);
  const down = await figures(service.base_url);
  for (let g = 0; g < GROUPS; g++) {
    expect(half.lag[g]).toBeGreaterThan(0);
    expect(down.lag[g]).toBeGreaterThan(half.lag[g]!); // the lag grows while Kafka is away
    expect(down.lag[g]).toBe(down.durable[g]! - down.shipped[g]!);
    expect(down.age_ms[g]).toBeGreaterThan(0);
    expect(down.shipped[g]).toBe(before.shipped[g]!);
  }
  expect(down.failures).toBeGreaterThan(0);

  const checkpoints = await snapshots_past_checkpoints(service.data_dir, committed);
  for (let g = 0; g < GROUPS; g++) {
    const { segments } = group_files(service.data_dir, g);
    expect(segments.length).toBeGreaterThanOrEqual(3);
    expect(segments[0]).toBeLessThanOrEqual(checkpoints[g]! + 1); // nothing unshipped deleted
  }

  await kafka_script("up");
  const after = await caught_up(service.base_url);
  const seen = await read_topic(topic, after.durable);
  const repeats = check_stream(seen, committed, after.durable);
  console.log(`outage: ${committed.size} orders, durable per group ${after.durable.join(" ")}, ` +
    `send failures ${after.failures}, repeats ${repeats}, busy ${busy_count}`);
  await service.stop();
  service.remove_data();
  service = null;
}, TEST_TIMEOUT_MS);

/** A client sending batches round after round until stopped (or LOAD_ROUNDS_MAX). */
class Load {
  rounds = 0;
  private stopping = false;
  readonly done: Promise<void>;

  constructor(base_url: string, committed: Committed) {
    this.done = (async () => {
      while (!this.stopping && this.rounds < LOAD_ROUNDS_MAX) {
        await submit_batches(base_url, 1, committed);
        this.rounds++;
      }
    })();
  }

  async until_rounds(count: number): Promise<void> {
    const target = this.rounds + count;
    await wait_for(`${count} more rounds of load`, async () => this.rounds >= target);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.done;
  }
}
const LOAD_ROUNDS_MAX = 5_000;

test("Kafka stopped under load and started again: nothing lost, in order, the lag returns to 0", async () => {
  const topic = `outage-load-${process.pid}-${Date.now().toString(36)}`;
  const committed: Committed = new Map();
  service = await start_service(topic);
  const load = new Load(service.base_url, committed);
  try {
    await load.until_rounds(20);
    await kafka_script("down");
    await load.until_rounds(60);
    const down = await figures(service.base_url);
    for (let g = 0; g < GROUPS; g++) expect(down.lag[g]).toBeGreaterThan(0);
    await kafka_script("up");
    await load.until_rounds(60);
  } finally {
    await load.stop();
  }
  expect(load.rounds).toBeLessThan(LOAD_ROUNDS_MAX);
  const after = await caught_up(service.base_url);
  expect(after.lag).toEqual([0, 0, 0, 0]);
  expect(after.failures).toBeGreaterThan(0);
  const seen = await read_topic(topic, after.durable);
  const repeats = check_stream(seen, committed, after.durable);
  console.log(`under load: ${load.rounds} rounds, ${committed.size} orders, send failures ` +
    `${after.failures}, repeats ${repeats}, busy ${busy_count}`);
  await service.stop();
  service.remove_data();
  service = null;
}, TEST_TIMEOUT_MS);

// Kafka's idempotent producer takes a resent batch for a duplicate by its producer sequence alone
// (kafkajs gives a failed send's sequence to the next one), whatever it carries: the retry of a
// send that was appended must carry the same record, not one read again and grown meanwhile.
const BATCHES_WHILE_CUT = 4;

test("a send appended but its response lost, retried after more orders: no gap, no repeat", async () => {
  const topic = `lost-response-${process.pid}-${Date.now().toString(36)}`;
  const committed: Committed = new Map();
  service = await start_service(topic);
  await submit_batches(service.base_url, 1, committed);
  const before = await caught_up(service.base_url);
  const lost = proxy!.lose_next_produce_response();
  await submit_batch(service.base_url, PARTNERS[0]!, committed); // group 0's next record
  await lost;
  await wait_for("the publisher to give the send up", async () =>
    (await figures(service!.base_url)).reachable === 0);
  for (let k = 0; k < BATCHES_WHILE_CUT; k++) {
    await submit_batch(service.base_url, PARTNERS[0]!, committed);
  }
  proxy!.heal();
  await caught_up(service.base_url);
  // One more record per group after the retried one: a gap shows as a jump before it.
  await submit_batches(service.base_url, 1, committed);
  const after = await caught_up(service.base_url);
  expect(after.failures).toBeGreaterThan(before.failures);
  const seen = await read_topic(topic, after.durable);
  const repeats = check_stream(seen, committed, after.durable);
  expect(repeats).toBe(0); // the appended send, resent as it was, is not appended twice
  await service.stop();
  service.remove_data();
  service = null;
}, TEST_TIMEOUT_MS);
