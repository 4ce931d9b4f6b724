// The projector's Kafka consumer (docs/design.md section 4): a kafkajs consumer group on the events
// topic, whose partition is the engine group. Each fetched batch of a partition is decoded
// (events/decode.ts), turned into ProjectedEvents (projector/event.ts) and applied with one
// apply_batch call, one transaction (projector/apply.ts), which runs while the next batch is
// fetched; only once it is done is the batch's offset committed. Kafka delivers at least once,
// and apply_batch skips every (group, sequence) it has applied (after checking it is the same
// event: projector/fence.ts) and sets figures rather than adding them, so a batch delivered again
// after a crash, a rebalance, a reset of the offsets or a takeover's publishing again changes
// nothing: the effect is exactly once.
//
// Failures:
//   - a record that does not decode, a record of another group than its partition, or events that
//     leave a gap: the projector stops loudly (topic, partition, offset, why) and `done` rejects
//     with a ProjectorFatalError. Nothing is skipped and nothing of that batch is committed.
//   - PostgreSQL unavailable (any other error of apply_batch): the batch is retried, with a
//     backoff doubling from APPLY_RETRY_DELAY_FIRST_MS to APPLY_RETRY_DELAY_MAX_MS and a heartbeat
//     between attempts, offsets uncommitted, until it is applied (PostgreSQL back) or stop().
//   - an EventFenceError of apply_batch (another event at a sequence already taken, or an older
//     epoch after a newer one: projector/fence.ts) or an AssertionError (a gap after the applied
//     sequence, a bad event): fatal, as above, the message naming the group, the sequence and
//     both epochs. Neither is retried: the same records would be refused again.

import { Kafka, logLevel, type Consumer, type EachBatchPayload } from "kafkajs";
import postgres from "postgres";
import { AssertionError, assert } from "../common/assert.ts";
import { decode_event_record } from "../events/decode.ts";
import { silence_kafkajs_timeout_warning } from "../common/kafkajs_warning.ts";
import { apply_batch, type ApplyResult } from "./apply.ts";
import { projected_event_of, type ProjectedEvent } from "./event.ts";
import { EventFenceError } from "./fence.ts";

/** First wait after a failed apply; it doubles per attempt. */
export const APPLY_RETRY_DELAY_FIRST_MS = 100;
/** The longest wait between two attempts at the same batch. */
export const APPLY_RETRY_DELAY_MAX_MS = 5_000;
/** postgres.js gives up connecting after this (its default, 30 s, would outlast a Kafka session). */
export const POSTGRES_CONNECT_TIMEOUT_S = 5;
/**
 * A projector that died is noticed by the broker after this, and its partitions go to the others
 * (or to its restarted self): the group waits for the dead member that long before it rebalances.
 * kafkajs's default (30 s) would stall projection that long per crash; the broker's minimum is 6 s.
 */
export const CONSUMER_SESSION_TIMEOUT_MS = 10_000;
/** A third of the session timeout, as Kafka recommends. */
export const CONSUMER_HEARTBEAT_INTERVAL_MS = 3_000;
/**
 * The most one fetch takes of a partition (kafkajs maxBytesPerPartition; its default is 1 MiB): a
 * larger batch is one transaction and one fetch round for more events. Measured with `bun run
 * bench:pipeline`, three alternating pairs: 4 MiB projected 1.13x the events per second of 1 MiB,
 * 2 MiB and 8 MiB no better than 1 MiB and 4 MiB. At most two batches per partition are held.
 */
export const FETCH_BYTES_PER_PARTITION_DEFAULT = 4 * 1024 * 1024;
/** Partitions (groups) applied at once; each takes one connection while it applies. */
export const PARTITIONS_CONCURRENT_DEFAULT = 4;
const POSTGRES_END_TIMEOUT_S = 5;

export interface ProjectorOptions {
  /** host:port[,host:port...] */
  kafka_brokers: string;
  /** postgres://user@host:port/database */
  database_url: string;
  topic: string;
  /** The Kafka consumer group: projectors sharing it share the partitions. */
  group_id: string;
  client_id?: string;
  /** The schema holding the projector's tables (default: the server's search_path). */
  search_path?: string;
  /** Where a partition with no committed offset starts: its beginning (default) or its end. */
  from_beginning?: boolean;
  partitions_concurrent?: number;
  /** The most a fetch takes of one partition (default FETCH_BYTES_PER_PARTITION_DEFAULT). */
  max_bytes_per_partition?: number;
  retry_delay_first_ms?: number;
  retry_delay_max_ms?: number;
  /** Progress and retries (default console.log); fatal errors go to console.error as well. */
  log?: (line: string) => void;
  /** Called after each batch is applied and its offset committed. */
  on_applied?: (applied: AppliedBatch) => void;
}

