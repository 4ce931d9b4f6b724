// The development key and token minting. With auth on and neither AUTH_KEYS_FILE nor AUTH_JWKS_URL
// set, the service uses `${DATA_DIR}/auth-keys.json`, creating it with one random HS256 key
// (kid "dev-1", file mode 0600) on first start; `make run` then prints ready tokens and
// `bun run token` mints more. mint_token signs with any HS256 key of a keys file.

import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { SignJWT, base64url } from "jose";
import { assert } from "../common/assert.ts";
import { hs256_secret, KeysFileError, read_keys_file, type KeyEntry } from "./keys.ts";
import type { AuthOptions } from "./options.ts";

export const DEV_KID = "dev-1";
export const DEV_SECRET_SIZE_BYTES = 32;
export const DEV_TOKEN_TTL_S = 24 * 3600;
export const DEV_TOKEN_PARTNER = 7;
export const TOKEN_TTL_S_MAX = 366 * 24 * 3600;

/** Whether the development key applies: auth on, no AUTH_KEYS_FILE and no AUTH_JWKS_URL set. */
export function uses_dev_key(options: AuthOptions): boolean {
  return options.enabled && !options.keys_file_configured && options.jwks_url === null;
}

/**
 * Makes the development keys file if the development key applies and the file is missing; returns
 * the file's "dev-1" key when the development key is in use (null otherwise).
 */
export async function ensure_dev_key(options: AuthOptions): Promise<KeyEntry | null> {
  if (!uses_dev_key(options)) return null;
  const entry: KeyEntry = { kid: DEV_KID, alg: "HS256",
    secret: base64url.encode(crypto.getRandomValues(new Uint8Array(DEV_SECRET_SIZE_BYTES))) };
  mkdirSync(dirname(options.keys_file), { recursive: true });
  try {
    // "wx": never overwrite a key another process (or an earlier run) made.
    writeFileSync(options.keys_file, `${JSON.stringify({ keys: [entry] }, null, 2)}\n`,
      { flag: "wx", mode: 0o600 });
  } catch (error) {
    if ((error as { code?: string }).code !== "EEXIST") throw error;
  }
  const entries = await read_keys_file(options.keys_file);
  return entries.find((e) => e.kid === DEV_KID && e.alg === "HS256") ?? null;
}

export type TokenSubject = { partner: number } | { internal: true };

export interface MintRequest {
  subject: TokenSubject;
  ttl_s: number;
  keys_file: string;
  issuer: string;
  audience: string;
  /** An HS256 key of the file; the first HS256 key when absent. */
  kid?: string;
}

export interface MintedToken {
  token: string;
  jti: string;
  kid: string;
  expires_at_ms: number;
}

/** Signs a token (iss, aud, jti random, iat, exp) with an HS256 key of the keys file. */
export async function mint_token(request: MintRequest): Promise<MintedToken> {
  const { subject, ttl_s } = request;
  if (!Number.isInteger(ttl_s) || ttl_s < 1 || ttl_s > TOKEN_TTL_S_MAX) {
    throw new RangeError(`ttl_s must be an integer 1..${TOKEN_TTL_S_MAX}, got ${ttl_s}`);
  }
  if ("partner" in subject) {
    const partner = subject.partner;
    if (!Number.isInteger(partner) || partner < 1 || partner > 0xffff_ffff) {
      throw new RangeError(`partner must be an integer 1..4294967295, got ${partner}`);
    }
  }
  const entries = await read_keys_file(request.keys_file);
  const entry = entries.find((e) =>
    e.alg === "HS256" && (request.kid === undefined || e.kid === request.kid));
  if (entry === undefined) {
    throw new KeysFileError(`${request.keys_file} has no HS256 key` +
      (request.kid === undefined ? "" : ` with kid "${request.kid}"`) + " to sign with");
  }
  const jti = crypto.randomUUID();
  const now_s = Math.floor(Date.now() / 1000);
  const claims = "partner" in subject ? { partner: subject.partner } : { scope: "internal" };
  const token = await new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256", kid: entry.kid, typ: "JWT" })
    .setIssuer(request.issuer)
    .setAudience(request.audience)
    .setJti(jti)
    .setIssuedAt(now_s)
    .setExpirationTime(now_s + ttl_s)
    .sign(hs256_secret(entry));
  assert(token.split(".").length === 3, "a compact JWS has three parts");
  return { token, jti, kid: entry.kid, expires_at_ms: (now_s + ttl_s) * 1000 };
}
