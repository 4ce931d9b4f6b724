// Pieces for the replication tests: an in-memory control plane (who holds which group), a primary
// node (a real GroupEngine fed by a seeded workload, its journal on an in-memory file layer, a
// Replicator hooked after each group-commit write), standby groups, and comparisons.

import { expect } from "bun:test";
import { assert } from "../../common/assert.ts";
import {
  JOURNAL_ENTRY_HEADER_BYTES, JOURNAL_SEGMENT_SIZE_BYTES_MIN,
} from "../../common/constants.ts";
import { Prng } from "../../common/prng.ts";
import { GroupEngine } from "../../engine/group_engine.ts";
import { capture_snapshot } from "../../engine/snapshot.ts";
import { replay_entry } from "../../engine/replay.ts";
import type { GroupLimits } from "../../engine/rules.ts";
import type { FileLayer } from "../../journal/file_layer.ts";
import { JournalWriter } from "../../journal/journal_writer.ts";
import { read_journal } from "../../journal/journal_reader.ts";
import { read_journal_range } from "../../journal/journal_range_reader.ts";
import { PowerLossFileLayer } from "../../journal/power_loss_file_layer.ts";
import { group_dir, list_segments } from "../../journal/segment_names.ts";
import { write_snapshot } from "../../journal/snapshot_file.ts";
import { entry_last_sequence } from "../../schema/journal_entry_layout.ts";
import type { GroupHolder, HolderDirectory } from "../../cluster/replication/holder.ts";
import { Replicator } from "../../cluster/replication/replicator.ts";
import type { StandbyAddress } from "../../cluster/replication/standby_sender.ts";
import { StandbyGroup } from "../../cluster/replication/standby_group.ts";
import { StandbyServer } from "../../cluster/replication/standby_server.ts";
import type { TlsWatch } from "../../auth/tls.ts";
import { EngineDriver, expect_same_state } from "../durability/group_state.ts";
import { orders_of, Workload, type Unit } from "../durability/workload.ts";
import { T0_MS } from "../engine/harness.ts";

export const GROUP = 5;
export const DIR = group_dir("/data", GROUP);
export const KEY = new TextEncoder().encode("replication-test-key-0123456789abcdef");
export const WRITER_OPTIONS = { segment_size_bytes: JOURNAL_SEGMENT_SIZE_BYTES_MIN };
export const LIMITS: GroupLimits = {
  accounts_max: 64,
  holds_max: 1 << 12,
  idempotency_entries_max: 1 << 16,
  idempotency_window_ms: 60_000,
};

/** The control plane, in memory, for tests only. */
export class MemoryHolders implements HolderDirectory {
  private readonly holders = new Map<number, GroupHolder>();
  unreachable = false;
  asked_count = 0;

  set(group: number, holder: GroupHolder): void {
    this.holders.set(group, { ...holder });
  }

  who_holds(group: number): Promise<GroupHolder | null> {
    this.asked_count++;
    if (this.unreachable) return Promise.reject(new Error("control plane unreachable"));
    const holder = this.holders.get(group);
    return Promise.resolve(holder === undefined ? null : { ...holder });
  }
}

export function make_engine(epoch = 0, group = GROUP): GroupEngine {
  return new GroupEngine(group, epoch, LIMITS);
}

export interface PrimaryOptions {
  node: number;
  epoch: number;
  standbys: StandbyAddress[];
  seed: number;
  key?: Uint8Array;
  send_buffer_bytes?: number;
  /** Entries (in order) this primary's journal and engine start with (a former standby's). */
  history?: Uint8Array[];
  /** Links in mutual TLS with this node's certificate. */
  tls?: TlsWatch | null;
  /** How long a sender waits before it links again (default 20 ms). */
  reconnect_delay_ms?: number;
  /** The group it leads (default GROUP). */
  group?: number;
}

/** A primary of a group (GROUP unless told): engine, journal (group commit of 1..3 entries per
 * write), replicator. */
