// Authentication at start-up, for server/main.ts: options from the environment, the development
// key when it applies, the authenticator (null with AUTH=off: HTTP and TCP then skip auth), and
// the lines to print (ready tokens when the development key is in use).

import { create_authenticator, type ServiceAuthenticator } from "./authenticator.ts";
import { DEV_TOKEN_PARTNER, DEV_TOKEN_TTL_S, ensure_dev_key, mint_token } from "./dev_keys.ts";
import { load_auth_options } from "./options.ts";

export interface AuthSetup {
  /** null: AUTH=off, no request is authenticated. */
  authenticator: ServiceAuthenticator | null;
  /** Lines for the console once the service is ready. */
  banner: string[];
}

/** Throws ConfigError (or KeysFileError, one) for a bad setting or keys file. */
export async function set_up_auth(env: Record<string, string | undefined>, data_dir: string)
  : Promise<AuthSetup> {
  const options = load_auth_options(env, data_dir);
  if (!options.enabled) {
    return { authenticator: null, banner: ["auth: AUTH=off, requests are NOT authenticated"] };
  }
  const dev_key = await ensure_dev_key(options);
  const authenticator = await create_authenticator(options);
  const sources = [`keys ${authenticator.key_ids().join(", ") || "(none)"} from ${options.keys_file}`];
  if (options.jwks_url !== null) sources.push(`JWKS ${options.jwks_url.href}`);
  const banner = [`auth: on (${sources.join("; ")}); revocations from ${options.revoked_file} ` +
    `every ${options.revocation_poll_ms} ms`];
  if (dev_key !== null) {
    const common = { keys_file: options.keys_file, issuer: options.issuer, audience: options.audience,
      ttl_s: DEV_TOKEN_TTL_S, kid: dev_key.kid };
    const partner = await mint_token({ ...common, subject: { partner: DEV_TOKEN_PARTNER } });
    const internal = await mint_token({ ...common, subject: { internal: true } });
    banner.push(`development key "${dev_key.kid}" in use; tokens valid for 24 h ` +
      "(more: bun run token -- --partner N | --internal):",
    `  partner ${DEV_TOKEN_PARTNER} token: ${partner.token}`,
    `  internal token:  ${internal.token}`);
  }
  return { authenticator, banner };
}
