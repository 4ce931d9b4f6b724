// The Kubernetes manifests (deploy/k8s/) as the tests see them: the tools installed on demand
// (scripts/install-kustomize.sh, scripts/install-kubernetes-validate.sh: a missing tool fails
// loudly, never skips), the overlays rendered by kustomize from a copy of deploy/k8s/ with the
// local overlay's development secrets generated into it, and a container's environment resolved
// as the kubelet resolves it (envFrom, fieldRef, secretKeyRef, configMapKeyRef, $(VAR) expansion).

import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { temp_dir } from "../../harness/temp_dirs.ts";

export const REPO_ROOT = resolve(import.meta.dir, "../..");
export const K8S_DIR = join(REPO_ROOT, "deploy/k8s");
/** The oldest and the newest Kubernetes the manifests are validated against. */
export const KUBERNETES_VERSIONS = ["1.32.0", "1.37.0"] as const;
/** A cold kustomize build from the Go module proxy: minutes on a busy 2-core machine. */
export const INSTALL_TIMEOUT_MS = 900_000;

export type Resource = { apiVersion: string; kind: string; metadata: { name: string;
  namespace?: string }; [key: string]: unknown };

export interface Container {
  name: string;
  image: string;
  command?: string[];
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  ports?: { name?: string; containerPort: number }[];
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: Record<string, unknown>;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}

export interface Probe {
  httpGet?: { path: string; port: string | number; scheme?: string };
  tcpSocket?: { port: string | number };
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    fieldRef?: { fieldPath: string };
    secretKeyRef?: { name: string; key: string };
    configMapKeyRef?: { name: string; key: string };
  };
}

export interface Volume {
  name: string;
  secret?: { secretName: string; optional?: boolean };
  configMap?: { name: string };
  emptyDir?: Record<string, unknown>;
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
  securityContext?: Record<string, unknown>;
  affinity?: Record<string, unknown>;
}

/** Runs an install script; its last line is the tool's path. */
function install(script: string): string {
  const run = Bun.spawnSync(["bash", join(REPO_ROOT, "scripts", script)], {
    cwd: REPO_ROOT, stdout: "pipe", stderr: "pipe",
  });
  const out = run.stdout.toString().trim();
  if (run.exitCode !== 0) {
    throw new Error(`scripts/${script} failed (exit ${run.exitCode}):\n${run.stderr}\n${out}`);
  }
  return out.split("\n").at(-1)!;
}

export const install_kustomize = () => install("install-kustomize.sh");
export const install_kubernetes_validate = () => install("install-kubernetes-validate.sh");

export function run(argv: string[], cwd = REPO_ROOT,
  env: Record<string, string | undefined> = process.env): { code: number; out: string; err: string } {
  const proc = Bun.spawnSync(argv, { cwd, env, stdout: "pipe", stderr: "pipe" });
  return { code: proc.exitCode ?? -1, out: proc.stdout.toString(), err: proc.stderr.toString() };
}

/**
 * A copy of deploy/k8s/ with the local overlay's development secrets generated into it (by the
 * overlay's own generate-secrets.sh), and an overlay "local-tls" that adds components/tls.
 */
export function staged_tree(): string {
  const root = temp_dir("balance-k8s"); // removed after the test run (test/setup.ts)
  cpSync(K8S_DIR, root, { recursive: true });
  // The overlay's own defaults, whatever this shell exports (a developer's DATABASE_URL for the
  // local services would otherwise become the manifests' database).
  const { DATABASE_URL: _database_url, NAMESPACE: _namespace, ...env } = process.env;
  const generated = run(["bash", join(root, "overlays/local/generate-secrets.sh")], REPO_ROOT, env);
  if (generated.code !== 0) throw new Error(`generate-secrets.sh: ${generated.err}`);
  mkdirSync(join(root, "overlays/local-tls"));
  writeFileSync(join(root, "overlays/local-tls/kustomization.yaml"), [
    "apiVersion: kustomize.config.k8s.io/v1beta1", "kind: Kustomization",
    "resources: [../local]", "components: [../../components/tls]", ""].join("\n"));
  return root;
}

export interface Rendered {
  /** kustomize's output, as applied. */
  text: string;
  resources: Resource[];
}

export function render(kustomize: string, directory: string): Rendered {
  const built = run([kustomize, "build", directory]);
  if (built.code !== 0) throw new Error(`kustomize build ${directory}: ${built.err}`);
  const documents = Bun.YAML.parse(built.out);
  const resources = (Array.isArray(documents) ? documents : [documents]) as Resource[];
  return { text: built.out, resources };
}

export function find(rendered: Rendered, kind: string, name: string): Resource {
  const found = rendered.resources.find((r) => r.kind === kind && r.metadata.name === name);
  if (found === undefined) throw new Error(`no ${kind} ${name} in the rendered manifests`);
  return found;
}

/** A generated name (name-<hash>) or the plain one. */
export function find_generated(rendered: Rendered, kind: string, name: string): Resource {
  const found = rendered.resources.find((r) => r.kind === kind &&
    (r.metadata.name === name || new RegExp(`^${name}-[a-z0-9]{10}$`).test(r.metadata.name)));
  if (found === undefined) throw new Error(`no ${kind} ${name}(-hash) in the rendered manifests`);
  return found;
}

