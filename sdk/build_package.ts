// Builds the npm package's files into sdk/dist (`npm pack` in sdk/ runs it as `prepack`; so does
// `npm run build` there): tsc emits sdk/index.ts and everything it imports (sdk/, schema/, common/)
// as ES modules with declarations, for Node 20+ and Bun, under Node's types only
// (tsconfig.build.json). Then every relative import in dist is made a `.js` one (tsc rewrites `.ts`
// imports in JS but not in declarations, and the generated FlatBuffers code imports without an
// extension), and the output is checked: each relative import names a file of dist, and the only
// other imports are `flatbuffers` and Node built-ins. Uses Node APIs only.

import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { assert } from "../common/assert.ts";

const SDK_ROOT = dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = resolve(SDK_ROOT, "..");
const DIST = join(SDK_ROOT, "dist");
const ENTRY = join(DIST, "sdk", "index.js");
/** Bare imports the package may make: its one dependency and Node's built-ins. */
const DEPENDENCIES = new Set(["flatbuffers"]);
const SPECIFIER = /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(["'])([^"']+)\2/g;

function main(): void {
  rmSync(DIST, { recursive: true, force: true });
  const tsc = join(REPO_ROOT, "node_modules", ".bin", "tsc");
  const run = spawnSync(tsc, ["-p", join(SDK_ROOT, "tsconfig.build.json")],
    { cwd: SDK_ROOT, encoding: "utf8" });
  if (run.status !== 0) {
    throw new Error(`tsc failed (exit ${run.status}):\n${run.stdout}${run.stderr}`);
  }
  const files = emitted_files(DIST);
  assert(existsSync(ENTRY) && existsSync(ENTRY.replace(/\.js$/, ".d.ts")), "entry emitted");
  const problems: string[] = [];
  for (const file of files) problems.push(...rewrite_imports(file));
  if (problems.length > 0) throw new Error(`the package's imports:\n${problems.join("\n")}`);
  console.log(`sdk/dist: ${files.length} files (${relative(SDK_ROOT, ENTRY)} and declarations)`);
}

/** Every .js and .d.ts file under `folder`. */
function emitted_files(folder: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) found.push(...emitted_files(path));
    else if (entry.name.endsWith(".js") || entry.name.endsWith(".d.ts")) found.push(path);
  }
  return found;
}

/** Makes `file`'s relative imports `.js` ones; returns the imports that are not allowed. */
function rewrite_imports(file: string): string[] {
  const problems: string[] = [];
  const where = relative(DIST, file);
  const source = readFileSync(file, "utf8");
  const lines = source.split("\n").map((line) => {
    if (is_comment(line)) return line;
    if (file.endsWith(".js") && /\bBun\.|["']bun:/.test(line)) problems.push(`${where}: a Bun API`);
    return line.replace(SPECIFIER, (whole, head: string, quote: string, name: string) => {
      if (!name.startsWith("./") && !name.startsWith("../")) {
        if (!name.startsWith("node:") && !DEPENDENCIES.has(name)) {
          problems.push(`${where}: imports ${name}`);
        }
        return whole;
      }
      const target = name.replace(/\.ts$/, "").replace(/\.js$/, "") + ".js";
      if (!existsSync(resolve(dirname(file), target))) {
        problems.push(`${where}: ${name} names no file of dist`);
      }
      return `${head}${quote}${target}${quote}`;
    });
  });
  const rewritten = lines.join("\n");
  if (rewritten !== source) writeFileSync(file, rewritten);
  return problems;
}

/** A line of a comment (imports never are). */
function is_comment(line: string): boolean {
  const start = line.trimStart();
  return start.startsWith("//") || start.startsWith("*") || start.startsWith("/*");
}

main();
