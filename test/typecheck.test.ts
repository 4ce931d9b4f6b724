// The whole project typechecks under the strict tsconfig: run as a test so CI's totals count it.

import { expect, test } from "bun:test";

test("tsc --noEmit passes on the strict tsconfig", () => {
  const result = Bun.spawnSync(["node_modules/.bin/tsc", "--noEmit", "-p", "tsconfig.json"], {
    cwd: `${import.meta.dir}/..`,
  });
  const output = result.stdout.toString() + result.stderr.toString();
  expect(output).toBe("");
  expect(result.exitCode).toBe(0);
}, 120_000);
