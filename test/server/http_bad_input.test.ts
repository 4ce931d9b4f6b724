// The HTTP front door of a real server process, fed bad input: malformed FlatBuffers, wrong content
// types, empty and oversized bodies, bad JSON, out-of-range numbers, unknown routes and bad path
// parameters. Each gets its own HTTP status and error code, and changes nothing: the accounts read
// the same before and after, and /metrics balance_orders_total does not move (the engines never saw
// the input). Then the good paths next to them: committed and accepted batches, retries, and
// another partner's account.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Prng } from "../../common/prng.ts";
import {
  encode_batch_results, encode_error, encode_hello, encode_order_query, FILE_IDENTIFIER,
} from "../../schema/codec.ts";
import { ErrorCode } from "../../schema/generated/balance/wire/error-code.ts";
import { Mode } from "../../schema/generated/balance/wire/mode.ts";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import { ProtocolVersion } from "../../schema/generated/balance/wire/protocol-version.ts";
import { OrderIdGenerator } from "../../schema/order_id.ts";
import {
  FLATBUFFERS_TYPE, auth_headers, batch_json, get, open_account, order_frame, order_json,
  orders_total, post, post_frame_batch, post_json_batch, read_account, read_order, type Reply,
  type Result, type TestOrder,
} from "../../harness/http_client.ts";
import { ServiceProcess } from "../../harness/service_process.ts";

const EUR = 978;
const USD = 840;
// Partners 7 and 8 share group 0, so an order of partner 8 reaches partner 7's account in the
// engine (forbidden) instead of missing it in another group (account_not_found).
const P7 = 7;
const P8 = 8;
const A7 = 1001n;
const A8 = 2001n;
const OPENING_CREDIT = 500n;

const ids = new OrderIdGenerator();
let service: ServiceProcess;
let base = "";

function credit(amount: bigint, overrides: Partial<TestOrder> = {}): TestOrder {
  return { id: ids.next(), op: Op.credit, partner: P7, account: A7, amount, currency: EUR,
    ...overrides };
}

function json(body: unknown): string {
  return JSON.stringify(body);
}

interface State {
  a7: unknown;
  a8: unknown;
  orders_total: Record<string, number>;
}

async function state(): Promise<State> {
  return {
    a7: await read_account(base, P7, A7),
    a8: await read_account(base, P8, A8),
    orders_total: Object.fromEntries(await orders_total(base)),
  };
}

/** Sends, expects the error (status and code, optionally a message part), and that nothing changed. */
async function expect_refused(send: () => Promise<Reply>, http_status: number, error: string,
  message_part?: string): Promise<Reply> {
  const before = await state();
  const reply = await send();
  expect(reply).toMatchObject({ kind: "error", http_status, error });
  if (message_part !== undefined && reply.kind === "error") {
    expect(reply.message).toContain(message_part);
  }
  expect(await state()).toEqual(before);
  return reply;
}

function expect_results(reply: Reply, http_status: number): Result[] {
  if (reply.kind !== "results") throw new Error(`expected results, got ${JSON.stringify(reply)}`);
  expect(reply.http_status).toBe(http_status);
  return reply.results;
}

beforeAll(async () => {
  service = await ServiceProcess.start({ env: { GROUP_MAP: `${P7}:0,${P8}:0` } });
  base = service.base_url;
  expect((await open_account(base, P7, A7, EUR)).status).toBe("ok");
  expect((await open_account(base, P8, A8, EUR)).status).toBe("ok");
  const results = expect_results(await post_json_batch(base, batch_json([credit(OPENING_CREDIT)])), 200);
  expect(results[0]!.status).toBe("ok");
});

afterAll(async () => {
  if (service === undefined) return;
  const code = await service.stop();
  const output = service.output();
  service.remove_data();
  expect(code).toBe(0);
  // The process never failed on any input.
  expect(output).not.toContain("http handler failed");
});

