// Account numbers and order ids are each partner's own (issue 7, point 2): partners 7 and 9 use the
// same numbers; nothing one does is visible to, or can block, the other; and every answer is the
// same whether they share a group or not. The state survives replay and snapshots unchanged.

import { describe, expect, test } from "bun:test";
import { GroupEngine } from "../../engine/group_engine.ts";
import { capture_snapshot, restore_snapshot, STATE_VERSION } from "../../engine/snapshot.ts";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import {
  engine_state, EngineHarness, replay_entries, small_limits, T0_MS, type TestOrder,
  type TestResult,
} from "./harness.ts";

const P7 = 7;
const P9 = 9;
const ACCOUNT = 1001n;
const OTHER = 1002n;

/** What a partner sees of an order's answer: everything but the group's sequence number. */
type Answer = [string, bigint, bigint, boolean];

function answer(result: TestResult): Answer {
  return [result.status_name, result.balance, result.available, result.replayed];
}

/**
 * The scenario, one batch per step; `engine_of` names the harness a partner's orders go to. Order
 * ids are fixed (the same for both layouts) and partner 9 reuses partner 7's.
 */
function run_scenario(engine_of: (partner: number) => EngineHarness): Answer[] {
  let counter = 0;
  const id = () => (BigInt(T0_MS) << 22n) | BigInt(++counter);
  const shared_id = id();
  const hold_id = id();
  const steps: TestOrder[][] = [
    [{ id: id(), op: Op.open_account, partner: P7, account: ACCOUNT, ref: 3n }],
    [{ id: id(), op: Op.open_account, partner: P9, account: ACCOUNT, ref: 3n, amount: 50n }],
    [{ id: id(), op: Op.open_account, partner: P7, account: OTHER, ref: 3n }],
    [{ id: shared_id, op: Op.credit, partner: P7, account: ACCOUNT, amount: 700n }],
    // The same order id, another partner, another payload: its own order, not id_conflict.
    [{ id: shared_id, op: Op.credit, partner: P9, account: ACCOUNT, amount: 90n }],
    // Each retry is its own partner's.
    [{ id: shared_id, op: Op.credit, partner: P7, account: ACCOUNT, amount: 700n }],
    [{ id: shared_id, op: Op.credit, partner: P9, account: ACCOUNT, amount: 90n }],
    [{ id: hold_id, op: Op.hold, partner: P7, account: ACCOUNT, amount: 100n }],
    [{ id: hold_id, op: Op.hold, partner: P9, account: ACCOUNT, amount: 40n }],
    // Partner 9 captures its own hold of that id; partner 7's stays open.
    [{ id: id(), op: Op.capture, partner: P9, account: ACCOUNT, ref: hold_id, amount: 40n }],
    [{ id: id(), op: Op.debit, partner: P9, account: ACCOUNT, amount: 100n }],
    // Partner 7's account 1002 is not partner 9's: not found, wherever it lives.
    [{ id: id(), op: Op.transfer, partner: P9, account: ACCOUNT, ref: OTHER, amount: 1n }],
    [{ id: id(), op: Op.credit, partner: P9, account: OTHER, amount: 1n }],
    [{ id: id(), op: Op.transfer, partner: P7, account: ACCOUNT, ref: OTHER, amount: 5n }],
    [{ id: id(), op: Op.release, partner: P7, account: ACCOUNT, ref: hold_id }],
    [{ id: id(), op: Op.freeze, partner: P9, account: ACCOUNT }],
    [{ id: id(), op: Op.debit, partner: P7, account: ACCOUNT, amount: 1n }],
  ];
  return steps.map((batch) => answer(engine_of(batch[0]!.partner!).batch(batch)[0]!));
}

