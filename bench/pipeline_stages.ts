// The three measurements of bench/pipeline.ts, each with the project's own code and the real
// services:
//   publish: a service loads a journal with no publisher and stops; then the publisher worker
//            (publisher/worker.ts) ships that backlog to a fresh topic: events / (last ack - start).
//   project: the projector (projector/consumer.ts) applies that topic into a fresh schema:
//            events / (applied sequence of every group reached - start).
//   lag:     a service with its publisher and a projector running; after a load ends, the ms until
//            every group's applied sequence reaches the last sequence the load was answered.

import { Kafka, logLevel } from "kafkajs";
import { assert } from "../common/assert.ts";
import type { PublisherWorkerMessage, PublisherWorkerRequest } from "../publisher/worker.ts";
import { start_projector } from "../projector/consumer.ts";
import { fresh_schema } from "../harness/database.ts";
import { ServiceProcess } from "../harness/service_process.ts";
import type { Services } from "../harness/services.ts";
import {
  load_orders, open_accounts, PIPELINE_GROUPS, PIPELINE_SERVICE_ENV, type LoadResult,
} from "./pipeline_load.ts";

const STAGE_TIMEOUT_MS = 120_000;
const POLL_INTERVAL_MS = 5;

export interface StageResult {
  events: number;
  seconds: number;
  events_per_sec: number;
}

export interface PublishResult extends StageResult {
  /** From the worker's start to the producer connected (topic created): paid once per process. */
  start_and_connect_ms: number;
}

function deadline_check(start_ms: number, what: string): void {
  if (performance.now() - start_ms > STAGE_TIMEOUT_MS) {
    throw new Error(`${what} did not finish within ${STAGE_TIMEOUT_MS} ms`);
  }
}

/** A journal of about `orders` committed orders, written by a service without a publisher. */
export async function prepare_journal(orders: number)
  : Promise<{ service: ServiceProcess; load: LoadResult }> {
  const service = await ServiceProcess.start({ env: { ...PIPELINE_SERVICE_ENV } });
  await open_accounts(service.base_url);
  const load = await load_orders(service.base_url, orders);
  const code = await service.stop();
  assert(code === 0, `the service stopped cleanly (exit ${code})`);
  return { service, load };
}

/** The publisher worker over the prepared journal, to `topic`: from init to the last ack. */
export async function measure_publish(services: Services, data_dir: string, topic: string,
  last_sequences: number[]): Promise<PublishResult> {
  const worker = new Worker(new URL("../publisher/worker.ts", import.meta.url).href);
  const groups = last_sequences.map((_, g) =>
    ({ group: g, dir: `${data_dir}/group-${String(g).padStart(4, "0")}`, checkpoint: 0 }));
  let shipped = new Array<number>(PIPELINE_GROUPS).fill(0);
  let last_ack_ms = 0;
  let connected_ms = 0;
  worker.onmessage = (event: MessageEvent<PublisherWorkerMessage>) => {
    shipped = event.data.progress.groups.map((g) => g.shipped_sequence);
    last_ack_ms = event.data.progress.last_ack_ms;
    connected_ms = event.data.progress.connected_ms;
  };
  const start_ms = Date.now();
  const started = performance.now();
  const init: PublisherWorkerRequest = { type: "init", init: { kafka_brokers: services.kafka_brokers,
    topic, partitions: PIPELINE_GROUPS, groups } };
  worker.postMessage(init);
  const durable: PublisherWorkerRequest = { type: "durable",
    groups: last_sequences.map((s, g) => [g, s]) };
  worker.postMessage(durable);
  while (!shipped.every((s, g) => s >= last_sequences[g]!)) {
    deadline_check(started, "publishing the backlog");
    await Bun.sleep(POLL_INTERVAL_MS);
  }
  worker.terminate();
  const events = last_sequences.reduce((a, b) => a + b, 0);
  // Shipping, from the producer's connection to the last ack; the worker's start, the connection
  // and the topic's creation (once per process) are reported apart.
  const seconds = (last_ack_ms - connected_ms) / 1000;
  return { events, seconds, events_per_sec: events / seconds,
    start_and_connect_ms: connected_ms - start_ms };
}

