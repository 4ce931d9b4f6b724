// The pure comparison of reconcile (reconcile/compare.ts): equal states, each kind of difference
// (every account field, every hold field, rows missing on either side), and the moved-on rule
// (a PostgreSQL row changed after the engine's sequence is counted, never compared).

import { describe, expect, test } from "bun:test";
import { HoldState } from "../../schema/hold_state.ts";
import {
  ACCOUNT_FIELDS, MISSING, PRESENT, compare_group, type Difference,
} from "../../reconcile/compare.ts";
import { report_json, report_lines } from "../../reconcile/report.ts";
import type {
  AccountRow, EngineHold, EngineState, PostgresHold, PostgresState,
} from "../../reconcile/rows.ts";

const GROUP = 2;
const S = 100; // the engine state's sequence

function account(id: bigint, last_sequence: number): AccountRow {
  return { account: id, partner: 7, kind: 2, currency: 978, state: 1, overdraft_limit_minor: 50,
    balance_minor: 1_000, held_minor: 200, available_minor: 850, last_sequence };
}

function hold(id: bigint, account_id: bigint): EngineHold {
  return { partner: 7, hold: id, account: account_id, amount_minor: 200,
    expires_at_ms: 1_700_000_000_500 };
}

function pg_hold(engine_hold: EngineHold, sequence: number, state: number = HoldState.open)
  : PostgresHold {
  return { ...engine_hold, state, sequence };
}

/** An engine state and a PostgreSQL state that agree: 3 accounts, 2 open holds. */
function agreeing(): { engine: EngineState; postgres: PostgresState } {
  const accounts = [account(1n, 10), account(2n, 20), account((1n << 64n) - 1n, S)];
  const holds = [hold(900n, 1n), { ...hold(901n, 2n), expires_at_ms: null }];
  return {
    engine: { group: GROUP, groups: 4, sequence: S, epoch: 3, accounts, open_holds: holds },
    postgres: {
      group: GROUP, applied_sequence: S,
      accounts: accounts.map((row) => ({ ...row })),
      holds: holds.map((row, k) => pg_hold(row, 30 + k)),
    },
  };
}

function diff(kind: "account" | "hold", id: bigint, field: string, engine: unknown,
  postgres: unknown): Difference {
  return { group: GROUP, kind, partner: 7, id, field, engine, postgres } as Difference;
}

