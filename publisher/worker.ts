// The publisher worker (DESIGN.md sections 3-5): tails each group's durable journal and produces
// event records (events/encode.ts) to Kafka, partition = group, with an idempotent producer and
// acks from every in-sync replica. The main thread posts the durable sequence per group; per group
// the worker reads (checkpoint, durable] with the read-only read_journal_range, sends the records,
// and after the ack writes the group's checkpoint atomically (publisher/checkpoint.ts) and reports
// it to the main thread (which lets the journal delete segments behind it).
//
// Kafka away: the send fails, the same range is read and sent again after a backoff doubling from
// RETRY_DELAY_FIRST_MS to RETRY_DELAY_MAX_MS; the journal keeps everything meanwhile. A crash of the
// process: the next start resumes from the checkpoint, so records sent but not yet checkpointed are
// sent again (repeated (group, sequence), which projectors skip). Nothing is ever skipped.
// Damage inside the durable journal (JournalCorruptError) stops the process loudly.

import { Kafka, logLevel, Partitioners, type Admin, type Producer } from "kafkajs";
import { EventRecordBuilder } from "../events/encode.ts";
import { NodeFileLayer } from "../journal/file_layer.ts";
import { read_journal_range, RangeReader } from "../journal/journal_range_reader.ts";
import { JournalCorruptError } from "../journal/journal_reader.ts";
import { silence_kafkajs_timeout_warning } from "../scripts/services/kafkajs_warning.ts";
import { write_checkpoint } from "./checkpoint.ts";

declare const self: Worker;

export const RETRY_DELAY_FIRST_MS = 100;
export const RETRY_DELAY_MAX_MS = 5_000;

export interface PublisherWorkerInit {
  kafka_brokers: string;
  topic: string;
  /** GROUPS: the topic's partition count when the publisher creates it. */
  partitions: number;
  groups: { group: number; dir: string; checkpoint: number }[];
}

export type PublisherWorkerRequest =
  | { type: "init"; init: PublisherWorkerInit }
  | { type: "durable"; groups: [number, number][] };

export type PublisherWorkerMessage =
  | { type: "checkpoint"; group: number; sequence: number };

interface GroupState {
  group: number;
  dir: string;
  checkpoint: number;
  durable: number;
  builder: EventRecordBuilder;
}

const groups = new Map<number, GroupState>();
let wake: (() => void) | null = null;
const files = new NodeFileLayer();
const reader = new RangeReader();

function post(message: PublisherWorkerMessage): void {
  self.postMessage(message);
}

/**
 * The group's next record after its checkpoint (a copy): whole entries, as many as fit one record.
 * One record per send, because Kafka takes all messages of one partition in a send as one batch,
 * limited by the broker's message.max.bytes (1 MiB by default); a record is at most
 * EVENT_RECORD_BYTES_MAX (960,064 bytes), 64 KiB under it.
 */
function next_record(state: GroupState): { value: Buffer; last_sequence: number } | null {
  const builder = state.builder;
  builder.reset();
  read_journal_range(files, state.dir, state.checkpoint, state.durable,
    (view, offset, header) => {
      const appended = builder.append_entry(view, offset, header);
      if (appended === "ok") return true;
      if (builder.event_count === 0) throw new Error(`an entry does not fit an empty record`);
      return false; // full or another epoch: this entry starts the next record
    }, reader);
  if (builder.event_count === 0) return null;
  const last_sequence = builder.last_sequence;
  return { value: Buffer.from(builder.seal()), last_sequence };
}

async function connect(kafka: Kafka, admin: Admin, producer: Producer, init: PublisherWorkerInit)
  : Promise<void> {
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
  void kafka;
}

async function run(init: PublisherWorkerInit): Promise<void> {
  silence_kafkajs_timeout_warning();
  for (const g of init.groups) {
    groups.set(g.group, { group: g.group, dir: g.dir, checkpoint: g.checkpoint, durable: 0,
      builder: new EventRecordBuilder(g.group) });
  }
  const kafka = new Kafka({
    clientId: "balance-publisher", brokers: init.kafka_brokers.split(","), logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  const producer = kafka.producer({
    idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner,
  });
  let delay_ms = RETRY_DELAY_FIRST_MS;
  const failed = async (what: string, error: unknown) => {
    if (error instanceof JournalCorruptError) throw error;
    console.error(`publisher: ${what} failed, retrying in ${delay_ms} ms: ${String(error)}`);
    await Bun.sleep(delay_ms);
    delay_ms = Math.min(delay_ms * 2, RETRY_DELAY_MAX_MS);
  };
  for (;;) {
    try {
      await connect(kafka, admin, producer, init);
      break;
    } catch (error) {
      await admin.disconnect().catch(() => {});
      await failed("connecting to Kafka", error);
    }
  }
  delay_ms = RETRY_DELAY_FIRST_MS;
  for (;;) {
    let sent = false;
    for (const state of groups.values()) {
      if (state.durable <= state.checkpoint) continue;
      try {
        const next = next_record(state);
        if (next === null) continue;
        const { value, last_sequence } = next;
        await producer.send({ topic: init.topic, acks: -1,
          messages: [{ partition: state.group, value }] });
        write_checkpoint(state.dir, last_sequence);
        state.checkpoint = last_sequence;
        post({ type: "checkpoint", group: state.group, sequence: last_sequence });
        delay_ms = RETRY_DELAY_FIRST_MS;
        sent = true;
      } catch (error) {
        await failed(`publishing group ${state.group}`, error);
      }
    }
    if (sent || [...groups.values()].some((s) => s.durable > s.checkpoint)) continue;
    await new Promise<void>((resolve) => (wake = resolve));
  }
}

function die(error: unknown): never {
  console.error("publisher worker failed, stopping the process:", error);
  process.kill(process.pid, "SIGKILL");
  throw error;
}

self.onmessage = (event: MessageEvent<PublisherWorkerRequest>) => {
  const request = event.data;
  if (request.type === "init") {
    run(request.init).catch(die);
    return;
  }
  for (const [group, sequence] of request.groups) {
    const state = groups.get(group);
    if (state !== undefined && sequence > state.durable) state.durable = sequence;
  }
  const resolve = wake;
  wake = null;
  resolve?.();
};
