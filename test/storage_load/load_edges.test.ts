// Loading from storage, state for state: a real engine runs a scenario with every op (holds
// captured, released and expired, transfers, refusals, a failed chain, a retry and an id conflict);
// its journal becomes event records on a real Kafka topic, and PostgreSQL (a fresh schema) holds
// the projection of the first S events, for several S. The loaded engine must equal the original:
// every account, every hold (closed ones too), every id of the window with its remembered result.
// Kafka missing events is refused, never papered over.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Kafka, logLevel, type Admin, type Producer } from "kafkajs";
import { existsSync } from "node:fs";
import { GroupEngine, window_records } from "../../engine/group_engine.ts";
import { restore_snapshot } from "../../engine/snapshot.ts";
import { decode_event_record, type EventRecord } from "../../events/decode.ts";
import { EventRecordBuilder } from "../../events/encode.ts";
import { NodeFileLayer } from "../../journal/file_layer.ts";
import { read_newest_snapshot } from "../../journal/snapshot_file.ts";
import { apply_batch } from "../../projector/apply.ts";
import { projected_event_of } from "../../projector/event.ts";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import { LoadGapError } from "../../storage_load/group_builder.ts";
import { load_groups_from_storage } from "../../storage_load/load.ts";
import { small_limits } from "../engine/harness.ts";
import { each_entry, run_scenario } from "../events/fixtures.ts";
import { fresh_schema, SERVICES_TIMEOUT_MS, type TestDatabase } from "../projector/support.ts";
import { broker_list, ensure_services, type Services } from "../../harness/services.ts";
import { temp_dir } from "../../harness/temp_dirs.ts";

const GROUP = 0;
const ENTRIES_PER_RECORD = 3;
const run_id = `${process.pid}-${Date.now().toString(36)}`;

let services: Services;
let admin: Admin;
let producer: Producer;
const topics: string[] = [];
const databases: TestDatabase[] = [];

beforeAll(async () => {
  services = await ensure_services();
  const kafka = new Kafka({ clientId: "load-edges-test", brokers: broker_list(services),
    logLevel: logLevel.NOTHING });
  admin = kafka.admin();
  await admin.connect();
  producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
}, SERVICES_TIMEOUT_MS);

afterAll(async () => {
  await producer?.disconnect().catch(() => {});
  await admin?.deleteTopics({ topics }).catch(() => {});
  await admin?.disconnect().catch(() => {});
  for (const database of databases) await database.drop().catch(() => {});
}, 30_000);

const original = run_scenario();
const records = event_records(original.journal_bytes);
const events = records.flatMap((record) =>
  Array.from({ length: record.event_count }, (_, i) => projected_event_of(record, i)));

/** The journal as event record values, a few whole entries each, as the publisher cuts them. */
function event_records(journal: Uint8Array[]): EventRecord[] {
  const builder = new EventRecordBuilder(GROUP, undefined, true);
  const out: EventRecord[] = [];
  let entries = 0;
  const seal = () => {
    const decoded = decode_event_record(builder.seal().slice());
    if (!decoded.ok) throw new Error(`built a record that does not decode: ${decoded.error}`);
    out.push(decoded.record);
    builder.reset();
    entries = 0;
  };
  each_entry(journal, (view, offset, header) => {
    if (builder.append_entry(view, offset, header) !== "ok") {
      seal();
      expect(builder.append_entry(view, offset, header)).toBe("ok");
    }
    if (++entries === ENTRIES_PER_RECORD) seal();
  });
  if (builder.event_count > 0) seal();
  return out;
}

async function topic_with(values: EventRecord[]): Promise<string> {
  const topic = `load-edges-${run_id}-${topics.length}`;
  topics.push(topic);
  await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }],
    waitForLeaders: true });
  const messages = values.map((record) => ({ partition: GROUP, value: Buffer.from(
    new Uint8Array(record.view.buffer, record.view.byteOffset, record.view.byteLength)) }));
  if (messages.length > 0) await producer.send({ topic, acks: -1, messages });
  return topic;
}

/** A fresh schema holding the projection of events 1..stored_sequence. */
async function projected_up_to(stored_sequence: number): Promise<TestDatabase> {
  const database = await fresh_schema("load_edges");
  databases.push(database);
  const stored = events.filter((event) => event.sequence <= stored_sequence);
  if (stored.length > 0) await apply_batch(database.sql, GROUP, stored);
  return database;
}

async function load(topic: string, database: TestDatabase): Promise<GroupEngine> {
  const data_dir = temp_dir("load-edges");
  const files = new NodeFileLayer();
  const lines: string[] = [];
  await load_groups_from_storage({
    files, data_dir, groups: [GROUP], limits: small_limits, database_url: services.database_url,
    database_schema: database.schema, kafka_brokers: services.kafka_brokers, topic,
    log: (line) => lines.push(line),
  });
  const snapshot = read_newest_snapshot(files, `${data_dir}/group-0000`);
  if (snapshot === null) {
    throw new Error(`no snapshot written; the load said:\n${lines.join("\n")}`);
  }
  const engine = new GroupEngine(GROUP, 0, small_limits);
  restore_snapshot(engine, snapshot.bytes);
  return engine;
}

function split_id(id: bigint): [number, number] {
  return [Number(id >> 32n), Number(id & 0xffff_ffffn)];
}

