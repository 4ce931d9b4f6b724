// Authentication settings from environment variables, each with a documented default
// (docs/protocol.md, Tokens), validated at start-up: a bad value stops the service with a message
// naming the variable.

import { join } from "node:path";
import { ConfigError } from "../config/config.ts";

export const AUTH_REVOCATION_POLL_MS_DEFAULT = 1_000;
export const AUTH_REVOCATION_POLL_MS_MIN = 50;
export const AUTH_REVOCATION_POLL_MS_MAX = 60_000;
export const AUTH_NAME_LENGTH_MAX = 256;

export const KEYS_FILE_NAME = "auth-keys.json";
export const REVOKED_FILE_NAME = "revoked-tokens.txt";

export interface AuthOptions {
  /** AUTH=off skips authentication on HTTP and TCP entirely (no authenticator is made). */
  enabled: boolean;
  /** AUTH_KEYS_FILE, or `${DATA_DIR}/auth-keys.json`; it may be missing when a JWKS URL is set. */
  keys_file: string;
  /** Whether AUTH_KEYS_FILE was set: then the file must exist (no development key is made). */
  keys_file_configured: boolean;
  jwks_url: URL | null;
  issuer: string;
  audience: string;
  revoked_file: string;
  revocation_poll_ms: number;
}

type Env = Record<string, string | undefined>;

function text_of(env: Env, name: string, fallback: string): string {
  const value = env[name];
  if (value === undefined || value === "") return fallback;
  if (value.length > AUTH_NAME_LENGTH_MAX) {
    throw new ConfigError(`${name} must be at most ${AUTH_NAME_LENGTH_MAX} characters`);
  }
  return value;
}

function switch_of(env: Env, name: string): boolean {
  const value = env[name];
  if (value === undefined || value === "" || value === "on") return true;
  if (value === "off") return false;
  throw new ConfigError(`${name} must be "on" or "off", got "${value}"`);
}

function url_of(env: Env, name: string): URL | null {
  const value = env[name];
  if (value === undefined || value === "") return null;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`${name} must be an http(s) URL, got "${value}"`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new ConfigError(`${name} must be an http(s) URL, got "${value}"`);
  }
  return url;
}

function poll_ms_of(env: Env, name: string): number {
  const value = env[name];
  if (value === undefined || value === "") return AUTH_REVOCATION_POLL_MS_DEFAULT;
  if (!/^\d+$/.test(value)) throw new ConfigError(`${name} must be a whole number, got "${value}"`);
  const poll_ms = Number(value);
  if (poll_ms < AUTH_REVOCATION_POLL_MS_MIN || poll_ms > AUTH_REVOCATION_POLL_MS_MAX) {
    throw new ConfigError(`${name} must be between ${AUTH_REVOCATION_POLL_MS_MIN} and ` +
      `${AUTH_REVOCATION_POLL_MS_MAX}, got ${poll_ms}`);
  }
  return poll_ms;
}

/**
 * AUTH, AUTH_KEYS_FILE, AUTH_JWKS_URL, AUTH_ISSUER, AUTH_AUDIENCE, AUTH_REVOKED_FILE,
 * AUTH_REVOCATION_POLL_MS; throws ConfigError naming the variable.
 */
export function load_auth_options(env: Env, data_dir: string): AuthOptions {
  const configured = env.AUTH_KEYS_FILE !== undefined && env.AUTH_KEYS_FILE !== "";
  return {
    enabled: switch_of(env, "AUTH"),
    keys_file: configured ? env.AUTH_KEYS_FILE! : join(data_dir, KEYS_FILE_NAME),
    keys_file_configured: configured,
    jwks_url: url_of(env, "AUTH_JWKS_URL"),
    issuer: text_of(env, "AUTH_ISSUER", "balance-service"),
    audience: text_of(env, "AUTH_AUDIENCE", "balance-service"),
    revoked_file: env.AUTH_REVOKED_FILE || join(data_dir, REVOKED_FILE_NAME),
    revocation_poll_ms: poll_ms_of(env, "AUTH_REVOCATION_POLL_MS"),
  };
}
