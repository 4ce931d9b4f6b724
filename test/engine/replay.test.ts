// Replay and snapshots rebuild exactly the state the original run left: accounts, holds, the
// idempotency window (retries still answered as replayed), engine time and sequence.

import { expect, test } from "bun:test";
import { GroupEngine } from "../../engine/group_engine.ts";
import { capture_snapshot, restore_snapshot } from "../../engine/snapshot.ts";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import {
  EngineHarness, engine_state as state_of, replay_entries as replay_all, small_limits,
  type TestOrder,
} from "./harness.ts";
import { concat } from "../journal/entries.ts";

function workload(h: EngineHarness): TestOrder[][] {
  h.open(1n, { overdraft: 50n });
  h.open(2n);
  h.open(3n, { partner: 2 });
  const retry_id = h.next_id();
  return [
    [{ op: Op.credit, account: 1n, amount: 1000n }, { op: Op.debit, account: 2n, amount: 5n }],
    [{ op: Op.hold, account: 1n, amount: 300n, ref: 5_000n }, { op: Op.hold, account: 1n, amount: 100n }],
    [{ op: Op.transfer, account: 1n, ref: 2n, amount: 200n, linked: true },
      { op: Op.debit, account: 2n, amount: 150n }],
    [{ id: retry_id, op: Op.credit, account: 3n, partner: 2, amount: 7n }],
    [{ id: retry_id, op: Op.credit, account: 3n, partner: 2, amount: 7n }],
    [{ op: Op.freeze, account: 2n }, { op: Op.debit, account: 2n, amount: 1n }],
  ];
}

test("replaying the journal rebuilds the state the engine left", () => {
  const h = new EngineHarness();
  for (const batch of workload(h)) h.batch(batch);
  h.tick(h.now_ms + 10_000); // the 5 s hold expires: an event of its own
  const replayed = new GroupEngine(0, 1, small_limits);
  replay_all(h.journal_bytes, replayed);
  expect(state_of(replayed)).toEqual(state_of(h.engine));
  expect(replayed.holds.used_count).toBe(2);
});

test("a snapshot plus the journal after it rebuilds the same state", () => {
  const h = new EngineHarness();
  const batches = workload(h);
  for (const batch of batches.slice(0, 3)) h.batch(batch);
  const snapshot_bytes = concat(capture_snapshot(h.engine));
  const snapshot_sequence = h.engine.last_sequence;
  for (const batch of batches.slice(3)) h.batch(batch);
  h.tick(h.now_ms + 10_000);
  const restored = new GroupEngine(0, 1, small_limits);
  restore_snapshot(restored, snapshot_bytes);
  expect(restored.last_sequence).toBe(snapshot_sequence);
  replay_all(h.journal_bytes, restored, snapshot_sequence);
  expect(state_of(restored)).toEqual(state_of(h.engine));
});
