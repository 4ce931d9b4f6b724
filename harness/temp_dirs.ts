// Temporary directories a test process makes (services' data directories, certificates), removed
// at the end: every full `make test` run used to leave some thirty behind in /tmp. `bun test` runs
// no process "exit" hooks, so test/setup.ts (preloaded, bunfig.toml) removes them after the whole
// run; any other process (a script, a child of a test) removes them at exit, the hook registered
// at the first directory made so that it runs after hooks registered at import
// (harness/service_process.ts kills its live services first).

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const made = new Set<string>();

/** A fresh directory under the system's temporary directory, named `${prefix}-XXXXXX`. */
export function temp_dir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  if (made.size === 0) process.once("exit", remove_temp_dirs);
  made.add(dir);
  return dir;
}

/** Removes every directory temp_dir made in this process. */
export function remove_temp_dirs(): void {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
  made.clear();
}
