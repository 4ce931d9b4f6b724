// The SDK works in Node: sdk/index.ts is bundled with `bun build --target=node` into a temporary
// directory, and a small plain-JS script run by `node` talks to a real server over TCP and over
// HTTP (a credit each, an account read, a typed error).

import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { BalanceClient } from "../../sdk/client.ts";
import { start_service, token_for, type SdkService } from "./service.ts";

const REPO_ROOT = resolve(import.meta.dir, "..", "..");
const EUR = 978;
const P7 = 7;
const ACCOUNT = 7001n;

const SCRIPT = `
import { BalanceClient, BalanceError, Status } from "./sdk.js";
const [tcp_url, http_url, token] = process.argv.slice(2);
const out = {};
for (const url of [tcp_url, http_url]) {
  const client = await BalanceClient.connect({ url, token, partner: ${P7} });
  const credit = await client.credit({ account: ${ACCOUNT}n, amount: 25n, currency: ${EUR} });
  const info = await client.account(${P7}, ${ACCOUNT}n);
  let error = null;
  try {
    await client.credit({ account: 1n, amount: 1n, currency: ${EUR}, partner: 0xffffffff + 1 });
  } catch (e) {
    error = e instanceof RangeError ? "RangeError" : String(e);
  }
  out[url.split(":")[0]] = { status: credit.status_name, ok: credit.status === Status.ok,
    balance: String(info.balance), error, error_class: typeof BalanceError };
  client.close();
}
console.log(JSON.stringify(out));
`;

let sdk: SdkService;
let dir: string;

beforeAll(async () => {
  sdk = await start_service();
  dir = mkdtempSync(join(tmpdir(), "sdk-node-"));
  const build = Bun.spawnSync([process.execPath, "build", "sdk/index.ts", "--target=node",
    "--outfile", join(dir, "sdk.js")], { cwd: REPO_ROOT, stdout: "pipe", stderr: "pipe" });
  if (build.exitCode !== 0) throw new Error(`bun build failed: ${build.stderr.toString()}`);
  writeFileSync(join(dir, "check.mjs"), SCRIPT);
});

afterAll(async () => {
  await sdk?.service.stop();
  sdk?.service.remove_data();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

test("a node script with the bundled SDK talks to the server over TCP and HTTP", async () => {
  const token = await token_for(sdk.service, { internal: true });
  const admin = await BalanceClient.connect({ url: sdk.service.base_url, token, partner: P7 });
  expect((await admin.open_account({ account: ACCOUNT, kind: "user", currency: EUR })).ok).toBe(true);
  admin.close();
  const node = Bun.spawn(["node", join(dir, "check.mjs"), `tcp://127.0.0.1:${sdk.tcp_port}`,
    sdk.service.base_url, token], { cwd: dir, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([
    new Response(node.stdout).text(), new Response(node.stderr).text(), node.exited,
  ]);
  expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
  expect(JSON.parse(stdout)).toEqual({
    tcp: { status: "ok", ok: true, balance: "25", error: "RangeError", error_class: "function" },
    http: { status: "ok", ok: true, balance: "50", error: "RangeError", error_class: "function" },
  });
}, 60_000);