describe("malformed FlatBuffers", () => {
  const post_fb = (bytes: Uint8Array) => () => post_frame_batch(base, bytes);

  test("garbage without the file identifier: 400 wrong_identifier", async () => {
    const prng = new Prng(1);
    for (const size of [8, 9, 64, 200, 1000]) {
      const bytes = new Uint8Array(size);
      prng.fill(bytes);
      bytes[4] = 0; // never "BAL1" by chance
      const reply = await expect_refused(post_fb(bytes), 400, "wrong_identifier");
      expect(reply.kind === "error" && reply.content_type).toBe(FLATBUFFERS_TYPE);
    }
  });

  test("garbage behind a valid file identifier: 400 malformed_frame", async () => {
    const prng = new Prng(2);
    for (let round = 0; round < 20; round++) {
      const bytes = new Uint8Array(8 + prng.int_below(300));
      prng.fill(bytes);
      for (let i = 0; i < 4; i++) bytes[4 + i] = FILE_IDENTIFIER.charCodeAt(i);
      await expect_refused(post_fb(bytes), 400, "malformed_frame");
    }
  });

  test("a truncated batch frame: 400 malformed_frame", async () => {
    const frame = order_frame([credit(1n), credit(2n), credit(3n)]);
    expect(frame.length).toBe(64 + 3 * 40);
    for (const length of [1, 4, 7, 20, 40, 60, 64, 100, frame.length - 1]) {
      await expect_refused(post_fb(frame.subarray(0, length)), 400, "malformed_frame");
    }
  });

  test("a wrong file identifier on a valid batch: 400 wrong_identifier", async () => {
    const frame = order_frame([credit(10n)]);
    frame.set(new TextEncoder().encode("BAL2"), 4);
    await expect_refused(post_fb(frame), 400, "wrong_identifier");
  });

  test("a valid frame of another message type: 400 malformed_frame", async () => {
    const frames = [
      encode_hello(ProtocolVersion.v1, "token"),
      encode_order_query(1n, ids.next(), P7),
      encode_batch_results(1n, new Uint8Array(40), 1),
      encode_error(1n, ErrorCode.busy, "busy", 0),
    ];
    for (const frame of frames) {
      await expect_refused(post_fb(frame), 400, "malformed_frame", "expected an OrderBatch");
    }
  });

  test("an unknown mode: 400 malformed_frame", async () => {
    const frame = order_frame([credit(10n)]);
    frame[56] = 9; // OrderBatch.mode (schema/frame_encode.ts: mode u8 at 56)
    await expect_refused(post_fb(frame), 400, "malformed_frame", "mode");
  });

  test("a batch frame of no orders: 400 batch_empty", async () => {
    const frame = order_frame([credit(10n)]).slice(0, 64);
    new DataView(frame.buffer).setUint32(60, 0, true); // the vector's length
    await expect_refused(post_fb(frame), 400, "batch_empty");
  });

  test("a batch frame of 129 orders: 413 batch_too_large", async () => {
    const orders = Array.from({ length: 128 }, () => credit(1n));
    const frame128 = order_frame(orders);
    const frame = new Uint8Array(frame128.length + 40);
    frame.set(frame128);
    frame.set(frame128.subarray(64, 104), frame128.length); // a 129th order
    new DataView(frame.buffer).setUint32(60, 129, true);
    await expect_refused(post_fb(frame), 413, "batch_too_large");
  });
});

