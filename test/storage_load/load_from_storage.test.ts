// Loading from storage (docs/design.md section 5), for real: a service with a publisher and a
// projector on the real Kafka and PostgreSQL takes orders; the projector is stopped part-way, so
// PostgreSQL holds less than Kafka; the node is killed and its data directory thrown away. A new
// node on an empty data directory loads every group from PostgreSQL + Kafka before it serves and
// continues exactly: the same figures, recent order ids still recognised (replayed, with their
// original result), holds restored (open ones capturable, settled ones answered hold_settled), new
// orders applied; the projector then follows the new node's events; a restart of the new node
// recovers from the snapshot the load wrote.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { group_dir } from "../../journal/segment_names.ts";
import { read_checkpoint } from "../../journal/publisher_checkpoint.ts";
import { start_projector, type Projector } from "../../projector/consumer.ts";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import { OrderIdGenerator } from "../../schema/order_id.ts";
import { fresh_schema, key_of, type TestDatabase } from "../projector/support.ts";
import {
  batch_json, open_account, post_json_batch, read_account, type Result, type TestOrder,
} from "../../harness/http_client.ts";
import { ServiceProcess, temp_data_dir } from "../../harness/service_process.ts";
import { ensure_services, type Services } from "../../harness/services.ts";
import { durable_sequences } from "../e2e/support.ts";

const SERVICES_TIMEOUT_MS = 600_000;
const TEST_TIMEOUT_MS = 180_000;
const WAIT_TIMEOUT_MS = 60_000;
const POLL_MS = 50;
const EUR = 978;
const GROUPS = 4;
// Partner 31 + g lives in group g.
const PARTNERS = [31, 32, 33, 34];
const ACCOUNTS_PER_PARTNER = 4;
const HOLD_TIMEOUT_MS = 3_600_000; // never expires during the test
const WINDOW_MS = 300_000; // every id of the test stays in the window

let services: Services;
let database: TestDatabase;
const topic = `load-test-${process.pid}-${Date.now().toString(36)}`;
const projector_group = `${topic}-projector`;
let projector: Projector | null = null;
const started: ServiceProcess[] = [];
const ids = new OrderIdGenerator();

beforeAll(async () => {
  services = await ensure_services();
  database = await fresh_schema("load");
}, SERVICES_TIMEOUT_MS);

afterAll(async () => {
  for (const service of started) service.kill_now();
  await projector?.stop().catch(() => {});
  await database?.drop();
}, 30_000);

function service_env(): Record<string, string> {
  return {
    KAFKA_BROKERS: services.kafka_brokers, EVENTS_TOPIC: topic,
    DATABASE_URL: services.database_url, DATABASE_SCHEMA: database.schema,
    GROUPS: String(GROUPS), GROUP_MAP: PARTNERS.map((p, g) => `${p}:${g}`).join(","),
    IDEMPOTENCY_WINDOW_MS: String(WINDOW_MS),
  };
}

async function start_service(data_dir: string): Promise<ServiceProcess> {
  const service = await ServiceProcess.start({ data_dir, env: service_env() });
  started.push(service);
  return service;
}

async function start_projection(): Promise<void> {
  projector = await start_projector({
    kafka_brokers: services.kafka_brokers, database_url: services.database_url, topic,
    group_id: projector_group, search_path: database.schema, log: () => {},
  });
}

function account_of(partner: number, n: number): bigint {
  return BigInt(partner) * 1000n + BigInt(n);
}

function order(partner: number, n: number, op: Op, amount: bigint, ref?: bigint): TestOrder {
  return { id: ids.next(), op, partner, account: account_of(partner, n), amount, currency: EUR,
    ref };
}

async function submit(base_url: string, orders: TestOrder[]): Promise<Result[]> {
  const reply = await post_json_batch(base_url, batch_json(orders));
  if (reply.kind !== "results") throw new Error(`batch refused: ${JSON.stringify(reply)}`);
  return reply.results;
}

/** What each partner's batches did, to resend and to continue from. */
interface Round {
  batches: { orders: TestOrder[]; results: Result[] }[];
  /** Per partner: an open hold, and one already released. */
  open_hold: Map<number, bigint>;
  released_hold: Map<number, bigint>;
}

/** Credits, debits (some refused), holds, a capture, a release and a transfer per partner. */
async function trade(base_url: string): Promise<Round> {
  const round: Round = { batches: [], open_hold: new Map(), released_hold: new Map() };
  for (const p of PARTNERS) {
    const open = order(p, 1, Op.hold, 40n, BigInt(HOLD_TIMEOUT_MS));
    const to_release = order(p, 2, Op.hold, 15n);
    const to_capture = order(p, 0, Op.hold, 30n, BigInt(HOLD_TIMEOUT_MS));
    const first = [
      order(p, 0, Op.credit, 1_000n), order(p, 1, Op.credit, 500n), order(p, 2, Op.credit, 70n),
      order(p, 3, Op.debit, 5n), // refused: insufficient funds
      open, to_release, to_capture,
      order(p, 0, Op.transfer, 125n, account_of(p, 3)),
    ];
    const second = [
      order(p, 0, Op.capture, 20n, to_capture.id), order(p, 2, Op.release, 0n, to_release.id),
      order(p, 1, Op.debit, 60n), order(p, 3, Op.check, 100n),
    ];
    for (const orders of [first, second]) {
      round.batches.push({ orders, results: await submit(base_url, orders) });
    }
    round.open_hold.set(p, open.id);
    round.released_hold.set(p, to_release.id);
  }
  return round;
}

function checkpoint(data_dir: string, group: number): number {
  return read_checkpoint(group_dir(data_dir, group)) ?? -1;
}

