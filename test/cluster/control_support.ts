// Shared by the control plane's tests: a PostgreSQL schema of its own per test (dropped at the
// end) with the control plane's migrations applied, and a small cluster in it: settings adopted,
// nodes registered, groups placed. Expiry is always judged by the database: tests wait for it by
// asking PostgreSQL, never by sleeping a guessed time.

import postgres from "postgres";
import { ensure_services } from "../../harness/services.ts";
import { open_control_plane, type ControlPlane } from "../../cluster/control_plane/connection.ts";
import { apply_control_plane_migrations } from "../../cluster/control_plane/migrate.ts";
import type { NodeRegistration } from "../../cluster/control_plane/inputs.ts";
import { register_node } from "../../cluster/control_plane/nodes.ts";
import { place_groups } from "../../cluster/control_plane/placement.ts";
import { adopt_settings } from "../../cluster/control_plane/settings.ts";

export const SERVICES_TIMEOUT_MS = 600_000;
export const TEST_TIMEOUT_MS = 60_000;
/** Long enough that no test outlives it: a lease of this length is never taken in a test. */
export const LEASE_LONG_MS = 60_000;
/** Short, so a test sees a lease expire by the database's clock. */
export const LEASE_SHORT_MS = 300;
const EXPIRY_WAIT_MS_MAX = 30_000;
const EXPIRY_POLL_MS = 25;

let schema_count = 0;

export interface TestPlane {
  schema: string;
  database_url: string;
  plane: ControlPlane;
  /** Opens another pool on the same schema (another node's connections). */
  another(): ControlPlane;
  drop(): Promise<void>;
}

/** A new schema named for the test; migrated unless `migrate` is false. */
export async function fresh_plane(label: string, migrate = true): Promise<TestPlane> {
  const { database_url } = await ensure_services();
  const schema = `cluster_${label}_${process.pid}_${Date.now().toString(36)}_${schema_count++}`;
  if (migrate) await apply_control_plane_migrations(database_url, schema);
  const planes: ControlPlane[] = [];
  const another = () => {
    const plane = open_control_plane({ database_url, schema });
    planes.push(plane);
    return plane;
  };
  return {
    schema, database_url, plane: another(), another,
    async drop() {
      for (const plane of planes) await plane.close();
      const admin = postgres(database_url, { max: 1, onnotice: () => {} });
      await admin`drop schema if exists ${admin(schema)} cascade`;
      await admin.end({ timeout: 5 });
    },
  };
}

export function node_registration(index: number, disk_id = `disk-${index}-a`): NodeRegistration {
  return {
    node_id: `node-${index}`,
    http_address: `127.0.0.1:${18_000 + index}`,
    tcp_address: `127.0.0.1:${19_000 + index}`,
    replication_address: `127.0.0.1:${20_000 + index}`,
    disk_id,
  };
}

export interface ClusterShape {
  groups: number;
  replicas: number;
  node_count: number;
  lease_ms: number;
}

/** Settings adopted, nodes node-0.. registered, every group placed; fails loudly otherwise. */
export async function small_cluster(test_plane: TestPlane, shape: ClusterShape): Promise<void> {
  const plane = test_plane.plane;
  const adopted = await adopt_settings(plane,
    { groups: shape.groups, replicas: shape.replicas, partner_map: new Map() });
  if (adopted.kind !== "adopted") throw new Error(`settings: ${JSON.stringify(adopted)}`);
  for (let i = 0; i < shape.node_count; i++) {
    const registered = await register_node(plane, node_registration(i));
    if (registered.kind !== "registered") {
      throw new Error(`register: ${JSON.stringify(registered)}`);
    }
  }
  const placed = await place_groups(plane, shape.lease_ms);
  if (placed.kind !== "placed") throw new Error(`placement: ${JSON.stringify(placed)}`);
}

/** Waits until the database's now() has passed the group's lease expiry. */
export async function until_expired(plane: ControlPlane, group: number): Promise<void> {
  const deadline_ms = Date.now() + EXPIRY_WAIT_MS_MAX;
  while (Date.now() < deadline_ms) {
    const rows = await plane.sql`
      select expires_at <= now() as expired from group_leases where group_id = ${group}`;
    if (rows[0]!.expired === true) return;
    await Bun.sleep(EXPIRY_POLL_MS);
  }
  throw new Error(`group ${group}: the lease did not expire by the database's clock in time`);
}

/** The group's row as stored (for checking that a refusal changed nothing). */
export async function lease_snapshot(plane: ControlPlane, group: number): Promise<unknown> {
  const rows = await plane.sql`
    select holder, epoch::float8 as epoch, expires_at, first_sequence::float8 as first_sequence,
      members, in_sync from group_leases where group_id = ${group}`;
  return rows[0];
}
