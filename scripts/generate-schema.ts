// Regenerates schema/generated/ from schema/balance.fbs with flatc (`bun run schema:generate`).
// The output directory is emptied first, so a type removed from the schema leaves no stale file.
// test/schema/generated.test.ts fails when the committed output differs from what this produces.

import { rmSync } from "node:fs";
import { join } from "node:path";

const repo_dir = join(import.meta.dir, "..");
export const SCHEMA_PATH = join(repo_dir, "schema", "balance.fbs");
export const GENERATED_DIR = join(repo_dir, "schema", "generated");

// Runs flatc into `output_dir`; throws with flatc's own words when it is missing or fails.
export function run_flatc(output_dir: string): void {
  const flatc_path = Bun.which("flatc");
  if (flatc_path === null) {
    throw new Error("flatc not found on PATH: install flatbuffers-compiler 2.0.8 (apt)");
  }
  const flatc = Bun.spawnSync([flatc_path, "--ts", "-o", output_dir, SCHEMA_PATH]);
  if (flatc.exitCode !== 0) {
    throw new Error(`flatc failed (${flatc.exitCode}): ${flatc.stderr.toString()}`);
  }
}

if (import.meta.main) {
  rmSync(GENERATED_DIR, { recursive: true, force: true });
  run_flatc(GENERATED_DIR);
  console.log(`generated ${GENERATED_DIR} from ${SCHEMA_PATH}`);
}
