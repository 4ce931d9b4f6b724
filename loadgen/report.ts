// The run's summary: the original's benchmark table (requests/s avg, stdev, max; latency; latency
// distribution; reply codes; throughput), plus orders/s, the per-order status mix, the settings
// that shape the numbers, and the end check. `--json` gives the same as one line.

import { assert_never } from "../common/assert.ts";
import { Status } from "../schema/generated/balance/wire/status.ts";
import type { Histogram } from "./histogram.ts";
import type { LoadJob } from "./load.ts";
import type { Options } from "./options.ts";
import type { CheckReport } from "./phases.ts";
import { group } from "./progress.ts";
import type { Workload } from "./workload.ts";

const QUANTILES = [0.5, 0.75, 0.9, 0.95, 0.99] as const;
// Ids run ahead of the clock past 4,096 per ms; the service refuses them 5 s ahead: worth a line
// well before that.
const IDS_AHEAD_MS_REPORTED = 500;

export interface RunFacts {
  options: Options;
  target: string;
  workload: Workload;
  load: LoadJob;
  check: CheckReport;
  connections: number;
  in_flight: number;
  bytes_sent: number;
  bytes_received: number;
  replies: Map<string, number>;
  token_source: string;
  lost_connections: string[];
  /** --seeds: requests sent again after a not_primary or a lost node. */
  resends?: number;
}

interface Spread {
  avg: number;
  stdev: number;
  max: number;
}

function spread(samples: readonly number[], overall: number): Spread {
  if (samples.length === 0) return { avg: overall, stdev: 0, max: overall };
  const avg = samples.reduce((a, b) => a + b, 0) / samples.length;
  const variance = samples.reduce((a, b) => a + (b - avg) ** 2, 0) / samples.length;
  return { avg, stdev: Math.sqrt(variance), max: Math.max(...samples) };
}

function statuses(workload: Workload): Record<string, number> {
  const out: Record<string, number> = {};
  workload.status_counts.forEach((count, code) => {
    if (count > 0) out[Status[code] ?? `status_${code}`] = count;
  });
  return out;
}

function ms(us: number): number {
  return Math.round(us) / 1000;
}

export function summary_json(facts: RunFacts): string {
  const { load, workload, options, check } = facts;
  const seconds = load.elapsed_s();
  const latency = load.latency;
  const requests = spread(load.request_rates, load.requests_answered / seconds);
  const orders = spread(load.order_rates, load.orders_answered / seconds);
  return JSON.stringify({
    label: options.label || undefined,
    transport: options.transport,
    format: options.format,
    mode: options.mode === 0 ? "committed" : "accepted",
    connections: facts.connections,
    in_flight: facts.in_flight,
    batch: options.batch_orders,
    requests: load.requests_answered,
    orders: load.orders_answered,
    seconds: Math.round(seconds * 1000) / 1000,
    requests_per_sec: Math.round(load.requests_answered / seconds),
    orders_per_sec: Math.round(load.orders_answered / seconds),
    requests_per_sec_samples: rounded(requests),
    orders_per_sec_samples: rounded(orders),
    mean_ms: ms(latency.mean_us()),
    stdev_ms: ms(latency.stdev_us()),
    p50_ms: ms(latency.quantile_us(0.5)),
    p75_ms: ms(latency.quantile_us(0.75)),
    p90_ms: ms(latency.quantile_us(0.9)),
    p95_ms: ms(latency.quantile_us(0.95)),
    p99_ms: ms(latency.quantile_us(0.99)),
    max_ms: ms(latency.max_us),
    ack_p99_ms: load.ack_latency.count > 0 ? ms(load.ack_latency.quantile_us(0.99)) : undefined,
    errors: load.requests_refused,
    resends: facts.resends,
    refusals: Object.fromEntries(load.refusals),
    statuses: statuses(workload),
    replies: Object.fromEntries(facts.replies),
    mb_per_sec: Math.round(((facts.bytes_sent + facts.bytes_received) / 1e6 / seconds) * 100) / 100,
    hottest_partner_share: Math.round(workload.hottest_partner_share() * 1000) / 1000,
    end_check: check.verdict,
    end_check_mismatches: check.mismatches,
    end_check_note: check.note || undefined,
    end_check_listed: check.listed.length > 0 ? check.listed : undefined,
    unknown_orders: workload.unknown_orders,
  });
}

function rounded(s: Spread): Spread {
  return { avg: Math.round(s.avg), stdev: Math.round(s.stdev), max: Math.round(s.max) };
}

function pad(text: string, width: number): string {
  return text.padStart(width);
}

function latency_text(us: number): string {
  return us >= 1_000_000 ? `${(us / 1_000_000).toFixed(2)}s` : `${(us / 1000).toFixed(2)}ms`;
}

function reply_lines(facts: RunFacts): string[] {
  if (facts.options.transport === "tcp") {
    const parts = [...facts.replies].map(([name, n]) => `${name} - ${group(n)}`);
    return ["  Replies:", `    ${parts.join(", ") || "none"}`];
  }
  const classes = [0, 0, 0, 0, 0];
  let others = 0;
  for (const [code, n] of facts.replies) {
    const family = Math.floor(Number(code) / 100);
    if (family >= 1 && family <= 5) classes[family - 1]! += n;
    else others += n;
  }
  const detail = [...facts.replies].filter(([code]) => !code.startsWith("2"))
    .map(([code, n]) => `${code} - ${group(n)}`);
  return [
    "  HTTP codes:",
    `    1xx - ${classes[0]}, 2xx - ${classes[1]}, 3xx - ${classes[2]}, 4xx - ${classes[3]}, ` +
      `5xx - ${classes[4]}`,
    `    others - ${others}${detail.length > 0 ? `  (${detail.join(", ")})` : ""}`,
  ];
}

