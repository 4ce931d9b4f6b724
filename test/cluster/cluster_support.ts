// A cluster of real node processes for the fault tests: harness/cluster_process.ts starts and
// watches the nodes; here each test gets a control plane schema of its own, and, on request, a
// proxy in front of each node's replication listener and another between the node and
// PostgreSQL (test/cluster/link_proxy.ts), which the test cuts.

import {
  ClusterProcesses, type ClusterShape as ProcessShape, type NodeLinks,
} from "../../harness/cluster_process.ts";
import { port_was_taken } from "../../harness/service_process.ts";
import { group_dir } from "../../journal/segment_names.ts";
import { fresh_plane, type TestPlane } from "./control_support.ts";
import { LinkProxy } from "./link_proxy.ts";

export interface ClusterShape extends ProcessShape {
  /**
   * Each node reaches PostgreSQL through a proxy of its own, and is reached on its replication
   * address through another (test/cluster/link_proxy.ts): the test cuts them.
   */
  proxies?: boolean;
}

export interface NodeProxies {
  /** In front of this node's replication listener: forward = primary -> this standby. */
  replication: LinkProxy;
  /** Between this node and the control plane's PostgreSQL. */
  database: LinkProxy;
}

/** Whole cluster starts tried when a node's port was taken under it (EADDRINUSE). */
const CLUSTER_START_ATTEMPTS_MAX = 3;

export class TestCluster extends ClusterProcesses {
  private readonly node_proxies = new Map<string, NodeProxies>();

  private constructor(override readonly plane: TestPlane, override readonly shape: ClusterShape,
    label: string) {
    super(plane, shape, label);
  }

  /** Starts `shape.nodes` nodes one after another and waits until every group is led. */
  static async start(label: string, shape: ClusterShape): Promise<TestCluster> {
    for (let attempt = 1; ; attempt++) {
      const cluster = new TestCluster(await fresh_plane(label), shape, label);
      try {
        await cluster.launch();
        return cluster;
      } catch (error) {
        // A node's ports are chosen free before it starts; another process may take one first
        // (the node then exits with EADDRINUSE). launch() stopped the rest: start over.
        if (attempt === CLUSTER_START_ATTEMPTS_MAX || !port_was_taken(String(error))) {
          throw error;
        }
      }
    }
  }

  /** `bun run cluster -- <args>` against this cluster's control plane, with an internal token. */
  async run_cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
    const proc = Bun.spawn([process.execPath, "cluster/cli/main.ts", ...args], {
      cwd: `${import.meta.dir}/../..`, stdout: "pipe", stderr: "pipe",
      env: { ...process.env, CLUSTER_DATABASE_URL: this.plane.database_url,
        CLUSTER_DATABASE_SCHEMA: this.plane.schema,
        BALANCE_TOKEN: this.node(this.ids()[0]!).internal_token! },
    });
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(),
      new Response(proc.stderr).text(), proc.exited]);
    return { code, out, err };
  }

  /** A node's directory of `group` (its journal segments and snapshots). */
  group_dir(id: string, group: number): string {
    return group_dir(this.specs.get(id)!.data_dir, group);
  }

  proxies(id: string): NodeProxies {
    const proxies = this.node_proxies.get(id);
    if (proxies === undefined) throw new Error("the cluster was started without proxies");
    return proxies;
  }

  protected override async links_of(id: string, replication_port: number)
    : Promise<NodeLinks | null> {
    if (this.shape.proxies !== true) return null;
    const proxies = {
      replication: await LinkProxy.start(replication_port),
      database: await LinkProxy.start(Number(new URL(this.plane.database_url).port)),
    };
    this.node_proxies.set(id, proxies);
    return { replication_advertised_port: proxies.replication.port,
      database_port: proxies.database.port };
  }

  override async stop(): Promise<void> {
    for (const id of [...this.processes.keys()]) {
      const node = this.processes.get(id)!;
      if (node.running) node.proc.kill("SIGCONT");
      await this.kill(id);
    }
    for (const proxies of this.node_proxies.values()) {
      await proxies.replication.stop();
      await proxies.database.stop();
    }
    await super.stop();
  }
}
