// Shared by the end-to-end tests: the projector and reconcile as real processes, and waiting for
// PostgreSQL's projection to reach what the service has made durable.

import { join } from "node:path";
import type postgres from "postgres";
import { durable_sequences } from "../../harness/metrics.ts";

export { durable_sequences };

export const REPO_ROOT = join(import.meta.dir, "..", "..");
const PROJECTOR_START_TIMEOUT_MS = 60_000;
const POLL_MS = 100;

/** The projector process's environment: the schema, topic and the service's development key. */
export function projector_env(services: { database_url: string; kafka_brokers: string },
  schema: string, topic: string, service_data_dir: string): Record<string, string> {
  return {
    DATABASE_URL: services.database_url, DATABASE_SCHEMA: schema,
    KAFKA_BROKERS: services.kafka_brokers, EVENTS_TOPIC: topic,
    PROJECTOR_GROUP_ID: `${topic}-projector`,
    AUTH_KEYS_FILE: join(service_data_dir, "auth-keys.json"),
  };
}

/** Waits until PostgreSQL's applied sequence of every group equals the service's durable one. */
export async function wait_for_projection(sql: postgres.Sql, base_url: string, groups: number,
  timeout_ms: number, describe: () => string = () => ""): Promise<number[]> {
  const target = await durable_sequences(base_url, groups);
  const deadline = performance.now() + timeout_ms;
  for (;;) {
    const rows = await sql`select group_id, sequence::float8 as sequence from applied_sequence`
      .catch(() => []);
    const applied = new Map(rows.map((row) => [row.group_id as number, row.sequence as number]));
    if (target.every((s, g) => s === 0 || applied.get(g) === s)) return target;
    if (performance.now() > deadline) {
      throw new Error(`the projection did not reach ${target} within ${timeout_ms} ms ` +
        `(applied: ${[...applied].map(([g, s]) => `${g}:${s}`).join(" ")})\n${describe()}`);
    }
    await Bun.sleep(POLL_MS);
  }
}

/** `bun projector/main.ts` as a process; its output kept for failure messages. */
export class ProjectorRun {
  private text = "";
  readonly exited: Promise<number>;

  private constructor(readonly proc: Bun.Subprocess<"ignore", "pipe", "pipe">,
    readonly port: number) {
    const decoder = new TextDecoder();
    const collect = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream) this.text += decoder.decode(chunk, { stream: true });
    };
    void collect(proc.stdout).catch(() => {});
    void collect(proc.stderr).catch(() => {});
    this.exited = proc.exited;
  }

  /** Starts it and waits until it consumes (migrations applied, group joined). */
  static async start(env: Record<string, string>, port: number): Promise<ProjectorRun> {
    const { DATABASE_SCHEMA: _schema, PROJECTOR_PORT: _port, ...inherited } = process.env;
    const proc = Bun.spawn([process.execPath, "projector/main.ts"], {
      cwd: REPO_ROOT, stdin: "ignore", stdout: "pipe", stderr: "pipe",
      env: { ...inherited, PROJECTOR_HOST: "127.0.0.1", PROJECTOR_PORT: String(port), ...env },
    });
    const run = new ProjectorRun(proc, port);
    const deadline = performance.now() + PROJECTOR_START_TIMEOUT_MS;
    while (!run.text.includes("projector: consuming")) {
      if (proc.exitCode !== null || performance.now() > deadline) {
        proc.kill("SIGKILL");
        throw new Error(`the projector did not start:\n${run.text}`);
      }
      await Bun.sleep(POLL_MS);
    }
    return run;
  }

  output(): string {
    return this.text;
  }

  async kill(): Promise<void> {
    this.proc.kill("SIGKILL");
    await this.exited;
  }
}

export interface ReconcileRun {
  exit_code: number;
  stdout: string;
  stderr: string;
}

/** `bun run reconcile --json` against the service and the schema. */
export async function run_reconcile(base_url: string, token: string, database_url: string,
  schema: string): Promise<ReconcileRun> {
  const proc = Bun.spawn([process.execPath, "reconcile/main.ts", "--url", base_url,
    "--token", token, "--json"], { cwd: REPO_ROOT, stdout: "pipe", stderr: "pipe",
    env: { ...process.env, DATABASE_URL: database_url, DATABASE_SCHEMA: schema } });
  const [stdout, stderr, exit_code] = await Promise.all([new Response(proc.stdout).text(),
    new Response(proc.stderr).text(), proc.exited]);
  return { exit_code, stdout, stderr };
}
