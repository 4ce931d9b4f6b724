// Tokens for a run: given ones (--token, --internal-token), or an internal token minted from the
// development key that `make run` keeps in DATA_DIR/auth-keys.json (auth/dev_keys.ts),
// or none at all for a service started with AUTH=off. The load uses --token when given (a
// partner token limits the run to that partner), the internal token otherwise.

import { existsSync } from "node:fs";
import { mint_token } from "../auth/dev_keys.ts";
import { load_auth_options } from "../auth/options.ts";

const MINTED_TOKEN_TTL_S = 3600;

export interface Tokens {
  load: string | null;
  internal: string | null;
  /** Where the internal token came from, for the summary. */
  source: string;
}

export async function resolve_tokens(given: { token: string | null; internal_token: string | null;
  data_dir: string }, env: Record<string, string | undefined>): Promise<Tokens> {
  if (given.internal_token !== null) {
    return { load: given.token ?? given.internal_token, internal: given.internal_token,
      source: "--internal-token" };
  }
  const auth = load_auth_options(env, given.data_dir);
  if (!existsSync(auth.keys_file)) {
    return { load: given.token, internal: given.token, source:
      given.token === null ? `none (no ${auth.keys_file}: an AUTH=off service?)` : "--token" };
  }
  const minted = await mint_token({ subject: { internal: true }, ttl_s: MINTED_TOKEN_TTL_S,
    keys_file: auth.keys_file, issuer: auth.issuer, audience: auth.audience });
  return { load: given.token ?? minted.token, internal: minted.token,
    source: `minted from ${auth.keys_file} (kid ${minted.kid})` };
}
