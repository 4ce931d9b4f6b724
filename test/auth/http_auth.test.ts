// Auth over HTTP against a real server process: each token rule with its status and error code,
// what partner and internal tokens may touch (403 refuses a whole batch; nothing changes), keys by
// kid (two HS256 keys, ES256 PEM and RS256 JWK from the keys file, a JWKS served on 127.0.0.1), a
// revocation while the server runs, and open health routes.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { appendFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import { OrderIdGenerator } from "../../schema/order_id.ts";
import {
  FLATBUFFERS_TYPE, batch_json, get, order_frame, orders_total, post, read_account,
  type Reply, type TestOrder,
} from "../../harness/http_client.ts";
import { ServiceProcess } from "../../harness/service_process.ts";
import { hs256_key, key_pair, now_s, sign, write_keys_file, type SigningKey } from "./tokens.ts";

const P7 = 7;
const P8 = 8;
const A7 = 1001n;
const A8 = 2001n;
const EUR = 978;
const REVOCATION_WAIT_MS_MAX = 10_000;
const ids = new OrderIdGenerator();

let dir: string;
let service: ServiceProcess;
let base = "";
let jwks_server: ReturnType<typeof Bun.serve>;
let revoked_file: string;
let k1: SigningKey;
let k2: SigningKey;
let es: SigningKey;
let rs: SigningKey;
let remote: SigningKey;
let partner7 = "";
let internal = "";

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

function order(partner: number, account: bigint, op = Op.credit, amount = 100n): TestOrder {
  return { id: ids.next(), op, partner, account, amount, currency: EUR };
}

function send_batch(token: string | null, orders: TestOrder[], format: "json" | "flatbuffers" = "json")
  : Promise<Reply> {
  const auth = token === null ? { authorization: "" } : bearer(token);
  return format === "json"
    ? post(base, "/v1/batches", batch_json(orders), { "content-type": "application/json", ...auth })
    : post(base, "/v1/batches", order_frame(orders), { "content-type": FLATBUFFERS_TYPE, ...auth });
}

async function read_status(token: string | null, path: string)
  : Promise<{ status: number; error: unknown }> {
  const reply = await get(base, path, token === null ? { authorization: "" } : bearer(token));
  return { status: reply.http_status, error: reply.json?.error };
}

/** Balances and order counts: a refused request changes none of them. */
async function state(): Promise<unknown> {
  return {
    a7: await read_account(base, P7, A7),
    a8: await read_account(base, P8, A8),
    orders: Object.fromEntries(await orders_total(base)),
  };
}

async function expect_refused(send: () => Promise<Reply>, http_status: number, error: string)
  : Promise<void> {
  const before = await state();
  expect(await send()).toMatchObject({ kind: "error", http_status, error });
  expect(await state()).toEqual(before);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "balance-http-auth-"));
  k1 = hs256_key("k1");
  k2 = hs256_key("k2");
  es = await key_pair("es-1", "ES256", "pem");
  rs = await key_pair("rs-1", "RS256", "jwk");
  remote = await key_pair("remote-1", "ES256");
  jwks_server = Bun.serve({ hostname: "127.0.0.1", port: 0,
    fetch: () => Response.json({ keys: [remote.jwk] }) });
  revoked_file = join(dir, "revoked.txt");
  service = await ServiceProcess.start({ env: {
    GROUP_MAP: `${P7}:0,${P8}:1`,
    AUTH_KEYS_FILE: write_keys_file(dir, [k1, k2, es, rs]),
    AUTH_JWKS_URL: `http://127.0.0.1:${jwks_server.port}/.well-known/jwks.json`,
    AUTH_REVOKED_FILE: revoked_file,
    AUTH_REVOCATION_POLL_MS: "100",
  } });
  base = service.base_url;
  expect(service.internal_token).not.toBeNull(); // the helpers' token, minted with k1
  partner7 = await sign(k1, { partner: P7 });
  internal = await sign(k2, { scope: "internal" });
  for (const [partner, account] of [[P7, A7], [P8, A8]] as const) {
    const opened = await post(base, `/v1/partners/${partner}/accounts`,
      JSON.stringify({ account: account.toString(), kind: "user", currency: EUR }),
      { "content-type": "application/json", ...bearer(internal) });
    expect(opened.http_status).toBe(200);
  }
  const credited = await send_batch(internal, [order(P7, A7, Op.credit, 10_000n),
    order(P8, A8, Op.credit, 10_000n)]);
  expect(credited).toMatchObject({ kind: "results", http_status: 200 });
});

