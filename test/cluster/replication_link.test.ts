// The replication data path over real TCP on 127.0.0.1 (docs/cluster.md, "Replication data
// path"): a primary's GroupEngine produces entries from orders, its Replicator streams each
// group-commit write to standbys, which journal, fsync, apply by outcome and ack.

import { afterEach, describe, expect, test } from "bun:test";
import { Prng } from "../../common/prng.ts";
import { ErrorCode } from "../../cluster/replication/frame_layout.ts";
import { PowerLossFileLayer } from "../../journal/power_loss_file_layer.ts";
import {
  acked, DIR, expect_replica, holders_of, open_standby, primary, PRIMARY_NODE, run_cleanups, serve,
  STANDBY_NODE, wait_until, StandbysBehind,
} from "./replication_harness.ts";

afterEach(run_cleanups);

describe("replication: streaming", () => {
  test("two standbys from empty disks end with the primary's engine state and journal",
    async () => {
    const holders = holders_of(PRIMARY_NODE, 1);
    const files = [new PowerLossFileLayer(), new PowerLossFileLayer()];
    const standbys = files.map((f) => open_standby(f));
    const servers = standbys.map((s, k) => serve(STANDBY_NODE + k, s, holders));
    const node = primary({ node: PRIMARY_NODE, epoch: 1, seed: 11, standbys: servers.map(
      (server, k) => ({ node: STANDBY_NODE + k, host: "127.0.0.1", port: server.port })) });
    node.replicator.start();
    for (let round = 0; round < 10; round++) {
      node.run(8);
      await Bun.sleep(1);
    }
    await acked(node);
    standbys.forEach((standby, k) => expect_replica(standby, files[k]!, node, `standby ${k}`));
    expect(node.last_sequence).toBeGreaterThan(200);
    expect(node.engine.accounts.count).toBeGreaterThan(0);
  });

  test("an ack reaches the primary only once the standby's fsync covers it", async () => {
    for (let seed = 1; seed <= 6; seed++) {
      const holders = holders_of(PRIMARY_NODE, 1);
      const files = new PowerLossFileLayer();
      const standby = open_standby(files);
      const server = serve(STANDBY_NODE, standby, holders);
      const node = primary({ node: PRIMARY_NODE, epoch: 1, seed, standbys: [
        { node: STANDBY_NODE, host: "127.0.0.1", port: server.port }] });
      node.replicator.start();
      node.run(20);
      await acked(node);
      const acked_sequence = node.replicator.acked_sequence_min();
      node.replicator.stop();
      server.stop();
      files.crash(new Prng(seed)); // power loss: only what was synced is sure to stay
      const recovered = open_standby(files);
      expect(recovered.last_sequence).toBeGreaterThanOrEqual(acked_sequence);
      expect_replica(recovered, files, node, `seed ${seed} after power loss`);
    }
  });
});

describe("replication: a standby's full disk", () => {
  test("entries it cannot journal are refused disk_full and leave nothing behind; with room " +
    "again it is sent them anew and ends equal to the primary", async () => {
    const holders = holders_of(PRIMARY_NODE, 1);
    const files = new PowerLossFileLayer();
    const standby = open_standby(files);
    const server = serve(STANDBY_NODE, standby, holders);
    const node = primary({ node: PRIMARY_NODE, epoch: 1, seed: 31, standbys: [
      { node: STANDBY_NODE, host: "127.0.0.1", port: server.port }] });
    node.replicator.start();
    node.run(10);
    await acked(node);
    const full_at = standby.last_sequence;
    files.set_free_bytes(0, true); // every write from now on fails with ENOSPC
    node.run(10);
    const sender = node.replicator.senders[0]!;
    await wait_until(() => sender.error_code === ErrorCode.disk_full, "a disk_full refusal");
    expect(node.last_sequence).toBeGreaterThan(full_at);
    expect(standby.last_sequence).toBe(full_at); // nothing journaled (nor applied: they agree)
    expect(sender.acked_sequence).toBe(full_at);
    files.set_free_bytes(null);
    await acked(node);
    expect_replica(standby, files, node, "with room again");
  });
});

describe("replication: catch-up and reconnection", () => {
  test("standbys that start behind (an empty disk; a restarted one with a prefix) are sent what " +
    "they lack from the journal, across segments, through a send buffer smaller than the lag",
  async () => {
    const behind = await StandbysBehind.start(21);
    const { node, prefix_files, empty_files } = behind;
    const prefix_sender = node.replicator.senders[0]!;
    // The standby named its disk in catch_up: the primary records it in sync with that disk.
    expect(prefix_sender.standby_disk).toBe(`disk-of-${STANDBY_NODE}`);
    behind.prefix_dies();
    const prefix_sequence = behind.prefix_sequence;
    node.run(150, true); // several 1 MiB segments while no standby listens
    expect(node.files.list(DIR).filter((name) => name.startsWith("segment-0")).length)
      .toBeGreaterThan(2);
    const { restarted, empty } = behind.restart(); // the prefix from its disk
    await acked(node);
    expect(prefix_sequence).toBeGreaterThan(0);
    expect(prefix_sequence).toBeLessThan(node.last_sequence);
    expect_replica(empty, empty_files, node, "the empty disk");
    expect_replica(restarted, prefix_files, node, "the restarted prefix");
    node.run(20); // and live again
    await acked(node);
    expect_replica(empty, empty_files, node, "the empty disk, live");
    expect_replica(restarted, prefix_files, node, "the restarted prefix, live");
  });

  test("a link closed under load is opened again and resumes where the standby's journal " +
    "ends; a standby whose send buffer fills catches up from the journal", async () => {
    const holders = holders_of(PRIMARY_NODE, 1);
    const files = new PowerLossFileLayer();
    const standby = open_standby(files);
    let server = serve(STANDBY_NODE, standby, holders);
    const node = primary({ node: PRIMARY_NODE, epoch: 1, seed: 31, send_buffer_bytes: 1_100_000,
      standbys: [{ node: STANDBY_NODE, host: "127.0.0.1", port: server.port }] });
    node.replicator.start();
    const sender = node.replicator.senders[0]!;
    for (let round = 0; round < 6; round++) {
      node.run(5);
      await wait_until(() => sender.state === "live", "live");
      node.run(400, true); // ~8 MiB without yielding: more than the socket and the buffer take
      server.stop(); // the socket closes with entries in flight
      await Bun.sleep(5);
      server = serve(STANDBY_NODE, standby, holders, server.port);
      await acked(node);
      expect_replica(standby, files, node, `round ${round}`);
    }
    expect(sender.streams_count).toBeGreaterThanOrEqual(6);
    expect(sender.fell_behind_count).toBeGreaterThan(0);
  });
});
