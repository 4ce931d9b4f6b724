// A Node program that uses the installed npm package `@balance/sdk` (never a path into the
// repository) against a real server: opens accounts, sends orders over TCP and over HTTP, reads
// balances back, and prints what it saw as one JSON line for test/sdk_package/package.test.ts.
//
//   node consumer.mjs <tcp url> <http url> <internal token> <partner token> <partner>

import { AccountKind, BalanceClient, BalanceError, ErrorCode, Mode, Status } from "@balance/sdk";

const [tcp_url, http_url, internal_token, partner_token, partner_text] = process.argv.slice(2);
if (partner_text === undefined) throw new Error("usage: consumer.mjs tcp http internal partner p");
const partner = Number(partner_text);
const EUR = 978;
const ACCOUNTS = { tcp: 1n, http: 2n };

const out = {
  runtime: { bun: typeof globalThis.Bun !== "undefined", node_major: Number(process.versions.node.split(".")[0]) },
  resolved_in_node_modules: import.meta.resolve("@balance/sdk").includes("/node_modules/@balance/sdk/"),
  enums: { ok: Status.ok, committed: Mode.committed, user: AccountKind.user, token_invalid: ErrorCode.token_invalid },
};

// Accounts are opened with an internal token (over TCP), in one submit.
const admin = await BalanceClient.connect({ url: tcp_url, token: internal_token, partner });
const opened = await admin.submit([
  { op: "open_account", account: ACCOUNTS.tcp, kind: "user", currency: EUR },
  { op: "open_account", account: ACCOUNTS.http, kind: AccountKind.user, currency: EUR },
]);
out.opened = opened.map((result) => result.status_name);
admin.close();

// The partner's own token for orders: the same calls over each transport.
for (const [name, url] of [["tcp", tcp_url], ["http", http_url]]) {
  const account = ACCOUNTS[name];
  const client = await BalanceClient.connect({ url, token: partner_token, partner });
  const credits = await Promise.all([100n, 200n, 300n].map((amount) =>
    client.credit({ account, amount, currency: EUR })));
  const debit = await client.debit({ account, amount: 50n, currency: EUR });
  const refused = await client.debit({ account, amount: 1_000_000n, currency: EUR });
  const accepted = await client.credit({ account, amount: 5n, currency: EUR }, { mode: "accepted" });
  const accepted_outcome = await client.order(partner, accepted.id);
  const hold = await client.hold({ account, amount: 25n, currency: EUR });
  const info = await client.account(partner, account);
  const again = await client.order(partner, debit.id);
  out[name] = {
    credits: credits.map((r) => [r.status_name, r.ok, String(r.balance)]),
    debit: [debit.status_name, debit.status === Status.ok, String(debit.balance)],
    refused: [refused.status_name, refused.ok, String(refused.balance)],
    accepted: { answer: accepted.status_name, outcome: accepted_outcome.status_name,
      balance: String(accepted_outcome.balance) },
    hold: [hold.status_name, typeof hold.id === "bigint" && hold.id > 0n],
    account: { balance: String(info.balance), held: String(info.held), available: String(info.available) },
    order: again === null ? null : [again.status_name, String(again.balance), again.id === debit.id],
  };
  client.close();
}

// A transfer between the partner's two accounts (HTTP), then both read back over TCP.
{
  const http = await BalanceClient.connect({ url: http_url, token: partner_token, partner });
  const moved = await http.transfer({ account: ACCOUNTS.http, to: ACCOUNTS.tcp, amount: 10n, currency: EUR });
  http.close();
  const tcp = await BalanceClient.connect({ url: tcp_url, token: partner_token, partner });
  const [source, target] = await Promise.all([
    tcp.account(partner, ACCOUNTS.http), tcp.account(partner, ACCOUNTS.tcp)]);
  tcp.close();
  out.transfer = { status: moved.status_name, source: String(source.balance), target: String(target.balance) };
}

// Errors: a bad token is a typed BalanceError at connect; a value off the wire a RangeError.
try {
  const client = await BalanceClient.connect({ url: tcp_url, token: "not-a-token" });
  client.close();
  out.bad_token = "connected";
} catch (error) {
  out.bad_token = error instanceof BalanceError ? [error.reason, error.code_name] : String(error);
}
{
  const client = await BalanceClient.connect({ url: http_url, token: partner_token, partner });
  try {
    await client.credit({ account: -1n, amount: 1n, currency: EUR });
    out.range_error = "sent";
  } catch (error) {
    out.range_error = error instanceof RangeError ? "RangeError" : String(error);
  }
  client.close();
}
try {
  await BalanceClient.connect({ url: tcp_url, token: partner_token, tls: { ca: "x" } });
  out.tls_on_plain = "connected";
} catch (error) {
  out.tls_on_plain = error instanceof RangeError ? "RangeError" : String(error);
}

console.log(JSON.stringify(out));