const EXPECTED: Answer[] = [
  ["ok", 0n, 0n, false],
  ["ok", 0n, 50n, false], // not account_exists: 9's 1001 is not 7's
  ["ok", 0n, 0n, false],
  ["ok", 700n, 700n, false],
  ["ok", 90n, 140n, false],
  ["ok", 700n, 700n, true],
  ["ok", 90n, 140n, true],
  ["ok", 700n, 600n, false],
  ["ok", 90n, 100n, false], // not id_conflict: the hold id is 9's own
  ["ok", 50n, 100n, false],
  ["ok", -50n, 0n, false], // 9's own overdraft, not 7's funds
  ["account_not_found", -50n, 0n, false],
  ["account_not_found", 0n, 0n, false],
  ["ok", 695n, 595n, false],
  ["ok", 695n, 695n, false],
  ["ok", -50n, 0n, false],
  ["ok", 694n, 694n, false], // 9's freeze is not 7's
];

describe("partners sharing a group", () => {
  test("use the same account numbers and order ids without seeing each other", () => {
    const h = new EngineHarness();
    expect(run_scenario(() => h)).toEqual(EXPECTED);
    expect(h.account(ACCOUNT, P7)).toEqual({ balance: 694, held: 0, available: 694 });
    expect(h.account(ACCOUNT, P9)).toEqual({ balance: -50, held: 0, available: 0 });
    expect(h.account(OTHER, P9)).toBeNull();
  });

  test("answer exactly as partners in different groups do", () => {
    const shared = new EngineHarness();
    const apart = new Map([[P7, new EngineHarness()], [P9, new EngineHarness()]]);
    expect(run_scenario(() => shared)).toEqual(run_scenario((p) => apart.get(p)!));
  });

  test("replay and a snapshot rebuild both partners' state, and retries answer the same", () => {
    const h = new EngineHarness();
    run_scenario(() => h);
    const replayed = new GroupEngine(0, 1, small_limits);
    replay_entries(h.journal_bytes, replayed);
    expect(engine_state(replayed)).toEqual(engine_state(h.engine));
    const restarted = new EngineHarness();
    restore_snapshot(restarted.engine, capture_snapshot(replayed)[0]!);
    expect(engine_state(restarted.engine)).toEqual(engine_state(h.engine));
    restarted.now_ms = h.now_ms;
    // The whole scenario again on the restarted engine: every order is a retry now.
    expect(run_scenario(() => restarted)).toEqual(EXPECTED.map(([status, balance, available]) =>
      [status, balance, available, true] as Answer));
  });
});

describe("a failed chain that opened an account", () => {
  test("shows the figures of no account, live and after a restart", () => {
    const h = new EngineHarness();
    const open_id = h.next_id();
    const debit_id = h.next_id();
    const chain: TestOrder[] = [
      { id: open_id, op: Op.open_account, account: 5n, amount: 500n, ref: 3n, linked: true },
      { id: debit_id, op: Op.debit, account: 5n, amount: 600n },
    ];
    const live = h.batch(chain).map(answer);
    expect(live).toEqual([["linked_failed", 0n, 0n, false], ["insufficient_funds", 0n, 0n, false]]);
    expect(h.account(5n)).toBeNull();
    const restarted = new EngineHarness();
    replay_entries(h.journal_bytes, restarted.engine);
    restarted.now_ms = h.now_ms;
    expect(restarted.batch(chain).map(answer))
      .toEqual(live.map(([status, balance, available]) => [status, balance, available, true]));
    expect(h.batch(chain).map(answer))
      .toEqual(live.map(([status, balance, available]) => [status, balance, available, true]));
  });
});

describe("snapshot versions", () => {
  test("a snapshot of the version before partner-keyed ids is refused with a clear error", () => {
    const h = new EngineHarness();
    h.open(ACCOUNT);
    const bytes = capture_snapshot(h.engine)[0]!;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    view.setUint32(4, STATE_VERSION - 1, true);
    expect(() => restore_snapshot(new GroupEngine(0, 1, small_limits), bytes))
      .toThrow(`snapshot: group state version ${STATE_VERSION - 1} is no longer read`);
    view.setUint32(4, STATE_VERSION + 1, true);
    expect(() => restore_snapshot(new GroupEngine(0, 1, small_limits), bytes))
      .toThrow("is newer than this release reads");
  });
});
