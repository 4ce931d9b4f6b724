// The real PostgreSQL and Kafka that the publisher and projectors will rely on, checked for the
// facts they use (docs/design.md sections 4 and 5): postgres.js (and drizzle-orm over it) runs
// queries in a REPEATABLE READ transaction that sees one snapshot; kafkajs creates a topic with
// explicit partitions, an idempotent producer writes to an explicit partition, and a consumer group
// reads the records back in order from that partition.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql as drizzle_sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/postgres-js";
import { Kafka, logLevel, Partitioners, type Admin, type EachMessagePayload } from "kafkajs";
import postgres from "postgres";
import { broker_list, ensure_services, type Services } from "../../harness/services.ts";

const SERVICES_TIMEOUT_MS = 600_000;
const TEST_TIMEOUT_MS = 60_000;
const TOPIC_PARTITIONS = 4;
const TARGET_PARTITION = 2;
const BATCH_COUNT = 5;
const BATCH_RECORDS = 20;
const RECORD_COUNT = BATCH_COUNT * BATCH_RECORDS;
const CONSUME_TIMEOUT_MS = 30_000;

let services: Services;
const run_id = `${process.pid}_${Date.now().toString(36)}`;

beforeAll(async () => {
  services = await ensure_services();
}, SERVICES_TIMEOUT_MS);

describe("PostgreSQL", () => {
  let sql: postgres.Sql;
  const table = `services_test_${run_id}`;

  beforeAll(async () => {
    sql = postgres(services.database_url, { max: 4, onnotice: () => {} });
    await sql`create table ${sql(table)} (id integer primary key, amount_minor bigint not null)`;
    await sql`insert into ${sql(table)} values (1, 100), (2, 250)`;
  });

  afterAll(async () => {
    await sql`drop table if exists ${sql(table)}`;
    await sql.end({ timeout: 5 });
  });

  test("postgres.js runs queries in a REPEATABLE READ transaction that sees one snapshot", async () => {
    const other = postgres(services.database_url, { max: 1 });
    try {
      const seen = await sql.begin("isolation level repeatable read", async (tx) => {
        const [level] = await tx`show transaction_isolation`;
        const [before] = await tx`select sum(amount_minor)::text as total from ${tx(table)}`;
        // Committed by another connection after this transaction's snapshot was taken.
        await other`insert into ${other(table)} values (3, 1000)`;
        const [after] = await tx`select sum(amount_minor)::text as total from ${tx(table)}`;
        return { level: level?.transaction_isolation, before: before?.total, after: after?.total };
      });
      expect(seen).toEqual({ level: "repeatable read", before: "350", after: "350" });
      const [now] = await sql`select sum(amount_minor)::text as total from ${sql(table)}`;
      expect(now?.total).toBe("1350");
    } finally {
      await other.end({ timeout: 5 });
    }
  }, TEST_TIMEOUT_MS);

  test("drizzle-orm runs over the same postgres.js client", async () => {
    const db = drizzle(sql);
    const rows = await db.execute<{ answer: number }>(drizzle_sql`select 41 + 1 as answer`);
    expect(rows[0]?.answer).toBe(42);
  }, TEST_TIMEOUT_MS);
});

describe("Kafka", () => {
  let kafka: Kafka;
  let admin: Admin;
  const topic = `services-test-${run_id}`;

  beforeAll(async () => {
    kafka = new Kafka({
      clientId: "balance-services-test",
      brokers: broker_list(services),
      logLevel: logLevel.WARN,
    });
    admin = kafka.admin();
    await admin.connect();
  });

  afterAll(async () => {
    await admin.deleteTopics({ topics: [topic] }).catch(() => {});
    await admin.disconnect();
  });

  test("a topic is created with explicit partitions", async () => {
    const created = await admin.createTopics({
      topics: [{ topic, numPartitions: TOPIC_PARTITIONS, replicationFactor: 1 }],
      waitForLeaders: true,
    });
    expect(created).toBe(true);
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
    const partitions = metadata.topics[0]?.partitions.map((p) => p.partitionId).sort();
    expect(partitions).toEqual([0, 1, 2, 3]);
  }, TEST_TIMEOUT_MS);

  test("an idempotent producer writes to an explicit partition; a group reads it in order", async () => {
    const producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await producer.connect();
    try {
      for (let batch = 0; batch < BATCH_COUNT; batch++) {
        const messages = [];
        for (let i = 0; i < BATCH_RECORDS; i++) {
          const sequence = batch * BATCH_RECORDS + i;
          messages.push({ partition: TARGET_PARTITION, key: `group-${TARGET_PARTITION}`, value: `${sequence}` });
        }
        const results = await producer.send({ topic, acks: -1, messages });
        expect(results.map((r) => r.partition)).toEqual([TARGET_PARTITION]);
        expect(results[0]?.baseOffset).toBe(`${batch * BATCH_RECORDS}`);
      }
    } finally {
      await producer.disconnect();
    }

    const group_id = `services-test-group-${run_id}`;
    const received = await consume(kafka, topic, group_id, RECORD_COUNT);
    expect(received.map((r) => r.partition)).toEqual(Array(RECORD_COUNT).fill(TARGET_PARTITION));
    expect(received.map((r) => r.value)).toEqual([...Array(RECORD_COUNT).keys()].map(String));
    expect(received.map((r) => r.offset)).toEqual([...Array(RECORD_COUNT).keys()].map(String));

    const committed = await admin.fetchOffsets({ groupId: group_id, topics: [topic] });
    const target = committed[0]?.partitions.find((p) => p.partition === TARGET_PARTITION);
    expect(target?.offset).toBe(`${RECORD_COUNT}`);
  }, TEST_TIMEOUT_MS);
});

interface Received {
  partition: number;
  offset: string;
  value: string;
}

/** Reads `count` records with a new consumer group from the beginning, then leaves the group. */
async function consume(kafka: Kafka, topic: string, group_id: string, count: number): Promise<Received[]> {
  const consumer = kafka.consumer({ groupId: group_id });
  const received: Received[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${received.length} of ${count} records in ${CONSUME_TIMEOUT_MS} ms`)),
        CONSUME_TIMEOUT_MS,
      );
      consumer
        .run({
          eachMessage: async ({ partition, message }: EachMessagePayload) => {
            received.push({ partition, offset: message.offset, value: message.value?.toString() ?? "" });
            if (received.length < count) return;
            clearTimeout(timer);
            resolve();
          },
        })
        .catch(reject);
    });
    await done;
  } finally {
    await consumer.disconnect();
  }
  return received;
}