async function applied_sequences(): Promise<number[]> {
  const rows = await database.sql`
    select group_id, sequence::float8 as sequence from applied_sequence`;
  const out: number[] = new Array(GROUPS).fill(0);
  for (const row of rows) out[row.group_id as number] = row.sequence as number;
  return out;
}

async function wait_until(what: string, done: () => Promise<boolean>): Promise<void> {
  const deadline = performance.now() + WAIT_TIMEOUT_MS;
  while (!(await done())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(POLL_MS);
  }
}

async function figures(base_url: string): Promise<Map<string, unknown>> {
  const out = new Map<string, unknown>();
  for (const p of PARTNERS) {
    for (let n = 0; n < ACCOUNTS_PER_PARTNER; n++) {
      out.set(`${p}/${n}`, await read_account(base_url, p, account_of(p, n)));
    }
  }
  return out;
}

test("a node with an empty data directory loads from PostgreSQL + Kafka and continues exactly",
  async () => {
    // The first node: an ordinary first start (storage is empty), orders, a projector behind it.
    const first = await start_service(temp_data_dir("load-first"));
    expect(first.output()).not.toContain("loaded from storage");
    for (const p of PARTNERS) {
      for (let n = 0; n < ACCOUNTS_PER_PARTNER; n++) {
        await open_account(first.base_url, p, account_of(p, n), EUR);
      }
    }
    const projected_round = await trade(first.base_url);
    const shipped_1 = await durable_sequences(first.base_url, GROUPS);
    await wait_until("the publisher to ship round one", async () =>
      shipped_1.every((s, g) => checkpoint(first.data_dir, g) === s));
    await start_projection();
    const durable_1 = await durable_sequences(first.base_url, GROUPS);
    await wait_until("the projector to apply round one", async () =>
      (await applied_sequences()).every((s, g) => s === durable_1[g]));
    await projector!.stop();
    projector = null;
    // Round two reaches Kafka but not PostgreSQL.
    const kafka_round = await trade(first.base_url);
    const durable_2 = await durable_sequences(first.base_url, GROUPS);
    await wait_until("the publisher to ship round two", async () =>
      durable_2.every((s, g) => checkpoint(first.data_dir, g) === s));
    expect((await applied_sequences()).every((s, g) => s < durable_2[g]!)).toBe(true);
    const before = await figures(first.base_url);
    first.kill_now();
    await first.exited;
    rmSync(first.data_dir, { recursive: true, force: true });

    // The second node: no local state at all.
    const second = await start_service(temp_data_dir("load-second"));
    for (let g = 0; g < GROUPS; g++) {
      expect(second.output()).toContain(
        `group ${g}: loaded from storage at sequence ${durable_2[g]} ` +
        `(PostgreSQL ${durable_1[g]}, ${durable_2[g]! - durable_1[g]!} events replayed from Kafka`);
    }
    expect(await durable_sequences(second.base_url, GROUPS)).toEqual(durable_2);
    expect(await figures(second.base_url)).toEqual(before);

    // Recent ids from both rounds are recognised: the original result, flagged replayed.
    for (const { orders, results } of [...projected_round.batches, ...kafka_round.batches]) {
      const again = await submit(second.base_url, orders);
      expect(again).toEqual(results.map((r) => ({ ...r, replayed: true })));
    }
    // The same id with another payload is a conflict, not a new order.
    const reused = kafka_round.batches[0]!.orders[0]!;
    const [conflict] = await submit(second.base_url, [{ ...reused, amount: reused.amount + 1n }]);
    expect(conflict!.status).toBe("id_conflict");
    expect(await figures(second.base_url)).toEqual(before);

    // Holds came back: open ones (from PostgreSQL and from Kafka) capture, settled ones say so.
    for (const p of PARTNERS) {
      const durable_before = (await durable_sequences(second.base_url, GROUPS))[PARTNERS.indexOf(p)]!;
      const results = await submit(second.base_url, [
        order(p, 1, Op.capture, 40n, projected_round.open_hold.get(p)),
        order(p, 1, Op.release, 0n, kafka_round.open_hold.get(p)),
        order(p, 2, Op.release, 0n, projected_round.released_hold.get(p)),
        order(p, 0, Op.credit, 1n),
      ]);
      expect(results.map((r) => r.status)).toEqual(["ok", "ok", "hold_settled", "ok"]);
      const account_0 = before.get(`${p}/0`) as { balance: string };
      expect(results[3]!.balance).toBe(String(Number(account_0.balance) + 1));
      // A new order takes the next sequence after the loaded ones.
      expect(Number(results[0]!.sequence)).toBe(durable_before + 1);
    }

    // The projector follows the new node (its events carry the next epoch) to the same figures.
    await start_projection();
    const durable_3 = await durable_sequences(second.base_url, GROUPS);
    await wait_until("the projector to apply the new node's events", async () =>
      (await applied_sequences()).every((s, g) => s === durable_3[g]));
    const after = await figures(second.base_url);
    for (const p of PARTNERS) {
      for (let n = 0; n < ACCOUNTS_PER_PARTNER; n++) {
        const engine = after.get(`${p}/${n}`) as { balance: string; held: string };
        const [row] = await database.sql`
          select balance_minor::text as balance, held_minor::text as held
          from accounts where account_id = ${key_of(account_of(p, n))}::bigint`;
        expect({ balance: row!.balance, held: row!.held })
          .toEqual({ balance: engine.balance, held: engine.held });
      }
    }

    // A restart of the new node recovers from the snapshot the load wrote, plus its journal.
    second.kill_now();
    await second.exited;
    const third = await second.restart();
    started.push(third);
    expect(third.output()).not.toContain("loaded from storage");
    expect(await figures(third.base_url)).toEqual(after);
    expect(await durable_sequences(third.base_url, GROUPS)).toEqual(durable_3);
  }, TEST_TIMEOUT_MS);
