// The local overlay's pods run for real, as processes on 127.0.0.1 against the tests' PostgreSQL
// and Kafka: each container's environment resolved from the rendered manifests (the kubelet's
// rules, test/deploy/support.ts), its Secret and ConfigMap volumes written out at their mount
// paths under a temporary root, and only what cannot be the same here replaced (listed in
// `local_env`: ports, addresses, the databases, the topic). The node and the projector start from
// that, and every probe they declare is asked on the port it names: each answers 200. The
// migration Job's cluster step runs with its own environment too.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kafka, logLevel } from "kafkajs";
import postgres from "postgres";
import { free_port, ServiceProcess } from "../../harness/service_process.ts";
import { ensure_services, type Services } from "../../harness/services.ts";
import { fresh_schema, type TestDatabase } from "../projector/support.ts";
import { StagedProcess } from "../docker/stage.ts";
import {
  container_env, find, INSTALL_TIMEOUT_MS, install_kustomize, materialize_mounts, pod_spec, render,
  REPO_ROOT, staged_tree, type Container, type PodSpec, type Rendered,
} from "./support.ts";

const NAMESPACE = "balance";
const WAIT_MS_MAX = 60_000;
const WAIT_POLL_MS = 50;
const PARTITIONS = 4;

let rendered: Rendered;
/** The local overlay with components/tls: the node's front doors speak TLS. */
let rendered_tls: Rendered;
let services: Services;
let database: TestDatabase;
let root: string;
const suffix = `${process.pid}_${Date.now().toString(36)}`;
const cluster_schemas = [`cluster_k8s_${suffix}`, `cluster_k8s_tls_${suffix}`];
const topic = `k8s-probes-${suffix}`;
const processes: { kill(): void }[] = [];
let pods_started = 0;

beforeAll(async () => {
  const kustomize = install_kustomize();
  const tree = staged_tree();
  rendered = render(kustomize, join(tree, "overlays/local"));
  rendered_tls = render(kustomize, join(tree, "overlays/local-tls"));
  rmSync(tree, { recursive: true, force: true });
  services = await ensure_services();
  database = await fresh_schema("k8s", false);
  root = mkdtempSync(join(tmpdir(), "balance-k8s-pods-"));
  const kafka = new Kafka({ brokers: services.kafka_brokers.split(","),
    logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }] });
  await admin.disconnect();
}, INSTALL_TIMEOUT_MS);

afterAll(async () => {
  for (const proc of processes) proc.kill();
  await database?.drop();
  if (services !== undefined) {
    const admin = postgres(services.database_url, { max: 1, onnotice: () => {} });
    for (const schema of cluster_schemas) {
      await admin`drop schema if exists ${admin(schema)} cascade`;
    }
    await admin.end({ timeout: 5 });
  }
  if (root !== undefined) rmSync(root, { recursive: true, force: true });
});