export function pod_spec(workload: Resource): PodSpec {
  if (workload.kind === "Pod") return workload.spec as PodSpec;
  const spec = workload.spec as { template: { spec: PodSpec } };
  return spec.template.spec;
}

/** Every container of every workload, init containers included, with its pod spec. */
export function all_containers(rendered: Rendered): { workload: Resource; pod: PodSpec;
  container: Container }[] {
  const found = [];
  for (const workload of rendered.resources) {
    if (!["StatefulSet", "Deployment", "Job", "DaemonSet"].includes(workload.kind)) continue;
    const pod = pod_spec(workload);
    for (const container of [...pod.initContainers ?? [], ...pod.containers]) {
      found.push({ workload, pod, container });
    }
  }
  return found;
}

/** A Secret's or a ConfigMap's data as text (a missing one, or a missing key, throws). */
export function data_of(rendered: Rendered, kind: "Secret" | "ConfigMap", name: string)
  : Record<string, string> {
  const resource = find(rendered, kind, name) as Resource & { data?: Record<string, string>;
    stringData?: Record<string, string> };
  const data: Record<string, string> = { ...resource.stringData };
  for (const [key, value] of Object.entries(resource.data ?? {})) {
    data[key] = kind === "Secret" ? Buffer.from(value, "base64").toString("utf8") : value;
  }
  return data;
}

function key_of(data: Record<string, string>, kind: string, name: string, key: string): string {
  const value = data[key];
  if (value === undefined) throw new Error(`${kind} ${name} has no key ${key}`);
  return value;
}

/** The kubelet's $(VAR) expansion: $$ escapes, an unknown reference stays as written. */
export function expand(value: string, env: Map<string, string>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string | undefined) =>
    name === undefined ? "$" : env.get(name) ?? whole);
}

/** The container's environment as the kubelet builds it for a pod named `pod_name`. */
export function container_env(rendered: Rendered, container: Container, pod_name: string,
  namespace: string): Map<string, string> {
  const env = new Map<string, string>();
  for (const source of container.envFrom ?? []) {
    const ref = source.configMapRef ?? source.secretRef!;
    const kind = source.configMapRef !== undefined ? "ConfigMap" : "Secret";
    const data = data_of(rendered, kind, ref.name);
    for (const [key, value] of Object.entries(data)) env.set(key, value);
  }
  for (const variable of container.env ?? []) {
    env.set(variable.name, value_of(rendered, variable, env, pod_name, namespace));
  }
  return env;
}

function value_of(rendered: Rendered, variable: EnvVar, env: Map<string, string>,
  pod_name: string, namespace: string): string {
  if (variable.value !== undefined) return expand(variable.value, env);
  const from = variable.valueFrom!;
  if (from.fieldRef !== undefined) {
    switch (from.fieldRef.fieldPath) {
      case "metadata.name": return pod_name;
      case "metadata.namespace": return namespace;
      default:
        throw new Error(`${variable.name}: fieldRef ${from.fieldRef.fieldPath} not resolved`);
    }
  }
  if (from.secretKeyRef !== undefined) {
    const { name, key } = from.secretKeyRef;
    return key_of(data_of(rendered, "Secret", name), "Secret", name, key);
  }
  if (from.configMapKeyRef !== undefined) {
    const { name, key } = from.configMapKeyRef;
    return key_of(data_of(rendered, "ConfigMap", name), "ConfigMap", name, key);
  }
  throw new Error(`${variable.name}: no value`);
}

/**
 * The container's volumes written out under `root` at their mount paths (root + mountPath): a
 * Secret's or a ConfigMap's keys as files, an emptyDir or a claim as an empty directory. A
 * Secret marked optional that the manifests do not define is left out, as the kubelet does.
 */
export function materialize_mounts(rendered: Rendered, pod: PodSpec, container: Container,
  root: string): void {
  for (const mount of container.volumeMounts ?? []) {
    const target = join(root, mount.mountPath);
    mkdirSync(target, { recursive: true });
    const volume = pod.volumes?.find((v) => v.name === mount.name);
    if (volume === undefined) continue; // a volumeClaimTemplate: an empty disk
    let files: Record<string, string> = {};
    if (volume.secret !== undefined) {
      const defined = rendered.resources.some((r) => r.kind === "Secret" &&
        r.metadata.name === volume.secret!.secretName);
      if (!defined && volume.secret.optional === true) continue;
      files = data_of(rendered, "Secret", volume.secret.secretName);
    } else if (volume.configMap !== undefined) {
      files = data_of(rendered, "ConfigMap", volume.configMap.name);
    }
    for (const [key, value] of Object.entries(files)) {
      mkdirSync(dirname(join(target, key)), { recursive: true });
      writeFileSync(join(target, key), value, { mode: 0o600 });
    }
  }
}

/** A file of the repository as text. */
export function repo_text(path: string): string {
  return readFileSync(join(REPO_ROOT, path), "utf8");
}
