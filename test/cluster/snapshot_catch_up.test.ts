// Snapshot catch-up between real nodes (docs/cluster.md "Catch-up"): no Kafka, so a primary
// deletes its journal segments behind its previous snapshot every SNAPSHOT_INTERVAL_MS (at its
// minimum here, with small segments). A standby stopped until the primary no longer holds what it
// lacks is sent the primary's snapshot when it comes back, then the journal after it; it is
// recorded in sync again, and then holds every committed order: the primary killed, it takes
// over with nothing lost or doubled. The old primary then comes back on an empty disk: the same.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { JOURNAL_SEGMENT_SIZE_BYTES_MIN } from "../../common/constants.ts";
import { NodeFileLayer } from "../../journal/file_layer.ts";
import { read_journal } from "../../journal/journal_reader.ts";
import { list_segments } from "../../journal/segment_names.ts";
import { list_snapshots, peek_newest_snapshot } from "../../journal/snapshot_file.ts";
import { TestCluster } from "./cluster_support.ts";
import { SERVICES_TIMEOUT_MS } from "./control_support.ts";
import { SteadyLoad } from "./steady_load.ts";

const PARTNER_GROUPS = new Map([[7, 0], [8, 0]]);
const files = new NodeFileLayer();
const OUTRUN_WAIT_MS_MAX = 120_000;

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await TestCluster.start("snapcatch", {
    nodes: 2, groups: 1, replicas: 2, lease_ms: 1_000, group_map: "7:0,8:0",
    env: { SNAPSHOT_INTERVAL_MS: "1000",
      JOURNAL_SEGMENT_BYTES: String(JOURNAL_SEGMENT_SIZE_BYTES_MIN) },
  });
}, SERVICES_TIMEOUT_MS);

afterAll(async () => {
  await cluster?.stop();
});

/** Where a stopped node's journal of group 0 ends (its newest snapshot, then its segments). */
function journal_end(dir: string): number {
  const snapshot_sequence = peek_newest_snapshot(files, dir)?.sequence ?? 0;
  return read_journal(files, dir, snapshot_sequence, () => {}).last_sequence;
}

function first_held_sequence(dir: string): number {
  return list_segments(files, dir)[0]?.first_sequence ?? 0;
}

describe("snapshot catch-up between nodes", () => {
  test("a standby back after the primary deleted what it lacks gets the primary's snapshot, " +
    "then the journal; it is recorded in sync and takes over without loss; so does a node back " +
    "on an empty disk", async () => {
    const load = new SteadyLoad(cluster, PARTNER_GROUPS);
    await load.start();
    await cluster.wait_in_sync(0);
    const primary = await cluster.leader_of(0);
    const standby = (await cluster.standby_of(0)).node;
    await cluster.kill(standby);
    const standby_dir = cluster.group_dir(standby, 0);
    const primary_dir = cluster.group_dir(primary, 0);
    const standby_end = journal_end(standby_dir);
    expect(standby_end).toBeGreaterThan(0);
    await cluster.until("the standby recorded out of sync", async () =>
      !(await cluster.standby_of(0)).in_sync);
    // The load's rate decides how long this takes (a segment of 1 MiB every ~10 s): a bound
    // only against a hang, not a timing that decides the test.
    const started_ms = performance.now();
    while (first_held_sequence(primary_dir) <= standby_end + 1) {
      expect(performance.now() - started_ms).toBeLessThan(OUTRUN_WAIT_MS_MAX);
      await Bun.sleep(100);
    }
    await cluster.start_node(standby);
    await cluster.wait_in_sync(0);
    // It installed a snapshot past its old end: nothing of its old journal is left.
    const snapshots = list_snapshots(files, standby_dir);
    expect(snapshots.at(-1)!.sequence).toBeGreaterThan(standby_end);
    expect(first_held_sequence(standby_dir)).toBeGreaterThan(standby_end + 1);
    await load.stop();
    await load.check();
    // In sync again, it holds everything: kill the primary, and the standby has every order.
    await cluster.kill(primary);
    expect(await cluster.leader_of(0, primary)).toBe(standby);
    await load.check();
    // The old primary back on an empty disk: the new primary's journal starts past its snapshot,
    // so it is sent the snapshot, recorded in sync on its new disk, and can take over in turn.
    expect(first_held_sequence(standby_dir)).toBeGreaterThan(1);
    cluster.wipe(primary);
    await cluster.start_node(primary);
    await cluster.wait_in_sync(0);
    const wiped_dir = cluster.group_dir(primary, 0);
    expect(list_snapshots(files, wiped_dir).length).toBeGreaterThan(0);
    await cluster.kill(standby);
    expect(await cluster.leader_of(0, standby)).toBe(primary);
    await load.check();
    load.close();
  }, 180_000);
});
