// Mints a token with the service's HS256 key, or revokes one:
//
//   bun run token -- --partner 7 [--ttl 3600] [--kid dev-1]
//   bun run token -- --internal [--ttl 3600]
//   bun run token -- --revoke <jti>
//
// The key comes from AUTH_KEYS_FILE, or the development key in ${DATA_DIR}/auth-keys.json (made
// here if the service has not made it yet). A revocation appends the jti to AUTH_REVOKED_FILE
// (default ${DATA_DIR}/revoked-tokens.txt); the service picks it up within AUTH_REVOCATION_POLL_MS.
// The token goes to stdout alone; its jti and expiry go to stderr.

import { appendFileSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { ensure_dev_key, mint_token, type TokenSubject } from "../auth/dev_keys.ts";
import { load_auth_options } from "../auth/options.ts";
import { JTI_LENGTH_MAX } from "../auth/revocation.ts";
import { ConfigError, load_config } from "../config/config.ts";

const TTL_S_DEFAULT = 3600;
const USAGE = "usage: bun run token -- --partner N [--ttl SECONDS] [--kid KID]\n" +
  "       bun run token -- --internal [--ttl SECONDS] [--kid KID]\n" +
  "       bun run token -- --revoke JTI";

interface Command {
  subject: TokenSubject | null;
  ttl_s: number;
  kid: string | undefined;
  revoke: string | null;
}

function fail(message: string): never {
  console.error(`${message}\n${USAGE}`);
  process.exit(2);
}

function whole_number(text: string | undefined, name: string): number {
  if (text === undefined || !/^\d{1,10}$/.test(text)) fail(`${name} needs a whole number`);
  return Number(text);
}

function parse_args(args: string[]): Command {
  const command: Command = { subject: null, ttl_s: TTL_S_DEFAULT, kid: undefined, revoke: null };
  for (let k = 0; k < args.length; k++) {
    const arg = args[k]!;
    switch (arg) {
      case "--": break;
      case "--partner": command.subject = { partner: whole_number(args[++k], arg) }; break;
      case "--internal": command.subject = { internal: true }; break;
      case "--ttl": command.ttl_s = whole_number(args[++k], arg); break;
      case "--kid": command.kid = args[++k] ?? fail("--kid needs a key id"); break;
      case "--revoke": command.revoke = args[++k] ?? fail("--revoke needs a jti"); break;
      case "--help": console.log(USAGE); process.exit(0); break;
      default: fail(`unknown argument "${arg}"`);
    }
  }
  if ((command.subject === null) === (command.revoke === null)) {
    fail("give one of --partner N, --internal or --revoke JTI");
  }
  return command;
}

function revoke(revoked_file: string, jti: string): void {
  if (!/^\S+$/.test(jti) || jti.length > JTI_LENGTH_MAX) {
    fail(`a jti is 1..${JTI_LENGTH_MAX} non-blank characters`);
  }
  mkdirSync(dirname(revoked_file), { recursive: true });
  appendFileSync(revoked_file, `${jti}\n`);
  console.error(`revoked ${jti} (appended to ${revoked_file})`);
}

async function main(): Promise<void> {
  const command = parse_args(process.argv.slice(2));
  let options;
  try {
    options = load_auth_options(process.env, load_config(process.env).data_dir);
  } catch (error) {
    if (error instanceof ConfigError) fail(`configuration: ${error.message}`);
    throw error;
  }
  if (command.revoke !== null) return revoke(options.revoked_file, command.revoke);
  if (await ensure_dev_key(options) !== null) console.error(`development key in ${options.keys_file}`);
  try {
    const minted = await mint_token({ subject: command.subject!, ttl_s: command.ttl_s, kid: command.kid,
      keys_file: options.keys_file, issuer: options.issuer, audience: options.audience });
    console.log(minted.token);
    const expires = new Date(minted.expires_at_ms).toISOString();
    console.error(`kid ${minted.kid}, jti ${minted.jti}, expires ${expires}`);
  } catch (error) {
    if (error instanceof RangeError || error instanceof ConfigError) fail(error.message);
    throw error;
  }
}

await main();
