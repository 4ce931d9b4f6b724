// SDK routing over a cluster (docs/sdk.md, "Seeds"), with real servers standing in as nodes: two
// single-node servers A and B (GROUPS=2, GROUP_MAP puts partner 7 in group 0 and partner 8 in
// group 1) and a small HTTP stub that serves a hand-written routing map naming A the primary of
// group 0 and B of group 1. Orders must reach their group's primary (balances read back from each
// server), a batch over both is split and put back in order, a linked chain is never split, and a
// third stub that answers not_primary makes the client read the map again and resend the same ids.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import {
  ORDER_SIZE_BYTES, RESULT_SIZE_BYTES, SDK_ROUTING_RESENDS_MAX, SDK_SEEDS_MAX,
} from "../../common/constants.ts";
import { decode_frame, encode_batch_results } from "../../schema/codec.ts";
import { Status } from "../../schema/generated/balance/wire/status.ts";
import { read_order_fields, write_result_fields } from "../../schema/layout.ts";
import type { RoutingMap } from "../../schema/routing_map.ts";
import { BalanceClient } from "../../sdk/client.ts";
import type { OrderRequest } from "../../sdk/types.ts";
import { free_port } from "../../harness/service_process.ts";
import { start_service, token_for, type SdkService } from "./service.ts";

const EUR = 978;
const P7 = 7; // group 0
const P8 = 8; // group 1
const A7 = 70n;
const A8 = 80n;
const NODE_ENV = { GROUPS: "2", GROUP_MAP: "7:0,8:1" };

let a: SdkService;
let b: SdkService;
let token: string;
/** The map the map stub serves now. */
let current_map: RoutingMap;
let map_reads = 0;
let map_stub: ReturnType<typeof Bun.serve>;

/** A node that answers every order not_primary: `times` batches, then the map moves on. */
class NotPrimaryStub {
  readonly server: ReturnType<typeof Bun.serve>;
  readonly batches: bigint[][] = [];
  reads = 0;

  constructor(private readonly times: number, private readonly then_map: () => RoutingMap) {
    this.server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => this.answer(req) });
  }

  get address(): string {
    return `127.0.0.1:${this.server.port}`;
  }

  private async answer(req: Request): Promise<Response> {
    // It serves no map (a client asks every node it knows for one).
    if (new URL(req.url).pathname === "/cluster/map") return new Response("no", { status: 404 });
    if (req.method === "GET") return this.refuse_read();
    const body = new Uint8Array(await req.arrayBuffer());
    const frame = decode_frame(body);
    if (frame.type !== "order_batch") return new Response("not a batch", { status: 400 });
    const ids = Array.from({ length: frame.order_count }, (_, k) => read_order_fields(
      new DataView(body.buffer), frame.orders_byte_offset + k * ORDER_SIZE_BYTES).id);
    this.batches.push(ids);
    if (this.batches.length >= this.times) current_map = this.then_map();
    const results = new Uint8Array(ids.length * RESULT_SIZE_BYTES);
    ids.forEach((order_id, k) => write_result_fields(new DataView(results.buffer),
      k * RESULT_SIZE_BYTES, { order_id, sequence: 0n, balance: 0n, available: 0n,
        status: Status.not_primary, replayed: false }));
    return new Response(encode_batch_results(frame.request_id, results, ids.length),
      { headers: { "content-type": "application/x-flatbuffers" } });
  }

  private refuse_read(): Response {
    this.reads++;
    if (this.reads >= this.times) current_map = this.then_map();
    return Response.json({ error: "not_primary", message: "not the primary of group 0",
      retry_after_ms: 0 }, { status: 421 });
  }
}

const stubs: NotPrimaryStub[] = [];

function node_of(id: string, node: SdkService) {
  return { id, http: `127.0.0.1:${node.service.port}`, tcp: `127.0.0.1:${node.tcp_port}` };
}

