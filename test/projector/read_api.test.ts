// The projector's read API over real HTTP against the real PostgreSQL: rows are written with
// apply_batch (as the consumer does) into a schema of this file's own, then read back through
// start_read_api with the service's real authenticator (a development key in a temporary DATA_DIR).
// History pages walk an account's events in sequence order (transfers it received included, once
// each), an order's status is its first event, accounts carry their group's applied sequence; no
// token, a bad token and another partner's data get their own errors; bad input is a specific 4xx
// and changes nothing; a database that does not answer is a 503, never a 500.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { apply_batch } from "../../projector/apply.ts";
import type { ProjectedEvent } from "../../projector/event.ts";
import { MIGRATIONS_SCHEMA_DEFAULT } from "../../projector/migrate.ts";
import { database_readiness, start_read_api } from "../../projector/read_api.ts";
import {
  HISTORY_LIMIT_DEFAULT, HISTORY_LIMIT_MAX, open_read_pool, type ReadPool,
} from "../../projector/read_queries.ts";
import { mint_token } from "../../auth/dev_keys.ts";
import { set_up_auth, type AuthSetup } from "../../auth/setup.ts";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import { Status } from "../../schema/generated/balance/wire/status.ts";
import { free_port, temp_data_dir } from "../../harness/service_process.ts";
import { ensure_services } from "../../harness/services.ts";
import {
  applied_row, EventWriter, fresh_schema, SERVICES_TIMEOUT_MS, type TestDatabase,
} from "./support.ts";

const TEST_TIMEOUT_MS = 60_000;
const GROUP = 1;
const PARTNER = 7;
const OTHER_PARTNER = 8;
const ACCOUNT_A = (1n << 63n) + 5n; // above 2^63: ids must survive as unsigned
const ACCOUNT_B = 42n;
const ACCOUNT_C = (1n << 64n) - 1n; // the other partner's, in the same group
const CREDITS_FOR_PAGING = 150; // more than HISTORY_LIMIT_DEFAULT

let db: TestDatabase;
let pool: ReadPool;
let auth: AuthSetup;
let data_dir: string;
let server: ReturnType<typeof start_read_api>;
let base_url: string;
const tokens = { internal: "", partner: "", other_partner: "" };
const writer = new EventWriter();
/** Every event applied, in sequence order. */
const applied: ProjectedEvent[] = [];
let first_status_event: ProjectedEvent;
let conflicting_event: ProjectedEvent;

beforeAll(async () => {
  db = await fresh_schema("read_api");
  const services = await ensure_services();
  pool = open_read_pool(services.database_url, db.schema);
  data_dir = temp_data_dir("projector-read-api");
  auth = await set_up_auth({ AUTH: "on" }, data_dir);
  const keys_file = auth.authenticator!.options.keys_file;
  const mint = async (subject: { partner: number } | { internal: true }) => (await mint_token({
    keys_file, issuer: "balance-service", audience: "balance-service", subject, ttl_s: 3600,
  })).token;
  tokens.internal = await mint({ internal: true });
  tokens.partner = await mint({ partner: PARTNER });
  tokens.other_partner = await mint({ partner: OTHER_PARTNER });
  server = start_read_api({
    host: "127.0.0.1", port: 0, auth: auth.authenticator, db: pool.db,
    readiness: database_readiness(pool.db, db.schema), log: () => {},
  });
  base_url = `http://127.0.0.1:${server.port}`;
  await write_story();
}, SERVICES_TIMEOUT_MS);

afterAll(async () => {
  server?.stop(true);
  auth?.authenticator?.close();
  await pool?.close();
  await db?.drop();
  if (data_dir !== undefined) rmSync(data_dir, { recursive: true, force: true });
});

