// One node of the service on the main thread: starts the engine workers (each recovers its groups),
// then the journal worker, drains results, tracks durability, schedules snapshots, and shuts down in
// order on SIGTERM: stop accepting, finish what is in the rings, fsync, snapshot, stop.

import { assert, assert_never } from "../common/assert.ts";
import {
  JOURNAL_APPEND_BYTES_MAX, RING_REQUEST_SLOT_BYTES, RING_RESULT_SLOT_BYTES,
} from "../common/constants.ts";
import type { GroupRecovery } from "./recovery.ts";
import { group_dir } from "../journal/segment_names.ts";
import { MessageChannel, type MessagePort } from "node:worker_threads";
import type { ClusterConfig } from "../cluster/membership/cluster_config.ts";
import { transfer_list } from "../engine/engine_move.ts";
import { ClusterController } from "./cluster_controller.ts";
import { cluster_metrics_text } from "./cluster_metrics.ts";
import { ClusterPublisher } from "./cluster_publisher.ts";
import type { ClusterJournalRequest } from "../cluster/node_journal/messages.ts";
import type {
  EngineWorkerInit, EngineWorkerMessage, GroupAdoption, GroupRelease,
} from "./engine_worker.ts";
import { WorkerControl } from "../common/worker_control.ts";
import type { JournalWorkerMessage, JournalWorkerRequest } from "../journal/worker.ts";
import { NodeFileLayer } from "../journal/file_layer.ts";
import {
  CheckpointError, check_checkpoint_within_journal, start_checkpoint,
} from "../journal/publisher_checkpoint.ts";
import { JournalCorruptError } from "../journal/journal_reader.ts";
import { PublisherMonitor } from "../publisher/progress.ts";
import type { PublisherWorkerMessage, PublisherWorkerRequest } from "../publisher/worker.ts";
import type { Config } from "../config/config.ts";
import { group_limits_of, load_missing_groups } from "./storage_load.ts";
import type { Metrics } from "./metrics.ts";
import { Partitioning } from "../router/partition.ts";
import type { Refusal } from "../schema/refusal.ts";
import { DurableBoard } from "../common/durable_board.ts";
import { Ring, type RingShape } from "../common/ring.ts";
import { LEADS_EVERY_GROUP } from "../router/leadership.ts";
import { Router } from "../router/router.ts";
import { StateCaptures } from "../router/state_capture.ts";

const JOURNAL_RING_SLOTS = 16;
const JOURNAL_RING_SLOT_BYTES = JOURNAL_APPEND_BYTES_MAX;
const TIMEOUT_SWEEP_MS = 100;
const RESULTS_EMPTY_TURNS_BEFORE_PARKING = 2;

/** Resolves on the next turn of the event loop, after pending I/O callbacks. */
function next_turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

interface EngineWorkerHandle {
  worker: Worker;
  inbound: Ring;
  results: Ring;
  journal: Ring;
  stopped: Promise<void>;
  /** A cluster node's port for handing the worker groups to lead (null on a single node). */
  adoptions: MessagePort | null;
}

/**
 * Whether start-up failed because the data directory is damaged or contradicts itself (synced
 * journal entries damaged, a publisher checkpoint past the journal's end): restarting cannot help.
 */
export function is_state_refusal(error: unknown): error is Error {
  return error instanceof CheckpointError || error instanceof JournalCorruptError;
}

export class ServiceNode {
  readonly router: Router;
  readonly partitioning: Partitioning;
  readonly control = new WorkerControl();
  readonly recoveries: GroupRecovery[] = [];
  /** A group's state at a sequence for GET /admin/groups/:group/state (router/state_capture.ts). */
  readonly captures: StateCaptures;
  ready = false;
  accepting = true;
  private engines: EngineWorkerHandle[] = [];
  private journal_worker!: Worker;
  private journal_stopped!: Promise<void>;
  private readonly snapshot_waiters = new Map<number, () => void>();
  private timers: ReturnType<typeof setInterval>[] = [];
  /** The publisher worker, only when KAFKA_BROKERS is set. */
  private publisher_worker: Worker | null = null;
  /** Per group, the publisher's checkpoint at start (read before the journal worker starts). */
  private publisher_checkpoints: [number, number][] | null = null;
  /** Durable sequences not yet posted to the publisher (coalesced into one message per turn). */
  private readonly durable_unposted = new Map<number, number>();
  /** A cluster node's controller (node/cluster_controller.ts); null on a single node. */
  cluster_controller: ClusterController | null = null;
  private readonly release_waiters = new Map<number, (last_sequence: number) => void>();
  /** The journal worker's durable sequences (a single node's), read by take_durable_progress. */
  private readonly durable_board: DurableBoard;
  private board_generation_seen = 0;
  private readonly board_sequences: Float64Array;

