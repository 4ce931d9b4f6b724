// `bun run reconcile` against the real pipeline: a real service process with a publisher
// (KAFKA_BROKERS, a topic of this test's own), the projector (start_projector, in-process) writing
// a fresh PostgreSQL schema, orders over HTTP in every group: credits, debits, transfers, holds
// captured, released, expired and left open, a freeze, a close, and rejections. Then reconcile runs
// as a process: exit 0, no difference, every account and open hold compared. The admin route
// refuses partner tokens (403) and bad groups (400/404); concurrent captures are bounded (503 with
// retry-after) and leave the snapshots the journal writes intact (a SIGKILL and restart recovers
// from them, and reconcile still agrees). Under live traffic, rows PostgreSQL has moved past the
// captured sequence are counted as moved on, never as different. Then PostgreSQL is tampered with
// (a balance, a deleted account, a hold's amount): exit 1 with exactly those differences. And exit
// 2 when it cannot run.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import { Kafka, logLevel } from "kafkajs";
import { NodeFileLayer } from "../../journal/file_layer.ts";
import { peek_newest_snapshot } from "../../journal/snapshot_file.ts";
import { group_dir } from "../../journal/segment_names.ts";
import { start_projector, type Projector } from "../../projector/consumer.ts";
import { decode_engine_state } from "../../reconcile/engine_state.ts";
import type { ReportJson } from "../../reconcile/report.ts";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import { OrderIdGenerator } from "../../schema/order_id.ts";
import { mint_token } from "../../auth/dev_keys.ts";
import { load_auth_options } from "../../auth/options.ts";
import {
  batch_json, get, post, post_json_batch, read_account, type TestOrder,
} from "../../harness/http_client.ts";
import { free_port, ServiceProcess } from "../../harness/service_process.ts";
import { broker_list, ensure_services, type Services } from "../../harness/services.ts";
import {
  fresh_schema, key_of, SERVICES_TIMEOUT_MS, type TestDatabase,
} from "../projector/support.ts";

const REPO_ROOT = resolve(import.meta.dir, "..", "..");
const TEST_TIMEOUT_MS = 180_000;
const AFTER_ALL_TIMEOUT_MS = 30_000;
/** reconcile's own bound on waiting for the projector. */
const RECONCILE_WAIT_MS = 60_000;
const POLL_INTERVAL_MS = 50;
const POLL_TIMEOUT_MS = 30_000;
const GROUPS = 4;
const EUR = 978;
// Partner p is pinned to group p - 11.
const PARTNERS = [11, 12, 13, 14];
const HOLD_TIMEOUT_LONG_MS = 3_600_000n;
const CONCURRENT_CAPTURES = 4;
/** Live traffic stops when reconcile is done, or after this many batches. */
const LIVE_BATCHES_MAX = 2_000;

let services: Services;
let db: TestDatabase;
let service: ServiceProcess;
let projector: Projector | null = null;
const topic = `reconcile-test-${process.pid}-${Date.now().toString(36)}`;
const ids = new OrderIdGenerator();

/** What the scenario left per partner: account ids and the open holds (id, account, amount). */
interface PartnerState {
  accounts: bigint[];
  open_holds: { id: bigint; account: bigint; amount: bigint }[];
}
const states = new Map<number, PartnerState>();

beforeAll(async () => {
  services = await ensure_services();
  const kafka = new Kafka({ clientId: "reconcile-test", brokers: broker_list(services),
    logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: GROUPS, replicationFactor: 1 }],
    waitForLeaders: true });
  await admin.disconnect();
  db = await fresh_schema("reconcile");
  service = await ServiceProcess.start({ env: {
    KAFKA_BROKERS: services.kafka_brokers, EVENTS_TOPIC: topic, GROUPS: String(GROUPS),
    GROUP_MAP: PARTNERS.map((p, g) => `${p}:${g}`).join(","),
  } });
  projector = await start_projector({ kafka_brokers: services.kafka_brokers,
    database_url: services.database_url, topic, group_id: `${topic}-projector`,
    search_path: db.schema, log: () => {} });
}, SERVICES_TIMEOUT_MS);

