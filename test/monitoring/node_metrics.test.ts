// The node's metrics added for monitoring/ (docs/monitoring.md), on an in-process node and its
// HTTP front door (as test/server/disk_full_http.test.ts): the committed-batch latency histogram
// counts each committed batch once (accepted ones not), DATA_DIR's file system figures equal
// statfs's, and balance_journal_disk_full follows the journal's disk-full flag.
// The projector's figures (projector/metrics.ts) from batches as on_applied reports them.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { statfsSync } from "node:fs";
import { ProjectorMetrics } from "../../projector/metrics.ts";
import { OrderIdGenerator } from "../../schema/order_id.ts";
import { start_in_process_node, type InProcessNode } from "../server/in_process_node.ts";

let running: InProcessNode;
const ids = new OrderIdGenerator();

beforeAll(async () => {
  running = await start_in_process_node("monitoring-metrics");
});

afterAll(() => running.stop());

function post_open(account: number, mode: "committed" | "accepted"): Promise<Response> {
  return fetch(`${running.base_url}/v1/batches`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ mode, orders: [{ id: ids.next().toString(), op: "open_account",
      partner: 7, account: String(account), currency: 978, kind: "user" }] }),
  });
}

/** The sample `line_start value` of /metrics, as a number; throws when absent. */
async function sample(name: string): Promise<number> {
  const text = await (await fetch(`${running.base_url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  if (line === undefined) throw new Error(`/metrics has no ${name}:\n${text}`);
  return Number(line.slice(name.length + 1));
}

describe("node metrics for monitoring", () => {
  test("balance_batch_commit_seconds counts committed batches, not accepted ones", async () => {
    const before = await sample("balance_batch_commit_seconds_count");
    for (let account = 1; account <= 3; account++) {
      expect((await post_open(account, "committed")).status).toBe(200);
    }
    expect(await sample("balance_batch_commit_seconds_count")).toBe(before + 3);
    expect(await sample('balance_batch_commit_seconds_bucket{le="+Inf"}')).toBe(before + 3);
    expect(await sample("balance_batch_commit_seconds_sum")).toBeGreaterThan(0);
    expect((await post_open(4, "accepted")).status).toBe(202);
    expect(await sample("balance_batch_commit_seconds_count")).toBe(before + 3);
  });

  test("the buckets are cumulative and in seconds (5 s is the largest finite bound)", async () => {
    const text = await (await fetch(`${running.base_url}/metrics`)).text();
    const bucket = /^balance_batch_commit_seconds_bucket\{le="([^"]+)"\} (\d+)$/gm;
    const buckets = [...text.matchAll(bucket)]
      .map((m) => [m[1]!, Number(m[2])] as const);
    expect(buckets.at(-2)![0]).toBe("5");
    expect(buckets.at(-1)![0]).toBe("+Inf");
    for (let i = 1; i < buckets.length; i++) {
      expect(buckets[i]![1]).toBeGreaterThanOrEqual(buckets[i - 1]![1]);
    }
  });

  test("DATA_DIR's file system: size and available bytes as statfs gives them", async () => {
    const fs = statfsSync(running.data_dir);
    expect(await sample("balance_data_dir_size_bytes")).toBe(fs.blocks * fs.frsize);
    const available = await sample("balance_data_dir_available_bytes");
    expect(available).toBeGreaterThan(0);
    expect(available).toBeLessThanOrEqual(fs.blocks * fs.frsize);
    expect(available % fs.frsize).toBe(0);
  });

  test("balance_journal_disk_full follows the journal's disk-full flag", async () => {
    expect(await sample("balance_journal_disk_full")).toBe(0);
    running.node.control.set_disk_full(true);
    try {
      expect(await sample("balance_journal_disk_full")).toBe(1);
      expect((await post_open(5, "committed")).status).toBe(507);
    } finally {
      running.node.control.set_disk_full(false);
    }
    expect(await sample("balance_journal_disk_full")).toBe(0);
  });
});

describe("projector metrics", () => {
  const batch = (partition: number, sequence: number, applied_count: number) => ({
    partition, first_offset: "0", last_offset: "0",
    result: { applied_count, skipped_count: 0, sequence },
  });

  test("families are declared before the first batch, per group after it", () => {
    const metrics = new ProjectorMetrics();
    const empty = metrics.render();
    expect(empty).toContain("# TYPE balance_projector_applied_sequence gauge");
    expect(empty).toContain("balance_projector_batches_total 0");
    expect(empty).not.toContain("balance_projector_applied_sequence{");
    metrics.on_applied(batch(1, 10, 10), 5_000);
    metrics.on_applied(batch(1, 25, 15), 6_500);
    metrics.on_applied(batch(0, 3, 3), 7_000);
    const text = metrics.render();
    expect(text).toContain('balance_projector_applied_sequence{group="1"} 25');
    expect(text).toContain('balance_projector_applied_sequence{group="0"} 3');
    expect(text).toContain('balance_projector_events_applied_total{group="1"} 25');
    expect(text).toContain('balance_projector_last_batch_timestamp_seconds{group="1"} 6.5');
    expect(text).toContain("balance_projector_batches_total 3");
  });

  test("an applied sequence going back is a bug: the assertion stops it", () => {
    const metrics = new ProjectorMetrics();
    metrics.on_applied(batch(0, 10, 10), 1_000);
    expect(() => metrics.on_applied(batch(0, 9, 0), 2_000)).toThrow("never goes back");
  });
});
