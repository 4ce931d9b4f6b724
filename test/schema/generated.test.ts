// The committed schema/generated/ must be exactly what flatc makes of schema/balance.fbs. A missing
// flatc fails this test (it never skips): CI installs flatbuffers-compiler.

import { expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GENERATED_DIR, run_flatc } from "../../scripts/generate-schema.ts";

function list_files(root_dir: string): string[] {
  const entries = readdirSync(root_dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(root_dir.length + 1))
    .sort();
}

test("schema/generated/ is byte for byte what flatc generates from schema/balance.fbs", () => {
  const fresh_dir = mkdtempSync(join(tmpdir(), "balance-schema-"));
  try {
    run_flatc(fresh_dir);
    const fresh_files = list_files(fresh_dir);
    const committed_files = list_files(GENERATED_DIR);
    expect(fresh_files.length).toBeGreaterThan(0);
    // Extra or missing files show up here, by name.
    expect(committed_files).toEqual(fresh_files);
    for (const file of fresh_files) {
      const fresh = readFileSync(join(fresh_dir, file));
      const committed = readFileSync(join(GENERATED_DIR, file));
      if (!fresh.equals(committed)) {
        throw new Error(`schema/generated/${file} differs from flatc: run bun run schema:generate`);
      }
    }
  } finally {
    rmSync(fresh_dir, { recursive: true, force: true });
  }
});