function distribution_lines(latency: Histogram): string[] {
  const lines = ["  Latency Distribution"];
  for (const q of QUANTILES) {
    lines.push(`     ${pad(`${q * 100}%`, 3)} ${pad(latency_text(latency.quantile_us(q)), 9)}`);
  }
  lines.push(`     max ${pad(latency_text(latency.max_us), 9)}`);
  return lines;
}

export function summary_text(facts: RunFacts): string {
  const { load, workload, options, check } = facts;
  const seconds = load.elapsed_s();
  const requests = spread(load.request_rates, load.requests_answered / seconds);
  const orders = spread(load.order_rates, load.orders_answered / seconds);
  const latency = load.latency;
  const row = (name: string, a: string, b: string, c: string) =>
    `  ${name.padEnd(12)}${pad(a, 11)}${pad(b, 11)}${pad(c, 11)}`;
  const status_parts =
    Object.entries(statuses(workload)).map(([name, n]) => `${name} - ${group(n)}`);
  const sent_mb_s = facts.bytes_sent / 1e6 / seconds;
  const received_mb_s = facts.bytes_received / 1e6 / seconds;
  const lines = [
    `Done${options.label ? ` (${options.label})` : ""}: ` +
      `${group(load.requests_answered)} requests, ${group(load.orders_answered)} orders in ` +
      `${seconds.toFixed(2)}s: ${group(load.requests_answered / seconds)} requests/s, ` +
      `${group(load.orders_answered / seconds)} orders/s`,
    `Statistics        Avg      Stdev        Max`,
    row("Reqs/sec", requests.avg.toFixed(2), requests.stdev.toFixed(2), requests.max.toFixed(2)),
    row("Orders/sec", orders.avg.toFixed(0), orders.stdev.toFixed(0), orders.max.toFixed(0)),
    row("Latency", latency_text(latency.mean_us()), latency_text(latency.stdev_us()),
      latency_text(latency.max_us)),
    ...distribution_lines(latency),
  ];
  if (load.ack_latency.count > 0) {
    lines.push(`  Accepted acks: p50 ${latency_text(load.ack_latency.quantile_us(0.5))}, ` +
      `p99 ${latency_text(load.ack_latency.quantile_us(0.99))}`);
  }
  lines.push(...reply_lines(facts));
  lines.push("  Order statuses:", `    ${status_parts.join(", ") || "none"}`);
  if ((workload.status_counts[Status.busy] ?? 0) > 0) {
    lines.push("    (busy: refused for now, changing nothing: a full ring or partner share, or " +
      "the " +
      "idempotency window's budget, about IDEMPOTENCY_ENTRIES_PER_GROUP / " +
      "IDEMPOTENCY_WINDOW_MS orders/s per group)");
  }
  if (load.refusals.size > 0) {
    lines.push(`  Errors (requests without results): ${group(load.requests_refused)}: ` +
      [...load.refusals].map(([why, n]) => `${why} - ${group(n)}`).join(", "));
  }
  lines.push(`  Throughput:   ${(sent_mb_s + received_mb_s).toFixed(2)}MB/s ` +
    `(sent ${sent_mb_s.toFixed(2)}, received ${received_mb_s.toFixed(2)})`);
  lines.push(...settings_lines(facts), ...check_lines(check));
  return lines.join("\n");
}

function percent(share: number): string {
  return `${(share * 100).toFixed(1)}%`;
}

function settings_lines(facts: RunFacts): string[] {
  const { options, workload } = facts;
  const mix = Object.entries(options.mix).filter(([, w]) => w > 0).map(([op, w]) => `${op} ${w}`);
  const lines = [
    `Run: ${options.transport}${options.format === "json" ? " (JSON bodies)" : ""} ` +
      `${facts.target}, ${facts.connections} connections x ` +
      `${facts.in_flight} in flight, batches of ${options.batch_orders}, ` +
      `${options.mode === 0 ? "committed" : "accepted"} mode, seed ${options.seed}`,
    `  ${options.partners} partners x ${options.accounts_per_partner} accounts, skew ` +
      `${options.skew} (hottest partner ${percent(workload.hottest_partner_share())}), ` +
      `mix ${mix.join(", ")}; token: ${facts.token_source}`,
  ];
  if (workload.ids.ahead_ms_max >= IDS_AHEAD_MS_REPORTED) {
    lines.push(`  order ids ran up to ${workload.ids.ahead_ms_max} ms ahead of the clock`);
  }
  if (facts.lost_connections.length > 0) {
    const lost = facts.lost_connections;
    lines.push(`  connections lost: ${lost.length} (${lost[0]})`);
  }
  return lines;
}

function check_lines(check: CheckReport): string[] {
  switch (check.verdict) {
    case "skipped":
      return [`End check: skipped (${check.note})`];
    case "pass":
      return [`End check: PASS: ${group(check.accounts_checked)} accounts read back; balance and ` +
        `held equal the figures after set-up plus every acknowledged ok order`];
    case "inconclusive":
      return [`End check: INCONCLUSIVE: ${check.note}; ${check.mismatches} of ` +
        `${group(check.accounts_checked)} accounts differ`, ...check.listed.map((l) => `  ${l}`)];
    case "fail":
      return [`End check: FAIL: ${check.mismatches} of ${group(check.accounts_checked)} accounts ` +
        `differ${check.note ? `; ${check.note}` : ""}`, ...check.listed.map((l) => `  ${l}`)];
    default:
      return assert_never(check.verdict, "check verdict");
  }
}
