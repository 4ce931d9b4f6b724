// Reads a Dockerfile into its instructions, for the checks of test/docker/: enough of the syntax for
// ours (comments, `\` continuations, JSON exec form), and a loud error for anything else it meets,
// so a construct the checks do not understand cannot pass unchecked.

import { readFileSync } from "node:fs";
import { assert } from "../../common/assert.ts";

export interface Instruction {
  /** Upper case: FROM, COPY, RUN, ... */
  op: string;
  /** The text after the keyword, continuations joined. */
  text: string;
  line: number;
}

export interface Dockerfile {
  path: string;
  instructions: Instruction[];
}

const KNOWN_OPS = new Set(["FROM", "WORKDIR", "COPY", "RUN", "USER", "ENV", "VOLUME", "EXPOSE",
  "HEALTHCHECK", "STOPSIGNAL", "CMD", "LABEL", "ARG"]);

export function read_dockerfile(path: string): Dockerfile {
  const lines = readFileSync(path, "utf8").split("\n");
  const instructions: Instruction[] = [];
  let pending: { text: string; line: number } | null = null;
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (line.startsWith("#")) return;
    if (line === "" && pending === null) return;
    const continued = line.endsWith("\\");
    const body = continued ? line.slice(0, -1).trim() : line;
    pending = pending === null ? { text: body, line: index + 1 }
      : { text: `${pending.text} ${body}`.trim(), line: pending.line };
    if (continued) return;
    const match = /^([A-Za-z]+)\s+(.*)$/.exec(pending.text);
    if (match === null) throw new Error(`${path}:${pending.line}: not an instruction`);
    const op = match[1]!.toUpperCase();
    if (!KNOWN_OPS.has(op)) throw new Error(`${path}:${pending.line}: ${op} is not checked here`);
    instructions.push({ op, text: match[2]!, line: pending.line });
    pending = null;
  });
  assert(pending === null, `${path} ends inside a continued line`);
  return { path, instructions };
}

export function instructions_of(file: Dockerfile, op: string): Instruction[] {
  return file.instructions.filter((instruction) => instruction.op === op);
}

/** The only instruction `op` of the file (FROM, CMD, HEALTHCHECK, USER: ours have one each). */
export function single(file: Dockerfile, op: string): Instruction {
  const found = instructions_of(file, op);
  if (found.length !== 1) throw new Error(`${file.path} has ${found.length} ${op} instructions`);
  return found[0]!;
}

/** A JSON exec form (["bun", "server/main.ts"]): the shell form is refused. */
export function exec_form(text: string, where: string): string[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`${where}: "${text}" is not the JSON exec form`);
  }
  if (!Array.isArray(value) || !value.every((part) => typeof part === "string")) {
    throw new Error(`${where}: "${text}" is not a JSON array of strings`);
  }
  return value as string[];
}

/** CMD's argv. */
export function command_of(file: Dockerfile): string[] {
  return exec_form(single(file, "CMD").text, `${file.path} CMD`);
}

/** HEALTHCHECK's argv, its --options skipped. */
export function healthcheck_of(file: Dockerfile): string[] {
  const text = single(file, "HEALTHCHECK").text;
  const match = /^(?:--[a-z-]+=\S+\s+)*CMD\s+(.*)$/.exec(text);
  if (match === null) throw new Error(`${file.path} HEALTHCHECK: "${text}" is not [options] CMD [...]`);
  return exec_form(match[1]!, `${file.path} HEALTHCHECK`);
}

export interface CopyStep {
  /** Paths in the build context (the repository root). */
  sources: string[];
  /** Where they land, relative to WORKDIR when not absolute. */
  target: string;
}

/** COPY steps from the build context; flags (--chown, --from) are refused: ours use none. */
export function copy_steps(file: Dockerfile): CopyStep[] {
  return instructions_of(file, "COPY").map((instruction) => {
    const parts = instruction.text.split(/\s+/);
    if (parts.some((part) => part.startsWith("--"))) {
      throw new Error(`${file.path}:${instruction.line}: COPY flags are not checked here`);
    }
    assert(parts.length >= 2, `${file.path}:${instruction.line}: COPY needs a source and a target`);
    return { sources: parts.slice(0, -1), target: parts[parts.length - 1]! };
  });
}
