// The SDK as an npm package (sdk/package.json, sdk/README.md): `npm pack` in sdk/ (its prepack
// builds sdk/dist), the tarball installed with `npm install` into a scratch Node project in a
// temporary directory, and a Node program there (consumer.mjs) that imports `@balance/sdk` runs
// orders against a real server over TCP and over HTTP. Also checked: the tarball holds the built
// JS and declarations, the README and package.json only; its one dependency is flatbuffers at the
// root's version; no shipped module uses a Bun API; a TypeScript program type-checks against the
// package's declarations under Node's own resolution (nodenext). Nothing here is skipped: a
// missing npm, node or registry fails the test.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync }
  from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { AccountKind, ErrorCode, Mode, Status } from "../../sdk/index.ts";
import { start_service, token_for, type SdkService } from "../sdk/service.ts";

const REPO_ROOT = resolve(import.meta.dir, "..", "..");
const SDK_DIR = join(REPO_ROOT, "sdk");
const PACKAGE_NAME = "@balance/sdk";
const PARTNER = 7;
const NODE_MAJOR_MIN = 20;
const COMMAND_TIMEOUT_MS = 150_000;

let scratch: string;
let project: string;
let tarball: string;
let sdk: SdkService | undefined;

/** Runs a command to its end; throws with its output unless it exits 0. */
async function run(command: string[], cwd: string): Promise<{ stdout: string; stderr: string }> {
  // npm's own settings only: none inherited from a `bun run`/`npm run` that started the tests.
  const env = Object.fromEntries(Object.entries(process.env)
    .filter(([name]) => !name.toLowerCase().startsWith("npm_")));
  const child = Bun.spawn(command, { cwd, env, stdin: "ignore", stdout: "pipe", stderr: "pipe",
    timeout: COMMAND_TIMEOUT_MS });
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited,
  ]);
  if (code !== 0) {
    throw new Error(`${command.join(" ")} (in ${cwd}) exited ${code}:\n${stdout}\n${stderr}`);
  }
  return { stdout, stderr };
}

function installed(...path: string[]): string {
  return join(project, "node_modules", ...PACKAGE_NAME.split("/"), ...path);
}

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), "sdk-package-"));
  const packs = join(scratch, "packs");
  mkdirSync(packs);
  await run(["npm", "pack", "--pack-destination", packs], SDK_DIR);
  const tarballs = readdirSync(packs).filter((name) => name.endsWith(".tgz"));
  if (tarballs.length !== 1) throw new Error(`npm pack made ${tarballs.join(", ") || "nothing"}`);
  tarball = join(packs, tarballs[0]!);
  project = join(scratch, "project");
  mkdirSync(project);
  writeFileSync(join(project, "package.json"), JSON.stringify(
    { name: "sdk-package-consumer", version: "1.0.0", private: true, type: "module" }));
  await run(["npm", "install", "--no-audit", "--no-fund", "--prefer-offline", tarball], project);
  copyFileSync(join(import.meta.dir, "consumer.mjs"), join(project, "consumer.mjs"));
  sdk = await start_service();
}, 240_000);

afterAll(async () => {
  await sdk?.service.stop();
  sdk?.service.remove_data();
  if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
});

test("the tarball holds the built JS, its declarations, the README and package.json only", async () => {
  const listing = (await run(["tar", "-tzf", tarball], scratch)).stdout.trim().split("\n");
  const files = new Set(listing);
  for (const needed of ["package/package.json", "package/README.md", "package/dist/sdk/index.js",
    "package/dist/sdk/index.d.ts", "package/dist/sdk/tls.js",
    "package/dist/schema/generated/balance/wire/status.js", "package/dist/common/constants.js"]) {
    expect(files.has(needed)).toBe(true);
  }
  const others = listing.filter((path) => path !== "package/package.json" &&
    path !== "package/README.md" && !/^package\/dist\/.+(\.js|\.d\.ts)$/.test(path));
  expect(others).toEqual([]);
  // Every module has its declarations.
  const modules = listing.filter((path) => path.endsWith(".js"));
  expect(modules.filter((path) => !files.has(path.replace(/\.js$/, ".d.ts")))).toEqual([]);
});

