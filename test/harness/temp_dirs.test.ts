// The tests' temporary directories go when the test process exits: a child process makes two
// (with files in them) and exits; both are gone afterwards.

import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { resolve } from "node:path";

const TEMP_DIRS = resolve(import.meta.dir, "../../harness/temp_dirs.ts");

test("directories made by temp_dir are removed when the process exits", () => {
  const script = `
    import { writeFileSync, mkdirSync } from "node:fs";
    import { temp_dir } from ${JSON.stringify(TEMP_DIRS)};
    const a = temp_dir("temp-dirs-test");
    const b = temp_dir("temp-dirs-test");
    mkdirSync(a + "/group-0000");
    writeFileSync(a + "/group-0000/segment", "x");
    writeFileSync(b + "/file", "y");
    console.log(JSON.stringify([a, b]));
  `;
  const run = Bun.spawnSync([process.execPath, "-e", script]);
  expect(run.exitCode).toBe(0);
  const dirs = JSON.parse(run.stdout.toString()) as string[];
  expect(dirs).toHaveLength(2);
  for (const dir of dirs) {
    expect(dir).toContain("temp-dirs-test-");
    expect(existsSync(dir)).toBe(false);
  }
});
