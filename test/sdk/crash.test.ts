// The SDK through a server crash, over TCP and over HTTP: a stream of concurrent credits and debits
// goes through a proxy; mid-stream the server is killed with SIGKILL and restarted on its data
// directory (the proxy points at the new process), or the proxy cuts every connection while the
// server stays up. The SDK reconnects and resends unanswered batches with the same ids. Afterwards: every call has a result (none failed), every account's
// balance equals its opening credit plus the sum of the ok results' effects (so nothing was applied
// twice or lost), no two results share a sequence, and results read back unchanged.

import { expect, test } from "bun:test";
import { Prng } from "../../common/prng.ts";
import { BalanceClient } from "../../sdk/client.ts";
import type { OrderResult } from "../../sdk/types.ts";
import { TcpProxy } from "./proxy.ts";
import { restart_service, start_service, token_for, type SdkService } from "./service.ts";

// Fixed, so a failure replays (the stream's timing still varies); SDK_CRASH_SEED=<seed> overrides.
const SEED = Number(process.env.SDK_CRASH_SEED ?? 7_207);
const EUR = 978;
const P7 = 7;
const ACCOUNTS = Array.from({ length: 10 }, (_, k) => BigInt(5001 + k));
const OPENING_CREDIT = 1_000_000n;
const WINDOW_MS = 10_000;
const CALLS_PER_TURN = 20;
const TURN_MS = 5;
const OUTSTANDING_MAX = 1_000;
const DISRUPT_AT_MS = 400;
const DROPPED_REPLIES_MS = 100;
const LOAD_MS = 1_500;
const CUTS = 3;
const READ_BACK_SAMPLE = 100;

interface Call {
  account: bigint;
  /** Signed effect on the balance if ok. */
  delta: bigint;
  result: OrderResult | null;
  error: unknown;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function port_of(sdk: SdkService, transport: "tcp" | "http"): number {
  return transport === "tcp" ? sdk.tcp_port : sdk.service.port;
}

async function load(client: BalanceClient, prng: Prng, calls: Call[], until_ms: number,
  settled: Promise<void>[]): Promise<void> {
  let outstanding = 0;
  while (Date.now() < until_ms) {
    for (let k = 0; k < CALLS_PER_TURN && outstanding < OUTSTANDING_MAX; k++) {
      const account = ACCOUNTS[prng.int_below(ACCOUNTS.length)]!;
      const amount = BigInt(1 + prng.int_below(1_000));
      const credit = prng.int_below(2) === 0;
      const call: Call = { account, delta: credit ? amount : -amount, result: null, error: null };
      calls.push(call);
      outstanding++;
      const input = { account, amount, currency: EUR };
      const promise = credit ? client.credit(input) : client.debit(input);
      settled.push(promise.then(
        (result) => { call.result = result; },
        (error: unknown) => { call.error = error; },
      ).finally(() => { outstanding--; }));
    }
    await new Promise((resolve) => setTimeout(resolve, TURN_MS));
  }
}

interface Scenario {
  name: string;
  /** Disrupts the stream; returns how many calls were unanswered when it struck. */
  disrupt: (context: { sdk: SdkService; proxy: TcpProxy; transport: "tcp" | "http";
    unanswered: () => number }) => Promise<{ sdk: SdkService; unanswered: number }>;
}

// Both scenarios first let the server apply batches whose answers the proxy then throws away, so
// some resends must be answered replayed.
const SCENARIOS: Scenario[] = [
  {
    name: "kill -9 and restart mid-stream",
    disrupt: async ({ sdk, proxy, transport, unanswered }) => {
      await sleep(DISRUPT_AT_MS);
      proxy.drop_replies();
      await sleep(DROPPED_REPLIES_MS);
      const count = unanswered();
      await sdk.service.kill();
      proxy.cut();
      const restarted = await restart_service(sdk);
      proxy.retarget(port_of(restarted, transport));
      return { sdk: restarted, unanswered: count };
    },
  },
  {
    name: "connections cut mid-stream",
    disrupt: async ({ sdk, proxy, unanswered }) => {
      let count = 0;
      for (let k = 0; k < CUTS; k++) {
        await sleep(DISRUPT_AT_MS / 2);
        proxy.drop_replies();
        await sleep(DROPPED_REPLIES_MS);
        count += unanswered();
        proxy.cut();
      }
      return { sdk, unanswered: count };
    },
  },
];

for (const scenario of SCENARIOS) {
  for (const transport of ["tcp", "http"] as const) {
    test(`over ${transport}: ${scenario.name}; nothing applied twice (seed ${SEED})`, async () => {
      console.log(`sdk crash test seed ${SEED} (SDK_CRASH_SEED=${SEED} replays it)`);
      const prng = new Prng(SEED);
      const env = { IDEMPOTENCY_WINDOW_MS: String(WINDOW_MS) };
      let sdk = await start_service(env);
      const proxy = await TcpProxy.start(port_of(sdk, transport));
      const token = await token_for(sdk.service, { internal: true });
      const url = `${transport}://127.0.0.1:${proxy.port}`;
      const client = await BalanceClient.connect({ url, token, partner: P7, timeout_ms: 9_000,
        idempotency_window_ms: WINDOW_MS });
      try {
        for (const account of ACCOUNTS) {
          expect((await client.open_account({ account, kind: "user", currency: EUR })).ok).toBe(true);
          expect((await client.credit({ account, amount: OPENING_CREDIT, currency: EUR })).ok).toBe(true);
        }
        const calls: Call[] = [];
        const settled: Promise<void>[] = [];
        const stream = load(client, prng, calls, Date.now() + LOAD_MS, settled);
        const unanswered = () => calls.filter((call) => call.result === null).length;
        const disrupted = await scenario.disrupt({ sdk, proxy, transport, unanswered });
        sdk = disrupted.sdk;
        await stream;
        await Promise.all(settled);
        await check(client, calls, transport, disrupted.unanswered);
      } finally {
        client.close();
        await proxy.stop();
        await sdk.service.stop();
        sdk.service.remove_data();
      }
    }, 60_000);
  }
}

async function check(client: BalanceClient, calls: Call[], transport: string, unanswered: number)
  : Promise<void> {
  const failed = calls.filter((call) => call.result === null);
  expect(failed.map((call) => String(call.error)).slice(0, 5)).toEqual([]);
  const results = calls.map((call) => call.result!);
  const replayed = results.filter((result) => result.replayed).length;
  console.log(`${transport}: ${calls.length} calls, ${unanswered} unanswered at the disruption, ` +
    `${replayed} answered replayed after a resend`);
  expect(unanswered).toBeGreaterThan(0);
  expect(replayed).toBeGreaterThan(0);

  const expected = new Map(ACCOUNTS.map((account) => [account, OPENING_CREDIT]));
  for (const call of calls) {
    const result = call.result!;
    expect(["ok", "insufficient_funds"]).toContain(result.status_name);
    if (result.ok) expected.set(call.account, expected.get(call.account)! + call.delta);
  }
  for (const account of ACCOUNTS) {
    const info = await client.account(P7, account);
    expect({ account, balance: info!.balance }).toEqual({ account, balance: expected.get(account)! });
  }
  expect(new Set(results.map((result) => result.id)).size).toBe(results.length);
  expect(new Set(results.map((result) => result.sequence)).size).toBe(results.length);
  for (const result of results.slice(-READ_BACK_SAMPLE)) {
    const read = await client.order(P7, result.id);
    expect(read).toEqual({ ...result, replayed: false });
  }
}
