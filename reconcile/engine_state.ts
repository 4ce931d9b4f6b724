// One group's engine state at a sequence, fetched from the service's admin route
// (GET /admin/groups/:group/state: a fresh snapshot, durable, with group, sequence, epoch and the
// engine's limits in headers) and decoded with the engine's own snapshot reader: the bytes are
// restored into a GroupEngine shaped like the service's (engine/snapshot.ts restore_snapshot, which
// checks magic, version, group, sizes and every account's invariants), then read out as rows.

import { assert } from "../common/assert.ts";
import { GroupEngine } from "../engine/group_engine.ts";
import { HoldState } from "../schema/hold_state.ts";
import type { GroupLimits } from "../engine/rules.ts";
import { restore_snapshot } from "../engine/snapshot.ts";
import {
  ReconcileError, u64_of, type AccountRow, type EngineHold, type EngineState,
} from "./rows.ts";

/** A capture refused busy (another capture of the group) is tried again this many times. */
export const CAPTURE_ATTEMPTS_MAX = 5;
const RETRY_AFTER_S_DEFAULT = 1;
/** Capturing waits for a snapshot and its durability (the service gives up after 30 s). */
const CAPTURE_TIMEOUT_MS = 60_000;

export interface EngineSource {
  /** The service's base URL, e.g. http://127.0.0.1:8080 */
  url: string;
  /** An internal bearer token. */
  token: string;
}

/** Fetches and decodes group `group`'s state; throws ReconcileError when it cannot. */
export async function fetch_engine_state(source: EngineSource, group: number)
  : Promise<EngineState> {
  let asked = source;
  for (let attempt = 1; ; attempt++) {
    const response = await fetch_state(asked, group);
    if (response.status === 200) {
      const bytes = new Uint8Array(await response.arrayBuffer());
      return decode_engine_state(bytes, response.headers, group);
    }
    const body = await response.text();
    const retriable = response.status === 503 || response.status === NOT_PRIMARY_STATUS;
    if (!retriable || attempt >= CAPTURE_ATTEMPTS_MAX) {
      throw new ReconcileError(refusal_message(asked, group, response.status, body));
    }
    if (response.status === NOT_PRIMARY_STATUS) {
      // A cluster: the group's primary holds its state; the node asked names it in its map.
      asked = { url: await primary_url_of(source, group), token: source.token };
      continue;
    }
    const retry_after_s = Number(response.headers.get("retry-after") ?? RETRY_AFTER_S_DEFAULT);
    const wait_s = Number.isFinite(retry_after_s) ? retry_after_s : RETRY_AFTER_S_DEFAULT;
    await Bun.sleep(1000 * wait_s);
  }
}

/** A cluster node's answer for a group it does not lead (the service's not_primary). */
export const NOT_PRIMARY_STATUS = 421;

interface MapShape {
  nodes?: { id?: unknown; http?: unknown }[];
  group_primaries?: { group?: unknown; primary?: unknown }[];
}

/** The group's primary's base URL, from the routing map of the node at source.url. */
async function primary_url_of(source: EngineSource, group: number): Promise<string> {
  const url = `${source.url.replace(/\/+$/, "")}/cluster/map`;
  let map: MapShape;
  try {
    const response = await fetch(url, { headers: { authorization: `Bearer ${source.token}` },
      signal: AbortSignal.timeout(CAPTURE_TIMEOUT_MS) });
    map = await response.json() as MapShape;
  } catch (error) {
    throw new ReconcileError(`the routing map is unreadable at ${url}: ${String(error)}`);
  }
  const primary = map.group_primaries?.find((g) => g.group === group)?.primary;
  const http = map.nodes?.find((node) => node.id === primary)?.http;
  if (typeof http !== "string") {
    throw new ReconcileError(`group ${group}: the routing map at ${url} names no primary`);
  }
  return `http://${http}`;
}

