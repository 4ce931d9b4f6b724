// A group's engine moved whole to another thread: the standby's hot engine (on the cluster journal
// worker) becomes the primary's (on an engine worker) at a promotion. Every table's typed arrays
// travel as transferred buffers, so the move costs microseconds whatever the state's size, where
// a snapshot's copy and restore (engine/snapshot.ts) re-insert every idempotency entry one by
// one (hundreds of milliseconds for a busy group's window: most of a failover past the lease).
//
// The engine moved out must not be used again (its buffers are detached); the engine moved into
// is a fresh one of the same group and limits (the same array sizes, asserted by each table).

import { assert } from "../common/assert.ts";
import type { AccountTableState } from "./accounts.ts";
import type { GroupEngine } from "./group_engine.ts";
import type { HoldTableState } from "./holds.ts";
import type { IdempotencyWindowState } from "./idempotency.ts";

/** Plain data and typed arrays: postMessage carries it, its buffers in the transfer list. */
export interface GroupEngineState {
  group: number;
  epoch: number;
  last_sequence: number;
  engine_time_ms: number;
  accounts: AccountTableState;
  holds: HoldTableState;
  window: IdempotencyWindowState;
}

export function move_out_engine(engine: GroupEngine): GroupEngineState {
  return {
    group: engine.group, epoch: engine.epoch, last_sequence: engine.last_sequence,
    engine_time_ms: engine.engine_time_ms, accounts: engine.accounts.move_out(),
    holds: engine.holds.move_out(), window: engine.window.move_out(),
  };
}

export function move_in_engine(engine: GroupEngine, state: GroupEngineState): void {
  assert(engine.group === state.group, "moved into an engine of the same group");
  assert(engine.last_sequence === 0 && engine.accounts.count === 0, "moved into a fresh engine");
  engine.accounts.move_in(state.accounts);
  engine.holds.move_in(state.holds);
  engine.window.move_in(state.window);
  engine.epoch = state.epoch;
  engine.last_sequence = state.last_sequence;
  engine.engine_time_ms = state.engine_time_ms;
}

/** Every buffer the state holds, once each: postMessage's transfer list. */
export function transfer_list(state: GroupEngineState): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  const add = (buffer: ArrayBufferLike) => {
    assert(buffer instanceof ArrayBuffer, "engine tables are in transferable buffers");
    buffers.add(buffer);
  };
  add(state.accounts.records);
  add(state.accounts.index.table.buffer);
  add(state.holds.index.table.buffer);
  for (const column of Object.values(state.holds.columns)) add(column.buffer);
  for (const array of Object.values(state.window.arrays)) add(array.buffer);
  for (const index of state.window.indexes) add(index.buffer);
  return [...buffers];
}
