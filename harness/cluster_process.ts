// A cluster of real node processes on 127.0.0.1 (the cluster tests' TestCluster and the cluster
// benchmark both start theirs here): each node its own ports and data directory, one control
// plane schema in PostgreSQL, one cluster key and one auth keys file for all. Who leads a group is
// read from the control plane and confirmed on the node's /metrics (balance_group_leader), never
// guessed from a sleep. A subclass may put links of its own in front of a node (links_of).

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { open_control_plane, type ControlPlane } from "../cluster/control_plane/connection.ts";
import { apply_control_plane_migrations } from "../cluster/control_plane/migrate.ts";
import { read_routing_map, type RoutingMap } from "../cluster/control_plane/routing_map.ts";
import { free_port, ServiceProcess } from "./service_process.ts";
import { ensure_services } from "./services.ts";

const LEADER_WAIT_MS_MAX = 30_000;
const LEADER_POLL_MS = 50;
const METRICS_TIMEOUT_MS = 1_000;
const CLUSTER_KEY_BYTES = 48;
const AUTH_SECRET_BYTES = 32;
const IDEMPOTENCY_WINDOW_MS_CLUSTER = 120_000;
const IDEMPOTENCY_ENTRIES_CLUSTER = 262_144;

export interface ClusterShape {
  nodes: number;
  groups: number;
  replicas: number;
  lease_ms: number;
  /** GROUP_MAP: pinned partner -> group, e.g. "7:0,8:1". */
  group_map: string;
  /** Each node's environment over the cluster's (limits of a benchmark, say). */
  env?: Record<string, string>;
}

/** A control plane schema of the cluster's own (TestPlane of the tests has this shape). */
export interface ClusterPlane {
  schema: string;
  database_url: string;
  plane: ControlPlane;
  drop(): Promise<void>;
}

/** What a subclass puts between a node and the others (ports of its proxies), or null. */
export interface NodeLinks {
  /** The port other nodes reach this node's replication listener on. */
  replication_advertised_port: number;
  /** The port this node reaches the control plane's PostgreSQL on. */
  database_port: number;
}

export interface NodeSpec {
  id: string;
  http_port: number;
  tcp_port: number;
  replication_port: number;
  data_dir: string;
  links: NodeLinks | null;
}

let plane_count = 0;

/** A new, migrated control plane schema named for `label`, dropped by drop(). */
export async function open_cluster_plane(label: string): Promise<ClusterPlane> {
  const { database_url } = await ensure_services();
  const schema = `cluster_${label}_${process.pid}_${Date.now().toString(36)}_${plane_count++}`;
  await apply_control_plane_migrations(database_url, schema);
  const plane = open_control_plane({ database_url, schema });
  return {
    schema, database_url, plane,
    async drop() {
      await plane.close();
      const admin = postgres(database_url, { max: 1, onnotice: () => {} });
      await admin`drop schema if exists ${admin(schema)} cascade`;
      await admin.end({ timeout: 5 });
    },
  };
}

export class ClusterProcesses {
  readonly processes = new Map<string, ServiceProcess>();
  protected readonly specs = new Map<string, NodeSpec>();
  readonly idempotency_window_ms = IDEMPOTENCY_WINDOW_MS_CLUSTER;
  protected readonly dir: string;
  private readonly key_file: string;
  private readonly auth_keys_file: string;

  constructor(readonly plane: ClusterPlane, readonly shape: ClusterShape, label: string) {
    this.dir = mkdtempSync(join(tmpdir(), `balance-cluster-${label}-`));
    this.key_file = join(this.dir, "cluster.key");
    writeFileSync(this.key_file, crypto.getRandomValues(new Uint8Array(CLUSTER_KEY_BYTES)));
    this.auth_keys_file = join(this.dir, "auth-keys.json");
    const secret = Buffer.from(crypto.getRandomValues(new Uint8Array(AUTH_SECRET_BYTES)));
    writeFileSync(this.auth_keys_file, JSON.stringify({ keys: [
      { kid: "cluster-test", alg: "HS256", secret: secret.toString("base64url") },
    ] }), { mode: 0o600 });
  }

