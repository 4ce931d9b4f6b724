// The publisher and the projector killed mid-stream (docs/design.md sections 4-5): orders flow from
// SDK clients without pause while, at seeded random moments, the projector process, the service
// process (the publisher is one of its workers) or both are killed with SIGKILL and started again.
// At the end PostgreSQL equals the engine exactly (reconcile exits 0), and every group's events
// are projected once each: sequences 1..S, no gap, no duplicate.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { Prng } from "../../common/prng.ts";
import { BalanceClient } from "../../sdk/index.ts";
import { token_for } from "../sdk/service.ts";
import {
  fresh_schema, key_of, SERVICES_TIMEOUT_MS, type TestDatabase,
} from "../projector/support.ts";
import { read_account } from "../../harness/http_client.ts";
import { free_port, ServiceProcess } from "../../harness/service_process.ts";
import { ensure_services, type Services } from "../../harness/services.ts";
import { ProjectorRun, projector_env, run_reconcile, wait_for_projection } from "./support.ts";

const TEST_TIMEOUT_MS = 300_000;
const WAIT_TIMEOUT_MS = 120_000;
const SEED = Number(process.env.KILL_TEST_SEED ?? Date.now() % 1_000_000);
const EUR = 978;
const GROUPS = 4;
const PARTNERS = [61, 62, 63, 64];
const ACCOUNTS_PER_PARTNER = 6;
const CALLS_IN_FLIGHT = 64;
const KILLS = ["projector", "service", "both"] as const;
const KILL_AFTER_MS_MIN = 300;
const KILL_AFTER_MS_SPREAD = 900;

let services: Services;
let database: TestDatabase;
let service: ServiceProcess;
let projector: ProjectorRun | null = null;
let client: BalanceClient | null = null;
const topic = `e2e-kill-${process.pid}-${Date.now().toString(36)}`;

beforeAll(async () => {
  services = await ensure_services();
  database = await fresh_schema("e2e_kill", false);
}, SERVICES_TIMEOUT_MS);

afterAll(async () => {
  client?.close();
  await projector?.kill();
  service?.kill_now();
  await database?.drop();
}, 30_000);

const projection_env = () => projector_env(services, database.schema, topic, service.data_dir);

/** Credits, debits and transfers from one client until `stop` is set; outcomes are the engine's. */
async function order_flow(random: Prng, stop: { now: boolean }): Promise<number> {
  let answered = 0;
  const account = (p: number) => BigInt(p * 100 + random.int_below(ACCOUNTS_PER_PARTNER));
  const one = async (): Promise<void> => {
    while (!stop.now) {
      const p = PARTNERS[random.int_below(PARTNERS.length)]!;
      const amount = BigInt(1 + random.int_below(300));
      const roll = random.int_below(10);
      const c = client!;
      const call = roll < 5 ? c.credit({ partner: p, account: account(p), amount, currency: EUR })
        : roll < 8 ? c.debit({ partner: p, account: account(p), amount, currency: EUR })
        : c.transfer({ partner: p, account: account(p), to: account(p), amount, currency: EUR });
      // A call cut by a kill has an unknown outcome: the engine's state is the truth checked below.
      await call.then(() => answered++, () => Bun.sleep(50));
    }
  };
  await Promise.all(Array.from({ length: CALLS_IN_FLIGHT }, one));
  return answered;
}

test(`SIGKILL of the publisher and the projector mid-stream: PostgreSQL ends exact (seed ${SEED})`,
  async () => {
    const random = new Prng(SEED);
    const tcp_port = free_port();
    service = await ServiceProcess.start({ env: { KAFKA_BROKERS: services.kafka_brokers,
      EVENTS_TOPIC: topic, GROUPS: String(GROUPS), TCP_PORT: String(tcp_port) } });
    const internal = await token_for(service, { internal: true });
    client = await BalanceClient.connect({ url: `tcp://127.0.0.1:${tcp_port}`, token: internal,
      partner: PARTNERS[0]! });
    for (const p of PARTNERS) {
      for (let n = 0; n < ACCOUNTS_PER_PARTNER; n++) {
        const opened = await client.open_account({ partner: p, account: BigInt(p * 100 + n),
          kind: "user", currency: EUR });
        expect(opened.status_name).toBe("ok");
      }
    }
    const projector_port = free_port();
    projector = await ProjectorRun.start(projection_env(), projector_port);
    const stop = { now: false };
    const flow = order_flow(random, stop);
    for (const victim of KILLS) {
      await Bun.sleep(KILL_AFTER_MS_MIN + random.int_below(KILL_AFTER_MS_SPREAD));
      if (victim !== "service") await projector.kill();
      if (victim !== "projector") {
        service.kill_now();
        await service.exited;
        service = await service.restart({ env: { TCP_PORT: String(tcp_port) } });
      }
      if (victim !== "service") {
        projector = await ProjectorRun.start(projection_env(), projector_port);
      }
    }
    await Bun.sleep(KILL_AFTER_MS_MIN);
    stop.now = true;
    expect(await flow).toBeGreaterThan(0);

    const durable = await wait_for_projection(database.sql, service.base_url, GROUPS,
      WAIT_TIMEOUT_MS, () => projector!.output());
    // Each group's events projected once: 1..S, nothing missing, nothing twice.
    const counts = await database.sql`select group_id, count(*)::float8 as events,
      count(distinct sequence)::float8 as distinct_events, min(sequence)::float8 as first,
      max(sequence)::float8 as last from orders group by group_id order by group_id`;
    for (const row of counts) {
      const s = durable[row.group_id as number]!;
      expect([row.events, row.distinct_events, row.first, row.last]).toEqual([s, s, 1, s]);
    }
    for (const p of PARTNERS) {
      for (let n = 0; n < ACCOUNTS_PER_PARTNER; n++) {
        const id = BigInt(p * 100 + n);
        const engine = (await read_account(service.base_url, p, id))!;
        const [row] = await database.sql`select balance_minor::text as balance,
          last_sequence::text as sequence from accounts
          where account_id = ${key_of(id)}::bigint`;
        expect(row).toEqual({ balance: engine.balance, sequence: engine.sequence });
      }
    }
    const token = await token_for(service, { internal: true });
    const reconcile = await run_reconcile(service.base_url, token, services.database_url,
      database.schema);
    if (reconcile.exit_code !== 0) {
      throw new Error(`reconcile exited ${reconcile.exit_code}:\n${reconcile.stdout}\n` +
        reconcile.stderr);
    }
  }, TEST_TIMEOUT_MS);
