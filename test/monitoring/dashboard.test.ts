// The Grafana dashboard (monitoring/grafana/balance-service.json) is valid JSON of a dashboard:
// a title and uid, unique panel ids, and every panel that is not a row has a Prometheus datasource
// (the ${datasource} variable) and at least one target with a PromQL expression and a refId.
// Its metric names are checked against the real processes in exported_names.test.ts.

import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { MONITORING_DIR } from "./promtool.ts";
import { dashboard_queries, query_panels, type Dashboard } from "./dashboard.ts";

const TEXT = readFileSync(resolve(MONITORING_DIR, "grafana/balance-service.json"), "utf8");
const PROMETHEUS = { type: "prometheus", uid: "${datasource}" };

describe("dashboard", () => {
  test("parses as JSON, with a title, a uid and the datasource variable", () => {
    const dashboard = JSON.parse(TEXT) as Dashboard;
    expect(dashboard.title).toBe("Balance service");
    expect(dashboard.uid).toBe("balance-service");
    const datasource = dashboard.templating.list.find((v) => v.name === "datasource");
    expect(datasource).toMatchObject({ type: "datasource", query: "prometheus" });
  });

  test("every panel has a Prometheus datasource and targets with an expression", () => {
    const dashboard = JSON.parse(TEXT) as Dashboard;
    const panels = query_panels(dashboard);
    expect(panels.length).toBeGreaterThanOrEqual(15);
    const faults: string[] = [];
    for (const panel of panels) {
      if (JSON.stringify(panel.datasource) !== JSON.stringify(PROMETHEUS)) {
        faults.push(`${panel.title}: datasource`);
      }
      if ((panel.targets ?? []).length === 0) faults.push(`${panel.title}: no targets`);
      for (const target of panel.targets ?? []) {
        if ((target.expr ?? "").trim() === "") faults.push(`${panel.title}: empty expression`);
        if (target.refId === undefined) faults.push(`${panel.title}: a target without refId`);
      }
    }
    expect(faults).toEqual([]);
  });

  test("panel ids are unique, and the panels cover what the issue asks", () => {
    const dashboard = JSON.parse(TEXT) as Dashboard;
    const ids = dashboard.panels.map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
    const exprs = dashboard_queries(dashboard).map((q) => q.expr).join("\n");
    for (const name of ["balance_orders_total", "balance_batch_commit_seconds_bucket",
      "balance_journal_fsync_seconds_bucket", "balance_ring_depth_slots",
      "balance_replication_lag_entries", "balance_takeovers_total",
      "balance_publisher_lag_events", "balance_projector_applied_sequence"]) {
      expect(exprs).toContain(name);
    }
  });
});