/** Accounts of two partners in one group, transfers both ways, refusals, a long run of credits. */
async function write_story(): Promise<void> {
  const w = writer;
  const events: ProjectedEvent[] = [
    w.open(ACCOUNT_A, PARTNER, 500),
    w.open(ACCOUNT_B, PARTNER),
    w.open(ACCOUNT_C, OTHER_PARTNER),
    w.credit(ACCOUNT_A, 1_000),
    w.credit(ACCOUNT_C, 77),
    w.transfer(ACCOUNT_A, ACCOUNT_B, 300),
    w.credit(ACCOUNT_B, 10),
    w.transfer(ACCOUNT_B, ACCOUNT_A, 50),
  ];
  // A transfer to itself is refused but recorded, naming the account on both sides.
  const to_itself = w.refused(ACCOUNT_A, Op.transfer, 5n, Status.same_account);
  to_itself.ref = ACCOUNT_A;
  first_status_event = w.debit(ACCOUNT_A, 25);
  events.push(to_itself, first_status_event);
  const hold = w.hold(ACCOUNT_A, 100);
  events.push(hold, w.check(ACCOUNT_A, 1), w.capture(hold.order_id, 60));
  // The same order id again with another payload: refused, and not the order's status.
  conflicting_event = w.refused(ACCOUNT_A, Op.debit, 999n, Status.id_conflict);
  conflicting_event.order_id = first_status_event.order_id;
  events.push(conflicting_event);
  for (let n = 0; n < CREDITS_FOR_PAGING; n++) events.push(w.credit(ACCOUNT_A, 1 + n));
  events.push(w.transfer(ACCOUNT_B, ACCOUNT_A, 7), w.credit(ACCOUNT_C, 3));
  // Several batches, as the consumer applies them.
  for (let at = 0; at < events.length; at += 40) {
    await apply_batch(db.sql, GROUP, events.slice(at, at + 40));
  }
  applied.push(...events);
}

