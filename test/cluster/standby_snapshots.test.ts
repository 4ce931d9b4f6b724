// A standby snapshots its hot engine as a primary does, and frees the journal segments behind its
// previous snapshot, so its disk stays bounded; restarted from that snapshot plus the journal after
// it, it holds exactly the primary's state. With a publisher (Kafka) it frees them only behind what
// its primary says the publisher has in Kafka (`published` frames, with the heartbeats).

import { afterEach, describe, expect, test } from "bun:test";
import { PowerLossFileLayer } from "../../journal/power_loss_file_layer.ts";
import { list_segments } from "../../journal/segment_names.ts";
import { expect_same_state } from "../durability/group_state.ts";
import {
  acked, DIR, holders_of, open_standby, primary, PRIMARY_NODE, run_cleanups, serve, STANDBY_NODE,
  wait_until,
} from "./replication_harness.ts";

afterEach(run_cleanups);

async function streamed(publisher: boolean) {
  const files = new PowerLossFileLayer();
  const standby = open_standby(files);
  const server = serve(STANDBY_NODE, standby, holders_of(PRIMARY_NODE, 1));
  const node = primary({ node: PRIMARY_NODE, epoch: 1, seed: 31, send_buffer_bytes: 4_000_000,
    standbys: [{ node: STANDBY_NODE, host: "127.0.0.1", port: server.port }] });
  node.replicator.start();
  const snapshots: number[] = [];
  for (let round = 0; round < 3; round++) {
    node.run(60, true); // about a 1 MiB segment of entries per round
    await acked(node);
    snapshots.push(standby.write_snapshot(publisher)!);
  }
  return { files, standby, server, node, snapshots };
}

describe("standby snapshots", () => {
  test("segments behind the previous snapshot are freed; a restart restores the same state",
    async () => {
    const { files, standby, server, node, snapshots } = await streamed(false);
    expect(snapshots[0]!).toBeLessThan(snapshots[1]!);
    expect(standby.write_snapshot(false)).toBeNull(); // nothing applied since the last one
    const segments = list_segments(files, DIR);
    // Every segment left holds entries after the second-newest snapshot, or the one it is in.
    expect(segments[0]!.first_sequence).toBeGreaterThan(1);
    expect(segments[0]!.first_sequence).toBeLessThanOrEqual(snapshots[1]! + 1);
    server.stop();
    standby.close();
    const restarted = open_standby(files);
    expect(restarted.snapshot_sequence).toBe(snapshots[2]!);
    expect(restarted.last_sequence).toBe(node.last_sequence);
    expect_same_state(restarted.engine, node.engine, "restarted from its own snapshot");
  });

  test("with a publisher: nothing is freed before the primary says what Kafka holds, then only " +
    "behind it", async () => {
    const { files, standby, node, snapshots } = await streamed(true);
    expect(snapshots.length).toBe(3);
    expect(list_segments(files, DIR)[0]!.first_sequence).toBe(1);
    // The publisher has the events of the second snapshot in Kafka, not those of the third.
    const published = snapshots[1]!;
    node.replicator.published(published);
    node.replicator.heartbeat();
    await wait_until(() => standby.published_sequence === published, "the published frame");
    node.run(60, true);
    await acked(node);
    snapshots.push(standby.write_snapshot(true)!);
    // Freed behind min(previous snapshot = the third, published = the second): the second's.
    const first = list_segments(files, DIR)[0]!.first_sequence;
    expect(first).toBeGreaterThan(1);
    expect(first).toBeLessThanOrEqual(published + 1);
    expect(snapshots[2]!).toBeGreaterThan(published);
  });
});
