// The repository's layout (docs/architecture.md, "Layout"): every relative import of every source
// file follows the table below, so each arrow between folders runs one way: a stage imports the
// stages below it and the shared ground, never a sibling's insides. A new folder, or a new arrow,
// is a decision: it goes into this table (and the docs) or the import goes elsewhere.

import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";

const REPO_ROOT = join(import.meta.dir, "..");

/** Folder -> the folders its files may import (besides their own). */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  // Shared ground.
  common: [],
  schema: ["common"],
  config: ["common"],
  http: ["common", "schema"],
  auth: ["common", "schema", "config", "http"],
  // The stages of one node, bottom up.
  engine: ["common", "schema"],
  journal: ["common", "schema"],
  router: ["common", "schema"],
  events: ["common", "schema"],
  publisher: ["common", "schema", "journal", "events"],
  storage_load: ["common", "schema", "engine", "journal", "events"],
  node: ["common", "schema", "config", "engine", "journal", "router", "publisher", "storage_load",
    "cluster"],
  server: ["common", "schema", "config", "auth", "http", "router", "node", "cluster"],
  // The event stream's consumers.
  projector: ["common", "schema", "config", "auth", "http", "events"],
  reconcile: ["common", "schema", "engine"],
  // The cluster: control plane (PostgreSQL) and replication; the node will import it.
  cluster: ["common", "schema", "config", "auth", "engine", "journal"],
  // Clients, tools and measurements: never the server's, the node's or the tests' insides.
  sdk: ["common", "schema", "auth"],
  loadgen: ["common", "schema", "auth"],
  scripts: ["common", "config", "auth"],
  docker: [],
  harness: ["common", "schema", "auth", "projector", "cluster"],
  bench: ["common", "schema", "engine", "router", "journal", "events", "publisher", "projector",
    "storage_load", "harness"],
};

/** Tests may import anything. */
const ANYTHING = "test";

/** File -> files it may import beyond its folder's row, each with its reason. */
const EXCEPTIONS: Readonly<Record<string, readonly string[]>> = {
  // Times recovery exactly as a restarting engine worker runs it.
  "bench/engine_replay.ts": ["node/recovery.ts"],
};

const SKIPPED_FOLDERS = new Set(["node_modules", ".git", "data", ".services", ".tools"]);
const GENERATED = "schema/generated";
const IMPORT_PATTERN = new RegExp(
  String.raw`(?:\bfrom\s*|\bimport\s*\(?\s*)["'](\.{1,2}/[^"']+)["']` +
  String.raw`|new URL\(\s*["'](\.{1,2}/[^"']+)["']\s*,\s*import\.meta\.url`, "g");

/** Every .ts file of the repository (repository paths), generated code left out. */
function source_files(folder = ""): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(join(REPO_ROOT, folder), { withFileTypes: true })) {
    const path = folder === "" ? entry.name : `${folder}/${entry.name}`;
    if (entry.isDirectory()) {
      if (!SKIPPED_FOLDERS.has(entry.name) && path !== GENERATED) found.push(...source_files(path));
    } else if (entry.isFile() && entry.name.endsWith(".ts")) {
      found.push(path);
    }
  }
  return found;
}

/** The repository paths `path` imports with a relative specifier (Workers' URLs included). */
function relative_imports(path: string, source: string): string[] {
  const targets: string[] = [];
  for (const match of source.matchAll(IMPORT_PATTERN)) {
    const specifier = match[1] ?? match[2]!;
    targets.push(relative(REPO_ROOT, normalize(join(REPO_ROOT, dirname(path), specifier))));
  }
  return targets;
}

function folder_of(path: string): string {
  return path.includes("/") ? path.slice(0, path.indexOf("/")) : ".";
}

/** Why `source` may not import `target`, or null when it may. */
function violation(source: string, target: string): string | null {
  const from = folder_of(source);
  const to = folder_of(target);
  if (from === to || from === ANYTHING) return null;
  if (to === ANYTHING) return `${source} imports ${target}: only tests import test/`;
  const allowed = ALLOWED[from];
  if (allowed === undefined) return `${source}: folder ${from}/ is not in the layout table`;
  if (allowed.includes(to) || (EXCEPTIONS[source] ?? []).includes(target)) return null;
  return `${source} imports ${target}: ${from}/ may import ${allowed.join(", ") || "nothing"}`;
}

function violations(): string[] {
  const found: string[] = [];
  for (const path of source_files()) {
    const source = readFileSync(join(REPO_ROOT, path), "utf8");
    for (const target of relative_imports(path, source)) {
      const problem = violation(path, target);
      if (problem !== null) found.push(problem);
    }
  }
  return found;
}

/** A cycle among the table's folders, as a path, or null. */
function cycle_of(table: Readonly<Record<string, readonly string[]>>): string[] | null {
  const done = new Set<string>();
  const visit = (folder: string, path: string[]): string[] | null => {
    if (path.includes(folder)) return [...path, folder];
    if (done.has(folder)) return null;
    for (const next of table[folder] ?? []) {
      const cycle = visit(next, [...path, folder]);
      if (cycle !== null) return cycle;
    }
    done.add(folder);
    return null;
  };
  for (const folder of Object.keys(table)) {
    const cycle = visit(folder, []);
    if (cycle !== null) return cycle;
  }
  return null;
}

describe("layout", () => {
  test("every relative import follows the table of allowed folder -> folder imports", () => {
    expect(violations()).toEqual([]);
  });

  test("the table's arrows run one way (no cycle), and it names only folders it has", () => {
    expect(cycle_of(ALLOWED)).toBeNull();
    for (const targets of Object.values(ALLOWED)) {
      for (const target of targets) expect(Object.keys(ALLOWED)).toContain(target);
    }
  });

  test("reaching into a sibling stage, or bench into test/, is refused", () => {
    expect(violation("engine/engine_loop.ts", "router/ring.ts")).not.toBeNull();
    expect(violation("journal/journal_loop.ts", "engine/engine_loop.ts")).not.toBeNull();
    expect(violation("projector/read_api.ts", "server/params.ts")).not.toBeNull();
    expect(violation("sdk/example.ts", "server/auth/dev_keys.ts")).not.toBeNull();
    expect(violation("bench/pipeline.ts", "test/support/services.ts")).not.toBeNull();
    expect(violation("bench/engine.ts", "node/service_node.ts")).not.toBeNull();
    expect(violation("newfolder/x.ts", "common/assert.ts")).not.toBeNull();
    expect(violation("test/e2e/support.ts", "node/service_node.ts")).toBeNull();
    expect(violation("bench/engine_replay.ts", "node/recovery.ts")).toBeNull();
  });

  test("type-only imports, dynamic imports and Workers' URLs are read as imports", () => {
    const source = 'import type { A } from "../router/pending.ts";\n' +
      'const b = await import("../auth/dev_keys.ts");\n' +
      'new Worker(new URL("./engine_worker.ts", import.meta.url).href);\n';
    expect(relative_imports("node/x.ts", source))
      .toEqual(["router/pending.ts", "auth/dev_keys.ts", "node/engine_worker.ts"]);
  });

  test("tsconfig.json typechecks every folder that holds a .ts file", () => {
    const tsconfig = JSON.parse(readFileSync(join(REPO_ROOT, "tsconfig.json"), "utf8")) as
      { include: string[] };
    const folders = new Set(source_files().map((path) => path.split("/")[0]!));
    const missing = [...folders].filter((folder) => !tsconfig.include.includes(folder));
    expect(missing).toEqual([]);
  });
});
