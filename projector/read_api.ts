// The projector's read API (Bun.serve): what the projection in PostgreSQL knows about accounts and
// orders, for services that may lag the engine by the projection's delay. Authentication is the
// service's (auth/: a partner token reads its own partner's accounts and orders, an internal
// token reads all), and so are the error body and the JSON conventions (http/replies.ts,
// projector/read_json.ts). docs/projector.md lists the routes.
//
// Every input is checked before any query: a malformed id, an out-of-range number, a missing
// partner, a bad limit or an unknown query parameter is a 400 with its own message, another
// partner's data a 403 (or a 404 when only the account's owner differs, so nothing leaks); a
// database that does not answer is a 503 with a retry hint. None of them is a 500.

import { DrizzleQueryError } from "drizzle-orm";
import postgres from "postgres";
import { AssertionError } from "../common/assert.ts";
import { ErrorCode } from "../schema/generated/balance/wire/error-code.ts";
import { authenticate_request, forbidden_response } from "../auth/http_auth.ts";
import { partner_for_read, type Authenticator, type Principal } from "../auth/principal.ts";
import { parse_partner, parse_u64, params_of } from "../http/params.ts";
import { bad_request, error_response, json_response, type BodyFormat } from "../http/replies.ts";
import { committed_migration_count } from "./migrate.ts";
import { account_json, event_json, history_event_json } from "./read_json.ts";
import {
  applied_migration_count, HISTORY_LIMIT_DEFAULT, HISTORY_LIMIT_MAX, read_account, read_history,
  read_order, read_snapshot, type ReadDatabase,
} from "./read_queries.ts";

/** Retry hint of a 503 while PostgreSQL does not answer. */
export const RETRY_AFTER_DATABASE_MS = 1_000;
/** /readyz answers "not ready" when PostgreSQL takes longer than this to answer. */
export const READYZ_TIMEOUT_MS = 2_000;
/** Cursors are sequences: safe integers (2^53 - 1 has 16 digits). */
const SEQUENCE_DIGITS_MAX = 16;

export interface ReadApiOptions {
  host: string;
  /** 0: any free port (read it from the returned server). */
  port: number;
  /** null: AUTH=off, nothing is authenticated. */
  auth: Authenticator | null;
  db: ReadDatabase;
  /** null when ready; else why not (PostgreSQL away, migrations missing). */
  readiness(): Promise<string | null>;
  log?: (line: string) => void;
  /** GET /metrics (Prometheus text, unauthenticated like /healthz); absent: an empty body. */
  metrics?: () => string;
}

type ReadPrincipal = Principal | null;
const json_format = (): BodyFormat => "json";
type Handler = (req: Request, principal: ReadPrincipal) => Promise<Response>;

export function start_read_api(options: ReadApiOptions): Bun.Server<undefined> {
  const log = options.log ?? ((line: string) => console.error(line));
  const route = (handler: Handler) => async (req: Request): Promise<Response> => {
    let principal: ReadPrincipal = null;
    if (options.auth !== null) {
      const authenticated = await authenticate_request(options.auth, req, json_format);
      if (authenticated instanceof Response) return authenticated;
      principal = authenticated;
    }
    try {
      return await handler(req, principal);
    } catch (error) {
      // Anything else is a bug (an assertion included): a 500, never answered as if it were data.
      if (!is_database_error(error)) throw error;
      log(`projector read API: ${new URL(req.url).pathname}: the database did not answer: ` +
        `${database_error_text(error)}`);
      return database_unavailable();
    }
  };
  const db = options.db;
  const metrics = options.metrics ?? (() => "");
  return Bun.serve({
    hostname: options.host,
    port: options.port,
    routes: {
      "/healthz": () => json_response({ status: "alive" }),
      "/readyz": async () => {
        const not_ready = await options.readiness();
        return not_ready === null ? json_response({ status: "ready" })
          : json_response({ status: "not_ready", reason: not_ready }, 503);
      },
      "/metrics": () => new Response(metrics(),
        { headers: { "content-type": "text/plain; version=0.0.4" } }),
      "/accounts/:account/history": { GET: route((req, p) => handle_history(db, req, p)) },
      "/accounts/:account": { GET: route((req, p) => handle_account(db, req, p)) },
      "/orders/:partner/:order": { GET: route((req, p) => handle_order(db, req, p)) },
    },
    fetch: (req) => bad_request("json", ErrorCode.not_found,
      `no route for ${req.method} ${new URL(req.url).pathname}`),
    error: (error) => {
      log(`projector read API: handler failed: ${String(error)}`);
      return json_response({ error: "internal", message: "internal error" }, 500);
    },
  });
}

/** Ready: PostgreSQL answers within READYZ_TIMEOUT_MS and holds every committed migration. */
export function database_readiness(db: ReadDatabase,
  migrations_schema: string): () => Promise<string | null> {
  const expected = committed_migration_count();
  return async () => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve(`PostgreSQL did not answer in ${READYZ_TIMEOUT_MS} ms`),
        READYZ_TIMEOUT_MS);
    });
    const check = applied_migration_count(db, migrations_schema).then(
      (applied) => applied >= expected ? null : `migrations applied: ${applied} of ${expected}`,
      (error: unknown) =>
        `PostgreSQL does not answer: ${error instanceof Error ? error.message : String(error)}`);
    try {
      return await Promise.race([check, timeout]);
    } finally {
      clearTimeout(timer);
    }
  };
}

/**
 * PostgreSQL's own errors (a statement timeout, a shutdown), drizzle's wrapping of them, and the
 * client's connection failures, which carry a string code (ECONNREFUSED, CONNECT_TIMEOUT, ...).
 */
