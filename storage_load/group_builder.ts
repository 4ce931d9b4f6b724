// Loading from storage, step 3: one group's engine rebuilt from what PostgreSQL held at sequence S
// (storage_load/postgres_state.ts) and the Kafka events around it:
//   - events at or before S only bring back their ids (the window), since the rows already hold
//     their outcomes;
//   - events after S are replayed by their recorded outcomes, as a restart replays its journal.
// Every event must follow the one before it: a gap, or a first event after S+1, is refused.

import { assert } from "../common/assert.ts";
import type { AccountKind } from "../schema/generated/balance/wire/account-kind.ts";
import type { AccountState } from "../schema/generated/balance/wire/account-state.ts";
import { GroupEngine } from "../engine/group_engine.ts";
import { HoldState } from "../schema/hold_state.ts";
import { remember_entry_ids, replay_entry, type ReplayEntry } from "../engine/replay.ts";
import type { GroupLimits } from "../engine/rules.ts";
import type { GroupStoredState } from "./postgres_state.ts";

const U32 = 2n ** 32n;

export class LoadGapError extends Error {
  override name = "LoadGapError";
}

export class GroupBuilder {
  readonly engine: GroupEngine;
  /** The sequence the stored state holds (S). */
  readonly stored_sequence: number;
  /** The sequence of the last event seen (history or new). */
  last_event_sequence: number;
  first_event_sequence = 0;
  first_event_time_ms = 0;
  remembered_events = 0;
  replayed_events = 0;

  constructor(stored: GroupStoredState, limits: GroupLimits) {
    this.engine = new GroupEngine(stored.group, stored.epoch, limits);
    this.stored_sequence = stored.sequence;
    this.last_event_sequence = 0;
    restore_rows(this.engine, stored);
  }

  /** Applies one run of events (journal records in `records`, see event_entries.ts). */
  add_entry(entry: ReplayEntry, records: DataView): void {
    const last = entry.first_sequence + entry.record_count - 1;
    if (this.first_event_sequence === 0) {
      this.first_event_sequence = entry.first_sequence;
      this.first_event_time_ms = entry.engine_time_ms;
    }
    // Starting after S+1 leaves a hole: the caller reads again from further back, or refuses.
    if (this.first_event_sequence > this.stored_sequence + 1) return;
    if (last <= this.last_event_sequence) return; // a record read twice (Kafka: at least once)
    if (this.last_event_sequence !== 0 && entry.first_sequence !== this.last_event_sequence + 1) {
      throw new LoadGapError(`group ${this.engine.group}: events jump from ` +
        `${this.last_event_sequence} to ${entry.first_sequence}`);
    }
    if (last <= this.stored_sequence) {
      remember_entry_ids(this.engine, entry, records, 0);
      this.remembered_events += entry.record_count;
    } else {
      assert(entry.first_sequence === this.stored_sequence + 1 + this.replayed_events,
        "runs are split at the stored sequence");
      replay_entry(this.engine, entry, records, 0);
      this.replayed_events += entry.record_count;
    }
    this.last_event_sequence = last;
  }

  /** Ends the load: the engine holds the state after the last event (or S, with none after it). */
  finish(stored_engine_time_ms: number): GroupEngine {
    const engine = this.engine;
    if (this.first_event_sequence > this.stored_sequence + 1) {
      throw new LoadGapError(`group ${engine.group}: Kafka's oldest event is ` +
        `${this.first_event_sequence} and PostgreSQL holds up to ${this.stored_sequence}: events ` +
        `${this.stored_sequence + 1}..${this.first_event_sequence - 1} are in neither`);
    }
    if (engine.engine_time_ms < stored_engine_time_ms) engine.advance_time(stored_engine_time_ms);
    assert(engine.last_sequence === Math.max(this.stored_sequence, this.last_event_sequence),
      "the loaded engine is at the last event");
    return engine;
  }
}

/** The stored accounts and holds into a fresh engine, at sequence S. */
function restore_rows(engine: GroupEngine, stored: GroupStoredState): void {
  const a = engine.accounts;
  for (const row of stored.accounts) {
    assert(!a.is_full(), `group ${stored.group}: more accounts stored than ACCOUNTS_PER_GROUP`);
    const slot = a.open(hi(row.account_id), lo(row.account_id), row.partner, row.currency,
      row.kind as AccountKind, row.overdraft_limit_minor);
    a.set_balance_minor(slot, row.balance_minor);
    a.set_held_minor(slot, row.held_minor);
    a.set_state(slot, row.state as AccountState);
    a.set_sequence(slot, row.last_sequence);
  }
  for (const hold of stored.holds) {
    assert(!engine.holds.is_full(),
      `group ${stored.group}: more holds stored than HOLDS_PER_GROUP`);
    const slot = a.find(hold.partner, hi(hold.account_id), lo(hold.account_id));
    assert(slot !== -1, `group ${stored.group}: hold ${hold.hold_id} of an unknown account`);
    engine.holds.restore(hold.partner, hi(hold.hold_id), lo(hold.hold_id), slot,
      hold.amount_minor, hold.expires_at_ms, hold.state, hold.closed_at_ms);
    if (hold.state === HoldState.open) a.add_open_hold_count(slot, 1);
  }
  for (let slot = 0; slot < a.count; slot++) a.verify(slot);
  engine.last_sequence = stored.sequence;
}

function hi(id: bigint): number {
  return Number(id / U32);
}

function lo(id: bigint): number {
  return Number(id % U32);
}
