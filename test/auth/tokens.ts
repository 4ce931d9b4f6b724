// Token and key helpers for the auth tests: keys files written to a temporary directory, and tokens
// signed with any claims (expired, not yet valid, another issuer...) straight through jose.

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  SignJWT, base64url, exportJWK, exportSPKI, generateKeyPair, type CryptoKey, type JWK,
  type JWTPayload,
} from "jose";
import type { KeyEntry } from "../../auth/keys.ts";

export const ISSUER = "balance-service";
export const AUDIENCE = "balance-service";

export interface SigningKey {
  kid: string;
  alg: "HS256" | "RS256" | "ES256" | "EdDSA";
  key: CryptoKey | Uint8Array;
  /** The keys-file entry that verifies it. */
  entry: KeyEntry;
  /** The public JWK (asymmetric keys), for a JWKS. */
  jwk: JWK | null;
}

export function hs256_key(kid: string): SigningKey {
  const secret = crypto.getRandomValues(new Uint8Array(32));
  return { kid, alg: "HS256", key: secret, jwk: null,
    entry: { kid, alg: "HS256", secret: base64url.encode(secret) } };
}

/** An asymmetric key pair; the entry carries the public key as SPKI PEM, or as a JWK. */
export async function key_pair(kid: string, alg: "RS256" | "ES256" | "EdDSA", as: "pem" | "jwk" = "pem")
  : Promise<SigningKey> {
  const pair = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(pair.publicKey)), kid, alg, use: "sig" };
  const entry: KeyEntry = as === "pem"
    ? { kid, alg, public_key: await exportSPKI(pair.publicKey) }
    : { kid, alg, jwk };
  return { kid, alg, key: pair.privateKey, entry, jwk };
}

export function write_keys_file(dir: string, keys: SigningKey[], name = "keys.json"): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify({ keys: keys.map((k) => k.entry) }), { mode: 0o600 });
  return path;
}

export interface TokenClaims extends JWTPayload {
  partner?: number;
  scope?: string;
}

let counter = 0;

/**
 * Signs claims with a key. Defaults: iss and aud of the service, a fresh jti, exp in an hour;
 * pass `undefined` for a claim to leave it out.
 */
export async function sign(key: SigningKey, claims: TokenClaims,
  header: { kid?: string | null; alg?: string } = {}): Promise<string> {
  const now_s = Math.floor(Date.now() / 1000);
  const payload: JWTPayload = {
    iss: ISSUER, aud: AUDIENCE, jti: `test-${process.pid}-${++counter}`, iat: now_s, exp: now_s + 3600,
    ...claims,
  };
  for (const name of Object.keys(payload)) if (payload[name] === undefined) delete payload[name];
  const kid = header.kid === null ? undefined : header.kid ?? key.kid;
  return new SignJWT(payload)
    .setProtectedHeader({ alg: header.alg ?? key.alg, ...(kid === undefined ? {} : { kid }) })
    .sign(key.key);
}

export function now_s(): number {
  return Math.floor(Date.now() / 1000);
}