/** The container's volumes written under a root of its own; its environment pointing there. */
function pod_env(source: Rendered, pod: PodSpec, container: Container, pod_name: string,
  replaced: Record<string, string>): Record<string, string> {
  const pod_root = join(root, `${pod_name}-${pods_started++}`, container.name);
  materialize_mounts(source, pod, container, pod_root);
  const env: Record<string, string> = {};
  for (const [name, value] of container_env(source, container, pod_name, NAMESPACE)) {
    const mounted = (container.volumeMounts ?? []).some((m) =>
      value === m.mountPath || value.startsWith(`${m.mountPath}/`));
    env[name] = mounted ? join(pod_root, value) : value;
  }
  for (const [name, value] of Object.entries(replaced)) {
    expect(env[name] ?? "(unset)").not.toBe(value);
    env[name] = value;
  }
  return { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", ...env };
}

/** Each named container port on a free local port. */
function local_ports(container: Container): Map<string, number> {
  return new Map((container.ports ?? []).map((p) => [p.name!, free_port()]));
}

async function probe_statuses(container: Container, ports: Map<string, number>)
  : Promise<Record<string, number>> {
  const statuses: Record<string, number> = {};
  for (const kind of ["startupProbe", "livenessProbe", "readinessProbe"] as const) {
    const probe = container[kind];
    if (probe === undefined) continue;
    const get = probe.httpGet!;
    const port = ports.get(String(get.port))!;
    const scheme = (get.scheme ?? "HTTP").toLowerCase();
    const response = await fetch(`${scheme}://127.0.0.1:${port}${get.path}`,
      { tls: { rejectUnauthorized: false } });
    await response.arrayBuffer();
    statuses[`${kind} ${get.path}`] = response.status;
  }
  return statuses;
}

async function until_ok(url: string, proc: StagedProcess): Promise<void> {
  const deadline_ms = Date.now() + WAIT_MS_MAX;
  while (Date.now() < deadline_ms) {
    if (proc.proc.exitCode !== null) {
      await proc.exited;
      throw new Error(`${url}: the process exited ${proc.proc.exitCode}:\n${proc.output}`);
    }
    const status = await fetch(url).then((r) => r.status, () => 0);
    if (status === 200) return;
    await Bun.sleep(WAIT_POLL_MS);
  }
  throw new Error(`${url} not 200 within ${WAIT_MS_MAX} ms:\n${proc.output}`);
}

describe("the local overlay's pods, run as processes", () => {
  const variants = [["local", "HTTP"], ["local-tls", "HTTPS"]] as const;
  test.each(variants)("%s: a node starts from its manifest's environment and answers every probe " +
    "200 over %s", async (overlay, scheme) => {
    const source = overlay === "local" ? rendered : rendered_tls;
    const cluster_schema = cluster_schemas[overlay === "local" ? 0 : 1]!;
    const set = find(source, "StatefulSet", "balance-node");
    const pod = pod_spec(set);
    const container = pod.containers.find((c) => c.name === "node")!;
    const ports = local_ports(container);
    const [http, tcp, replication] = ["http", "tcp", "replication"].map((n) => ports.get(n)!);
    const env = pod_env(source, pod, container, "balance-node-0", {
      PORT: String(http), TCP_PORT: String(tcp),
      NODE_HTTP_ADDRESS: `127.0.0.1:${http}`, NODE_TCP_ADDRESS: `127.0.0.1:${tcp}`,
      NODE_REPLICATION_ADDRESS: `127.0.0.1:${replication}`,
      NODE_REPLICATION_LISTEN_ADDRESS: `127.0.0.1:${replication}`,
      CLUSTER_DATABASE_URL: services.database_url, CLUSTER_DATABASE_SCHEMA: cluster_schema,
      KAFKA_BROKERS: services.kafka_brokers, EVENTS_TOPIC: topic,
    });
    // The claim "data" is an empty directory at DATA_DIR's mount path.
    expect(env.DATA_DIR!.startsWith(root)).toBe(true);
    // With TLS the harness reads /readyz trusting the overlay's development CA.
    const https_ca = scheme === "HTTPS" ? readFileSync(env.TLS_CA_FILE!, "utf8") : undefined;
    expect(env.TLS_CERT_FILE === undefined).toBe(scheme === "HTTP");
    const node = await ServiceProcess.start({ port: http, data_dir: env.DATA_DIR!, env, https_ca });
    expect(node.base_url.startsWith(`${scheme.toLowerCase()}://`)).toBe(true);
    processes.push({ kill: () => node.proc.kill("SIGKILL") });
    // Alone, the first of INITIAL_NODES: registered, no group placed yet, so nothing to catch up.
    expect(await probe_statuses(container, ports)).toEqual({
      "startupProbe /healthz": 200, "livenessProbe /healthz": 200,
      "readinessProbe /readyz/in-sync": 200,
    });
    const trust = { tls: { rejectUnauthorized: false } };
    const in_sync = await (await fetch(`${node.base_url}/readyz/in-sync`, trust)).json();
    expect(in_sync).toEqual({ status: "in_sync", groups: [] });
    // A path that is not a route answers 404: the 200s above are routes.
    expect((await fetch(`${node.base_url}/readyz/nothing`, trust)).status).toBe(404);
    // The control plane knows it by its pod name.
    const sql = postgres(services.database_url, { max: 1, onnotice: () => {} });
    const rows = await sql`select node_id from ${sql(cluster_schema)}.nodes`;
    await sql.end({ timeout: 5 });
    expect(rows.map((r) => r.node_id)).toEqual(["balance-node-0"]);
    node.proc.kill("SIGTERM");
    expect(await node.exited).toBe(0);
  }, 120_000);

  test("the migration Job's cluster step runs with its environment", () => {
    const job = pod_spec(find(rendered, "Job", "balance-migrate"));
    const step = job.containers.find((c) => c.name === "cluster-schema")!;
    const env = pod_env(rendered, job, step, "balance-migrate", {
      CLUSTER_DATABASE_URL: services.database_url, CLUSTER_DATABASE_SCHEMA: cluster_schemas[0]!,
    });
    const argv = [process.execPath, ...step.command!.slice(1)];
    const ran = Bun.spawnSync(argv, { cwd: REPO_ROOT, env, stdout: "pipe", stderr: "pipe" });
    expect(`${ran.stderr}`).toBe("");
    expect(ran.exitCode).toBe(0);
  }, 60_000);

  test("the projector starts from its manifest's environment and answers every probe 200",
    async () => {
      const deployment = find(rendered, "Deployment", "balance-projector");
      const pod = pod_spec(deployment);
      const container = pod.containers[0]!;
      const ports = local_ports(container);
      const env = pod_env(rendered, pod, container, "balance-projector-0", {
        PROJECTOR_HOST: "127.0.0.1", PROJECTOR_PORT: String(ports.get("http")!),
        DATABASE_URL: services.database_url, DATABASE_SCHEMA: database.schema,
        KAFKA_BROKERS: services.kafka_brokers, EVENTS_TOPIC: topic,
        PROJECTOR_GROUP_ID: `${topic}-projector`,
      });
      const argv = [process.execPath, ...container.command!.slice(1)];
      const proc = StagedProcess.start(REPO_ROOT, argv, env);
      processes.push({ kill: () => proc.proc.kill("SIGKILL") });
      await until_ok(`http://127.0.0.1:${ports.get("http")}/readyz`, proc);
      expect(await probe_statuses(container, ports)).toEqual({
        "livenessProbe /healthz": 200, "readinessProbe /readyz": 200,
      });
      proc.proc.kill("SIGKILL");
      await proc.exited;
    }, 120_000);
});
