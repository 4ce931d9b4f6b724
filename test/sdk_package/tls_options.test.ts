// The SDK's TLS addressing (sdk/tls.ts): which scheme means which protocol over what, and the
// mistakes refused before any connection (TLS options on a plain address, a file name for PEM
// text, a certificate without its key, seeds of mixed schemes). The handshake itself is checked
// against the server's TLS once it has one.

import { describe, expect, test } from "bun:test";
import { BalanceClient } from "../../sdk/client.ts";
import { HttpTransport } from "../../sdk/http_transport.ts";
import { endpoint_of, scheme_of, tls_connect_options } from "../../sdk/tls.ts";

const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const LIMITS = { batch_orders_max: 128, in_flight_max: 4 };

describe("tls addressing", () => {
  test("tcp, tls, http, https: the protocol and whether it runs over TLS", () => {
    expect(endpoint_of("tcp:", undefined, undefined)).toEqual({ kind: "tcp", secure: false });
    expect(endpoint_of("tls:", undefined, undefined)).toEqual({ kind: "tcp", secure: true });
    expect(endpoint_of("http:", undefined, undefined)).toEqual({ kind: "http", secure: false });
    expect(endpoint_of("https:", undefined, { ca: PEM })).toEqual({ kind: "http", secure: true });
    for (const scheme of ["tcp", "tls", "http", "https"] as const) {
      expect(scheme_of(endpoint_of(`${scheme}:`, undefined, undefined))).toBe(scheme);
    }
  });

  test("`transport` overrides the protocol, never the TLS of the scheme", () => {
    expect(endpoint_of("https:", "tcp", undefined)).toEqual({ kind: "tcp", secure: true });
    expect(endpoint_of("tcp:", "http", undefined)).toEqual({ kind: "http", secure: false });
    expect(endpoint_of("custom:", "tcp", undefined)).toEqual({ kind: "tcp", secure: false });
    expect(() => endpoint_of("ftp:", undefined, undefined)).toThrow(RangeError);
  });

  test("TLS options on a plain address, or malformed, are refused", () => {
    expect(() => endpoint_of("tcp:", undefined, { ca: PEM })).toThrow(/tls:\/\/ or https:\/\//);
    expect(() => endpoint_of("http:", undefined, {})).toThrow(RangeError);
    expect(() => endpoint_of("tls:", undefined, { ca: "ca.pem" })).toThrow(/PEM text/);
    expect(() => endpoint_of("tls:", undefined, { ca: [PEM, "x"] })).toThrow(/PEM text/);
    expect(() => endpoint_of("tls:", undefined, { cert: PEM })).toThrow(/go together/);
    expect(() => endpoint_of("tls:", undefined, { cert: "a", key: "b" })).toThrow(/PEM text/);
    expect(() => endpoint_of("tls:", undefined, { servername: "" })).toThrow(RangeError);
    expect(() => new HttpTransport({ base_url: "http://127.0.0.1:1", limits: LIMITS, tls: {} }))
      .toThrow(RangeError);
  });

  test("node:tls options: verification on, only the fields given", () => {
    expect(tls_connect_options({})).toEqual({ rejectUnauthorized: true });
    expect(tls_connect_options({ ca: PEM, cert: PEM, key: PEM, servername: "balance.test" }))
      .toEqual({ rejectUnauthorized: true, ca: PEM, cert: PEM, key: PEM,
        servername: "balance.test" });
  });

  test("connect refuses TLS options on a plain url and seeds of mixed schemes", async () => {
    await expect(BalanceClient.connect({ url: "tcp://127.0.0.1:1", tls: { ca: PEM } }))
      .rejects.toThrow(RangeError);
    await expect(BalanceClient.connect({ seeds: ["tls://127.0.0.1:1", "tcp://127.0.0.1:2"] }))
      .rejects.toThrow(/one scheme/);
    const lazy = await BalanceClient.connect({ seeds: ["https://127.0.0.1:1"], lazy: true });
    lazy.close();
  });
});