  private constructor(readonly config: Config, readonly metrics: Metrics,
    readonly cluster: ClusterConfig | null) {
    this.partitioning = new Partitioning(config.groups, config.engine_workers, config.group_map);
    metrics.data_dir = config.data_dir;
    metrics.disk_full = () => this.control.disk_full();
    const inbound_shape = { slot_count: config.ring_slots, slot_bytes: RING_REQUEST_SLOT_BYTES };
    const results_shape = { slot_count: config.ring_slots, slot_bytes: RING_RESULT_SLOT_BYTES };
    const journal_shape = { slot_count: JOURNAL_RING_SLOTS, slot_bytes: JOURNAL_RING_SLOT_BYTES };
    for (let w = 0; w < config.engine_workers; w++) {
      this.engines.push({
        worker: null as unknown as Worker,
        inbound: Ring.create(inbound_shape),
        results: Ring.create(results_shape),
        journal: Ring.create(journal_shape),
        stopped: Promise.resolve(),
        adoptions: null,
      });
    }
    // A cluster node leads a group once its engine adopted it (node/cluster_controller.ts).
    const leadership = cluster === null ? LEADS_EVERY_GROUP
      : { leads: (group: number) => this.cluster_controller?.leads[group] === 1 };
    this.router = new Router(this.partitioning, leadership,
      this.engines.map((e) => e.inbound), config.request_timeout_ms, metrics);
    this.router.engine_wake_gate = this.control;
    this.durable_board = DurableBoard.create(config.groups);
    this.board_sequences = new Float64Array(config.groups);
    if (cluster === null) this.router.before_admission = () => this.take_durable_progress();
    this.captures = new StateCaptures(this.router.durable_sequence,
      (group) => this.control.request_group_snapshot(
        this.partitioning.worker_of_group(group), group));
    this.shapes = { inbound_shape, results_shape, journal_shape };
  }

  private readonly shapes: { inbound_shape: RingShape; results_shape: RingShape;
    journal_shape: RingShape };

  static async start(config: Config, metrics: Metrics,
    cluster: ClusterConfig | null = null): Promise<ServiceNode> {
    const node = new ServiceNode(config, metrics, cluster);
    if (cluster !== null) return node.start_cluster(cluster);
    const started_ms = performance.now();
    const all_groups = Array.from({ length: config.groups }, (_, group) => group);
    // Groups with no local state come from PostgreSQL and Kafka first (storage_load/).
    await load_missing_groups(config, all_groups);
    await Promise.all(node.engines.map((_, w) => node.start_engine_worker(w)));
    if (config.kafka_brokers !== null) node.read_publisher_checkpoints();
    await node.start_journal_worker();
    if (config.kafka_brokers !== null) node.start_publisher_worker(config.kafka_brokers);
    for (const recovery of node.recoveries) {
      node.router.on_durable(recovery.group, recovery.last_sequence);
      node.post_durable(recovery.group, recovery.last_sequence);
    }
    node.engines.forEach((handle) => node.drain_results(handle));
    metrics.recovery_seconds = (performance.now() - started_ms) / 1000;
    node.timers.push(setInterval(() => node.router.expire_overdue(performance.now()), TIMEOUT_SWEEP_MS));
    node.timers.push(setInterval(() => node.request_snapshots(), config.snapshot_interval_ms));
    node.ready = true;
    return node;
  }

  /**
   * A cluster node: its engine workers start empty; the controller (node/cluster_controller.ts)
   * runs the membership loop and the cluster journal worker, and hands each group this node comes
   * to lead to its engine worker. With KAFKA_BROKERS, the publisher worker starts with no group
   * and publishes each group led here from what Kafka holds (node/cluster_publisher.ts).
   */
  private async start_cluster(cluster: ClusterConfig): Promise<ServiceNode> {
    const started_ms = performance.now();
    await Promise.all(this.engines.map((_, w) => this.start_engine_worker(w)));
    const publisher = this.start_cluster_publisher();
    this.cluster_controller = await ClusterController.start(cluster, {
      config: this.config,
      limits: group_limits_of(this.config),
      rings: this.engines.map((e) => e.journal.buffer),
      ring_shape: this.shapes.journal_shape,
      engine_inbound: this.engines.map((e) => e.inbound.buffer),
      engine_inbound_shape: this.shapes.inbound_shape,
      control: this.control.buffer,
      adopt: (adoption) => this.adopt(adoption),
      release: (group) => this.release(group),
      in_flight_of: (group) => this.router.in_flight_of(group),
      on_durable: (groups, sync_ms) => this.on_durable(groups, sync_ms),
      on_snapshot_written: (group, duration_ms) => this.on_snapshot_written(group, duration_ms),
      on_led: (group) => publisher?.on_led(group),
    });
    this.journal_worker = this.cluster_controller.journal_worker;
    const controller = this.cluster_controller;
    this.router.read_gate = controller.reads;
    this.metrics.cluster_text = () => cluster_metrics_text(controller);
    this.journal_stopped = this.cluster_controller.journal_stopped_promise();
    this.engines.forEach((handle) => this.drain_results(handle));
    this.metrics.recovery_seconds = (performance.now() - started_ms) / 1000;
    this.timers.push(setInterval(() => this.router.expire_overdue(performance.now()), TIMEOUT_SWEEP_MS));
    this.timers.push(setInterval(() => this.request_snapshots(), this.config.snapshot_interval_ms));
    this.ready = true;
    return this;
  }

