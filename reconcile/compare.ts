// The comparison of one group's engine state at sequence S with its PostgreSQL projection: pure,
// no I/O. docs/reconcile.md.
//
// The moved-on rule: PostgreSQL may have applied events after S (live traffic). A row whose last
// sequence there is above S shows a later state than the engine's at S, so it can be neither equal
// nor different: it is counted as moved on and not compared. Every other row must match exactly.

import { HoldState } from "../schema/hold_state.ts";
import type {
  AccountRow, EngineHold, EngineState, PostgresHold, PostgresState,
} from "./rows.ts";

export type RowKind = "account" | "hold";
export type Value = number | string | null;

/** One disagreement: a field of a row, or a row present on one side only (field "row"). */
export interface Difference {
  group: number;
  kind: RowKind;
  /** Ids are each partner's own: the row is (partner, id). */
  partner: number;
  /** The account id, or the hold id (the order that opened it). */
  id: bigint;
  field: string;
  engine: Value;
  postgres: Value;
}

export interface RowCounts {
  /** Rows on the engine's side (accounts, or open holds). */
  engine: number;
  /** Rows on PostgreSQL's side (accounts, or open holds). */
  postgres: number;
  /** Rows on both sides not moved on: compared field by field. compared = equal + different. */
  compared: number;
  equal: number;
  different: number;
  /** Rows whose PostgreSQL sequence is past S: not comparable to the state at S. */
  moved_on: number;
  missing_in_postgres: number;
  missing_in_engine: number;
}

export interface GroupComparison {
  group: number;
  sequence: number;
  epoch: number;
  applied_sequence: number;
  accounts: RowCounts;
  holds: RowCounts;
  differences: Difference[];
}

export const PRESENT = "present";
export const MISSING = "missing";

/** The account fields compared, in report order (the partner is part of the row's key). */
export const ACCOUNT_FIELDS = [
  "kind", "currency", "state", "overdraft_limit_minor", "balance_minor", "held_minor",
  "available_minor", "last_sequence",
] as const satisfies readonly (keyof AccountRow)[];

/** The open hold fields compared (and the PostgreSQL row must still be open). */
export const HOLD_FIELDS = [
  "account", "amount_minor", "expires_at_ms",
] as const satisfies readonly (keyof EngineHold)[];

function counts(engine: number, postgres: number): RowCounts {
  return { engine, postgres, compared: 0, equal: 0, different: 0, moved_on: 0,
    missing_in_postgres: 0, missing_in_engine: 0 };
}

/** Rows are matched by (partner, id): ids are each partner's own. */
function key_of(partner: number, id: bigint): string {
  return `${partner}/${id}`;
}

function value_of(value: bigint | number | null): Value {
  return typeof value === "bigint" ? value.toString() : value;
}

/** Compares one group; `postgres` must have been read after the engine state was captured. */
export function compare_group(engine: EngineState, postgres: PostgresState): GroupComparison {
  const differences: Difference[] = [];
  const accounts = compare_accounts(engine, postgres, differences);
  const holds = compare_holds(engine, postgres, differences);
  return { group: engine.group, sequence: engine.sequence, epoch: engine.epoch,
    applied_sequence: postgres.applied_sequence, accounts, holds, differences };
}

function compare_accounts(engine: EngineState, postgres: PostgresState,
  differences: Difference[]): RowCounts {
  const s = engine.sequence;
  const result = counts(engine.accounts.length, postgres.accounts.length);
  const rows = new Map(postgres.accounts.map((row) => [key_of(row.partner, row.account), row]));
  const difference = (row: AccountRow, field: string, e: Value, p: Value) =>
    differences.push({ group: engine.group, kind: "account", partner: row.partner,
      id: row.account, field, engine: e, postgres: p });
  for (const mine of engine.accounts) {
    const key = key_of(mine.partner, mine.account);
    const theirs = rows.get(key);
    rows.delete(key);
    if (theirs === undefined) {
      result.missing_in_postgres++;
      difference(mine, "row", PRESENT, MISSING);
    } else if (theirs.last_sequence > s) {
      result.moved_on++;
    } else {
      result.compared++;
      let equal = true;
      for (const field of ACCOUNT_FIELDS) {
        if (mine[field] === theirs[field]) continue;
        equal = false;
        difference(mine, field, mine[field], theirs[field]);
      }
      if (equal) result.equal++;
      else result.different++;
    }
  }
  // Left: rows PostgreSQL has and the engine had not at S. Opened after S: moved on.
  for (const theirs of rows.values()) {
    if (theirs.last_sequence > s) {
      result.moved_on++;
    } else {
      result.missing_in_engine++;
      difference(theirs, "row", MISSING, PRESENT);
    }
  }
  return result;
}

function compare_holds(engine: EngineState, postgres: PostgresState,
  differences: Difference[]): RowCounts {
  const s = engine.sequence;
  const open_count = postgres.holds.filter((row) => row.state === HoldState.open).length;
  const result = counts(engine.open_holds.length, open_count);
  const rows = new Map(postgres.holds.map((row) => [key_of(row.partner, row.hold), row]));
  const difference = (row: EngineHold, field: string, e: Value, p: Value) =>
    differences.push({ group: engine.group, kind: "hold", partner: row.partner, id: row.hold,
      field, engine: e, postgres: p });
  for (const mine of engine.open_holds) {
    const key = key_of(mine.partner, mine.hold);
    const theirs = rows.get(key);
    rows.delete(key);
    if (theirs === undefined) {
      result.missing_in_postgres++;
      difference(mine, "row", PRESENT, MISSING);
    } else if (theirs.sequence > s) {
      result.moved_on++;
    } else {
      result.compared++;
      if (hold_fields_equal(engine.group, mine, theirs, differences)) result.equal++;
      else result.different++;
    }
  }
  // Left: holds PostgreSQL has that were not open in the engine at S. Closed ones at or before S
  // agree with the engine (it keeps closed holds only for a while) and are not counted.
  for (const theirs of rows.values()) {
    if (theirs.sequence > s) {
      result.moved_on++;
    } else if (theirs.state === HoldState.open) {
      result.missing_in_engine++;
      difference(theirs, "row", MISSING, PRESENT);
    }
  }
  return result;
}

function hold_fields_equal(group: number, mine: EngineHold, theirs: PostgresHold,
  differences: Difference[]): boolean {
  let equal = true;
  const difference = (field: string, e: Value, p: Value) => {
    equal = false;
    differences.push({ group, kind: "hold", partner: mine.partner, id: mine.hold, field,
      engine: e, postgres: p });
  };
  if (theirs.state !== HoldState.open) difference("state", HoldState.open, theirs.state);
  for (const field of HOLD_FIELDS) {
    if (mine[field] === theirs[field]) continue;
    difference(field, value_of(mine[field]), value_of(theirs[field]));
  }
  return equal;
}

