// deploy/k8s/ checked offline (docs/deploy.md, "How the manifests are checked"): kustomize renders
// the base, the local overlay and the overlay with components/tls; every rendered resource
// validates against the Kubernetes API's schemas (kubernetes-validate --strict, oldest and newest
// version supported); then the wiring: every variable the node reads is set or has a default
// stated here, every variable set is read, ports agree with PORT / TCP_PORT / the replication
// address and the Services, the volume is at DATA_DIR, every Secret and ConfigMap referenced
// exists with its keys, the pods are non-root on a read-only root filesystem, and the PDB, the
// readiness probe and the anti-affinity are the ones that keep a group's in-sync copy. The tools
// install on first use (scripts/install-*.sh); a missing tool fails here, it never skips.

import { beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { IN_SYNC_PROBE_PATH } from "../../server/http_probes.ts";
import { env_reads } from "./env_reads.ts";
import {
  all_containers, container_env, find, find_generated, INSTALL_TIMEOUT_MS,
  install_kubernetes_validate, install_kustomize, KUBERNETES_VERSIONS, pod_spec, render, run,
  staged_tree, type Container, type PodSpec, type Rendered, type Resource,
} from "./support.ts";

const NAMESPACE = "balance";
const NODE_POD = "balance-node-0";

/**
 * What the node reads and the manifests leave to its default, each with the reason. A variable the
 * node starts to read fails the test until it is set in the manifests or stated here.
 */
const NODE_DEFAULTED: Readonly<Record<string, string>> = {
  ENGINE_WORKERS: "1 engine worker (the requests size the pod for it)",
  GROUP_MAP: "partners hashed over the groups; set it in an overlay to pin partners",
  RING_SLOTS: "4096",
  JOURNAL_SEGMENT_BYTES: "the journal's default segment size",
  JOURNAL_SHARED_FLUSH: "on: the volumes are ext4 (docs/deploy.md)",
  REQUEST_TIMEOUT_MS: "10 s",
  IDEMPOTENCY_WINDOW_MS: "the protocol's default window",
  SEED_FILE: "no seeding: a cluster is loaded by its clients",
  DATABASE_URL: "storage load is a single node's; a cluster node catches up from its primary",
  DATABASE_SCHEMA: "with DATABASE_URL only",
  TCP_CONNECTIONS_MAX: "docs/protocol.md, Limits", TCP_IN_FLIGHT_MAX: "docs/protocol.md, Limits",
  TCP_IDLE_TIMEOUT_MS: "docs/protocol.md, Limits", TCP_FRAME_TIMEOUT_MS: "docs/protocol.md, Limits",
  TCP_SEND_BUFFER_BYTES_MAX: "docs/protocol.md, Limits",
  TCP_CONNECTIONS_PER_PRINCIPAL_MAX: "docs/protocol.md, Limits",
  TCP_UNAUTHENTICATED_CONNECTIONS_MAX: "docs/protocol.md, Limits",
  AUTH: "on", AUTH_JWKS_URL: "HS256 keys from AUTH_KEYS_FILE only",
  AUTH_ISSUER: "balance-service", AUTH_AUDIENCE: "balance-service",
  AUTH_REVOCATION_POLL_MS: "the default poll",
  TLS_CERT_FILE: "components/tls sets it", TLS_KEY_FILE: "components/tls sets it",
  CLUSTER_TLS_CERT_FILE: "components/tls sets it", CLUSTER_TLS_KEY_FILE: "components/tls sets it",
  CLUSTER_TLS_CA_FILE: "components/tls sets it", TLS_RELOAD_CHECK_MS: "10 s",
};

/**
 * TLS's variables (components/tls sets them; docs/tls.md): the node reads them through auth/tls.ts
 * by name (front_door_tls_files, replication_tls_files), and TLS_CA_FILE is the cluster tool's
 * (cluster/cli/node_http.ts), which server/main.ts does not load: the scan cannot see them read.
 */
const TLS_VARIABLES = new Set(["TLS_CERT_FILE", "TLS_KEY_FILE", "TLS_CA_FILE",
  "CLUSTER_TLS_CERT_FILE", "CLUSTER_TLS_KEY_FILE", "CLUSTER_TLS_CA_FILE", "TLS_RELOAD_CHECK_MS"]);

/** Read by Bun itself, not by the program. */
const BUN_VARIABLE = "BUN_RUNTIME_TRANSPILER_CACHE_PATH";
/** Set in the pods, not read by the program: helpers of $(VAR) expansion, the shared map's. */
const NODE_HELPERS = new Set(["POD_NAMESPACE", "PEER_HOST", "REPLICATION_PORT", "PROJECTOR_HOST",
  "PROJECTOR_PORT", BUN_VARIABLE, ...TLS_VARIABLES]);
const PROJECTOR_HELPERS = new Set([BUN_VARIABLE, "PORT", "TCP_PORT", "REPLICATION_PORT", "GROUPS",
  "REPLICAS", "INITIAL_NODES", "LEASE_MS", "CLUSTER_DATABASE_SCHEMA", "HOST", "ACCOUNTS_PER_GROUP",
  "HOLDS_PER_GROUP", "IDEMPOTENCY_ENTRIES_PER_GROUP", "SNAPSHOT_INTERVAL_MS"]);

let root: string;
let validator: string;
const rendered: Record<"base" | "local" | "local-tls", Rendered> = {} as never;

beforeAll(() => {
  const kustomize = install_kustomize();
  validator = install_kubernetes_validate();
  root = staged_tree();
  rendered.base = render(kustomize, join(root, "base"));
  rendered.local = render(kustomize, join(root, "overlays/local"));
  rendered["local-tls"] = render(kustomize, join(root, "overlays/local-tls"));
}, INSTALL_TIMEOUT_MS);

function validate(name: string, text: string): { code: number; out: string } {
  const path = join(root, `${name}.rendered.yaml`);
  writeFileSync(path, text);
  const outputs: string[] = [];
  let code = 0;
  for (const version of KUBERNETES_VERSIONS) {
    const result = run([validator, "--strict", "-k", version, path]);
    outputs.push(result.out + result.err);
    code = Math.max(code, result.code);
  }
  return { code, out: outputs.join("") };
}

function node_set(name: keyof typeof rendered = "local"): Resource {
  return find(rendered[name], "StatefulSet", "balance-node");
}

function node_container(name: keyof typeof rendered = "local"): Container {
  return pod_spec(node_set(name)).containers.find((c) => c.name === "node")!;
}

function node_env(name: keyof typeof rendered = "local"): Map<string, string> {
  return container_env(rendered[name], node_container(name), NODE_POD, NAMESPACE);
}

function port_of(address: string): number {
  return Number(address.slice(address.lastIndexOf(":") + 1));
}

describe("deploy/k8s: rendered and validated against the Kubernetes schemas", () => {
  const NAMES = ["base", "local", "local-tls"] as const;
  test.each(NAMES)("%s: every resource is valid (strict)", (name) => {
    const result = validate(name, rendered[name].text);
    expect(result.out).not.toMatch(/ERROR|Couldn't find schema|WARN/);
    expect(result.code).toBe(0);
    const kinds = rendered[name].resources.map((r) => r.kind);
    for (const kind of ["StatefulSet", "Service", "PodDisruptionBudget", "Job", "Deployment",
      "ConfigMap"]) {
      expect(kinds).toContain(kind);
    }
  });

  test("the validator refuses a misspelled field and a wrong type", () => {
    const misspelled = rendered.local.text.replace("maxUnavailable: 1", "maxUnavailabel: 1");
    expect(misspelled).not.toBe(rendered.local.text);
    expect(validate("misspelled", misspelled).code).not.toBe(0);
    const wrong_type = rendered.local.text.replace("containerPort: 8080", "containerPort: http");
    expect(validate("wrong-type", wrong_type).code).not.toBe(0);
  });
});

describe("deploy/k8s: environment", () => {
  test("every variable the node reads is set in the manifests or has a stated default", () => {
    const reads = env_reads(["server/main.ts"]);
    // The scan finds what it must (a broken scan would pass anything).
    for (const known of ["PORT", "TCP_PORT", "DATA_DIR", "NODE_ID", "CLUSTER_KEY_FILE",
      "AUTH_KEYS_FILE", "GROUPS"]) {
      expect(reads.has(known)).toBe(true);
    }
    const env = node_env();
    const neither = [...reads.keys()].filter((name) => !env.has(name) && !(name in NODE_DEFAULTED));
    expect(neither).toEqual([]);
    const stale = Object.keys(NODE_DEFAULTED).filter((name) => !reads.has(name) &&
      !TLS_VARIABLES.has(name));
    expect(stale).toEqual([]);
  });

  test("every variable set in a node, the projector or the migration is read there", () => {
    const node_reads = env_reads(["server/main.ts"]);
    for (const name of ["local", "local-tls"] as const) {
      const unread = [...node_env(name).keys()].filter((v) => !node_reads.has(v) &&
        !NODE_HELPERS.has(v));
      expect(unread).toEqual([]);
    }
    const projector = find(rendered.local, "Deployment", "balance-projector");
    const projector_env = container_env(rendered.local, pod_spec(projector).containers[0]!,
      "balance-projector-0", NAMESPACE);
    const projector_reads = env_reads(["projector/main.ts"]);
    expect([...projector_env.keys()].filter((v) => !projector_reads.has(v) &&
      !PROJECTOR_HELPERS.has(v))).toEqual([]);
    const job = pod_spec(find(rendered.local, "Job", "balance-migrate"));
    const steps: [Container, string][] = [[job.initContainers![0]!, "projector/migrate.ts"],
      [job.containers[0]!, "cluster/control_plane/migrate.ts"]];
    for (const [container, entry] of steps) {
      expect(container.command).toEqual(["bun", entry]);
      const env = container_env(rendered.local, container, "balance-migrate", NAMESPACE);
      expect([...env_reads([entry]).keys()].filter((v) => !env.has(v) &&
        v !== "CLUSTER_DATABASE_SCHEMA")).toEqual([]);
    }
  });

  test("the node id is the pod's stable name; addresses are its balance-peers name", () => {
    const env = node_env();
    expect(node_container().env!.find((v) => v.name === "NODE_ID")!.valueFrom?.fieldRef?.fieldPath)
      .toBe("metadata.name");
    expect(env.get("NODE_ID")).toBe(NODE_POD);
    const host = `${NODE_POD}.balance-peers.${NAMESPACE}.svc.cluster.local`;
    expect(env.get("NODE_HTTP_ADDRESS")).toBe(`${host}:${env.get("PORT")}`);
    expect(env.get("NODE_TCP_ADDRESS")).toBe(`${host}:${env.get("TCP_PORT")}`);
    expect(env.get("NODE_REPLICATION_ADDRESS")).toBe(`${host}:${env.get("REPLICATION_PORT")}`);
    expect(node_set().spec).toMatchObject({ serviceName: "balance-peers" });
    for (const value of env.values()) expect(value).not.toMatch(/\$\(/);
  });
});

describe("deploy/k8s: ports, volumes, references", () => {
  test("container ports agree with PORT, TCP_PORT, the replication address, the Services", () => {
    const env = node_env();
    const ports = new Map(node_container().ports!.map((p) => [p.name!, p.containerPort]));
    expect(ports.get("http")).toBe(Number(env.get("PORT")));
    expect(ports.get("tcp")).toBe(Number(env.get("TCP_PORT")));
    expect(ports.get("replication")).toBe(port_of(env.get("NODE_REPLICATION_ADDRESS")!));
    expect(ports.get("replication")).toBe(port_of(env.get("NODE_REPLICATION_LISTEN_ADDRESS")!));
    expect(ports.get("http")).toBe(port_of(env.get("NODE_HTTP_ADDRESS")!));
    expect(ports.get("tcp")).toBe(port_of(env.get("NODE_TCP_ADDRESS")!));
    const peers = find(rendered.local, "Service", "balance-peers").spec as ServiceSpec;
    expect(peers.clusterIP).toBe("None");
    expect(peers.publishNotReadyAddresses).toBe(true);
    expect(service_ports(peers, ports)).toEqual(["http", "replication", "tcp"]);
    const client = find(rendered.local, "Service", "balance").spec as ServiceSpec;
    expect(service_ports(client, ports)).toEqual(["http", "tcp"]);
    const projector = find(rendered.local, "Deployment", "balance-projector");
    const projector_container = pod_spec(projector).containers[0]!;
    const projector_env = container_env(rendered.local, projector_container, "p", NAMESPACE);
    const projector_ports = new Map(projector_container.ports!.map((p) =>
      [p.name!, p.containerPort]));
    expect(projector_ports.get("http")).toBe(Number(projector_env.get("PROJECTOR_PORT")));
    const projector_service =
      find(rendered.local, "Service", "balance-projector").spec as ServiceSpec;
    expect(service_ports(projector_service, projector_ports)).toEqual(["http"]);
    for (const service of [peers, client]) {
      expect(service.selector).toEqual(pod_labels_subset(node_set(), service.selector));
    }
  });

  test("every probe names a container port; the readiness probe is the in-sync one", () => {
    for (const { container } of all_containers(rendered.local)) {
      const names = new Set((container.ports ?? []).map((p) => p.name));
      const probes = [container.startupProbe, container.livenessProbe, container.readinessProbe];
      for (const probe of probes) {
        if (probe === undefined) continue;
        expect(names.has(String(probe.httpGet!.port))).toBe(true);
      }
    }
    const node = node_container();
    expect(node.readinessProbe!.httpGet!.path).toBe(IN_SYNC_PROBE_PATH);
    expect(node.livenessProbe!.httpGet!.path).toBe("/healthz");
    expect(node.startupProbe!.httpGet!.path).toBe("/healthz");
    for (const probe of [node.startupProbe, node.livenessProbe, node.readinessProbe]) {
      expect(probe!.httpGet!.scheme ?? "HTTP").toBe("HTTP");
    }
    const tls = node_container("local-tls");
    for (const probe of [tls.startupProbe, tls.livenessProbe, tls.readinessProbe]) {
      expect(probe!.httpGet!.scheme).toBe("HTTPS");
    }
  });

  test("the StatefulSet's volume is mounted at DATA_DIR; other writable paths are volumes", () => {
    const claims = (node_set().spec as { volumeClaimTemplates: { metadata: { name: string } }[] })
      .volumeClaimTemplates.map((c) => c.metadata.name);
    expect(claims).toEqual(["data"]);
    const data = node_container().volumeMounts!.find((m) => m.name === "data")!;
    expect(data.mountPath).toBe(node_env().get("DATA_DIR")!);
    expect(data.readOnly ?? false).toBe(false);
    for (const { pod, container } of all_containers(rendered.local)) {
      const writable = (container.volumeMounts ?? []).filter((m) => m.readOnly !== true);
      for (const mount of writable) {
        const volume = pod.volumes?.find((v) => v.name === mount.name);
        const is_claim = volume === undefined && claims.includes(mount.name);
        expect(is_claim || volume?.emptyDir !== undefined).toBe(true);
      }
    }
  });

  test.each(["local", "local-tls"] as const)(
    "%s: every Secret and ConfigMap referenced exists, with the keys and files used", (name) => {
      for (const { workload, pod, container } of all_containers(rendered[name])) {
        // Resolving the environment reads every secretKeyRef / configMapKeyRef / envFrom.
        const env = container_env(rendered[name], container, "pod-0", NAMESPACE);
        for (const volume of pod.volumes ?? []) {
          if (volume.secret !== undefined) find(rendered[name], "Secret", volume.secret.secretName);
          if (volume.configMap !== undefined) {
            find(rendered[name], "ConfigMap", volume.configMap.name);
          }
        }
        // A variable naming a file under a mounted Secret or ConfigMap names one of its keys.
        for (const [variable, value] of env) {
          const mount = (container.volumeMounts ?? [])
            .find((m) => value.startsWith(`${m.mountPath}/`));
          const volume = pod.volumes?.find((v) => v.name === mount?.name);
          if (mount === undefined || volume === undefined) continue;
          if (volume.emptyDir !== undefined) continue;
          const key = value.slice(mount.mountPath.length + 1);
          const source = volume.secret !== undefined
            ? find(rendered[name], "Secret", volume.secret.secretName)
            : find(rendered[name], "ConfigMap", volume.configMap!.name);
          const keys = Object.keys((source as { data?: object }).data ?? {});
          if (!keys.includes(key)) {
            throw new Error(`${workload.metadata.name}/${container.name}: ${variable}=${value}: ` +
              `${source.kind} ${source.metadata.name} has no key ${key} (has ${keys})`);
          }
        }
      }
      // The Secrets of the overlay are generated (hashed names), from development files.
      for (const secret of ["balance-database", "balance-auth-keys", "balance-cluster-key",
        "balance-tls", "balance-cluster-tls"]) {
        find_generated(rendered[name], "Secret", secret);
      }
    });
});

describe("deploy/k8s: safety", () => {
  test("every pod runs non-root on a read-only root filesystem, with requests and limits", () => {
    for (const { pod, container } of all_containers(rendered.local)) {
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true });
      expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } });
      expect(container.resources?.requests?.cpu).toBeDefined();
      expect(container.resources?.requests?.memory).toBeDefined();
      expect(container.resources?.limits?.memory).toBeDefined();
      expect((pod as PodSpec & { automountServiceAccountToken?: boolean })
        .automountServiceAccountToken).toBe(false);
    }
  });

  test("PDB maxUnavailable 1 over the nodes; anti-affinity by machine; one pod at a time", () => {
    const pdb = find(rendered.local, "PodDisruptionBudget", "balance-node").spec as {
      maxUnavailable: number; selector: { matchLabels: Record<string, string> } };
    expect(pdb.maxUnavailable).toBe(1);
    expect(pdb.selector.matchLabels)
      .toEqual(pod_labels_subset(node_set(), pdb.selector.matchLabels));
    const affinity = pod_spec(node_set()).affinity as { podAntiAffinity:
      { requiredDuringSchedulingIgnoredDuringExecution: { topologyKey: string;
        labelSelector: { matchLabels: Record<string, string> } }[] } };
    const rule = affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]!;
    expect(rule.topologyKey).toBe("kubernetes.io/hostname");
    expect(rule.labelSelector.matchLabels).toEqual(
      pod_labels_subset(node_set(), rule.labelSelector.matchLabels));
    expect(node_set().spec).toMatchObject({ podManagementPolicy: "Parallel",
      updateStrategy: { type: "RollingUpdate" } });
  });

  test("the replication port admits the nodes only; HTTP and TCP stay open", () => {
    const policy = find(rendered.local, "NetworkPolicy", "balance-node").spec as {
      podSelector: { matchLabels: Record<string, string> };
      ingress: { from?: { podSelector: { matchLabels: Record<string, string> } }[];
        ports: { port: string }[] }[] };
    const node_labels = pod_labels_subset(node_set(), policy.podSelector.matchLabels);
    expect(policy.podSelector.matchLabels).toEqual(node_labels);
    const names = new Set(node_container().ports!.map((p) => p.name));
    for (const rule of policy.ingress) {
      for (const port of rule.ports) expect(names.has(port.port)).toBe(true);
      const opens_replication = rule.ports.some((p) => p.port === "replication");
      if (!opens_replication) continue;
      expect(rule.from).toEqual([{ podSelector: { matchLabels: node_labels } }]);
    }
    const open = policy.ingress.filter((rule) => rule.from === undefined)
      .flatMap((rule) => rule.ports.map((p) => p.port)).sort();
    expect(open).toEqual(["http", "tcp"]);
  });
});

interface ServiceSpec {
  clusterIP?: string;
  publishNotReadyAddresses?: boolean;
  selector: Record<string, string>;
  ports: { name: string; port: number; targetPort: string | number }[];
}

/** The Service's port names, each checked: its target a named container port of the same number. */
function service_ports(spec: ServiceSpec, container_ports: Map<string, number>): string[] {
  for (const port of spec.ports) {
    expect(typeof port.targetPort).toBe("string");
    expect(container_ports.get(String(port.targetPort))).toBe(port.port);
  }
  return spec.ports.map((p) => p.name).sort();
}

/** The pod template's labels restricted to `selector`'s keys (equal to it when it selects them). */
function pod_labels_subset(workload: Resource, selector: Record<string, string>)
  : Record<string, string> {
  const labels = (workload.spec as { template: { metadata: { labels: Record<string, string> } } })
    .template.metadata.labels;
  return Object.fromEntries(Object.keys(selector).map((key) => [key, labels[key]!]));
}
