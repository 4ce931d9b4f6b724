// GET /readyz/in-sync (server/http_probes.ts), Kubernetes' readiness probe of a node, on real
// cluster nodes (harness/cluster_process.ts): 200 while every group on the node has an in-sync copy
// there; a standby cut off from its primary (the replication link through a proxy the test cuts)
// is recorded out of sync and its node answers 503 naming the group, while /readyz still answers
// 200 and its primary's node stays in sync; healed, it catches up and answers 200 again. With the
// PodDisruptionBudget (maxUnavailable 1) no other node can be drained meanwhile.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { TestCluster } from "../cluster/cluster_support.ts";
import { SERVICES_TIMEOUT_MS } from "../cluster/control_support.ts";
import { SteadyLoad } from "../cluster/steady_load.ts";
import { IN_SYNC_PROBE_PATH, type GroupCopy } from "../../server/http_probes.ts";

const PARTNER_GROUPS = new Map([[7, 0], [8, 1]]);
/** How often the stopping node is asked again (a poll, not a bound). */
const POLL_MS = 5;

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await TestCluster.start("insync", {
    nodes: 2, groups: 2, replicas: 2, lease_ms: 1_000, group_map: "7:0,8:1", proxies: true,
  });
}, SERVICES_TIMEOUT_MS);

afterAll(async () => {
  await cluster?.stop();
});

interface Probe {
  http_status: number;
  status: string;
  groups: GroupCopy[];
}

async function probe(id: string, path = IN_SYNC_PROBE_PATH): Promise<Probe> {
  const response = await fetch(`${cluster.node(id).base_url}${path}`);
  const body = await response.json() as { status: string; groups?: GroupCopy[] };
  return { http_status: response.status, status: body.status, groups: body.groups ?? [] };
}

describe("GET /readyz/in-sync on cluster nodes", () => {
  test("200 in sync; a standby cut off answers 503 for its group until it caught up", async () => {
    await cluster.wait_in_sync(0);
    await cluster.wait_in_sync(1);
    // Both nodes hold both groups (2 nodes, 2 replicas): one as primary, the other as standby.
    for (const id of cluster.ids()) {
      await cluster.until(`${id} in sync`, async () => (await probe(id)).http_status === 200);
      const answer = await probe(id);
      expect(answer.status).toBe("in_sync");
      expect(answer.groups.map((g) => g.group)).toEqual([0, 1]);
    }
    for (const group of [0, 1]) {
      const leader = await cluster.leader_of(group);
      for (const id of cluster.ids()) {
        const copy = (await probe(id)).groups.find((g) => g.group === group)!;
        expect(copy).toEqual({ group, role: id === leader ? "primary" : "standby", in_sync: true });
      }
    }

    const load = new SteadyLoad(cluster, PARTNER_GROUPS);
    await load.start();
    const primary = await cluster.leader_of(0);
    const standby = (await cluster.standby_of(0)).node;
    cluster.proxies(standby).replication.cut("forward");
    await cluster.until(`${standby} recorded out of sync`,
      async () => !(await cluster.standby_of(0)).in_sync);
    await cluster.until(`${standby} answers 503`,
      async () => (await probe(standby)).http_status === 503);
    const cut_off = await probe(standby);
    expect(cut_off.status).toBe("not_in_sync");
    expect(cut_off.groups.find((g) => g.group === 0)).toEqual(
      { group: 0, role: "standby", in_sync: false });
    // /readyz cannot tell: the node is up and serves the groups it leads.
    expect((await probe(standby, "/readyz")).http_status).toBe(200);
    // The primary holds every group it is a member of in sync: its node stays ready.
    expect(await probe(primary)).toMatchObject({ http_status: 200, status: "in_sync" });

    cluster.proxies(standby).replication.up();
    await cluster.wait_in_sync(0);
    await cluster.until(`${standby} answers 200 again`,
      async () => (await probe(standby)).http_status === 200);
    await load.stop();
    await load.check();
    load.close();
  }, 120_000);

  test("a node stopping (SIGTERM): 503 while it hands a group over, 503 shutting_down to its exit",
    async () => {
      const id = cluster.ids()[1]!;
      const node = cluster.node(id);
      node.proc.kill("SIGTERM");
      // Each group it leads is released (503 not_in_sync) and handed over (its copy here is a
      // standby's then: in sync again), then it drains (503 shutting_down) until it exits. A
      // terminating pod is neither a Service endpoint nor healthy for the PDB, whatever it answers.
      const statuses: string[] = [];
      for (;;) {
        const answer = await fetch(`${node.base_url}${IN_SYNC_PROBE_PATH}`).then(
          async (r) => `${r.status} ${(await r.json() as { status: string }).status}`, () => null);
        if (answer === null) break;
        if (statuses.at(-1) !== answer) statuses.push(answer);
        await Bun.sleep(POLL_MS);
      }
      expect(await node.exited).toBe(0);
      console.log(`${id} stopping: ${statuses.join(" -> ")}`);
      expect(statuses.some((status) => status.startsWith("503"))).toBe(true);
      for (const status of statuses) {
        expect(["200 in_sync", "503 not_in_sync", "503 shutting_down"]).toContain(status);
      }
    }, 120_000);
});
