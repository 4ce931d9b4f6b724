// A primary cut off from its standby and from PostgreSQL while a client pinned to it keeps
// sending: the standby takes over (the lease ran out by the database's clock and it heard nothing
// for a lease). The isolated primary commits nothing and answers no read after the takeover: its
// standby's acknowledgements and read confirmations are what it would need. Healed, it learns it
// was deposed, exits, and rejoins as a standby; nothing is lost or doubled.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { DEPOSED_EXIT_CODE } from "../../node/cluster_controller.ts";
import { auth_headers, batch_json, type TestOrder } from "../../harness/http_client.ts";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import { TestCluster } from "./cluster_support.ts";
import { SERVICES_TIMEOUT_MS } from "./control_support.ts";
import { SteadyLoad } from "./steady_load.ts";

const PARTNER_GROUPS = new Map([[7, 0], [8, 1]]);
const PINNED_PARTNER = 9; // pinned to group 0 too, so its account is not the load's
const PINNED_INTERVAL_MS = 20;
const PINNED_TIMEOUT_MS = 2_000;

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await TestCluster.start("isolated", {
    nodes: 2, groups: 2, replicas: 2, lease_ms: 1_000, group_map: "7:0,8:1,9:0", proxies: true,
  });
}, SERVICES_TIMEOUT_MS);

afterAll(async () => {
  await cluster?.stop();
});

interface PinnedAnswer { at_ms: number; ok: boolean; kind: "order" | "read" }

/** A client that keeps sending to one node, whatever the map says. */
function pinned_client(base_url: string, answers: PinnedAnswer[], running: () => boolean) {
  let counter = 0;
  return (async () => {
    while (running()) {
      const id = (BigInt(Date.now()) << 22n) | BigInt(counter++);
      const order: TestOrder = { id, op: Op.credit, partner: PINNED_PARTNER, account: 1001n,
        amount: 1n, currency: 978 };
      const requests = [
        fetch(`${base_url}/v1/batches`, { method: "POST", body: batch_json([order]),
          headers: { ...auth_headers(base_url), "content-type": "application/json" },
          signal: AbortSignal.timeout(PINNED_TIMEOUT_MS) }).then(async (response) => ({
          kind: "order" as const, ok: response.status === 200 &&
            (await response.json() as { results: { status: string }[] }).results[0]!.status === "ok" })),
        fetch(`${base_url}/v1/partners/${PINNED_PARTNER}/accounts/1001`, {
          headers: auth_headers(base_url), signal: AbortSignal.timeout(PINNED_TIMEOUT_MS),
        }).then((response) => ({ kind: "read" as const, ok: response.status === 200 })),
      ].map((request) => request.catch(() => ({ kind: "order" as const, ok: false }))
        .then((answer) => answers.push({ ...answer, at_ms: performance.now() })));
      await Promise.all(requests);
      await Bun.sleep(PINNED_INTERVAL_MS);
    }
  })();
}

describe("an isolated primary", () => {
  test("cut off from its standby and PostgreSQL: taken over; it commits nothing and answers no read", async () => {
    const load = new SteadyLoad(cluster, PARTNER_GROUPS);
    await load.start();
    await cluster.wait_in_sync(0);
    const primary = await cluster.leader_of(0);
    const standby = (await cluster.map()).groups[0]!.standbys[0]!.node;
    const primary_process = cluster.node(primary);
    // The pinned partner's account, opened on the primary.
    const opened = await fetch(`${primary_process.base_url}/v1/partners/${PINNED_PARTNER}/accounts`, {
      method: "POST", headers: { ...auth_headers(primary_process.base_url),
        "content-type": "application/json" },
      body: JSON.stringify({ account: "1001", kind: "user", currency: 978 }),
    });
    expect(opened.status).toBe(200);
    const answers: PinnedAnswer[] = [];
    let pinned_running = true;
    const pinned = pinned_client(primary_process.base_url, answers, () => pinned_running);
    await cluster.until("the pinned client answered", () => answers.some((a) => a.ok));
    const isolated_at_ms = performance.now();
    cluster.proxies(primary).database.go_down();
    cluster.proxies(primary).replication.go_down();
    cluster.proxies(standby).replication.go_down();
    expect(await cluster.leader_of(0, primary)).toBe(standby);
    const taken_at_ms = performance.now();
    await cluster.until("the load answered by the new primary",
      () => load.first_answer_after(0, taken_at_ms) !== null);
    await Bun.sleep(2_000);
    pinned_running = false;
    await pinned;
    // Nothing the isolated node answered after the takeover was an ok commit or a read.
    const late_ok = answers.filter((a) => a.at_ms > taken_at_ms && a.ok);
    expect(late_ok).toEqual([]);
    // The isolation met the pinned client's work: it kept sending and got no answers.
    expect(answers.filter((a) => a.at_ms > isolated_at_ms).length).toBeGreaterThan(0);
    cluster.proxies(primary).database.up();
    cluster.proxies(primary).replication.up();
    cluster.proxies(standby).replication.up();
    expect(await primary_process.exited).toBe(DEPOSED_EXIT_CODE);
    cluster.processes.delete(primary);
    await cluster.start_node(primary);
    await cluster.wait_in_sync(0);
    await cluster.wait_in_sync(1);
    await load.stop();
    await load.check();
    load.close();
  }, 120_000);
});
