// The event stream's fence (docs/cluster.md, "Fencing of the event stream"). After a takeover the
// new primary's publisher may publish again sequences the old primary published: committed events
// are the same events (same epoch, same content) and are skipped. Anything else at a sequence the
// projection holds is two writers for one (group, sequence), which the epochs should have made
// impossible: the projector refuses it and applies nothing of it. So does an event whose epoch is
// older than one the group has already applied (epochs never go backwards along a group).
//
// The projection keeps every applied event in full in `orders` (one row per (group, sequence)),
// so "the same event" is checked field by field against that row, never guessed from a digest.
// The only event byte not kept is `flags` (not projected): two events differing in flags alone
// are not told apart.

import { assert_never } from "../common/assert.ts";
import type { ProjectedEvent } from "./event.ts";

/**
 * "different_event": one (group, sequence) seen with two different events (another epoch, or the
 * same epoch with other content). "older_epoch": an event past the group's applied sequence of an
 * epoch older than one already applied there.
 */
export type FenceRefusal = "different_event" | "older_epoch";

/** Input from Kafka the projector must not apply; it stops loudly (docs/projector.md). */
export class EventFenceError extends Error {
  override name = "EventFenceError";
  readonly refusal: FenceRefusal;
  readonly group: number;
  readonly sequence: number;
  /** The epoch the projection holds: of the stored event, or the newest applied. */
  readonly held_epoch: number;
  /** The epoch of the event refused. */
  readonly event_epoch: number;

  constructor(refusal: FenceRefusal, group: number, sequence: number, held_epoch: number,
    event_epoch: number) {
    super(`event fence breach (${refusal}): group ${group} sequence ${sequence}: held epoch ` +
      `${held_epoch}, event epoch ${event_epoch}; ${refusal_meaning(refusal)}`);
    this.refusal = refusal;
    this.group = group;
    this.sequence = sequence;
    this.held_epoch = held_epoch;
    this.event_epoch = event_epoch;
  }
}

function refusal_meaning(refusal: FenceRefusal): string {
  switch (refusal) {
    case "different_event":
      return "another event was applied at this sequence; the second is not applied";
    case "older_epoch":
      return "a newer epoch already wrote this group; the older epoch's event is not applied";
    default:
      return assert_never(refusal, "fence refusal");
  }
}

/** Whether two events at one (group, sequence) are the same event: every projected field. */
export function same_event(held: ProjectedEvent, event: ProjectedEvent): boolean {
  return held.sequence === event.sequence &&
    held.epoch === event.epoch &&
    held.engine_time_ms === event.engine_time_ms &&
    held.order_id === event.order_id &&
    held.partner === event.partner &&
    held.account === event.account &&
    held.op === event.op &&
    held.status === event.status &&
    held.amount_minor === event.amount_minor &&
    held.ref === event.ref &&
    held.currency === event.currency &&
    held.balance_after_minor === event.balance_after_minor &&
    held.held_after_minor === event.held_after_minor &&
    held.counter_balance_after_minor === event.counter_balance_after_minor;
}

/** Throws `different_event` unless `event` is the event the projection holds at its sequence. */
export function check_same_event(group: number, held: ProjectedEvent,
  event: ProjectedEvent): void {
  if (same_event(held, event)) return;
  throw new EventFenceError("different_event", group, event.sequence, held.epoch, event.epoch);
}

/** The events of a batch split against the group's applied sequence (see split_batch). */
export interface SplitBatch {
  /** Events at or below the applied sequence: each must equal its stored row. */
  repeated: ProjectedEvent[];
  /** The new events, consecutive from the applied sequence + 1, epochs never going back. */
  fresh: ProjectedEvent[];
}

/**
 * Splits `events` (records in Kafka order; records may repeat or overlap one another) into the
 * events already applied and the new ones. An event repeating a new one of the same batch must
 * be that event; a new event must not be of an older epoch than the one before it. At a gap (an
 * event past the next sequence) it answers that sequence, which the caller reports.
 */
export function split_batch(group: number, applied_sequence: number, applied_epoch: number,
  events: readonly ProjectedEvent[]): SplitBatch | { gap_at: number } {
  const repeated: ProjectedEvent[] = [];
  const fresh: ProjectedEvent[] = [];
  let epoch_newest = applied_epoch;
  for (const event of events) {
    if (event.sequence <= applied_sequence) {
      repeated.push(event);
      continue;
    }
    const index = event.sequence - applied_sequence - 1;
    if (index < fresh.length) {
      check_same_event(group, fresh[index]!, event);
      continue;
    }
    if (index > fresh.length) return { gap_at: event.sequence };
    if (event.epoch < epoch_newest) {
      throw new EventFenceError("older_epoch", group, event.sequence, epoch_newest, event.epoch);
    }
    epoch_newest = event.epoch;
    fresh.push(event);
  }
  return { repeated, fresh };
}
