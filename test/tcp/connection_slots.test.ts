// Connection slots against a real server process (docs/protocol.md, Limits): a principal holds
// at most TCP_CONNECTIONS_PER_PRINCIPAL_MAX sessions (exactly the cap is fine, one more is refused
// with Error{too_many_connections} after its Hello) while other principals still connect; a slot
// comes back whatever closes its connection; connections not past Hello are at most
// TCP_UNAUTHENTICATED_CONNECTIONS_MAX (one more is closed at once, without a frame).

import { afterAll, beforeAll, expect, test } from "bun:test";
import {
  encode_error, encode_hello, encode_ping, PROTOCOL_VERSION_CURRENT,
} from "../../schema/codec.ts";
import { ErrorCode } from "../../schema/generated/balance/wire/error-code.ts";
import { TcpTestClient, bigints, type Received } from "./tcp_client.ts";
import { start_tcp_service, type TcpService } from "./tcp_service.ts";

const PER_PRINCIPAL_MAX = 3;
const UNAUTHENTICATED_MAX = 2;
const CONNECTIONS_MAX = 16;
const CLOSE_TIMEOUT_MS = 5_000;
// The server sees a client's close a moment later: a freed slot is retried for this long.
const SLOT_FREED_WAIT_MS = 5_000;
const RETRY_INTERVAL_MS = 20;
const TEST_TIMEOUT_MS = 30_000;
const P7 = 7;
const P8 = 8;

let tcp: TcpService;

beforeAll(async () => {
  tcp = await start_tcp_service({
    TCP_CONNECTIONS_PER_PRINCIPAL_MAX: String(PER_PRINCIPAL_MAX),
    TCP_UNAUTHENTICATED_CONNECTIONS_MAX: String(UNAUTHENTICATED_MAX),
    TCP_CONNECTIONS_MAX: String(CONNECTIONS_MAX),
  });
});

afterAll(async () => {
  if (!tcp.service.running) console.error(tcp.service.output());
  expect(await tcp.service.stop()).toBe(0);
  tcp.service.remove_data();
});

function expect_error(frame: Received, code: ErrorCode): void {
  if (frame.type !== "error") throw new Error(`not an error: ${JSON.stringify(frame, bigints)}`);
  expect(ErrorCode[frame.code]).toBe(ErrorCode[code]);
}

/** Connects and sends Hello; returns the client and the server's answer. */
async function hello(token: string): Promise<[TcpTestClient, Received]> {
  const client = await TcpTestClient.connect(tcp.tcp_port);
  client.send(encode_hello(PROTOCOL_VERSION_CURRENT, token));
  return [client, await client.next()];
}

/** A session refused for its principal's cap: Error{too_many_connections}, then closed. */
async function expect_principal_full(token: string): Promise<void> {
  const [client, reply] = await hello(token);
  expect_error(reply, ErrorCode.too_many_connections);
  expect(await client.wait_closed(CLOSE_TIMEOUT_MS)).toBe(true);
}

/**
 * A session once the server has seen a slot freed: it learns of a close a moment later, so until
 * then a Hello may be refused for the principal's cap, or the socket closed at once for the cap
 * of connections not past Hello.
 */
async function session_when_free(token: string): Promise<TcpTestClient> {
  const deadline_ms = performance.now() + SLOT_FREED_WAIT_MS;
  for (;;) {
    const [client, reply] = await hello(token).catch(() => [null, null] as const);
    if (reply?.type === "hello_ok") return client!;
    if (reply !== null) expect_error(reply, ErrorCode.too_many_connections);
    client?.close();
    if (performance.now() > deadline_ms) throw new Error("no slot freed in time");
    await Bun.sleep(RETRY_INTERVAL_MS);
  }
}

async function sessions(token: string, count: number): Promise<TcpTestClient[]> {
  const out: TcpTestClient[] = [];
  for (let i = 0; i < count; i++) out.push(await session_when_free(token));
  return out;
}

async function expect_serving(client: TcpTestClient, nonce: bigint): Promise<void> {
  client.send(encode_ping(nonce));
  expect(await client.next()).toEqual({ type: "pong", nonce });
}

// First: no connection of an earlier test is still closing.
test("connections before Hello are bounded: one more closes at once, sessions go on", async () => {
  const session = await session_when_free(await tcp.partner_token(P8));
  const waiting = [];
  for (let i = 0; i < UNAUTHENTICATED_MAX; i++) {
    waiting.push(await TcpTestClient.connect(tcp.tcp_port));
  }
  const refused = await TcpTestClient.connect(tcp.tcp_port);
  expect(await refused.wait_closed(CLOSE_TIMEOUT_MS)).toBe(true);
  expect(refused.queued).toBe(0);
  await expect_serving(session, 1n);
  waiting[0]!.send(encode_hello(PROTOCOL_VERSION_CURRENT, await tcp.internal_token()));
  expect((await waiting[0]!.next()).type).toBe("hello_ok"); // past Hello: its slot is free again
  const again = await session_when_free(await tcp.partner_token(P7));
  await expect_serving(again, 2n);
  for (const client of [session, ...waiting, again]) client.close();
}, TEST_TIMEOUT_MS);

test("a partner at its cap is refused after Hello; another partner still connects", async () => {
  const token = await tcp.partner_token(P7);
  const p7 = await sessions(token, PER_PRINCIPAL_MAX); // exactly the cap: every one accepted
  await expect_principal_full(token);
  await expect_principal_full(await tcp.partner_token(P7)); // another token of the same partner
  const p8 = await sessions(await tcp.partner_token(P8), PER_PRINCIPAL_MAX);
  const internal = await TcpTestClient.session(tcp.tcp_port, await tcp.internal_token());
  const all = [...p7, ...p8, internal];
  for (const [i, client] of all.entries()) await expect_serving(client, BigInt(i + 1));
  for (const client of all) client.close();
}, TEST_TIMEOUT_MS);

test("a slot comes back whatever closes its connection, and the cap holds again", async () => {
  const token = await tcp.partner_token(P7);
  const p7 = await sessions(await tcp.partner_token(P7), PER_PRINCIPAL_MAX);
  p7.pop()!.close(); // the client closes
  const bad = p7.pop()!;
  bad.send(encode_error(1n, ErrorCode.busy, "a client never sends this", 0)); // the server closes
  expect_error(await bad.next(), ErrorCode.malformed_frame);
  expect(await bad.wait_closed(CLOSE_TIMEOUT_MS)).toBe(true);
  p7.push(await session_when_free(token), await session_when_free(token));
  expect(p7.length).toBe(PER_PRINCIPAL_MAX);
  await expect_principal_full(token);
  for (const [i, client] of p7.entries()) await expect_serving(client, BigInt(i + 1));
  for (const client of p7) client.close();
}, TEST_TIMEOUT_MS);

test("refused sessions do not keep a Hello slot", async () => {
  const token = await tcp.partner_token(P7);
  const p7 = await sessions(token, PER_PRINCIPAL_MAX);
  for (let i = 0; i < UNAUTHENTICATED_MAX * 3; i++) await expect_principal_full(token);
  const p8 = await session_when_free(await tcp.partner_token(P8)); // Hello slots are free again
  await expect_serving(p8, 1n);
  for (const client of [...p7, p8]) client.close();
}, TEST_TIMEOUT_MS);
