// The node's side of loading from storage: at start-up, before the engine workers recover, every
// group of this node with no local state is loaded from PostgreSQL and Kafka (storage_load/load.ts)
// when DATABASE_URL is configured. Groups with local state recover from it as always.

import type { GroupLimits } from "../engine/rules.ts";
import { NodeFileLayer } from "../journal/file_layer.ts";
import type { Config } from "../config/config.ts";
import {
  groups_without_state, load_groups_from_storage, type GroupLoad,
} from "../storage_load/load.ts";

/** The per-group table sizes the configuration sets (engine workers and loading share them). */
export function group_limits_of(config: Config): GroupLimits {
  return {
    accounts_max: config.accounts_per_group,
    holds_max: config.holds_per_group,
    idempotency_entries_max: config.idempotency_entries_per_group,
    idempotency_window_ms: config.idempotency_window_ms,
  };
}

/** Loads the node's groups that have no local state; [] when DATABASE_URL is not set. */
export async function load_missing_groups(config: Config, groups: number[],
  log: (line: string) => void = console.log): Promise<GroupLoad[]> {
  if (config.database_url === null || config.kafka_brokers === null) return [];
  const files = new NodeFileLayer();
  const missing = groups_without_state(files, config.data_dir, groups);
  if (missing.length === 0) return [];
  log(`loading groups ${missing.join(", ")} from storage (no local state in ${config.data_dir})`);
  return load_groups_from_storage({
    files,
    data_dir: config.data_dir,
    groups: missing,
    limits: group_limits_of(config),
    database_url: config.database_url,
    database_schema: config.database_schema,
    kafka_brokers: config.kafka_brokers,
    topic: config.events_topic,
    log,
  });
}
