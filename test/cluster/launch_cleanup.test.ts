// A cluster whose launch fails part way (a node cannot start: in CI, a port taken between its
// probe and its bind) stops the nodes that did start before it reports the failure: the caller
// never gets the cluster, so nothing else would. One such node was found still running an hour
// after the test run that started it.

import { expect, test } from "bun:test";
import { ClusterProcesses, type NodeLinks } from "../../harness/cluster_process.ts";
import type { ServiceProcess } from "../../harness/service_process.ts";
import { fresh_plane } from "./control_support.ts";

const START_TIMEOUT_MS = 120_000;

/** node-2 cannot start (the test's fault); every node that does start is recorded. */
class SecondNodeFails extends ClusterProcesses {
  readonly started: ServiceProcess[] = [];

  protected override async links_of(id: string, replication_port: number)
    : Promise<NodeLinks | null> {
    if (id === "node-2") throw new Error("node-2 cannot start (the test's fault)");
    return super.links_of(id, replication_port);
  }

  override async start_node(id: string): Promise<ServiceProcess> {
    const node = await super.start_node(id);
    this.started.push(node);
    return node;
  }
}

test("a launch that fails part way stops the nodes that started, then reports the failure",
  async () => {
    const cluster = new SecondNodeFails(await fresh_plane("launch_cleanup"),
      { nodes: 2, groups: 2, replicas: 2, lease_ms: 1_000, group_map: "" }, "launch-cleanup");
    let failure: unknown = null;
    await cluster.launch().catch((error: unknown) => { failure = error; });
    expect(String(failure)).toContain("node-2 cannot start");
    // The fault hit a launch in flight: node-1 had come up (ready) before the failure was known.
    expect(cluster.started.length).toBe(1);
    const node = cluster.started[0]!;
    expect(await node.exited).not.toBeNull();
    expect(node.running).toBe(false);
    expect(cluster.ids()).toEqual(["node-1"]); // its spec stays; its process is gone
    expect(() => cluster.node("node-1")).toThrow("not running");
  }, START_TIMEOUT_MS);
