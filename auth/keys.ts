// The keys file (AUTH_KEYS_FILE): the keys tokens are verified with, each named by its `kid`, so
// several can be active at once and keys rotate without downtime. Each key allows exactly one
// algorithm. Format (docs/protocol.md, Tokens):
//
//   { "keys": [
//     { "kid": "dev-1", "alg": "HS256", "secret": "<base64url, at least 32 bytes>" },
//     { "kid": "rsa-1", "alg": "RS256", "public_key": "-----BEGIN PUBLIC KEY-----\n..." },
//     { "kid": "ec-1",  "alg": "ES256", "jwk": { "kty": "EC", "crv": "P-256", "x": "..", "y": ".." } }
//   ] }

import { readFile } from "node:fs/promises";
import { base64url, importJWK, importSPKI, type JWK } from "jose";
import { assert } from "../common/assert.ts";
import { ConfigError } from "../config/config.ts";

export const KEY_ALGORITHMS = ["HS256", "RS256", "ES256", "EdDSA"] as const;
export type KeyAlgorithm = (typeof KEY_ALGORITHMS)[number];
/** Algorithms a JWKS (AUTH_JWKS_URL) may use: public keys only. */
export const JWKS_ALGORITHMS = ["RS256", "ES256", "EdDSA"] as const;

export const KEYS_MAX = 64;
export const KID_LENGTH_MAX = 128;
export const HS256_SECRET_BYTES_MIN = 32;
export const KEYS_FILE_SIZE_BYTES_MAX = 1 << 20;

export interface KeyEntry {
  kid: string;
  alg: KeyAlgorithm;
  /** HS256: the secret's bytes, base64url. */
  secret?: string;
  /** RS256, ES256, EdDSA: an SPKI PEM public key ... */
  public_key?: string;
  /** ... or a public JWK. */
  jwk?: JWK;
}

export interface VerifyKey {
  kid: string;
  alg: KeyAlgorithm;
  key: CryptoKey | Uint8Array;
}

/** A ConfigError at start-up (exit 2); at a reload, logged and the previous keys kept. */
export class KeysFileError extends ConfigError {
  override name = "KeysFileError";
}

function is_object(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function is_algorithm(value: unknown): value is KeyAlgorithm {
  return typeof value === "string" && (KEY_ALGORITHMS as readonly string[]).includes(value);
}

function parse_entry(value: unknown, index: number, path: string): KeyEntry {
  const where = `${path}: keys[${index}]`;
  if (!is_object(value)) throw new KeysFileError(`${where} must be an object`);
  const { kid, alg, secret, public_key, jwk } = value;
  if (typeof kid !== "string" || kid === "" || kid.length > KID_LENGTH_MAX) {
    throw new KeysFileError(`${where}.kid must be a string of 1..${KID_LENGTH_MAX} characters`);
  }
  if (!is_algorithm(alg)) {
    throw new KeysFileError(`${where}.alg must be one of ${KEY_ALGORITHMS.join(", ")}`);
  }
  if (alg === "HS256") {
    if (typeof secret !== "string") {
      throw new KeysFileError(`${where}: HS256 needs "secret" (base64url)`);
    }
    return { kid, alg, secret };
  }
  if (typeof public_key === "string") return { kid, alg, public_key };
  if (is_object(jwk)) return { kid, alg, jwk: jwk as JWK };
  throw new KeysFileError(`${where}: ${alg} needs "public_key" (SPKI PEM) or "jwk"`);
}

/** Parses and checks the file's text; kids are unique. */
export function parse_keys_file(text: string, path: string): KeyEntry[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new KeysFileError(`${path} is not JSON: ${(error as Error).message}`);
  }
  if (!is_object(json) || !Array.isArray(json.keys)) {
    throw new KeysFileError(`${path} must be {"keys": [...]}`);
  }
  if (json.keys.length > KEYS_MAX) throw new KeysFileError(`${path} has more than ${KEYS_MAX} keys`);
  const entries = json.keys.map((value, index) => parse_entry(value, index, path));
  const kids = new Set<string>();
  for (const entry of entries) {
    if (kids.has(entry.kid)) throw new KeysFileError(`${path}: kid "${entry.kid}" appears twice`);
    kids.add(entry.kid);
  }
  return entries;
}

/** An HS256 entry's secret bytes (at least HS256_SECRET_BYTES_MIN). */
export function hs256_secret(entry: KeyEntry): Uint8Array {
  assert(entry.alg === "HS256" && entry.secret !== undefined, "hs256_secret of a non-HS256 key");
  let bytes: Uint8Array;
  try {
    bytes = base64url.decode(entry.secret);
  } catch {
    throw new KeysFileError(`key "${entry.kid}": secret is not base64url`);
  }
  if (bytes.byteLength < HS256_SECRET_BYTES_MIN) {
    throw new KeysFileError(`key "${entry.kid}": an HS256 secret needs at least ` +
      `${HS256_SECRET_BYTES_MIN} bytes, got ${bytes.byteLength}`);
  }
  return bytes;
}

async function import_entry(entry: KeyEntry): Promise<VerifyKey> {
  if (entry.alg === "HS256") return { kid: entry.kid, alg: entry.alg, key: hs256_secret(entry) };
  try {
    const key = entry.public_key !== undefined
      ? await importSPKI(entry.public_key, entry.alg)
      : await importJWK({ ...entry.jwk!, alg: entry.alg }, entry.alg);
    if (key instanceof Uint8Array) throw new KeysFileError(`key "${entry.kid}": not a public key`);
    if (key.type !== "public") throw new KeysFileError(`key "${entry.kid}": must be a public key`);
    return { kid: entry.kid, alg: entry.alg, key };
  } catch (error) {
    if (error instanceof KeysFileError) throw error;
    throw new KeysFileError(`key "${entry.kid}" (${entry.alg}): ${(error as Error).message}`);
  }
}

export async function import_keys(entries: KeyEntry[]): Promise<Map<string, VerifyKey>> {
  const keys = new Map<string, VerifyKey>();
  for (const entry of entries) keys.set(entry.kid, await import_entry(entry));
  return keys;
}

export async function read_keys_file(path: string): Promise<KeyEntry[]> {
  const text = await readFile(path, "utf8");
  if (text.length > KEYS_FILE_SIZE_BYTES_MAX) {
    throw new KeysFileError(`${path} is larger than ${KEYS_FILE_SIZE_BYTES_MAX} bytes`);
  }
  return parse_keys_file(text, path);
}

/** Reads, checks and imports the keys file. */
export async function load_keys_file(path: string): Promise<Map<string, VerifyKey>> {
  return import_keys(await read_keys_file(path));
}
