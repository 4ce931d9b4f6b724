// A linked chain is all-or-nothing wherever its orders would land. A chain that names more than one
// partner is refused `cross_partner` for every one of its orders before the batch is split by
// group, over HTTP (JSON and FlatBuffers) and TCP, whether its partners share a group or not, and
// closed or left open at the end of the batch. (The router used to split such a chain by group:
// with the partners in different groups each engine saw half of it, and `[debit 7/A linked,
// credit 8/B]` answered chain_open for the debit and ok for the credit: money out of nothing.)
// Every test reads the accounts back: a refused chain changes no balance, and the batch's other
// orders are applied as usual.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { encode_order_query } from "../../schema/codec.ts";
import { Mode } from "../../schema/generated/balance/wire/mode.ts";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import { Status } from "../../schema/generated/balance/wire/status.ts";
import { OrderIdGenerator } from "../../schema/order_id.ts";
import {
  batch_json, open_account, order_frame, post_frame_batch, post_json_batch, read_account,
  read_order, type Reply, type TestOrder,
} from "../../harness/http_client.ts";
import { TcpTestClient, bigints, type Received } from "../tcp/tcp_client.ts";
import { EUR, start_tcp_service, type TcpService } from "../tcp/tcp_service.ts";

// Partners 7 and 9 share group 0; partner 8 is alone in group 1.
const GROUP_MAP = "7:0,8:1,9:0";
const A7 = { partner: 7, account: 7001n };
const B8 = { partner: 8, account: 8001n };
const C9 = { partner: 9, account: 9001n };
const OPENING_MINOR = 1000n;

type Account = typeof A7;

let tcp: TcpService;
let base_url: string;
const ids = new OrderIdGenerator();
/** What every account must hold: the opening balance plus every order answered ok. */
const expected = new Map<Account, bigint>();

function order(op: Op, account: Account, amount: bigint, linked = false): TestOrder {
  return { id: ids.next(), op, partner: account.partner, account: account.account, amount,
    currency: EUR, linked };
}

beforeAll(async () => {
  tcp = await start_tcp_service({ GROUP_MAP });
  base_url = tcp.service.base_url;
  for (const account of [A7, B8, C9]) {
    expect((await open_account(base_url, account.partner, account.account, EUR)).status).toBe("ok");
    const funded = await post_json_batch(base_url,
      batch_json([order(Op.credit, account, OPENING_MINOR)]));
    expect(statuses(funded)).toEqual(["ok"]);
    expected.set(account, OPENING_MINOR);
  }
});

afterAll(async () => {
  if (tcp === undefined) return;
  if (!tcp.service.running) console.error(tcp.service.output());
  expect(await tcp.service.stop()).toBe(0);
  tcp.service.remove_data();
});

function statuses(reply: Reply): string[] {
  if (reply.kind !== "results") throw new Error(`expected results: ${JSON.stringify(reply)}`);
  return reply.results.map((r) => r.status);
}

/** Every balance is what the orders answered ok made it. */
async function expect_balances(): Promise<void> {
  for (const [account, balance_minor] of expected) {
    const info = await read_account(base_url, account.partner, account.account);
    expect({ account: account.account, balance: info?.balance })
      .toEqual({ account: account.account, balance: balance_minor.toString() });
  }
}

/** A refused order: sequence 0, figures 0, and nothing of it remembered (not journaled). */
async function expect_refused(reply: Reply, orders: readonly TestOrder[]): Promise<void> {
  if (reply.kind !== "results") throw new Error(`expected results: ${JSON.stringify(reply)}`);
  expect(reply.http_status).toBe(200);
  expect(reply.results.map((r) => [r.id, r.status, r.sequence, r.balance, r.available]))
    .toEqual(orders.map((o) => [o.id.toString(), "cross_partner", "0", "0", "0"]));
  for (const o of orders) expect(await read_order(base_url, o.partner, o.id)).toBeNull();
}