/** A map with `group0` ("a" or a stub's address) the primary of group 0 and B of group 1. */
function map_with(group0: "a" | NotPrimaryStub): RoutingMap {
  const nodes = [node_of("a", a), node_of("b", b)];
  if (group0 !== "a") nodes.push({ id: "c", http: group0.address, tcp: group0.address });
  return {
    version: 1, groups: 2, group_map: [[P7, 0], [P8, 1]], nodes,
    group_primaries: [
      { group: 0, epoch: 1, primary: group0 === "a" ? "a" : "c", standbys: [] },
      { group: 1, epoch: 1, primary: "b", standbys: [] },
    ],
  };
}

beforeAll(async () => {
  a = await start_service(NODE_ENV);
  // B checks tokens with A's key: one token for the whole "cluster".
  const keys_file = join(a.service.data_dir, "auth-keys.json");
  b = await start_service({ ...NODE_ENV, AUTH_KEYS_FILE: keys_file });
  token = await token_for(a.service, { internal: true });
  current_map = map_with("a");
  map_stub = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => {
    if (new URL(req.url).pathname !== "/cluster/map") return new Response("no", { status: 404 });
    map_reads++;
    return Response.json(current_map);
  } });
  const client = await seeded_client();
  const opened = await client.submit([
    { op: "open_account", partner: P7, account: A7, kind: "user", currency: EUR },
    { op: "open_account", partner: P8, account: A8, kind: "user", currency: EUR },
  ]);
  expect(opened.map((result) => result.status_name)).toEqual(["ok", "ok"]);
  client.close();
});

afterAll(async () => {
  map_stub?.stop(true);
  for (const stub of stubs) stub.server.stop(true);
  for (const node of [a, b]) {
    if (node === undefined) continue;
    expect(await node.service.stop()).toBe(0);
    node.service.remove_data();
  }
});

function seeded_client(): Promise<BalanceClient> {
  return BalanceClient.connect({ seeds: [`http://127.0.0.1:${map_stub.port}`], token });
}

/** An account's balance as one server holds it, or null when that server has no such account. */
async function balance_on(node: SdkService, partner: number, account: bigint)
  : Promise<bigint | null> {
  const url = `${node.service.base_url}/v1/partners/${partner}/accounts/${account}`;
  const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  if (response.status === 404) return null;
  expect(response.status).toBe(200);
  return BigInt((await response.json() as { balance: string }).balance);
}

async function order_on(node: SdkService, partner: number, id: bigint): Promise<string | null> {
  const response = await fetch(`${node.service.base_url}/v1/partners/${partner}/orders/${id}`,
    { headers: { authorization: `Bearer ${token}` } });
  if (response.status === 404) return null;
  return (await response.json() as { status: string }).status;
}

function credit(partner: number, account: bigint, amount: bigint, linked = false): OrderRequest {
  return { op: "credit", partner, account, amount, currency: EUR, linked };
}

test("each partner's orders reach its group's primary; a batch over two is split, in order",
  async () => {
    const client = await seeded_client();
    const results = await client.submit([credit(P7, A7, 5n), credit(P8, A8, 6n),
      credit(P7, A7, 7n), credit(P8, A8, 8n)]);
    expect(results.map((r) => [r.status_name, r.balance])).toEqual(
      [["ok", 5n], ["ok", 6n], ["ok", 12n], ["ok", 14n]]);
    expect(await balance_on(a, P7, A7)).toBe(12n);
    expect(await balance_on(b, P8, A8)).toBe(14n);
    expect(await balance_on(a, P8, A8)).toBeNull(); // never reached A
    expect(await balance_on(b, P7, A7)).toBeNull(); // never reached B
    expect((await client.account(P8, A8))!.balance).toBe(14n);
    expect((await client.account(P7, A7))!.balance).toBe(12n);
    client.close();
  });

test("a linked chain is never split: one naming two partners goes whole to its first order's" +
  " primary, which refuses it cross_partner", async () => {
  const client = await seeded_client();
  const results = await client.submit([credit(P8, A8, 1n, true), credit(P7, A7, 1n)]);
  // Split, each half would have been one partner's order, and applied.
  expect(results.map((r) => r.status_name)).toEqual(["cross_partner", "cross_partner"]);
  expect([await balance_on(a, P7, A7), await balance_on(b, P8, A8)]).toEqual([12n, 14n]);
  client.close();
});