  /** Starts `shape.nodes` nodes together and waits until every group is led. */
  async launch(): Promise<void> {
    // Together: the first placement waits for all of them (INITIAL_NODES), and a node's start
    // waits for its groups' placement only as far as its own registration.
    const starts = await Promise.allSettled(Array.from({ length: this.shape.nodes },
      (_, i) => this.add_node(`node-${i + 1}`)));
    try {
      const failed = starts.find((start) => start.status === "rejected");
      if (failed !== undefined) throw failed.reason;
      await this.wait_all_led();
    } catch (error) {
      // The caller never gets this cluster, so nothing else would stop the nodes that did start
      // (one was found still running an hour after a run where its sibling's port was taken).
      await this.stop();
      throw error;
    }
  }

  /** Links of a subclass in front of a new node (none here). */
  protected links_of(_id: string, _replication_port: number): Promise<NodeLinks | null> {
    return Promise.resolve(null);
  }

  tcp_address(id: string): string {
    return `127.0.0.1:${this.specs.get(id)!.tcp_port}`;
  }

  ids(): string[] {
    return [...this.specs.keys()];
  }

  node(id: string): ServiceProcess {
    const process = this.processes.get(id);
    if (process === undefined) throw new Error(`node ${id} is not running`);
    return process;
  }

  /** Starts a new node (a new NODE_ID) on its own ports and directory. */
  async add_node(id: string): Promise<ServiceProcess> {
    const replication_port = free_port();
    const spec: NodeSpec = { id, http_port: free_port(), tcp_port: free_port(), replication_port,
      data_dir: mkdtempSync(join(this.dir, `${id}-`)), links: await this.links_of(id, replication_port) };
    this.specs.set(id, spec);
    return this.start_node(id);
  }

  async start_node(id: string): Promise<ServiceProcess> {
    const spec = this.specs.get(id)!;
    const started = await ServiceProcess.start({
      port: spec.http_port, data_dir: spec.data_dir, env: this.env_of(spec),
    });
    this.processes.set(id, started);
    return started;
  }

  /** Wipes a stopped node's data directory (a new, empty disk). */
  wipe(id: string): void {
    const spec = this.specs.get(id)!;
    if (this.processes.get(id)?.running) throw new Error(`wipe of a running node ${id}`);
    rmSync(spec.data_dir, { recursive: true, force: true });
    spec.data_dir = mkdtempSync(join(this.dir, `${id}-`));
  }

  kill(id: string, signal: NodeJS.Signals = "SIGKILL"): Promise<number> {
    const node = this.node(id);
    node.proc.kill(signal);
    if (signal === "SIGSTOP" || signal === "SIGCONT") return Promise.resolve(0);
    this.processes.delete(id);
    return node.exited;
  }

  /** The control plane's routing map now. */
  async map(): Promise<RoutingMap> {
    const read = await read_routing_map(this.plane.plane);
    if (read.kind !== "map") throw new Error(`routing map: ${read.kind}`);
    return read.map;
  }

  /** The group's lease holder, once that node says it leads the group (its engine adopted it). */
  async leader_of(group: number, not: string | null = null): Promise<string> {
    const deadline = performance.now() + LEADER_WAIT_MS_MAX;
    for (;;) {
      const route = (await this.map()).groups.find((g) => g.group === group);
      const holder = route?.primary ?? null;
      if (holder !== null && holder !== not && await this.says_it_leads(holder, group)) {
        return holder;
      }
      if (performance.now() > deadline) {
        throw new Error(`group ${group} has no leader (holder ${holder}) after ` +
          `${LEADER_WAIT_MS_MAX} ms\n${this.outputs()}`);
      }
      await Bun.sleep(LEADER_POLL_MS);
    }
  }

  async wait_all_led(): Promise<string[]> {
    const leaders: string[] = [];
    for (let group = 0; group < this.shape.groups; group++) leaders.push(await this.leader_of(group));
    return leaders;
  }

