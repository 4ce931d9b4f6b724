// The TCP session of a real server process fed bad input (docs/protocol.md, Errors): every bad
// frame and every bad token gets its Error frame and the documented connection behaviour (closed,
// or open for a refused request), and the server keeps serving others. Tokens are signed for the
// test's keys file; revocation is seen through the revoked-token file and its poll.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { FRAME_SIZE_BYTES_MAX } from "../../common/constants.ts";
import {
  encode_account_query, encode_error, encode_hello, encode_order_batch, encode_ping,
  PROTOCOL_VERSION_CURRENT,
} from "../../schema/codec.ts";
import { ErrorCode } from "../../schema/generated/balance/wire/error-code.ts";
import { Mode } from "../../schema/generated/balance/wire/mode.ts";
import { hs256_key, now_s, sign } from "../auth/tokens.ts";
import { TcpTestClient, bigints, with_prefix, type Received } from "./tcp_client.ts";
import { REVOCATION_POLL_MS, start_tcp_service, type TcpService } from "./tcp_service.ts";

const CLOSE_TIMEOUT_MS = 5_000;
let tcp: TcpService;

beforeAll(async () => {
  tcp = await start_tcp_service();
});

afterAll(async () => {
  expect(await tcp.service.stop()).toBe(0);
  tcp.service.remove_data();
});

function expect_error(frame: Received, code: ErrorCode, request_id = 0n): void {
  if (frame.type !== "error") throw new Error(`expected an error, got ${JSON.stringify(frame, bigints)}`);
  expect(ErrorCode[frame.code]).toBe(ErrorCode[code]);
  expect(frame.request_id).toBe(request_id);
}

/** Sends raw bytes on a fresh connection; expects Error{code}, then the close. */
async function expect_refused_and_closed(bytes: Uint8Array, code: ErrorCode): Promise<void> {
  const client = await TcpTestClient.connect(tcp.tcp_port);
  client.send_raw(bytes);
  expect_error(await client.next(), code);
  expect(await client.wait_closed(CLOSE_TIMEOUT_MS)).toBe(true);
  await expect_still_serving();
}

/** Another connection still completes a session and a Ping. */
async function expect_still_serving(): Promise<void> {
  const client = await TcpTestClient.session(tcp.tcp_port, await tcp.internal_token());
  client.send(encode_ping(7n));
  expect(await client.next()).toEqual({ type: "pong", nonce: 7n });
  client.close();
}

async function hello(token: string): Promise<TcpTestClient> {
  const client = await TcpTestClient.connect(tcp.tcp_port);
  client.send(encode_hello(PROTOCOL_VERSION_CURRENT, token));
  return client;
}

describe("frames that are not frames", () => {
  test("a length prefix over the maximum: frame_too_large, closed", async () => {
    const prefix = new Uint8Array(4);
    new DataView(prefix.buffer).setUint32(0, FRAME_SIZE_BYTES_MAX + 1, true);
    await expect_refused_and_closed(prefix, ErrorCode.frame_too_large);
  });

  test("a frame of exactly the maximum is read (and refused as garbage, not as too large)", async () => {
    const frame = new Uint8Array(FRAME_SIZE_BYTES_MAX);
    await expect_refused_and_closed(with_prefix(frame), ErrorCode.wrong_identifier);
  });

  test("garbage: wrong_identifier or malformed_frame, closed", async () => {
    const garbage = new Uint8Array(32).map((_, i) => (i * 37 + 11) & 0xff);
    await expect_refused_and_closed(with_prefix(garbage), ErrorCode.wrong_identifier);
    await expect_refused_and_closed(with_prefix(new Uint8Array(3)), ErrorCode.malformed_frame);
  });

  test("a wrong file identifier: wrong_identifier, closed", async () => {
    const frame = encode_hello(PROTOCOL_VERSION_CURRENT, await tcp.internal_token());
    frame[4] = "X".charCodeAt(0);
    await expect_refused_and_closed(with_prefix(frame), ErrorCode.wrong_identifier);
  });

  test("a frame split across writes, and a truncated frame then FIN, do not upset the server", async () => {
    const client = await TcpTestClient.connect(tcp.tcp_port);
    const bytes = with_prefix(encode_hello(PROTOCOL_VERSION_CURRENT, await tcp.internal_token()));
    for (let i = 0; i < bytes.length; i += 7) {
      client.send_raw(bytes.subarray(i, Math.min(bytes.length, i + 7)));
      await Bun.sleep(1);
    }
    expect((await client.next()).type).toBe("hello_ok");
    const ping = with_prefix(encode_ping(1n));
    client.send_raw(ping.subarray(0, 2)); // not even a whole length prefix
    await Bun.sleep(5);
    client.send_raw(ping.subarray(2, 9));
    client.end();
    expect(await client.wait_closed(CLOSE_TIMEOUT_MS)).toBe(true);
    await expect_still_serving();
  });
});

