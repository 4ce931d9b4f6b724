// A group's engine moved whole to another thread (engine/engine_move.ts: a promotion's adoption)
// is the engine it was: after a seeded random workload (holds with timeouts expiring, retries,
// chains, time running past the idempotency window), the moved engine equals one restored from a
// snapshot of the original, the original's buffers are detached (moved, not copied), and both
// answer every later batch with the same results and journal entries.

import { describe, expect, test } from "bun:test";
import { Prng } from "../../common/prng.ts";
import { GroupEngine } from "../../engine/group_engine.ts";
import { move_in_engine, move_out_engine, transfer_list } from "../../engine/engine_move.ts";
import { capture_snapshot, restore_snapshot } from "../../engine/snapshot.ts";
import type { GroupLimits } from "../../engine/rules.ts";
import { check_invariants, EngineDriver, expect_same_state } from "../durability/group_state.ts";
import { orders_of, Workload } from "../durability/workload.ts";
import { concat, equal_bytes } from "../journal/entries.ts";
import { T0_MS } from "./harness.ts";

const GROUP = 2;
const EPOCH = 3;
const LIMITS: GroupLimits = {
  accounts_max: 64, holds_max: 1 << 10, idempotency_entries_max: 1 << 16,
  idempotency_window_ms: 10_000,
};
const BATCHES_BEFORE = 400;
const BATCHES_AFTER = 200;
const SEEDS = [1, 2, 3, 4, 5];
/** A batch is a retry of an earlier unit this often (answered replayed, or id_conflict). */
const RETRY_SHARE = 0.1;

/** Runs `count` batches of the workload on every driver alike; fails on any difference. */
function run(drivers: EngineDriver[], workload: Workload, prng: Prng, clock: { now_ms: number },
  count: number, open_first: boolean): void {
  for (let batch = 0; batch < count; batch++) {
    const opening = open_first && batch === 0;
    clock.now_ms += prng.int_below(400);
    const retry = prng.chance(RETRY_SHARE) ? workload.retry_unit() : null;
    const units = opening ? workload.opening_units(clock.now_ms)
      : [retry ?? workload.random_unit(clock.now_ms)];
    const orders = orders_of(units);
    const entries = drivers.map((driver) => driver.apply(orders, clock.now_ms));
    const results = drivers.map((driver) => driver.result_bytes(orders.length).slice());
    const ticks = drivers.map((driver) => driver.tick(clock.now_ms));
    for (let d = 1; d < drivers.length; d++) {
      expect(equal_bytes(results[d]!, results[0]!)).toBe(true);
      expect(entries[d] === null ? null : equal_bytes(entries[d]!, entries[0]!))
        .toBe(entries[0] === null ? null : true);
      expect(ticks[d] === null ? null : equal_bytes(ticks[d]!, ticks[0]!))
        .toBe(ticks[0] === null ? null : true);
    }
  }
}

/** Every typed array (or buffer) reachable from a moved state. */
function views_in(value: unknown, found: (ArrayBufferView | ArrayBuffer)[] = []):
  (ArrayBufferView | ArrayBuffer)[] {
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
    found.push(value);
  } else if (typeof value === "object" && value !== null) {
    for (const child of Object.values(value)) views_in(child, found);
  }
  return found;
}

describe("an engine moved to another thread", () => {
  for (const seed of SEEDS) {
    test(`seed ${seed}: equal to its snapshot's restore, the original detached, the same answers after`,
      () => {
        const prng = new Prng(seed);
        const workload = new Workload(prng);
        const clock = { now_ms: T0_MS };
        const original = new EngineDriver(new GroupEngine(GROUP, EPOCH, LIMITS));
        run([original], workload, prng, clock, BATCHES_BEFORE, true);
        expect(original.engine.holds.used_count).toBeGreaterThan(0);
        expect(original.engine.window.count).toBeGreaterThan(0);

        const restored = new GroupEngine(GROUP, 0, LIMITS);
        restore_snapshot(restored, concat(capture_snapshot(original.engine)));
        // What postMessage does to a transfer: the buffers move, the sender's are detached.
        const state = move_out_engine(original.engine);
        const buffers = transfer_list(state);
        const arrived = structuredClone(state, { transfer: buffers });
        expect(buffers.every((buffer) => buffer.byteLength === 0)).toBe(true);
        // Every table of the state was in the list (moved, none copied).
        expect(views_in(state).filter((view) => view.byteLength > 0)).toEqual([]);
        const moved = new GroupEngine(GROUP, 0, LIMITS);
        move_in_engine(moved, arrived);
        expect(moved.epoch).toBe(EPOCH);
        expect_same_state(moved, restored, `seed ${seed}: moved vs restored`);

        const after = [new EngineDriver(moved), new EngineDriver(restored)];
        run(after, workload, prng, clock, BATCHES_AFTER, false);
        expect_same_state(moved, restored, `seed ${seed}: after more batches`);
        check_invariants(moved);
      });
  }

  test("into an engine of other limits, or one not fresh: refused", () => {
    const source = new GroupEngine(GROUP, EPOCH, LIMITS);
    const other = new GroupEngine(GROUP, 0, { ...LIMITS, accounts_max: LIMITS.accounts_max * 2 });
    expect(() => move_in_engine(other, move_out_engine(source))).toThrow("same size");
    const another_group = new GroupEngine(GROUP + 1, 0, LIMITS);
    expect(() => move_in_engine(another_group, move_out_engine(new GroupEngine(GROUP, 1, LIMITS))))
      .toThrow("same group");
  });
});
