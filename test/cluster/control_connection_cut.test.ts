// A control-plane connection cut while its transaction waits for an answer: the operation answers
// `unreachable` and the node goes on. postgres.js 3.4.9 then wrote the transaction's rollback to
// the closed socket from a timer and crashed the process (porsager/postgres#1208; a node died so
// in control_plane_outage.test.ts); patches/postgres@3.4.9.patch rejects that write instead.
// The read runs in a child process, so a crash shows as its exit code and output.

import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { fresh_plane, small_cluster, LEASE_LONG_MS, TEST_TIMEOUT_MS, type TestPlane }
  from "./control_support.ts";

const CHILD = join(import.meta.dir, "control_cut_child.ts");
const GROUPS = 3;

const dropped: TestPlane[] = [];

afterEach(async () => {
  while (dropped.length > 0) await dropped.pop()!.drop();
});

describe("a control-plane connection cut mid-transaction", () => {
  test("the routing-map read answers unreachable, the process lives, the next read succeeds",
    async () => {
      const db = await fresh_plane("cut");
      dropped.push(db);
      await small_cluster(db, { groups: GROUPS, replicas: 2, node_count: 2,
        lease_ms: LEASE_LONG_MS });
      const child = Bun.spawn([process.execPath, CHILD, db.database_url, db.schema],
        { stdout: "pipe", stderr: "pipe" });
      const [stdout, stderr, exit_code] = await Promise.all([
        new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
      const steps = new Map(stdout.trim().split("\n").filter((line) => line.startsWith("{"))
        .map((line) => JSON.parse(line) as Record<string, unknown>).map((s) => [s.step, s]));
      expect({ exit_code, stderr }).toEqual({ exit_code: 0, stderr: "" });
      // The fault met work in flight: the transaction's query was waiting when the proxy cut it.
      expect(steps.get("waiting_on_lock")).toEqual({ step: "waiting_on_lock", waited: true });
      expect(steps.get("cut")).toMatchObject({ step: "cut", kind: "unreachable" });
      expect(steps.get("after")).toEqual({ step: "after", kind: "map", groups: GROUPS });
    }, TEST_TIMEOUT_MS);
});
