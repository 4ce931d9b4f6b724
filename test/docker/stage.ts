// An image's file tree without Docker: the files its COPY steps take from the build context (less
// .dockerignore), at the paths they land on under WORKDIR, and node_modules holding only the
// production packages (package-lock.json's entries that are neither dev nor devOptional), as
// `bun install --production` leaves them. A process started in that tree finds exactly what it
// would find in the image, so a file the Dockerfile forgets to copy fails it here.

import { cpSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { assert } from "../../common/assert.ts";
import { read_dockerfile } from "./dockerfile.ts";
import { image_files, read_dockerignore } from "./image_files.ts";

interface LockEntry {
  dev?: boolean;
  devOptional?: boolean;
}

/** The lockfile's production package folders (node_modules/...), nested ones included. */
export async function production_packages(root: string): Promise<string[]> {
  const lock = await Bun.file(join(root, "package-lock.json")).json() as {
    packages: Record<string, LockEntry>;
  };
  return Object.entries(lock.packages)
    .filter(([path, entry]) => path.startsWith("node_modules/") && !entry.dev && !entry.devOptional)
    .map(([path]) => path);
}

export interface StagedImage {
  /** The tree's root: the image's WORKDIR. */
  dir: string;
  remove(): void;
}

export async function stage_image(root: string, dockerfile_path: string): Promise<StagedImage> {
  const dockerfile = read_dockerfile(join(root, dockerfile_path));
  const files = image_files(dockerfile, root, read_dockerignore(join(root, ".dockerignore")));
  const dir = mkdtempSync(join(tmpdir(), "staged-image-"));
  for (const [image_path, context_path] of files) {
    mkdirSync(dirname(join(dir, image_path)), { recursive: true });
    cpSync(join(root, context_path), join(dir, image_path));
  }
  const packages = await production_packages(root);
  assert(packages.length > 0, "package-lock.json lists no production package");
  for (const path of packages) {
    cpSync(join(root, path), join(dir, path), { recursive: true, dereference: true });
  }
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A process of a staged image, its output kept for the failure message. */
export class StagedProcess {
  output = "";
  readonly exited: Promise<number>;

  constructor(readonly proc: Bun.Subprocess<"ignore", "pipe", "pipe">) {
    const drain = async (stream: ReadableStream<Uint8Array>) => {
      const decoder = new TextDecoder();
      for await (const chunk of stream) this.output += decoder.decode(chunk, { stream: true });
    };
    const drained = Promise.all([drain(proc.stdout), drain(proc.stderr)]);
    this.exited = proc.exited.then(async (code) => {
      await drained.catch(() => {});
      return code;
    });
  }

  static start(dir: string, argv: string[], env: Record<string, string>): StagedProcess {
    const proc = Bun.spawn(argv, { cwd: dir, env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    return new StagedProcess(proc);
  }
}

/** Runs argv in the staged tree to its end: [exit code, stdout, stderr]. */
export function run_staged(dir: string, argv: string[], env: Record<string, string>)
  : [number, string, string] {
  const result = Bun.spawnSync(argv, { cwd: dir, env, stdin: "ignore", timeout: 30_000 });
  return [result.exitCode ?? -1, result.stdout.toString(), result.stderr.toString()];
}