async function fetch_state(source: EngineSource, group: number): Promise<Response> {
  const url = `${source.url.replace(/\/+$/, "")}/admin/groups/${group}/state`;
  try {
    return await fetch(url, {
      headers: { authorization: `Bearer ${source.token}` },
      signal: AbortSignal.timeout(CAPTURE_TIMEOUT_MS),
    });
  } catch (error) {
    throw new ReconcileError(`the service is unreachable at ${source.url}: ${String(error)}`);
  }
}

function refusal_message(source: EngineSource, group: number, status: number, body: string)
  : string {
  const what = status === 401 ? "the token was refused (401)"
    : status === 403 ? "the token is not an internal token (403)"
    : status === 404 ? `the service has no group ${group} (404)`
    : status === 503 ? "the service is busy, not ready or shutting down (503)"
    : status === NOT_PRIMARY_STATUS ? "the node asked does not lead the group (421)"
    : status === 504 ? "the service could not capture the state in time (504)"
    : `the service answered ${status}`;
  return `group ${group}: ${what} at ${source.url}: ${body.slice(0, 300)}`;
}

/** A non-negative integer header, or a ReconcileError naming it. */
function header_integer(headers: Headers, name: string): number {
  const text = headers.get(name);
  const value = Number(text);
  if (text === null || !/^\d{1,16}$/.test(text) || !Number.isSafeInteger(value)) {
    throw new ReconcileError(`the state answer lacks a valid ${name} header (got ${text})`);
  }
  return value;
}

/** Restores snapshot bytes into an engine shaped like the service's and reads them out as rows. */
export function decode_engine_state(bytes: Uint8Array, headers: Headers, group: number)
  : EngineState {
  if (header_integer(headers, "x-group") !== group) {
    throw new ReconcileError(`asked for group ${group}, got x-group ${headers.get("x-group")}`);
  }
  const limits: GroupLimits = {
    accounts_max: header_integer(headers, "x-accounts-max"),
    holds_max: header_integer(headers, "x-holds-max"),
    idempotency_entries_max: header_integer(headers, "x-idempotency-entries-max"),
    idempotency_window_ms: header_integer(headers, "x-idempotency-window-ms"),
  };
  const sequence = header_integer(headers, "x-sequence");
  const epoch = header_integer(headers, "x-epoch");
  const engine = new GroupEngine(group, 0, limits);
  restore_snapshot(engine, bytes);
  assert(engine.last_sequence === sequence, "the snapshot holds the state at x-sequence");
  assert(engine.epoch === epoch, "the snapshot's epoch is x-epoch");
  return {
    group, groups: header_integer(headers, "x-groups"), sequence, epoch,
    accounts: account_rows(engine), open_holds: open_hold_rows(engine),
  };
}

function account_rows(engine: GroupEngine): AccountRow[] {
  const a = engine.accounts;
  const rows: AccountRow[] = [];
  for (let slot = 0; slot < a.count; slot++) {
    rows.push({
      account: u64_of(a.id_hi(slot), a.id_lo(slot)),
      partner: a.partner(slot),
      kind: a.kind(slot),
      currency: a.currency(slot),
      state: a.state(slot),
      overdraft_limit_minor: a.overdraft_limit_minor(slot),
      balance_minor: a.balance_minor(slot),
      held_minor: a.held_minor(slot),
      available_minor: a.available_minor(slot),
      last_sequence: a.sequence(slot),
    });
  }
  return rows;
}

function open_hold_rows(engine: GroupEngine): EngineHold[] {
  const h = engine.holds;
  const a = engine.accounts;
  const rows: EngineHold[] = [];
  h.for_each_used((slot) => {
    if (h.state[slot] !== HoldState.open) return;
    const account_slot = h.account_slot[slot]!;
    assert(account_slot >= 0 && account_slot < a.count, "an open hold's account exists");
    const expires_at_ms = h.expires_at_ms[slot]!;
    rows.push({
      partner: h.partner[slot]!,
      hold: u64_of(h.id_hi[slot]!, h.id_lo[slot]!),
      account: u64_of(a.id_hi(account_slot), a.id_lo(account_slot)),
      amount_minor: h.amount_minor[slot]!,
      expires_at_ms: expires_at_ms === 0 ? null : expires_at_ms, // 0: no timeout
    });
  });
  return rows;
}
