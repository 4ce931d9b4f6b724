// What `bun run cluster -- status` reads of a node's /metrics: the replication lag gauge only,
// balance_replication_lag_entries{group="G",standby="NODE"} (exported by a group's primary), from
// the Prometheus text format (version 0.0.4). Everything else in the answer is ignored; a line of
// that metric that does not parse is ignored too (the status tool reports, it never stops on it).

import {
  CLUSTER_STATUS_METRICS_BYTES_MAX, CLUSTER_STATUS_METRICS_TIMEOUT_MS,
} from "../../common/constants.ts";
import { node_fetch } from "./node_http.ts";

export const REPLICATION_LAG_METRIC = "balance_replication_lag_entries";

/** Lag in journal entries by lag_key(group, standby). */
export type LagByStandby = Map<string, number>;

export type NodeMetrics = { kind: "ok"; lag: LagByStandby } | { kind: "unreachable"; why: string };

export function lag_key(group: number, standby: string): string {
  return `${group}/${standby}`;
}

/** GETs http://<http_address>/metrics within the timeout; any failure is "unreachable". */
export async function fetch_node_metrics(http_address: string,
  timeout_ms = CLUSTER_STATUS_METRICS_TIMEOUT_MS): Promise<NodeMetrics> {
  try {
    const response = await node_fetch(http_address, "/metrics",
      { signal: AbortSignal.timeout(timeout_ms) });
    if (response.status !== 200) {
      await response.body?.cancel();
      return { kind: "unreachable", why: `HTTP ${response.status}` };
    }
    const declared_bytes = Number(response.headers.get("content-length") ?? "0");
    if (declared_bytes > CLUSTER_STATUS_METRICS_BYTES_MAX) {
      await response.body?.cancel();
      return { kind: "unreachable", why: `answer over ${CLUSTER_STATUS_METRICS_BYTES_MAX} bytes` };
    }
    const text = await response.text();
    if (text.length > CLUSTER_STATUS_METRICS_BYTES_MAX) {
      return { kind: "unreachable", why: `answer over ${CLUSTER_STATUS_METRICS_BYTES_MAX} bytes` };
    }
    return { kind: "ok", lag: parse_replication_lag(text) };
  } catch (error) {
    return { kind: "unreachable", why: error instanceof Error ? error.message : String(error) };
  }
}

/** The lag gauge's samples in a Prometheus text answer. */
export function parse_replication_lag(text: string): LagByStandby {
  const lag: LagByStandby = new Map();
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${REPLICATION_LAG_METRIC}{`)) continue;
    const sample = parse_sample(line.slice(REPLICATION_LAG_METRIC.length + 1));
    if (sample === null) continue;
    const group_text = sample.labels.get("group");
    const standby = sample.labels.get("standby");
    if (group_text === undefined || standby === undefined || !/^\d{1,10}$/.test(group_text)) {
      continue;
    }
    lag.set(lag_key(Number(group_text), standby), sample.value);
  }
  return lag;
}

interface Sample {
  labels: Map<string, string>;
  value: number;
}

/** `name="value",...} value [timestamp]` (the part after the `{`), or null. */
function parse_sample(rest: string): Sample | null {
  const labels = new Map<string, string>();
  let at = 0;
  while (rest[at] !== "}") {
    const name = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(rest.slice(at));
    if (name === null) return null;
    at += name[0].length;
    const value = label_value(rest, at);
    if (value === null) return null;
    labels.set(name[1]!, value.text);
    at = value.end;
    if (rest[at] === ",") at++;
    else if (rest[at] !== "}") return null;
  }
  const fields = rest.slice(at + 1).trim().split(/\s+/);
  if (fields.length < 1 || fields.length > 2) return null;
  const value = Number(fields[0]);
  if (!Number.isSafeInteger(value) || value < 0) return null;
  return { labels, value };
}

/** A quoted label value from `start` (after the opening quote) with \\ \" \n unescaped. */
function label_value(text: string, start: number): { text: string; end: number } | null {
  let value = "";
  for (let at = start; at < text.length; at++) {
    const char = text[at]!;
    if (char === "\"") return { text: value, end: at + 1 };
    if (char !== "\\") {
      value += char;
      continue;
    }
    const next = text[++at];
    if (next === "n") value += "\n";
    else if (next === "\\" || next === "\"") value += next;
    else return null;
  }
  return null;
}
