// The projector as a real process (`bun projector/main.ts`) under faults, fed by a producer writing
// real event records (EventRecordBuilder over real engine output, EngineHarness) to a topic of its
// own, one explicit partition per group:
//   - SIGKILLed while it applies a long stream, then started again: PostgreSQL ends exact.
//   - its PostgreSQL (a PRIVATE instance, scripts/services/postgres.sh with SERVICES_DIR and
//     PG_PORT of this test) stopped for a while and started again, the process running
//     throughout: it retries, catches up and ends exact.
// "Exact": every account equal to the engine's, the open holds too, one order row per (group,
// sequence) and nothing else, each equal to the engine's record, and the applied sequence equal to
// the last one produced. The seed of the workload is printed.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, rmSync } from "node:fs";
import { resolve } from "node:path";
import { Kafka, logLevel, Partitioners, type Admin, type Producer } from "kafkajs";
import postgres from "postgres";
import { HoldState } from "../../schema/hold_state.ts";
import { EventRecordBuilder } from "../../events/encode.ts";
import { mint_token } from "../../auth/dev_keys.ts";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import { EngineHarness, small_limits } from "../engine/harness.ts";
import { each_entry, prng } from "../events/fixtures.ts";
import { free_port, temp_data_dir } from "../../harness/service_process.ts";
import { broker_list, ensure_services, type Services } from "../../harness/services.ts";
import { fresh_schema, SERVICES_TIMEOUT_MS, u64_text } from "./support.ts";

const REPO_ROOT = resolve(import.meta.dir, "..", "..");
const TEST_TIMEOUT_MS = 240_000;
/** A restarted member waits out the killed one's Kafka session (consumer.ts) before it rejoins. */
const CATCH_UP_TIMEOUT_MS = 120_000;
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;
const POLL_INTERVAL_MS = 50;
/** Records per producer send: many small sends, so the stream arrives while the projector works. */
const SEND_CHUNK_RECORDS = 20;
const ORDERS_PER_GROUP = 2_500;
const SEED = Number(process.env.TEST_SEED ?? (Date.now() % 0x7fff_ffff));
const OUTPUT_TAIL_CHARS = 4_000;
/** Stopping a private PostgreSQL and dropping schemas outlasts bun's 5 s hook default. */
const CLEANUP_TIMEOUT_MS = 120_000;

let services: Services;
let admin: Admin;
let producer: Producer;
const run_id = `${process.pid}-${Date.now().toString(36)}`;
const topics: string[] = [];
const TOPIC_KNOWN_ATTEMPTS_MAX = 50;
const TOPIC_KNOWN_RETRY_MS = 100;
const processes: ProjectorProcess[] = [];
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  console.log(`process_faults: workload seed ${SEED} (TEST_SEED=${SEED} repeats it)`);
  services = await ensure_services();
  const kafka = new Kafka({
    clientId: "projector-process-faults", brokers: broker_list(services), logLevel: logLevel.NOTHING,
  });
  admin = kafka.admin();
  await admin.connect();
  producer = kafka.producer({
    idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
}, SERVICES_TIMEOUT_MS);

afterAll(async () => {
  for (const projector of processes) projector.kill_now();
  for (const cleanup of cleanups.reverse()) await cleanup().catch((e) => console.error(e));
  await producer?.disconnect();
  await admin?.deleteTopics({ topics }).catch(() => {});
  await admin?.disconnect();
}, CLEANUP_TIMEOUT_MS);

// --- the projector process -----------------------------------------------------------------------

class ProjectorProcess {
  private out = "";
  private err = "";
  readonly exited: Promise<number>;
  port = 0;

  private constructor(readonly proc: Bun.Subprocess<"ignore", "pipe", "pipe">) {
    const collect = async (stream: ReadableStream<Uint8Array>, to: "out" | "err") => {
      const decoder = new TextDecoder();
      for await (const chunk of stream) this[to] += decoder.decode(chunk, { stream: true });
    };
    const streams = Promise.all([collect(proc.stdout, "out"), collect(proc.stderr, "err")]);
    this.exited = proc.exited.then(async (code) => {
      await Promise.race([streams, Bun.sleep(1_000)]);
      return code;
    });
  }