async function wait_for_topic(services: Services, topic: string): Promise<void> {
  const admin = new Kafka({ clientId: "bench-pipeline", brokers: services.kafka_brokers.split(","),
    logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const started = performance.now();
    while (!(await admin.listTopics()).includes(topic)) {
      deadline_check(started, `topic ${topic} to appear`);
      await Bun.sleep(POLL_INTERVAL_MS * 10);
    }
  } finally {
    await admin.disconnect();
  }
}

/** Applied sequences per group, as the projector reports them, and when each target was met. */
class AppliedWatch {
  readonly applied = new Array<number>(PIPELINE_GROUPS).fill(0);
  reached_ms = 0;
  targets: number[] | null = null;

  on_applied(partition: number, sequence: number): void {
    this.applied[partition] = Math.max(this.applied[partition]!, sequence);
    if (this.reached_ms === 0 && this.done()) this.reached_ms = performance.now();
  }

  done(): boolean {
    return this.targets !== null && this.targets.every((t, g) => this.applied[g]! >= t);
  }

  async wait(targets: number[], what: string): Promise<number> {
    this.targets = targets;
    if (this.done() && this.reached_ms === 0) this.reached_ms = performance.now();
    const started = performance.now();
    while (this.reached_ms === 0) {
      deadline_check(started, what);
      await Bun.sleep(POLL_INTERVAL_MS);
    }
    return this.reached_ms;
  }
}

async function projector_into_fresh_schema(services: Services, topic: string, label: string,
  watch: AppliedWatch) {
  const db = await fresh_schema(label);
  const projector = await start_projector({ kafka_brokers: services.kafka_brokers,
    database_url: services.database_url, topic, group_id: `${topic}-${label}`,
    search_path: db.schema, log: () => {},
    on_applied: (batch) => watch.on_applied(batch.partition, batch.result.sequence) });
  return { db, projector };
}

/** The projector over the topic the publish stage filled: from start to every group applied. */
export async function measure_project(services: Services, topic: string,
  last_sequences: number[]): Promise<StageResult> {
  const watch = new AppliedWatch();
  const started = performance.now();
  const { db, projector } = await projector_into_fresh_schema(services, topic, "bench", watch);
  try {
    const reached = await watch.wait(last_sequences, "projecting the topic");
    const events = last_sequences.reduce((a, b) => a + b, 0);
    const seconds = (reached - started) / 1000;
    return { events, seconds, events_per_sec: events / seconds };
  } finally {
    await projector.stop();
    await db.drop();
  }
}

export interface LagResult {
  orders: number;
  load_seconds: number;
  lag_after_load_ms: number;
}

/** A service with its publisher and a projector; the ms from the load's end to all applied. */
export async function measure_lag(services: Services, topic: string, orders: number)
  : Promise<LagResult> {
  const service = await ServiceProcess.start({ env: { ...PIPELINE_SERVICE_ENV,
    KAFKA_BROKERS: services.kafka_brokers, EVENTS_TOPIC: topic } });
  const watch = new AppliedWatch();
  let stage: Awaited<ReturnType<typeof projector_into_fresh_schema>> | null = null;
  try {
    await open_accounts(service.base_url);
    await wait_for_topic(services, topic); // the service's publisher creates it
    stage = await projector_into_fresh_schema(services, topic, "lag", watch);
    const load = await load_orders(service.base_url, orders);
    const load_end = performance.now();
    const reached = await watch.wait(load.last_sequences, "the projection catching up");
    return { orders: load.orders, load_seconds: load.seconds,
      lag_after_load_ms: Math.max(0, reached - load_end) };
  } finally {
    await stage?.projector.stop();
    await stage?.db.drop();
    await service.stop();
    service.remove_data();
  }
}
