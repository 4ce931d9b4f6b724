// TLS on the front doors (docs/tls.md), on real processes: a service started with TLS_CERT_FILE
// and TLS_KEY_FILE answers HTTPS and TLS TCP to a client trusting its CA (loadgen runs orders over
// both and checks every balance after); a client trusting another CA, a plaintext client, and a
// client facing an expired certificate are refused; a rotated certificate is served to new
// connections without a restart while an open connection carries on.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect as tls_connect, type TLSSocket } from "node:tls";
import { connect as tcp_connect } from "node:net";
import { resolve } from "node:path";
import { ServiceProcess } from "../../harness/service_process.ts";
import { encode_hello, PROTOCOL_VERSION_CURRENT } from "../../schema/codec.ts";
import { rotate_into, TestCa, type Pem } from "./tls_support.ts";
import { BalanceClient, BalanceError } from "../../sdk/index.ts";

const REPO_ROOT = resolve(import.meta.dir, "../..");
const RELOAD_CHECK_MS = 200;
const ROTATION_WAIT_MS = 30_000;
const SDK_PARTNER = 41;
const EUR = 978;

let ca: TestCa;
let other_ca: TestCa;
let served: Pem;
let service: ServiceProcess;

function tls_env(pem: Pem): Record<string, string> {
  return { TLS_CERT_FILE: pem.cert_file, TLS_KEY_FILE: pem.key_file,
    TLS_RELOAD_CHECK_MS: String(RELOAD_CHECK_MS) };
}

function tcp_port(of: ServiceProcess): number {
  return Number(of.env.TCP_PORT);
}

/** Opens a TLS connection; resolves with the socket once the handshake succeeded, or the error. */
function handshake(port: number, ca_pem: string): Promise<TLSSocket | Error> {
  return new Promise((done) => {
    const socket = tls_connect({ host: "127.0.0.1", port, ca: ca_pem, servername: "localhost" },
      () => done(socket));
    socket.once("error", (error) => done(error));
  });
}

function served_name(socket: TLSSocket): string {
  return socket.getPeerCertificate().subject.CN as string;
}

