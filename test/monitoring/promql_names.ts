// Metric names out of PromQL, for checking them against what the service exports. A simple scan,
// enough for the expressions of monitoring/ (not a PromQL parser):
//   1. Grafana's variables ($instance, $__rate_interval, ${group}) are removed;
//   2. string literals, range and subquery selectors ([5m], [1h:30s]) and label matchers ({...})
//      are removed;
//   3. grouping and matching clauses are removed with their label lists: by (...), without (...),
//      on (...), ignoring (...), group_left (...), group_right (...);
//   4. what is left: every identifier that is not followed by "(" (a function or an aggregation),
//      not a keyword or operator (and, or, unless, bool, offset, inf, nan) and not part of a number
//      is a metric name. Names with a colon are recording rules' (balance:projector_lag_events).

const KEYWORDS = new Set(["and", "or", "unless", "bool", "offset", "inf", "nan", "by", "without",
  "on", "ignoring", "group_left", "group_right", "atan2"]);
const CLAUSE = /\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)/g;
const IDENTIFIER = /(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(\s*\()?/g;

export function metric_names(expr: string): string[] {
  const stripped = expr
    .replace(/\$\{[^}]*\}|\$\w+/g, " ")
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\{[^}]*\}/g, " ")
    .replace(CLAUSE, " ");
  const names = new Set<string>();
  for (const match of stripped.matchAll(IDENTIFIER)) {
    const name = match[1]!;
    if (match[2] !== undefined || KEYWORDS.has(name)) continue;
    if (/^\d/.test(name)) continue;
    names.add(name);
  }
  return [...names].sort();
}

interface RuleFile {
  groups: { name: string; rules: { alert?: string; record?: string; expr: string }[] }[];
}

function rules_of(yaml_text: string): RuleFile["groups"][number]["rules"] {
  const parsed = Bun.YAML.parse(yaml_text) as RuleFile;
  return parsed.groups.flatMap((group) => group.rules);
}

export function alert_names(yaml_text: string): string[] {
  return rules_of(yaml_text).flatMap((rule) => rule.alert === undefined ? [] : [rule.alert]);
}

export function recorded_names(yaml_text: string): string[] {
  return rules_of(yaml_text).flatMap((rule) => rule.record === undefined ? [] : [rule.record]);
}

/** Every expression of a rule file, named by its alert or record. */
export function rule_expressions(yaml_text: string): { name: string; expr: string }[] {
  return rules_of(yaml_text).map((rule) => ({ name: rule.alert ?? rule.record!, expr: rule.expr }));
}

/**
 * Names of samples and declared families in a /metrics body: each sample's name, and each
 * `# TYPE` family (a histogram's as its _bucket, _sum and _count), so a family with no sample yet
 * (a projector before its first batch) counts as exported.
 */
export function exported_names(metrics_text: string): Set<string> {
  const names = new Set<string>();
  for (const line of metrics_text.split("\n")) {
    const declared = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)$/.exec(line);
    if (declared !== null) {
      const [, name, type] = declared;
      const suffixes = type === "histogram" ? ["_bucket", "_sum", "_count"] : [""];
      for (const suffix of suffixes) names.add(name + suffix);
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{| )/.exec(line);
    if (sample !== null) names.add(sample[1]!);
  }
  return names;
}
