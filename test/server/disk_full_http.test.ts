// While the journal worker reports a full disk, the HTTP front door refuses new orders with 507
// disk_full (and a retry hint) before reading them; once the flag clears, orders flow again.
// In-process node and server (the journal loop's own handling of ENOSPC: test/journal).

import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { ServiceNode } from "../../node/service_node.ts";
import { load_config } from "../../config/config.ts";
import { single_node_view } from "../../router/leadership.ts";
import { start_http_server } from "../../server/http.ts";
import { Metrics } from "../../node/metrics.ts";
import { OrderIdGenerator } from "../../schema/order_id.ts";

let node: ServiceNode;
let server: ReturnType<typeof start_http_server>;
let data_dir: string;
const ids = new OrderIdGenerator();

beforeAll(async () => {
  data_dir = mkdtempSync(`${tmpdir()}/balance-disk-full-`);
  node = await ServiceNode.start(load_config({ DATA_DIR: data_dir, GROUPS: "1",
    ACCOUNTS_PER_GROUP: "64", HOLDS_PER_GROUP: "16", IDEMPOTENCY_ENTRIES_PER_GROUP: "65536",
    RING_SLOTS: "16", JOURNAL_SEGMENT_BYTES: String(1 << 20) }), new Metrics());
  // Auth is tested in test/auth; this test is about the disk, so AUTH=off here.
  server = start_http_server(node, { host: "127.0.0.1", port: 0, auth: null,
    cluster: single_node_view("127.0.0.1:1", "127.0.0.1:2", 1, new Map()) });
});

afterAll(async () => {
  await node.shutdown();
  server.stop(true);
  rmSync(data_dir, { recursive: true, force: true });
});

function post_open(account: string): Promise<Response> {
  return fetch(`http://127.0.0.1:${server.port}/v1/batches`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ orders: [{ id: ids.next().toString(), op: "open_account", partner: 7,
      account, currency: 978, kind: "user" }] }),
  });
}

test("disk full: 507 disk_full with retry-after, nothing applied; then accepted again", async () => {
  node.control.set_disk_full(true);
  const refused = await post_open("1");
  expect(refused.status).toBe(507);
  expect(refused.headers.get("retry-after")).toBe("1");
  expect(await refused.json()).toMatchObject({ error: "disk_full" });
  node.control.set_disk_full(false);
  const read = await fetch(`http://127.0.0.1:${server.port}/v1/partners/7/accounts/1`);
  expect(read.status).toBe(404); // the refused open never reached the engine
  const accepted = await post_open("1");
  expect(accepted.status).toBe(200);
  expect(await accepted.json()).toMatchObject({ results: [{ status: "ok" }] });
});
