// While the journal worker reports a full disk, the HTTP front door refuses new orders with 507
// disk_full (and a retry hint) before reading them; once the flag clears, orders flow again.
// In-process node and server (the journal loop's own handling of ENOSPC: test/journal).

import { afterAll, beforeAll, expect, test } from "bun:test";
import { OrderIdGenerator } from "../../schema/order_id.ts";
import { start_in_process_node, type InProcessNode } from "./in_process_node.ts";

let running: InProcessNode;
const ids = new OrderIdGenerator();

beforeAll(async () => {
  running = await start_in_process_node("disk-full");
});

afterAll(() => running.stop());

function post_open(account: string): Promise<Response> {
  return fetch(`${running.base_url}/v1/batches`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ orders: [{ id: ids.next().toString(), op: "open_account", partner: 7,
      account, currency: 978, kind: "user" }] }),
  });
}

test("disk full: 507 disk_full with retry-after, nothing applied; then accepted again", async () => {
  running.node.control.set_disk_full(true);
  const refused = await post_open("1");
  expect(refused.status).toBe(507);
  expect(refused.headers.get("retry-after")).toBe("1");
  expect(await refused.json()).toMatchObject({ error: "disk_full" });
  running.node.control.set_disk_full(false);
  const read = await fetch(`${running.base_url}/v1/partners/7/accounts/1`);
  expect(read.status).toBe(404); // the refused open never reached the engine
  const accepted = await post_open("1");
  expect(accepted.status).toBe(200);
  expect(await accepted.json()).toMatchObject({ results: [{ status: "ok" }] });
});
