// SIGTERM with TCP sessions open (docs/protocol.md, A session): the server stops accepting, answers
// every request it read (results, or shutting_down for what arrived after the signal), then closes
// the connections and exits 0.

import { expect, test } from "bun:test";
import { ErrorCode } from "../../schema/generated/balance/wire/error-code.ts";
import { Status } from "../../schema/generated/balance/wire/status.ts";
import { TcpTestClient, with_prefix } from "./tcp_client.ts";
import { batch, credit, open_order, start_tcp_service } from "./tcp_service.ts";

const P7 = 7;
const A7 = 7001n;
const REQUESTS = 40;

test("SIGTERM: every request read is answered, then the connection closes and the server exits 0",
  async () => {
    const tcp = await start_tcp_service();
    const admin = await TcpTestClient.session(tcp.tcp_port, await tcp.internal_token());
    admin.send(batch(1n, [open_order(P7, A7)]));
    expect((await admin.next()).type).toBe("batch_results");
    const frames = Array.from({ length: REQUESTS }, (_, i) => with_prefix(batch(BigInt(10 + i),
      [credit(P7, A7, 1n)])));
    const bytes = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
    frames.reduce((at, f) => (bytes.set(f, at), at + f.length), 0);
    admin.send_raw(bytes);
    const exit_code = tcp.service.stop();
    const replies = await admin.take(REQUESTS);
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