  /** Spawns it and waits until it consumes (migrations applied, group joined). */
  static async start(env: Record<string, string>): Promise<ProjectorProcess> {
    const { DATABASE_SCHEMA: _s, PROJECTOR_PORT: _p, ...inherited } = process.env;
    const proc = Bun.spawn([process.execPath, "projector/main.ts"], {
      cwd: REPO_ROOT, env: { ...inherited, PROJECTOR_HOST: "127.0.0.1", PROJECTOR_PORT: "0", ...env },
      stdin: "ignore", stdout: "pipe", stderr: "pipe",
    });
    const projector = new ProjectorProcess(proc);
    processes.push(projector);
    await wait_until("the projector to consume", START_TIMEOUT_MS,
      async () => projector.stdout().includes("projector: consuming") || !projector.running,
      async () => projector.output());
    const bound = /read API on http:\/\/127\.0\.0\.1:(\d+)/.exec(projector.stdout());
    if (!projector.running || bound === null) {
      throw new Error(`the projector did not start:\n${projector.output()}`);
    }
    projector.port = Number(bound[1]);
    return projector;
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  stdout(): string {
    return this.out;
  }

  output(): string {
    const tail = (text: string) => text.slice(-OUTPUT_TAIL_CHARS);
    return `--- stdout (pid ${this.proc.pid}) ---\n${tail(this.out)}\n` +
      `--- stderr ---\n${tail(this.err)}`;
  }

  kill_now(): void {
    if (this.running) this.proc.kill("SIGKILL");
  }

  /** SIGTERM: the batch in progress commits, then exit; returns the exit code. */
  async stop(): Promise<number> {
    this.proc.kill("SIGTERM");
    const code = await Promise.race([this.exited, Bun.sleep(STOP_TIMEOUT_MS).then(() => null)]);
    if (code === null) {
      this.kill_now();
      throw new Error(`the projector did not stop in ${STOP_TIMEOUT_MS} ms:\n${this.output()}`);
    }
    return code;
  }

  async get(path: string, token: string | null = null): Promise<{ status: number; body: unknown }> {
    const headers: Record<string, string> = token === null ? {} : { authorization: `Bearer ${token}` };
    const response = await fetch(`http://127.0.0.1:${this.port}${path}`, { headers });
    return { status: response.status, body: await response.json() };
  }
}

/** The environment of one test's projector: its own schema, topic, group and DATA_DIR. */
function projector_env(label: string, database_url: string, schema: string, topic: string)
  : Record<string, string> {
  const data_dir = temp_data_dir(`projector-${label}`);
  cleanups.push(async () => rmSync(data_dir, { recursive: true, force: true }));
  return {
    DATABASE_URL: database_url, DATABASE_SCHEMA: schema, KAFKA_BROKERS: services.kafka_brokers,
    EVENTS_TOPIC: topic, PROJECTOR_GROUP_ID: `projector-${label}-${run_id}`, DATA_DIR: data_dir,
  };
}

/** An internal token from the projector's development key (its DATA_DIR). */
async function internal_token(env: Record<string, string>): Promise<string> {
  const minted = await mint_token({
    keys_file: resolve(env.DATA_DIR!, "auth-keys.json"), issuer: "balance-service",
    audience: "balance-service", subject: { internal: true }, ttl_s: 3600,
  });
  return minted.token;
}

// --- engine output and Kafka ---------------------------------------------------------------------

/** Each group's partner: a partner lives in one group. */
function partner_of(group: number): number {
  return group + 1;
}

/** A group's seeded life: credits, refused debits, transfers, holds captured, released or expiring. */
function run_workload(group: number, seed: number): EngineHarness {
  const h = new EngineHarness({ ...small_limits, holds_max: 4_096 }, group);
  const partner = partner_of(group);
  const random = prng(seed);
  const pick = (n: number) => Math.floor(random() * n);
  const accounts = [1n, 2n, 3n, 4n, (1n << 63n) + 9n, (1n << 64n) - 1n];
  for (const account of accounts) h.open(account, { overdraft: 100n, partner });
  const holds: { id: bigint; account: bigint; amount: bigint }[] = [];
  for (let n = 0; n < ORDERS_PER_GROUP; n++) {
    const account = accounts[pick(accounts.length)]!;
    const amount = BigInt(1 + pick(500));
    switch (pick(5)) {
      case 0:
        h.one({ op: Op.credit, partner, account, amount: amount * 2n });
        break;
      case 1: // refused when the funds are not there
        h.one({ op: Op.debit, partner, account, amount });
        break;
      case 2:
        h.one({ op: Op.transfer, partner, account, ref: accounts[pick(accounts.length)]!, amount });
        break;
      case 3: {
        const id = h.next_id();
        h.one({ id, op: Op.hold, partner, account, amount, ref: pick(2) === 0 ? 0n : 40n });
        holds.push({ id, account, amount });
        break;
      }
      default: {
        const hold = holds.splice(pick(holds.length), 1)[0];
        if (hold === undefined) break;
        const op = pick(2) === 0 ? Op.capture : Op.release;
        h.one({ op, partner, account: hold.account, ref: hold.id, amount: hold.amount / 2n });
      }
    }
    if (n % 20 === 19) h.tick(h.now_ms + 25); // some holds expire: engine-made events
  }
  return h;
}

/** The group's journal entries as record values, one entry per record: a long stream. */
function records_of(h: EngineHarness, group: number): Uint8Array[] {
  const builder = new EventRecordBuilder(group, undefined, true);
  const records: Uint8Array[] = [];
  each_entry(h.journal_bytes, (view, offset, header) => {
    expect(builder.append_entry(view, offset, header)).toBe("ok");
    records.push(builder.seal().slice());
    builder.reset();
  });
  return records;
}

/** For each of records_of's records, the last sequence it holds. */
function last_sequences_of(h: EngineHarness): number[] {
  const sequences: number[] = [];
  each_entry(h.journal_bytes, (_view, _offset, header) => {
    sequences.push(header.first_sequence + header.record_count - 1);
  });
  return sequences;
}

async function new_topic(label: string, partitions: number): Promise<string> {
  const topic = `projector-faults-${label}-${run_id}`;
  topics.push(topic);
  const created = await admin.createTopics({
    topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }], waitForLeaders: true,
  });
  expect(created).toBe(true);
  return topic;
}