export class PrimaryNode {
  readonly files = new PowerLossFileLayer();
  readonly group: number;
  readonly dir: string;
  readonly engine: GroupEngine;
  readonly driver: EngineDriver;
  readonly writer: JournalWriter;
  readonly replicator: Replicator;
  readonly workload: Workload;
  readonly prng: Prng;
  /** Every entry this node's journal holds, in order. */
  readonly entries: Uint8Array[] = [];
  now_ms = T0_MS;
  private opened = false;
  private snapshot_sequence = 0;

  constructor(options: PrimaryOptions) {
    this.prng = new Prng(options.seed);
    this.workload = new Workload(new Prng(options.seed));
    this.group = options.group ?? GROUP;
    this.dir = group_dir("/data", this.group);
    this.files.mkdir_p(this.dir);
    this.engine = make_engine(options.epoch, this.group);
    this.driver = new EngineDriver(this.engine);
    this.writer = JournalWriter.open(this.files, this.dir, read_journal(this.files, this.dir, 0,
      () => {}),
      WRITER_OPTIONS);
    for (const entry of options.history ?? []) this.adopt(entry);
    this.engine.epoch = options.epoch;
    this.now_ms = Math.max(this.now_ms, this.engine.engine_time_ms);
    this.replicator = new Replicator({ files: this.files, dir: this.dir, group: this.group,
      node: options.node, epoch: options.epoch, last_sequence: this.writer.last_sequence,
      standbys: options.standbys, key: options.key ?? KEY, reconnect_delay_ms: options.reconnect_delay_ms ?? 20,
      send_buffer_bytes: options.send_buffer_bytes, tls: options.tls ?? null });
  }

  get last_sequence(): number {
    return this.writer.last_sequence;
  }

  /** Snapshots the engine at its last sequence and deletes the segments behind the previous
   * snapshot, as the journal worker of a primary without a publisher does. */
  write_snapshot(): number {
    const sequence = this.engine.last_sequence;
    write_snapshot(this.files, this.dir, sequence, capture_snapshot(this.engine));
    if (this.snapshot_sequence > 0) this.writer.delete_through(this.snapshot_sequence);
    this.snapshot_sequence = sequence;
    return sequence;
  }

  /** The first sequence the journal still holds. */
  get first_held_sequence(): number {
    return list_segments(this.files, this.dir)[0]!.first_sequence;
  }

  /** Runs `count` group commits: each applies 1..3 batches, appends their entries in one write,
   * hands them to the replicator, syncs, and reports the durable sequence. */
  run(count: number, bulk = false): void {
    for (let k = 0; k < count; k++) {
      const written: Uint8Array[] = [];
      const batches = 1 + this.prng.int_below(3);
      for (let b = 0; b < batches; b++) {
        this.now_ms += 1 + this.prng.int_below(300);
        const entry = this.driver.apply(orders_of(this.next_units(bulk)), this.now_ms);
        if (entry !== null) written.push(entry);
      }
      this.commit(written);
    }
  }

  private commit(written: Uint8Array[]): void {
    if (written.length === 0) return;
    const bytes = new Uint8Array(written.reduce((sum, entry) => sum + entry.length, 0));
    let at = 0;
    for (const entry of written) {
      bytes.set(entry, at);
      at += entry.length;
    }
    this.writer.append(bytes); // stamps the synced marks in place, as the journal worker's write
    this.replicator.entries_written(bytes);
    this.replicator.entries_durable(this.writer.sync());
    split_entries(bytes, (entry) => this.entries.push(entry));
  }

  private next_units(bulk: boolean): Unit[] {
    if (!this.opened) {
      this.opened = true;
      return this.workload.opening_units(this.now_ms);
    }
    const units: Unit[] = [];
    const count = bulk ? 120 : 1 + this.prng.int_below(20);
    for (let k = 0; k < count; k++) {
      const unit = bulk ? this.workload.bulk_unit(this.now_ms)
        : this.workload.random_unit(this.now_ms);
      if (units.reduce((n, u) => n + u.orders.length, 0) + unit.orders.length > 128) break;
      units.push(unit);
      this.workload.note_sent(unit);
    }
    return units;
  }

