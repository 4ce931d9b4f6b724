// Replay and snapshots rebuild exactly the state the original run left: accounts, holds, the
// idempotency window (retries still answered as replayed), engine time and sequence.

import { expect, test } from "bun:test";
import { JOURNAL_ENTRY_HEADER_BYTES } from "../../common/constants.ts";
import { GroupEngine } from "../../engine/group_engine.ts";
import { replay_entry } from "../../engine/replay.ts";
import { capture_snapshot, restore_snapshot } from "../../engine/snapshot.ts";
import {
  entry_header_empty, read_entry_header, entry_size_bytes,
} from "../../schema/journal_entry_layout.ts";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import { EngineHarness, small_limits, type TestOrder } from "./harness.ts";

function state_of(engine: GroupEngine) {
  const a = engine.accounts;
  const accounts = [];
  for (let slot = 0; slot < a.count; slot++) {
    accounts.push([a.id_hi(slot), a.id_lo(slot), a.partner(slot), a.currency(slot), a.kind(slot),
      a.state(slot), a.balance_minor(slot), a.held_minor(slot), a.overdraft_limit_minor(slot),
      a.open_hold_count(slot), a.sequence(slot)]);
  }
  const holds: unknown[] = [];
  engine.holds.for_each_used((s) => holds.push([engine.holds.id_lo[s], engine.holds.state[s],
    engine.holds.amount_minor[s], engine.holds.expires_at_ms[s], engine.holds.closed_at_ms[s]]));
  const window: unknown[] = [];
  engine.window.for_each((at) => window.push([engine.window.id_lo[at], engine.window.digest[at],
    engine.window.status[at], engine.window.sequence[at], engine.window.balance_minor[at],
    engine.window.available_minor[at]]));
  return { accounts, holds, window, sequence: engine.last_sequence, time: engine.engine_time_ms };
}

function replay_all(entries: Uint8Array[], into: GroupEngine, after_sequence = 0): void {
  const header = entry_header_empty();
  for (const bytes of entries) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let offset = 0;
    while (offset < bytes.byteLength) {
      expect(read_entry_header(view, offset, bytes.byteLength - offset, header)).toBe("ok");
      if (header.first_sequence > after_sequence) {
        replay_entry(into, header, view, offset + JOURNAL_ENTRY_HEADER_BYTES);
      }
      offset += entry_size_bytes(header.record_count);
    }
  }
}

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

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}