/** Sends `values[from, to)` to the group's partition in small sends; `after_send` after each. */
async function produce(topic: string, partition: number, values: Uint8Array[], from: number,
  to: number, after_send: (sent_to: number) => Promise<void> = async () => {}): Promise<void> {
  for (let at = from; at < to; at += SEND_CHUNK_RECORDS) {
    const end = Math.min(at + SEND_CHUNK_RECORDS, to);
    const messages = values.slice(at, end).map((value) => ({
      partition, key: `group-${partition}`, value: Buffer.from(value),
    }));
    const sent = await send_once_topic_known(topic, messages);
    expect(sent.map((s) => s.partition)).toEqual([partition]);
    await after_send(end);
  }
}

/**
 * A send, tried again while the broker does not know the new topic yet: createTopics waited for
 * its leaders, but on a loaded machine the producer's first metadata can still predate them.
 */
async function send_once_topic_known(topic: string,
  messages: { partition: number; key: string; value: Buffer }[]) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await producer.send({ topic, acks: -1, messages });
    } catch (error) {
      const unknown = (error as { type?: string }).type === "UNKNOWN_TOPIC_OR_PARTITION";
      if (!unknown || attempt >= TOPIC_KNOWN_ATTEMPTS_MAX) throw error;
      await Bun.sleep(TOPIC_KNOWN_RETRY_MS);
    }
  }
}

// --- waiting and comparing -----------------------------------------------------------------------

async function wait_until(what: string, timeout_ms: number, reached: () => Promise<boolean>,
  describe_now: () => Promise<string>): Promise<void> {
  const deadline = Date.now() + timeout_ms;
  while (!(await reached())) {
    if (Date.now() > deadline) {
      throw new Error(`waited ${timeout_ms} ms for ${what}; ${await describe_now()}`);
    }
    await Bun.sleep(POLL_INTERVAL_MS);
  }
}

/** The group's applied sequence (0 before its first batch). */
async function applied_sequence(sql: postgres.Sql, group: number): Promise<number> {
  const rows = await sql`
    select sequence::float8 as sequence from applied_sequence where group_id = ${group}`;
  return (rows[0]?.sequence as number | undefined) ?? 0;
}

async function wait_for_applied(sql: postgres.Sql, group: number, sequence: number,
  projector: ProjectorProcess): Promise<void> {
  await wait_until(`group ${group} to apply sequence ${sequence}`, CATCH_UP_TIMEOUT_MS,
    async () => (await applied_sequence(sql, group)) >= sequence,
    async () => `applied ${await applied_sequence(sql, group)}\n${projector.output()}`);
}

