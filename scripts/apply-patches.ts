// Applies package.json's `patchedDependencies` to node_modules after `npm ci` (package.json's
// postinstall). Bun applies that field itself (`bun install`, as the Docker images do); npm knows
// nothing of it, so this does for npm what Bun does. Each patch fixes a defect of a pinned
// version that upstream has not released a fix for (patches/README.md says which and why).
//
// Run again, it changes nothing: a patch already in place (Bun's, or an earlier run's) is left.
// A patch that neither applies nor is in place, or a package at another version than the patch
// was written for, stops the install: running unpatched would bring the defect back silently.

import { join } from "node:path";

const ROOT = join(import.meta.dir, "..");

interface PackageJson {
  patchedDependencies?: Record<string, string>;
}

/** `git apply` of `patch_path` under `package_dir`; the error text, or null when it succeeded. */
function git_apply(patch_path: string, package_dir: string, mode: "apply" | "check_applied"):
  string | null {
  const reverse_check = mode === "check_applied" ? ["--check", "-R"] : [];
  const argv = ["git", "apply", `--directory=${package_dir}`, ...reverse_check, patch_path];
  const result = Bun.spawnSync(argv, { cwd: ROOT, stdout: "ignore", stderr: "pipe" });
  return result.exitCode === 0 ? null : result.stderr.toString();
}

async function apply(spec: string, patch_path: string): Promise<void> {
  const at = spec.lastIndexOf("@");
  const [name, version] = [spec.slice(0, at), spec.slice(at + 1)];
  const package_dir = join("node_modules", name);
  const installed = (await Bun.file(join(ROOT, package_dir, "package.json")).json()) as
    { version: string };
  if (installed.version !== version) {
    throw new Error(`${patch_path} is for ${spec}, but ${name}@${installed.version} is installed`);
  }
  if (git_apply(patch_path, package_dir, "check_applied") === null) {
    console.log(`[patches] ${spec}: already applied`);
    return;
  }
  const problem = git_apply(patch_path, package_dir, "apply");
  if (problem !== null) throw new Error(`${patch_path} does not apply to ${package_dir}:\n${problem}`);
  console.log(`[patches] ${spec}: applied ${patch_path}`);
}

const package_json = (await Bun.file(join(ROOT, "package.json")).json()) as PackageJson;
for (const [spec, patch_path] of Object.entries(package_json.patchedDependencies ?? {})) {
  await apply(spec, patch_path);
}
