// SIGTERM with TCP sessions open (docs/protocol.md, A session): the server stops accepting, answers
// every request it read (results, or shutting_down for what arrived after the signal), then closes
// the connections and exits 0.

import { expect, test } from "bun:test";
import { ErrorCode } from "../../schema/generated/balance/wire/error-code.ts";
import { Status } from "../../schema/generated/balance/wire/status.ts";
import { encode_ping } from "../../schema/codec.ts";
import { type Received, TcpTestClient, with_prefix } from "./tcp_client.ts";
import { batch, credit, open_order, start_tcp_service } from "./tcp_service.ts";

const P7 = 7;
const A7 = 7001n;
const REQUESTS = 40;
const PING_REQUEST_ID = 9_999n;

test("SIGTERM: every request read is answered, then the connection closes and the server exits 0",
  async () => {
    const tcp = await start_tcp_service();
    const admin = await TcpTestClient.session(tcp.tcp_port, await tcp.internal_token());
    admin.send(batch(1n, [open_order(P7, A7)]));
    expect((await admin.next()).type).toBe("batch_results");
    const frames = Array.from({ length: REQUESTS }, (_, i) => with_prefix(batch(BigInt(10 + i),
      [credit(P7, A7, 1n)])));
    // A Ping after the batches: the server answers it as soon as it reads it, and it reads frames in
    // order, so its Pong proves all 40 batches were read before the signal (bytes still in the
    // kernel's buffer when the server closes were never read, and the contract does not cover them).
    frames.push(with_prefix(encode_ping(PING_REQUEST_ID)));
    const bytes = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
    frames.reduce((at, f) => (bytes.set(f, at), at + f.length), 0);
    admin.send_raw(bytes);
    const before_signal: Received[] = [];
    while (!before_signal.some((reply) => reply.type === "pong")) before_signal.push(await admin.next());
    const exit_code = tcp.service.stop();
    const after_signal = await admin.take(REQUESTS + 1 - before_signal.length);
    const replies = [...before_signal, ...after_signal].filter((reply) => reply.type !== "pong");
    expect(replies.length).toBe(REQUESTS);
    for (const reply of replies) {
      if (reply.type === "batch_results") expect(reply.results![0]!.status).toBe(Status.ok);
      else expect(reply.type === "error" && ErrorCode[reply.code]).toBe("shutting_down");
    }
    expect(await admin.wait_closed(10_000)).toBe(true);
    expect(await exit_code).toBe(0);
    const late = await TcpTestClient.connect(tcp.tcp_port).catch(() => null);
    if (late !== null) expect(await late.wait_closed(5_000)).toBe(true);
    tcp.service.remove_data();
  }, 60_000);
