// GROUPS, REPLICAS and the partner map: set once for the whole cluster by the first node that
// starts, and compared by every node after it. A node whose own settings disagree is refused: two
// nodes that hash a partner to different groups would both accept its orders.

import type postgres from "postgres";
import { assert } from "../../common/assert.ts";
import { reach, type ControlPlane, type Unreachable } from "./connection.ts";
import { settings_problem, type ClusterSettings } from "./inputs.ts";

export type AdoptOutcome =
  /** created: this call wrote the settings; otherwise they were there and equal. */
  | { kind: "adopted"; created: boolean }
  | { kind: "settings_differ"; stored: ClusterSettings; differences: string[] }
  | Unreachable;

export type ReadSettingsOutcome =
  | { kind: "settings"; settings: ClusterSettings }
  | { kind: "not_initialised" }
  | Unreachable;

/** [[partner, group], ...] sorted by partner: one text per map, so equal maps compare equal. */
export function partner_map_rows(map: ReadonlyMap<number, number>): [number, number][] {
  return [...map].sort((a, b) => a[0] - b[0]);
}

/** Stores `local` if nothing is stored yet; otherwise says whether the stored settings equal it. */
export async function adopt_settings(plane: ControlPlane,
  local: ClusterSettings): Promise<AdoptOutcome> {
  const problem = settings_problem(local);
  assert(problem === null, `cluster settings: ${problem}`);
  return reach(async () => {
    const inserted = await plane.sql`
      insert into cluster_settings (id, groups, replicas, partner_map)
      values (1, ${local.groups}, ${local.replicas},
        ${JSON.stringify(partner_map_rows(local.partner_map))}::text::jsonb)
      on conflict (id) do nothing
      returning id`;
    if (inserted.length === 1) return { kind: "adopted", created: true } as const;
    const stored = await select_settings(plane.sql);
    assert(stored !== null, "the settings row exists once an insert met it");
    const differences = settings_differences(stored, local);
    if (differences.length === 0) return { kind: "adopted", created: false } as const;
    return { kind: "settings_differ", stored, differences } as const;
  });
}

export async function read_settings(plane: ControlPlane): Promise<ReadSettingsOutcome> {
  return reach(async () => {
    const stored = await select_settings(plane.sql);
    if (stored === null) return { kind: "not_initialised" } as const;
    return { kind: "settings", settings: stored } as const;
  });
}

/** The stored settings, or null before the first node stored them. */
export async function select_settings(sql: postgres.Sql | postgres.TransactionSql):
  Promise<ClusterSettings | null> {
  const rows = await sql`select groups, replicas, partner_map from cluster_settings where id = 1`;
  if (rows.length === 0) return null;
  const row = rows[0]!;
  const pairs = row.partner_map as [number, number][];
  assert(Array.isArray(pairs), "the partner map is stored as an array of pairs");
  const settings: ClusterSettings = {
    groups: row.groups as number,
    replicas: row.replicas as number,
    partner_map: new Map(pairs),
  };
  assert(settings_problem(settings) === null, "stored settings are valid");
  return settings;
}

/** What differs, in words an operator can act on; empty when equal. */
export function settings_differences(stored: ClusterSettings, local: ClusterSettings): string[] {
  const differences: string[] = [];
  if (stored.groups !== local.groups) {
    differences.push(`GROUPS is ${local.groups} here, ${stored.groups} in the cluster`);
  }
  if (stored.replicas !== local.replicas) {
    differences.push(`REPLICAS is ${local.replicas} here, ${stored.replicas} in the cluster`);
  }
  const stored_text = JSON.stringify(partner_map_rows(stored.partner_map));
  const local_text = JSON.stringify(partner_map_rows(local.partner_map));
  if (stored_text !== local_text) {
    differences.push(`GROUP_MAP is ${local_text} here, ${stored_text} in the cluster`);
  }
  return differences;
}