interface Reply {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

async function get(path: string, token: string | null = tokens.internal, method = "GET")
  : Promise<Reply> {
  const headers: Record<string, string> = token === null ? {} : { authorization: `Bearer ${token}` };
  const response = await fetch(`${base_url}${path}`, { method, headers });
  const body = await response.json() as Record<string, unknown>;
  return { status: response.status, body, headers: response.headers };
}

async function expect_error(path: string, status: number, error: string, message: RegExp,
  token: string | null = tokens.internal): Promise<void> {
  const reply = await get(path, token);
  expect({ path, status: reply.status, error: reply.body.error }).toEqual({ path, status, error });
  expect(String(reply.body.message)).toMatch(message);
  expect(reply.body.retry_after_ms).toBe(0);
}

/** The events of `account`'s history: those naming it, and transfers it received. */
function expected_history(account: bigint, partner: number): ProjectedEvent[] {
  return applied.filter((event) => event.partner === partner && (event.account === account ||
    (event.op === Op.transfer && event.ref === account)));
}

type Json = Record<string, unknown>;

async function walk_history(account: bigint, limit: number | null): Promise<Json[]> {
  const events: Json[] = [];
  let after: string | null = "0";
  let pages = 0;
  while (after !== null) {
    const limit_param = limit === null ? "" : `&limit=${limit}`;
    const reply = await get(`/accounts/${account}/history?partner=${PARTNER}&after_sequence=${after}` +
      limit_param);
    expect(reply.status).toBe(200);
    const page = reply.body.events as Json[];
    expect(page.length).toBeLessThanOrEqual(limit ?? HISTORY_LIMIT_DEFAULT);
    events.push(...page);
    after = reply.body.next_after_sequence as string | null;
    if (after !== null) expect(after).toBe(page[page.length - 1]!.sequence as string);
    pages++;
    expect(pages).toBeLessThan(1_000); // a cursor that never ends fails here
  }
  return events;
}

describe("projector read API", () => {
  test("history: an account's events in sequence order, received transfers once each", async () => {
    const expected = expected_history(ACCOUNT_A, PARTNER);
    expect(expected.length).toBeGreaterThan(HISTORY_LIMIT_DEFAULT);
    for (const limit of [1, 7, null, HISTORY_LIMIT_MAX]) {
      const events = await walk_history(ACCOUNT_A, limit);
      expect(events.map((e) => e.sequence)).toEqual(expected.map((e) => String(e.sequence)));
    }
    const events = await walk_history(ACCOUNT_A, 13);
    for (let i = 0; i < events.length; i++) {
      const got = events[i]!;
      const want = expected[i]!;
      const received = want.account !== ACCOUNT_A;
      expect(got).toEqual({
        sequence: String(want.sequence), group: GROUP,
        engine_time_ms: String(want.engine_time_ms), order_id: want.order_id.toString(),
        account: want.account.toString(), op: Op[want.op], status: Status[want.status],
        amount: want.amount_minor.toString(), ref: want.ref.toString(),
        currency: want.currency,
        balance_after: String(want.balance_after_minor), held_after: String(want.held_after_minor),
        counter_balance_after: String(want.counter_balance_after_minor),
        role: received ? "transfer_target" : "account",
        account_balance_after: String(received ? want.counter_balance_after_minor
          : want.balance_after_minor),
      });
    }
    // The last event's own balance is the account's balance now.
    const last = events[events.length - 1]!;
    expect(Number(last.account_balance_after)).toBe(writer.model(ACCOUNT_A).balance_minor);
    // The default page and the header of a page.
    const first = await get(`/accounts/${ACCOUNT_A}/history?partner=${PARTNER}`);
    expect((first.body.events as unknown[]).length).toBe(HISTORY_LIMIT_DEFAULT);
    expect(first.body.account).toBe(ACCOUNT_A.toString());
    expect(first.body.partner).toBe(PARTNER);
    expect(first.body.group).toBe(GROUP);
    expect(first.body.applied_sequence).toBe(String(writer.sequence));
    // Past the end: an empty page, no cursor.
    const end = await get(`/accounts/${ACCOUNT_A}/history?partner=${PARTNER}` +
      `&after_sequence=${writer.sequence}`);
    expect({ events: end.body.events, next: end.body.next_after_sequence })
      .toEqual({ events: [], next: null });
  }, TEST_TIMEOUT_MS);

  test("a received transfer is in the target's history with the target's own balance", async () => {
    const history = await walk_history(ACCOUNT_B, 2);
    const expected = expected_history(ACCOUNT_B, PARTNER);
    expect(history.map((e) => e.sequence)).toEqual(expected.map((e) => String(e.sequence)));
    const received = history.filter((e) => e.role === "transfer_target");
    expect(received.length).toBe(1);
    expect(received[0]!.account).toBe(ACCOUNT_A.toString());
    expect(received[0]!.account_balance_after).toBe("300");
    const sent = history.filter((e) => e.role === "account" && e.op === "transfer");
    expect(sent.map((e) => e.account_balance_after)).toEqual(["260", "253"]);
  }, TEST_TIMEOUT_MS);

  test("an order's status is its first event; a later refusal of its id is not", async () => {
    const reply = await get(`/orders/${PARTNER}/${first_status_event.order_id}`);
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({
      order_id: first_status_event.order_id.toString(), sequence: String(first_status_event.sequence),
      status: "ok", op: "debit", amount: "25", account: ACCOUNT_A.toString(), group: GROUP,
      balance_after: String(first_status_event.balance_after_minor),
    });
    expect(conflicting_event.sequence).toBeGreaterThan(first_status_event.sequence);
    const refused = applied.find((e) => e.status === Status.same_account)!;
    const refusal = await get(`/orders/${PARTNER}/${refused.order_id}`);
    expect(refusal.body).toMatchObject({ status: "same_account", op: "transfer",
      ref: ACCOUNT_A.toString() });
    await expect_error(`/orders/${PARTNER}/12345`, 404, "not_found",
      /order 12345 of partner 7 is not/);
    // Another partner's order is not found under this partner's id.
    const other = applied.find((e) => e.partner === OTHER_PARTNER)!;
    await expect_error(`/orders/${PARTNER}/${other.order_id}`, 404, "not_found",
      /is not in the projection/);
  }, TEST_TIMEOUT_MS);

  test("an account with its figures and how current the projection is", async () => {
    const reply = await get(`/accounts/${ACCOUNT_A}?partner=${PARTNER}`);
    expect(reply.status).toBe(200);
    const model = writer.model(ACCOUNT_A);
    expect(reply.body).toEqual({
      account: ACCOUNT_A.toString(), partner: PARTNER, group: GROUP, kind: "user", currency: 978,
      state: "open", overdraft_limit: "500", balance: String(model.balance_minor),
      held: String(model.held_minor),
      available: String(model.balance_minor - model.held_minor + 500),
      last_sequence: String(expected_history(ACCOUNT_A, PARTNER).at(-1)!.sequence),
      applied_sequence: String((await applied_row(db.sql, GROUP))!.sequence),
    });
    const other = await get(`/accounts/${ACCOUNT_C}?partner=${OTHER_PARTNER}`);
    expect(other.body).toMatchObject({ account: "18446744073709551615", partner: 8, balance: "80" });
  }, TEST_TIMEOUT_MS);

  test("no token, a bad token, another partner's data: their own errors", async () => {
    const path = `/accounts/${ACCOUNT_A}?partner=${PARTNER}`;
    const none = await get(path, null);
    expect([none.status, none.body.error]).toEqual([401, "not_authenticated"]);
    expect(none.headers.get("www-authenticate")).toContain("Bearer");
    await expect_error(path, 401, "token_invalid", /./, "not.a.token");
    const tampered = `${tokens.partner.slice(0, -4)}AAAA`;
    await expect_error(path, 401, "token_invalid", /signature/, tampered);
    // A partner token reads its own partner's account and history.
    expect((await get(path, tokens.partner)).status).toBe(200);
    expect((await get(`/accounts/${ACCOUNT_A}/history?partner=${PARTNER}`, tokens.partner)).status)
      .toBe(200);
    // Naming another partner: forbidden, for every route.
    for (const other of [`/accounts/${ACCOUNT_A}?partner=${PARTNER}`,
      `/accounts/${ACCOUNT_A}/history?partner=${PARTNER}`,
      `/orders/${PARTNER}/${first_status_event.order_id}`]) {
      await expect_error(other, 403, "forbidden", /this token acts for partner 8/,
        tokens.other_partner);
    }
    // Another partner's account under one's own partner id: not found, so nothing leaks.
    await expect_error(`/accounts/${ACCOUNT_C}?partner=${PARTNER}`, 404, "not_found",
      /account 18446744073709551615 of partner 7 is not/, tokens.partner);
    await expect_error(`/accounts/${ACCOUNT_C}/history?partner=${PARTNER}`, 404, "not_found",
      /of partner 7 is not/, tokens.partner);
    // An internal token reads every partner.
    expect((await get(`/accounts/${ACCOUNT_C}?partner=${OTHER_PARTNER}`)).status).toBe(200);
  }, TEST_TIMEOUT_MS);

  test("bad input gets a specific 4xx and changes nothing", async () => {
    const before = await table_counts();
    const history = `/accounts/${ACCOUNT_A}/history`;
    const cases: [string, number, string, RegExp][] = [
      ["/accounts/abc?partner=7", 400, "malformed_frame", /account id must be a decimal id/],
      ["/accounts/0?partner=7", 400, "malformed_frame", /account id must be/],
      ["/accounts/18446744073709551616?partner=7", 400, "malformed_frame", /1\.\.2\^64-1/],
      ["/accounts/-1?partner=7", 400, "malformed_frame", /account id must be/],
      [`/accounts/${ACCOUNT_A}`, 400, "malformed_frame", /\?partner= is required/],
      [`/accounts/${ACCOUNT_A}?partner=`, 400, "malformed_frame", /partner id 1\.\.2\^32-1/],
      [`/accounts/${ACCOUNT_A}?partner=0`, 400, "malformed_frame", /partner id/],
      [`/accounts/${ACCOUNT_A}?partner=4294967296`, 400, "malformed_frame", /partner id/],
      [`/accounts/${ACCOUNT_A}?partner=7x`, 400, "malformed_frame", /partner id/],
      [`/accounts/${ACCOUNT_A}?partner=7&partner=8`, 400, "malformed_frame", /given twice/],
      [`/accounts/${ACCOUNT_A}?partner=7&limit=5`, 400, "malformed_frame", /unknown query .* "limit"/],
      [`${history}`, 400, "malformed_frame", /\?partner= is required/],
      [`${history}?partner=7&limit=0`, 400, "malformed_frame", /limit must be 1\.\.1000, got "0"/],
      [`${history}?partner=7&limit=1001`, 400, "malformed_frame", /limit must be 1\.\.1000/],
      [`${history}?partner=7&limit=ten`, 400, "malformed_frame", /limit must be/],
      [`${history}?partner=7&limit=`, 400, "malformed_frame", /limit must be/],
      [`${history}?partner=7&after_sequence=-1`, 400, "malformed_frame", /after_sequence must be/],
      [`${history}?partner=7&after_sequence=${2 ** 53}`, 400, "malformed_frame", /after_sequence/],
      [`${history}?partner=7&after_sequence=1e3`, 400, "malformed_frame", /after_sequence/],
      [`${history}?partner=7&cursor=5`, 400, "malformed_frame", /unknown query parameter "cursor"/],
      ["/accounts/x/history?partner=7", 400, "malformed_frame", /account id/],
      ["/orders/7/abc", 400, "malformed_frame", /order id must be a decimal id/],
      ["/orders/7/0", 400, "malformed_frame", /order id must be/],
      ["/orders/7/18446744073709551616", 400, "malformed_frame", /order id must be/],
      ["/orders/0/5", 400, "malformed_frame", /partner in the path must be a partner id/],
      ["/orders/abc/5", 400, "malformed_frame", /partner in the path/],
      ["/orders/7/5?partner=7", 400, "malformed_frame", /unknown query parameter "partner"/],
      ["/orders/7", 404, "not_found", /no route for GET \/orders\/7/],
      ["/nowhere", 404, "not_found", /no route/],
    ];
    for (const [path, status, error, message] of cases) {
      await expect_error(path, status, error, message);
    }
    const post = await get(`/accounts/${ACCOUNT_A}?partner=7`, tokens.internal, "POST");
    expect([post.status, post.body.error]).toEqual([404, "not_found"]);
    expect(await table_counts()).toEqual(before);
  }, TEST_TIMEOUT_MS);

  test("/healthz; /readyz only with PostgreSQL answering and every migration applied", async () => {
    expect((await get("/healthz", null)).body).toEqual({ status: "alive" });
    expect(await get("/readyz", null)).toMatchObject({ status: 200, body: { status: "ready" } });
    const bare = await fresh_schema("read_api_bare", false);
    const services = await ensure_services();
    const bare_pool = open_read_pool(services.database_url, bare.schema);
    const not_migrated = database_readiness(bare_pool.db, bare.schema);
    try {
      expect(await not_migrated()).toMatch(/^migrations applied: 0 of \d+$/);
      await bare.migrate();
      expect(await not_migrated()).toBeNull();
      // drizzle's default schema is another one: nothing there for this test's migrations.
      expect(MIGRATIONS_SCHEMA_DEFAULT).not.toBe(bare.schema);
    } finally {
      await bare_pool.close();
      await bare.drop();
    }
  }, TEST_TIMEOUT_MS);

  test("a database that does not answer is a 503 with a retry hint, never a 500", async () => {
    const nowhere = open_read_pool(`postgres://postgres@127.0.0.1:${free_port()}/none`, null);
    const dead = start_read_api({
      host: "127.0.0.1", port: 0, auth: auth.authenticator, db: nowhere.db,
      readiness: database_readiness(nowhere.db, "drizzle"), log: () => {},
    });
    try {
      const at = `http://127.0.0.1:${dead.port}`;
      const headers = { authorization: `Bearer ${tokens.internal}` };
      for (const path of [`/accounts/${ACCOUNT_A}?partner=7`, `/orders/7/5`,
        `/accounts/${ACCOUNT_A}/history?partner=7`]) {
        const response = await fetch(`${at}${path}`, { headers });
        const body = await response.json() as Record<string, unknown>;
        expect({ path, status: response.status, error: body.error })
          .toEqual({ path, status: 503, error: "not_ready" });
        expect(body.retry_after_ms).toBe(1_000);
        expect(response.headers.get("retry-after")).toBe("1");
      }
      const ready = await fetch(`${at}/readyz`);
      expect(ready.status).toBe(503);
      const reason = ((await ready.json()) as { reason: string }).reason;
      expect(reason).toMatch(/PostgreSQL does not answer/);
      // Bad input is still refused first, without asking the database.
      const bad = await fetch(`${at}/accounts/abc?partner=7`, { headers });
      expect(bad.status).toBe(400);
    } finally {
      dead.stop(true);
      await nowhere.close();
    }
  }, TEST_TIMEOUT_MS);
});

async function table_counts(): Promise<Record<string, number>> {
  const rows = await db.sql`
    select (select count(*)::int from accounts) as accounts,
      (select count(*)::int from orders) as orders,
      (select count(*)::int from holds) as holds,
      (select sequence::int from applied_sequence where group_id = ${GROUP}) as applied`;
  return { ...rows[0] } as Record<string, number>;
}
