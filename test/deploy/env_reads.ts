// The environment variables a program reads, found in the source of everything it loads (the
// closure of its imports and Workers: test/docker/image_files.ts): `env.NAME`, `env["NAME"]`,
// names given with `env` to a reader (`integer(env, "NAME", ...)`, several names in a row too),
// and the names of `*_VARIABLES*` lists (cluster/membership/cluster_config.ts).

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { runtime_needs } from "../docker/image_files.ts";
import { REPO_ROOT } from "./support.ts";

const NAME = String.raw`[A-Z][A-Z0-9_]*`;
const PATTERNS = [
  new RegExp(String.raw`\benv\.(${NAME})\b`, "g"),
  new RegExp(String.raw`\benv\[\s*"(${NAME})"\s*\]`, "g"),
];
const READER_CALL = new RegExp(String.raw`\(\s*env\s*,((?:\s*"${NAME}"\s*,?)+)`, "g");
const VARIABLE_LIST = /_VARIABLES\w*\s*=\s*\[([^\]]*)\]/g;
const QUOTED = new RegExp(String.raw`"(${NAME})"`, "g");

/** Variable name -> the files reading it, for the programs started from `entries`. */
export function env_reads(entries: string[]): Map<string, string[]> {
  const reads = new Map<string, string[]>();
  const add = (name: string, path: string) => {
    const paths = reads.get(name) ?? [];
    if (!paths.includes(path)) paths.push(path);
    reads.set(name, paths);
  };
  for (const path of runtime_needs(REPO_ROOT, entries).files) {
    if (path.startsWith("test/")) continue;
    const source = readFileSync(join(REPO_ROOT, path), "utf8");
    for (const pattern of PATTERNS) {
      for (const match of source.matchAll(pattern)) add(match[1]!, path);
    }
    for (const pattern of [READER_CALL, VARIABLE_LIST]) {
      for (const match of source.matchAll(pattern)) {
        for (const quoted of match[1]!.matchAll(QUOTED)) add(quoted[1]!, path);
      }
    }
  }
  return reads;
}
