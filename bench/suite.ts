// make benchmark (bun run benchmark [--json]): every figure of docs/performance.md in one run, one
// table, with the machine it ran on. Each figure comes from the project's own command, run as a
// child process with --json:
//   the engine alone (bench:engine), recovery (bench:engine --replay), one partner at 1 M orders/s
//   of engine time for longer than the window (bench:engine --partners=1 --rate=1000000);
//   a fresh service on its embedded default (no Kafka or Postgres; every setting at its default,
//   journal fsync on) on 127.0.0.1 with free ports and its own DATA_DIR, loaded by loadgen on the
//   same cores: TCP committed and accepted, HTTP FlatBuffers, HTTP JSON committed and accepted
//   (10 debits per request, as wrk -t2 -c64 sends them), one partner alone over TCP;
//   HTTP JSON committed and accepted under wrk itself (issue 9's measure: scripts/install-wrk.sh
//   fetches Debian's wrk); TCP and HTTP FlatBuffers again over TLS (a certificate made here);
//   the event pipeline (bench:pipeline: the real PostgreSQL and Kafka, started if need be).
// BENCHMARK_SECONDS (default 10) is each load's length; BENCHMARK_PIPELINE=0 leaves the pipeline
// out. BENCHMARK_RUNS (default 1) runs the whole suite that many times, one after another, and
// shows each line's median run with the range of all runs: on a shared machine one run's figure
// can be a third off. Exit 1 when a step failed (its row says so); the table is printed either way.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { median_rows, rate, type Row } from "./suite_rows.ts";
import { wrk_summary } from "./wrk_summary.ts";

const REPO_ROOT = resolve(import.meta.dir, "..");
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 60_000;
const LOAD_SECONDS_DEFAULT = 10;
const RUNS_DEFAULT = 1;
const HTTP_CONNECTIONS = 64;

type Json = Record<string, unknown>;