async function run_loadgen(args: string[]): Promise<{ code: number; out: string }> {
  const child = Bun.spawn([process.execPath, "loadgen/main.ts", "--host", "127.0.0.1",
    "--http-port", String(service.port), "--tcp-port", String(tcp_port(service)),
    "--data-dir", service.data_dir, "--no-progress", "--partners", "5", "--accounts", "10",
    ...args], { cwd: REPO_ROOT, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [out, err, code] = await Promise.all([new Response(child.stdout).text(),
    new Response(child.stderr).text(), child.exited]);
  return { code, out: out + err };
}

beforeAll(async () => {
  ca = new TestCa("balance-test-ca");
  other_ca = new TestCa("someone-elses-ca");
  served = ca.issue("first-certificate");
  service = await ServiceProcess.start({ env: tls_env(served), https_ca: ca.ca.cert });
});

afterAll(async () => {
  await service?.stop();
});

describe("TLS front doors", () => {
  test("a client trusting the service's CA runs orders over HTTPS and TLS TCP", async () => {
    const ready = await fetch(`${service.base_url}/readyz`, { tls: { ca: ca.ca.cert } });
    expect(service.base_url.startsWith("https://")).toBe(true);
    expect(ready.status).toBe(200);
    for (const transport of ["tcp", "http"]) {
      const run = await run_loadgen(["--transport", transport, "--requests", "40",
        "--ca", ca.ca.cert_file]);
      expect(run.out).toContain(transport === "tcp" ? "tls://127.0.0.1" : "https://127.0.0.1");
      expect(run.out).toContain("End check: PASS");
      expect(run.code).toBe(0);
    }
    // Routed by the map (the node's own, naming its TLS port): tls:// seeds.
    const routed = await run_loadgen(["--seeds", `tls://127.0.0.1:${tcp_port(service)}`,
      "--requests", "40", "--ca", ca.ca.cert_file]);
    expect(routed.out).toContain("cluster tls://127.0.0.1");
    expect(routed.out).toContain("End check: PASS");
    expect(routed.code).toBe(0);
  });

  test("the SDK over tls:// and https:// with the CA: orders applied, balances read back",
    async () => {
      const token = service.internal_token ?? "";
      const tls = { ca: ca.ca.cert };
      const admin = await BalanceClient.connect({
        url: `tls://127.0.0.1:${tcp_port(service)}`, token, partner: SDK_PARTNER, tls });
      const opened = await admin.submit([
        { op: "open_account", account: 1n, kind: "user", currency: EUR },
        { op: "open_account", account: 2n, kind: "user", currency: EUR },
      ]);
      expect(opened.map((r) => r.status_name)).toEqual(["ok", "ok"]);
      const urls = [`tls://127.0.0.1:${tcp_port(service)}`, `https://127.0.0.1:${service.port}`];
      for (const [index, url] of urls.entries()) {
        const account = BigInt(index + 1);
        const client = await BalanceClient.connect({ url, token, partner: SDK_PARTNER, tls });
        const credit = await client.credit({ account, amount: 700n, currency: EUR });
        const debit = await client.debit({ account, amount: 200n, currency: EUR });
        expect([credit.status_name, debit.status_name, debit.balance]).toEqual(["ok", "ok", 500n]);
        const info = await client.account(SDK_PARTNER, account);
        expect(info?.balance).toBe(500n);
        client.close();
      }
      admin.close();
      // The same addresses without the CA: the certificate is not verified, nothing is sent.
      const refused = await BalanceClient.connect({ url: urls[0]!, token, partner: SDK_PARTNER,
        timeout_ms: 2_000 }).then(() => null, (error: Error) => error);
      expect(refused).toBeInstanceOf(BalanceError);
    });

  test("a client trusting another CA is refused on both ports", async () => {
    await expect(fetch(`${service.base_url}/readyz`, { tls: { ca: other_ca.ca.cert } }))
      .rejects.toThrow();
    const socket = await handshake(tcp_port(service), other_ca.ca.cert);
    expect(socket).toBeInstanceOf(Error);
    const run = await run_loadgen(["--transport", "tcp", "--requests", "5",
      "--ca", other_ca.ca.cert_file]);
    expect(run.code).not.toBe(0);
    expect(run.out).toContain("TLS handshake failed");
  });

  test("a plaintext client gets no session on either port", async () => {
    await expect(fetch(service.base_url.replace("https://", "http://") + "/readyz"))
      .rejects.toThrow();
    // A Hello in the clear: the TLS layer refuses it; no HelloOk (a FlatBuffers frame) comes back.
    const received = await new Promise<Buffer>((done) => {
      const chunks: Buffer[] = [];
      const socket = tcp_connect({ host: "127.0.0.1", port: tcp_port(service) }, () => {
        const hello = encode_hello(PROTOCOL_VERSION_CURRENT, service.internal_token ?? "");
        const prefix = Buffer.alloc(4);
        prefix.writeUInt32LE(hello.length);
        socket.write(Buffer.concat([prefix, Buffer.from(hello)]));
      });
      socket.on("data", (chunk: Buffer) => chunks.push(chunk));
      socket.on("close", () => done(Buffer.concat(chunks)));
      socket.on("error", () => {});
    });
    // Nothing came back, or a TLS alert record (content type 21): never a protocol frame.
    expect(received.length === 0 || received[0] === 21).toBe(true);
  });

  test("an expired certificate is refused by a client that trusts its CA", async () => {
    const expired = ca.issue("expired-certificate", { expired: true });
    await Bun.sleep(1_100); // its end is its start: one second later it has expired
    const stale = await ServiceProcess.start({ env: tls_env(expired), https_ca: ca.ca.cert,
      ready_timeout_ms: 5_000 }).then(
      (started) => started, (error: Error) => error);
    // The readiness probe trusts the CA, and the certificate has expired: it never gets in.
    expect(stale).toBeInstanceOf(Error);
    expect((stale as Error).message).toMatch(/expired|CERT_HAS_EXPIRED/i);
  });

  test("a rotated certificate reaches new connections without a restart; open ones carry on",
    async () => {
      const before = await handshake(tcp_port(service), ca.ca.cert);
      if (before instanceof Error) throw before;
      expect(served_name(before)).toBe("first-certificate");
      const old_http = await handshake(service.port, ca.ca.cert);
      if (old_http instanceof Error) throw old_http;

      rotate_into(served, ca.issue("rotated-certificate"));
      const deadline = performance.now() + ROTATION_WAIT_MS;
      let names: string[] = [];
      while (performance.now() < deadline) {
        const tcp = await handshake(tcp_port(service), ca.ca.cert);
        const http = await handshake(service.port, ca.ca.cert);
        names = [tcp, http].map((s) => (s instanceof Error ? s.message : served_name(s)));
        for (const s of [tcp, http]) if (!(s instanceof Error)) s.destroy();
        if (names.every((name) => name === "rotated-certificate")) break;
        await Bun.sleep(RELOAD_CHECK_MS);
      }
      expect(names).toEqual(["rotated-certificate", "rotated-certificate"]);

      // The HTTPS connection opened before the rotation still answers a request.
      const reply = await new Promise<string>((done) => {
        let text = "";
        old_http.on("data", (chunk: Buffer) => {
          text += chunk.toString();
          if (text.includes("\r\n\r\n") && text.includes("alive")) done(text);
        });
        old_http.write("GET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n");
      });
      expect(reply.startsWith("HTTP/1.1 200")).toBe(true);
      old_http.destroy();
      before.destroy();
      expect(service.output()).toContain("reloaded");
    });
});