  /** The publisher of a cluster node (null without KAFKA_BROKERS): groups join as they are led. */
  private start_cluster_publisher(): ClusterPublisher | null {
    const kafka_brokers = this.config.kafka_brokers;
    if (kafka_brokers === null) return null;
    this.publisher_checkpoints = [];
    this.start_publisher_worker(kafka_brokers);
    return new ClusterPublisher({
      files: new NodeFileLayer(), kafka_brokers, topic: this.config.events_topic,
      data_dir: this.config.data_dir,
      durable_of: (group) => this.router.durable_sequence[group]!,
      led: (led) => {
        const request: PublisherWorkerRequest = { type: "led", led };
        this.publisher_worker!.postMessage(request);
      },
    });
  }

  private adopt(adoption: GroupAdoption): void {
    const handle = this.engines[this.partitioning.worker_of_group(adoption.group)]!;
    handle.adoptions!.postMessage(adoption, transfer_list(adoption.state)); // moved, not copied
    handle.inbound.wake_consumer(); // the engine loop reads its port once per cycle
  }

  private release(group: number): Promise<number> {
    const handle = this.engines[this.partitioning.worker_of_group(group)]!;
    return new Promise((resolve) => {
      this.release_waiters.set(group, resolve);
      const release: GroupRelease = { kind: "release", group };
      handle.adoptions!.postMessage(release);
      handle.inbound.wake_consumer();
    });
  }

  private start_engine_worker(w: number): Promise<void> {
    const handle = this.engines[w]!;
    const worker = new Worker(new URL("./engine_worker.ts", import.meta.url).href);
    handle.worker = worker;
    let adoptions: MessagePort | null = null;
    if (this.cluster !== null) {
      const channel = new MessageChannel();
      handle.adoptions = channel.port1;
      adoptions = channel.port2;
    }
    const init: EngineWorkerInit = {
      worker: w,
      adoptions,
      groups: this.cluster !== null ? [] : this.partitioning.groups_of_worker(w),
      limits: group_limits_of(this.config),
      data_dir: this.config.data_dir,
      control: this.control.buffer,
      inbound: handle.inbound.buffer,
      inbound_shape: this.shapes.inbound_shape,
      results: handle.results.buffer,
      results_shape: this.shapes.results_shape,
      journal: handle.journal.buffer,
      journal_shape: this.shapes.journal_shape,
    };
    let on_stopped = () => {};
    handle.stopped = new Promise((resolve) => (on_stopped = resolve));
    return new Promise((resolve, reject) => {
      worker.onmessage = (event: MessageEvent<EngineWorkerMessage>) => {
        const message = event.data;
        if (message.type === "journal_corrupt") {
          reject(new JournalCorruptError(message.message));
        } else if (message.type === "released") {
          const waiter = this.release_waiters.get(message.group);
          this.release_waiters.delete(message.group);
          waiter?.(message.last_sequence);
        } else if (message.type === "adopted") {
          this.router.on_durable(message.group, message.last_sequence);
          this.cluster_controller!.on_adopted(message.group);
        } else if (message.type === "ready") {
          this.recoveries.push(...message.recoveries);
          resolve();
        } else if (message.type === "snapshot") {
          // Before the journal worker owns the buffer: a waiting capture copies it first.
          this.captures.on_snapshot(message.group, message.sequence, message.buffer,
            message.size_bytes);
          const request: JournalWorkerRequest = { type: "snapshot", group: message.group,
            sequence: message.sequence, buffer: message.buffer, size_bytes: message.size_bytes };
          this.journal_worker.postMessage(request);
        } else {
          on_stopped();
        }
      };
      worker.postMessage(init, adoptions === null ? [] : [adoptions]);
    });
  }

