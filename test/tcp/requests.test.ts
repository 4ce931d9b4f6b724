// Requests over TCP against a real server process: pipelined batches answered out of order with
// their request ids, accepted mode's one BatchResults, reads with partner checks, Ping/Pong,
// per-request refusals that keep the connection open (forbidden, batch_empty, op_unknown,
// too_many_in_flight), the connection limit, the idle timeout, and a reader that stops reading
// without stalling anyone else.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  encode_account_query, encode_order_batch, encode_order_query, encode_ping,
} from "../../schema/codec.ts";
import { ErrorCode } from "../../schema/generated/balance/wire/error-code.ts";
import { Mode } from "../../schema/generated/balance/wire/mode.ts";
import { Status } from "../../schema/generated/balance/wire/status.ts";
import { TcpTestClient, bigints, with_prefix, type Received } from "./tcp_client.ts";
import {
  batch, credit, open_order, orders_bytes, start_tcp_service, type TcpService,
} from "./tcp_service.ts";

const P7 = 7;
const P8 = 8;
const A7 = 7001n;
const A8 = 8001n;
const CLOSE_TIMEOUT_MS = 5_000;
const SEND_BUFFER_BYTES_MAX = 128 * 1024;
const SMALL_IN_FLIGHT_MAX = 4;
const SMALL_CONNECTIONS_MAX = 3;
const SMALL_IDLE_TIMEOUT_MS = 400;

let tcp: TcpService;
let small: TcpService;

beforeAll(async () => {
  [tcp, small] = await Promise.all([
    start_tcp_service({ TCP_SEND_BUFFER_BYTES_MAX: String(SEND_BUFFER_BYTES_MAX) }),
    start_tcp_service({ TCP_IN_FLIGHT_MAX: String(SMALL_IN_FLIGHT_MAX),
      TCP_CONNECTIONS_MAX: String(SMALL_CONNECTIONS_MAX),
      TCP_IDLE_TIMEOUT_MS: String(SMALL_IDLE_TIMEOUT_MS) }),
  ]);
  const admin = await TcpTestClient.session(tcp.tcp_port, await tcp.internal_token());
  admin.send(batch(1n, [open_order(P7, A7), credit(P7, A7, 1000n)]));
  admin.send(batch(2n, [open_order(P8, A8), credit(P8, A8, 500n)]));
  for (const reply of await admin.take(2)) {
    expect(results_of(reply).map((r) => Status[r.status])).toEqual(["ok", "ok"]);
  }
  admin.close();
});

afterAll(async () => {
  for (const service of [tcp, small]) {
    if (!service.service.running) console.error(service.service.output());
    expect(await service.service.stop()).toBe(0);
    service.service.remove_data();
  }
});

function results_of(frame: Received) {
  if (frame.type !== "batch_results") throw new Error(`expected results: ${JSON.stringify(frame, bigints)}`);
  return frame.results!;
}

function expect_error(frame: Received, code: ErrorCode, request_id: bigint): void {
  if (frame.type !== "error") throw new Error(`expected an error, got ${JSON.stringify(frame, bigints)}`);
  expect(ErrorCode[frame.code]).toBe(ErrorCode[code]);
  expect(frame.request_id).toBe(request_id);
}