  // A former standby's history: journaled and applied by outcome, as the standby did.
  private adopt(entry: Uint8Array): void {
    const copy = entry.slice();
    this.writer.append(copy);
    const view = new DataView(copy.buffer);
    replay_entry(this.engine, read_header_fields(view), view, JOURNAL_ENTRY_HEADER_BYTES);
    this.writer.sync();
    this.entries.push(copy);
    this.opened = true;
  }
}

function read_header_fields(view: DataView) {
  return {
    first_sequence: view.getFloat64(24, true),
    record_count: view.getUint32(12, true),
    engine_time_ms: view.getFloat64(32, true),
    epoch: view.getUint32(20, true),
  };
}

function split_entries(bytes: Uint8Array, each: (entry: Uint8Array) => void): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = 0; at < bytes.length;) {
    const size = JOURNAL_ENTRY_HEADER_BYTES + view.getUint32(at + 8, true);
    each(bytes.slice(at, at + size));
    at += size;
  }
}

export function open_standby(files: FileLayer = new PowerLossFileLayer(), group = GROUP)
  : StandbyGroup {
  return StandbyGroup.open({ files, dir: group_dir("/data", group),
    make_engine: () => make_engine(0, group), writer_options: WRITER_OPTIONS });
}

/** A journal's entries as comparable lines: every header field but the synced mark (each
 * writer stamps its own), and the body's CRC. */
export function journal_lines(files: FileLayer, through_sequence: number, after_sequence = 0,
  dir = DIR): string[] {
  const lines: string[] = [];
  read_journal_range(files, dir, after_sequence, through_sequence, (_view, _offset, h) => {
    lines.push(`${h.group} ${h.epoch} ${h.first_sequence}..${entry_last_sequence(h)} ` +
      `${h.engine_time_ms} ${h.body_crc32}`);
  });
  return lines;
}

/** The standby holds what the primary holds: engine state and journal. */
export function expect_replica(standby: StandbyGroup, files: FileLayer, primary: PrimaryNode,
  what: string): void {
  expect(standby.durable_sequence).toBe(primary.last_sequence);
  expect_same_state(standby.engine, primary.engine, what);
  expect(journal_lines(files, standby.durable_sequence, 0, primary.dir))
    .toEqual(journal_lines(primary.files, primary.last_sequence, 0, primary.dir));
}

/** expect_replica for a standby that installed a snapshot: the same engine state, and the
 * journal the same from its snapshot on (it holds nothing before). */
export function expect_snapshot_replica(standby: StandbyGroup, files: FileLayer,
  primary: PrimaryNode, what: string): void {
  expect(standby.durable_sequence).toBe(primary.last_sequence);
  expect_same_state(standby.engine, primary.engine, what);
  const from = standby.snapshot_sequence;
  expect(from).toBeGreaterThan(0);
  expect(list_segments(files, DIR)[0]?.first_sequence ?? from + 1).toBe(from + 1);
  expect(journal_lines(files, standby.durable_sequence, from))
    .toEqual(journal_lines(primary.files, primary.last_sequence, from));
}

/** Waits (yielding to the event loop) until `condition` holds; the bound only stops a hang. */
export async function wait_until(condition: () => boolean, what: string,
  bound_ms = 60_000): Promise<void> {
  const started_ms = performance.now();
  while (!condition()) {
    assert(performance.now() - started_ms < bound_ms, `waited ${bound_ms} ms for ${what}`);
    await Bun.sleep(2);
  }
}

export const PRIMARY_NODE = 1;
export const STANDBY_NODE = 2;
export const OTHER_NODE = 3;

const cleanups: (() => void)[] = [];

