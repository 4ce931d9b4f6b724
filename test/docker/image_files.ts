// What an image holds, computed without Docker: the build context's files less .dockerignore, put
// where the Dockerfile's COPY steps put them; and what an entry point needs at run time: the
// transitive closure of its imports, the Workers it starts (new URL("./x.ts", import.meta.url)) and
// the folders it reads beside itself (resolve(import.meta.dir, "migrations")), with the npm packages
// it imports.

import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, posix, relative } from "node:path";
import { assert } from "../../common/assert.ts";
import { copy_steps, type Dockerfile } from "./dockerfile.ts";

/** The patterns of a .dockerignore; exceptions (!) are refused: ours has none to check. */
export function read_dockerignore(path: string): string[] {
  const patterns = readFileSync(path, "utf8").split("\n").map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
  for (const pattern of patterns) {
    if (pattern.startsWith("!")) throw new Error(`${path}: exception "${pattern}" not checked here`);
  }
  return patterns.map((pattern) => posix.normalize(pattern.replace(/^\/+/, "")).replace(/\/+$/, ""));
}

/** Docker's rule: a path is left out when it, or a folder above it, matches a pattern. */
export function ignored(context_path: string, patterns: string[]): boolean {
  const parts = context_path.split("/");
  for (let depth = 1; depth <= parts.length; depth++) {
    const prefix = parts.slice(0, depth).join("/");
    if (patterns.some((pattern) => new Bun.Glob(pattern).match(prefix))) return true;
  }
  return false;
}

function files_under(root: string, context_dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(join(root, context_dir), { withFileTypes: true })) {
    const path = `${context_dir}/${entry.name}`;
    if (entry.isDirectory()) found.push(...files_under(root, path));
    else if (entry.isFile()) found.push(path);
  }
  return found;
}

/**
 * The image's files under WORKDIR: image path (relative to WORKDIR) -> build context path.
 * Every COPY target must be relative to WORKDIR (./...).
 */
export function image_files(file: Dockerfile, root: string, patterns: string[]): Map<string, string> {
  const files = new Map<string, string>();
  for (const step of copy_steps(file)) {
    assert(step.target.startsWith("./"), `${file.path}: COPY target ${step.target} is not ./...`);
    const target = posix.normalize(step.target);
    for (const source of step.sources) {
      const source_path = posix.normalize(source);
      if (!existsSync(join(root, source_path))) {
        throw new Error(`${file.path}: COPY source ${source} does not exist`);
      }
      if (statSync(join(root, source_path)).isDirectory()) {
        for (const path of files_under(root, source_path)) {
          if (ignored(path, patterns)) continue;
          files.set(posix.join(target, posix.relative(source_path, path)), path);
        }
      } else if (!ignored(source_path, patterns)) {
        const into_folder = step.target.endsWith("/") || step.sources.length > 1;
        files.set(into_folder ? posix.join(target, posix.basename(source_path)) : target,
          source_path);
      }
    }
  }
  return files;
}

export interface RuntimeNeeds {
  /** Repository paths of the source files loaded, the entries included. */
  files: Set<string>;
  /** Files or folders read beside a source file at run time. */
  assets: Set<string>;
  /** npm package names imported. */
  packages: Set<string>;
}

const WORKER_URL = /new URL\(\s*"([^"]+)"\s*,\s*import\.meta\.url\s*\)/g;
const BESIDE_PATH = /(?:resolve|join)\(\s*import\.meta\.dir\s*,\s*"([^"]+)"\s*\)/g;
const transpiler = new Bun.Transpiler({ loader: "ts" });

function package_of(specifier: string): string {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!;
}

/** The closure of what `entries` (repository paths) load, run from `root`. */
export function runtime_needs(root: string, entries: string[]): RuntimeNeeds {
  const needs: RuntimeNeeds = { files: new Set(), assets: new Set(), packages: new Set() };
  const queue = [...entries];
  while (queue.length > 0) {
    const path = queue.pop()!;
    if (needs.files.has(path)) continue;
    if (!existsSync(join(root, path))) throw new Error(`${path} is loaded but does not exist`);
    needs.files.add(path);
    const source = readFileSync(join(root, path), "utf8");
    const local = (specifier: string) =>
      relative(root, normalize(join(root, dirname(path), specifier)));
    // Bun's own resolution: generated code imports without extensions.
    const resolved = (specifier: string) =>
      relative(root, Bun.resolveSync(specifier, join(root, dirname(path))));
    for (const { path: specifier } of transpiler.scanImports(source)) {
      if (specifier.startsWith(".")) queue.push(resolved(specifier));
      else if (!/^(node|bun):/.test(specifier) && specifier !== "bun") {
        needs.packages.add(package_of(specifier));
      }
    }
    for (const match of source.matchAll(WORKER_URL)) queue.push(local(match[1]!));
    for (const match of source.matchAll(BESIDE_PATH)) needs.assets.add(local(match[1]!));
  }
  return needs;
}

/** The asset's files (a folder's, recursively), as repository paths. */
export function asset_files(root: string, asset: string): string[] {
  return statSync(join(root, asset)).isDirectory() ? files_under(root, asset) : [asset];
}
