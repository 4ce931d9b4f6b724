// The tests' temporary directories go at the end: made in a script, they are removed when its
// process exits; made in a `bun test` run (which runs no process "exit" hooks), by test/setup.ts's
// afterAll, preloaded through bunfig.toml.

import { expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const REPO_ROOT = resolve(import.meta.dir, "../..");
const TEMP_DIRS = join(REPO_ROOT, "harness/temp_dirs.ts");

/** The directories a child printed as a JSON line `["dir", ...]` are gone after it exited. */
function expect_removed(stdout: string): void {
  const line = stdout.split("\n").find((l) => l.startsWith("DIRS "));
  expect(line).toBeDefined();
  const dirs = JSON.parse(line!.slice("DIRS ".length)) as string[];
  expect(dirs).toHaveLength(2);
  for (const dir of dirs) {
    expect(dir).toContain("temp-dirs-test-");
    expect(existsSync(dir)).toBe(false);
  }
}

const MAKE_TWO = `
  const a = temp_dir("temp-dirs-test");
  const b = temp_dir("temp-dirs-test");
  mkdirSync(a + "/group-0000");
  writeFileSync(a + "/group-0000/segment", "x");
  writeFileSync(b + "/file", "y");
  console.log("DIRS " + JSON.stringify([a, b]));
`;

test("a script's directories are removed when its process exits", () => {
  const script = `import { mkdirSync, writeFileSync } from "node:fs";
    import { temp_dir } from ${JSON.stringify(TEMP_DIRS)};
    ${MAKE_TWO}`;
  const run = Bun.spawnSync([process.execPath, "-e", script]);
  expect(run.exitCode).toBe(0);
  expect_removed(run.stdout.toString());
});

test("a bun test run's directories are removed after the run (test/setup.ts)", () => {
  const probe_dir = mkdtempSync(join(tmpdir(), "temp-dirs-probe-"));
  try {
    const probe = join(probe_dir, "probe.test.ts");
    writeFileSync(probe, `import { expect, test } from "bun:test";
      import { mkdirSync, writeFileSync } from "node:fs";
      import { temp_dir } from ${JSON.stringify(TEMP_DIRS)};
      test("makes two directories", () => {
        ${MAKE_TWO}
        expect(true).toBe(true);
      });`);
    const run = Bun.spawnSync([process.execPath, "test", probe], { cwd: REPO_ROOT });
    expect(run.exitCode).toBe(0);
    expect_removed(run.stdout.toString() + run.stderr.toString());
  } finally {
    rmSync(probe_dir, { recursive: true, force: true });
  }
});
