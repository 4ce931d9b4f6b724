// Loading from storage, step 2: reads a range of one events partition (= one group) from Kafka,
// record by record in offset order, up to the end the partition had when loading began.
//
// One kafkajs consumer serves every group of a load: a consumer group of its own (never committed,
// deleted at the end), all partitions paused except the one being read, which is moved with seek.
// (kafkajs has no fetch without a consumer group; one join per load, not one per group, because a
// broker's group.initial.rebalance.delay.ms, 3 s by default, is paid per join.)

import { Kafka, logLevel, type Admin, type Consumer } from "kafkajs";
import { assert } from "../common/assert.ts";
import { silence_kafkajs_timeout_warning } from "../common/kafkajs_warning.ts";

/** Stop waiting when a partition's read makes no progress for this long. */
export const KAFKA_READ_STALL_MS_MAX = 30_000;
const STALL_CHECK_MS = 1_000;
/** A retriable Kafka error (a leader moving, a topic just created) is retried this often. */
const RETRIABLE_ATTEMPTS_MAX = 20;
const RETRIABLE_DELAY_MS = 250;
/**
 * A fetch returns after this at the latest when no record is there: the next group's seek waits
 * for the fetch in flight (kafkajs's default, 5 s, would be paid per group).
 */
const FETCH_WAIT_MS_MAX = 50;

export interface PartitionOffsets {
  /** The oldest offset Kafka still holds (retention may have removed older ones). */
  low: number;
  /** One past the newest offset, when loading began. */
  high: number;
}

/** Called per record (its value and offset), in offset order. */
export type RecordVisitor = (value: Uint8Array, offset: number) => void;

interface Reading {
  partition: number;
  from_offset: number;
  end_offset: number;
  visit: RecordVisitor;
  progress_ms: number;
  done: () => void;
  failed: (error: Error) => void;
}

export class KafkaHistory {
  private reading: Reading | null = null;
  private consumer: Consumer | null = null;

  private constructor(private readonly kafka: Kafka, private readonly admin: Admin,
    readonly topic: string, private readonly offsets: Map<number, PartitionOffsets>) {}

  /** Connects and notes every partition's offsets. A topic that does not exist has none. */
  static async open(brokers: string, topic: string, client_id: string): Promise<KafkaHistory> {
    silence_kafkajs_timeout_warning();
    const kafka = new Kafka({ clientId: client_id, brokers: brokers.split(","),
      logLevel: logLevel.ERROR });
    const admin = kafka.admin();
    await admin.connect();
    const offsets = new Map<number, PartitionOffsets>();
    const topics = await admin.listTopics();
    if (topics.includes(topic)) {
      for (const entry of await retrying(() => admin.fetchTopicOffsets(topic))) {
        offsets.set(entry.partition, { low: Number(entry.low), high: Number(entry.high) });
      }
    }
    return new KafkaHistory(kafka, admin, topic, offsets);
  }

  /** The partition's offsets when loading began ({0, 0} when it has none). */
  partition_offsets(partition: number): PartitionOffsets {
    return this.offsets.get(partition) ?? { low: 0, high: 0 };
  }

  /**
   * The first offset whose record was written at or after time_ms (Kafka's record timestamp: the
   * publisher's clock when it sent the record, never before the engine time of its events).
   */
  async offset_at_time(partition: number, time_ms: number): Promise<number> {
    const range = this.partition_offsets(partition);
    if (range.high === range.low) return range.high;
    const found = await retrying(() =>
      this.admin.fetchTopicOffsetsByTimestamp(this.topic, Math.max(0, time_ms)));
    const offset = Number(found.find((entry) => entry.partition === partition)?.offset ?? -1);
    return offset < 0 ? range.high : Math.min(Math.max(offset, range.low), range.high);
  }

  /** Visits records [from_offset, high) of the partition; resolves once the last is visited. */
  async read(partition: number, from_offset: number, visit: RecordVisitor): Promise<void> {
    const range = this.partition_offsets(partition);
    assert(from_offset >= range.low && from_offset <= range.high, "read within the partition");
    if (from_offset === range.high) return;
    const consumer = await this.consumer_started();
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        const progress_ms = this.reading?.progress_ms ?? Infinity;
        if (performance.now() - progress_ms < KAFKA_READ_STALL_MS_MAX) return;
        this.reading?.failed(new Error(`Kafka ${this.topic} partition ${partition}: no record ` +
          `for ${KAFKA_READ_STALL_MS_MAX} ms while reading offsets ` +
          `${from_offset}..${range.high - 1}`));
      }, STALL_CHECK_MS);
      const finish = (error: Error | null) => {
        clearInterval(timer);
        this.reading = null;
        consumer.pause([{ topic: this.topic, partitions: [partition] }]);
        if (error === null) resolve();
        else reject(error);
      };
      this.reading = { partition, from_offset, end_offset: range.high, visit,
        progress_ms: performance.now(), done: () => finish(null), failed: finish };
      consumer.seek({ topic: this.topic, partition, offset: String(from_offset) });
      consumer.resume([{ topic: this.topic, partitions: [partition] }]);
    });
  }

  /** Disconnects and deletes the consumer group (it never committed an offset). */
  async close(): Promise<void> {
    const consumer = this.consumer;
    this.consumer = null;
    if (consumer !== null) {
      await consumer.disconnect().catch(() => {});
      await this.admin.deleteGroups([this.group_id]).catch(() => {});
    }
    await this.admin.disconnect().catch(() => {});
  }

  private readonly group_id = `balance-load-${process.pid}-${Date.now().toString(36)}`;

  private async consumer_started(): Promise<Consumer> {
    if (this.consumer !== null) return this.consumer;
    const consumer = this.kafka.consumer({ groupId: this.group_id, allowAutoTopicCreation: false,
      maxWaitTimeInMs: FETCH_WAIT_MS_MAX });
    this.consumer = consumer;
    await consumer.connect();
    await consumer.subscribe({ topic: this.topic, fromBeginning: true });
    await consumer.run({ autoCommit: false, eachBatch: async ({ batch }) => this.on_batch(batch) });
    consumer.pause([{ topic: this.topic }]);
    return consumer;
  }

  private on_batch(batch: {
    partition: number;
    messages: { offset: string; value: Buffer | null }[];
  }): void {
    const reading = this.reading;
    if (reading === null || batch.partition !== reading.partition) return;
    try {
      for (const message of batch.messages) {
        const offset = Number(message.offset);
        if (offset < reading.from_offset) continue;
        if (offset >= reading.end_offset) break;
        assert(message.value !== null, "an events record has a value");
        reading.visit(message.value, offset);
        reading.progress_ms = performance.now();
        if (offset === reading.end_offset - 1) return reading.done();
      }
    } catch (error) {
      reading.failed(error instanceof Error ? error : new Error(String(error)));
    }
  }
}

/**
 * Runs `request` again while it fails with an error kafkajs marks retriable (its own retries are
 * short: a partition whose leader is being elected can take longer), at most
 * RETRIABLE_ATTEMPTS_MAX times.
 */
async function retrying<T>(request: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await request();
    } catch (error) {
      const retriable = (error as { retriable?: unknown }).retriable === true;
      if (!retriable || attempt === RETRIABLE_ATTEMPTS_MAX) throw error;
      await Bun.sleep(RETRIABLE_DELAY_MS);
    }
  }
}
