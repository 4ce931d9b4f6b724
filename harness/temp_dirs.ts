// Temporary directories a test process makes (services' data directories, certificates), removed
// when the process exits: every full `make test` run used to leave some thirty behind in /tmp.
// The exit hook is registered at the first directory made, so it runs after hooks registered at
// import (harness/service_process.ts kills its live services first).

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

function remove_temp_dirs(): void {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
  made.clear();
}
