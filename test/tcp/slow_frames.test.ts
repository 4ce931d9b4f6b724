// Slow senders against a real server process (docs/protocol.md, Framing): a frame has a deadline
// from its first byte that later bytes do not extend, so a client dripping an unfinished frame is
// cut with Error{frame_timeout} while a normal client keeps working; a healthy client whose frames
// come in pieces is not. A Hello dripped byte by byte hits the Hello timeout.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { TCP_HELLO_TIMEOUT_MS } from "../../common/constants.ts";
import { encode_hello, encode_ping, PROTOCOL_VERSION_CURRENT } from "../../schema/codec.ts";
import { ErrorCode } from "../../schema/generated/balance/wire/error-code.ts";
import { TcpTestClient, bigints, with_prefix, type Received } from "./tcp_client.ts";
import { batch, credit, start_tcp_service, type TcpService } from "./tcp_service.ts";

// Short enough to see in a test, long beside the pauses of the healthy clients below (300 ms).
const FRAME_TIMEOUT_MS = 2_000;
const DRIP_INTERVAL_MS = 100;
const PIECE_INTERVAL_MS = 300;
// Waits for what a deadline triggers: the deadline, the 250 ms sweep, and a noisy machine's slack.
const DEADLINE_WAIT_MS = FRAME_TIMEOUT_MS * 5;
const HELLO_WAIT_MS = TCP_HELLO_TIMEOUT_MS * 2;
const TEST_TIMEOUT_MS = 60_000;

let short: TcpService; // TCP_FRAME_TIMEOUT_MS = FRAME_TIMEOUT_MS
let standard: TcpService; // the default frame deadline (30 s), longer than the Hello timeout

beforeAll(async () => {
  [short, standard] = await Promise.all([
    start_tcp_service({ TCP_FRAME_TIMEOUT_MS: String(FRAME_TIMEOUT_MS) }),
    start_tcp_service(),
  ]);
});

afterAll(async () => {
  for (const service of [short, standard]) {
    if (!service.service.running) console.error(service.service.output());
    expect(await service.service.stop()).toBe(0);
    service.service.remove_data();
  }
});

function expect_error(frame: Received, code: ErrorCode): void {
  if (frame.type !== "error") throw new Error(`not an error: ${JSON.stringify(frame, bigints)}`);
  expect(ErrorCode[frame.code]).toBe(ErrorCode[code]);
}

/** Writes `bytes` one at a time, `interval_ms` apart, until done or closed; returns bytes sent. */
async function drip(client: TcpTestClient, bytes: Uint8Array, interval_ms: number)
  : Promise<number> {
  let sent = 0;
  while (sent < bytes.length && !client.closed) {
    try {
      client.send_raw(bytes.subarray(sent, sent + 1));
    } catch {
      break; // closed under the write
    }
    sent++;
    await Bun.sleep(interval_ms);
  }
  return sent;
}

/** Pings on `client` until `until` closes (or `rounds` pings); returns the pongs received. */
async function ping_until_closed(client: TcpTestClient, until: TcpTestClient, rounds: number)
  : Promise<number> {
  let pongs = 0;
  for (let nonce = 1n; nonce <= BigInt(rounds) && !until.closed; nonce++) {
    client.send(encode_ping(nonce));
    expect(await client.next()).toEqual({ type: "pong", nonce });
    pongs++;
    await Bun.sleep(DRIP_INTERVAL_MS);
  }
  return pongs;
}

test("a frame dripped a byte at a time is cut at its deadline; others keep working", async () => {
  const token = await short.internal_token();
  const dripping = await TcpTestClient.session(short.tcp_port, token);
  const healthy = await TcpTestClient.session(short.tcp_port, token);
  // ~900 bytes at one per 100 ms would take 90 s: every byte restarted the idle timer before.
  const orders = Array.from({ length: 20 }, () => credit(7, 7001n, 1n));
  const frame = with_prefix(batch(1n, orders));
  const dripped = drip(dripping, frame, DRIP_INTERVAL_MS);
  const pongs = await ping_until_closed(healthy, dripping, DEADLINE_WAIT_MS / DRIP_INTERVAL_MS);
  expect_error(await dripping.next(DEADLINE_WAIT_MS), ErrorCode.frame_timeout);
  expect(await dripping.wait_closed(DEADLINE_WAIT_MS)).toBe(true);
  expect(await dripped).toBeLessThan(frame.length);
  expect(pongs).toBeGreaterThan(0);
  healthy.send(encode_ping(99n));
  expect(await healthy.next()).toEqual({ type: "pong", nonce: 99n });
  expect(healthy.closed).toBe(false);
  healthy.close();
}, TEST_TIMEOUT_MS);

test("the deadline is per frame: frames each in pieces, back to back, past it in sum", async () => {
  const client = await TcpTestClient.session(short.tcp_port, await short.internal_token());
  const half = with_prefix(encode_ping(1n)).length >> 1; // every non-zero nonce: the same size
  const rounds = Math.ceil((FRAME_TIMEOUT_MS * 2) / PIECE_INTERVAL_MS);
  // Each write ends one Ping and begins the next, so a frame is always held, each for 300 ms.
  client.send_raw(with_prefix(encode_ping(1n)).subarray(0, half));
  for (let nonce = 1n; nonce <= BigInt(rounds); nonce++) {
    await Bun.sleep(PIECE_INTERVAL_MS);
    const tail = with_prefix(encode_ping(nonce)).subarray(half);
    const head = with_prefix(encode_ping(nonce + 1n)).subarray(0, half);
    const write = new Uint8Array(tail.length + head.length);
    write.set(tail, 0);
    write.set(head, tail.length);
    client.send_raw(write);
    expect(await client.next(DEADLINE_WAIT_MS)).toEqual({ type: "pong", nonce });
  }
  expect(client.closed).toBe(false);
  client.close();
}, TEST_TIMEOUT_MS);

test("a frame with a pause inside its deadline is read", async () => {
  const client = await TcpTestClient.session(short.tcp_port, await short.internal_token());
  const ping = with_prefix(encode_ping(5n));
  client.send_raw(ping.subarray(0, 1)); // the length prefix's first byte starts the deadline
  await Bun.sleep(PIECE_INTERVAL_MS);
  client.send_raw(ping.subarray(1));
  expect(await client.next()).toEqual({ type: "pong", nonce: 5n });
  client.close();
}, TEST_TIMEOUT_MS);

test("a Hello dripped a byte at a time is cut by the Hello timeout", async () => {
  const client = await TcpTestClient.connect(standard.tcp_port);
  const token = await standard.internal_token();
  const hello = with_prefix(encode_hello(PROTOCOL_VERSION_CURRENT, token));
  expect(hello.length * DRIP_INTERVAL_MS).toBeGreaterThan(HELLO_WAIT_MS); // not done in time
  const dripped = drip(client, hello, DRIP_INTERVAL_MS);
  expect_error(await client.next(HELLO_WAIT_MS), ErrorCode.not_authenticated);
  expect(await client.wait_closed(HELLO_WAIT_MS)).toBe(true);
  expect(await dripped).toBeLessThan(hello.length);
  const other = await TcpTestClient.session(standard.tcp_port, await standard.internal_token());
  other.send(encode_ping(3n));
  expect(await other.next()).toEqual({ type: "pong", nonce: 3n });
  other.close();
}, TEST_TIMEOUT_MS);
