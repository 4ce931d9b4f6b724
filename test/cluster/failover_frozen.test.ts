// A primary frozen (SIGSTOP) past its lease: a standby takes over by itself. Resumed (SIGCONT), the
// old primary acknowledges nothing afterwards (its standby follows the new epoch and refuses its
// entries, so nothing it holds can commit); its next renewal answers `deposed` and it exits to be
// restarted as a standby, which cuts the tail it wrote that the cluster never committed. The load
// moves to the new primary; nothing is lost or doubled.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { DEPOSED_EXIT_CODE } from "../../node/cluster_controller.ts";
import { auth_headers } from "../../harness/http_client.ts";
import { TestCluster } from "./cluster_support.ts";
import { SERVICES_TIMEOUT_MS } from "./control_support.ts";
import { SteadyLoad } from "./steady_load.ts";

const PARTNER_GROUPS = new Map([[7, 0], [8, 1]]);
const LEASE_MS = 1_000;
const STALE_READ_MS = 5_000;
/** Time for the read to reach the frozen node's socket before it is resumed. */
const STALE_READ_SENT_MS = 100;

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await TestCluster.start("frozen", {
    nodes: 2, groups: 2, replicas: 2, lease_ms: LEASE_MS, group_map: "7:0,8:1",
  });
}, SERVICES_TIMEOUT_MS);

afterAll(async () => {
  await cluster?.stop();
});

describe("a frozen primary", () => {
  test("SIGSTOP past the lease, takeover, SIGCONT: it acknowledges nothing, exits, rejoins", async () => {
    const load = new SteadyLoad(cluster, PARTNER_GROUPS);
    await load.start();
    await cluster.wait_in_sync(0);
    const frozen = await cluster.leader_of(0);
    const frozen_process = cluster.node(frozen);
    await cluster.kill(frozen, "SIGSTOP");
    await cluster.until("batches in flight", () => (load.in_flight.get(0) ?? 0) >= 2);
    const frozen_at_ms = performance.now(); // those in flight now are unanswered by the frozen node
    const successor = await cluster.leader_of(0, frozen);
    const taken_at_ms = performance.now();
    expect(successor).not.toBe(frozen);
    await cluster.until("group 0 answers", () => load.first_answer_after(0, taken_at_ms) !== null);
    // A read sent to the frozen node now is read from its stale state once it wakes: it must not
    // be answered (its standby no longer confirms its epoch), only refused or left unanswered.
    const stale_read = fetch(`${frozen_process.base_url}/v1/partners/7/accounts/1001`, {
      headers: auth_headers(frozen_process.base_url), signal: AbortSignal.timeout(STALE_READ_MS),
    }).then((response) => response.status, (error: unknown) => String(error));
    await Bun.sleep(STALE_READ_SENT_MS);
    await cluster.kill(frozen, "SIGCONT");
    expect(await stale_read).not.toBe(200);
    // Its own renewal tells it it was deposed: it exits, acknowledging nothing meanwhile.
    expect(await frozen_process.exited).toBe(DEPOSED_EXIT_CODE);
    expect(frozen_process.stderr()).toContain(`deposed from group 0 by ${successor}`);
    // The fault hit work in flight: batches sent before the freeze were answered by the successor.
    await cluster.until("a batch in flight at the freeze answered by the successor",
      () => load.fault_hit_in_flight(0, frozen_at_ms, frozen_at_ms));
    cluster.processes.delete(frozen);
    await cluster.start_node(frozen); // its supervisor restarts it: a standby again
    await cluster.wait_in_sync(0);
    await cluster.wait_in_sync(1);
    await load.stop();
    // Nothing the frozen node acknowledged is missing on the successor (check), so it
    // acknowledged nothing after the takeover: that would have been an old-epoch commit.
    await load.check();
    load.close();
    expect(load.answered_count()).toBe(load.orders.size);
  }, 120_000);
});