  /** Whether `id`'s /metrics says it leads `group` (false when it does not answer). */
  async says_it_leads(id: string, group: number): Promise<boolean> {
    const node = this.processes.get(id);
    if (node === undefined || !node.running) return false;
    try {
      const text = await (await fetch(`${node.base_url}/metrics`,
        { signal: AbortSignal.timeout(METRICS_TIMEOUT_MS) })).text();
      return text.includes(`balance_group_leader{group="${group}"} 1`);
    } catch {
      return false;
    }
  }

  /** Waits until `done()` holds, polling; throws with every node's output past the limit. */
  async until(what: string, done: () => boolean | Promise<boolean>): Promise<void> {
    const deadline = performance.now() + LEADER_WAIT_MS_MAX;
    while (!await done()) {
      if (performance.now() > deadline) {
        throw new Error(`${what}: not within ${LEADER_WAIT_MS_MAX} ms\n` +
          `${JSON.stringify((await this.map()).groups)}\n${this.outputs()}`);
      }
      await Bun.sleep(LEADER_POLL_MS);
    }
  }

  /** The group's first standby as the control plane records it now. */
  async standby_of(group: number): Promise<{ node: string; in_sync: boolean }> {
    const route = (await this.map()).groups.find((g) => g.group === group)!;
    return route.standbys[0]!;
  }

  /** Waits until every standby of `group` is recorded in sync (a takeover needs one). */
  async wait_in_sync(group: number): Promise<void> {
    await this.until(`group ${group} in sync`, async () => {
      const route = (await this.map()).groups.find((g) => g.group === group)!;
      return route.standbys.every((s) => s.in_sync);
    });
  }

  /** The tails of every node's output, for failure messages. */
  outputs(): string {
    return [...this.processes].map(([id, node]) => `--- ${id}\n${node.output()}`).join("\n");
  }

  /** Kills every node (resumed first if frozen), drops the schema, removes the directories. */
  async stop(): Promise<void> {
    for (const id of [...this.processes.keys()]) {
      const node = this.processes.get(id)!;
      if (node.running) node.proc.kill("SIGCONT");
      await this.kill(id);
    }
    await this.plane.drop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private env_of(spec: NodeSpec): Record<string, string> {
    const { shape } = this;
    const database_url = new URL(this.plane.database_url);
    if (spec.links !== null) database_url.port = String(spec.links.database_port);
    const advertised_port = spec.links?.replication_advertised_port ?? spec.replication_port;
    return {
      NODE_ID: spec.id,
      NODE_HTTP_ADDRESS: `127.0.0.1:${spec.http_port}`,
      NODE_TCP_ADDRESS: `127.0.0.1:${spec.tcp_port}`,
      NODE_REPLICATION_ADDRESS: `127.0.0.1:${advertised_port}`,
      NODE_REPLICATION_LISTEN_ADDRESS: `127.0.0.1:${spec.replication_port}`,
      TCP_PORT: String(spec.tcp_port),
      CLUSTER_DATABASE_URL: database_url.toString(),
      CLUSTER_DATABASE_SCHEMA: this.plane.schema,
      CLUSTER_KEY_FILE: this.key_file,
      REPLICAS: String(shape.replicas),
      INITIAL_NODES: String(shape.nodes),
      LEASE_MS: String(shape.lease_ms),
      GROUPS: String(shape.groups),
      GROUP_MAP: shape.group_map,
      AUTH_KEYS_FILE: this.auth_keys_file,
      // Every order of a run stays findable by id: the checks read each one back.
      // (The window holds a fixed number of ids per 64 ms: enough entries for the load's rate.)
      IDEMPOTENCY_WINDOW_MS: String(IDEMPOTENCY_WINDOW_MS_CLUSTER),
      IDEMPOTENCY_ENTRIES_PER_GROUP: String(IDEMPOTENCY_ENTRIES_CLUSTER),
      ...shape.env,
    };
  }
}
