// The Authenticator HTTP and TCP share (principal.ts): JWTs verified with jose against the keys of
// AUTH_KEYS_FILE and/or a JWKS (AUTH_JWKS_URL), picked by the header's `kid`, each key allowing one
// algorithm. Checked: signature, exp (required), nbf, iss, aud, jti (required) not revoked. Claims:
// `partner` (u32) -> a partner principal; `scope: "internal"` -> an internal principal.
//
// Every AUTH_REVOCATION_POLL_MS a tick re-reads the revoked-token file and, when it changed, the keys
// file (a rotation without restart), and sweeps expired tokens from the cache. With AUTH=off there
// is no authenticator at all: HTTP and TCP are given null and skip authentication.

import { existsSync, statSync } from "node:fs";
import {
  createRemoteJWKSet, errors, jwtVerify, type FlattenedJWSInput, type JWSHeaderParameters,
  type JWTPayload,
} from "jose";
import { assert } from "../common/assert.ts";
import { ErrorCode } from "../schema/generated/balance/wire/error-code.ts";
import { ConfigError } from "../config/config.ts";
import { JWKS_ALGORITHMS, KEY_ALGORITHMS, load_keys_file, type VerifyKey } from "./keys.ts";
import type { AuthOptions } from "./options.ts";
import type { AuthFailure, AuthFailureCode, Authenticator, Principal } from "./principal.ts";
import { JTI_LENGTH_MAX, RevocationList } from "./revocation.ts";
import { TokenCache } from "./token_cache.ts";

export { load_auth_options, type AuthOptions } from "./options.ts";

/** Longer tokens are refused before any parsing. */
export const TOKEN_LENGTH_MAX = 8_192;
export const PARTNER_MAX = 0xffff_ffff;
/** JWKS fetches: a timeout, a pause between fetches for unknown kids, and a refresh age. */
export const JWKS_TIMEOUT_MS = 5_000;
export const JWKS_COOLDOWN_MS = 30_000;
export const JWKS_CACHE_AGE_MS_MAX = 600_000;

/** The authenticator the service runs: the shared contract plus its lifecycle. */
export interface ServiceAuthenticator extends Authenticator {
  readonly options: AuthOptions;
  /** The kids of the keys file now in force (JWKS keys are fetched when a token names them). */
  key_ids(): string[];
  /** Re-reads the revoked-token file and (if changed) the keys file now, as the poll does. */
  refresh(): Promise<void>;
  /** Stops the poll. */
  close(): void;
}

/** A verification failure decided here (rather than by jose), with its wire code. */
class VerifyFailure extends Error {
  constructor(readonly code: AuthFailureCode, message: string) {
    super(message);
  }
}

function failure(code: AuthFailureCode, message: string): AuthFailure {
  return { code, message };
}

type JwksResolver = ReturnType<typeof createRemoteJWKSet>;

class JoseAuthenticator implements ServiceAuthenticator {
  private keys: Map<string, VerifyKey>;
  private keys_stamp: string;
  private readonly jwks: JwksResolver | null;
  private readonly revoked: RevocationList;
  private readonly cache = new TokenCache();
  private readonly timer: ReturnType<typeof setInterval>;
  private ticking = false;

  constructor(readonly options: AuthOptions, keys: Map<string, VerifyKey>, revoked: RevocationList) {
    this.keys = keys;
    this.keys_stamp = file_stamp(options.keys_file);
    this.revoked = revoked;
    this.jwks = options.jwks_url === null ? null : createRemoteJWKSet(options.jwks_url, {
      timeoutDuration: JWKS_TIMEOUT_MS, cooldownDuration: JWKS_COOLDOWN_MS,
      cacheMaxAge: JWKS_CACHE_AGE_MS_MAX,
    });
    this.timer = setInterval(() => void this.tick(), options.revocation_poll_ms);
    this.timer.unref();
  }

  async authenticate(token: string): Promise<Principal | AuthFailure> {
    const now_ms = Date.now();
    const cached = this.cache.get(token, now_ms);
    if (cached !== undefined) {
      if (this.revoked.has(cached.jti)) return failure(ErrorCode.token_revoked, "token revoked");
      return cached;
    }
    if (token.length === 0) return failure(ErrorCode.not_authenticated, "no token");
    if (token.length > TOKEN_LENGTH_MAX) {
      return failure(ErrorCode.token_invalid, `token longer than ${TOKEN_LENGTH_MAX} characters`);
    }
    const verified = await this.verify(token);
    if ("code" in verified) return verified;
    if (this.revoked.has(verified.jti)) return failure(ErrorCode.token_revoked, "token revoked");
    this.cache.set(token, verified);
    return verified;
  }

  is_revoked(jti: string): boolean {
    return this.revoked.has(jti);
  }

  key_ids(): string[] {
    return [...this.keys.keys()];
  }

  async refresh(): Promise<void> {
    await this.revoked.reload();
    const stamp = file_stamp(this.options.keys_file);
    if (stamp === this.keys_stamp) return;
    const keys = stamp === "missing" ? new Map<string, VerifyKey>()
      : await load_keys_file(this.options.keys_file);
    if (keys.size === 0 && this.jwks === null) {
      throw new ConfigError(`${this.options.keys_file} has no keys and AUTH_JWKS_URL is not set`);
    }
    this.keys = keys;
    this.keys_stamp = stamp;
    this.cache.clear(); // tokens of a removed key stop working now
    console.log(`auth: keys reloaded from ${this.options.keys_file}: ${this.key_ids().join(", ")}`);
  }

