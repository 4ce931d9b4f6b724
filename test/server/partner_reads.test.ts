// Account numbers and order ids are each partner's own, through the front door: partners 7 and 9
// open account 1001 and use the same order id, and each reads its own account and order. The same
// requests give the same answers whether the two share a group (GROUP_MAP 7:0, 9:0) or not
// (7:0, 9:1): how partners are grouped never changes an answer. In-process node and server.

import { afterAll, expect, test } from "bun:test";
import { OrderIdGenerator } from "../../schema/order_id.ts";
import { start_in_process_node } from "./in_process_node.ts";

const cleanups: (() => Promise<void>)[] = [];

afterAll(async () => {
  for (const cleanup of cleanups) await cleanup();
});

async function start(group_map: string): Promise<string> {
  const running = await start_in_process_node("partner-reads", 2, group_map);
  cleanups.push(() => running.stop());
  return running.base_url;
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
