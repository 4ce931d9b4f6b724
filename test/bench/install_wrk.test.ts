// scripts/install-wrk.sh, which `make benchmark` runs for its wrk lines: a wrk on PATH is used as
// it is, and with neither wrk nor apt-get it fails loudly. (Fetching Debian's wrk for real is
// what `make benchmark` does; it needs the package registry, not a test.)

import { describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const SCRIPT = resolve(import.meta.dir, "../../scripts/install-wrk.sh");

function run_script(path_dir: string, home: string) {
  return Bun.spawnSync(["/bin/bash", SCRIPT], {
    env: { PATH: path_dir, HOME: home, WRK_DIR: join(home, "wrk") }, stdout: "pipe",
    stderr: "pipe",
  });
}

describe("scripts/install-wrk.sh", () => {
  test("a wrk on PATH is the one it prints, and nothing is fetched", () => {
    const dir = mkdtempSync(join(tmpdir(), "balance-wrk-on-path-"));
    try {
      const wrk = join(dir, "wrk");
      writeFileSync(wrk, "#!/bin/sh\nexit 1\n");
      chmodSync(wrk, 0o755);
      const run = run_script(dir, dir);
      expect(run.stdout.toString()).toBe(`${wrk}\n`);
      expect(run.exitCode).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("no wrk and no apt-get: it fails loudly (exit 1, the reason), printing no path", () => {
    const empty = mkdtempSync(join(tmpdir(), "balance-no-wrk-"));
    try {
      // PATH names only an empty directory: neither wrk nor apt-get nor dpkg can be found.
      const run = run_script(empty, empty);
      expect(run.stderr.toString()).toContain("install-wrk: apt-get and dpkg are needed");
      expect(run.stdout.toString()).toBe("");
      expect(run.exitCode).toBe(1);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
