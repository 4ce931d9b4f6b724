// promtool for the monitoring tests: the one scripts/install-promtool.sh puts in its cache
// (installing it there first when missing, from Debian's prometheus package). A missing or broken tool
// fails the test with the script's output: it is never skipped.

import { resolve } from "node:path";

const REPO_ROOT = resolve(import.meta.dir, "../..");
export const MONITORING_DIR = resolve(REPO_ROOT, "monitoring");

let installed: string | null = null;
/** The first install's failure, thrown again rather than building again for every test. */
let failure: Error | null = null;

/**
 * The promtool binary's path (installs it on first use: synchronously, so a fresh machine's build
 * runs to its end in the first test that needs it). Throws with the script's output.
 */
export function promtool_path(): string {
  if (installed !== null) return installed;
  if (failure !== null) throw failure;
  const run = Bun.spawnSync(["bash", resolve(REPO_ROOT, "scripts/install-promtool.sh")],
    { cwd: REPO_ROOT, stdout: "pipe", stderr: "pipe" });
  const out = run.stdout.toString().trim();
  if (run.exitCode !== 0 || out === "") {
    failure = new Error(`scripts/install-promtool.sh failed (exit ${run.exitCode}): promtool is ` +
      `required by test/monitoring/\n${run.stderr.toString()}${out}`);
    throw failure;
  }
  installed = out.split("\n").at(-1)!;
  return installed;
}

export interface Run {
  exit_code: number;
  output: string;
}

/** Runs `promtool args...` in monitoring/prometheus/. */
export function promtool(args: string[]): Run {
  const run = Bun.spawnSync([promtool_path(), ...args],
    { cwd: resolve(MONITORING_DIR, "prometheus"), stdout: "pipe", stderr: "pipe" });
  return { exit_code: run.exitCode, output: run.stdout.toString() + run.stderr.toString() };
}