/** PostgreSQL holds exactly the engine's state for the group, each event once. */
async function expect_exact(sql: postgres.Sql, h: EngineHarness, group: number): Promise<void> {
  const a = h.engine.accounts;
  const id_of = (slot: number) => (BigInt(a.id_hi(slot)) << 32n) | BigInt(a.id_lo(slot));
  const engine_accounts = [];
  for (let slot = 0; slot < a.count; slot++) {
    engine_accounts.push({ account_id: id_of(slot).toString(), state: a.state(slot),
      balance: a.balance_minor(slot), held: a.held_minor(slot), available: a.available_minor(slot) });
  }
  engine_accounts.sort((x, y) => (BigInt(x.account_id) < BigInt(y.account_id) ? -1 : 1));
  const db_accounts = await sql`
    select ${u64_text(sql, "account_id")}, state, balance_minor::float8 as balance, held_minor::float8 as held,
      available_minor::float8 as available
    from accounts where group_id = ${group} order by accounts.account_id`;
  expect([...db_accounts]).toEqual(engine_accounts);

  const holds = h.engine.holds;
  let engine_open_holds = 0;
  holds.for_each_used((slot) => {
    if (holds.state[slot] === HoldState.open) engine_open_holds++;
  });
  const open = await sql`
    select count(*)::int as count from holds where group_id = ${group} and state = ${HoldState.open}`;
  expect(open[0]!.count).toBe(engine_open_holds);

  const engine_orders = h.records().map((record) => ({
    sequence: record.sequence, status: record.status, balance_after: record.balance_after,
    order_id: (record.order.op === Op.expire_hold ? 0n : record.order.id).toString(),
  }));
  const db_orders = await sql`
    select sequence::float8 as sequence, status, balance_after_minor::float8 as balance_after,
      ${u64_text(sql, "order_id")}
    from orders where group_id = ${group} order by sequence`;
  expect(db_orders.length).toBe(h.last_sequence); // the key is (group, sequence): each once
  expect([...db_orders]).toEqual(engine_orders);
  expect(await applied_sequence(sql, group)).toBe(h.last_sequence);
}

// --- tests ---------------------------------------------------------------------------------------

describe("projector process under faults", () => {
  test("SIGKILL while applying a long stream, then a restart: PostgreSQL ends exact", async () => {
    const db = await fresh_schema("faults_kill", false);
    cleanups.push(() => db.drop());
    const topic = await new_topic("kill", 2);
    const groups = [run_workload(0, SEED), run_workload(1, SEED + 1)];
    const records = groups.map((h, group) => records_of(h, group));
    const env = projector_env("kill", services.database_url, db.schema, topic);
    const first = await ProjectorProcess.start(env);

    // The stream arrives while the projector applies it. A third of the way into group 0's
    // records, once the projector is seen applying them, it is killed: the rest is not even sent.
    // A projector that has applied everything sent so far has nothing in flight (waiting for it
    // to apply more would wait for a send that waits for it): one more chunk is sent first.
    const kill_after = Math.floor(records[0]!.length / 3);
    const sent_sequences = last_sequences_of(groups[0]!);
    let at_kill = -1;
    const kill_when_applying = async (sent_to: number) => {
      if (at_kill !== -1 || sent_to < kill_after) return;
      const before = await applied_sequence(db.sql, 0);
      if (before >= sent_sequences[sent_to - 1]!) return;
      await wait_until("the projector to apply more of group 0", CATCH_UP_TIMEOUT_MS,
        async () => (await applied_sequence(db.sql, 0)) > before, async () => first.output());
      first.kill_now();
      expect(await first.exited).not.toBe(0);
      expect(first.proc.signalCode).toBe("SIGKILL");
      at_kill = await applied_sequence(db.sql, 0);
    };
    await Promise.all([
      produce(topic, 0, records[0]!, 0, records[0]!.length, kill_when_applying),
      produce(topic, 1, records[1]!, 0, records[1]!.length),
    ]);
    expect(at_kill).toBeGreaterThan(0);
    expect(at_kill).toBeLessThan(groups[0]!.last_sequence);
    console.log(`process_faults: SIGKILL at group 0's applied sequence ${at_kill} of ` +
      `${groups[0]!.last_sequence}`);

    const second = await ProjectorProcess.start(env);
    for (const [group, h] of groups.entries()) {
      await wait_for_applied(db.sql, group, h.last_sequence, second);
    }
    for (const [group, h] of groups.entries()) await expect_exact(db.sql, h, group);
    // The restarted process serves what it projected.
    const token = await internal_token(env);
    const account = await second.get(`/accounts/${(1n << 64n) - 1n}?partner=${partner_of(1)}`,
      token);
    expect(account.status).toBe(200);
    expect(account.body)
      .toMatchObject({ group: 1, applied_sequence: String(groups[1]!.last_sequence) });
    expect(await second.stop()).toBe(0);
  }, TEST_TIMEOUT_MS);

  test("PostgreSQL stopped and started again under a running projector: it catches up exact",
    async () => {
      const pg = await PrivatePostgres.up();
      cleanups.push(() => pg.remove());
      const schema = "projection";
      const topic = await new_topic("pg", 1);
      const h = run_workload(0, SEED + 2);
      const records = records_of(h, 0);
      const env = projector_env("pg", pg.database_url, schema, topic);
      const projector = await ProjectorProcess.start(env); // it made the schema and its tables
      const sql = postgres(pg.database_url,
        { max: 2, onnotice: () => {}, connect_timeout: 2, connection: { search_path: schema } });
      cleanups.push(() => sql.end({ timeout: 5 }));
      const token = await internal_token(env);

      const half = Math.floor(records.length / 2);
      await produce(topic, 0, records, 0, half);
      await wait_until("the first half applied", CATCH_UP_TIMEOUT_MS,
        async () => (await applied_sequence(sql, 0)) > 0, async () => projector.output());

      await pg.down();
      await produce(topic, 0, records, half, records.length);
      await wait_until("three failed apply attempts", CATCH_UP_TIMEOUT_MS,
        async () => (projector.stdout().match(/apply attempt \d+ failed/g) ?? []).length >= 3,
        async () => projector.output());
      expect(projector.running).toBe(true);
      expect((await projector.get("/healthz")).status).toBe(200);
      const not_ready = await projector.get("/readyz");
      expect(not_ready.status).toBe(503);
      const unavailable = await projector.get(`/accounts/1?partner=${partner_of(0)}`, token);
      expect(unavailable).toMatchObject({ status: 503, body: { error: "not_ready" } });

      const failed = (projector.stdout().match(/apply attempt \d+ failed/g) ?? []).length;
      console.log(`process_faults: ${failed} failed apply attempts while PostgreSQL was down`);
      await pg.up_again();
      await wait_for_applied(sql, 0, h.last_sequence, projector);
      expect(projector.running).toBe(true); // the same process, throughout
      await expect_exact(sql, h, 0);
      expect((await projector.get("/readyz")).status).toBe(200);
      expect(await projector.stop()).toBe(0);
    }, TEST_TIMEOUT_MS);
});