test("not_primary: the client reads the map again and resends only those orders, same ids",
  async () => {
    const stub = new NotPrimaryStub(1, () => map_with("a"));
    stubs.push(stub);
    current_map = map_with(stub);
    const client = await seeded_client();
    const reads_before = map_reads;
    const results = await client.submit([credit(P7, A7, 3n), credit(P8, A8, 4n)]);
    expect(results.map((r) => [r.status_name, r.balance, r.replayed])).toEqual(
      [["ok", 15n, false], ["ok", 18n, false]]);
    expect(stub.batches).toEqual([[results[0]!.id]]); // only partner 7's order went there
    expect(await order_on(a, P7, results[0]!.id)).toBe("ok"); // the same id, applied on A
    expect(map_reads).toBeGreaterThan(reads_before);
    client.close();
  });

test("a read answered 421 not_primary is sent again to the primary of a map read again",
  async () => {
    const stub = new NotPrimaryStub(1, () => map_with("a"));
    stubs.push(stub);
    current_map = map_with(stub);
    const client = await seeded_client();
    expect((await client.account(P7, A7))!.balance).toBe(15n);
    expect(stub.reads).toBe(1);
    client.close();
  });

test(`not_primary without end: resent SDK_ROUTING_RESENDS_MAX (${SDK_ROUTING_RESENDS_MAX}) ` +
  "times, then the order's answer is not_primary", async () => {
  const stub = new NotPrimaryStub(Number.POSITIVE_INFINITY, () => map_with("a"));
  stubs.push(stub);
  current_map = map_with(stub);
  const client = await seeded_client();
  const result = await client.credit({ partner: P7, account: A7, amount: 1n, currency: EUR });
  expect(result.status_name).toBe("not_primary");
  expect(stub.batches).toEqual(
    Array.from({ length: SDK_ROUTING_RESENDS_MAX + 1 }, () => [result.id]));
  expect(await order_on(a, P7, result.id)).toBeNull();
  client.close();
  current_map = map_with("a");
});

test("TCP seeds: the map of a single node is read over TCP and every order goes there",
  async () => {
    const seeds = [`tcp://127.0.0.1:${a.tcp_port}`];
    const client = await BalanceClient.connect({ seeds, token });
    const result = await client.credit({ partner: P7, account: A7, amount: 2n, currency: EUR });
    expect([result.status_name, result.balance]).toEqual(["ok", 17n]);
    expect(await balance_on(a, P7, A7)).toBe(17n);
    client.close();
  });

test("seeds: none answering rejects connect with unreachable; bad seeds are a RangeError",
  async () => {
    const stub = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
    const dead = `http://127.0.0.1:${stub.port}`;
    stub.stop(true);
    const refused = BalanceClient.connect({ seeds: [dead], token, connect_timeout_ms: 2_000 });
    await expect(refused).rejects.toMatchObject({ reason: "unreachable" });
    await expect(BalanceClient.connect({ seeds: [], token })).rejects.toBeInstanceOf(RangeError);
    await expect(BalanceClient.connect({ seeds: ["http://127.0.0.1:1", "tcp://127.0.0.1:2"] }))
      .rejects.toBeInstanceOf(RangeError);
  });

test(`seeds: at most SDK_SEEDS_MAX (${SDK_SEEDS_MAX}); the first that answers gives the map`,
  async () => {
    const dead = `http://127.0.0.1:${free_port()}`; // nothing listens there
    const seeds = (count: number) => Array.from({ length: count },
      (_, k) => (k === count - 1 ? `http://127.0.0.1:${map_stub.port}` : dead));
    await expect(BalanceClient.connect({ seeds: seeds(SDK_SEEDS_MAX + 1), token }))
      .rejects.toBeInstanceOf(RangeError);
    // Every seed but the last refuses the connection; the last serves the map.
    const client = await BalanceClient.connect({ seeds: seeds(SDK_SEEDS_MAX), token });
    const result = await client.credit({ partner: P8, account: A8, amount: 1n, currency: EUR });
    expect([result.status_name, result.balance]).toEqual(["ok", 19n]);
    client.close();
  });
