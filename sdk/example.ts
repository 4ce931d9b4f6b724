// A runnable example of the SDK against `make run` (HTTP on 8080, TCP on 8090):
//
//   bun sdk/example.ts                                  # TCP, tokens minted from ./data's dev key
//   BALANCE_URL=http://127.0.0.1:8080 bun sdk/example.ts
//   BALANCE_TOKEN=<internal token> bun sdk/example.ts   # a token from `bun run token -- --internal`
//   BALANCE_SEEDS=tcp://10.0.0.1:8090,tcp://10.0.0.2:8090 bun sdk/example.ts   # a cluster's map
//
// It opens two accounts of partner 7, credits, debits, holds and captures, transfers, sends 500
// concurrent calls (batched automatically), a linked chain, and reads the figures back.

import { BalanceClient, BalanceError, Status } from "./index.ts";

const URL_DEFAULT = "tcp://127.0.0.1:8090";
const PARTNER = 7;
const EUR = 978;

async function token(): Promise<string> {
  if (process.env.BALANCE_TOKEN) return process.env.BALANCE_TOKEN;
  // Development only: sign an internal token with the key `make run` made in DATA_DIR.
  const { mint_token } = await import("../auth/dev_keys.ts");
  const keys_file = `${process.env.DATA_DIR ?? "./data"}/auth-keys.json`;
  const minted = await mint_token({ subject: { internal: true }, ttl_s: 3_600, keys_file,
    issuer: "balance-service", audience: "balance-service" });
  return minted.token;
}

async function main(): Promise<void> {
  // With seeds the client reads the cluster's routing map and sends each partner's orders to its
  // group's primary; without, every call goes to the one url.
  const seeds = process.env.BALANCE_SEEDS?.split(",").filter((seed) => seed !== "");
  const url = seeds === undefined ? process.env.BALANCE_URL ?? URL_DEFAULT : undefined;
  const client = await BalanceClient.connect({ url, seeds, token: await token(), partner: PARTNER });
  try {
    // Account numbers from the clock, so the example runs again on the same data.
    const a = BigInt(Date.now()) * 10n;
    const b = a + 1n;
    for (const account of [a, b]) {
      const opened = await client.open_account({ account, kind: "user", currency: EUR });
      console.log(`open ${account}: ${opened.status_name}`);
    }
    const credit = await client.credit({ account: a, amount: 10_000n, currency: EUR });
    console.log(`credit 10000: ${credit.status_name}, balance ${credit.balance}, sequence ${credit.sequence}`);
    const debit = await client.debit({ account: a, amount: 50_000n, currency: EUR });
    if (debit.status === Status.insufficient_funds) console.log("debit 50000: insufficient_funds (a result, not an error)");
    const hold = await client.hold({ account: a, amount: 2_500n, currency: EUR, hold_timeout_ms: 60_000 });
    const capture = await client.capture({ account: a, hold: hold.id, amount: 2_000n, currency: EUR });
    console.log(`hold 2500 then capture 2000: ${capture.status_name}, available ${capture.available}`);
    const transfer = await client.transfer({ account: a, to: b, amount: 1_000n, currency: EUR });
    console.log(`transfer 1000 to ${b}: ${transfer.status_name}, balance ${transfer.balance}`);

    // Concurrent calls in one event-loop turn share batches of up to 128 orders.
    const started_ms = performance.now();
    const results = await Promise.all(Array.from({ length: 500 }, () =>
      client.credit({ account: b, amount: 1n, currency: EUR })));
    const elapsed_ms = (performance.now() - started_ms).toFixed(1);
    console.log(`500 concurrent credits: ${results.filter((r) => r.ok).length} ok in ${elapsed_ms} ms`);

    // A linked chain: all or nothing.
    const chain = await client.submit([
      { op: "debit", account: b, amount: 100n, currency: EUR, linked: true },
      { op: "credit", account: a, amount: 100n, currency: EUR },
    ]);
    console.log(`linked debit + credit: ${chain.map((r) => r.status_name).join(", ")}`);

    for (const account of [a, b]) {
      const info = await client.account(PARTNER, account);
      console.log(`account ${account}: balance ${info?.balance}, held ${info?.held}, ` +
        `available ${info?.available}, state ${info?.state_name}`);
    }
    const read = await client.order(PARTNER, credit.id);
    console.log(`order ${credit.id}: ${read?.status_name}, sequence ${read?.sequence}`);
  } catch (error) {
    if (error instanceof BalanceError) {
      console.error(`BalanceError ${error.reason} ${error.code_name}: ${error.message}` +
        (error.outcome_unknown ? " (outcome unknown)" : ""));
      process.exitCode = 1;
    } else {
      throw error;
    }
  } finally {
    client.close();
  }
}

await main();
