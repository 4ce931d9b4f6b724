// Flags shared between the main thread and the workers, in one small SharedArrayBuffer: requests
// that the workers poll between cycles (stop, snapshot), the journal doorbell that engine workers
// ring after handing over entries, the journal worker's disk-full flag that the main thread
// reads before accepting orders, and the engine wakes the journal worker makes for the main thread
// at the end of a group commit (defer_engine_wake).

import { ENGINE_WORKERS_MAX, GROUPS_MAX } from "./constants.ts";

const LINE_INT32S = 32; // each flag on its own 128-byte line
const STOP = 0;
const JOURNAL_DOORBELL = LINE_INT32S;
const DISK_FULL = LINE_INT32S * 2;
const STOP_JOURNAL = LINE_INT32S * 3;
/** Set while the journal worker waits for the doorbell: only then does a ring cost a notify. */
const JOURNAL_PARKED = LINE_INT32S * 4;
const SNAPSHOT_BY_WORKER = LINE_INT32S * 5; // one flag per engine worker: all its groups
// One group's snapshot (a state capture, router/state_capture.ts): the group's flag, and its
// worker's "look at your groups' flags" flag, so a worker reads one flag per cycle, not one per group.
const GROUP_SNAPSHOT_BY_WORKER = SNAPSHOT_BY_WORKER + ENGINE_WORKERS_MAX;
const SNAPSHOT_BY_GROUP = GROUP_SNAPSHOT_BY_WORKER + ENGINE_WORKERS_MAX;
/** Set while the journal worker fdatasyncs a group commit (JournalLoop.sync_written). */
const GROUP_COMMIT = SNAPSHOT_BY_GROUP + GROUPS_MAX;
/** Per engine worker: the main thread left its wake to the end of the group commit. */
const ENGINE_WAKE_DEFERRED = GROUP_COMMIT + LINE_INT32S;
const INT32_COUNT = ENGINE_WAKE_DEFERRED + ENGINE_WORKERS_MAX;

export class WorkerControl {
  readonly buffer: SharedArrayBuffer;
  private readonly flags: Int32Array;

  constructor(buffer?: SharedArrayBuffer) {
    this.buffer = buffer ?? new SharedArrayBuffer(INT32_COUNT * 4);
    this.flags = new Int32Array(this.buffer);
  }

  request_stop(): void {
    Atomics.store(this.flags, STOP, 1);
  }

  stop_requested(): boolean {
    return Atomics.load(this.flags, STOP) !== 0;
  }

  /** The journal worker stops after the engines: their last entries must be written first. */
  request_journal_stop(): void {
    Atomics.store(this.flags, STOP_JOURNAL, 1);
    Atomics.add(this.flags, JOURNAL_DOORBELL, 1);
    Atomics.notify(this.flags, JOURNAL_DOORBELL);
  }

  journal_stop_requested(): boolean {
    return Atomics.load(this.flags, STOP_JOURNAL) !== 0;
  }

  request_snapshot(worker: number): void {
    Atomics.store(this.flags, SNAPSHOT_BY_WORKER + worker, 1);
  }

  snapshot_requested(worker: number): boolean {
    return Atomics.load(this.flags, SNAPSHOT_BY_WORKER + worker) !== 0;
  }

  clear_snapshot_request(worker: number): void {
    Atomics.store(this.flags, SNAPSHOT_BY_WORKER + worker, 0);
  }

  /** Asks `worker` for a snapshot of one of its groups only. */
  request_group_snapshot(worker: number, group: number): void {
    Atomics.store(this.flags, SNAPSHOT_BY_GROUP + group, 1);
    Atomics.store(this.flags, GROUP_SNAPSHOT_BY_WORKER + worker, 1);
  }

  /** Whether some group of `worker` was asked for; clears the worker's flag. */
  take_group_snapshot_requests(worker: number): boolean {
    return Atomics.exchange(this.flags, GROUP_SNAPSHOT_BY_WORKER + worker, 0) !== 0;
  }

  /** Whether `group` was asked for; clears its flag. */
  take_group_snapshot_request(group: number): boolean {
    return Atomics.exchange(this.flags, SNAPSHOT_BY_GROUP + group, 0) !== 0;
  }

  /**
   * Tells the journal worker there are entries. A notify (a syscall and a wake on the other side:
   * a sixth of an engine worker's busy time when it was made every cycle) only when the journal
   * worker is parked: busy, it looks at its rings again before it parks. The bump comes before the
   * parked check, and the journal worker sets the flag before its wait compares the doorbell, so
   * one of the two sees the other.
   */
  ring_journal_doorbell(): void {
    Atomics.add(this.flags, JOURNAL_DOORBELL, 1);
    if (Atomics.load(this.flags, JOURNAL_PARKED) !== 0) Atomics.notify(this.flags, JOURNAL_DOORBELL);
  }

  journal_doorbell(): number {
    return Atomics.load(this.flags, JOURNAL_DOORBELL);
  }

  /** Resolves when the doorbell rings after `seen`, or after timeout_ms. */
  async wait_journal_doorbell(seen: number, timeout_ms: number): Promise<void> {
    Atomics.store(this.flags, JOURNAL_PARKED, 1);
    const waiting = Atomics.waitAsync(this.flags, JOURNAL_DOORBELL, seen, timeout_ms);
    if (waiting.async) await waiting.value;
    Atomics.store(this.flags, JOURNAL_PARKED, 0);
  }

  set_disk_full(full: boolean): void {
    Atomics.store(this.flags, DISK_FULL, full ? 1 : 0);
  }

  disk_full(): boolean {
    return Atomics.load(this.flags, DISK_FULL) !== 0;
  }

  // --- engine wakes at the group commit's end ---------------------------------------------------
  // A parked engine woken for every event-loop turn that brought orders costs the main thread a
  // futex wake per turn (12% of its time under HTTP JSON load) and the engine a park and unpark.
  // What an engine applies while the journal worker fdatasyncs a group commit cannot be durable
  // before the next commit, which starts after that fdatasync: applied at its end, it still makes
  // it. So during the fdatasync the main thread leaves the wake to the journal worker, which
  // wakes once per commit for every turn that came meanwhile.

  /** The journal worker starts a group commit's fdatasync. */
  begin_group_commit(): void {
    Atomics.store(this.flags, GROUP_COMMIT, 1);
  }

  /** The commit's fdatasync ended: cleared before the journal worker takes the deferred wakes. */
  end_group_commit(): void {
    Atomics.store(this.flags, GROUP_COMMIT, 0);
  }

  /** Whether `worker`'s wake was left to the end of this group commit (and takes it). */
  take_deferred_engine_wake(worker: number): boolean {
    return Atomics.exchange(this.flags, ENGINE_WAKE_DEFERRED + worker, 0) !== 0;
  }

  /**
   * The main thread's side: true when the end of the group commit under way will wake `worker`;
   * false when none is under way, and the caller wakes it now. The flag is set before the
   * commit flag is read again, and the journal worker clears the commit flag before it reads
   * this one (all sequentially consistent), so at least one of the two sees the other: a wake
   * can come twice, never not at all.
   */
  defer_engine_wake(worker: number): boolean {
    if (Atomics.load(this.flags, GROUP_COMMIT) === 0) return false;
    Atomics.store(this.flags, ENGINE_WAKE_DEFERRED + worker, 1);
    return Atomics.load(this.flags, GROUP_COMMIT) !== 0;
  }
}
