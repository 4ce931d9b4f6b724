// Auth on by default: a server with no AUTH_* settings makes a development key in its data
// directory (0600), prints a ready partner token and internal token that work, keeps the key
// across a restart; `bun run token` mints and revokes with it. AUTH=off checks nothing.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { decodeJwt } from "jose";
import { get, post } from "../../harness/http_client.ts";
import { ServiceProcess } from "../../harness/service_process.ts";

const REPO_ROOT = resolve(import.meta.dir, "..", "..");
const REVOCATION_WAIT_MS_MAX = 10_000;
const TOKEN_LINE = /partner 7 token: (\S+)\n\s*internal token:\s+(\S+)/;

let service: ServiceProcess;

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function status_of(path: string, token: string | null): Promise<{ status: number; error: unknown }> {
  const reply = await get(service.base_url, path, token === null ? { authorization: "" } : bearer(token));
  return { status: reply.http_status, error: reply.json?.error };
}

function printed_tokens(output: string): { partner: string; internal: string } {
  const match = TOKEN_LINE.exec(output);
  if (match === null) throw new Error(`no tokens printed:\n${output}`);
  return { partner: match[1]!, internal: match[2]! };
}

/** `bun run token -- ...args` on the service's data directory; its stdout. */
async function run_token_script(...args: string[]): Promise<string> {
  const proc = Bun.spawn([process.execPath, "run", "token", "--", ...args], {
    cwd: REPO_ROOT, env: { ...process.env, DATA_DIR: service.data_dir }, stdout: "pipe", stderr: "pipe",
  });
  const [out, err, code] = [await new Response(proc.stdout).text(), await new Response(proc.stderr).text(),
    await proc.exited];
  if (code !== 0) throw new Error(`bun run token ${args.join(" ")}: exit ${code}\n${err}`);
  return out.trim();
}

beforeAll(async () => {
  service = await ServiceProcess.start();
});

afterAll(async () => {
  if (service === undefined) return;
  expect(await service.stop()).toBe(0);
  service.remove_data();
});

test("the development key: made in DATA_DIR with mode 0600, kid dev-1", () => {
  const keys_file = join(service.data_dir, "auth-keys.json");
  expect(statSync(keys_file).mode & 0o777).toBe(0o600);
  const json = JSON.parse(readFileSync(keys_file, "utf8")) as { keys: { kid: string; alg: string }[] };
  expect(json.keys.map((k) => [k.kid, k.alg])).toEqual([["dev-1", "HS256"]]);
});

test("the printed tokens work: partner 7 for its own accounts only, internal administers", async () => {
  const tokens = printed_tokens(service.stdout());
  expect(decodeJwt(tokens.partner)).toMatchObject({ partner: 7 });
  expect(decodeJwt(tokens.internal)).toMatchObject({ scope: "internal" });
  expect(await status_of("/v1/partners/7/accounts/1", null)).toEqual({ status: 401, error: "not_authenticated" });
  expect(await status_of("/v1/partners/7/accounts/1", tokens.partner)).toEqual({ status: 404, error: "not_found" });
  expect(await status_of("/v1/partners/8/accounts/1", tokens.partner)).toEqual({ status: 403, error: "forbidden" });
  const opened = await post(service.base_url, "/v1/partners/7/accounts",
    JSON.stringify({ account: "1", kind: "user", currency: 978 }),
    { "content-type": "application/json", ...bearer(tokens.internal) });
  expect(opened.http_status).toBe(200);
  expect((await status_of("/v1/partners/7/accounts/1", tokens.partner)).status).toBe(200);
});

test("bun run token mints partner and internal tokens; --revoke stops one within the poll time",
  async () => {
    const partner = await run_token_script("--partner", "7", "--ttl", "600");
    const claims = decodeJwt(partner);
    expect(claims).toMatchObject({ partner: 7, iss: "balance-service", aud: "balance-service" });
    expect(claims.exp! - claims.iat!).toBe(600);
    expect((await status_of("/v1/partners/7/accounts/1", partner)).status).toBe(200);
    const internal = await run_token_script("--internal");
    expect((await status_of("/v1/partners/8/accounts/1", internal))).toEqual({ status: 404, error: "not_found" });
    await run_token_script("--revoke", claims.jti!);
    const deadline = Date.now() + REVOCATION_WAIT_MS_MAX;
    let last = await status_of("/v1/partners/7/accounts/1", partner);
    while (last.status === 200 && Date.now() < deadline) {
      await Bun.sleep(50);
      last = await status_of("/v1/partners/7/accounts/1", partner);
    }
    expect(last).toEqual({ status: 401, error: "token_revoked" });
    expect((await status_of("/v1/partners/8/accounts/1", internal)).status).toBe(404); // others still work
  });

test("a restart keeps the key: tokens printed by the first run still work", async () => {
  const first = printed_tokens(service.stdout());
  expect(await service.stop()).toBe(0);
  service = await service.restart();
  expect(printed_tokens(service.stdout()).partner).not.toBe(first.partner);
  expect((await status_of("/v1/partners/7/accounts/1", first.partner)).status).toBe(200);
});

test("AUTH=off: no token needed, and the server says so", async () => {
  const off = await ServiceProcess.start({ env: { AUTH: "off" } });
  try {
    expect(off.internal_token).toBeNull();
    expect(off.stdout()).toContain("AUTH=off");
    const reply = await get(off.base_url, "/v1/partners/7/accounts/1");
    expect({ status: reply.http_status, error: reply.json?.error }).toEqual({ status: 404, error: "not_found" });
  } finally {
    expect(await off.stop()).toBe(0);
    off.remove_data();
  }
});

test("a bad AUTH_* setting stops start-up with exit 2 and names the variable", async () => {
  const error = await ServiceProcess.start({ env: { AUTH_REVOCATION_POLL_MS: "5" } }).catch((e: Error) => e);
  expect(error).toBeInstanceOf(Error);
  expect(String(error)).toContain("code 2");
  expect(String(error)).toContain("AUTH_REVOCATION_POLL_MS must be between");
});
