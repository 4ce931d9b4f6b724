// The projector's Kafka consumer against the real Kafka and PostgreSQL: records built with
// EventRecordBuilder from real engine output (EngineHarness) are produced to a fresh topic, one
// explicit partition per group; the consumer projects them and PostgreSQL must equal the engine
// (every account, the open holds, one order row per event, the applied sequence). Then the same
// records are delivered again (duplicates, and a new consumer group from the beginning) and
// nothing changes; a consumer stopped mid-stream and started again ends exact; a record that does
// not decode stops the projector loudly; a failing apply is retried uncommitted until it succeeds.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Kafka, logLevel, Partitioners, type Admin, type Producer } from "kafkajs";
import type postgres from "postgres";
import { crc32 } from "../../events/crc32.ts";
import { decode_event_record } from "../../events/decode.ts";
import {
  CRC32_START_OFFSET, EVENT_BALANCE_AFTER_OFFSET, event_offset, HEADER_CRC32_OFFSET,
  HEADER_EPOCH_OFFSET,
} from "../../events/event_layout.ts";
import { EventFenceError } from "../../projector/fence.ts";
import { EventRecordBuilder } from "../../events/encode.ts";
import { HoldState } from "../../schema/hold_state.ts";
import {
  ProjectorFatalError, start_projector, type AppliedBatch, type Projector, type ProjectorOptions,
} from "../../projector/consumer.ts";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import { EngineHarness, small_limits } from "../engine/harness.ts";
import { each_entry, prng, run_scenario } from "../events/fixtures.ts";
import { broker_list, ensure_services, type Services } from "../../harness/services.ts";
import {
  applied_row, fresh_schema, SERVICES_TIMEOUT_MS, u64_text, type TestDatabase,
} from "./support.ts";

const TEST_TIMEOUT_MS = 120_000;
/** The longest a test waits for the projector to reach a sequence or an offset. */
const CATCH_UP_TIMEOUT_MS = 45_000;
const POLL_INTERVAL_MS = 50;
const SEND_CHUNK_RECORDS = 50;

let services: Services;
let kafka: Kafka;
let admin: Admin;
let producer: Producer;
let db: TestDatabase;
const run_id = `${process.pid}-${Date.now().toString(36)}`;
const topics: string[] = [];
const running: Projector[] = [];