describe("content type and body size", () => {
  const good_body = () => batch_json([credit(10n)]);

  test("a wrong content type: 415 unsupported_media_type", async () => {
    for (const type of ["text/plain", "application/xml", "application/jsonx", "multipart/form-data"]) {
      await expect_refused(() => post(base, "/v1/batches", good_body(), { "content-type": type }),
        415, "unsupported_media_type");
    }
  });

  test("no content type: 415 unsupported_media_type", async () => {
    const bytes = order_frame([credit(10n)]);
    await expect_refused(() => post(base, "/v1/batches", bytes), 415, "unsupported_media_type");
  });

  test("an empty body: 400 batch_empty, in JSON and in FlatBuffers", async () => {
    await expect_refused(() => post_json_batch(base, ""), 400, "batch_empty");
    const reply = await expect_refused(() => post_frame_batch(base, new Uint8Array(0)), 400, "batch_empty");
    expect(reply.kind === "error" && reply.content_type).toBe(FLATBUFFERS_TYPE);
    await expect_refused(() => post_json_batch(base, json({ orders: [] })), 400, "batch_empty");
  });

  test("129 orders in JSON: 413 batch_too_large", async () => {
    const orders = Array.from({ length: 129 }, () => credit(1n));
    await expect_refused(() => post_json_batch(base, batch_json(orders)), 413, "batch_too_large");
  });

  // Over 64 KiB the service answers 413 frame_too_large itself (from content-length, before
  // reading); a chunked body is counted as it is read. Far beyond (16x), Bun refuses on its own.
  test("a body over 64 KiB: 413 frame_too_large, in JSON, FlatBuffers and chunked", async () => {
    const padded = `{"orders": [${JSON.stringify(order_json(credit(10n)))}]${" ".repeat(70_000)}}`;
    await expect_refused(() => post_json_batch(base, padded), 413, "frame_too_large");
    const frame = new Uint8Array(70_000);
    frame.set(order_frame([credit(10n)]));
    await expect_refused(() => post_frame_batch(base, frame), 413, "frame_too_large");
    const before = await state();
    const chunked = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(padded));
        controller.close();
      },
    });
    const reply = await post(base, "/v1/batches", chunked, { "content-type": "application/json" });
    expect(reply).toMatchObject({ kind: "error", http_status: 413, error: "frame_too_large" });
    const huge = new Uint8Array(64 * 1024 * 16 + 1);
    expect((await post_frame_batch(base, huge)).http_status).toBe(413);
    expect(await state()).toEqual(before);
  });
});

describe("bad JSON: 400 malformed_frame, the whole batch refused", () => {
  const order = () => order_json(credit(10n));
  const cases: [string, () => string, string][] = [
    ["a syntax error", () => `{"orders": [${json(order())}`, "invalid JSON"],
    ["a trailing comma", () => `{"orders": [${json(order())},]}`, "invalid JSON"],
    ["not an object", () => json([order()]), "JSON object"],
    ["orders not an array", () => json({ orders: order() }), "array"],
    ["an unknown mode", () => json({ mode: "eventually", orders: [order()] }), "mode"],
    ["an unknown top-level field", () => json({ orders: [order()], priority: 1 }), "unknown field"],
    ["an unknown op", () => json({ orders: [{ ...order(), op: "teleport" }] }), "unknown op"],
    ["the engine's own op", () => json({ orders: [{ ...order(), op: "expire_hold" }] }), "expire_hold"],
    ["a float amount", () => json({ orders: [order()] }).replace(/"amount":"10"/, `"amount":1.5`),
      "orders[0].amount"],
    ["a float amount as text", () => json({ orders: [{ ...order(), amount: "1.5" }] }), "orders[0].amount"],
    ["an exponent amount", () => json({ orders: [order()] }).replace(/"amount":"10"/, `"amount":1e3`),
      "orders[0].amount"],
    ["a negative amount", () => json({ orders: [{ ...order(), amount: -5 }] }), "negative"],
    ["a negative amount as text", () => json({ orders: [{ ...order(), amount: "-5" }] }), "orders[0].amount"],
    ["an amount over 2^64 - 1", () => json({ orders: [{ ...order(), amount: "18446744073709551616" }] }),
      "exceeds"],
    ["an unquoted amount of 2^53", () => json({ orders: [order()] })
      .replace(/"amount":"10"/, `"amount":9007199254740992`), "orders[0].amount"],
    ["a missing id", () => {
      const { id: _id, ...rest } = order();
      return json({ orders: [rest] });
    }, "orders[0].id: missing"],
    ["a missing account", () => {
      const { account: _account, ...rest } = order();
      return json({ orders: [rest] });
    }, "orders[0].account: missing"],
    ["an unknown order field", () => json({ orders: [{ ...order(), amout: "10" }] }), "unknown field"],
    ["an alias of another op", () => json({ orders: [{ ...order(), to: "5" }] }), "unknown field"],
    ["a partner over 2^32 - 1", () => json({ orders: [{ ...order(), partner: 4294967296 }] }),
      "orders[0].partner"],
    ["a currency over 2^16 - 1", () => json({ orders: [{ ...order(), currency: 65536 }] }),
      "orders[0].currency"],
    ["linked not a boolean", () => json({ orders: [{ ...order(), linked: "yes" }] }), "linked"],
    ["an id with a sign", () => json({ orders: [{ ...order(), id: "+1" }] }), "orders[0].id"],
    ["a good order before a bad one", () => json({ orders: [order(), { ...order(), amount: "x" }] }),
      "orders[1].amount"],
  ];
  for (const [name, body, message_part] of cases) {
    test(name, async () => {
      await expect_refused(() => post_json_batch(base, body()), 400, "malformed_frame", message_part);
    });
  }
});