afterAll(async () => {
  jwks_server?.stop(true);
  if (service !== undefined) {
    const code = await service.stop();
    const output = service.output();
    service.remove_data();
    expect(code).toBe(0);
    expect(output).not.toContain("http handler failed");
  }
  rmSync(dir, { recursive: true, force: true });
});

describe("401: no token or a bad one, on every /v1 route; nothing changes", () => {
  test("no token: not_authenticated, with WWW-Authenticate", async () => {
    await expect_refused(() => send_batch(null, [order(P7, A7)]), 401, "not_authenticated");
    await expect_refused(() => send_batch(null, [order(P7, A7)], "flatbuffers"), 401, "not_authenticated");
    for (const path of [`/v1/partners/${P7}/accounts/${A7}`, `/v1/partners/${P7}/orders/1`]) {
      expect(await read_status(null, path)).toEqual({ status: 401, error: "not_authenticated" });
    }
    await expect_refused(() => post(base, `/v1/partners/${P7}/accounts/${A7}/freeze`, "{}",
      { authorization: "" }), 401, "not_authenticated");
    const response = await fetch(`${base}/v1/partners/${P7}/accounts/${A7}`);
    expect(response.headers.get("www-authenticate")).toStartWith("Bearer");
  });

  test("another scheme than Bearer: not_authenticated", async () => {
    const reply = await get(base, `/v1/partners/${P7}/accounts/${A7}`, { authorization: "Basic dXNlcjpwdw==" });
    expect({ status: reply.http_status, error: reply.json?.error })
      .toEqual({ status: 401, error: "not_authenticated" });
  });

  const cases: [string, () => Promise<string>, string][] = [
    ["bad signature", () => sign(hs256_key("k1"), { partner: P7 }), "token_invalid"],
    ["garbage", async () => "not-a-token", "token_invalid"],
    ["expired", () => sign(k1, { partner: P7, exp: now_s() - 60 }), "token_expired"],
    ["not yet valid", () => sign(k1, { partner: P7, nbf: now_s() + 600 }), "token_invalid"],
    ["wrong issuer", () => sign(k1, { partner: P7, iss: "elsewhere" }), "token_invalid"],
    ["wrong audience", () => sign(k1, { partner: P7, aud: "another-service" }), "token_invalid"],
    ["no exp", () => sign(k1, { partner: P7, exp: undefined }), "token_invalid"],
    ["no jti", () => sign(k1, { partner: P7, jti: undefined }), "token_invalid"],
    ["neither partner nor internal", () => sign(k1, {}), "token_invalid"],
    ["unknown kid", () => sign(k1, { partner: P7 }, { kid: "retired" }), "unknown_key"],
  ];
  for (const [name, make, code] of cases) {
    test(`${name}: ${code}`, async () => {
      const token = await make();
      await expect_refused(() => send_batch(token, [order(P7, A7)]), 401, code);
      await expect_refused(() => send_batch(token, [order(P7, A7)], "flatbuffers"), 401, code);
      expect(await read_status(token, `/v1/partners/${P7}/accounts/${A7}`)).toEqual({ status: 401, error: code });
    });
  }

  test("revoked while the server runs: refused within the poll time", async () => {
    const token = await sign(k1, { partner: P7, jti: "revoke-me" });
    const path = `/v1/partners/${P7}/accounts/${A7}`;
    expect((await read_status(token, path)).status).toBe(200); // verified and cached
    appendFileSync(revoked_file, "revoke-me\n");
    const deadline = Date.now() + REVOCATION_WAIT_MS_MAX;
    let last = await read_status(token, path);
    while (last.status === 200 && Date.now() < deadline) {
      await Bun.sleep(20);
      last = await read_status(token, path);
    }
    expect(last).toEqual({ status: 401, error: "token_revoked" });
    await expect_refused(() => send_batch(token, [order(P7, A7)]), 401, "token_revoked");
  });
});

