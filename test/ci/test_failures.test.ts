// scripts/test-failures.awk, which .ci/run prints before the totals (CI shows its log's tail
// first): run on the log of a real `bun test` of a fixture whose tests fail on purpose, it names
// each failed test with the first lines of its error and the test file's line, and nothing of
// the tests that passed.

import { expect, test } from "bun:test";
import { join } from "node:path";
import { REPO_ROOT } from "./actionlint.ts";

const FIXTURE = "./test/ci/fixtures/failing_tests.fixture.ts";
const DIGEST_SCRIPT = join(REPO_ROOT, "scripts", "test-failures.awk");

test("each failed test: its name, its error's first lines, where in the test file", () => {
  const run = Bun.spawnSync([process.execPath, "test", FIXTURE], { cwd: REPO_ROOT, env: process.env });
  expect(run.exitCode).toBe(1);
  // bun writes its report on stderr; .ci/run reads both streams together.
  const log = run.stdout.toString() + run.stderr.toString();
  expect(log).toContain(" 3 fail");
  const digest = Bun.spawnSync(["awk", "-f", DIGEST_SCRIPT], { stdin: new TextEncoder().encode(log) });
  expect(digest.exitCode).toBe(0);
  const lines = digest.stdout.toString().trimEnd().split("\n");
  const at = (line: number) => expect.stringMatching(
    new RegExp(`^  at .*failing_tests\\.fixture\\.ts:${line}:\\d+\\)$`));
  expect(lines).toEqual([
    expect.stringMatching(/^failed: a wait that timed out \[[\d.]+ms\]$/),
    "  error: group 0 in sync: not within 30000 ms",
    "  [{\"group\":0,\"epoch\":3}]",
    "  --- node-1",
    "  first line of the node's output",
    at(9),
    expect.stringMatching(/^failed: an order not answered \[[\d.]+ms\]$/),
    "  error: order 5 answered",
    "  Expected: 3",
    "  Received: 2",
    at(21),
    expect.stringMatching(/^failed: \(unnamed\) \[[\d.]+ms\]$/),
    "  error: expect(received).toBe(expected)",
    "  Expected: \"exit code 0\"",
    "  Received: \"exit code 1\"",
    at(25),
  ]);
});
