// Node-level refusals over TCP, in-process (auth off: any Hello token is an internal principal):
// while the journal reports a full disk, a batch gets Error{disk_full} with a retry hint and the
// connection stays open; once the flag clears the same connection's next batch is applied.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { ServiceNode } from "../../node/service_node.ts";
import { ErrorCode } from "../../schema/generated/balance/wire/error-code.ts";
import { Status } from "../../schema/generated/balance/wire/status.ts";
import { load_config } from "../../config/config.ts";
import { Metrics } from "../../node/metrics.ts";
import { single_node_view } from "../../router/leadership.ts";
import { start_tcp_server, type TcpServerHandle } from "../../server/tcp/tcp_server.ts";
import { TcpTestClient } from "./tcp_client.ts";
import { batch, open_order } from "./tcp_service.ts";

const AUTH_OFF = null;
let node: ServiceNode;
let tcp: TcpServerHandle;
let data_dir: string;

beforeAll(async () => {
  data_dir = mkdtempSync(`${tmpdir()}/balance-tcp-refusals-`);
  const config = load_config({ DATA_DIR: data_dir, GROUPS: "1", ACCOUNTS_PER_GROUP: "64",
    HOLDS_PER_GROUP: "16", IDEMPOTENCY_ENTRIES_PER_GROUP: "65536", RING_SLOTS: "16",
    JOURNAL_SEGMENT_BYTES: String(1 << 20), TCP_PORT: "0", TCP_CONNECTIONS_MAX: "1" });
  node = await ServiceNode.start(config, new Metrics());
  const cluster = single_node_view("127.0.0.1:1", "127.0.0.1:2", config.groups, config.group_map);
  tcp = start_tcp_server(node, AUTH_OFF, cluster, "127.0.0.1", config.tcp);
  node.metrics.tcp_connections = () => tcp.connection_count;
});

afterAll(async () => {
  await tcp.stop();
  await node.shutdown();
  rmSync(data_dir, { recursive: true, force: true });
});

test("disk full: Error{disk_full} with retry_after_ms, connection open; then applied", async () => {
  const client = await TcpTestClient.session(tcp.port, "any token: auth is off");
  node.control.set_disk_full(true);
  client.send(batch(1n, [open_order(7, 1n)]));
  const refused = await client.next();
  expect(refused).toMatchObject({ type: "error", request_id: 1n, code: ErrorCode.disk_full });
  if (refused.type === "error") expect(refused.retry_after_ms).toBeGreaterThan(0);
  expect(client.closed).toBe(false);
  node.control.set_disk_full(false);
  client.send(batch(2n, [open_order(7, 1n)]));
  const applied = await client.next();
  expect(applied.type).toBe("batch_results");
  expect(applied.results?.[0]?.status).toBe(Status.ok); // the refused open never reached the engine
  client.close();
  await client.wait_closed();
  for (let waited = 0; tcp.connection_count > 0 && waited < 100; waited++) await Bun.sleep(10);
  expect(tcp.connection_count).toBe(0);
});

function metric(name: string): number {
  const text = node.metrics.render({ ring_depths: () => [], durable_sequences: () => [],
    in_flight: () => 0 });
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  if (line === undefined) throw new Error(`no ${name} in /metrics`);
  return Number(line.split(" ")[1]);
}

test("metrics count open connections and those refused at the limit (TCP_CONNECTIONS_MAX=1)", async () => {
  const first = await TcpTestClient.session(tcp.port, "auth is off");
  expect(metric("balance_tcp_connections")).toBe(1);
  const second = await TcpTestClient.connect(tcp.port);
  await second.wait_closed();
  expect(metric("balance_tcp_connections_refused_total")).toBe(1);
  expect(metric("balance_tcp_connections")).toBe(1);
  first.close();
});