describe("compare_group", () => {
  test("equal states: every row compared and equal, no difference", () => {
    const { engine, postgres } = agreeing();
    const result = compare_group(engine, postgres);
    expect(result.differences).toEqual([]);
    expect(result.accounts).toEqual({ engine: 3, postgres: 3, compared: 3, equal: 3, different: 0,
      moved_on: 0, missing_in_postgres: 0, missing_in_engine: 0 });
    expect(result.holds).toEqual({ engine: 2, postgres: 2, compared: 2, equal: 2, different: 0,
      moved_on: 0, missing_in_postgres: 0, missing_in_engine: 0 });
    expect(report_json([result]).ok).toBe(true);
  });

  for (const field of ACCOUNT_FIELDS) {
    test(`an account's ${field} differs: exactly that difference`, () => {
      const { engine, postgres } = agreeing();
      const row = postgres.accounts[1]!;
      const before = row[field];
      // Lower, so a changed last_sequence stays at or below S (comparable).
      row[field] = before - 1;
      const result = compare_group(engine, postgres);
      expect(result.differences).toEqual([diff("account", 2n, field, before, before - 1)]);
      expect(result.accounts.different).toBe(1);
      expect(result.accounts.equal).toBe(2);
    });
  }

  test("several fields of one account differ: one difference each, one account different", () => {
    const { engine, postgres } = agreeing();
    postgres.accounts[0]!.balance_minor = 999;
    postgres.accounts[0]!.state = 3;
    const result = compare_group(engine, postgres);
    expect(result.differences).toEqual([
      diff("account", 1n, "state", 1, 3), diff("account", 1n, "balance_minor", 1_000, 999),
    ]);
    expect(result.accounts.different).toBe(1);
  });

  test("accounts missing on either side", () => {
    const { engine, postgres } = agreeing();
    postgres.accounts.splice(0, 1); // account 1 missing in PostgreSQL
    postgres.accounts.push(account(55n, S - 1)); // account 55 missing in the engine
    const result = compare_group(engine, postgres);
    expect(result.differences).toEqual([
      diff("account", 1n, "row", PRESENT, MISSING), diff("account", 55n, "row", MISSING, PRESENT),
    ]);
    expect(result.accounts.missing_in_postgres).toBe(1);
    expect(result.accounts.missing_in_engine).toBe(1);
    expect(result.accounts.compared).toBe(2);
  });

  test("ids are each partner's own: another partner's account or hold of that id is another row",
    () => {
      const { engine, postgres } = agreeing();
      postgres.accounts[0]!.partner = 8;
      postgres.holds[0]!.partner = 8;
      const result = compare_group(engine, postgres);
      const of_8 = (d: Difference) => ({ ...d, partner: 8 });
      expect(result.differences).toEqual([
        diff("account", 1n, "row", PRESENT, MISSING),
        of_8(diff("account", 1n, "row", MISSING, PRESENT)),
        diff("hold", 900n, "row", PRESENT, MISSING),
        of_8(diff("hold", 900n, "row", MISSING, PRESENT)),
      ]);
      expect(report_lines([result]).join("\n")).toContain("account 8/1 row");
    });

  test("moved on: accounts changed or opened after S are counted, never compared", () => {
    const { engine, postgres } = agreeing();
    Object.assign(postgres.accounts[0]!, { balance_minor: 5, last_sequence: S + 1 });
    postgres.accounts.push(account(77n, S + 5)); // opened after S
    const result = compare_group(engine, postgres);
    expect(result.differences).toEqual([]);
    expect(result.accounts.moved_on).toBe(2);
    expect(result.accounts.compared).toBe(2);
    expect(result.accounts.equal).toBe(2);
    expect(report_lines([result]).join("\n")).toContain("2 row(s) moved on");
  });

  test("a hold's amount, expiry, account or state differs: exactly that difference", () => {
    const cases: [keyof PostgresHold, number | bigint | null, unknown, unknown][] = [
      ["amount_minor", 150, 200, 150],
      ["expires_at_ms", null, 1_700_000_000_500, null],
      ["account", 2n, "1", "2"],
      ["state", HoldState.captured, HoldState.open, HoldState.captured],
    ];
    for (const [field, value, engine_value, postgres_value] of cases) {
      const { engine, postgres } = agreeing();
      Object.assign(postgres.holds[0]!, { [field]: value });
      const result = compare_group(engine, postgres);
      expect(result.differences).toEqual([diff("hold", 900n, field, engine_value, postgres_value)]);
      expect(result.holds.different).toBe(1);
    }
  });

  test("holds missing on either side; closed holds at or before S are not counted", () => {
    const { engine, postgres } = agreeing();
    postgres.holds.splice(1, 1); // hold 901 missing in PostgreSQL
    postgres.holds.push(pg_hold(hold(950n, 1n), S - 2)); // open in PostgreSQL only
    postgres.holds.push(pg_hold(hold(951n, 1n), S - 1, HoldState.released)); // closed: agrees
    const result = compare_group(engine, postgres);
    expect(result.differences).toEqual([
      diff("hold", 901n, "row", PRESENT, MISSING), diff("hold", 950n, "row", MISSING, PRESENT),
    ]);
    expect(result.holds.missing_in_postgres).toBe(1);
    expect(result.holds.missing_in_engine).toBe(1);
    expect(result.holds.postgres).toBe(2); // open ones
  });

  test("moved on: holds changed or opened after S are counted, never compared", () => {
    const { engine, postgres } = agreeing();
    Object.assign(postgres.holds[0]!, { state: HoldState.captured, sequence: S + 1 });
    postgres.holds.push(pg_hold(hold(960n, 2n), S + 2)); // opened after S
    const result = compare_group(engine, postgres);
    expect(result.differences).toEqual([]);
    expect(result.holds.moved_on).toBe(2);
    expect(result.holds.compared).toBe(1);
  });

  test("the JSON report: ids as strings, counts per group, capped list with the total", () => {
    const { engine, postgres } = agreeing();
    postgres.accounts[2]!.held_minor = 0;
    const json = report_json([compare_group(engine, postgres)]);
    expect(json.ok).toBe(false);
    expect(json.difference_count).toBe(1);
    expect(json.differences).toEqual([{ group: GROUP, kind: "account", partner: 7,
      id: "18446744073709551615", field: "held_minor", engine: 200, postgres: 0 }]);
    expect(json.groups[0]!.difference_count).toBe(1);
    expect(() => JSON.stringify(json)).not.toThrow();
  });
});
