// bun run loadgen [flags] (loadgen/options.ts; docs/loadgen.md). Set-up, load, clean-up, end
// check; the summary on stdout (or one JSON line with --json), the progress bar on stderr. Exit
// code: 0 when the end check passed or was skipped, 1 when it failed or was inconclusive, 2 on a
// usage or set-up error.

import type { WireFormat } from "./json_wire.ts";
import { Mode } from "../schema/generated/balance/wire/mode.ts";
import { LoadJob, SAMPLE_INTERVAL_MS } from "./load.ts";
import { USAGE, UsageError, parse_options, type Options } from "./options.ts";
import {
  SetupError, end_check, release_pooled_holds, set_up, type CheckReport,
} from "./phases.ts";
import { Pool } from "./pool.ts";
import { RoutedPool } from "./routed_pool.ts";
import { Progress } from "./progress.ts";
import { summary_json, summary_text } from "./report.ts";
import { resolve_tokens } from "./tokens.ts";
import { Workload } from "./workload.ts";

// Set-up, clean-up and the end check run on their own connections (internal token).
const ADMIN_HTTP_CONNECTIONS = 16;
const ADMIN_TCP_IN_FLIGHT = 64;
const FINAL_SAMPLE_MS_MIN = 100; // a last partial interval shorter than this is not a rate sample

function log(options: Options, text: string): void {
  if (!options.json) process.stderr.write(`${text}\n`);
}

/** One service's pool, or a cluster's (--seeds). */
type Runner = Pool | RoutedPool;

function scheme(options: Options): string {
  if (options.transport === "tcp") return options.tls === null ? "tcp" : "tls";
  return options.tls === null ? "http" : "https";
}

export async function run(options: Options): Promise<number> {
  const tokens = await resolve_tokens(options, process.env);
  const port = options.transport === "tcp" ? options.tcp_port : options.http_port;
  const target = options.seeds !== null
    ? `cluster ${options.tls === null ? "tcp" : "tls"}://${options.seeds.join(",")}`
    : `${scheme(options)}://${options.host}:${port}`;
  const workload = new Workload({
    partners: options.partners, accounts_per_partner: options.accounts_per_partner,
    first_partner: options.first_partner, skew: options.skew, mix: options.mix,
    currency: options.currency, seed: options.seed,
  });
  const open_runner = (token: string | null, connections: number, in_flight: number,
    format: WireFormat = "flatbuffers"): Promise<Runner> => options.seeds === null
    ? Pool.open(options.transport, { host: options.host, port, token, tls: options.tls },
      connections, in_flight,
      options.request_timeout_ms, format)
    : RoutedPool.open({ seeds: options.seeds, token, tls: options.tls, connections, in_flight,
      request_timeout_ms: options.request_timeout_ms }, workload);
  // Set-up, clean-up and the end check use the internal token (opening accounts is
  // administration), on connections of their own, opened for each (an idle connection would be
  // closed by the service while the load runs).
  const open_admin = () => open_runner(tokens.internal,
    options.transport === "tcp" ? Math.min(options.connections, 4) : ADMIN_HTTP_CONNECTIONS,
    options.transport === "tcp" ? ADMIN_TCP_IN_FLIGHT : 1);
  log(options, `loadgen: ${target}; set-up of ${workload.account_count} accounts ` +
    `(token: ${tokens.source})`);
  const admin = await open_admin();
  const setup = await set_up(admin, workload, options.opening_balance);
  admin.close();
  log(options, `set-up: ${setup.opened} opened, ${setup.credited} credited, ` +
    `${setup.existing} already there`);

  const pool = await open_runner(tokens.load, options.connections, options.in_flight,
    options.format);
  if (pool instanceof RoutedPool) {
    log(options, `cluster: primaries ${pool.primaries().join(", ")}`);
  }
  const in_flight = pool.connections[0]!.in_flight_max;
  const load = new LoadJob(options.mode, workload, options);
  const progress = new Progress(options.progress && process.stderr.isTTY === true,
    options.requests, options.duration_ms);
  load.start(performance.now());
  const sampler = setInterval(() => {
    const now_ms = performance.now();
    const rate = load.sample(now_ms);
    progress.draw(load.requests_answered + load.requests_refused, now_ms - load.started_ms, rate);
  }, SAMPLE_INTERVAL_MS);
  try {
    await pool.run(load);
  } finally {
    clearInterval(sampler);
  }
  const end_ms = performance.now();
  const last_sample_ms = load.started_ms + load.request_rates.length * SAMPLE_INTERVAL_MS;
  if (end_ms - last_sample_ms >= FINAL_SAMPLE_MS_MIN) load.sample(end_ms);
  progress.draw(load.requests_answered + load.requests_refused, end_ms - load.started_ms,
    load.order_rates.at(-1) ?? 0);
  progress.end();

  const closing = await open_admin();
  const check = await finish(options, closing, workload);
  const facts = {
    options, target, workload, load, check,
    connections: pool.connections.length, in_flight,
    bytes_sent: sum(pool, (c) => c.bytes_sent), bytes_received: sum(pool, (c) => c.bytes_received),
    replies: merged_replies(pool), token_source: tokens.source,
    lost_connections: pool.lost_connections,
    resends: pool instanceof RoutedPool ? pool.resends : undefined,
  };
  pool.close();
  closing.close();
  console.log(options.json ? summary_json(facts) : summary_text(facts));
  return check.verdict === "pass" || check.verdict === "skipped" ? 0 : 1;
}

async function finish(options: Options, admin: Runner, workload: Workload): Promise<CheckReport> {
  const released = await release_pooled_holds(admin, workload);
  if (released > 0) log(options, `clean-up: ${released} pooled holds released`);
  if (!options.check) {
    return { verdict: "skipped", accounts_checked: 0, mismatches: 0, listed: [],
      note: "--no-check" };
  }
  if (options.mode === Mode.accepted) {
    return { verdict: "skipped", accounts_checked: 0, mismatches: 0, listed: [],
      note: "accepted mode answers pending only: no final results to check against" };
  }
  return end_check(admin, workload);
}

function sum(pool: Runner, field: (c: Pool["connections"][number]) => number): number {
  return pool.connections.reduce((total, c) => total + field(c), 0);
}

function merged_replies(pool: Runner): Map<string, number> {
  const merged = new Map<string, number>();
  for (const c of pool.connections) {
    for (const [key, n] of c.reply_counts) merged.set(key, (merged.get(key) ?? 0) + n);
  }
  return merged;
}

async function main(): Promise<void> {
  let options: Options | "help";
  try {
    options = parse_options(process.argv.slice(2), process.env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`loadgen: ${error.message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (options === "help") {
    console.log(USAGE);
    return;
  }
  try {
    process.exitCode = await run(options);
  } catch (error) {
    if (error instanceof SetupError) {
      console.error(`loadgen: set-up failed: ${error.message}`);
      process.exit(2);
    }
    console.error(`loadgen: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(2);
  }
  process.exit();
}

if (import.meta.main) await main();
