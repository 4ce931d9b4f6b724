// Account numbers and order ids are each partner's own, through the front door: partners 7 and 9
// open account 1001 and use the same order id, and each reads its own account and order. The same
// requests give the same answers whether the two share a group (GROUP_MAP 7:0, 9:0) or not
// (7:0, 9:1): how partners are grouped never changes an answer. In-process node and server.

import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { ServiceNode } from "../../node/service_node.ts";
import { load_config } from "../../config/config.ts";
import { single_node_view } from "../../router/leadership.ts";
import { start_http_server } from "../../server/http.ts";
import { Metrics } from "../../node/metrics.ts";
import { OrderIdGenerator } from "../../schema/order_id.ts";

const cleanups: (() => Promise<void>)[] = [];

afterAll(async () => {
  for (const cleanup of cleanups) await cleanup();
});

async function start(group_map: string): Promise<string> {
  const data_dir = mkdtempSync(`${tmpdir()}/balance-partner-reads-`);
  const node = await ServiceNode.start(load_config({ DATA_DIR: data_dir, GROUPS: "2",
    GROUP_MAP: group_map, ACCOUNTS_PER_GROUP: "64", HOLDS_PER_GROUP: "16",
    IDEMPOTENCY_ENTRIES_PER_GROUP: "65536", RING_SLOTS: "16",
    JOURNAL_SEGMENT_BYTES: String(1 << 20) }), new Metrics());
  // Auth is tested in test/auth; this test is about namespaces, so AUTH=off here.
  const server = start_http_server(node, { host: "127.0.0.1", port: 0, auth: null,
    cluster: single_node_view("127.0.0.1:1", "127.0.0.1:2", 2, new Map()) });
  cleanups.push(async () => {
    await node.shutdown();
    server.stop(true);
    rmSync(data_dir, { recursive: true, force: true });
  });
  return `http://127.0.0.1:${server.port}`;
}

async function post(base_url: string, orders: Record<string, unknown>[]): Promise<unknown[]> {
  const response = await fetch(`${base_url}/v1/batches`, { method: "POST",
    headers: { "content-type": "application/json" }, body: JSON.stringify({ orders }) });
  expect(response.status).toBe(200);
  const body = await response.json() as { results: Record<string, unknown>[] };
  // The sequence is the group's: it depends on grouping by design. Everything else may not.
  return body.results.map(({ status, balance, available, replayed }) =>
    ({ status, balance, available, replayed }));
}

async function read(base_url: string, path: string): Promise<unknown> {
  const response = await fetch(`${base_url}${path}`);
  const body = await response.json() as Record<string, unknown>;
  if (response.status !== 200) return [response.status, body.error];
  const { sequence: _sequence, ...rest } = body;
  return rest;
}

/** One scenario; order ids are fixed by the caller, so both layouts send the same requests. */
async function scenario(base_url: string, ids: string[]): Promise<unknown[]> {
  const order = (id: string, op: string, partner: number, extra: Record<string, unknown> = {}) =>
    ({ id, op, partner, account: "1001", currency: 978, ...extra });
  const answers: unknown[] = [];
  answers.push(await post(base_url, [order(ids[0]!, "open_account", 7, { kind: "user" })]));
  answers.push(await post(base_url, [order(ids[1]!, "open_account", 9,
    { kind: "user", amount: "50" })]));
  answers.push(await post(base_url, [order(ids[2]!, "credit", 7, { amount: "700" })]));
  // Partner 9 uses partner 7's order id: its own order, not id_conflict.
  answers.push(await post(base_url, [order(ids[2]!, "credit", 9, { amount: "90" })]));
  answers.push(await post(base_url, [order(ids[3]!, "debit", 9, { amount: "100" })]));
  answers.push(await post(base_url, [order(ids[4]!, "transfer", 9,
    { amount: "1", ref: "1002" })]));
  for (const partner of [7, 9]) {
    answers.push(await read(base_url, `/v1/partners/${partner}/accounts/1001`));
    answers.push(await read(base_url, `/v1/partners/${partner}/orders/${ids[2]}`));
    answers.push(await read(base_url, `/v1/partners/${partner}/accounts/1002`));
  }
  return answers;
}

test("partners 7 and 9 share account 1001 and an order id, in one group or two alike", async () => {
  const generator = new OrderIdGenerator();
  const ids = Array.from({ length: 5 }, () => generator.next().toString());
  const shared = await scenario(await start("7:0,9:0"), ids);
  const apart = await scenario(await start("7:0,9:1"), ids);
  expect(shared).toEqual(apart);
  expect(shared.slice(0, 6).map((answer) => (answer as { status: string }[])[0]!.status))
    .toEqual(["ok", "ok", "ok", "ok", "ok", "account_not_found"]);
  expect(shared[6]).toMatchObject({ partner: 7, balance: "700", available: "700" });
  expect(shared[7]).toMatchObject({ status: "ok", balance: "700" });
  expect(shared[8]).toEqual([404, "not_found"]);
  expect(shared[9]).toMatchObject({ partner: 9, balance: "-10", available: "40" });
  expect(shared[10]).toMatchObject({ status: "ok", balance: "90" });
  expect(shared[11]).toEqual([404, "not_found"]);
}, 60_000);