  private start_journal_worker(): Promise<void> {
    const worker = new Worker(new URL("../journal/worker.ts", import.meta.url).href);
    this.journal_worker = worker;
    let on_stopped = () => {};
    this.journal_stopped = new Promise((resolve) => (on_stopped = resolve));
    return new Promise((resolve) => {
      worker.onmessage = (event: MessageEvent<JournalWorkerMessage>) => {
        const message = event.data;
        switch (message.type) {
          case "ready": return resolve();
          case "durable": return this.on_durable(message.groups, message.sync_ms);
          case "snapshot_written": return this.on_snapshot_written(message.group, message.duration_ms);
          case "stopped": return on_stopped();
          default: return assert_never(message, "journal worker message");
        }
      };
      const request: JournalWorkerRequest = {
        type: "init",
        init: {
          groups: this.recoveries.map((r) => ({ group: r.group, dir: group_dir(this.config.data_dir, r.group),
            recovery: r.journal, snapshot_sequence: r.snapshot_sequence })),
          rings: this.engines.map((e) => e.journal.buffer),
          ring_shape: this.shapes.journal_shape,
          engine_inbound: this.engines.map((e) => e.inbound.buffer),
          engine_inbound_shape: this.shapes.inbound_shape,
          control: this.control.buffer,
          durable_board: this.durable_board.buffer,
          segment_size_bytes: this.config.journal_segment_bytes,
          shared_flush: this.config.journal_shared_flush,
          publisher_checkpoints: this.publisher_checkpoints,
        },
      };
      worker.postMessage(request);
    });
  }

  /**
   * Answers what became durable since the journal worker's last message, read from the durable
   * board (the router calls it before it admits a batch): a busy main thread need not wait for the
   * message to come round its event loop. One load when nothing changed.
   */
  private take_durable_progress(): void {
    const board = this.durable_board;
    const generation = board.generation();
    if (generation === this.board_generation_seen) return;
    // A commit's figures being written: they come with its message, or at the next batch.
    if (!board.read(generation, this.board_sequences)) return;
    this.board_generation_seen = generation;
    let results_taken = false;
    for (let group = 0; group < board.groups; group++) {
      const sequence = this.board_sequences[group]!;
      if (sequence <= this.router.durable_sequence[group]!) continue;
      if (!results_taken) {
        // As on_durable: the results of what just became durable may still sit in the rings.
        for (const handle of this.engines) this.take_results(handle.results);
        results_taken = true;
      }
      this.router.on_durable(group, sequence);
    }
  }

  private on_durable(groups: [number, number][], sync_ms: number): void {
    // The engines publish results without waking this thread when the journal will (EngineLoop
    // cycle): the results of what just became durable may still sit in the rings.
    for (const handle of this.engines) this.take_results(handle.results);
    this.metrics.observe_fsync(sync_ms);
    for (const [group, sequence] of groups) {
      this.router.on_durable(group, sequence);
      this.captures.on_durable(group, sequence);
      this.post_durable(group, sequence);
    }
  }

  private read_publisher_checkpoints(): void {
    const files = new NodeFileLayer();
    this.publisher_checkpoints = this.recoveries.map((r) => {
      const checkpoint = start_checkpoint(files, group_dir(this.config.data_dir, r.group));
      check_checkpoint_within_journal(r.group, checkpoint, r.last_sequence);
      return [r.group, checkpoint];
    });
  }

  /** The publisher (docs/design.md section 3): tails the durable journal into Kafka. */
  private start_publisher_worker(kafka_brokers: string): void {
    assert(this.publisher_checkpoints !== null, "checkpoints read before the publisher starts");
    const worker = new Worker(new URL("../publisher/worker.ts", import.meta.url).href);
    this.publisher_worker = worker;
    // Progress (at most every 100 ms): new checkpoints go on to the journal worker (segment
    // deletion), the figures to /metrics (docs/publisher.md).
    const monitor = new PublisherMonitor(this.publisher_checkpoints);
    this.metrics.publisher_text = () => monitor.render(this.router.durable_sequence, Date.now());
    worker.onmessage = (event: MessageEvent<PublisherWorkerMessage>) => {
      const { progress } = event.data;
      for (const { group, shipped_sequence: sequence } of progress.groups) {
        // A group new to the monitor (led here since the last report) always reports its start.
        if (monitor.has_group(group) && sequence === monitor.shipped_sequence(group)) continue;
        // The same request to the single node's and the cluster's journal worker.
        const request: JournalWorkerRequest & ClusterJournalRequest =
          { type: "publisher_checkpoint", group, sequence };
        this.journal_worker.postMessage(request);
      }
      monitor.update(progress);
    };
    const request: PublisherWorkerRequest = {
      type: "init",
      init: {
        kafka_brokers,
        topic: this.config.events_topic,
        partitions: this.config.groups,
        groups: this.publisher_checkpoints.map(([group, checkpoint]) =>
          ({ group, dir: group_dir(this.config.data_dir, group), checkpoint })),
      },
    };
    worker.postMessage(request);
  }