function is_database_error(error: unknown): boolean {
  if (error instanceof AssertionError) return false;
  if (error instanceof DrizzleQueryError || error instanceof postgres.PostgresError) return true;
  return error instanceof Error && typeof (error as { code?: unknown }).code === "string";
}

function database_error_text(error: unknown): string {
  const cause = error instanceof DrizzleQueryError ? error.cause : error;
  return cause instanceof Error ? cause.message : String(cause);
}

function database_unavailable(): Response {
  return error_response("json", { http_status: 503, code: ErrorCode.not_ready,
    message: "the projection database does not answer: retry later",
    retry_after_ms: RETRY_AFTER_DATABASE_MS });
}

function malformed(message: string): Response {
  return bad_request("json", ErrorCode.malformed_frame, message);
}

/** The query parameters, each at most once and all of them known; or the 400 to send. */
function query_of(req: Request, known: readonly string[]): Map<string, string> | Response {
  const query = new Map<string, string>();
  for (const [name, value] of new URL(req.url).searchParams) {
    if (!known.includes(name)) {
      return malformed(`unknown query parameter "${name}" (known: ${known.join(", ")})`);
    }
    if (query.has(name)) return malformed(`query parameter "${name}" given twice`);
    query.set(name, value);
  }
  return query;
}

/** The partner the request reads for, checked against the token; or the 400 / 403 to send. */
function partner_of(text: string | undefined, principal: ReadPrincipal,
  what: string): number | Response {
  if (text === undefined) return malformed(`${what} is required: the partner (1..2^32-1)`);
  const partner = parse_partner(text);
  if (partner === null) return malformed(`${what} must be a partner id 1..2^32-1, got "${text}"`);
  if (principal === null) return partner;
  const allowed = partner_for_read(principal, partner);
  return typeof allowed === "number" ? allowed : forbidden_response("json", allowed);
}

function id_of(text: string | undefined, what: string): bigint | Response {
  const id = parse_u64(text);
  return id === null ? malformed(`${what} must be a decimal id 1..2^64-1, got "${text ?? ""}"`) : id;
}

function account_not_found(account: bigint, partner: number): Response {
  return bad_request("json", ErrorCode.not_found,
    `account ${account} of partner ${partner} is not in the projection`);
}

async function handle_account(db: ReadDatabase, req: Request, principal: ReadPrincipal)
  : Promise<Response> {
  const query = query_of(req, ["partner"]);
  if (query instanceof Response) return query;
  const partner = partner_of(query.get("partner"), principal, "?partner=");
  if (partner instanceof Response) return partner;
  const account = id_of(params_of(req).account, "the account id");
  if (account instanceof Response) return account;
  const view = await read_account(db, partner, account);
  return view === null ? account_not_found(account, partner) : json_response(account_json(view));
}

async function handle_order(db: ReadDatabase, req: Request, principal: ReadPrincipal)
  : Promise<Response> {
  const query = query_of(req, []);
  if (query instanceof Response) return query;
  const params = params_of(req);
  const partner = partner_of(params.partner, principal, "the partner in the path");
  if (partner instanceof Response) return partner;
  const order = id_of(params.order, "the order id");
  if (order instanceof Response) return order;
  const view = await read_order(db, partner, order);
  if (view === null) {
    return bad_request("json", ErrorCode.not_found,
      `order ${order} of partner ${partner} is not in the projection (unknown, or not projected yet)`);
  }
  return json_response(event_json(view));
}

interface Page {
  after_sequence: number;
  limit: number;
}

function page_of(query: Map<string, string>): Page | Response {
  const after_text = query.get("after_sequence") ?? "0";
  const after_sequence = Number(after_text);
  const after_valid = new RegExp(`^\\d{1,${SEQUENCE_DIGITS_MAX}}$`).test(after_text) &&
    Number.isSafeInteger(after_sequence);
  if (!after_valid) {
    return malformed(`after_sequence must be a sequence 0..2^53-1, got "${after_text}"`);
  }
  const limit_text = query.get("limit") ?? String(HISTORY_LIMIT_DEFAULT);
  const limit = Number(limit_text);
  if (!/^\d{1,4}$/.test(limit_text) || limit < 1 || limit > HISTORY_LIMIT_MAX) {
    return malformed(`limit must be 1..${HISTORY_LIMIT_MAX}, got "${limit_text}"`);
  }
  return { after_sequence, limit };
}

async function handle_history(db: ReadDatabase, req: Request, principal: ReadPrincipal)
  : Promise<Response> {
  const query = query_of(req, ["partner", "after_sequence", "limit"]);
  if (query instanceof Response) return query;
  const partner = partner_of(query.get("partner"), principal, "?partner=");
  if (partner instanceof Response) return partner;
  const account = id_of(params_of(req).account, "the account id");
  if (account instanceof Response) return account;
  const page = page_of(query);
  if (page instanceof Response) return page;
  // One snapshot, so the page holds nothing past the applied sequence it reports. The account
  // fixes the group, and so the sequence space the cursor counts in.
  const read = await read_snapshot(db, async (tx) => {
    const view = await read_account(tx, partner, account);
    if (view === null) return null;
    const history = await read_history(tx, view.group_id, partner, account, page.after_sequence,
      page.limit);
    return { view, history };
  });
  if (read === null) return account_not_found(account, partner);
  const { view, history } = read;
  const events = history.events.map((event) => history_event_json(event, account));
  const last = history.events[history.events.length - 1];
  return json_response({
    account: account.toString(),
    partner,
    group: view.group_id,
    applied_sequence: String(view.applied_sequence),
    events,
    next_after_sequence: history.more && last !== undefined ? String(last.sequence) : null,
  });
}
