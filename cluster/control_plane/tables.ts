// The control plane's tables in PostgreSQL (docs/cluster.md, "The control plane"): the cluster's
// one setting, its nodes, and per group the lease with its in-sync set. drizzle-kit generates the
// committed migrations in cluster/control_plane/migrations/ from this file
// (`npm run db:generate:cluster`); the tables go to the schema that the migrations are applied
// under (search_path), so one PostgreSQL can hold several clusters, as it holds several
// projections.
//
// Why the lease and the in-sync set share one row: a takeover reads the in-sync set and writes the
// epoch in one conditional UPDATE of that row, so no interleaving of two writers can promote a node
// that was dropped from the set, or let two nodes win one epoch. Every time in these tables is the
// database's own now(): no node's clock decides anything.

import { sql } from "drizzle-orm";
import {
  bigint, check, integer, jsonb, pgTable, smallint, text, timestamp,
} from "drizzle-orm/pg-core";

/** The journal's epoch is a u32 (schema/journal_entry_layout.ts). */
const EPOCH_MAX_TEXT = "4294967295";

/** One row (id 1): GROUPS, REPLICAS and the partner map, set once for the whole cluster. */
export const cluster_settings = pgTable(
  "cluster_settings",
  {
    id: smallint("id").primaryKey(),
    groups: integer("groups").notNull(),
    replicas: integer("replicas").notNull(),
    // [[partner, group], ...] sorted by partner: GROUP_MAP's overrides; other partners are hashed.
    partner_map: jsonb("partner_map").notNull(),
    created_at: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    check("cluster_settings_one_row", sql`id = 1`),
    check("cluster_settings_groups_positive", sql`groups >= 1`),
    check("cluster_settings_replicas_positive", sql`replicas >= 1`),
  ],
);

/** A node as it last registered: where it is reached, which disk it runs on, when it was heard. */
export const nodes = pgTable("nodes", {
  node_id: text("node_id").primaryKey(),
  http_address: text("http_address").notNull(),
  tcp_address: text("tcp_address").notNull(),
  replication_address: text("replication_address").notNull(),
  // Made when the node's data directory was created: a new disk is a new id.
  disk_id: text("disk_id").notNull(),
  registered_at: timestamp("registered_at", { withTimezone: true }).notNull().defaultNow(),
  heartbeat_at: timestamp("heartbeat_at", { withTimezone: true }).notNull().defaultNow(),
});

/**
 * Per group: where it is placed, who holds its lease at which epoch until when (database time),
 * the epoch's first sequence, and the in-sync set at that epoch ([{node, disk}], the holder too).
 */
export const group_leases = pgTable(
  "group_leases",
  {
    group_id: integer("group_id").primaryKey(),
    // The nodes the group is placed on (primary first at placement): the only possible members.
    members: text("members").array().notNull(),
    holder: text("holder").notNull(),
    epoch: bigint("epoch", { mode: "number" }).notNull(),
    expires_at: timestamp("expires_at", { withTimezone: true }).notNull(),
    // The first sequence the holder writes at this epoch: a returning node cuts its tail there.
    first_sequence: bigint("first_sequence", { mode: "number" }).notNull(),
    in_sync: jsonb("in_sync").notNull(),
    updated_at: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    check("group_leases_epoch_u32", sql`epoch >= 1 and epoch <= ${sql.raw(EPOCH_MAX_TEXT)}`),
    check("group_leases_first_sequence_positive", sql`first_sequence >= 1`),
    check("group_leases_holder_is_member", sql`holder = any(members)`),
    check("group_leases_in_sync_array", sql`jsonb_typeof(in_sync) = 'array'`),
    check("group_leases_holder_in_sync",
      sql`in_sync @> jsonb_build_array(jsonb_build_object('node', holder))`),
  ],
);