  /** Hands a durable sequence to the publisher; updates of one turn go in one message. */
  private post_durable(group: number, sequence: number): void {
    if (this.publisher_worker === null) return;
    const first = this.durable_unposted.size === 0;
    this.durable_unposted.set(group, Math.max(sequence, this.durable_unposted.get(group) ?? 0));
    if (!first) return;
    setImmediate(() => {
      const request: PublisherWorkerRequest = { type: "durable", groups: [...this.durable_unposted] };
      this.durable_unposted.clear();
      this.publisher_worker?.postMessage(request);
    });
  }

  private on_snapshot_written(group: number, duration_ms: number): void {
    this.metrics.observe_snapshot(duration_ms);
    const waiter = this.snapshot_waiters.get(group);
    if (waiter === undefined) return;
    this.snapshot_waiters.delete(group);
    waiter();
  }

  /**
   * Drains one engine worker's results ring for as long as the node runs. Under load most results
   * are taken by on_durable instead: the engine wakes this loop only for a cycle that handed the
   * journal nothing (reads), or when its results ring is full. Parking in Atomics.waitAsync costs
   * more than a drain (measured: a fifth of the main thread under load), so after finding results
   * the loop looks again on the next event-loop turn, and parks only once it has found the ring
   * empty RESULTS_EMPTY_TURNS_BEFORE_PARKING times in a row. Idle, it parks: no spinning.
   */
  private async drain_results(handle: EngineWorkerHandle): Promise<void> {
    const ring = handle.results;
    let empty_turns = 0;
    for (;;) {
      const count = ring.available();
      if (count === 0) {
        if (!this.ready && !this.accepting) return;
        if (empty_turns < RESULTS_EMPTY_TURNS_BEFORE_PARKING) {
          empty_turns++;
          await next_turn();
          continue;
        }
        empty_turns = 0;
        await ring.wait_for_data_async(TIMEOUT_SWEEP_MS);
        continue;
      }
      empty_turns = 0;
      this.take_results(ring);
    }
  }

  /** Hands every result slot in the ring to the router, then gives the slots back at once. */
  private take_results(ring: Ring): void {
    const count = ring.available();
    if (count === 0) return;
    const first = ring.consumer_cursor();
    for (let i = 0; i < count; i++) this.router.on_result_slot(ring, ring.slot_offset(first + i));
    ring.release(count);
  }

  private request_snapshots(): void {
    for (let w = 0; w < this.engines.length; w++) this.control.request_snapshot(w);
  }

  /** Why the node refuses new requests right now (checked before a request is read), or null. */
  refusal(): Refusal | null {
    if (!this.accepting) return "shutting_down";
    if (!this.ready) return "not_ready";
    if (this.control.disk_full()) return "disk_full";
    return null;
  }

  ring_depths(): number[] {
    return this.engines.map((e) => e.inbound.depth());
  }

  /** SIGTERM: stop accepting, let in-flight work finish and become durable, snapshot, stop. */
  async shutdown(): Promise<void> {
    // A cluster node hands its groups to in-sync standbys first: no failover wait for clients.
    const handed = await this.cluster_controller?.hand_over_all() ?? [];
    for (const result of handed) {
      console.log(`group ${result.group}: ${result.kind === "handed_over"
        ? `handed over to ${result.target}` : `not handed over (${result.message})`}`);
    }
    this.accepting = false;
    while (this.router.in_flight > 0) await Bun.sleep(5);
    const written = this.recoveries.map((r) => new Promise<void>((resolve) => {
      this.snapshot_waiters.set(r.group, resolve);
    }));
    this.request_snapshots();
    await Promise.all(written);
    this.control.request_stop();
    await Promise.all(this.engines.map((e) => e.stopped));
    this.control.request_journal_stop();
    await this.journal_stopped;
    await this.cluster_controller?.stop();
    this.ready = false;
    for (const timer of this.timers) clearInterval(timer);
    for (const handle of this.engines) handle.worker.terminate();
    this.journal_worker.terminate();
    this.publisher_worker?.terminate();
    this.publisher_worker = null;
    assert(this.router.in_flight === 0, "nothing in flight after shutdown");
  }
}
