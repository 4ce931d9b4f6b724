// bun run bench:pipeline [--json] [--orders=N] [--lag-orders=N]
//
// The event pipeline behind the engines, with the real PostgreSQL and Kafka (DATABASE_URL and
// KAFKA_BROKERS when set, otherwise this checkout's private instances, started or reused by
// scripts/services/up.sh through harness/services.ts):
//   publish_events_per_sec  the publisher shipping a journal backlog of --orders committed orders
//                           (loaded with the publisher off) to a fresh topic, from the producer's
//                           connection to the last ack (the start and connection reported apart);
//   project_events_per_sec  the projector applying that topic into a fresh schema;
//   lag_after_load_ms       service + publisher + projector: after a load of --lag-orders orders
//                           ends, the ms until PostgreSQL's applied sequence reaches every group's
//                           last sequence.
// Goals: publish 1,000,000 events/s, project 200,000 events/s. Bounded: the defaults take about a
// minute on the 2-core machine; each stage gives up after 2 minutes. Topics and schemas it makes
// are its own (named with the process id and time) and are dropped or left small.

import * as os from "node:os";
import { assert } from "../common/assert.ts";
import { ensure_services } from "../harness/services.ts";
import { measure_lag, measure_project, measure_publish, prepare_journal } from "./pipeline_stages.ts";

const PUBLISH_GOAL_EVENTS_PER_SEC = 1_000_000;
const PROJECT_GOAL_EVENTS_PER_SEC = 200_000;

interface Options {
  json: boolean;
  orders: number;
  lag_orders: number;
}

function parse_options(argv: string[]): Options {
  const options: Options = { json: false, orders: 400_000, lag_orders: 100_000 };
  for (const arg of argv) {
    if (arg === "--json") options.json = true;
    else if (arg.startsWith("--orders=")) options.orders = Number(arg.slice(9));
    else if (arg.startsWith("--lag-orders=")) options.lag_orders = Number(arg.slice(13));
    else throw new Error(`unknown argument ${arg} (--json, --orders=N, --lag-orders=N)`);
  }
  assert(Number.isInteger(options.orders) && options.orders >= 1_000, "--orders: at least 1000");
  assert(Number.isInteger(options.lag_orders) && options.lag_orders >= 1_000,
    "--lag-orders: at least 1000");
  return options;
}

function progress(json: boolean, line: string): void {
  if (!json) console.log(line);
}

async function main(): Promise<void> {
  const options = parse_options(process.argv.slice(2));
  const services = await ensure_services();
  const run = `${process.pid}-${Date.now().toString(36)}`;
  progress(options.json, `loading a journal of ${options.orders} orders (publisher off)...`);
  const { service, load } = await prepare_journal(options.orders);
  try {
    const topic = `bench-pipeline-${run}`;
    const publish = await measure_publish(services, service.data_dir, topic, load.last_sequences);
    progress(options.json, `publish: ${publish.events} events in ${publish.seconds.toFixed(3)} s`);
    const project = await measure_project(services, topic, load.last_sequences);
    progress(options.json, `project: ${project.events} events in ${project.seconds.toFixed(3)} s`);
    const lag = await measure_lag(services, `bench-pipeline-lag-${run}`, options.lag_orders);
    report(options, { publish, project, lag, load_orders_per_sec: load.orders / load.seconds });
  } finally {
    service.remove_data();
  }
}

function report(options: Options, r: {
  publish: Awaited<ReturnType<typeof measure_publish>>;
  project: Awaited<ReturnType<typeof measure_project>>;
  lag: Awaited<ReturnType<typeof measure_lag>>;
  load_orders_per_sec: number;
}): void {
  const cpus = os.cpus();
  const result = {
    publish_events_per_sec: Math.round(r.publish.events_per_sec),
    project_events_per_sec: Math.round(r.project.events_per_sec),
    lag_after_load_ms: Math.round(r.lag.lag_after_load_ms),
    publish_events: r.publish.events,
    publish_start_and_connect_ms: r.publish.start_and_connect_ms,
    project_events: r.project.events,
    lag_orders: r.lag.orders,
    lag_load_orders_per_sec: Math.round(r.lag.orders / r.lag.load_seconds),
    journal_load_orders_per_sec: Math.round(r.load_orders_per_sec),
    cpu_count: cpus.length,
    cpu_model: cpus[0]?.model ?? "unknown",
    memory_bytes: os.totalmem(),
    bun: Bun.version,
  };
  if (options.json) {
    console.log(JSON.stringify(result));
    return;
  }
  const goal = (value: number, target: number) => value >= target ? "met" : "MISSED";
  console.log(`  publish: ${result.publish_events_per_sec.toLocaleString("en")} events/s ` +
    `(${result.publish_events} events; goal ${PUBLISH_GOAL_EVENTS_PER_SEC.toLocaleString("en")}: ` +
    `${goal(result.publish_events_per_sec, PUBLISH_GOAL_EVENTS_PER_SEC)}; from the producer's ` +
    `connection, which took ${result.publish_start_and_connect_ms} ms after the worker started)`);
  console.log(`  project: ${result.project_events_per_sec.toLocaleString("en")} events/s ` +
    `(${result.project_events} events; goal ${PROJECT_GOAL_EVENTS_PER_SEC.toLocaleString("en")}: ` +
    `${goal(result.project_events_per_sec, PROJECT_GOAL_EVENTS_PER_SEC)})`);
  console.log(`  lag after load: ${result.lag_after_load_ms} ms (${result.lag_orders} orders at ` +
    `${result.lag_load_orders_per_sec.toLocaleString("en")} orders/s through service, publisher, ` +
    `projector)`);
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