function joined(...frames: Uint8Array[]): Uint8Array {
  const parts = frames.map(with_prefix);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

describe("pipelining", () => {
  test("responses come out of order, each with its request's id", async () => {
    const client = await TcpTestClient.session(tcp.tcp_port, await tcp.partner_token(P7));
    // One write: the committed batch waits for the fsync, the accepted one is answered at once.
    client.send_raw(joined(batch(10n, [credit(P7, A7, 1n)]),
      batch(11n, [credit(P7, A7, 2n)], Mode.accepted), encode_ping(12n)));
    const [first, second, third] = await client.take(3);
    expect(first!.type === "batch_results" && first!.request_id).toBe(11n);
    expect(results_of(first!).map((r) => Status[r.status])).toEqual(["pending"]);
    expect(second).toEqual({ type: "pong", nonce: 12n });
    expect(third!.type === "batch_results" && third!.request_id).toBe(10n);
    expect(results_of(third!)[0]!.status).toBe(Status.ok);
    client.close();
  });

  test("accepted mode: one answer, every order pending; nothing follows; OrderQuery tells the outcome",
    async () => {
      const client = await TcpTestClient.session(tcp.tcp_port, await tcp.partner_token(P7));
      const orders = [credit(P7, A7, 5n), { ...credit(P7, A7, 1n), account: 999_999n }];
      client.send(batch(20n, orders, Mode.accepted));
      const answer = await client.next();
      expect(answer.type === "batch_results" && answer.request_id).toBe(20n);
      const pending = results_of(answer);
      expect(pending.map((r) => [Status[r.status], r.sequence])).toEqual([["pending", 0n], ["pending", 0n]]);
      // An OrderQuery is answered once what it reflects is durable, the accepted orders included:
      // a second BatchResults of request 20, if there were one, would come before these.
      client.send(encode_order_query(21n, pending[0]!.order_id, 0));
      client.send(encode_order_query(22n, pending[1]!.order_id, 0));
      client.send(encode_ping(23n));
      const outcome = (frame: Received) => frame.type === "order_status" && frame.found
        ? [frame.request_id, Status[frame.result!.status]] : frame;
      const frames = (await client.take(3)).map(outcome);
      expect(frames).toContainEqual([21n, "ok"]);
      expect(frames).toContainEqual([22n, "account_not_found"]);
      expect(frames).toContainEqual({ type: "pong", nonce: 23n });
      client.close();
    });

  test("many batches in flight on one connection all come back", async () => {
    const client = await TcpTestClient.session(tcp.tcp_port, await tcp.partner_token(P7));
    const count = 48; // within partner 7's share of a 256-slot ring (else some are busy)
    const frames: Uint8Array[] = [];
    for (let i = 0; i < count; i++) frames.push(batch(BigInt(1000 + i), [credit(P7, A7, 1n)]));
    client.send_raw(joined(...frames));
    const ids = (await client.take(count)).map((f) => {
      expect(results_of(f)[0]!.status).toBe(Status.ok);
      return f.type === "batch_results" ? Number(f.request_id) : -1;
    });
    expect(ids.sort((a, b) => a - b)).toEqual(frames.map((_, i) => 1000 + i));
    client.close();
  });
});

describe("reads and refusals that keep the connection open", () => {
  test("reads: the token's own partner, or an internal token's named one", async () => {
    const client = await TcpTestClient.session(tcp.tcp_port, await tcp.partner_token(P8));
    client.send(encode_account_query(30n, A8, 0));
    const info = await client.next();
    expect(info).toMatchObject({ type: "account_info", request_id: 30n, account: A8, partner: P8,
      balance: 500n });
    const internal = await TcpTestClient.session(tcp.tcp_port, await tcp.internal_token());
    internal.send(encode_account_query(31n, A8, P8));
    expect(await internal.next()).toMatchObject({ type: "account_info", request_id: 31n, balance: 500n });
    internal.send(encode_account_query(32n, 424242n, P8));
    expect_error(await internal.next(), ErrorCode.not_found, 32n);
    internal.close();
    client.close();
  });

  test("an order's status by id", async () => {
    const client = await TcpTestClient.session(tcp.tcp_port, await tcp.partner_token(P8));
    const orders = orders_bytes([credit(P8, A8, 3n)]);
    client.send(encode_order_batch(40n, Mode.committed, orders, 1));
    const result = results_of(await client.next())[0]!;
    client.send(encode_order_query(41n, result.order_id, 0));
    expect(await client.next()).toEqual({ type: "order_status", request_id: 41n, found: true, result });
    client.close();
  });

  test("another partner's account or orders: forbidden, and the connection stays open", async () => {
    const client = await TcpTestClient.session(tcp.tcp_port, await tcp.partner_token(P7));
    client.send(encode_account_query(50n, A8, P8));
    expect_error(await client.next(), ErrorCode.forbidden, 50n);
    client.send(batch(51n, [credit(P8, A8, 1_000_000n)]));
    expect_error(await client.next(), ErrorCode.forbidden, 51n);
    client.send(batch(52n, [open_order(P7, 7002n)])); // administration needs an internal token
    expect_error(await client.next(), ErrorCode.forbidden, 52n);
    client.send(encode_ping(53n));
    expect(await client.next()).toEqual({ type: "pong", nonce: 53n });
    const reader = await TcpTestClient.session(tcp.tcp_port, await tcp.partner_token(P8));
    reader.send(encode_account_query(54n, A8, 0));
    expect(await reader.next()).toMatchObject({ balance: 500n + 3n }); // untouched by partner 7
    reader.close();
    client.close();
  });

  test("an unknown op: per-order status op_unknown", async () => {
    const client = await TcpTestClient.session(tcp.tcp_port, await tcp.partner_token(P7));
    client.send(batch(60n, [credit(P7, A7, 1n), { op: 99 as never, partner: P7, account: A7 }]));
    const results = results_of(await client.next());
    expect(Status[results[1]!.status]).toBe("op_unknown");
    client.close();
  });

  test("an empty batch and an oversized one: their errors with the request id, open", async () => {
    const client = await TcpTestClient.session(tcp.tcp_port, await tcp.partner_token(P7));
    const empty = encode_order_batch(70n, Mode.committed, orders_bytes([credit(P7, A7, 1n)]), 1);
    new DataView(empty.buffer).setUint32(60, 0, true);
    client.send(empty.subarray(0, 64));
    expect_error(await client.next(), ErrorCode.batch_empty, 70n);
    const big = Array.from({ length: 129 }, () => credit(P7, A7, 1n));
    const frame = encode_order_batch(71n, Mode.committed, orders_bytes(big.slice(0, 128)), 128);
    const oversized = new Uint8Array(frame.length + 40);
    oversized.set(frame, 0);
    oversized.set(orders_bytes([big[128]!]), frame.length);
    new DataView(oversized.buffer).setUint32(60, 129, true);
    client.send(oversized);
    expect_error(await client.next(), ErrorCode.batch_too_large, 71n);
    client.send(encode_ping(72n));
    expect(await client.next()).toEqual({ type: "pong", nonce: 72n });
    client.close();
  });
});

describe("limits", () => {
  test("more than TCP_IN_FLIGHT_MAX unanswered: too_many_in_flight, open", async () => {
    const client = await TcpTestClient.session(small.tcp_port, await small.internal_token());
    const count = SMALL_IN_FLIGHT_MAX * 3;
    const frames = Array.from({ length: count }, (_, i) =>
      batch(BigInt(100 + i), [open_order(P7, BigInt(70_000 + i))]));
    client.send_raw(joined(...frames));
    const replies = await client.take(count);
    const refused = replies.filter((f) => f.type === "error");
    for (const f of refused) expect(f.type === "error" && ErrorCode[f.code]).toBe("too_many_in_flight");
    expect(refused.length).toBeGreaterThanOrEqual(1);
    expect(count - refused.length).toBeGreaterThanOrEqual(SMALL_IN_FLIGHT_MAX);
    client.send(encode_ping(1n));
    expect(await client.next()).toEqual({ type: "pong", nonce: 1n });
    client.close();
  });

  test("a connection beyond TCP_CONNECTIONS_MAX is closed at once; room again after a close", async () => {
    const token = await small.internal_token();
    const open = [];
    for (let i = 0; i < SMALL_CONNECTIONS_MAX; i++) open.push(await TcpTestClient.session(small.tcp_port, token));
    const refused = await TcpTestClient.connect(small.tcp_port);
    expect(await refused.wait_closed(CLOSE_TIMEOUT_MS)).toBe(true);
    expect(refused.queued).toBe(0);
    open.pop()!.close();
    let again: TcpTestClient | null = null;
    for (let attempt = 0; attempt < 100 && again === null; attempt++) {
      again = await TcpTestClient.session(small.tcp_port, token).catch(() => null);
      if (again === null) await Bun.sleep(20);
    }
    expect(again).not.toBeNull();
    for (const client of [...open, again!]) client.close();
  });

  test("an idle connection, and one stuck on a truncated frame, are closed", async () => {
    const idle = await TcpTestClient.session(small.tcp_port, await small.internal_token());
    const truncated = await TcpTestClient.session(small.tcp_port, await small.internal_token());
    truncated.send_raw(with_prefix(encode_ping(1n)).subarray(0, 6));
    expect(await idle.wait_closed(SMALL_IDLE_TIMEOUT_MS * 10)).toBe(true);
    expect(await truncated.wait_closed(SMALL_IDLE_TIMEOUT_MS * 10)).toBe(true);
  });
});

describe("backpressure", () => {
  test("a client that stops reading stalls only itself, and gets every reply once it reads", async () => {
    const slow = await TcpTestClient.session(tcp.tcp_port, await tcp.partner_token(P7));
    slow.pause();
    const ping_bytes = with_prefix(encode_ping(8n));
    const pings_per_chunk = 2048;
    const chunk = new Uint8Array(ping_bytes.length * pings_per_chunk);
    for (let i = 0; i < pings_per_chunk; i++) chunk.set(ping_bytes, i * ping_bytes.length);
    // Write until the server stops reading this socket and the kernel buffers on both sides are full.
    let written_bytes = 0;
    let offset = 0;
    for (let stalls = 0; stalls < 20;) {
      const written = slow.try_write(chunk, offset);
      written_bytes += written;
      offset = (offset + written) % chunk.length;
      if (written === 0) {
        stalls++;
        await Bun.sleep(20);
      } else {
        stalls = 0;
      }
    }
    // Meanwhile another connection is served in full.
    const fast = await TcpTestClient.session(tcp.tcp_port, await tcp.partner_token(P7));
    const count = 100;
    for (let i = 0; i < count; i++) {
      fast.send(batch(BigInt(5000 + i), [credit(P7, A7, 1n)]));
      expect(results_of(await fast.next())[0]!.status).toBe(Status.ok);
    }
    expect(slow.closed).toBe(false);
    slow.resume();
    const pings = Math.floor(written_bytes / ping_bytes.length);
    const pongs = await slow.take(pings, 30_000);
    expect(pongs.every((f) => f.type === "pong")).toBe(true);
    slow.close();
    fast.close();
  }, 60_000);
});