beforeAll(async () => {
  services = await ensure_services();
  kafka = new Kafka({
    clientId: "balance-projector-test", brokers: broker_list(services), logLevel: logLevel.NOTHING,
  });
  admin = kafka.admin();
  await admin.connect();
  producer = kafka.producer({
    idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  db = await fresh_schema("consumer");
}, SERVICES_TIMEOUT_MS);

afterAll(async () => {
  for (const projector of running) await projector.stop().catch(() => {});
  await producer.disconnect();
  await admin.deleteTopics({ topics }).catch(() => {});
  await admin.disconnect();
  await db.drop();
});

// --- engine output -------------------------------------------------------------------------------

/** A group's random but seeded life: credits, debits, transfers, holds settled or expiring. */
function run_workload(group: number, order_count: number, seed: number): EngineHarness {
  const h = new EngineHarness(small_limits, group);
  const random = prng(seed);
  const pick = (n: number) => Math.floor(random() * n);
  const accounts = [1n, 2n, 3n, 4n, 5n, (1n << 64n) - 1n];
  for (const account of accounts) h.open(account, { overdraft: 100n });
  const holds: { id: bigint; account: bigint; amount: bigint }[] = [];
  for (let n = 0; n < order_count; n++) {
    const account = accounts[pick(accounts.length)]!;
    switch (pick(6)) {
      case 0:
        h.one({ op: Op.credit, account, amount: BigInt(1 + pick(1_000)) });
        break;
      case 1: // refused when the funds are not there
        h.one({ op: Op.debit, account, amount: BigInt(1 + pick(500)) });
        break;
      case 2:
        h.one({ op: Op.transfer, account, ref: accounts[pick(accounts.length)]!,
          amount: BigInt(1 + pick(300)) });
        break;
      case 3: {
        const id = h.next_id();
        const amount = BigInt(1 + pick(200));
        // Some expire on a later tick, some never do.
        h.one({ id, op: Op.hold, account, amount, ref: pick(2) === 0 ? 0n : 40n });
        holds.push({ id, account, amount });
        break;
      }
      case 4: {
        if (holds.length === 0) break;
        const hold = holds.splice(pick(holds.length), 1)[0]!;
        if (pick(2) === 0) {
          h.one({ op: Op.capture, account: hold.account, ref: hold.id, amount: hold.amount / 2n });
        } else {
          h.one({ op: Op.release, account: hold.account, ref: hold.id });
        }
        break;
      }
      default:
        h.batch([
          { op: Op.credit, account, amount: 7n },
          { op: Op.debit, account, amount: 3n },
          { op: Op.check, account, amount: 1n },
        ]);
    }
    if (n % 20 === 19) h.tick(h.now_ms + 25);
  }
  return h;
}

/** The group's journal entries as record values, `entries_per_record` whole entries each. */
function records_of(h: EngineHarness, group: number, entries_per_record: number): Uint8Array[] {
  const builder = new EventRecordBuilder(group, undefined, true);
  const records: Uint8Array[] = [];
  let entries = 0;
  const seal = () => {
    records.push(builder.seal().slice());
    builder.reset();
    entries = 0;
  };
  each_entry(h.journal_bytes, (view, offset, header) => {
    let result = builder.append_entry(view, offset, header);
    if (result !== "ok") {
      seal();
      result = builder.append_entry(view, offset, header);
    }
    expect(result).toBe("ok");
    if (++entries === entries_per_record) seal();
  });
  if (builder.event_count > 0) seal();
  return records;
}

/** A copy of `record` as written at `epoch`: the header's epoch changed, the CRC made again. */
function at_epoch(record: Uint8Array, epoch: number): Uint8Array {
  const copy = record.slice();
  new DataView(copy.buffer).setUint32(HEADER_EPOCH_OFFSET, epoch, true);
  return seal_again(copy);
}

/** A copy of `record` whose first event's balance after is one more: another event, well formed. */
function with_other_content(record: Uint8Array): Uint8Array {
  const copy = record.slice();
  const view = new DataView(copy.buffer);
  const at = event_offset(0) + EVENT_BALANCE_AFTER_OFFSET;
  view.setBigInt64(at, view.getBigInt64(at, true) + 1n, true);
  return seal_again(copy);
}

function seal_again(record: Uint8Array): Uint8Array {
  new DataView(record.buffer).setUint32(HEADER_CRC32_OFFSET,
    crc32(record.subarray(CRC32_START_OFFSET)), true);
  expect(decode_event_record(record).ok).toBe(true);
  return record;
}

function first_sequence_of(record: Uint8Array): number {
  const decoded = decode_event_record(record);
  if (!decoded.ok) throw new Error(`a test record does not decode: ${decoded.error}`);
  return decoded.record.header.first_sequence;
}

// --- Kafka ---------------------------------------------------------------------------------------

async function new_topic(label: string, partitions: number): Promise<string> {
  const topic = `projector-${label}-${run_id}`;
  topics.push(topic);
  const created = await admin.createTopics({
    topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }], waitForLeaders: true,
  });
  expect(created).toBe(true);
  return topic;
}

async function produce(topic: string, partition: number, values: Uint8Array[]): Promise<void> {
  for (let at = 0; at < values.length; at += SEND_CHUNK_RECORDS) {
    const messages = values.slice(at, at + SEND_CHUNK_RECORDS).map((value) => ({
      partition, key: `group-${partition}`, value: Buffer.from(value),
    }));
    const sent = await producer.send({ topic, acks: -1, messages });
    expect(sent.map((s) => s.partition)).toEqual([partition]);
  }
}

async function start(topic: string, group_id: string, extra: Partial<ProjectorOptions> = {},
  schema = db.schema): Promise<Projector> {
  const projector = await start_projector({
    kafka_brokers: services.kafka_brokers, database_url: services.database_url, topic, group_id,
    search_path: schema, log: () => {}, ...extra,
  });
  running.push(projector);
  return projector;
}