describe("out-of-range numbers: a 200 reply with the order's own status, nothing applied", () => {
  async function expect_status(orders: TestOrder[], statuses: string[], format: "json" | "fb")
    : Promise<void> {
    const before = await state();
    const reply = format === "json"
      ? await post_json_batch(base, batch_json(orders))
      : await post_frame_batch(base, order_frame(orders));
    const results = expect_results(reply, 200);
    expect(results.map((r) => r.status)).toEqual(statuses);
    expect(results.map((r) => r.id)).toEqual(orders.map((o) => o.id.toString()));
    const after = await state();
    expect(after.a7).toEqual(before.a7);
    expect(after.a8).toEqual(before.a8);
    // The engine answered each order: one more order per status, nothing else.
    const expected_totals = { ...before.orders_total };
    for (const status of statuses) expected_totals[status] = (expected_totals[status] ?? 0) + 1;
    expect(after.orders_total).toEqual(expected_totals);
  }

  for (const format of ["json", "fb"] as const) {
    test(`amounts of 2^53 and 2^64 - 1 (${format}): amount_out_of_range`, async () => {
      await expect_status([credit(2n ** 53n), credit(2n ** 64n - 1n)],
        ["amount_out_of_range", "amount_out_of_range"], format);
    });

    test(`an amount of 0 (${format}): amount_invalid`, async () => {
      await expect_status([credit(0n)], ["amount_invalid"], format);
    });

    test(`a credit past 2^53 - 1 (${format}): balance_out_of_range`, async () => {
      await expect_status([credit(2n ** 53n - 1n)], ["balance_out_of_range"], format);
    });

    test(`a debit past the balance (${format}): insufficient_funds`, async () => {
      await expect_status([credit(10n ** 9n, { op: Op.debit })], ["insufficient_funds"], format);
    });

    test(`another currency (${format}): currency_mismatch`, async () => {
      await expect_status([credit(10n, { currency: USD })], ["currency_mismatch"], format);
    });

    test(`ids of 0, of the far past and of the far future (${format})`, async () => {
      const now = Date.now();
      await expect_status([
        credit(10n, { id: 0n }),
        credit(10n, { id: new OrderIdGenerator().next(now - 120_000) }),
        credit(10n, { id: new OrderIdGenerator().next(now + 120_000) }),
      ], ["id_invalid", "expired", "id_invalid"], format);
    });
  }
});

