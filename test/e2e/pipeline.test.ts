// End to end, every piece real and in its own process where it runs so in production: orders
// through the typed SDK over TCP -> the service (engine, journal) -> the publisher -> Kafka -> the
// projector (`bun projector/main.ts`) -> PostgreSQL. Afterwards PostgreSQL equals the engine
// exactly: account for account, open hold for open hold, every order's status and sequence; the
// projector's read API answers the same; `bun run reconcile` agrees (exit 0).

import { afterAll, beforeAll, expect, test } from "bun:test";
import { Prng } from "../../common/prng.ts";
import { BalanceClient } from "../../sdk/index.ts";
import type { OrderResult } from "../../sdk/types.ts";
import {
  fresh_schema, key_of, SERVICES_TIMEOUT_MS, u64_text, type TestDatabase,
} from "../projector/support.ts";
import { read_account } from "../../harness/http_client.ts";
import { free_port, ServiceProcess } from "../../harness/service_process.ts";
import { ensure_services, type Services } from "../../harness/services.ts";
import { token_for } from "../sdk/service.ts";
import { ProjectorRun, projector_env, run_reconcile, wait_for_projection } from "./support.ts";

const TEST_TIMEOUT_MS = 240_000;
const WAIT_TIMEOUT_MS = 90_000;
const EUR = 978;
const GROUPS = 4;
const PARTNERS = [51, 52, 53, 54, 55];
const ACCOUNTS_PER_PARTNER = 8;
const ORDERS = 3_000;
const ORDERS_PER_WAVE = 250;

let services: Services;
let database: TestDatabase;
let service: ServiceProcess;
let projector: ProjectorRun | null = null;
const clients: BalanceClient[] = [];
const topic = `e2e-${process.pid}-${Date.now().toString(36)}`;

beforeAll(async () => {
  services = await ensure_services();
  database = await fresh_schema("e2e", false); // the projector process migrates it
}, SERVICES_TIMEOUT_MS);

afterAll(async () => {
  for (const client of clients) client.close();
  await projector?.kill();
  service?.kill_now();
  await database?.drop();
}, 30_000);

const projection_env = () => projector_env(services, database.schema, topic, service.data_dir);

interface Sent {
  partner: number;
  result: OrderResult;
}

/** A seeded mix of every client op over a few accounts per partner; holds tracked to settle. */
async function trade(seed: number): Promise<Sent[]> {
  const random = new Prng(seed);
  const sent: Sent[] = [];
  const open_holds = new Map<number, { id: bigint; account: bigint }[]>(
    PARTNERS.map((p) => [p, []]));
  const account = (p: number) => BigInt(p * 100 + random.int_below(ACCOUNTS_PER_PARTNER));
  for (let wave = 0; wave < ORDERS / ORDERS_PER_WAVE; wave++) {
    const calls: Promise<Sent>[] = [];
    for (let n = 0; n < ORDERS_PER_WAVE; n++) {
      const index = random.int_below(PARTNERS.length);
      const p = PARTNERS[index]!;
      const client = clients[index]!;
      const amount = BigInt(1 + random.int_below(400));
      const roll = random.int_below(100);
      const holds = open_holds.get(p)!;
      let call: Promise<OrderResult>;
      if (roll < 35) call = client.credit({ account: account(p), amount, currency: EUR });
      else if (roll < 55) call = client.debit({ account: account(p), amount, currency: EUR });
      else if (roll < 62) call = client.check({ account: account(p), amount, currency: EUR });
      else if (roll < 75) {
        const on = account(p);
        call = client.hold({ account: on, amount, currency: EUR, hold_timeout_ms: 3_600_000 });
        void call.then((r) => { if (r.ok) holds.push({ id: r.id, account: on }); });
      } else if (roll < 83 && holds.length > 0) {
        const hold = holds.splice(random.int_below(holds.length), 1)[0]!;
        call = client.capture({ account: hold.account, hold: hold.id, amount: 1n, currency: EUR });
      } else if (roll < 88 && holds.length > 0) {
        const hold = holds.splice(random.int_below(holds.length), 1)[0]!;
        call = client.release({ account: hold.account, hold: hold.id, currency: EUR });
      } else call = client.transfer({ account: account(p), to: account(p), amount, currency: EUR });
      calls.push(call.then((result) => ({ partner: p, result })));
    }
    sent.push(...await Promise.all(calls));
  }
  return sent;
}

