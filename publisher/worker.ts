// The publisher worker (docs/design.md sections 3-5): tails each group's durable journal and
// produces event records (events/encode.ts) to Kafka, partition = group, with an idempotent
// producer and acks from every in-sync replica. The main thread posts the durable sequence per
// group; per group the worker reads (checkpoint, durable] with the read-only read_journal_range,
// several records a pass (publisher/backlog.ts), sends them, and after the ack writes the group's
// checkpoint atomically (journal/publisher_checkpoint.ts). It reports progress to the main thread
// at most every PROGRESS_INTERVAL_MS (publisher/progress.ts): checkpoints, which let the journal
// delete segments behind them, and the figures of /metrics.
//
// One send carries the next record of up to SEND_RECORDS_MAX groups: one produce request, one
// record (one batch, under the broker's message.max.bytes) per partition.
//
// Kafka away: the send fails and is tried again after a backoff doubling from
// RETRY_DELAY_FIRST_MS to RETRY_DELAY_MAX_MS, with the very records it carried: a failed send may
// have been appended all the same (its response lost), and kafkajs then gives the retry the same
// producer sequence, which the broker takes for a duplicate of what it holds and acknowledges
// without appending. A record read again from the checkpoint would be longer (the journal grew
// meanwhile): its tail would be acknowledged but never appended, a gap. So a record read stays
// the group's head until acknowledged. A crash of the process: the next start resumes from the
// checkpoint with a new producer id, so records sent but not yet checkpointed are sent again
// (repeated (group, sequence) with the same event bytes, which projectors skip). Nothing is ever
// skipped. Damage inside the durable journal (JournalCorruptError) stops the process loudly.
//
// On a cluster node the worker starts with no group: each group it comes to lead arrives in a
// "led" message, with the last sequence Kafka already holds for it as its checkpoint
// (node/cluster_publisher.ts), and is published from there on.

import { Kafka, logLevel, Partitioners, type Admin, type Producer } from "kafkajs";
import { assert, assert_never } from "../common/assert.ts";
import { EventRecordBuilder } from "../events/encode.ts";
import { EVENT_RECORD_BYTES_MAX } from "../events/event_layout.ts";
import { NodeFileLayer } from "../journal/file_layer.ts";
import { RangeReader } from "../journal/journal_range_reader.ts";
import { JournalCorruptError } from "../journal/journal_reader.ts";
import { silence_kafkajs_timeout_warning } from "../common/kafkajs_warning.ts";
import { read_backlog, type PendingRecord } from "./backlog.ts";
import { write_checkpoint } from "../journal/publisher_checkpoint.ts";
import {
  PROGRESS_INTERVAL_MS, type PublisherProgress, type PublisherProgressMessage,
} from "./progress.ts";

declare const self: Worker;

export const RETRY_DELAY_FIRST_MS = 100;
export const RETRY_DELAY_MAX_MS = 5_000;
const KAFKAJS_RETRY_FIRST_MS = 100;
const KAFKAJS_RETRIES = 3;
/** Groups (one record each) in one send: one produce request of at most ~16 MiB. */
export const SEND_RECORDS_MAX = 16;
/** Records built per read pass of one group. */
export const RECORDS_PER_READ_MAX = 8;
/** Bytes of records read but not yet acknowledged, over all groups (one record may exceed it). */
export const PENDING_BYTES_MAX = 64 * 1024 * 1024;
// A produce request stays far under the broker's socket.request.max.bytes (100 MiB by default).
const SEND_BYTES_MAX = SEND_RECORDS_MAX * EVENT_RECORD_BYTES_MAX;
assert(SEND_BYTES_MAX <= 16 * 1024 * 1024, "a send stays under 16 MiB");

export interface PublisherWorkerInit {
  kafka_brokers: string;
  topic: string;
  /** GROUPS: the topic's partition count when the publisher creates it. */
  partitions: number;
  groups: { group: number; dir: string; checkpoint: number }[];
}

/** A group this (cluster) node came to lead: published from `checkpoint` on (what Kafka holds). */
export interface PublisherGroupLed {
  group: number;
  dir: string;
  checkpoint: number;
  /** The group's committed sequence when the message was posted. */
  durable: number;
}

export type PublisherWorkerRequest =
  | { type: "init"; init: PublisherWorkerInit }
  | { type: "durable"; groups: [number, number][] }
  /** A cluster node: the group is led here from now on (node/cluster_publisher.ts). */
  | { type: "led"; led: PublisherGroupLed };

