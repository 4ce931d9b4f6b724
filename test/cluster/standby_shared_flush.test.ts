// A standby syncs the links that wrote in one event-loop turn together (StandbyServer.sync_then_ack,
// journal/sync_journals.ts): a primary's group commit reaches it as one frame per group, and each
// group's own fdatasync flushed the disk's cache again. One flush now covers them: every group but
// one is written out, the last one fdatasynced, and only then is any of them acked.

import { afterEach, describe, expect, test } from "bun:test";
import { Prng } from "../../common/prng.ts";
import { FsyncFailedError } from "../../journal/file_layer.ts";
import { PowerLossFileLayer } from "../../journal/power_loss_file_layer.ts";
import type { StandbyGroup } from "../../cluster/replication/standby_group.ts";
import {
  acked, expect_replica, fatal_errors, GROUP, holders_of, open_standby, primary, PRIMARY_NODE,
  run_cleanups, serve, STANDBY_NODE, wait_until, type PrimaryNode,
} from "./replication_harness.ts";

afterEach(run_cleanups);

const GROUPS = [GROUP, GROUP + 1];

/** Counts the standby's disk flushes (datasync) and the writes a later flush covered. */
class FlushCountingFileLayer extends PowerLossFileLayer {
  datasyncs = 0;
  write_outs = 0;

  override datasync(fd: number): void {
    super.datasync(fd);
    this.datasyncs++;
  }

  override write_out(fd: number, position_bytes: number, size_bytes: number): void {
    super.write_out(fd, position_bytes, size_bytes);
    this.write_outs++;
  }
}

interface TwoGroups {
  files: FlushCountingFileLayer;
  standbys: StandbyGroup[];
  primaries: PrimaryNode[];
}

/** One standby node holding both groups on one disk, and a primary of each streaming to it. */
function two_groups(seed: number, files = new FlushCountingFileLayer()): TwoGroups {
  const standbys = GROUPS.map((group) => open_standby(files, group));
  const holders = holders_of(PRIMARY_NODE, 1, 1, GROUPS);
  const server = serve(STANDBY_NODE, new Map(GROUPS.map((group, k) => [group, standbys[k]!])),
    holders);
  const primaries = GROUPS.map((group, k) => primary({ node: PRIMARY_NODE, epoch: 1,
    seed: seed * 10 + k, group, standbys: [{ node: STANDBY_NODE, host: "127.0.0.1",
      port: server.port }] }));
  for (const node of primaries) node.replicator.start();
  return { files, standbys, primaries };
}

/** Both primaries commit in the same turn, `rounds` times: their frames reach the standby together. */
async function commit_together(primaries: PrimaryNode[], rounds: number): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    for (const node of primaries) node.run(2);
    await Bun.sleep(1);
  }
}

describe("a standby's links share one disk flush per turn", () => {
  test("two groups' frames are acked after one flush, and a power loss keeps every acked entry",
    async () => {
    for (let seed = 1; seed <= 4; seed++) {
      const { files, standbys, primaries } = two_groups(seed);
      await commit_together(primaries, 12);
      for (const node of primaries) await acked(node);
      // Some flush covered both groups: one was written out, the other fdatasynced.
      expect(files.write_outs).toBeGreaterThan(0);
      const acked_sequences = primaries.map((node) => node.replicator.acked_sequence_min());
      primaries.forEach((node, k) => expect_replica(standbys[k]!, files, node, `group ${k}`));
      run_cleanups();
      files.crash(new Prng(seed)); // power loss: only what a flush covered is sure to stay
      GROUPS.forEach((group, k) => {
        const recovered = open_standby(files, group);
        expect(recovered.last_sequence).toBeGreaterThanOrEqual(acked_sequences[k]!);
        expect_replica(recovered, files, primaries[k]!, `seed ${seed} group ${k} after power loss`);
      });
    }
  });

  test("with a shared flush the same load fdatasyncs less often than with one flush per group",
    async () => {
    const { files, primaries } = two_groups(7);
    await commit_together(primaries, 12);
    for (const node of primaries) await acked(node);
    const shared = files.datasyncs;
    // Each written-out group's entries reached the standby's disk without a flush of their own.
    expect(files.write_outs).toBeGreaterThan(0);
    expect(shared).toBeGreaterThan(0);
    run_cleanups();

    // Where the file system gives no shared flush, every group keeps its own fdatasync.
    const alone = new FlushCountingFileLayer();
    alone.set_shared_flush(false);
    const separate = two_groups(7, alone);
    await commit_together(separate.primaries, 12);
    for (const node of separate.primaries) await acked(node);
    expect(alone.write_outs).toBe(0);
    expect(alone.datasyncs).toBeGreaterThan(shared);
  });

  test("a failed flush is fatal, no group is acked past what a flush covered, and a power loss " +
    "keeps every acked entry", async () => {
    const { files, standbys, primaries } = two_groups(3);
    await commit_together(primaries, 4);
    for (const node of primaries) await acked(node);
    const acked_before = primaries.map((node) => node.replicator.acked_sequence_min());
    files.fail_next_fsync(); // the next write_out or fdatasync of the standby's disk
    await commit_together(primaries, 2);
    await wait_until(() => fatal_errors.length > 0, "the standby's fatal error");
    const [error] = fatal_errors.splice(0);
    expect(error).toBeInstanceOf(FsyncFailedError);
    // A real node stops here (the worker's on_fatal kills it). This one goes on: a group whose
    // frame came in a later turn is synced by its own flush and may be acked; the failed one not.
    await Bun.sleep(50); // time for any ack that would (wrongly) follow
    const acked_after = primaries.map((node) => node.replicator.acked_sequence_min());
    const failed = GROUPS.map((_, k) => acked_after[k] === acked_before[k] &&
      primaries[k]!.last_sequence > acked_before[k]!);
    expect(failed).toContain(true); // the fault hit entries in flight, and they were not acked
    standbys.forEach((standby, k) => expect(acked_after[k]!).toBeLessThanOrEqual(
      standby.durable_sequence));
    run_cleanups();
    files.crash(new Prng(3));
    GROUPS.forEach((group, k) => {
      expect(open_standby(files, group).last_sequence).toBeGreaterThanOrEqual(acked_after[k]!);
    });
  });
});