/** What the test's standby servers reported fatal (on_fatal): a test that causes one takes it. */
export const fatal_errors: unknown[] = [];

/** Stops what the test started (servers, senders), and fails on a fatal error left: for afterEach. */
export function run_cleanups(): void {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
  expect(fatal_errors.splice(0)).toEqual([]);
}

export function serve(node: number, standby: StandbyGroup | Map<number, StandbyGroup>,
  holders: MemoryHolders, port = 0, key = KEY,
  limits: { links_max?: number; handshake_timeout_ms?: number; tls?: TlsWatch | null } = {},
): StandbyServer {
  const groups = standby instanceof Map ? standby : new Map([[GROUP, standby]]);
  const server = new StandbyServer({ node, key, disk_id: `disk-of-${node}`, host: "127.0.0.1", port,
    groups, holders, on_fatal: (error) => fatal_errors.push(error), ...limits });
  cleanups.push(() => server.stop());
  return server;
}

export function primary(options: PrimaryOptions): PrimaryNode {
  const node = new PrimaryNode(options);
  cleanups.push(() => node.replicator.stop());
  return node;
}

export function holders_of(node: number, epoch: number, first_sequence = 1, groups = [GROUP])
  : MemoryHolders {
  const holders = new MemoryHolders();
  for (const group of groups) holders.set(group, { node, epoch, first_sequence });
  return holders;
}

/** Waits until every standby acked the primary's journal end. */
export async function acked(node: PrimaryNode): Promise<void> {
  await wait_until(() => node.replicator.acked_sequence_min() === node.last_sequence,
    `acks through ${node.last_sequence}`);
}

/** A free port, for a standby that listens only later. */
export function free_port(): number {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

/**
 * Two standbys that start behind a primary of `seed`: "prefix" follows it through its first
 * commits and is acked, then dies (prefix_dies) while the primary goes on; "empty" has an empty
 * disk and listens only when restart() serves both again.
 */
export class StandbysBehind {
  readonly holders = holders_of(PRIMARY_NODE, 1);
  readonly prefix_files = new PowerLossFileLayer();
  readonly empty_files = new PowerLossFileLayer();
  readonly node: PrimaryNode;
  private readonly prefix = open_standby(this.prefix_files);
  private readonly prefix_server = serve(STANDBY_NODE, this.prefix, this.holders);
  private readonly empty_port = free_port();
  prefix_sequence = 0;

  private constructor(seed: number) {
    this.node = primary({ node: PRIMARY_NODE, epoch: 1, seed, send_buffer_bytes: 1_100_000,
      standbys: [{ node: STANDBY_NODE, host: "127.0.0.1", port: this.prefix_server.port },
        { node: OTHER_NODE, host: "127.0.0.1", port: this.empty_port }] });
  }

  /** The primary has run 10 commits, all acked by the prefix standby (still alive). */
  static async start(seed: number): Promise<StandbysBehind> {
    const behind = new StandbysBehind(seed);
    behind.node.replicator.start();
    behind.node.run(10);
    const prefix_sender = behind.node.replicator.senders[0]!;
    await wait_until(() => prefix_sender.acked_sequence === behind.node.last_sequence,
      "the prefix");
    return behind;
  }

  /** The prefix standby dies, at the sequence it holds (prefix_sequence). */
  prefix_dies(): void {
    this.prefix_sequence = this.prefix.durable_sequence;
    this.prefix_server.stop();
    this.prefix.close();
  }

  /** The prefix standby restarted from its disk, and the empty one, both served again. */
  restart(): { restarted: StandbyGroup; empty: StandbyGroup } {
    const restarted = open_standby(this.prefix_files);
    expect(restarted.last_sequence).toBe(this.prefix_sequence);
    serve(STANDBY_NODE, restarted, this.holders, this.prefix_server.port);
    const empty = open_standby(this.empty_files);
    serve(OTHER_NODE, empty, this.holders, this.empty_port);
    return { restarted, empty };
  }
}
