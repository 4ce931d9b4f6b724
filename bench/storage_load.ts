// `bun run bench:load [--json] [--accounts=N] [--orders=N] [--unprojected=N]`: how long a node
// with no local state takes to load its groups from PostgreSQL + Kafka (docs/load-from-storage.md).
//
// Set-up, with the real services (started like the tests' when DATABASE_URL / KAFKA_BROKERS are
// not set): a service with its publisher opens --accounts accounts from a seed file and takes
// --orders orders; a projector applies all of it into a fresh schema and stops; --unprojected more
// orders reach Kafka only. The service stops. Measured: load_groups_from_storage into an empty
// directory, as a node's start-up runs it (PostgreSQL read, Kafka replay, snapshot written).

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { assert } from "../common/assert.ts";
import { NodeFileLayer } from "../journal/file_layer.ts";
import { start_projector } from "../projector/consumer.ts";
import { load_groups_from_storage } from "../storage_load/load.ts";
import { fresh_schema } from "../harness/database.ts";
import { ServiceProcess } from "../harness/service_process.ts";
import { ensure_services } from "../harness/services.ts";
import { durable_sequences } from "../harness/metrics.ts";
import {
  load_orders, open_accounts, PIPELINE_GROUPS, PIPELINE_SERVICE_ENV,
} from "./pipeline_load.ts";

const PARTNER_FIRST = 41; // bench/pipeline_load.ts pins partner 41 + g to group g
const EUR = 978;
const POLL_MS = 50;
const WAIT_MS_MAX = 300_000;

interface Options {
  json: boolean;
  accounts: number;
  orders: number;
  unprojected: number;
}

function parse_options(argv: string[]): Options {
  const options: Options = { json: false, accounts: 100_000, orders: 200_000, unprojected: 50_000 };
  for (const arg of argv) {
    const [name, value] = arg.split("=");
    if (name === "--json") options.json = true;
    else if (name === "--accounts") options.accounts = Number(value);
    else if (name === "--orders") options.orders = Number(value);
    else if (name === "--unprojected") options.unprojected = Number(value);
    else throw new Error(`unknown option ${arg}: --json --accounts=N --orders=N --unprojected=N`);
  }
  for (const n of [options.accounts, options.orders, options.unprojected]) {
    assert(Number.isSafeInteger(n) && n >= 1_000, "sizes are integers of at least 1000");
  }
  return options;
}

function seed_file(accounts: number): string {
  const lines = ["account,partner,kind,currency,overdraft_limit,balance"];
  for (let i = 0; i < accounts; i++) {
    const partner = PARTNER_FIRST + (i % PIPELINE_GROUPS);
    lines.push(`${1_000_000 + i},${partner},user,${EUR},0,${1 + (i % 997)}`);
  }
  const path = join(mkdtempSync(join(os.tmpdir(), "bench-load-seed-")), "seed.csv");
  writeFileSync(path, `${lines.join("\n")}\n`);
  return path;
}

async function main(): Promise<void> {
  const options = parse_options(process.argv.slice(2));
  const say = (line: string) => options.json || console.log(line);
  const services = await ensure_services();
  const db = await fresh_schema("bench_load");
  const topic = `bench-load-${process.pid}-${Date.now().toString(36)}`;
  const env: Record<string, string> = { ...PIPELINE_SERVICE_ENV,
    KAFKA_BROKERS: services.kafka_brokers, EVENTS_TOPIC: topic,
    ACCOUNTS_PER_GROUP: String(2 * Math.ceil(options.accounts / PIPELINE_GROUPS) + 1024),
    SEED_FILE: seed_file(options.accounts) };
  say(`seeding ${options.accounts} accounts, then ${options.orders} orders...`);
  const service = await ServiceProcess.start({ env, ready_timeout_ms: WAIT_MS_MAX });
  const load_dir = mkdtempSync(join(os.tmpdir(), "bench-load-"));
  try {
    await open_accounts(service.base_url);
    await load_orders(service.base_url, options.orders);
    const projected = await durable_sequences(service.base_url, PIPELINE_GROUPS);
    const applied = new Array<number>(PIPELINE_GROUPS).fill(0);
    const projector = await start_projector({ kafka_brokers: services.kafka_brokers,
      database_url: services.database_url, topic, group_id: `${topic}-projector`,
      search_path: db.schema, log: () => {},
      on_applied: (batch) => { applied[batch.partition] = batch.result.sequence; } });
    say("projecting...");
    const started = performance.now();
    while (!projected.every((s, g) => applied[g]! >= s)) {
      assert(performance.now() - started < WAIT_MS_MAX, "the projector catches up in time");
      await Bun.sleep(POLL_MS);
    }
    await projector.stop();
    say(`${options.unprojected} more orders, to Kafka only...`);
    await load_orders(service.base_url, options.unprojected);
    const last = await durable_sequences(service.base_url, PIPELINE_GROUPS);
    assert(await service.stop() === 0, "the service stopped cleanly");

    say("loading from storage into an empty data directory...");
    const t0 = performance.now();
    const loads = await load_groups_from_storage({
      files: new NodeFileLayer(), data_dir: load_dir,
      groups: Array.from({ length: PIPELINE_GROUPS }, (_, g) => g),
      limits: { accounts_max: Number(env.ACCOUNTS_PER_GROUP), holds_max: 1 << 18,
        idempotency_entries_max: Number(env.IDEMPOTENCY_ENTRIES_PER_GROUP),
        idempotency_window_ms: Number(env.IDEMPOTENCY_WINDOW_MS) },
      database_url: services.database_url, database_schema: db.schema,
      kafka_brokers: services.kafka_brokers, topic, log: () => {},
    });
    const load_ms = performance.now() - t0;
    assert(loads.every((l, g) => l.last_sequence === last[g]), "every group loaded to its end");
    report(options, loads, load_ms);
  } finally {
    service.kill_now();
    service.remove_data();
    rmSync(load_dir, { recursive: true, force: true });
    await db.drop();
  }
}

function report(options: Options, loads: Awaited<ReturnType<typeof load_groups_from_storage>>,
  load_ms: number): void {
  const sum = (f: (l: (typeof loads)[number]) => number) => loads.reduce((a, l) => a + f(l), 0);
  const cpus = os.cpus();
  const result = {
    load_ms: Math.round(load_ms),
    groups: loads.length,
    accounts: options.accounts,
    stored_events: sum((l) => l.stored_sequence),
    replayed_events: sum((l) => l.replayed_events),
    remembered_events: sum((l) => l.remembered_events),
    group_load_ms_max: Math.round(Math.max(...loads.map((l) => l.duration_ms))),
    cpu_count: cpus.length,
    cpu_model: cpus[0]?.model ?? "unknown",
    bun: Bun.version,
  };
  if (options.json) {
    console.log(JSON.stringify(result));
    return;
  }
  console.log(`  loaded ${result.groups} groups in ${result.load_ms} ms: ` +
    `${result.accounts} accounts and the state after ${result.stored_events} events from ` +
    `PostgreSQL, ${result.replayed_events} ` +
    `events replayed from Kafka, ${result.remembered_events} read back for the window ` +
    `(slowest group ${result.group_load_ms_max} ms)`);
  console.log(`  machine: ${result.cpu_count} x ${result.cpu_model}, Bun ${result.bun}`);
}

if (import.meta.main) {
  try {
    await main();
    process.exit(0);
  } catch (error) {
    console.error(error);
    process.exit(1);
  }
}