describe("403: a partner token touches only its partner and administers nothing", () => {
  test("its own account, order and batch: allowed", async () => {
    expect((await read_status(partner7, `/v1/partners/${P7}/accounts/${A7}`)).status).toBe(200);
    const own = order(P7, A7);
    expect(await send_batch(partner7, [own])).toMatchObject({ kind: "results", http_status: 200 });
    expect((await read_status(partner7, `/v1/partners/${P7}/orders/${own.id}`)).status).toBe(200);
  });

  test("another partner's account and order: forbidden", async () => {
    const theirs = order(P8, A8);
    expect(await send_batch(internal, [theirs])).toMatchObject({ kind: "results", http_status: 200 });
    expect(await read_status(partner7, `/v1/partners/${P8}/accounts/${A8}`))
      .toEqual({ status: 403, error: "forbidden" });
    expect(await read_status(partner7, `/v1/partners/${P8}/orders/${theirs.id}`))
      .toEqual({ status: 403, error: "forbidden" });
  });

  test("a batch with one order of another partner: the whole batch refused", async () => {
    for (const format of ["json", "flatbuffers"] as const) {
      await expect_refused(() => send_batch(partner7, [order(P7, A7), order(P8, A8)], format),
        403, "forbidden");
    }
  });

  test("administration in a batch or through the admin routes: forbidden", async () => {
    await expect_refused(() => send_batch(partner7, [order(P7, A7), order(P7, A7, Op.freeze, 0n)]),
      403, "forbidden");
    await expect_refused(() => send_batch(partner7, [order(P7, 5005n, Op.open_account, 0n)]),
      403, "forbidden");
    const json = { "content-type": "application/json", ...bearer(partner7) };
    await expect_refused(() => post(base, `/v1/partners/${P7}/accounts`,
      JSON.stringify({ account: "5006", kind: "user", currency: EUR }), json), 403, "forbidden");
    for (const action of ["freeze", "unfreeze", "close", "overdraft"]) {
      await expect_refused(() => post(base, `/v1/partners/${P7}/accounts/${A7}/${action}`, "{}", json),
        403, "forbidden");
    }
  });

  test("an internal token may act for any partner and administer", async () => {
    const reply = await send_batch(internal, [order(P7, A7), order(P8, A8)], "flatbuffers");
    expect(reply).toMatchObject({ kind: "results", http_status: 200 });
    const json = { "content-type": "application/json", ...bearer(internal) };
    const frozen = await post(base, `/v1/partners/${P8}/accounts/${A8}/freeze`, "{}", json);
    expect(frozen.http_status).toBe(200);
    expect((await read_account(base, P8, A8))!.state).toBe("frozen");
    expect((await post(base, `/v1/partners/${P8}/accounts/${A8}/unfreeze`, "{}", json)).http_status).toBe(200);
    expect((await read_status(internal, `/v1/partners/${P8}/accounts/${A8}`)).status).toBe(200);
  });
});

describe("keys", () => {
  test("two HS256 kids at once (rotation): tokens of both work", async () => {
    for (const key of [k1, k2]) {
      const token = await sign(key, { partner: P7 });
      expect(await send_batch(token, [order(P7, A7)])).toMatchObject({ kind: "results", http_status: 200 });
    }
  });

  test("ES256 (PEM) and RS256 (JWK) public keys from the keys file", async () => {
    expect((await read_status(await sign(es, { partner: P7 }), `/v1/partners/${P7}/accounts/${A7}`)).status)
      .toBe(200);
    expect(await send_batch(await sign(rs, { scope: "internal" }), [order(P8, A8)]))
      .toMatchObject({ kind: "results", http_status: 200 });
  });

  test("a key from the JWKS URL", async () => {
    const token = await sign(remote, { partner: P8 });
    expect((await read_status(token, `/v1/partners/${P8}/accounts/${A8}`)).status).toBe(200);
    expect(await read_status(token, `/v1/partners/${P7}/accounts/${A7}`))
      .toEqual({ status: 403, error: "forbidden" });
  });
});

describe("open routes and metrics", () => {
  test("/healthz, /readyz and /metrics need no token; 401 and 403 are counted", async () => {
    for (const path of ["/healthz", "/readyz", "/metrics"]) {
      expect((await read_status(null, path)).status).toBe(200);
    }
    const metrics = (await get(base, "/metrics", { authorization: "" })).text;
    expect(metrics).toMatch(/balance_http_responses_total\{code="401"\} [1-9]/);
    expect(metrics).toMatch(/balance_http_responses_total\{code="403"\} [1-9]/);
  });
});