export type PublisherWorkerMessage = PublisherProgressMessage;

interface GroupState {
  group: number;
  dir: string;
  checkpoint: number;
  durable: number;
  builder: EventRecordBuilder;
  /** Records read after the checkpoint, in order, not yet acknowledged. */
  pending: PendingRecord[];
  oldest_unshipped_time_ms: number;
  events_shipped_total: number;
  records_shipped_total: number;
}

const groups: GroupState[] = [];
const group_index = new Map<number, GroupState>();
let wake: (() => void) | null = null;
const files = new NodeFileLayer();
const reader = new RangeReader();
let pending_bytes = 0;
let send_failures_total = 0;
let kafka_reachable = false;
let last_ack_ms = 0;
let connected_ms = 0;
/** The group the next send starts with, so no group waits behind the others. */
let rotation = 0;

// --- progress to the main thread, at most every PROGRESS_INTERVAL_MS ---

let progress_posted_ms = 0;
let progress_timer: ReturnType<typeof setTimeout> | null = null;

function progress(): PublisherProgress {
  return {
    groups: groups.map((s) => ({ group: s.group, shipped_sequence: s.checkpoint,
      oldest_unshipped_time_ms: s.durable > s.checkpoint ? s.oldest_unshipped_time_ms : 0,
      events_shipped_total: s.events_shipped_total, records_shipped_total: s.records_shipped_total })),
    send_failures_total,
    kafka_reachable,
    last_ack_ms,
    connected_ms,
  };
}

function report(): void {
  if (progress_timer !== null) return;
  const delay_ms = Math.max(0, progress_posted_ms + PROGRESS_INTERVAL_MS - performance.now());
  progress_timer = setTimeout(() => {
    progress_timer = null;
    progress_posted_ms = performance.now();
    const message: PublisherWorkerMessage = { type: "progress", progress: progress() };
    self.postMessage(message);
  }, delay_ms);
}

// --- reading and sending ---

/**
 * Reads the group's next records when it has none queued and the byte budget allows. Never
 * replaces a pending record: one sent and not acknowledged is resent as it is.
 */
function refill(state: GroupState): void {
  if (state.pending.length > 0 || state.durable <= state.checkpoint) return;
  if (pending_bytes >= PENDING_BYTES_MAX) return;
  const records = read_backlog(files, reader, state, state.checkpoint, state.durable,
    RECORDS_PER_READ_MAX, PENDING_BYTES_MAX - pending_bytes);
  for (const record of records) pending_bytes += record.value.byteLength;
  state.pending = records;
  if (records.length > 0) state.oldest_unshipped_time_ms = records[0]!.first_time_ms;
}

/** The groups whose next record goes in this send (each group's head record). */
function select_send(): GroupState[] {
  const chosen: GroupState[] = [];
  let bytes = 0;
  for (let k = 0; k < groups.length && chosen.length < SEND_RECORDS_MAX; k++) {
    const state = groups[(rotation + k) % groups.length]!;
    refill(state);
    const head = state.pending[0];
    if (head === undefined) continue;
    if (chosen.length > 0 && bytes + head.value.byteLength > SEND_BYTES_MAX) break;
    chosen.push(state);
    bytes += head.value.byteLength;
  }
  rotation = (rotation + 1) % Math.max(1, groups.length);
  return chosen;
}

/** After the ack: checkpoint each group of the send, then count it. */
function acknowledged(chosen: GroupState[]): void {
  for (const state of chosen) {
    const record = state.pending.shift()!;
    pending_bytes -= record.value.byteLength;
    assert(record.first_sequence === state.checkpoint + 1, "records ship in sequence");
    write_checkpoint(state.dir, record.last_sequence);
    state.checkpoint = record.last_sequence;
    state.events_shipped_total += record.event_count;
    state.records_shipped_total++;
    const next = state.pending[0];
    if (next !== undefined) state.oldest_unshipped_time_ms = next.first_time_ms;
  }
}

async function connect(admin: Admin, producer: Producer, init: PublisherWorkerInit): Promise<void> {
  await admin.connect();
  const topics = await admin.listTopics();
  if (!topics.includes(init.topic)) {
    await admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic: init.topic, numPartitions: init.partitions }],
    });
  }
  await admin.disconnect();
  await producer.connect();
}

let delay_ms = RETRY_DELAY_FIRST_MS;