function expect_same_accounts(loaded: GroupEngine, source: GroupEngine): void {
  const a = source.accounts;
  const b = loaded.accounts;
  expect(b.count).toBe(a.count);
  for (let slot = 0; slot < a.count; slot++) {
    const other = b.find(a.partner(slot), a.id_hi(slot), a.id_lo(slot));
    expect(other).not.toBe(-1);
    const figures = (t: typeof a, s: number) => [t.partner(s), t.currency(s), t.kind(s),
      t.state(s), t.balance_minor(s), t.held_minor(s), t.overdraft_limit_minor(s), t.sequence(s),
      t.open_hold_count(s)];
    expect(figures(b, other)).toEqual(figures(a, slot));
  }
}

function expect_same_holds(loaded: GroupEngine, source: GroupEngine): void {
  expect(loaded.holds.used_count).toBe(source.holds.used_count);
  source.holds.for_each_used((slot) => {
    const h = source.holds;
    const other = loaded.holds.find(h.partner[slot]!, h.id_hi[slot]!, h.id_lo[slot]!);
    expect(other).not.toBe(-1);
    const l = loaded.holds;
    const account_id = (e: GroupEngine, s: number) =>
      [e.accounts.id_hi(e.holds.account_slot[s]!), e.accounts.id_lo(e.holds.account_slot[s]!)];
    expect([l.state[other], l.amount_minor[other], l.expires_at_ms[other], l.closed_at_ms[other],
      ...account_id(loaded, other)]).toEqual([h.state[slot], h.amount_minor[slot],
      h.expires_at_ms[slot], h.closed_at_ms[slot], ...account_id(source, slot)]);
  });
}

/**
 * Every id of the stream is in both windows or in neither, with the same remembered result. The
 * remembered `available` of an id the stored state already held is computed with the overdraft
 * limit at S (an event does not carry the limit): it is compared where no set_overdraft of that
 * account came between the id and S.
 */
function expect_same_window(loaded: GroupEngine, source: GroupEngine,
  stored_sequence: number): void {
  let compared = 0;
  for (const event of events) {
    if (event.op === Op.expire_hold || !window_records(event.status)) continue;
    const [hi, lo] = split_id(event.order_id);
    const at = source.window.find(event.partner, hi, lo);
    const other = loaded.window.find(event.partner, hi, lo);
    expect(other === -1).toBe(at === -1);
    if (at === -1) continue;
    const w = source.window;
    const v = loaded.window;
    const remembered = (x: typeof w, i: number) =>
      [x.digest[i], x.partner[i], x.status[i], x.sequence(i), x.balance_minor[i]];
    expect(remembered(v, other)).toEqual(remembered(w, at));
    const limit_changed = events.some((later) => later.op === Op.set_overdraft &&
      later.account === event.account && later.sequence > event.sequence &&
      later.sequence <= stored_sequence);
    if (!limit_changed) expect(v.available_minor[other]).toBe(w.available_minor[at]!);
    compared++;
  }
  expect(compared).toBeGreaterThan(10);
}

describe("loading a group from PostgreSQL + Kafka", () => {
  const last = events.at(-1)!.sequence;
  const middle = Math.floor(last / 2);
  // None projected; mid-record; every event projected.
  for (const stored_sequence of [0, middle, last - 1, last]) {
    test(`PostgreSQL at ${stored_sequence} of ${last}: the loaded engine equals the original`,
      async () => {
      const topic = await topic_with(records);
      const loaded = await load(topic, await projected_up_to(stored_sequence));
      expect(loaded.last_sequence).toBe(original.engine.last_sequence);
      expect(loaded.engine_time_ms).toBe(original.engine.engine_time_ms);
      expect(loaded.epoch).toBe(original.engine.epoch);
      expect_same_accounts(loaded, original.engine);
      expect_same_holds(loaded, original.engine);
      expect_same_window(loaded, original.engine, stored_sequence);
    }, 60_000);
  }

  test("a database no projector has migrated: the partition alone, from its first event",
    async () => {
    const topic = await topic_with(records);
    const unmigrated = await fresh_schema("load_edges", false);
    databases.push(unmigrated);
    const loaded = await load(topic, unmigrated);
    expect(loaded.last_sequence).toBe(original.engine.last_sequence);
    expect_same_accounts(loaded, original.engine);
    expect_same_holds(loaded, original.engine);
    expect_same_window(loaded, original.engine, 0);
  }, 60_000);

  test("a record missing in the middle of the partition is refused", async () => {
    const topic = await topic_with(records.filter((_, i) => i !== 2));
    const attempt = load(topic, await projected_up_to(0));
    await expect(attempt).rejects.toThrow(LoadGapError);
    await expect(attempt).rejects.toThrow(/events jump from \d+ to \d+/);
  }, 60_000);

  test("Kafka starting after what PostgreSQL holds is refused, naming the missing events",
    async () => {
    const stored_sequence = records[0]!.header.last_sequence;
    const topic = await topic_with(records.slice(2));
    const attempt = load(topic, await projected_up_to(stored_sequence));
    const missing_first = stored_sequence + 1;
    const missing_last = records[2]!.header.first_sequence - 1;
    await expect(attempt).rejects
      .toThrow(`events ${missing_first}..${missing_last} are in neither`);
  }, 60_000);

  test("an empty topic and an empty projection are an ordinary first start (no snapshot)",
    async () => {
    const topic = await topic_with([]);
    const data_dir = temp_dir("load-edges");
    const database = await projected_up_to(0);
    const loads = await load_groups_from_storage({
      files: new NodeFileLayer(), data_dir, groups: [GROUP], limits: small_limits,
      database_url: services.database_url, database_schema: database.schema,
      kafka_brokers: services.kafka_brokers, topic, log: () => {},
    });
    expect(loads.map((l) => [l.last_sequence, l.window_complete])).toEqual([[0, true]]);
    expect(existsSync(`${data_dir}/group-0000`)).toBe(false);
  }, 60_000);
});