async function stop(projector: Projector): Promise<void> {
  await projector.stop();
  running.splice(running.indexOf(projector), 1);
}

// --- waiting and comparing -----------------------------------------------------------------------

async function wait_until(what: string, reached: () => Promise<boolean>,
  describe_now: () => Promise<string>): Promise<void> {
  const deadline = Date.now() + CATCH_UP_TIMEOUT_MS;
  while (!(await reached())) {
    if (Date.now() > deadline) {
      throw new Error(`waited ${CATCH_UP_TIMEOUT_MS} ms for ${what}; now ${await describe_now()}`);
    }
    await Bun.sleep(POLL_INTERVAL_MS);
  }
}

async function applied_sequence(sql: postgres.Sql, group: number): Promise<number> {
  return (await applied_row(sql, group).catch(() => undefined))?.sequence ?? 0;
}

async function wait_for_applied(group: number, sequence: number, sql = db.sql): Promise<void> {
  await wait_until(`group ${group} to apply sequence ${sequence}`,
    async () => (await applied_sequence(sql, group)) >= sequence,
    async () => `applied ${await applied_sequence(sql, group)}`);
  expect(await applied_sequence(sql, group)).toBe(sequence);
}

/** Waits until `group_id` has committed every partition of `topic` up to its end. */
async function wait_for_committed_end(topic: string, group_id: string): Promise<void> {
  const state = async () => {
    const ends = await admin.fetchTopicOffsets(topic);
    const committed = await admin.fetchOffsets({ groupId: group_id, topics: [topic] });
    const partitions = committed[0]?.partitions ?? [];
    return ends.map((end) => ({
      partition: end.partition, end: end.high,
      committed: partitions.find((p) => p.partition === end.partition)?.offset ?? "-1",
    }));
  };
  await wait_until(`group ${group_id} to commit ${topic} to its end`,
    async () => (await state()).every((p) => p.end === "0" || p.committed === p.end),
    async () => JSON.stringify(await state()));
}

/**
 * Holds `group`'s applied_sequence row from another session until released: a projector's apply
 * of the group waits meanwhile.
 */
async function hold_applied_row(group: number): Promise<{ release: () => Promise<void> }> {
  await db.sql`
    insert into applied_sequence (group_id, sequence, epoch) values (${group}, 0, 0)
    on conflict (group_id) do nothing`;
  let release_row: () => void = () => {};
  const released = new Promise<void>((resolve) => {
    release_row = resolve;
  });
  let held: () => void = () => {};
  const holding = new Promise<void>((resolve) => {
    held = resolve;
  });
  const holder = db.sql.begin(async (tx) => {
    await tx`select 1 from applied_sequence where group_id = ${group} for update`;
    held();
    await released;
  });
  await holding;
  return {
    release: async () => {
      release_row();
      await holder;
    },
  };
}

async function wait_for_held_apply(): Promise<void> {
  await wait_until("a projector's apply to wait for the held row",
    async () => (await applies_waiting()) > 0, async () => `${await applies_waiting()} waiting`);
}

/** Sessions waiting for an applied_sequence row's lock: projector applies held back. */
async function applies_waiting(): Promise<number> {
  return (await db.sql`
    select 1 from pg_stat_activity
    where datname = current_database() and wait_event_type = 'Lock'
      and query ilike '%from applied_sequence%for update%'`).length;
}

/**
 * Waits until the projector stops itself (answers its error) or `group_id` commits the topic to
 * its end (answers null: the projector took everything).
 */
async function stopped_or_caught_up(projector: Projector, topic: string,
  group_id: string): Promise<unknown> {
  let stopped: unknown = null;
  projector.done.catch((error: unknown) => {
    stopped = error;
  });
  let caught_up = false;
  await wait_until("the projector to stop or catch up",
    async () => {
      if (stopped !== null) return true;
      const ends = await admin.fetchTopicOffsets(topic);
      const committed = await admin.fetchOffsets({ groupId: group_id, topics: [topic] });
      const partitions = committed[0]?.partitions ?? [];
      caught_up = ends.every((end) => end.high === "0" ||
        partitions.find((p) => p.partition === end.partition)?.offset === end.high);
      return caught_up;
    },
    async () => "neither");
  if (stopped !== null) running.splice(running.indexOf(projector), 1);
  return stopped;
}

