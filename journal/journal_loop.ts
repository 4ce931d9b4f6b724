// The journal worker's loop: takes the entries the engine workers handed over (one ring per engine
// worker), sorts them into per-group staging buffers, appends each group's buffer with one write,
// makes every group written durable (group commit: one commit covers everything that arrived
// meanwhile), and reports the durable sequence per group to the main thread. It runs on its own
// thread so the fsync's kernel time overlaps the engines' work. Groups on one disk share one cache
// flush: each but one is written out, then the last is fdatasynced (sync_written).
//
// A full disk: append throws DiskFullError; the staged bytes are kept, the disk-full flag makes
// the main thread refuse new orders, and the append is retried until it succeeds. A failed fsync
// is fatal (docs/design.md section 4): the caller kills the process, the page cache may have lost
// data.

import { assert } from "../common/assert.ts";
import { JOURNAL_APPEND_BYTES_MAX } from "../common/constants.ts";
import { JOURNAL_SLOT_HEADER_BYTES } from "../common/slots.ts";
import type { WorkerControl } from "../common/worker_control.ts";
import type { Ring } from "../common/ring.ts";
import {
  ENTRY_GROUP_OFFSET, ENTRY_RECORD_COUNT_OFFSET, entry_header_empty, entry_size_bytes,
  read_entry_header,
} from "../schema/journal_entry_layout.ts";
import { DiskFullError } from "./file_layer.ts";
import type { JournalWriter } from "./journal_writer.ts";
import { sync_journals } from "./sync_journals.ts";

export const DISK_FULL_RETRY_MS = 1_000;
// Zeroing the next segment at rollover (64 MiB, the default then) stalled every group's commits
// for ~200 ms (the max latency of every benchmark run right after start-up); the loop does it
// ahead while idle (at start-up, and in gaps of the load), a bounded piece per turn, written and
// sent to the disk (8 MiB pieces left dirty for one fdatasync at the end held commits for up to
// 116 ms). A commit that arrives meanwhile waits behind the piece: under a steady TCP load the
// zeroing writes as many bytes as the entries, and 1 MiB pieces took 3 ms each, 16% of the
// worker's time (strace). 128
// KiB pieces wait a tenth of that each: TCP committed 1.06-1.23x, p99 14-16 ms instead of 20-22
// (docs/performance.md, "The journal's segments"). Under sustained load without gaps it does not
// compete with commits, so a rollover there still zeroes its segment then.
export const PREPARE_BYTES_IDLE_CYCLE = 128 * 1024;
const IDLE_WAIT_MS = 100;
const YIELD_INTERVAL_MS = 10;

class Staging {
  readonly bytes = new Uint8Array(JOURNAL_APPEND_BYTES_MAX);
  size_bytes = 0;
}

export interface JournalLoopParts {
  rings: Ring[];
  writers: Map<number, JournalWriter>;
  control: WorkerControl;
  /** Called after each group commit with the groups whose durable sequence advanced. */
  on_durable: (durable: Map<number, number>, sync_ms: number) => void;
  /** Called every cycle: bounded background work (writing snapshots, deleting segments). */
  /** Returns true while it has more to do (the loop then does not park). */
  on_cycle: (durable_by_group: Map<number, number>) => boolean;
  /**
   * Called after each group's append with the bytes written (whole entries): a cluster primary
   * streams them to its standbys from here. Optional: a single node has none.
   */
  on_append?: (group: number, bytes: Uint8Array) => void;
  /**
   * The engine workers' inbound rings, by worker: woken at the end of each group commit when the
   * main thread left their wake to it (WorkerControl.defer_engine_wake). Without them the main
   * thread never defers (the syncing flag stays clear).
   */
  engine_inbound?: Ring[];
}

export class JournalLoop {
  private readonly parts: JournalLoopParts;
  private readonly staging = new Map<number, Staging>();
  private readonly header = entry_header_empty();
  private readonly durable_by_group = new Map<number, number>();
  private yielded_at_ms = 0;

  constructor(parts: JournalLoopParts) {
    this.parts = parts;
    for (const [group, writer] of parts.writers) {
      this.staging.set(group, new Staging());
      this.durable_by_group.set(group, writer.synced_sequence);
    }
  }

  /** A group whose journal this loop writes from now on (a cluster node's promotion). */
  add_group(group: number, writer: JournalWriter): void {
    assert(!this.staging.has(group), `group ${group} added once`);
    this.parts.writers.set(group, writer);
    this.staging.set(group, new Staging());
    this.durable_by_group.set(group, writer.synced_sequence);
  }

  /**
   * A group whose journal this loop stops writing (a cluster node handing it over): everything
   * handed over for it is appended and synced first (the caller checked the writer reached the
   * group's last sequence); the writer is closed and forgotten.
   */
  remove_group(group: number): void {
    const staging = this.staging.get(group);
    const writer = this.parts.writers.get(group);
    assert(staging !== undefined && writer !== undefined, `group ${group} is written here`);
    assert(staging.size_bytes === 0, "nothing of the group waits in staging");
    writer.sync();
    writer.close();
    this.parts.writers.delete(group);
    this.staging.delete(group);
    this.durable_by_group.delete(group);
  }

  durable_sequence(group: number): number {
    return this.durable_by_group.get(group) ?? 0;
  }