export interface AppliedBatch {
  partition: number;
  first_offset: string;
  last_offset: string;
  result: ApplyResult;
}

export interface Projector {
  /** Resolves once stopped by stop(); rejects with a ProjectorFatalError if it stopped itself. */
  readonly done: Promise<void>;
  /** Lets the batch being applied finish (and commit), leaves the group, closes the connections. */
  stop(): Promise<void>;
}

/** Why the projector stopped itself: the record it could not apply, and why. */
export class ProjectorFatalError extends Error {
  override name = "ProjectorFatalError";
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;

  /** `cause`: the error that stopped it, when there was one (an EventFenceError, ...). */
  constructor(topic: string, partition: number, offset: string, reason: string, cause?: Error) {
    super(`projector stopped at topic ${topic} partition ${partition} offset ${offset}: ${reason}`,
      cause === undefined ? undefined : { cause });
    this.topic = topic;
    this.partition = partition;
    this.offset = offset;
  }
}

/** Connects, joins the consumer group and starts consuming; see the file comment. */
export async function start_projector(options: ProjectorOptions): Promise<Projector> {
  silence_kafkajs_timeout_warning();
  const topic = options.topic;
  assert(topic.length > 0 && options.group_id.length > 0, "topic and group id named");
  const log = options.log ?? ((line: string) => console.log(line));
  const delay_first_ms = options.retry_delay_first_ms ?? APPLY_RETRY_DELAY_FIRST_MS;
  const delay_max_ms = options.retry_delay_max_ms ?? APPLY_RETRY_DELAY_MAX_MS;
  assert(delay_first_ms > 0 && delay_max_ms >= delay_first_ms, "retry delays");
  const partitions_concurrent = options.partitions_concurrent ?? PARTITIONS_CONCURRENT_DEFAULT;
  assert(Number.isInteger(partitions_concurrent) && partitions_concurrent >= 1, "concurrency");

  const sql = postgres(options.database_url, {
    max: partitions_concurrent,
    onnotice: () => {},
    connect_timeout: POSTGRES_CONNECT_TIMEOUT_S,
    connection: options.search_path === undefined ? {} : { search_path: options.search_path },
  });
  const kafka = new Kafka({
    clientId: options.client_id ?? "balance-projector",
    brokers: options.kafka_brokers.split(","),
    logLevel: logLevel.WARN,
  });
  const consumer: Consumer = kafka.consumer({
    groupId: options.group_id,
    sessionTimeout: CONSUMER_SESSION_TIMEOUT_MS,
    heartbeatInterval: CONSUMER_HEARTBEAT_INTERVAL_MS,
    maxBytesPerPartition: options.max_bytes_per_partition ?? FETCH_BYTES_PER_PARTITION_DEFAULT,
  });

  // A batch's apply runs while kafkajs fetches and decodes the partition's next one: its fetcher
  // fetches again only once every handler of the last fetch has returned, so a handler that
  // awaited its apply left PostgreSQL idle during each fetch and Bun idle during each apply. A
  // handler decodes its batch, waits for the partition's previous apply (batches of a partition
  // apply in order, and at most two of them are held), starts its own and returns; the offset is
  // committed once the apply is done.
  const applying = new Map<number, Promise<void>>();

  let stopping = false;
  let fatal: ProjectorFatalError | null = null;
  // Ends each retry wait early on stop(): every partition applying may be waiting at once.
  const wakers = new Set<() => void>();
  let settle!: { resolve: () => void; reject: (error: Error) => void };
  const done = new Promise<void>((resolve, reject) => {
    settle = { resolve, reject };
  });
  done.catch(() => {}); // a caller that never awaits `done` still sees the error logged

  let shutdown_promise: Promise<void> | null = null;
  const shutdown = (): Promise<void> => {
    shutdown_promise ??= (async () => {
      stopping = true;
      for (const wake of [...wakers]) wake();
      try {
        // An apply under way finishes and commits (none starts once stopping), then the handlers
        // in progress return and the consumer leaves.
        await Promise.all(applying.values());
        await consumer.disconnect();
      } finally {
        await sql.end({ timeout: POSTGRES_END_TIMEOUT_S });
      }
    })();
    return shutdown_promise;
  };

  const fail = (error: ProjectorFatalError): void => {
    if (fatal !== null) return;
    fatal = error;
    console.error(`FATAL ${error.message}`);
    // Not awaited: disconnect waits for the batch that called fail() to return.
    shutdown().then(() => settle.reject(error), () => settle.reject(error));
  };

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      wakers.add(wake);
    });

  const apply_and_commit = async (payload: EachBatchPayload, events: ProjectedEvent[],
    first_offset: string, last_offset: string): Promise<void> => {
    const partition = payload.batch.partition;
    let result: ApplyResult | null = null;
    let delay_ms = delay_first_ms;
    for (let attempt = 1; result === null; attempt++) {
      if (fatal !== null || stopping || !payload.isRunning() || payload.isStale()) return;
      try {
        result = await apply_batch(sql, partition, events);
      } catch (error) {
        if (error instanceof AssertionError || error instanceof EventFenceError) {
          return fail(new ProjectorFatalError(topic, partition, `${first_offset}..${last_offset}`,
            `apply_batch refused the batch: ${error.message}`, error));
        }
        log(`projector: partition ${partition} offsets ${first_offset}..${last_offset}: apply ` +
          `attempt ${attempt} failed (${describe(error)}); retrying in ${delay_ms} ms, ` +
          "uncommitted");
        await sleep(delay_ms);
        delay_ms = Math.min(delay_ms * 2, delay_max_ms);
        // The fetch loop heartbeats too; one refused here (a rebalance under way) changes nothing.
        if (!stopping) await payload.heartbeat().catch(() => {});
      }
    }
    const next_offset = (BigInt(last_offset) + 1n).toString();
    try {
      await payload.commitOffsetsIfNecessary({
        topics: [{ topic, partitions: [{ partition, offset: next_offset }] }],
      });
    } catch (error) {
      // Applied but not committed (a rebalance or a stop came between): the batch is fetched again
      // later and apply_batch skips what it already applied.
      if (!stopping) log(`projector: partition ${partition} offset ${last_offset}: applied, the ` +
        `commit failed (${describe(error)}); the batch may be fetched again`);
      return;
    }
    options.on_applied?.({ partition, first_offset, last_offset, result });
  };

  const each_batch = async (payload: EachBatchPayload): Promise<void> => {
    const { batch } = payload;
    if (fatal !== null || stopping || batch.messages.length === 0) return;
    const partition = batch.partition;
    const first_offset = batch.messages[0]!.offset;
    const last_offset = batch.messages[batch.messages.length - 1]!.offset;

    const events: ProjectedEvent[] = [];
    let batch_last_sequence = 0;
    for (const message of batch.messages) {
      const where = (reason: string) => new ProjectorFatalError(topic, partition, message.offset, reason);
      if (message.value === null) return fail(where("a record with no value"));
      const decoded = decode_event_record(message.value);
      if (!decoded.ok) return fail(where(`the record does not decode: ${decoded.error}`));
      const { record } = decoded;
      const header = record.header;
      if (header.group !== partition) {
        return fail(where(`a record of group ${header.group} on the partition of group ${partition}`));
      }
      if (batch_last_sequence > 0 && header.first_sequence > batch_last_sequence + 1) {
        return fail(where(`sequences ${batch_last_sequence + 1}..${header.first_sequence - 1} ` +
          `of group ${partition} are missing`));
      }
      // Records repeated or overlapping (a producer's retry, a new primary publishing again) are
      // all passed on: apply_batch checks that each repeated event is the one taken (the fence).
      for (let index = 0; index < record.event_count; index++) {
        events.push(projected_event_of(record, index));
      }
      batch_last_sequence = Math.max(batch_last_sequence, header.last_sequence);
    }

    await applying.get(partition); // never rejects (see below)
    if (fatal !== null || stopping || !payload.isRunning() || payload.isStale()) return;
    const applied = apply_and_commit(payload, events, first_offset, last_offset).catch((error) =>
      fail(new ProjectorFatalError(topic, partition, `${first_offset}..${last_offset}`,
        `applying the batch failed: ${describe(error)}`,
        error instanceof Error ? error : undefined)));
    applying.set(partition, applied);
    void applied.finally(() => {
      if (applying.get(partition) === applied) applying.delete(partition);
    });
    payload.resolveOffset(last_offset); // where the next fetch starts; committed once applied
    if (!stopping) await payload.heartbeat();
  };

  try {
    await consumer.connect();
    consumer.on(consumer.events.CRASH, (event) => {
      if (event.payload.restart) return;
      fail(new ProjectorFatalError(topic, -1, "-",
        `the Kafka consumer crashed: ${describe(event.payload.error)}`));
    });
    await consumer.subscribe({ topic, fromBeginning: options.from_beginning ?? true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: partitions_concurrent,
      eachBatch: each_batch,
    });
  } catch (error) {
    await shutdown().catch(() => {});
    throw error;
  }

  return {
    done,
    async stop() {
      await shutdown();
      if (fatal === null) settle.resolve();
    },
  };
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return code === undefined ? error.message : `${String(code)}: ${error.message}`;
  }
  return String(error);
}