describe("routes and path parameters", () => {
  test("unknown routes and methods: 404 not_found", async () => {
    const before = await state();
    const gets = ["/", "/v1", "/v1/nope", "/v1/batches", "/v1/partners/7", "/v1/partners/7/accounts",
      "/v1/partners/7/accounts/1001/extra/more", "/v1/partners/7/holds/1"];
    for (const path of gets) {
      const reply = await get(base, path);
      expect({ path, status: reply.http_status, error: reply.json?.error })
        .toEqual({ path, status: 404, error: "not_found" });
    }
    for (const [method, path] of [["PUT", "/v1/batches"], ["DELETE", "/v1/partners/7/accounts/1001"],
      ["POST", "/v1/partners/7/orders/1"], ["POST", "/v1/partners/7/accounts/1001/explode"],
      ["PATCH", "/v1/partners/7/accounts/1001"]] as const) {
      const response = await fetch(`${base}${path}`, { method, body: "{}",
        headers: { "content-type": "application/json", ...auth_headers(base) } });
      const body = await response.json() as { error?: string };
      expect({ method, path, status: response.status, error: body.error })
        .toEqual({ method, path, status: 404, error: "not_found" });
    }
    expect(await state()).toEqual(before);
  });

  test("an unknown account or order: 404 not_found", async () => {
    expect(await read_account(base, P7, 999_999n)).toBeNull();
    expect(await read_order(base, P7, ids.next())).toBeNull();
    // Another partner's account reads as not found: nothing about it leaks.
    expect(await read_account(base, P8, A7)).toBeNull();
  });

  test("bad path parameters: 400 malformed_frame", async () => {
    const before = await state();
    const bad_gets = [
      "/v1/partners/0/accounts/1001", "/v1/partners/4294967296/accounts/1001",
      "/v1/partners/abc/accounts/1001", "/v1/partners/-7/accounts/1001",
      "/v1/partners/99999999999/accounts/1001",
      "/v1/partners/7/accounts/0", "/v1/partners/7/accounts/18446744073709551616",
      "/v1/partners/7/accounts/-1", "/v1/partners/7/accounts/1e3", "/v1/partners/7/accounts/0x10",
      "/v1/partners/7/accounts/123456789012345678901",
      "/v1/partners/7/orders/abc", "/v1/partners/7/orders/0", "/v1/partners/0/orders/1",
    ];
    for (const path of bad_gets) {
      const reply = await get(base, path);
      expect({ path, status: reply.http_status, error: reply.json?.error })
        .toEqual({ path, status: 400, error: "malformed_frame" });
    }
    const bad_posts: [string, string][] = [
      ["/v1/partners/0/accounts/1001/freeze", "{}"],
      ["/v1/partners/7/accounts/xyz/freeze", "{}"],
      ["/v1/partners/7/accounts/0/close", "{}"],
      ["/v1/partners/7/accounts/1001/overdraft", json({ overdraft_limit: -1 })],
      ["/v1/partners/7/accounts/1001/overdraft", json({ overdraft_limit: "1.5" })],
      ["/v1/partners/7/accounts/1001/freeze", json({ order_id: 5 })],
      ["/v1/partners/7/accounts/1001/freeze", "not json"],
      ["/v1/partners/0/accounts", json({ account: "3001", kind: "user", currency: EUR })],
      ["/v1/partners/7/accounts", json({ account: 3001, kind: "user", currency: EUR })],
      ["/v1/partners/7/accounts", json({ account: "3001", kind: "alien", currency: EUR })],
      ["/v1/partners/7/accounts", json({ account: "3001", kind: "user", currency: 0 })],
      ["/v1/partners/7/accounts", json({ account: "3001", kind: "user", currency: 1000 })],
      ["/v1/partners/7/accounts", json({ account: "3001", kind: "user" })],
      ["/v1/partners/7/accounts", "[1, 2]"],
    ];
    for (const [path, body] of bad_posts) {
      const reply = await post(base, path, body, { "content-type": "application/json" });
      expect({ path, body, status: reply.http_status, error: reply.kind === "error" && reply.error })
        .toEqual({ path, body, status: 400, error: "malformed_frame" });
    }
    expect(await state()).toEqual(before);
    expect(await read_account(base, P7, 3001n)).toBeNull();
  });
});