// --- a private PostgreSQL --------------------------------------------------------------------------

/** This test's own PostgreSQL (scripts/services/postgres.sh), never the shared one. */
class PrivatePostgres {
  private constructor(readonly services_dir: string, readonly port: number,
    readonly database_url: string) {}

  static async up(): Promise<PrivatePostgres> {
    const services_dir = temp_data_dir("projector-private-pg");
    // As root the server runs as `postgres`, which must reach the data directory.
    chmodSync(services_dir, 0o755);
    const port = free_port();
    const printed = await PrivatePostgres.script(services_dir, port, "up");
    const url = /DATABASE_URL=(\S+)/.exec(printed)?.[1];
    if (url === undefined) throw new Error(`postgres.sh up printed no DATABASE_URL:\n${printed}`);
    expect(url).toContain(`:${port}/`);
    return new PrivatePostgres(services_dir, port, url);
  }

  private static async script(services_dir: string, port: number, command: string): Promise<string> {
    const { PG_DATA_DIR: _d, DATABASE_URL: _u, ...inherited } = process.env;
    const child = Bun.spawn(["bash", resolve(REPO_ROOT, "scripts/services/postgres.sh"), command], {
      cwd: REPO_ROOT, env: { ...inherited, SERVICES_DIR: services_dir, PG_PORT: String(port) },
      stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: START_TIMEOUT_MS * 5,
    });
    const [stdout, stderr, code] = await Promise.all([
      new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited,
    ]);
    if (code !== 0) throw new Error(`postgres.sh ${command} exited ${code}:\n${stdout}\n${stderr}`);
    return stdout;
  }

  async down(): Promise<void> {
    await PrivatePostgres.script(this.services_dir, this.port, "down");
  }

  async up_again(): Promise<void> {
    await PrivatePostgres.script(this.services_dir, this.port, "up");
  }

  async remove(): Promise<void> {
    await this.down();
    rmSync(this.services_dir, { recursive: true, force: true });
  }
}