  close(): void {
    clearInterval(this.timer);
  }

  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      await this.refresh();
    } catch (error) {
      console.error(`auth: reload failed, the previous keys and revocations stay: ${String(error)}`);
    } finally {
      this.ticking = false;
    }
    this.cache.sweep(Date.now());
  }

  private async verify(token: string): Promise<Principal | AuthFailure> {
    try {
      const { payload } = await jwtVerify(token,
        (header, input) => this.key_for(header, input), {
          algorithms: [...KEY_ALGORITHMS],
          issuer: this.options.issuer,
          audience: this.options.audience,
          requiredClaims: ["exp", "jti"],
        });
      return principal_of(payload);
    } catch (error) {
      return failure_of(error);
    }
  }

  private key_for(header: JWSHeaderParameters, input: FlattenedJWSInput)
    : CryptoKey | Uint8Array | Promise<CryptoKey> {
    const kid = header.kid;
    if (typeof kid !== "string" || kid === "") {
      throw new VerifyFailure(ErrorCode.token_invalid, "the token's header names no kid");
    }
    const key = this.keys.get(kid);
    if (key !== undefined) {
      if (header.alg !== key.alg) {
        throw new VerifyFailure(ErrorCode.token_invalid,
          `key "${kid}" allows ${key.alg}; the token uses ${String(header.alg)}`);
      }
      return key.key;
    }
    if (this.jwks === null) throw new VerifyFailure(ErrorCode.unknown_key, `no key with kid "${kid}"`);
    if (!(JWKS_ALGORITHMS as readonly string[]).includes(header.alg ?? "")) {
      throw new VerifyFailure(ErrorCode.unknown_key, `no key with kid "${kid}" in the keys file, ` +
        `and a JWKS key allows ${JWKS_ALGORITHMS.join(", ")}, not ${String(header.alg)}`);
    }
    return this.jwks(header, input);
  }
}

/** The principal a verified payload names: exactly one of `partner` and `scope: "internal"`. */
export function principal_of(payload: JWTPayload): Principal | AuthFailure {
  const jti = payload.jti;
  if (typeof jti !== "string" || jti === "" || jti.length > JTI_LENGTH_MAX) {
    return failure(ErrorCode.token_invalid, `jti must be a string of 1..${JTI_LENGTH_MAX} characters`);
  }
  assert(typeof payload.exp === "number", "jose checked exp");
  const expires_at_ms = payload.exp * 1000;
  const internal = payload.scope === "internal";
  const partner = payload.partner;
  if (internal && partner !== undefined) {
    return failure(ErrorCode.token_invalid, "a token names a partner or has scope internal, not both");
  }
  if (internal) return { kind: "internal", jti, expires_at_ms };
  if (partner === undefined) {
    return failure(ErrorCode.token_invalid, 'a token needs a "partner" claim or scope "internal"');
  }
  const in_range = typeof partner === "number" && Number.isInteger(partner) && partner >= 1 &&
    partner <= PARTNER_MAX;
  if (!in_range) {
    return failure(ErrorCode.token_invalid, `partner must be an integer 1..${PARTNER_MAX}`);
  }
  return { kind: "partner", partner, jti, expires_at_ms };
}

/** jose's errors as wire codes: expired, unknown kid, and everything else token_invalid. */
function failure_of(error: unknown): AuthFailure {
  if (error instanceof VerifyFailure) return failure(error.code, error.message);
  if (error instanceof errors.JWTExpired) return failure(ErrorCode.token_expired, "token expired");
  if (error instanceof errors.JWKSNoMatchingKey) {
    return failure(ErrorCode.unknown_key, "no key in the JWKS matches the token's kid");
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    return failure(ErrorCode.token_invalid, `claim ${error.claim}: ${error.message}`);
  }
  if (error instanceof errors.JOSEError) return failure(ErrorCode.token_invalid, error.message);
  // Not jose's: a JWKS that could not be fetched, or a malformed token jose rejected otherwise.
  return failure(ErrorCode.token_invalid, `token not verified: ${String(error)}`);
}

/** Size, modification time and inode: a change means the file is re-read. */
function file_stamp(path: string): string {
  try {
    const info = statSync(path);
    return `${info.size}:${info.mtimeMs}:${info.ino}`;
  } catch {
    return "missing";
  }
}

/**
 * The authenticator for AUTH=on. The keys file must exist unless a JWKS URL is set (the
 * development key is made beforehand by dev_keys.ts); the revoked-token file may be missing.
 */
export async function create_authenticator(options: AuthOptions): Promise<ServiceAuthenticator> {
  assert(options.enabled, "create_authenticator with AUTH=off: HTTP and TCP skip auth instead");
  let keys = new Map<string, VerifyKey>();
  if (existsSync(options.keys_file)) {
    keys = await load_keys_file(options.keys_file);
  } else if (options.keys_file_configured) {
    throw new ConfigError(`AUTH_KEYS_FILE ${options.keys_file} does not exist`);
  }
  if (keys.size === 0 && options.jwks_url === null) {
    throw new ConfigError(
      `no keys: ${options.keys_file} is missing or empty and AUTH_JWKS_URL is not set`);
  }
  const revoked = new RevocationList(options.revoked_file);
  await revoked.reload();
  return new JoseAuthenticator(options, keys, revoked);
}
