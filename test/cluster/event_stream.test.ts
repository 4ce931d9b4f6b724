// The event stream across a takeover (docs/cluster.md "The event stream across takeovers"): a
// 2-node cluster with a publisher on each node (KAFKA_BROKERS, a topic of this test's own), the
// projector (in-process) writing a fresh PostgreSQL schema, the SDK's steady load on both groups.
// The primary of group 0 is SIGKILLed; the standby takes over and its publisher resumes from what
// Kafka holds for the partition. After the load stops and everything is published: the
// projection equals the balances per (group, partner, account), the projector never stopped (no
// fence breach), and `bun run reconcile` against the cluster exits 0 (it asks each group's
// primary).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import { Kafka, logLevel } from "kafkajs";
import { start_projector, type Projector } from "../../projector/consumer.ts";
import { broker_list, ensure_services, type Services } from "../../harness/services.ts";
import { account_row, applied_row, fresh_schema, type TestDatabase } from "../projector/support.ts";
import { TestCluster } from "./cluster_support.ts";
import { SERVICES_TIMEOUT_MS } from "./control_support.ts";
import { SteadyLoad } from "./steady_load.ts";

const REPO_ROOT = resolve(import.meta.dir, "..", "..");
const PARTNER_GROUPS = new Map([[7, 0], [8, 1]]);
const ACCOUNT = 1001n;
const LOAD_BEFORE_KILL_MS = 1_500;
const LOAD_AFTER_KILL_MS = 1_500;
const PROJECTED_WAIT_MS_MAX = 60_000;
const POLL_MS = 100;

let services: Services;
let cluster: TestCluster;
let db: TestDatabase;
let projector: Projector | null = null;
let projector_failure: unknown = null;
const topic = `cluster-stream-${process.pid}-${Date.now().toString(36)}`;

function kafka_admin(): ReturnType<Kafka["admin"]> {
  return new Kafka({ clientId: "cluster-stream-test", brokers: broker_list(services),
    logLevel: logLevel.NOTHING }).admin();
}

beforeAll(async () => {
  services = await ensure_services();
  const admin = kafka_admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 2, replicationFactor: 1 }],
    waitForLeaders: true });
  await admin.disconnect();
  db = await fresh_schema("cluster_stream");
  cluster = await TestCluster.start("stream", {
    nodes: 2, groups: 2, replicas: 2, lease_ms: 1_000, group_map: "7:0,8:1",
    env: { KAFKA_BROKERS: services.kafka_brokers, EVENTS_TOPIC: topic },
  });
  projector = await start_projector({ kafka_brokers: services.kafka_brokers,
    database_url: services.database_url, topic, group_id: `${topic}-projector`,
    search_path: db.schema, log: () => {} });
  projector.done.catch((error: unknown) => (projector_failure = error));
}, SERVICES_TIMEOUT_MS);

afterAll(async () => {
  await cluster?.stop();
  await projector?.stop().catch(() => {});
  await db?.drop().catch(() => {});
  const admin = kafka_admin();
  await admin.connect().catch(() => {});
  await admin.deleteTopics({ topics: [topic] }).catch(() => {});
  await admin.disconnect().catch(() => {});
});

/** Per partner, the sum of its answered credits (the balance the engine must hold). */
function expected_balances(load: SteadyLoad): Map<number, bigint> {
  const sums = new Map<number, bigint>([...PARTNER_GROUPS.keys()].map((p) => [p, 0n]));
  for (const sent of load.orders.values()) {
    if (sent.sequence !== null) sums.set(sent.partner, sums.get(sent.partner)! + sent.amount_minor);
  }
  return sums;
}

/** Waits until the projection of every partner's account holds `expected` (or fails). */
async function wait_projected(expected: Map<number, bigint>): Promise<void> {
  const deadline = performance.now() + PROJECTED_WAIT_MS_MAX;
  for (;;) {
    expect(projector_failure).toBeNull();
    const rows = await Promise.all([...PARTNER_GROUPS].map(([partner, group]) =>
      account_row(db.sql, group, ACCOUNT).then((row) => [partner, row] as const)));
    const behind = rows.filter(([partner, row]) =>
      row === undefined || BigInt(row.balance_minor) !== expected.get(partner));
    if (behind.length === 0) return;
    if (performance.now() > deadline) {
      throw new Error(`projection behind: ${JSON.stringify(behind)} expected ` +
        `${[...expected].join(";")}\n${cluster.outputs()}`);
    }
    await Bun.sleep(POLL_MS);
  }
}

async function run_reconcile(url: string, token: string): Promise<{ code: number; out: string }> {
  const child = Bun.spawn([process.execPath, "run", "reconcile", "--url", url, "--json",
    "--wait-ms", String(PROJECTED_WAIT_MS_MAX)], {
    cwd: REPO_ROOT,
    env: { ...process.env, DATABASE_URL: services.database_url, DATABASE_SCHEMA: db.schema,
      RECONCILE_TOKEN: token },
    stdin: "ignore", stdout: "pipe", stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(),
    new Response(child.stderr).text(), child.exited]);
  return { code, out: `${stdout}\n${stderr}` };
}

describe("the event stream across a takeover", () => {
  test("SIGKILL of a primary: the successor publishes from what Kafka holds; projection and " +
    "reconcile agree with the balances", async () => {
    const load = new SteadyLoad(cluster, PARTNER_GROUPS);
    await load.start();
    await cluster.wait_in_sync(0);
    await Bun.sleep(LOAD_BEFORE_KILL_MS);
    const primary = await cluster.leader_of(0);
    await cluster.kill(primary);
    const successor = await cluster.leader_of(0, primary);
    expect(successor).not.toBe(primary);
    const killed_at_ms = performance.now();
    await cluster.until("group 0 answers after the kill",
      () => load.first_answer_after(0, killed_at_ms) !== null);
    await Bun.sleep(LOAD_AFTER_KILL_MS);
    await cluster.start_node(primary); // it rejoins as a standby
    await load.stop();
    await load.check();
    const token = cluster.node(successor).internal_token!;
    load.close();
    await wait_projected(expected_balances(load));
    // Events of both epochs of group 0 reached the projection, in order, with no fence breach.
    const applied = await applied_row(db.sql, 0);
    expect(applied!.epoch).toBeGreaterThan(1);
    expect(projector_failure).toBeNull();
    // Reconcile asks the restarted node (it leads no group now: 421) and follows the map.
    const reconciled = await run_reconcile(cluster.node(primary).base_url, token);
    expect(reconciled.out).toContain('"ok":true');
    expect(reconciled.code).toBe(0);
  }, 300_000);
});
