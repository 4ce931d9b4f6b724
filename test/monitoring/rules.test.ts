// The alert rules (monitoring/prometheus/alerts.yml) pass promtool's checks, and its unit tests
// (alerts_test.yml): each alert fires on a series that should fire it and stays silent on the
// others. Every alert of the file has a test there. promtool is installed when missing
// (scripts/install-promtool.sh); a missing tool fails, never skips.

import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { MONITORING_DIR, promtool, promtool_path } from "./promtool.ts";
import { alert_names } from "./promql_names.ts";

const ALERTS = resolve(MONITORING_DIR, "prometheus/alerts.yml");
const ALERTS_TEST = resolve(MONITORING_DIR, "prometheus/alerts_test.yml");

describe("alert rules", () => {
  test("promtool is there (installed when missing) and runs", () => {
    const path = promtool_path();
    const run = promtool(["--version"]);
    expect(`${path}\n${run.output}`).toContain("promtool, version");
    expect(run.exit_code).toBe(0);
  });

  test("promtool check rules: the file is valid", () => {
    const run = promtool(["check", "rules", ALERTS]);
    expect(run.output).toContain("SUCCESS");
    expect(run.exit_code).toBe(0);
  });

  test("promtool test rules: every alert fires where it should and nowhere else", () => {
    const run = promtool(["test", "rules", ALERTS_TEST]);
    expect(run.output).toContain("SUCCESS");
    expect(run.exit_code).toBe(0);
  });

  test("every alert of the file is named by a test of alerts_test.yml", () => {
    const names = alert_names(readFileSync(ALERTS, "utf8"));
    expect(names.length).toBeGreaterThanOrEqual(10);
    const tests = readFileSync(ALERTS_TEST, "utf8");
    const tested = new Set([...tests.matchAll(/alertname:\s*(\w+)/g)].map((m) => m[1]!));
    expect(names.filter((name) => !tested.has(name))).toEqual([]);
  });

  test("no promtool and no apt-get: the install script fails loudly (exit 1, the reason)", () => {
    const empty = mkdtempSync(join(tmpdir(), "balance-no-promtool-"));
    try {
      // PATH names only an empty directory: neither apt-get nor dpkg can be found.
      const run = Bun.spawnSync(["/bin/bash", resolve(MONITORING_DIR,
        "../scripts/install-promtool.sh")],
        { env: { PATH: empty, HOME: empty, PROMTOOL_BIN_DIR: empty },
          stdout: "pipe", stderr: "pipe" });
      expect(run.stderr.toString()).toContain("apt-get and dpkg are needed");
      expect(run.stdout.toString()).toBe("");
      expect(run.exitCode).toBe(1);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  test("a broken rule file is refused by promtool (the check can fail)", () => {
    const broken = resolve(MONITORING_DIR, "..", "test/monitoring/fixtures/broken_rules.yml");
    const run = promtool(["check", "rules", broken]);
    expect(run.exit_code).not.toBe(0);
  });
});
