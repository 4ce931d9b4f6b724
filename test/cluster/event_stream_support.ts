// The event stream under a test cluster: a Kafka topic of the test's own (the nodes' publishers
// write it: pass env() to TestCluster.start), the projector in-process writing a fresh PostgreSQL
// schema, and `bun run reconcile` against the cluster. Shared by event_stream.test.ts and
// reconcile_faults.test.ts.

import { expect } from "bun:test";
import { resolve } from "node:path";
import { Kafka, logLevel } from "kafkajs";
import { start_projector, type Projector } from "../../projector/consumer.ts";
import { broker_list, ensure_services, type Services } from "../../harness/services.ts";
import { account_row, fresh_schema, type TestDatabase } from "../projector/support.ts";
import type { TestCluster } from "./cluster_support.ts";
import { LOAD_ACCOUNT } from "./steady_load.ts";

const REPO_ROOT = resolve(import.meta.dir, "..", "..");
/** How long the projection may take to catch up, and reconcile to wait for it. */
export const PROJECTED_WAIT_MS_MAX = 60_000;
const POLL_MS = 100;

export class EventStream {
  private projector_failure: unknown = null;

  private constructor(private readonly services: Services, readonly topic: string,
    readonly db: TestDatabase, private readonly projector: Projector) {
    projector.done.catch((error: unknown) => (this.projector_failure = error));
  }

  /** A topic of `partitions` (one per group), a schema and the projector on them. */
  static async start(label: string, partitions: number): Promise<EventStream> {
    const services = await ensure_services();
    const topic = `${label}-${process.pid}-${Date.now().toString(36)}`;
    const admin = kafka_admin(services);
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }],
      waitForLeaders: true });
    await admin.disconnect();
    const db = await fresh_schema(label.replaceAll("-", "_"));
    const projector = await start_projector({ kafka_brokers: services.kafka_brokers,
      database_url: services.database_url, topic, group_id: `${topic}-projector`,
      search_path: db.schema, log: () => {} });
    return new EventStream(services, topic, db, projector);
  }

  /** The nodes' environment: their publishers write this stream's topic. */
  env(): Record<string, string> {
    return { KAFKA_BROKERS: this.services.kafka_brokers, EVENTS_TOPIC: this.topic };
  }

  /** The projector stopped on an error (a fence breach), or null. */
  failure(): unknown {
    return this.projector_failure;
  }

  /**
   * Waits until the projection of each partner's load account holds `expected` (partner ->
   * balance), partners mapped to groups by `partner_groups`; fails past PROJECTED_WAIT_MS_MAX.
   */
  async wait_projected(expected: Map<number, bigint>,
    partner_groups: ReadonlyMap<number, number>, cluster: TestCluster): Promise<void> {
    const deadline = performance.now() + PROJECTED_WAIT_MS_MAX;
    for (;;) {
      expect(this.projector_failure).toBeNull();
      const rows = await Promise.all([...partner_groups].map(([partner, group]) =>
        account_row(this.db.sql, group, LOAD_ACCOUNT).then((row) => [partner, row] as const)));
      const behind = rows.filter(([partner, row]) =>
        row === undefined || BigInt(row.balance_minor) !== expected.get(partner));
      if (behind.length === 0) return;
      if (performance.now() > deadline) {
        throw new Error(`projection behind: ${JSON.stringify(behind)} expected ` +
          `${[...expected].join(";")}\n${cluster.outputs()}`);
      }
      await Bun.sleep(POLL_MS);
    }
  }

  /** `bun run reconcile --json` against the node at `url` (it follows the routing map). */
  async reconcile(url: string, token: string): Promise<{ code: number; out: string }> {
    const child = Bun.spawn([process.execPath, "run", "reconcile", "--url", url, "--json",
      "--wait-ms", String(PROJECTED_WAIT_MS_MAX)], {
      cwd: REPO_ROOT,
      env: { ...process.env, DATABASE_URL: this.services.database_url,
        DATABASE_SCHEMA: this.db.schema, RECONCILE_TOKEN: token },
      stdin: "ignore", stdout: "pipe", stderr: "pipe",
    });
    const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(),
      new Response(child.stderr).text(), child.exited]);
    return { code, out: `${stdout}\n${stderr}` };
  }

  async stop(): Promise<void> {
    await this.projector.stop().catch(() => {});
    await this.db.drop().catch(() => {});
    const admin = kafka_admin(this.services);
    await admin.connect().catch(() => {});
    await admin.deleteTopics({ topics: [this.topic] }).catch(() => {});
    await admin.disconnect().catch(() => {});
  }
}

function kafka_admin(services: Services): ReturnType<Kafka["admin"]> {
  return new Kafka({ clientId: "cluster-stream-test", brokers: broker_list(services),
    logLevel: logLevel.NOTHING }).admin();
}