describe("Hello", () => {
  test("an unknown protocol version: unsupported_version, closed", async () => {
    const frame = encode_hello(PROTOCOL_VERSION_CURRENT + 1, await tcp.internal_token());
    await expect_refused_and_closed(with_prefix(frame), ErrorCode.unsupported_version);
  });

  test("a request before Hello: not_authenticated, closed", async () => {
    await expect_refused_and_closed(with_prefix(encode_ping(1n)), ErrorCode.not_authenticated);
    await expect_refused_and_closed(with_prefix(encode_account_query(3n, 1n, 7)),
      ErrorCode.not_authenticated);
    const empty = encode_order_batch(1n, Mode.committed, new Uint8Array(40), 1);
    new DataView(empty.buffer).setUint32(60, 0, true); // an empty batch before Hello
    await expect_refused_and_closed(with_prefix(empty), ErrorCode.not_authenticated);
  });

  test("a frame a client never sends: malformed_frame, closed", async () => {
    const client = await TcpTestClient.session(tcp.tcp_port, await tcp.internal_token());
    client.send(encode_error(1n, ErrorCode.busy, "hi", 0));
    expect_error(await client.next(), ErrorCode.malformed_frame);
    expect(await client.wait_closed(CLOSE_TIMEOUT_MS)).toBe(true);
  });

  test("HelloOk announces the principal and the limits", async () => {
    const client = await hello(await tcp.partner_token(42));
    expect(await client.next()).toEqual({
      type: "hello_ok", protocol_version: PROTOCOL_VERSION_CURRENT, partner: 42, internal: false,
      frame_size_max: FRAME_SIZE_BYTES_MAX, in_flight_max: 256, batch_orders_max: 128,
    });
    client.close();
  });

  test("requests pipelined behind Hello wait for it and are answered after HelloOk", async () => {
    const client = await TcpTestClient.connect(tcp.tcp_port);
    const hello_bytes = with_prefix(encode_hello(PROTOCOL_VERSION_CURRENT, await tcp.internal_token()));
    const ping_bytes = with_prefix(encode_ping(99n));
    const both = new Uint8Array(hello_bytes.length + ping_bytes.length);
    both.set(hello_bytes, 0);
    both.set(ping_bytes, hello_bytes.length);
    client.send_raw(both);
    expect((await client.next()).type).toBe("hello_ok");
    expect(await client.next()).toEqual({ type: "pong", nonce: 99n });
    client.close();
  });
});

describe("tokens", () => {
  const refused = async (token: string, code: ErrorCode) => {
    const client = await hello(token);
    expect_error(await client.next(), code);
    expect(await client.wait_closed(CLOSE_TIMEOUT_MS)).toBe(true);
  };

  test("a bad signature: token_invalid, closed", async () => {
    const impostor = { ...hs256_key("tcp-1") }; // the right kid, another secret
    await refused(await sign(impostor, { partner: 7 }), ErrorCode.token_invalid);
    await refused("not.a.jwt", ErrorCode.token_invalid);
  });

  test("an expired token: token_expired, closed", async () => {
    const token = await tcp.partner_token(7, { exp: now_s() - 120, iat: now_s() - 600 });
    await refused(token, ErrorCode.token_expired);
  });

  test("an unknown kid: unknown_key, closed", async () => {
    await refused(await sign(hs256_key("nobody"), { partner: 7 }), ErrorCode.unknown_key);
  });

  test("a revoked token: token_revoked, closed", async () => {
    const token = await tcp.partner_token(7, { jti: "revoked-before-hello" });
    tcp.revoke("revoked-before-hello");
    await Bun.sleep(REVOCATION_POLL_MS * 4);
    await refused(token, ErrorCode.token_revoked);
  });

  test("a token revoked while connected closes its connection, not the others", async () => {
    const doomed = await TcpTestClient.session(tcp.tcp_port,
      await tcp.partner_token(7, { jti: "revoked-while-open" }));
    const other = await TcpTestClient.session(tcp.tcp_port, await tcp.partner_token(7));
    tcp.revoke("revoked-while-open");
    expect_error(await doomed.next(CLOSE_TIMEOUT_MS), ErrorCode.token_revoked);
    expect(await doomed.wait_closed(CLOSE_TIMEOUT_MS)).toBe(true);
    other.send(encode_ping(5n));
    expect(await other.next()).toEqual({ type: "pong", nonce: 5n });
    expect(other.closed).toBe(false);
    other.close();
  });

  test("a token that expires while connected closes its connection", async () => {
    const client = await TcpTestClient.session(tcp.tcp_port,
      await tcp.partner_token(7, { exp: now_s() + 2 }));
    expect_error(await client.next(CLOSE_TIMEOUT_MS), ErrorCode.token_expired);
    expect(await client.wait_closed(CLOSE_TIMEOUT_MS)).toBe(true);
  });
});