describe("good batches next to the bad ones", () => {
  test("a committed credit is in the account read", async () => {
    const before = (await read_account(base, P7, A7))!;
    const order = credit(250n);
    const [result] = expect_results(await post_json_batch(base, batch_json([order])), 200);
    expect(result).toMatchObject({ id: order.id.toString(), status: "ok", replayed: false,
      balance: String(BigInt(before.balance) + 250n) });
    const after = (await read_account(base, P7, A7))!;
    expect(after.balance).toBe(String(BigInt(before.balance) + 250n));
    expect(after.sequence).toBe(result!.sequence);
    expect(await read_order(base, P7, order.id)).toEqual(result!);
  });

  test("a retry is answered replayed with the original result, and applies nothing", async () => {
    const orders = [credit(30n), credit(40n, { op: Op.debit })];
    const first = expect_results(await post_json_batch(base, batch_json(orders)), 200);
    expect(first.map((r) => [r.status, r.replayed])).toEqual([["ok", false], ["ok", false]]);
    const account = await read_account(base, P7, A7);
    const totals = await orders_total(base);
    for (const reply of [await post_json_batch(base, batch_json(orders)),
      await post_frame_batch(base, order_frame(orders))]) {
      const again = expect_results(reply, 200);
      expect(again).toEqual(first.map((r) => ({ ...r, replayed: true })));
    }
    expect(await read_account(base, P7, A7)).toEqual(account);
    const after = await orders_total(base);
    expect(after.get("ok")).toBe(totals.get("ok")! + 4);
    // The same id with another payload is a conflict, not a replay.
    const conflict = expect_results(
      await post_json_batch(base, batch_json([{ ...orders[0]!, amount: 31n }])), 200);
    expect(conflict[0]).toMatchObject({ status: "id_conflict", replayed: false });
    expect(await read_account(base, P7, A7)).toEqual(account);
  });

  test("accepted mode: 202, every order pending, then readable as ok", async () => {
    const before = (await read_account(base, P7, A7))!;
    const json_orders = [credit(5n), credit(6n)];
    const fb_orders = [credit(7n)];
    const json_reply = await post_json_batch(base, batch_json(json_orders, "accepted"));
    const fb_reply = await post_frame_batch(base, order_frame(fb_orders, Mode.accepted));
    for (const [reply, orders] of [[json_reply, json_orders], [fb_reply, fb_orders]] as const) {
      const results = expect_results(reply, 202);
      expect(results.map((r) => [r.id, r.status])).toEqual(orders.map((o) => [o.id.toString(), "pending"]));
    }
    for (const order of [...json_orders, ...fb_orders]) {
      let result: Result | null = null;
      const deadline = performance.now() + 10_000;
      while (result === null && performance.now() < deadline) {
        result = await read_order(base, P7, order.id);
        if (result === null) await Bun.sleep(20);
      }
      expect(result).toMatchObject({ id: order.id.toString(), status: "ok", replayed: false });
    }
    const after = (await read_account(base, P7, A7))!;
    expect(BigInt(after.balance)).toBe(BigInt(before.balance) + 18n);
  });

  test("another partner's account number: not found, nothing leaks, nothing applied", async () => {
    const before = await state();
    const orders = [
      credit(10n, { partner: P8 }),
      credit(10n, { partner: P8, op: Op.debit }),
      credit(10n, { op: Op.transfer, ref: A8 }),
    ];
    const results = expect_results(await post_frame_batch(base, order_frame(orders)), 200);
    // Account ids are each partner's own: partner 8 has no account 1001, partner 7 no 2001.
    expect(results.map((r) => r.status))
      .toEqual(["account_not_found", "account_not_found", "account_not_found"]);
    for (const result of results.slice(0, 2)) {
      expect([result.balance, result.available]).toEqual(["0", "0"]);
    }
    const after = await state();
    expect([after.a7, after.a8]).toEqual([before.a7, before.a8]);
  });

  test("the server is still ready after all of it", async () => {
    expect((await get(base, "/readyz")).http_status).toBe(200);
    expect((await get(base, "/healthz")).json).toEqual({ status: "alive" });
    expect(service.running).toBe(true);
  });
});