describe("HTTP", () => {
  test("a chain over two groups: debit 7 linked, credit 8 (and reversed) moves nothing",
    async () => {
      const forward = [order(Op.debit, A7, 500n, true), order(Op.credit, B8, 500n)];
      await expect_refused(await post_json_batch(base_url, batch_json(forward)), forward);
      const reverse = [order(Op.credit, B8, 500n, true), order(Op.debit, A7, 500n)];
      await expect_refused(await post_frame_batch(base_url, order_frame(reverse)), reverse);
      await expect_balances();
    });

  test("a chain over two partners of one group is refused the same way", async () => {
    const chain = [order(Op.debit, A7, 300n, true), order(Op.credit, C9, 300n)];
    await expect_refused(await post_frame_batch(base_url, order_frame(chain)), chain);
    const json = [order(Op.credit, C9, 300n, true), order(Op.debit, A7, 300n)];
    await expect_refused(await post_json_batch(base_url, batch_json(json)), json);
    await expect_balances();
  });

  test("an open chain that spans partners is cross_partner; one partner's stays chain_open",
    async () => {
      const open = [order(Op.credit, A7, 5n, true), order(Op.credit, B8, 5n, true)];
      await expect_refused(await post_json_batch(base_url, batch_json(open)), open);
      const own = [order(Op.credit, B8, 5n, true), order(Op.credit, B8, 5n, true)];
      expect(statuses(await post_json_batch(base_url, batch_json(own))))
        .toEqual(["chain_open", "chain_open"]);
      await expect_balances();
    });

  test("the batch's other orders and chains are applied as usual, in order", async () => {
    const orders = [
      order(Op.credit, A7, 1n), // alone: ok
      order(Op.debit, A7, 500n, true), order(Op.credit, C9, 250n, true), // three partners,
      order(Op.credit, B8, 250n), //                                          two groups: refused
      order(Op.credit, B8, 2n), // alone: ok
      order(Op.credit, A7, 3n, true), order(Op.debit, A7, 4n), // one partner's chain: ok
      order(Op.credit, C9, 5n, true), order(Op.credit, B8, 5n), // refused
      order(Op.credit, C9, 6n), // alone: ok
    ];
    const reply = await post_frame_batch(base_url, order_frame(orders));
    expect(statuses(reply)).toEqual(["ok", "cross_partner", "cross_partner", "cross_partner",
      "ok", "ok", "ok", "cross_partner", "cross_partner", "ok"]);
    if (reply.kind !== "results") throw new Error("checked above");
    expect(reply.results.map((r) => r.id)).toEqual(orders.map((o) => o.id.toString()));
    expected.set(A7, expected.get(A7)! + 1n + 3n - 4n);
    expected.set(B8, expected.get(B8)! + 2n);
    expected.set(C9, expected.get(C9)! + 6n);
    await expect_balances();
  });

  test("accepted mode answers the refused chain at once, the rest pending", async () => {
    const orders = [order(Op.credit, A7, 7n), order(Op.debit, C9, 9n, true),
      order(Op.credit, B8, 9n)];
    const reply = await post_json_batch(base_url, batch_json(orders, "accepted"));
    expect(reply.http_status).toBe(202);
    expect(statuses(reply)).toEqual(["pending", "cross_partner", "cross_partner"]);
    expected.set(A7, expected.get(A7)! + 7n);
    const applied = await read_order(base_url, A7.partner, orders[0]!.id);
    expect(applied?.status).toBe("ok");
    await expect_balances();
  });
});

describe("TCP", () => {
  function results_of(frame: Received): [bigint, string, bigint][] {
    if (frame.type !== "batch_results") {
      throw new Error(`expected results: ${JSON.stringify(frame, bigints)}`);
    }
    return frame.results!.map((r) => [r.order_id, Status[r.status]!, r.sequence]);
  }

  test("chains over two groups and over one group are refused; the rest is applied", async () => {
    const client = await TcpTestClient.session(tcp.tcp_port, await tcp.internal_token());
    const groups = [order(Op.debit, A7, 500n, true), order(Op.credit, B8, 500n)];
    const group = [order(Op.credit, C9, 400n, true), order(Op.debit, A7, 400n),
      order(Op.credit, B8, 1n)];
    client.send(order_frame(groups, Mode.committed, 1n));
    client.send(order_frame(group, Mode.committed, 2n));
    const replies = new Map((await client.take(2)).map((frame) => [frame.type === "batch_results"
      ? frame.request_id : -1n, frame]));
    expect(results_of(replies.get(1n)!).map(([, status, sequence]) => [status, sequence]))
      .toEqual([["cross_partner", 0n], ["cross_partner", 0n]]);
    const mixed = results_of(replies.get(2n)!);
    expect(mixed.map(([id, status]) => [id, status])).toEqual([[group[0]!.id, "cross_partner"],
      [group[1]!.id, "cross_partner"], [group[2]!.id, "ok"]]);
    expect(mixed[2]![2]).toBeGreaterThan(0n);
    expected.set(B8, expected.get(B8)! + 1n);
    client.close();
    await expect_balances();
  });

  test("accepted mode: the one answer refuses the chain at once, the rest pending", async () => {
    const client = await TcpTestClient.session(tcp.tcp_port, await tcp.internal_token());
    const refused = [order(Op.credit, B8, 50n, true), order(Op.debit, A7, 50n, true)]; // open too
    const mixed = [order(Op.credit, A7, 8n), order(Op.debit, A7, 60n, true),
      order(Op.credit, C9, 60n)];
    client.send(order_frame(refused, Mode.accepted, 3n));
    client.send(order_frame(mixed, Mode.accepted, 4n));
    const frames = await client.take(2);
    const by_request = (id: bigint) => frames.filter((f) => f.type === "batch_results" &&
      f.request_id === id).map((f) => results_of(f).map(([, status]) => status));
    expect(by_request(3n)).toEqual([["cross_partner", "cross_partner"]]);
    expect(by_request(4n)).toEqual([["pending", "cross_partner", "cross_partner"]]);
    // Nothing follows: an OrderQuery is answered once the accepted credit is durable, so a
    // second BatchResults of either request, if there were one, would come before it.
    const credit_id = results_of(frames.find((f) => f.type === "batch_results" &&
      f.request_id === 4n)!)[0]![0];
    client.send(encode_order_query(5n, credit_id, A7.partner));
    const after = await client.next();
    expect(after.type === "order_status" && after.found && Status[after.result!.status])
      .toBe("ok");
    expected.set(A7, expected.get(A7)! + 8n);
    client.close();
    await expect_balances();
  });
});