/** The fence's refusal that stopped the projector, as the test reads it. */
function fence_of(error: unknown): Record<string, unknown> {
  expect(error).toBeInstanceOf(ProjectorFatalError);
  const cause = (error as ProjectorFatalError).cause;
  expect(cause).toBeInstanceOf(EventFenceError);
  const fence = cause as EventFenceError;
  expect((error as Error).message).toContain(`group ${fence.group} sequence ${fence.sequence}`);
  return { refusal: fence.refusal, group: fence.group, sequence: fence.sequence,
    held_epoch: fence.held_epoch, event_epoch: fence.event_epoch };
}

/** PostgreSQL must hold exactly the engine's state for the group. */
async function expect_matches_engine(h: EngineHarness, group: number, sql = db.sql,
  epoch = 1): Promise<void> {
  const engine = h.engine;
  const a = engine.accounts;
  const id_of = (slot: number) => (BigInt(a.id_hi(slot)) << 32n) | BigInt(a.id_lo(slot));
  const engine_accounts = [];
  for (let slot = 0; slot < a.count; slot++) {
    engine_accounts.push({
      account_id: id_of(slot).toString(), partner: a.partner(slot), kind: a.kind(slot),
      currency: a.currency(slot), state: a.state(slot), overdraft: a.overdraft_limit_minor(slot),
      balance: a.balance_minor(slot), held: a.held_minor(slot), available: a.available_minor(slot),
    });
  }
  const db_accounts = await sql`
    select ${u64_text(sql, "account_id")}, partner::float8 as partner, kind, currency, state,
      overdraft_limit_minor::float8 as overdraft, balance_minor::float8 as balance,
      held_minor::float8 as held, available_minor::float8 as available
    from accounts where group_id = ${group} order by accounts.account_id`;
  const by_id = (x: { account_id: string }, y: { account_id: string }) =>
    BigInt(x.account_id) < BigInt(y.account_id) ? -1 : 1;
  expect([...db_accounts]).toEqual(engine_accounts.sort(by_id));

  const holds = engine.holds;
  const engine_holds: { hold_id: string; account_id: string; amount: number; expires: number | null }[] = [];
  holds.for_each_used((slot) => {
    if (holds.state[slot] !== HoldState.open) return;
    engine_holds.push({
      hold_id: ((BigInt(holds.id_hi[slot]!) << 32n) | BigInt(holds.id_lo[slot]!)).toString(),
      account_id: id_of(holds.account_slot[slot]!).toString(),
      amount: holds.amount_minor[slot]!,
      expires: holds.expires_at_ms[slot]! === 0 ? null : holds.expires_at_ms[slot]!,
    });
  });
  const db_holds = await sql`
    select ${u64_text(sql, "hold_id")}, ${u64_text(sql, "account_id")},
      amount_minor::float8 as amount,
      expires_at_ms::float8 as expires
    from holds where group_id = ${group} and state = ${HoldState.open} order by holds.hold_id`;
  const by_hold = (x: { hold_id: string }, y: { hold_id: string }) =>
    BigInt(x.hold_id) < BigInt(y.hold_id) ? -1 : 1;
  expect([...db_holds]).toEqual(engine_holds.sort(by_hold));

  const engine_orders = h.records().map((record) => ({
    sequence: record.sequence,
    order_id: (record.order.op === Op.expire_hold ? 0n : record.order.id).toString(),
    account_id: record.order.account.toString(),
    op: record.order.op,
    status: record.status,
    balance_after: record.balance_after,
    held_after: record.held_after,
  }));
  const db_orders = await sql`
    select sequence::float8 as sequence, ${u64_text(sql, "order_id")},
      ${u64_text(sql, "account_id")}, op, status,
      balance_after_minor::float8 as balance_after, held_after_minor::float8 as held_after
    from orders where group_id = ${group} order by sequence`;
  expect([...db_orders]).toEqual(engine_orders);

  expect(engine_orders.length).toBe(h.last_sequence);
  expect(await applied_row(sql, group)).toEqual({ sequence: h.last_sequence, epoch });
}