afterAll(async () => {
  service?.kill_now();
  await projector?.stop().catch(() => {});
  await db?.drop().catch(() => {});
  const kafka = new Kafka({ clientId: "reconcile-test", brokers: broker_list(services),
    logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect().catch(() => {});
  await admin.deleteTopics({ topics: [topic] }).catch(() => {});
  await admin.disconnect().catch(() => {});
}, AFTER_ALL_TIMEOUT_MS);

// --- the service side ----------------------------------------------------------------------------

async function open(partner: number, account: bigint, overdraft_limit = 0): Promise<void> {
  const reply = await post(service.base_url, `/v1/partners/${partner}/accounts`,
    JSON.stringify({ account: account.toString(), kind: "user", currency: EUR,
      overdraft_limit: String(overdraft_limit) }), { "content-type": "application/json" });
  expect(reply.kind === "other" && reply.http_status === 200 && reply.body.includes('"ok"'))
    .toBe(true);
}

async function admin_action(partner: number, account: bigint, action: string): Promise<string> {
  const path = `/v1/partners/${partner}/accounts/${account}/${action}`;
  const reply = await post(service.base_url, path, "{}", { "content-type": "application/json" });
  if (reply.kind !== "other") throw new Error(`${action}: ${JSON.stringify(reply)}`);
  return (JSON.parse(reply.body) as { status: string }).status;
}

/** Sends one batch and checks each order's status. */
async function batch(orders: Omit<TestOrder, "id" | "currency">[], statuses: string[])
  : Promise<bigint[]> {
  const full = orders.map((order) => ({ ...order, id: ids.next(), currency: EUR }));
  const reply = await post_json_batch(service.base_url, batch_json(full));
  if (reply.kind !== "results") throw new Error(`batch refused: ${JSON.stringify(reply)}`);
  expect(reply.results.map((r) => r.status)).toEqual(statuses);
  return full.map((order) => order.id);
}

/** One partner's life: every kind of order, rejections included; returns what stays. */
async function run_partner(partner: number): Promise<PartnerState> {
  const [a, b, c, d] = [1n, 2n, 3n, 4n].map((n) => BigInt(partner * 1000) + n) as
    [bigint, bigint, bigint, bigint];
  const other = BigInt(PARTNERS[(PARTNERS.indexOf(partner) + 1) % PARTNERS.length]! * 1000 + 1);
  await open(partner, a, 100);
  for (const account of [b, c, d]) await open(partner, account);
  const p = partner;
  const [, , , , h1, h2, h3, , h5] = await batch([
    { op: Op.credit, partner: p, account: a, amount: 1_000n },
    { op: Op.credit, partner: p, account: b, amount: 500n },
    { op: Op.debit, partner: p, account: a, amount: 2_000n },
    { op: Op.transfer, partner: p, account: a, amount: 300n, ref: b },
    { op: Op.hold, partner: p, account: a, amount: 200n, ref: HOLD_TIMEOUT_LONG_MS },
    { op: Op.hold, partner: p, account: b, amount: 100n }, // no timeout
    { op: Op.hold, partner: p, account: a, amount: 50n, ref: HOLD_TIMEOUT_LONG_MS },
    { op: Op.hold, partner: p, account: b, amount: 20n, ref: 1n }, // expires at the next tick
    { op: Op.hold, partner: p, account: a, amount: 30n, ref: HOLD_TIMEOUT_LONG_MS },
  ], ["ok", "ok", "insufficient_funds", "ok", "ok", "ok", "ok", "ok", "ok"]);
  await batch([
    { op: Op.capture, partner: p, account: a, amount: 150n, ref: h1! },
    { op: Op.release, partner: p, account: a, amount: 0n, ref: h3! },
    { op: Op.credit, partner: p, account: d, amount: 10n },
    { op: Op.capture, partner: p, account: a, amount: 10n, ref: h1! },
  ], ["ok", "ok", "ok", "hold_settled"]);
  expect(await admin_action(p, d, "freeze")).toBe("ok");
  expect(await admin_action(p, c, "close")).toBe("ok");
  expect(await admin_action(p, b, "close")).toBe("account_not_empty");
  await batch([
    { op: Op.debit, partner: p, account: d, amount: 5n },
    { op: Op.credit, partner: p, account: c, amount: 5n },
    { op: Op.transfer, partner: p, account: a, amount: 1n, ref: other },
    { op: Op.check, partner: p, account: a, amount: 10n },
  ], ["account_frozen", "account_closed", "account_not_found", "ok"]);
  // The 1 ms hold expires on an engine tick: wait until b holds only h2.
  await poll_until(`hold expiry of partner ${p}`, async () =>
    (await read_account(service.base_url, p, b))?.held === "100");
  return { accounts: [a, b, c, d], open_holds: [
    { id: h2!, account: b, amount: 100n }, { id: h5!, account: a, amount: 30n },
  ] };
}

async function poll_until(what: string, done: () => Promise<boolean>): Promise<void> {
  const deadline = performance.now() + POLL_TIMEOUT_MS;
  while (!(await done())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(POLL_INTERVAL_MS);
  }
}

// --- reconcile as a process ----------------------------------------------------------------------

interface Run {
  exit_code: number;
  json: ReportJson & { error?: string };
  stderr: string;
}

async function run_reconcile(options: { url?: string; token?: string; schema?: string;
  args?: string[] } = {}): Promise<Run> {
  const args = ["--url", options.url ?? service.base_url, "--json",
    "--wait-ms", String(RECONCILE_WAIT_MS), ...(options.args ?? [])];
  const child = Bun.spawn([process.execPath, "run", "reconcile", ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, DATABASE_URL: services.database_url,
      DATABASE_SCHEMA: options.schema ?? db.schema,
      RECONCILE_TOKEN: options.token ?? service.internal_token ?? "" },
    stdin: "ignore", stdout: "pipe", stderr: "pipe",
  });
  const [stdout, stderr, exit_code] = await Promise.all([
    new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited,
  ]);
  const lines = stdout.trim().split("\n");
  let json: Run["json"];
  try {
    json = JSON.parse(lines[lines.length - 1]!) as Run["json"];
  } catch {
    throw new Error(`reconcile printed no JSON line (exit ${exit_code}):\n${stdout}\n${stderr}`);
  }
  return { exit_code, json, stderr };
}

function expect_exit_0(run: Run): void {
  if (run.exit_code === 0) return;
  throw new Error(`reconcile exit ${run.exit_code}: ${JSON.stringify(run.json)}\n${run.stderr}`);
}

function expect_all_agree(run: Run): void {
  expect_exit_0(run);
  expect(run.json.ok).toBe(true);
  expect(run.json.difference_count).toBe(0);
  expect(run.json.moved_on_count).toBe(0);
  expect(run.json.groups.map((g) => g.group)).toEqual([0, 1, 2, 3]);
  for (const summary of run.json.groups) {
    const state = states.get(PARTNERS[summary.group]!)!;
    expect(summary.applied_sequence).toBeGreaterThanOrEqual(summary.sequence);
    expect(summary.accounts).toEqual({ engine: state.accounts.length,
      postgres: state.accounts.length, compared: state.accounts.length,
      equal: state.accounts.length, different: 0, moved_on: 0, missing_in_postgres: 0,
      missing_in_engine: 0 });
    expect(summary.holds).toEqual({ engine: state.open_holds.length,
      postgres: state.open_holds.length, compared: state.open_holds.length,
      equal: state.open_holds.length, different: 0, moved_on: 0, missing_in_postgres: 0,
      missing_in_engine: 0 });
  }
}

async function partner_token(partner: number): Promise<string> {
  const auth = load_auth_options({ ...process.env, ...service.env }, service.data_dir);
  const minted = await mint_token({ keys_file: auth.keys_file, issuer: auth.issuer,
    audience: auth.audience, subject: { partner }, ttl_s: 600 });
  return minted.token;
}

describe("bun run reconcile", () => {
  test("every kind of order in every group: exit 0, every account and open hold agrees",
    async () => {
    for (const partner of PARTNERS) states.set(partner, await run_partner(partner));
    expect_all_agree(await run_reconcile());
  }, TEST_TIMEOUT_MS);

  test("the admin route: internal token only (403 for a partner token), bad groups 400 / 404",
    async () => {
    const partner = await partner_token(11);
    const refused = await get(service.base_url, "/admin/groups/0/state",
      { authorization: `Bearer ${partner}` });
    expect(refused.http_status).toBe(403);
    expect(refused.json?.error).toBe("forbidden");
    const none = await get(service.base_url, "/admin/groups/0/state", { authorization: "" });
    expect(none.http_status).toBe(401);
    const out_of_range = await get(service.base_url, `/admin/groups/${GROUPS}/state`);
    expect(out_of_range.http_status).toBe(404);
    expect(out_of_range.json?.error).toBe("not_found");
    for (const bad of ["x", "-1", "1.5", "99999"]) {
      const reply = await get(service.base_url, `/admin/groups/${bad}/state`);
      expect(reply.http_status).toBe(400);
      expect(reply.json?.error).toBe("malformed_frame");
    }
    const run = await run_reconcile({ token: partner });
    expect(run.exit_code).toBe(2);
    expect(run.json.error).toContain("403");
  }, TEST_TIMEOUT_MS);

  test("a capture snapshots the group asked for, and no other group of its worker", async () => {
    // A service of its own, one worker for every group, no periodic snapshot during the test.
    const own = await ServiceProcess.start({ env: { GROUPS: String(GROUPS), ENGINE_WORKERS: "1",
      GROUP_MAP: PARTNERS.map((p, g) => `${p}:${g}`).join(","), SNAPSHOT_INTERVAL_MS: "86400000" } });
    try {
      for (const partner of PARTNERS) {
        const opened = await post(own.base_url, `/v1/partners/${partner}/accounts`,
          JSON.stringify({ account: "77", kind: "user", currency: EUR }),
          { "content-type": "application/json" });
        expect(opened.kind === "other" && opened.http_status).toBe(200);
      }
      const newest = () => Array.from({ length: GROUPS }, (_, g) =>
        peek_newest_snapshot(new NodeFileLayer(), group_dir(own.data_dir, g))?.sequence ?? -1);
      const before = newest();
      const reply = await fetch(`${own.base_url}/admin/groups/2/state`,
        { headers: { authorization: `Bearer ${own.internal_token}` } });
      expect(reply.status).toBe(200);
      const sequence = Number(reply.headers.get("x-sequence"));
      expect(sequence).toBeGreaterThan(0);
      await poll_until("group 2's snapshot on disk", async () => newest()[2] === sequence)
        .catch((error) => {
          throw new Error(`${error}: snapshots at ${newest()} (captured ${sequence})\n` +
            own.output());
        });
      expect(newest().filter((_, g) => g !== 2)).toEqual(before.filter((_, g) => g !== 2));
    } finally {
      own.kill_now();
      own.remove_data();
    }
  }, TEST_TIMEOUT_MS);

  test("concurrent captures: bounded (503 busy with retry-after), the snapshots on disk intact",
    async () => {
    const url = `${service.base_url}/admin/groups/0/state`;
    const headers = { authorization: `Bearer ${service.internal_token}` };
    const responses = await Promise.all(Array.from({ length: CONCURRENT_CAPTURES }, () =>
      fetch(url, { headers })));
    const ok = responses.filter((r) => r.status === 200);
    const busy = responses.filter((r) => r.status === 503);
    expect(ok.length).toBeGreaterThanOrEqual(1);
    expect(ok.length + busy.length).toBe(CONCURRENT_CAPTURES);
    for (const response of busy) {
      expect(Number(response.headers.get("retry-after"))).toBeGreaterThan(0);
    }
    const captured = await Promise.all(ok.map(async (r) =>
      decode_engine_state(new Uint8Array(await r.arrayBuffer()), r.headers, 0)));
    for (const state of captured) expect(state.accounts.length).toBe(4);
    const first = captured[0]!;
    // The journal worker writes the same snapshot to disk: once there, it decodes to the same rows.
    const dir = group_dir(service.data_dir, 0);
    await poll_until("the captured snapshot on disk", async () =>
      peek_newest_snapshot(new NodeFileLayer(), dir)?.sequence === first.sequence);
    const on_disk = peek_newest_snapshot(new NodeFileLayer(), dir)!;
    expect(decode_engine_state(on_disk.bytes, ok[0]!.headers, 0)).toEqual(first);
    // SIGKILL: recovery starts from that snapshot; reconcile still agrees with PostgreSQL.
    await service.kill();
    service = await service.restart();
    expect_all_agree(await run_reconcile());
  }, TEST_TIMEOUT_MS);

  test("live traffic while it runs: rows past the captured sequence are moved on, never different",
    async () => {
    let running = true;
    let batches = 0;
    const traffic = (async () => {
      while (running && batches < LIVE_BATCHES_MAX) {
        const partner = PARTNERS[batches++ % PARTNERS.length]!;
        await batch([{ op: Op.credit, partner, account: BigInt(partner * 1000 + 1), amount: 1n },
          { op: Op.check, partner, account: BigInt(partner * 1000 + 2), amount: 1n }],
        ["ok", "ok"]);
      }
    })();
    const run = await run_reconcile().finally(() => (running = false));
    await traffic;
    expect(batches).toBeGreaterThan(0);
    console.log(`live traffic: ${batches} batches during reconcile, ` +
      `${run.json.moved_on_count} row(s) moved on`);
    expect_exit_0(run);
    expect(run.json.difference_count).toBe(0);
    for (const summary of run.json.groups) {
      const accounts = summary.accounts;
      expect(accounts.compared + accounts.moved_on).toBe(accounts.engine);
      expect(accounts.different).toBe(0);
      expect(accounts.missing_in_engine + accounts.missing_in_postgres).toBe(0);
    }
    // Quiet again: everything is compared.
    expect_all_agree(await run_reconcile());
  }, TEST_TIMEOUT_MS);

  test("tampered PostgreSQL: exit 1 with exactly the differences made", async () => {
    const sql = db.sql;
    const changed = BigInt(12 * 1000 + 1); // group 1
    const deleted = BigInt(13 * 1000 + 2); // group 2
    const hold = states.get(14)!.open_holds[0]!; // group 3
    const account = (await read_account(service.base_url, 12, changed))!;
    await sql`update accounts set balance_minor = balance_minor + 7
      where group_id = 1 and account_id = ${key_of(changed)}::bigint`;
    await sql`delete from accounts
      where group_id = 2 and account_id = ${key_of(deleted)}::bigint`;
    await sql`update holds set amount_minor = amount_minor - 1
      where group_id = 3 and hold_id = ${key_of(hold.id)}::bigint`;
    const run = await run_reconcile();
    expect(run.exit_code).toBe(1);
    expect(run.json.ok).toBe(false);
    const balance = Number(account.balance);
    const available = Number(account.available);
    expect(run.json.differences).toEqual([
      { group: 1, kind: "account", partner: 12, id: changed.toString(), field: "balance_minor",
        engine: balance, postgres: balance + 7 },
      { group: 1, kind: "account", partner: 12, id: changed.toString(),
        field: "available_minor",
        engine: available, postgres: available + 7 },
      { group: 2, kind: "account", partner: 13, id: deleted.toString(), field: "row",
        engine: "present",
        postgres: "missing" },
      { group: 3, kind: "hold", partner: 14, id: hold.id.toString(), field: "amount_minor",
        engine: Number(hold.amount), postgres: Number(hold.amount) - 1 },
    ]);
    expect(run.json.difference_count).toBe(4);
    expect(run.json.groups.map((g) => g.difference_count)).toEqual([0, 2, 1, 1]);
  }, TEST_TIMEOUT_MS);

  test("cannot run: exit 2 naming why (service unreachable, projector behind)", async () => {
    const unreachable = await run_reconcile({ url: `http://127.0.0.1:${free_port()}` });
    expect(unreachable.exit_code).toBe(2);
    expect(unreachable.json.error).toContain("unreachable");
    const empty = await fresh_schema("reconcile_empty");
    try {
      const behind = await run_reconcile({ schema: empty.schema, args: ["--groups", "1",
        "--wait-ms", "300"] });
      expect(behind.exit_code).toBe(2);
      expect(behind.json.error).toContain("never caught up");
    } finally {
      await empty.drop();
    }
    const bad_group = await run_reconcile({ args: ["--groups", "9"] });
    expect(bad_group.exit_code).toBe(2);
    expect(bad_group.json.error).toContain("no group 9");
  }, TEST_TIMEOUT_MS);
});
