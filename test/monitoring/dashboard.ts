// The queries of the Grafana dashboard (monitoring/grafana/balance-service.json): every panel
// target's PromQL, and each query variable's metric (label_values(metric, label): the label is
// not a metric name, so only the metric is kept). Rows group panels and query nothing.

export interface Target {
  expr?: string;
  refId?: string;
  datasource?: unknown;
}

export interface Panel {
  id?: number;
  type: string;
  title: string;
  datasource?: unknown;
  targets?: Target[];
  panels?: Panel[];
}

export interface Dashboard {
  title: string;
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query?: unknown; datasource?: unknown }[] };
}

/** Every panel, those nested in collapsed rows included; rows themselves left out. */
export function query_panels(dashboard: Dashboard): Panel[] {
  const found: Panel[] = [];
  const visit = (panels: Panel[]) => {
    for (const panel of panels) {
      if (panel.type === "row") visit(panel.panels ?? []);
      else found.push(panel);
    }
  };
  visit(dashboard.panels);
  return found;
}

export function dashboard_queries(dashboard: Dashboard): { name: string; expr: string }[] {
  const queries: { name: string; expr: string }[] = [];
  for (const panel of query_panels(dashboard)) {
    for (const target of panel.targets ?? []) {
      queries.push({ name: `panel "${panel.title}" ${target.refId}`, expr: target.expr ?? "" });
    }
  }
  for (const variable of dashboard.templating.list) {
    if (variable.type !== "query") continue;
    const query = variable.query as { query: string };
    const metric = /^label_values\(\s*([^,\s]+)\s*,\s*\w+\s*\)$/.exec(query.query);
    queries.push({ name: `variable ${variable.name}`, expr: metric?.[1] ?? query.query });
  }
  return queries;
}