  /** Runs until stop is requested and every handed-over entry is durable. */
  async run(): Promise<void> {
    const control = this.parts.control;
    for (;;) {
      const doorbell = control.journal_doorbell();
      const moved = this.drain_rings();
      if (this.append_staged()) this.sync_written();
      const busy = this.parts.on_cycle(this.durable_by_group) ||
        (moved === 0 && this.prepare_segments(PREPARE_BYTES_IDLE_CYCLE));
      if (control.disk_full()) {
        await Bun.sleep(DISK_FULL_RETRY_MS);
        continue;
      }
      if (moved > 0 || busy) {
        // Under steady load the loop never parks; it still yields a turn now and then, because
        // snapshot messages arrive through the event loop.
        if (performance.now() - this.yielded_at_ms >= YIELD_INTERVAL_MS) {
          await new Promise((resolve) => setImmediate(resolve));
          this.yielded_at_ms = performance.now();
        }
        continue;
      }
      if (control.journal_stop_requested() && this.rings_empty()) return;
      await control.wait_journal_doorbell(doorbell, IDLE_WAIT_MS);
    }
  }

  /** Zeroes part of one group's next segment; true while some group still needs it. */
  private prepare_segments(budget_bytes: number): boolean {
    for (const writer of this.parts.writers.values()) {
      if (writer.next_segment_prepared) continue;
      try {
        return !writer.prepare_next_segment_step(budget_bytes) || this.segments_unprepared();
      } catch (error) {
        if (!(error instanceof DiskFullError)) throw error;
        return false; // the rollover will meet the full disk and raise the flag; try later
      }
    }
    return false;
  }

  private segments_unprepared(): boolean {
    for (const writer of this.parts.writers.values()) if (!writer.next_segment_prepared) return true;
    return false;
  }

  private rings_empty(): boolean {
    return this.parts.rings.every((ring) => ring.available() === 0);
  }

  /** Moves handed-over entries into staging; stops early when a group's staging is full. */
  private drain_rings(): number {
    let moved = 0;
    for (const ring of this.parts.rings) {
      while (ring.available() > 0) {
        const at = ring.slot_offset(ring.consumer_cursor());
        if (!this.stage_slot(ring, at)) return moved;
        ring.release(1);
        moved++;
      }
    }
    return moved;
  }

  /** Stages a whole slot, or nothing if some group's staging lacks room (append first). */
  private stage_slot(ring: Ring, at: number): boolean {
    const size_bytes = ring.view.getUint32(at, true);
    const start = at + JOURNAL_SLOT_HEADER_BYTES;
    if (!this.slot_fits(ring, start, size_bytes)) return false;
    let offset = start;
    while (offset < start + size_bytes) {
      const status = read_entry_header(ring.view, offset, start + size_bytes - offset, this.header);
      assert(status === "ok", `engine handed over a bad journal entry: ${status}`);
      const entry_bytes = entry_size_bytes(this.header.record_count);
      const staging = this.staging.get(this.header.group);
      assert(staging !== undefined, `journal entry for unknown group ${this.header.group}`);
      staging.bytes.set(ring.bytes.subarray(offset, offset + entry_bytes), staging.size_bytes);
      staging.size_bytes += entry_bytes;
      offset += entry_bytes;
    }
    return true;
  }

  private slot_fits(ring: Ring, start: number, size_bytes: number): boolean {
    const needed = new Map<number, number>();
    let offset = start;
    while (offset < start + size_bytes) {
      const group = ring.view.getUint32(offset + ENTRY_GROUP_OFFSET, true);
      const records = ring.view.getUint32(offset + ENTRY_RECORD_COUNT_OFFSET, true);
      const entry_bytes = entry_size_bytes(records);
      needed.set(group, (needed.get(group) ?? 0) + entry_bytes);
      offset += entry_bytes;
    }
    for (const [group, bytes] of needed) {
      const staging = this.staging.get(group);
      if (staging !== undefined && staging.size_bytes + bytes > staging.bytes.byteLength) return false;
    }
    return true;
  }

  /** Appends each group's staged entries with one write. Returns whether anything was written. */
  private append_staged(): boolean {
    let attempted = false;
    let appended = false;
    let disk_full = false;
    for (const [group, staging] of this.staging) {
      if (staging.size_bytes === 0) continue;
      attempted = true;
      const writer = this.parts.writers.get(group)!;
      const bytes = staging.bytes.subarray(0, staging.size_bytes);
      try {
        writer.append(bytes);
      } catch (error) {
        if (!(error instanceof DiskFullError)) throw error;
        disk_full = true; // keep the staged bytes: the same append is retried later
        continue;
      }
      this.parts.on_append?.(group, bytes);
      staging.size_bytes = 0;
      appended = true;
    }
    // Only an attempted write says anything about the disk.
    if (attempted) this.parts.control.set_disk_full(disk_full);
    return appended;
  }

  /**
   * Makes every group written durable. What an engine applies meanwhile can only go into the next
   * commit, which starts after this one, so the main thread may leave a parked engine's wake to
   * its end (WorkerControl.defer_engine_wake): one wake per commit, not one per event-loop turn of
   * the main thread.
   *
   * Groups on one disk share one flush of its cache (sync_journals.ts): a commit of four groups
   * took 0.18-0.20 ms instead of 0.31-0.37 (docs/performance.md). A failure throws
   * FsyncFailedError: fatal, handled by the worker.
   */
  private sync_written(): void {
    const started_ms = performance.now();
    const engine_inbound = this.parts.engine_inbound;
    const control = this.parts.control;
    if (engine_inbound !== undefined) control.begin_group_commit();
    const advanced = sync_journals(this.parts.writers);
    for (const [group, durable] of advanced) this.durable_by_group.set(group, durable);
    if (engine_inbound !== undefined) {
      control.end_group_commit();
      for (let worker = 0; worker < engine_inbound.length; worker++) {
        if (!control.take_deferred_engine_wake(worker)) continue;
        engine_inbound[worker]!.wake_consumer_if_parked();
      }
    }
    if (advanced.size > 0) this.parts.on_durable(advanced, performance.now() - started_ms);
  }
}
