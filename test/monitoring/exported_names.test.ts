// Every metric name an alert (monitoring/prometheus/alerts.yml) or a dashboard panel
// (monitoring/grafana/balance-service.json) queries is one the real processes export:
//   - a single node on its embedded defaults (server/main.ts, no Kafka, no PostgreSQL:
//     harness/service_process.ts),
//   - a two-node cluster with a publisher (harness/cluster_process.ts, KAFKA_BROKERS and a topic
//     of this test's own): the replication, leadership, takeover and publisher families,
//   - the projector (projector/main.ts) on that topic and a fresh schema: its /metrics.
// Names are read out of the PromQL by test/monitoring/promql_names.ts (a documented identifier
// scan); names with a colon must be recorded by a rule of alerts.yml instead.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import { resolve } from "node:path";
import { Kafka, logLevel } from "kafkajs";
import { ClusterProcesses, open_cluster_plane } from "../../harness/cluster_process.ts";
import { fresh_schema, type TestDatabase } from "../../harness/database.ts";
import { free_port, ServiceProcess, temp_data_dir } from "../../harness/service_process.ts";
import { ensure_services } from "../../harness/services.ts";
import { MONITORING_DIR } from "./promtool.ts";
import {
  exported_names, metric_names, recorded_names, rule_expressions,
} from "./promql_names.ts";
import { dashboard_queries } from "./dashboard.ts";

const REPO_ROOT = resolve(import.meta.dir, "../..");
const SERVICES_TIMEOUT_MS = 600_000;
const PROJECTOR_START_MS_MAX = 60_000;
const POLL_MS = 100;

const ALERTS_TEXT = readFileSync(resolve(MONITORING_DIR, "prometheus/alerts.yml"), "utf8");
const DASHBOARD_TEXT = readFileSync(resolve(MONITORING_DIR, "grafana/balance-service.json"),
  "utf8");

let single: ServiceProcess | null = null;
let cluster: ClusterProcesses | null = null;
let projector: Bun.Subprocess<"ignore", "pipe", "pipe"> | null = null;
let projector_dir: string | null = null;
let db: TestDatabase | null = null;
const exported = new Set<string>();

async function scrape(base_url: string): Promise<string> {
  const response = await fetch(`${base_url}/metrics`);
  expect(response.status).toBe(200);
  return response.text();
}

async function create_topic(kafka_brokers: string, topic: string): Promise<void> {
  const kafka = new Kafka({ clientId: "monitoring-test", brokers: kafka_brokers.split(","),
    logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }],
    waitForLeaders: true });
  await admin.disconnect();
}

/** The projector as a process; resolves with its read API's base URL once it consumes. */
async function start_projector(env: Record<string, string>): Promise<string> {
  const { DATABASE_SCHEMA: _s, PROJECTOR_PORT: _p, ...inherited } = process.env;
  const proc = Bun.spawn([process.execPath, "projector/main.ts"], {
    cwd: REPO_ROOT, stdin: "ignore", stdout: "pipe", stderr: "pipe",
    env: { ...inherited, PROJECTOR_HOST: "127.0.0.1", PROJECTOR_PORT: "0", ...env },
  });
  projector = proc;
  let out = "";
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) out += new TextDecoder().decode(chunk);
  };
  void collect(proc.stdout);
  void collect(proc.stderr);
  const deadline = performance.now() + PROJECTOR_START_MS_MAX;
  while (!out.includes("projector: consuming") && proc.exitCode === null &&
    performance.now() < deadline) {
    await Bun.sleep(POLL_MS);
  }
  const bound = /read API on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
  if (!out.includes("projector: consuming") || bound === null) {
    throw new Error(`the projector did not start:\n${out}`);
  }
  return bound[1]!;
}

beforeAll(async () => {
  single = await ServiceProcess.start();
  for (const name of exported_names(await scrape(single.base_url))) exported.add(name);

  const services = await ensure_services();
  const topic = `monitoring-${process.pid}-${Date.now().toString(36)}`;
  await create_topic(services.kafka_brokers, topic);
  const plane = await open_cluster_plane("monitoring");
  cluster = new ClusterProcesses(plane, { nodes: 2, groups: 1, replicas: 2, lease_ms: 1_000,
    group_map: "7:0", env: { KAFKA_BROKERS: services.kafka_brokers, EVENTS_TOPIC: topic } },
  "monitoring");
  await cluster.launch();
  await cluster.wait_in_sync(0);
  for (const id of cluster.ids()) {
    for (const name of exported_names(await scrape(cluster.node(id).base_url))) exported.add(name);
  }

  db = await fresh_schema("monitoring", false);
  projector_dir = temp_data_dir("balance-monitoring-projector");
  const projector_url = await start_projector({ DATABASE_URL: services.database_url,
    KAFKA_BROKERS: services.kafka_brokers, EVENTS_TOPIC: topic, DATABASE_SCHEMA: db.schema,
    PROJECTOR_GROUP_ID: `${topic}-projector`, DATA_DIR: projector_dir });
  for (const name of exported_names(await scrape(projector_url))) exported.add(name);
}, SERVICES_TIMEOUT_MS);

afterAll(async () => {
  projector?.kill("SIGKILL");
  await projector?.exited;
  await single?.stop();
  await cluster?.stop();
  await db?.drop();
  if (projector_dir !== null) rmSync(projector_dir, { recursive: true, force: true });
});

/** Each query's names that are neither exported nor recorded, by where they are used. */
function unknown_names(queries: { name: string; expr: string }[]): string[] {
  const recorded = new Set(recorded_names(ALERTS_TEXT));
  const missing: string[] = [];
  for (const { name, expr } of queries) {
    for (const metric of metric_names(expr)) {
      const known = metric.includes(":") ? recorded.has(metric) : exported.has(metric);
      if (!known) missing.push(`${name}: ${metric}`);
    }
  }
  return missing;
}

describe("metric names in alerts and dashboard panels exist in what the service exports", () => {
  test("the scrapes found the families of every kind of process", () => {
    for (const name of ["balance_orders_total", "balance_journal_fsync_seconds_bucket",
      "balance_replication_lag_entries", "balance_takeovers_total",
      "balance_publisher_lag_events", "balance_projector_applied_sequence",
      "balance_data_dir_available_bytes"]) {
      expect(exported.has(name)).toBe(true);
    }
  });

  test("every alert and recording rule's names", () => {
    const rules = rule_expressions(ALERTS_TEXT);
    expect(rules.every(({ expr }) => metric_names(expr).length > 0)).toBe(true);
    expect(unknown_names(rules)).toEqual([]);
  });

  test("every dashboard panel query's and template variable's names", () => {
    const queries = dashboard_queries(JSON.parse(DASHBOARD_TEXT));
    expect(queries.length).toBeGreaterThanOrEqual(15);
    expect(queries.every(({ expr }) => metric_names(expr).length > 0)).toBe(true);
    expect(unknown_names(queries)).toEqual([]);
  });

  test("a name the service does not export is found (the check can fail)", () => {
    expect(unknown_names([{ name: "made up", expr: "rate(balance_no_such_total[5m])" }]))
      .toEqual(["made up: balance_no_such_total"]);
  });
});