function free_port(): number {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

/** Runs `command` in the repository, returns its stdout; on failure throws with its output. */
async function run_text(command: string[], env: Record<string, string> = {}): Promise<string> {
  const child = Bun.spawn(command, {
    cwd: REPO_ROOT, stdin: "ignore", stdout: "pipe", stderr: "pipe",
    env: { ...process.env, ...env },
  });
  const [out, err, code] = await Promise.all([new Response(child.stdout).text(),
    new Response(child.stderr).text(), child.exited]);
  if (code !== 0) {
    const tail = (err.trim() || out.trim()).slice(-400);
    throw new Error(`${command.join(" ")}: exit ${code}: ${tail}`);
  }
  return out;
}

/** Runs `bun <args>` in the repository, returns its last stdout line parsed as JSON. */
async function run_json(args: string[], env: Record<string, string> = {}): Promise<Json> {
  const out = await run_text([process.execPath, ...args], env);
  const line = out.trim().split("\n").at(-1) ?? "";
  if (!line.startsWith("{")) {
    throw new Error(`bun ${args.join(" ")}: no JSON line: ${out.trim().slice(-400)}`);
  }
  return JSON.parse(line) as Json;
}

async function wait_ready(base_url: string, service: Bun.Subprocess, ca: string | null)
  : Promise<void> {
  const deadline = performance.now() + READY_TIMEOUT_MS;
  while (performance.now() < deadline) {
    if (service.exitCode !== null) throw new Error(`the service exited (${service.exitCode})`);
    try {
      const response = await fetch(`${base_url}/readyz`, { signal: AbortSignal.timeout(1_000),
        ...(ca === null ? {} : { tls: { ca } }) });
      if (response.status === 200) return;
    } catch {
      // not listening yet
    }
    await Bun.sleep(50);
  }
  throw new Error(`the service was not ready within ${READY_TIMEOUT_MS} ms`);
}

async function stop(service: Bun.Subprocess): Promise<void> {
  if (service.exitCode !== null) return;
  service.kill("SIGTERM");
  const exited = await Promise.race([service.exited, Bun.sleep(STOP_TIMEOUT_MS).then(() => null)]);
  if (exited === null) {
    service.kill("SIGKILL");
    await service.exited;
  }
}

/** Runs one step; a failure becomes its row's text, so the table still prints. */
async function step(rows: Row[], what: string, command: string, must_reach: string, goal: string,
  measure: () => Promise<{ measured: string; value: number }>): Promise<void> {
  process.stderr.write(`benchmark: ${what}...\n`);
  try {
    const { measured, value } = await measure();
    rows.push({ what, command, measured, must_reach, goal, value });
  } catch (error) {
    const failed = error instanceof Error ? error.message : String(error);
    rows.push({ what, command, measured: "FAILED", must_reach, goal, value: null, failed });
  }
}

function statuses_text(json: Json): string {
  const statuses = (json.statuses ?? json.status_mix ?? {}) as Record<string, number>;
  const total = Object.values(statuses).reduce((a, b) => a + b, 0);
  const busy = statuses.busy ?? 0;
  return busy === 0 ? "no busy" : `busy ${((busy / Math.max(1, total)) * 100).toFixed(2)}%`;
}

async function engine_rows(rows: Row[]): Promise<void> {
  await step(rows, "engine alone, 1 thread, idempotency on (W 10 s, 2^24 ids), 1 M accounts",
    "bun run bench:engine", "6 M", "20 M", async () => {
      const json = await run_json(["bench/engine.ts", "--json"]);
      const value = json.orders_per_sec as number;
      const mix = json.status_mix as Record<string, number>;
      const refused = 1 - (mix.ok ?? 0) / Object.values(mix).reduce((a, b) => a + b, 0);
      return { value, measured: `${rate(value)} orders/s (${(refused * 100).toFixed(1)}% refused)` };
    });
  await step(rows, "recovery: replay of a journal", "bun run bench:engine --replay", "6 M", "10 M",
    async () => {
      const json = await run_json(["bench/engine.ts", "--replay", "--json"]);
      const value = json.replay_orders_per_sec as number;
      return { value, measured: `${rate(value)} events/s` };
    });
  await step(rows, "one partner, 1 M orders/s of engine time for 12 s (W 10 s)",
    "bun run bench:engine --partners=1 --rate=1000000 --rounds=12", "no busy", "no busy",
    async () => {
      const json = await run_json(["bench/engine.ts", "--partners=1", "--rate=1000000",
        "--rounds=12", "--json"]);
      const value = json.window_entries as number;
      return { value, measured: `${(value / 1e6).toFixed(1)} M ids held, ${statuses_text(json)}, ` +
        `${json.window_used_bytes_per_live_id} B/id` };
    });
}

interface Load {
  what: string;
  args: string[];
  must_reach: string;
  goal: string;
}

const LOADS: Load[] = [
  { what: "TCP committed, 4 connections x 64 in flight", args: ["--transport", "tcp"],
    must_reach: "1.5 M, p99 <= 10 ms", goal: "2 M" },
  { what: "TCP accepted, 4 x 64", args: ["--transport", "tcp", "--mode", "accepted"],
    must_reach: "> committed", goal: "" },
  { what: `HTTP FlatBuffers committed, ${HTTP_CONNECTIONS} connections`,
    args: ["--transport", "http", "--connections", String(HTTP_CONNECTIONS)],
    must_reach: "500 K", goal: "750 K" },
  { what: `HTTP JSON committed, ${HTTP_CONNECTIONS} connections, 10 debits per request`,
    args: ["--transport", "http", "--format", "json", "--connections", String(HTTP_CONNECTIONS),
      "--batch", "10", "--mix", "debit=1"], must_reach: "220 K", goal: "300 K" },
  { what: "HTTP JSON accepted, the same",
    args: ["--transport", "http", "--format", "json", "--connections", String(HTTP_CONNECTIONS),
      "--batch", "10", "--mix", "debit=1", "--mode", "accepted"],
    must_reach: "> committed", goal: "" },
  { what: "one partner alone, TCP committed", args: ["--transport", "tcp", "--partners", "1"],
    must_reach: "1 M, no busy", goal: "2 M" },
];

// Issue 9's own HTTP JSON measure, on the same service after loadgen's loads: wrk -t2 -c64 with
// bench/wrk/debits.lua (10 debits of 1 minor unit per request, fresh ids). wrk is the one on PATH,
// or Debian's fetched by scripts/install-wrk.sh. Its summary line gives orders/s and latency.
interface WrkLoad {
  what: string;
  mode: "committed" | "accepted";
  must_reach: string;
  goal: string;
}

const WRK_THREADS = 2;
const WRK_LOADS: WrkLoad[] = [
  { what: `HTTP JSON committed, wrk -t${WRK_THREADS} -c${HTTP_CONNECTIONS}, 10 debits per request`,
    mode: "committed", must_reach: "220 K", goal: "300 K" },
  { what: "HTTP JSON accepted, wrk, the same", mode: "accepted", must_reach: "> committed",
    goal: "" },
];

// The same loads over TLS (TLS_CERT_FILE, loadgen --ca): a certificate of a CA made here (openssl).
const TLS_LOADS: Load[] = [
  { what: "TCP committed over TLS, 4 x 64", args: ["--transport", "tcp"],
    must_reach: "", goal: "" },
  { what: `HTTPS FlatBuffers committed, ${HTTP_CONNECTIONS} connections`,
    args: ["--transport", "http", "--connections", String(HTTP_CONNECTIONS)],
    must_reach: "", goal: "" },
];

function openssl(dir: string, args: string[]): void {
  const run = Bun.spawnSync(["openssl", ...args], { cwd: dir, stderr: "pipe" });
  if (run.exitCode !== 0) throw new Error(`openssl ${args[0]}: ${run.stderr.toString().trim()}`);
}

/** A CA and a certificate for 127.0.0.1 in `dir`: the service's env and loadgen's flags. */
function make_certificates(dir: string): { env: Record<string, string>; args: string[] } {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  openssl(dir, ["req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "1",
    "-subj", "/CN=benchmark CA"]);
  openssl(dir, ["req", ...ec, "-keyout", "tls.key", "-out", "tls.csr", "-subj", "/CN=127.0.0.1"]);
  writeFileSync(join(dir, "tls.ext"), "subjectAltName=IP:127.0.0.1\n");
  openssl(dir, ["x509", "-req", "-in", "tls.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
    "-set_serial", "1", "-out", "tls.crt", "-days", "1", "-extfile", "tls.ext"]);
  return { env: { TLS_CERT_FILE: join(dir, "tls.crt"), TLS_KEY_FILE: join(dir, "tls.key") },
    args: ["--ca", join(dir, "ca.crt")] };
}

/** wrk's loads against the running service: its accounts opened, an internal token minted. */
async function wrk_steps(rows: Row[], seconds: number, http_port: number, data_dir: string,
  loadgen_target: string[]): Promise<void> {
  // Made once for both loads, inside the first step: a failure is that row's (and the next's).
  let ready: Promise<{ wrk: string; token: string }> | null = null;
  const prepare = async () => {
    const wrk = (await run_text(["scripts/install-wrk.sh"])).trim();
    await run_json(["loadgen/main.ts", "--transport", "http", "--requests", "1", "--no-check",
      ...loadgen_target]);
    const token = (await run_text([process.execPath, "scripts/token.ts", "--internal"],
      { DATA_DIR: data_dir })).trim();
    return { wrk, token };
  };
  for (const load of WRK_LOADS) {
    const command = `MODE=${load.mode} wrk -t${WRK_THREADS} -c${HTTP_CONNECTIONS} ` +
      "-s bench/wrk/debits.lua (as its head says)";
    await step(rows, load.what, command, load.must_reach, load.goal, async () => {
      const { wrk, token } = await (ready ??= prepare());
      const out = await run_text([wrk, `-t${WRK_THREADS}`, `-c${HTTP_CONNECTIONS}`,
        `-d${seconds}s`, "-s", "bench/wrk/debits.lua",
        `http://127.0.0.1:${http_port}/v1/batches`], { TOKEN: token, MODE: load.mode });
      const summary = wrk_summary(out);
      if (summary === null) throw new Error(`no summary line in wrk's output: ${out.slice(-400)}`);
      if (summary.non_2xx !== 0) throw new Error(`${summary.non_2xx} replies were not 2xx`);
      const value = summary.orders_per_sec;
      const errors = summary.socket_errors === null ? "" : `, ${summary.socket_errors}`;
      return { value, measured: `${rate(value)} orders/s, p50 ${summary.p50_ms} ms, ` +
        `p99 ${summary.p99_ms} ms${errors}` };
    });
  }
}

async function service_rows(rows: Row[], seconds: number, loads: Load[], tls: boolean)
  : Promise<void> {
  const data_dir = mkdtempSync(join(tmpdir(), "balance-benchmark-"));
  const certificates: { env: Record<string, string>; args: string[] } = tls
    ? make_certificates(data_dir) : { env: {}, args: [] };
  const http_port = free_port();
  const tcp_port = free_port();
  // The embedded default: no publisher or storage, whatever the shell exports.
  const { KAFKA_BROKERS: _brokers, DATABASE_URL: _database, ...inherited } = process.env;
  const service = Bun.spawn([process.execPath, "server/main.ts"], {
    cwd: REPO_ROOT, stdin: "ignore", stdout: "ignore", stderr: "ignore",
    env: { ...inherited, HOST: "127.0.0.1", PORT: String(http_port),
      TCP_PORT: String(tcp_port), DATA_DIR: data_dir, ...certificates.env },
  });
  try {
    await wait_ready(`${tls ? "https" : "http"}://127.0.0.1:${http_port}`, service,
      tls ? readFileSync(join(data_dir, "ca.crt"), "utf8") : null);
    const target = ["--host", "127.0.0.1", "--http-port", String(http_port), "--tcp-port",
      String(tcp_port), "--data-dir", data_dir, "--json", "--no-progress", ...certificates.args];
    const common = ["--duration", `${seconds}s`, ...target];
    for (const load of loads) {
      const command = `bun run loadgen -- ${load.args.join(" ")}${tls ? " --ca ca.crt" : ""}`;
      await step(rows, load.what, command, load.must_reach,
        load.goal, async () => {
          const json = await run_json(["loadgen/main.ts", ...load.args, ...common]);
          // Accepted mode is answered once (pending): loadgen cannot check what it never heard.
          const unchecked_ok = json.end_check === "skipped" && load.args.includes("accepted");
          if (json.end_check !== "pass" && !unchecked_ok) {
            throw new Error(`end check ${String(json.end_check)}`);
          }
          const value = json.orders_per_sec as number;
          return { value, measured: `${rate(value)} orders/s, p99 ${json.p99_ms} ms, ` +
            statuses_text(json) };
        });
    }
    if (!tls) await wrk_steps(rows, seconds, http_port, data_dir, target);
  } finally {
    await stop(service);
    rmSync(data_dir, { recursive: true, force: true });
  }
}

async function pipeline_rows(rows: Row[]): Promise<void> {
  let pipeline: Json | null = null;
  const measure = async (key: string) => {
    pipeline ??= await run_json(["bench/pipeline.ts", "--json"]);
    const value = pipeline[key] as number;
    return { value, measured: `${rate(value)} events/s` };
  };
  await step(rows, "pipeline: publish a journal backlog to Kafka", "bun run bench:pipeline",
    "1 M", "1.5 M", () => measure("publish_events_per_sec"));
  await step(rows, "pipeline: project the topic into PostgreSQL", "bun run bench:pipeline",
    "200 K", "300 K", () => measure("project_events_per_sec"));
}

function machine(): string {
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  return `${cpu}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, ` +
    `Bun ${Bun.version}, load average ${load} at the start`;
}

function print_table(rows: Row[], machine_text: string): void {
  const header = ["what", "measured", "must reach", "goal", "command"];
  const cells = rows.map((r) => [r.what, r.measured, r.must_reach, r.goal, r.command]);
  console.log(`machine: ${machine_text}\n`);
  console.log(`| ${header.join(" | ")} |`);
  console.log(`|${header.map(() => "---").join("|")}|`);
  for (const row of cells) console.log(`| ${row.join(" | ")} |`);
  for (const row of rows) if (row.failed) console.log(`\n${row.what}: ${row.failed}`);
}

async function main(): Promise<number> {
  const json = process.argv.includes("--json");
  const seconds = Number(process.env.BENCHMARK_SECONDS ?? LOAD_SECONDS_DEFAULT);
  if (!Number.isInteger(seconds) || seconds < 1) {
    throw new Error(`BENCHMARK_SECONDS: a whole number of seconds, got ${process.env.BENCHMARK_SECONDS}`);
  }
  const runs_count = Number(process.env.BENCHMARK_RUNS ?? RUNS_DEFAULT);
  if (!Number.isInteger(runs_count) || runs_count < 1) {
    throw new Error(`BENCHMARK_RUNS: a positive whole number, got ${process.env.BENCHMARK_RUNS}`);
  }
  const machine_text = machine();
  const runs: Row[][] = [];
  for (let run = 1; run <= runs_count; run++) {
    if (runs_count > 1) process.stderr.write(`benchmark: run ${run} of ${runs_count}\n`);
    const run_rows: Row[] = [];
    await engine_rows(run_rows);
    await service_rows(run_rows, seconds, LOADS, false);
    await service_rows(run_rows, seconds, TLS_LOADS, true);
    if (process.env.BENCHMARK_PIPELINE !== "0") await pipeline_rows(run_rows);
    runs.push(run_rows);
  }
  const rows = median_rows(runs);
  if (json) {
    console.log(JSON.stringify({ machine: machine_text, load_seconds: seconds, runs: runs_count,
      rows: rows.map(({ what, measured, must_reach, goal, value, failed }) =>
        ({ what, measured, must_reach, goal, value, failed })) }));
  } else {
    print_table(rows, machine_text);
  }
  return rows.some((r) => r.failed !== undefined) ? 1 : 0;
}

process.exit(await main());