test("installed: ESM with types, flatbuffers (the root's version) its one dependency, no Bun API",
  () => {
    const manifest = JSON.parse(readFileSync(installed("package.json"), "utf8"));
    const root = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8"));
    expect(manifest.name).toBe(PACKAGE_NAME);
    expect(manifest.type).toBe("module");
    expect(manifest.exports["."].types).toBe("./dist/sdk/index.d.ts");
    expect(manifest.exports["."].import).toBe("./dist/sdk/index.js");
    expect(manifest.dependencies).toEqual({ flatbuffers: root.dependencies.flatbuffers });
    const flatbuffers = JSON.parse(readFileSync(
      join(project, "node_modules", "flatbuffers", "package.json"), "utf8"));
    expect(flatbuffers.version).toBe(root.dependencies.flatbuffers);
    expect(bun_uses(installed("dist"))).toEqual([]);
  });

test("a Node program importing @balance/sdk opens accounts and runs orders over TCP and HTTP",
  async () => {
    const { service, tcp_port } = sdk!;
    const internal = await token_for(service, { internal: true });
    const partner = await token_for(service, { partner: PARTNER });
    const { stdout, stderr } = await run(["node", "consumer.mjs", `tcp://127.0.0.1:${tcp_port}`,
      service.base_url, internal, partner, String(PARTNER)], project);
    expect(stderr).toBe("");
    const out = JSON.parse(stdout.trim());
    expect(out.runtime.bun).toBe(false);
    expect(out.runtime.node_major).toBeGreaterThanOrEqual(NODE_MAJOR_MIN);
    const transport = {
      credits: [["ok", true, "100"], ["ok", true, "300"], ["ok", true, "600"]],
      debit: ["ok", true, "550"],
      refused: ["insufficient_funds", false, "550"],
      accepted: { answer: "pending", outcome: "ok", balance: "555" },
      hold: ["ok", true],
      account: { balance: "555", held: "25", available: "530" },
      order: ["ok", "550", true],
    };
    expect({ ...out, runtime: undefined }).toEqual({
      runtime: undefined,
      resolved_in_node_modules: true,
      enums: { ok: Status.ok, committed: Mode.committed, user: AccountKind.user,
        token_invalid: ErrorCode.token_invalid },
      opened: ["ok", "ok"],
      tcp: transport,
      http: transport,
      transfer: { status: "ok", source: "545", target: "565" },
      bad_token: ["refused", "token_invalid"],
      range_error: "RangeError",
      tls_on_plain: "RangeError",
    });
  }, 120_000);

test("a TypeScript program type-checks against the package's declarations (nodenext)", async () => {
  writeFileSync(join(project, "tsconfig.json"), JSON.stringify({
    compilerOptions: {
      target: "ES2022", module: "nodenext", moduleResolution: "nodenext", strict: true,
      noEmit: true, skipLibCheck: false, types: ["node"],
      typeRoots: [join(REPO_ROOT, "node_modules", "@types")],
    },
    files: ["typed.ts"],
  }));
  writeFileSync(join(project, "typed.ts"), TYPED_PROGRAM);
  const tsc = join(REPO_ROOT, "node_modules", ".bin", "tsc");
  const { stdout, stderr } = await run([tsc, "-p", join(project, "tsconfig.json")], project);
  expect(stdout + stderr).toBe("");
}, 60_000);

/** Uses the package's types; the @ts-expect-error lines fail the check if the types were `any`. */
const TYPED_PROGRAM = `
import { BalanceClient, BalanceError, Status, type OrderResult, type TlsOptions } from "@balance/sdk";

const tls: TlsOptions = { ca: "-----BEGIN CERTIFICATE-----", servername: "balance.example" };
export async function pay(url: string, token: string): Promise<bigint> {
  const client = await BalanceClient.connect({ url, token, partner: 7, tls, mode: "committed" });
  const result: OrderResult = await client.debit({ account: 1n, amount: 5n, currency: 978 });
  // @ts-expect-error: an account is a bigint or a number
  await client.credit({ account: "1", amount: 5n, currency: 978 });
  // @ts-expect-error: there is no such mode
  await BalanceClient.connect({ url, mode: "eventually" });
  const status: Status = result.status;
  if (status !== Status.ok) throw new BalanceError("protocol", result.status_name);
  client.close();
  return result.balance;
}
`;

/** The lines of shipped modules that use a Bun API (comments aside). */
function bun_uses(folder: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(folder, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith(".js")) continue;
    const path = join(entry.parentPath, entry.name);
    for (const line of readFileSync(path, "utf8").split("\n")) {
      const code = line.trimStart();
      if (code.startsWith("//") || code.startsWith("*") || code.startsWith("/*")) continue;
      if (/\bBun\.|["']bun:|import\.meta\.dir\b/.test(code)) found.push(`${path}: ${code}`);
    }
  }
  return found;
}