test("orders via the SDK reach PostgreSQL through Kafka exactly; reconcile agrees", async () => {
  service = await ServiceProcess.start({ env: { KAFKA_BROKERS: services.kafka_brokers,
    EVENTS_TOPIC: topic, GROUPS: String(GROUPS), TCP_PORT: String(free_port()) } });
  const url = `tcp://127.0.0.1:${service.env.TCP_PORT}`;
  const internal = await token_for(service, { internal: true });
  for (const p of PARTNERS) {
    clients.push(await BalanceClient.connect({ url, token: internal, partner: p }));
  }
  for (const [i, p] of PARTNERS.entries()) {
    for (let n = 0; n < ACCOUNTS_PER_PARTNER; n++) {
      const opened = await clients[i]!.open_account({ account: BigInt(p * 100 + n), kind: "user",
        currency: EUR, overdraft_limit: n === 0 ? 1_000n : 0n });
      expect(opened.status_name).toBe("ok");
    }
  }
  const sent = await trade(20261125);
  const statuses = new Set(sent.map((s) => s.result.status_name));
  expect(statuses.has("ok") && statuses.has("insufficient_funds")).toBe(true);

  const projector_port = free_port();
  projector = await ProjectorRun.start(projection_env(), projector_port);
  await wait_for_projection(database.sql, service.base_url, GROUPS, WAIT_TIMEOUT_MS,
    () => projector!.output());

  // Every account: PostgreSQL's row equals the engine's answer.
  for (const p of PARTNERS) {
    for (let n = 0; n < ACCOUNTS_PER_PARTNER; n++) {
      const id = BigInt(p * 100 + n);
      const engine = (await read_account(service.base_url, p, id))!;
      const [row] = await database.sql`
        select balance_minor::text as balance, held_minor::text as held,
        available_minor::text as available, overdraft_limit_minor::text as overdraft_limit,
        last_sequence::text as sequence, partner::int as partner
        from accounts where account_id = ${key_of(id)}::bigint`;
      expect(row).toEqual({ balance: engine.balance, held: engine.held, available: engine.available,
        overdraft_limit: engine.overdraft_limit, sequence: engine.sequence, partner: p });
      // Hold for hold: the open holds add up to what the engine holds.
      const [sum] = await database.sql`
        select coalesce(sum(amount_minor), 0)::text as held from holds
        where account_id = ${key_of(id)}::bigint and state = 1`;
      expect(sum!.held).toBe(engine.held);
    }
  }
  // Every order's status and sequence, as the SDK was answered.
  const rows = await database.sql`select partner::int as partner,
    ${u64_text(database.sql, "order_id", "id")}, status, sequence::text as sequence from orders
    where order_id <> ${key_of(0n)}::bigint`;
  const projected = new Map(rows.map((row) => [`${row.partner}/${row.id}`, row]));
  for (const { partner, result } of sent) {
    expect(projected.get(`${partner}/${result.id}`)).toEqual({ partner, id: result.id.toString(),
      status: result.status, sequence: result.sequence.toString() });
  }
  // The projector's read API tells the same story.
  const sample = sent[sent.length - 1]!;
  const order_url =
    `http://127.0.0.1:${projector_port}/orders/${sample.partner}/${sample.result.id}`;
  const reply = await fetch(order_url, { headers: { authorization: `Bearer ${internal}` } });
  expect(reply.status).toBe(200);
  const order = await reply.json() as { status: string; sequence: string };
  expect([order.status, order.sequence])
    .toEqual([sample.result.status_name, sample.result.sequence.toString()]);

  const reconcile = await run_reconcile(service.base_url, internal, services.database_url,
    database.schema);
  if (reconcile.exit_code !== 0) {
    throw new Error(`reconcile exited ${reconcile.exit_code}:\n${reconcile.stdout}\n` +
      reconcile.stderr);
  }
  expect(reconcile.stdout).toContain(`"differences":[]`);
}, TEST_TIMEOUT_MS);