/** Everything the projector wrote for the groups, but the timestamps of when it wrote it. */
async function snapshot(groups: number[]): Promise<string> {
  const accounts = await db.sql`
    select group_id, account_id::text, partner, kind, currency, state, overdraft_limit_minor,
      balance_minor, held_minor, available_minor, last_sequence
    from accounts where group_id in ${db.sql(groups)} order by group_id, account_id`;
  const holds = await db.sql`
    select * from holds where group_id in ${db.sql(groups)} order by group_id, hold_id`;
  const orders = await db.sql`
    select group_id, sequence, epoch, engine_time_ms, partner, order_id::text, account_id::text, op,
      status, amount_minor::text, ref::text, currency, balance_after_minor, held_after_minor,
      counter_balance_after_minor
    from orders where group_id in ${db.sql(groups)} order by group_id, sequence`;
  const applied = await db.sql`
    select group_id, sequence, epoch from applied_sequence
    where group_id in ${db.sql(groups)} order by group_id`;
  return JSON.stringify({ accounts, holds, orders, applied });
}

// --- tests ---------------------------------------------------------------------------------------

describe("projector consumer", () => {
  test("projects two groups from their partitions; delivered again, nothing changes", async () => {
    const topic = await new_topic("exact", 2);
    const group0 = run_scenario(); // group 0: every op, refusals, an expiry
    const group1 = run_workload(1, 400, 0x5eed_0001);
    const records0 = records_of(group0, 0, 3);
    const records1 = records_of(group1, 1, 5);
    expect(records1.length).toBeGreaterThan(20);
    await produce(topic, 0, records0);
    await produce(topic, 1, records1);

    const group_id = `projector-exact-${run_id}`;
    const projector = await start(topic, group_id);
    await wait_for_applied(0, group0.last_sequence);
    await wait_for_applied(1, group1.last_sequence);
    await wait_for_committed_end(topic, group_id);
    await expect_matches_engine(group0, 0);
    await expect_matches_engine(group1, 1);
    const before = await snapshot([0, 1]);

    // A producer's retries: records again, to the same partitions, read by the same group.
    const applied: AppliedBatch[] = [];
    await stop(projector);
    await produce(topic, 0, records0);
    await produce(topic, 1, records1.slice(3)); // from the middle, overlapping what it applied
    const again = await start(topic, group_id, { on_applied: (batch) => applied.push(batch) });
    await wait_for_committed_end(topic, group_id);
    expect(applied.reduce((n, batch) => n + batch.result.applied_count, 0)).toBe(0);
    expect(applied.reduce((n, batch) => n + batch.result.skipped_count, 0)).toBeGreaterThan(0);
    await stop(again);
    expect(await snapshot([0, 1])).toBe(before);

    // Offsets reset: a new consumer group reads both partitions from the beginning.
    const replay_group = `projector-exact-replay-${run_id}`;
    const replay = await start(topic, replay_group);
    await wait_for_committed_end(topic, replay_group);
    await stop(replay);
    expect(await snapshot([0, 1])).toBe(before);
    await expect_matches_engine(group0, 0);
    await expect_matches_engine(group1, 1);
  }, TEST_TIMEOUT_MS);

  test("stopped mid-stream and started again, it ends exact", async () => {
    const topic = await new_topic("restart", 4);
    const group2 = run_workload(2, 600, 0x5eed_0002);
    const group3 = run_workload(3, 300, 0x5eed_0003);
    const records2 = records_of(group2, 2, 1);
    const records3 = records_of(group3, 3, 2);
    await produce(topic, 2, records2);
    await produce(topic, 3, records3.slice(0, records3.length >> 1));

    // Small fetches, so the stream comes in many batches; stop right after the first one.
    const group_id = `projector-restart-${run_id}`;
    let first: (batch: AppliedBatch) => void = () => {};
    const first_batch = new Promise<AppliedBatch>((resolve) => {
      first = resolve;
    });
    const projector = await start(topic, group_id, {
      max_bytes_per_partition: 4_096, on_applied: (batch) => first(batch),
    });
    const batch = await first_batch;
    await stop(projector); // the batch in progress, if any, finishes and commits
    const stopped2 = await applied_sequence(db.sql, 2);
    const stopped3 = await applied_sequence(db.sql, 3);
    expect(batch.result.applied_count).toBeGreaterThan(0);
    expect(stopped2 < group2.last_sequence || stopped3 < group3.last_sequence).toBe(true);

    // While it is down, the rest of group 3 arrives; it starts again where it committed.
    await produce(topic, 3, records3.slice(records3.length >> 1));
    const resumed = await start(topic, group_id, { max_bytes_per_partition: 16_384 });
    await wait_for_applied(2, group2.last_sequence);
    await wait_for_applied(3, group3.last_sequence);
    await wait_for_committed_end(topic, group_id);
    await stop(resumed);
    await expect_matches_engine(group2, 2);
    await expect_matches_engine(group3, 3);
  }, TEST_TIMEOUT_MS);

  test("while a batch's apply waits nothing is committed past it; released, the group ends exact",
    async () => {
      const topic = await new_topic("held", 9);
      const group8 = run_workload(8, 400, 0x5eed_0009);
      await produce(topic, 8, records_of(group8, 8, 1));
      const row = await hold_applied_row(8); // the projector's first apply of group 8 waits
      const group_id = `projector-held-${run_id}`;
      let projector: Projector | null = null;
      try { // released however this part ends: a failed expect must not leave the row held
        projector = await start(topic, group_id, { max_bytes_per_partition: 4_096 });
        await wait_for_held_apply();
        // The handler resolved the batch's offset so that kafkajs fetches the next ones meanwhile;
        // the committed offset stays where the applied sequence is: at nothing.
        await Bun.sleep(500);
        expect(await applies_waiting()).toBe(1);
        const committed = await admin.fetchOffsets({ groupId: group_id, topics: [topic] });
        expect(committed[0]?.partitions.find((p) => p.partition === 8)?.offset).toBe("-1");
      } finally {
        await row.release();
      }
      await wait_for_applied(8, group8.last_sequence);
      await wait_for_committed_end(topic, group_id);
      await stop(projector!);
      await expect_matches_engine(group8, 8);
    }, TEST_TIMEOUT_MS);

  test("a second projector joins while an apply is held back: the groups end exact", async () => {
    const groups = [9, 10, 11, 12];
    const topic = await new_topic("rebalance", 13);
    const harnesses = groups.map((group) => run_workload(group, 300, 0x5eed_0010 + group));
    for (const [i, group] of groups.entries()) {
      await produce(topic, group, records_of(harnesses[i]!, group, 1));
    }
    const group_id = `projector-rebalance-${run_id}`;
    const row = await hold_applied_row(9);
    try {
      await start(topic, group_id, { max_bytes_per_partition: 4_096 });
      await wait_for_held_apply();
      // The second one joins the consumer group while that apply (and its partition's next batch,
      // decoded, in a handler waiting for it) are in flight. The group rebalances at once: the
      // second may be given group 9 and apply the same batch, waiting for the row too; both
      // applies then take the row in turn, and the later one skips what the first applied.
      await start(topic, group_id, { max_bytes_per_partition: 4_096 });
      await Bun.sleep(500);
      expect(await applies_waiting()).toBeGreaterThanOrEqual(1);
      expect(await applied_sequence(db.sql, 9)).toBe(0);
    } finally {
      await row.release();
    }
    const members = async () => {
      const described = await admin.describeGroups([group_id]);
      const group = described.groups[0];
      return group?.state === "Stable" ? group.members.length : 0;
    };
    await wait_until("both projectors in the consumer group", async () => (await members()) === 2,
      async () => `${await members()} members`);
    for (const [i, group] of groups.entries()) {
      await wait_for_applied(group, harnesses[i]!.last_sequence);
    }
    await wait_for_committed_end(topic, group_id);
    for (const projector of [...running]) await stop(projector);
    for (const [i, group] of groups.entries()) await expect_matches_engine(harnesses[i]!, group);
  }, TEST_TIMEOUT_MS);

  test("a record that does not decode stops the projector with its partition and offset", async () => {
    const topic = await new_topic("poison", 5);
    const group4 = run_workload(4, 60, 0x5eed_0004);
    const records = records_of(group4, 4, 1);
    const good = records.slice(0, 10);
    const last_good = decode_event_record(good[9]!);
    expect(last_good.ok).toBe(true);
    const corrupt = records[10]!.slice();
    corrupt[100] = corrupt[100]! ^ 0xff; // inside the first event: the CRC no longer matches
    await produce(topic, 4, [...good, corrupt, ...records.slice(11)]);

    const group_id = `projector-poison-${run_id}`;
    const projector = await start(topic, group_id);
    const error = await projector.done.then(() => null, (e: unknown) => e);
    running.splice(running.indexOf(projector), 1);
    expect(error).toBeInstanceOf(ProjectorFatalError);
    const fatal = error as ProjectorFatalError;
    expect({ partition: fatal.partition, offset: fatal.offset }).toEqual({ partition: 4, offset: "10" });
    expect(fatal.message).toContain("bad_crc");
    // Nothing of the poisoned batch is applied or committed (it may hold the good records too).
    const applied = await applied_sequence(db.sql, 4);
    expect(applied).toBeLessThanOrEqual(last_good.ok ? last_good.record.header.last_sequence : 0);
    const committed = await admin.fetchOffsets({ groupId: group_id, topics: [topic] });
    const offset = committed[0]?.partitions.find((p) => p.partition === 4)?.offset ?? "-1";
    expect(Number(offset)).toBeLessThanOrEqual(10);
  }, TEST_TIMEOUT_MS);

  test("a failing apply is retried, uncommitted, until PostgreSQL takes it", async () => {
    // A schema without the tables yet: every apply fails in PostgreSQL, as when it is down.
    const bare = await fresh_schema("consumer_retry", false);
    try {
      const topic = await new_topic("retry", 1);
      const group0 = run_workload(0, 80, 0x5eed_0005);
      await produce(topic, 0, records_of(group0, 0, 4));
      const lines: string[] = [];
      const group_id = `projector-retry-${run_id}`;
      const projector = await start(topic, group_id,
        { log: (line) => lines.push(line), retry_delay_first_ms: 20, retry_delay_max_ms: 200 },
        bare.schema);
      await wait_until("three failed attempts", async () => lines.length >= 3,
        async () => `${lines.length} lines`);
      expect(lines[0]).toContain("retrying in 20 ms, uncommitted");
      const committed = await admin.fetchOffsets({ groupId: group_id, topics: [topic] });
      expect(committed[0]?.partitions[0]?.offset).toBe("-1");
      await bare.migrate(); // PostgreSQL can take it again
      await wait_for_applied(0, group0.last_sequence, bare.sql);
      await wait_for_committed_end(topic, group_id);
      await stop(projector);
      await expect_matches_engine(group0, 0, bare.sql);
    } finally {
      await bare.drop();
    }
  }, TEST_TIMEOUT_MS);

  test("stop() ends every partition's retry wait, not only the last one's", async () => {
    // Every apply fails (no tables), and a retry waits longer than this test may last: stop()
    // returns only if it ends both partitions' waits.
    const bare = await fresh_schema("consumer_stop_waits", false);
    try {
      const topic = await new_topic("stop-waits", 2);
      await produce(topic, 0, records_of(run_workload(0, 40, 0x5eed_000a), 0, 4));
      await produce(topic, 1, records_of(run_workload(1, 40, 0x5eed_000b), 1, 4));
      const lines: string[] = [];
      const projector = await start(topic, `projector-stop-waits-${run_id}`,
        { log: (line) => lines.push(line), retry_delay_first_ms: 10 * TEST_TIMEOUT_MS,
          retry_delay_max_ms: 10 * TEST_TIMEOUT_MS },
        bare.schema);
      const waiting = (partition: number) =>
        lines.some((line) => line.startsWith(`projector: partition ${partition} `) &&
          line.includes("retrying in"));
      await wait_until("both partitions waiting to retry", async () => waiting(0) && waiting(1),
        async () => JSON.stringify(lines));
      await stop(projector);
      expect(lines.filter((line) => line.includes("attempt 1 failed"))).toHaveLength(2);
      expect(lines.some((line) => line.includes("attempt 2"))).toBe(false);
    } finally {
      await bare.drop();
    }
  }, TEST_TIMEOUT_MS);

  test("fence: the same events published again by a new primary change nothing", async () => {
    const topic = await new_topic("fence-same", 8);
    const group5 = run_workload(5, 120, 0x5eed_0006);
    const records = records_of(group5, 5, 2);
    const half = records.length >> 1;
    const old_primary = records.slice(0, half);
    // The new primary (epoch 2) publishes again what it found committed, chunked its own way
    // (one entry per record), then its own events; in the same fetch as the old ones.
    const again = records_of(group5, 5, 1).filter((r) => first_sequence_of(r) <=
      first_sequence_of(records[half]!) - 1).slice(-7);
    const new_primary = records.slice(half).map((record) => at_epoch(record, 2));
    await produce(topic, 5, [...old_primary, ...again, ...new_primary, ...new_primary.slice(2)]);
    const group_id = `projector-fence-same-${run_id}`;
    const projector = await start(topic, group_id);
    expect(await stopped_or_caught_up(projector, topic, group_id)).toBeNull();
    await stop(projector);
    await expect_matches_engine(group5, 5, db.sql, 2);
  }, TEST_TIMEOUT_MS);

  test("fence: another event at an applied sequence stops the projector, nothing applied",
    async () => {
    const topic = await new_topic("fence-other", 8);
    const group6 = run_workload(6, 80, 0x5eed_0007);
    const records = records_of(group6, 6, 2);
    await produce(topic, 6, records);
    const group_id = `projector-fence-other-${run_id}`;
    const projector = await start(topic, group_id);
    await wait_for_applied(6, group6.last_sequence);
    await wait_for_committed_end(topic, group_id);
    const before = await snapshot([6]);
    // A writer at epoch 2 claims sequences epoch 1 wrote and the projection applied.
    const forged = at_epoch(records[3]!, 2);
    await produce(topic, 6, [forged, ...records.slice(4)]);
    const expected = { refusal: "different_event", group: 6,
      sequence: first_sequence_of(forged), held_epoch: 1, event_epoch: 2 };
    expect(fence_of(await stopped_or_caught_up(projector, topic, group_id))).toEqual(expected);
    expect(await snapshot([6])).toBe(before);
    const committed = async () => (await admin.fetchOffsets({ groupId: group_id, topics: [topic] }))
      [0]?.partitions.find((p) => p.partition === 6)?.offset;
    expect(await committed()).toBe(String(records.length));
    // Started again, it meets the same record and stops again: it never skips it.
    const restarted = await start(topic, group_id);
    expect(fence_of(await stopped_or_caught_up(restarted, topic, group_id))).toEqual(expected);
    expect(await snapshot([6])).toBe(before);
    expect(await committed()).toBe(String(records.length));
  }, TEST_TIMEOUT_MS);

  test("fence: an older epoch after a newer one stops the projector, nothing applied", async () => {
    const topic = await new_topic("fence-older", 8);
    const group7 = run_workload(7, 80, 0x5eed_0008);
    const records = records_of(group7, 7, 2);
    const half = records.length >> 1;
    await produce(topic, 7, records.slice(0, half).map((record) => at_epoch(record, 3)));
    const group_id = `projector-fence-older-${run_id}`;
    const projector = await start(topic, group_id);
    await wait_for_applied(7, first_sequence_of(records[half]!) - 1);
    await wait_for_committed_end(topic, group_id);
    const before = await snapshot([7]);
    // A deposed primary (epoch 2) publishes past what epoch 3 wrote.
    await produce(topic, 7, records.slice(half).map((record) => at_epoch(record, 2)));
    expect(fence_of(await stopped_or_caught_up(projector, topic, group_id))).toEqual({
      refusal: "older_epoch", group: 7, sequence: first_sequence_of(records[half]!),
      held_epoch: 3, event_epoch: 2,
    });
    expect(await snapshot([7])).toBe(before);
  }, TEST_TIMEOUT_MS);
});