async function failed(what: string, error: unknown): Promise<void> {
  if (error instanceof JournalCorruptError) throw error;
  send_failures_total++;
  kafka_reachable = false;
  // The records read stay pending: the retry must carry the same bytes (see the top).
  report();
  console.error(`publisher: ${what} failed, retrying in ${delay_ms} ms: ${String(error)}`);
  await Bun.sleep(delay_ms);
  delay_ms = Math.min(delay_ms * 2, RETRY_DELAY_MAX_MS);
}

function succeeded(): void {
  kafka_reachable = true;
  delay_ms = RETRY_DELAY_FIRST_MS;
  report();
}

function has_backlog(): boolean {
  return groups.some((s) => s.durable > s.checkpoint);
}

function add_group(g: { group: number; dir: string; checkpoint: number }): GroupState {
  assert(!group_index.has(g.group), `group ${g.group} is published once`);
  assert(Number.isSafeInteger(g.checkpoint) && g.checkpoint >= 0, "a checkpoint is a sequence");
  const state: GroupState = { group: g.group, dir: g.dir, checkpoint: g.checkpoint, durable: 0,
    builder: new EventRecordBuilder(g.group), pending: [], oldest_unshipped_time_ms: 0,
    events_shipped_total: 0, records_shipped_total: 0 };
  groups.push(state);
  group_index.set(g.group, state);
  return state;
}

async function run(init: PublisherWorkerInit): Promise<void> {
  silence_kafkajs_timeout_warning();
  for (const g of init.groups) add_group(g);
  const kafka = new Kafka({
    clientId: "balance-publisher", brokers: init.kafka_brokers.split(","), logLevel: logLevel.NOTHING,
    // Few retries inside kafkajs: this loop retries forever itself, and a send that fails fast
    // lets /metrics say so (kafka_reachable, send failures) within seconds of an outage.
    retry: { initialRetryTime: KAFKAJS_RETRY_FIRST_MS, retries: KAFKAJS_RETRIES },
  });
  const admin = kafka.admin();
  const producer = kafka.producer({
    idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner,
  });
  for (;;) {
    try {
      await connect(admin, producer, init);
      connected_ms = Date.now();
      break;
    } catch (error) {
      await admin.disconnect().catch(() => {});
      for (const state of groups) refill(state); // learns the oldest unshipped event's time
      await failed("connecting to Kafka", error);
    }
  }
  succeeded();
  for (;;) {
    const chosen = select_send();
    if (chosen.length === 0) {
      // Nothing to read is left only when every group is shipped (refill always reads a record).
      if (has_backlog()) await Bun.sleep(RETRY_DELAY_FIRST_MS);
      else await new Promise<void>((resolve) => (wake = resolve));
      continue;
    }
    try {
      await producer.send({ topic: init.topic, acks: -1,
        messages: chosen.map((s) => ({ partition: s.group, value: s.pending[0]!.value })) });
    } catch (error) {
      await failed(`publishing groups ${chosen.map((s) => s.group).join(",")}`, error);
      continue;
    }
    last_ack_ms = Date.now();
    acknowledged(chosen);
    succeeded();
  }
}

function die(error: unknown): never {
  console.error("publisher worker failed, stopping the process:", error);
  process.kill(process.pid, "SIGKILL");
  throw error;
}

function on_durable(state: GroupState, sequence: number, now_ms: number): void {
  if (sequence <= state.durable) return;
  // A new backlog: until it is read, its age counts from now (an underestimate).
  if (state.durable <= state.checkpoint) state.oldest_unshipped_time_ms = now_ms;
  state.durable = sequence;
}

function handle(request: Exclude<PublisherWorkerRequest, { type: "init" }>): void {
  const now_ms = Date.now();
  switch (request.type) {
    case "durable":
      // A group not (yet) led here has no state: its durable comes with its "led" message.
      for (const [group, sequence] of request.groups) {
        const state = group_index.get(group);
        if (state !== undefined) on_durable(state, sequence, now_ms);
      }
      return;
    case "led": {
      const { led } = request;
      on_durable(add_group(led), led.durable, now_ms);
      return;
    }
    default:
      return assert_never(request, "publisher request");
  }
}

self.onmessage = (event: MessageEvent<PublisherWorkerRequest>) => {
  const request = event.data;
  if (request.type === "init") {
    run(request.init).catch(die);
    return;
  }
  handle(request);
  report();
  const resolve = wake;
  wake = null;
  resolve?.();
};
