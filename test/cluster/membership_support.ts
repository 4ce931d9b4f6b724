// Shared by the membership tests: a scheduler the test fires by hand, Membership objects for
// node-0.. on a test schema, and a TCP proxy to PostgreSQL the test can cut (the membership then
// finds its database unreachable, as a node cut off from it would).

import * as net from "node:net";
import type { ClusterConfig } from "../../cluster/membership/cluster_config.ts";
import { Membership } from "../../cluster/membership/membership.ts";
import type { Scheduler, Timer } from "../../cluster/membership/scheduler.ts";
import type { TestPlane } from "./control_support.ts";

/** Longer than any tick: a tick whose database is unreachable waits for a connect timeout. */
const TICK_WAIT_MS_MAX = 60_000;
const TICK_POLL_MS = 5;

/** Holds the loop's next run until the test fires it. */
export class ManualScheduler implements Scheduler {
  readonly delays_ms: number[] = [];
  private pending: (() => void) | null = null;

  after(delay_ms: number, run: () => void): Timer {
    if (this.pending !== null) throw new Error("the loop scheduled twice");
    this.delays_ms.push(delay_ms);
    this.pending = run;
    return { cancel: () => { if (this.pending === run) this.pending = null; } };
  }

  get has_pending(): boolean {
    return this.pending !== null;
  }

  /** Runs the pending tick and waits until it has finished (the loop has scheduled the next). */
  async fire(): Promise<void> {
    const run = this.pending;
    if (run === null) throw new Error("no tick pending");
    this.pending = null;
    run();
    const deadline_ms = Date.now() + TICK_WAIT_MS_MAX;
    while (this.pending === null) {
      if (Date.now() > deadline_ms) throw new Error("the tick did not finish in time");
      await Bun.sleep(TICK_POLL_MS);
    }
  }
}

export interface Deposition {
  group: number;
  epoch: number;
  holder: string;
}

export interface TestNode {
  membership: Membership;
  scheduler: ManualScheduler;
  deposed: Deposition[];
  disk_id: string;
}

export interface NodeShape {
  groups: number;
  replicas: number;
  lease_ms: number;
  /** Another URL for this node's control plane (a proxy); the test plane's by default. */
  database_url?: string;
}

export function node_config(index: number, db: TestPlane, shape: NodeShape): ClusterConfig {
  return {
    tls: null,
    node_id: `node-${index}`,
    http_address: `127.0.0.1:${18_000 + index}`,
    tcp_address: `127.0.0.1:${19_000 + index}`,
    replication_address: `127.0.0.1:${20_000 + index}`,
    replication_listen_address: `127.0.0.1:${20_000 + index}`,
    database_url: shape.database_url ?? db.database_url,
    database_schema: db.schema,
    replicas: shape.replicas,
    lease_ms: shape.lease_ms,
    key_file: "/nonexistent/cluster.key", // the loop alone reads no key
    initial_nodes: shape.replicas,
  };
}

/** node-<index> on disk disk-<index>-a, not started; its loop on `loop_scheduler` if given. */
export function test_node(index: number, db: TestPlane, shape: NodeShape,
  loop_scheduler?: Scheduler): TestNode {
  const scheduler = new ManualScheduler();
  const deposed: Deposition[] = [];
  const disk_id = `disk-${index}-a`;
  const membership = new Membership({
    config: node_config(index, db, shape), groups: shape.groups, partner_map: new Map(),
    disk_id, scheduler: loop_scheduler ?? scheduler,
    on_deposed: (group, epoch, holder) => deposed.push({ group, epoch, holder }),
  });
  return { membership, scheduler, deposed, disk_id };
}

/** A TCP proxy to PostgreSQL; `cut` closes it and every connection through it. */
export interface DatabaseProxy {
  database_url: string;
  cut(): Promise<void>;
}

export async function database_proxy(database_url: string): Promise<DatabaseProxy> {
  const target = new URL(database_url);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("error", () => socket.destroy());
      socket.on("close", () => { sockets.delete(socket); client.destroy(); upstream.destroy(); });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  const url = new URL(database_url);
  url.host = `127.0.0.1:${port}`;
  return {
    database_url: url.toString(),
    async cut() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
