// The authenticator in-process: each token rule and its wire code, claims to principals, key
// rotation and key types, revocation, the verified-token cache, options and the development key.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { appendFileSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  create_authenticator, load_auth_options, type ServiceAuthenticator,
} from "../../auth/authenticator.ts";
import { DEV_KID, ensure_dev_key, mint_token, uses_dev_key } from "../../auth/dev_keys.ts";
import { is_auth_failure, type Principal } from "../../auth/principal.ts";
import { TokenCache } from "../../auth/token_cache.ts";
import { ConfigError } from "../../config/config.ts";
import { ErrorCode } from "../../schema/generated/balance/wire/error-code.ts";
import { hs256_key, key_pair, now_s, sign, write_keys_file, type SigningKey } from "./tokens.ts";

let dir: string;
let auth: ServiceAuthenticator;
let k1: SigningKey;
let k2: SigningKey;
let es: SigningKey;
let rs: SigningKey;
let ed: SigningKey;
let revoked_file: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "balance-auth-"));
  k1 = hs256_key("k1");
  k2 = hs256_key("k2");
  es = await key_pair("es-1", "ES256", "pem");
  rs = await key_pair("rs-1", "RS256", "jwk");
  ed = await key_pair("ed-1", "EdDSA", "pem");
  const keys_file = write_keys_file(dir, [k1, k2, es, rs, ed]);
  revoked_file = join(dir, "revoked.txt");
  auth = await create_authenticator(load_auth_options({
    AUTH_KEYS_FILE: keys_file, AUTH_REVOKED_FILE: revoked_file, AUTH_REVOCATION_POLL_MS: "50",
  }, dir));
});

afterAll(() => {
  auth.close();
  rmSync(dir, { recursive: true, force: true });
});

async function code_of(token: string): Promise<string> {
  const result = await auth.authenticate(token);
  return is_auth_failure(result) ? ErrorCode[result.code]! : result.kind;
}

describe("claims to principals", () => {
  test("a partner token acts for its partner, with its jti and expiry", async () => {
    const exp = now_s() + 600;
    const result = await auth.authenticate(await sign(k1, { partner: 7, jti: "p7", exp }));
    expect(result).toEqual({ kind: "partner", partner: 7, jti: "p7", expires_at_ms: exp * 1000 });
  });

  test("an internal token", async () => {
    const result = await auth.authenticate(await sign(k1, { scope: "internal", jti: "i1" }));
    expect(result).toMatchObject({ kind: "internal", jti: "i1" });
  });

  test("partner 1 and 2^32-1 are partners; 0, 2^32, 1.5 and \"7\" are not", async () => {
    expect(await code_of(await sign(k1, { partner: 1 }))).toBe("partner");
    expect(await code_of(await sign(k1, { partner: 0xffff_ffff }))).toBe("partner");
    for (const partner of [0, 2 ** 32, 1.5, "7"]) {
      expect(await code_of(await sign(k1, { partner: partner as number }))).toBe("token_invalid");
    }
  });

  test("both partner and scope internal, or neither: token_invalid", async () => {
    expect(await code_of(await sign(k1, { partner: 7, scope: "internal" }))).toBe("token_invalid");
    expect(await code_of(await sign(k1, {}))).toBe("token_invalid");
    expect(await code_of(await sign(k1, { scope: "admin" }))).toBe("token_invalid");
  });
});

describe("token checks", () => {
  test("expired: token_expired", async () => {
    expect(await code_of(await sign(k1, { partner: 7, exp: now_s() - 60 }))).toBe("token_expired");
  });

  test("not yet valid (nbf ahead), wrong issuer, wrong audience: token_invalid", async () => {
    expect(await code_of(await sign(k1, { partner: 7, nbf: now_s() + 600 }))).toBe("token_invalid");
    expect(await code_of(await sign(k1, { partner: 7, iss: "someone-else" }))).toBe("token_invalid");
    expect(await code_of(await sign(k1, { partner: 7, aud: "another-service" }))).toBe("token_invalid");
  });

  test("an audience list containing ours is accepted", async () => {
    expect(await code_of(await sign(k1, { partner: 7, aud: ["x", "balance-service"] }))).toBe("partner");
  });

  test("exp and jti are required", async () => {
    expect(await code_of(await sign(k1, { partner: 7, exp: undefined }))).toBe("token_invalid");
    expect(await code_of(await sign(k1, { partner: 7, jti: undefined }))).toBe("token_invalid");
  });

  test("bad signature: token_invalid", async () => {
    const forged = { ...hs256_key("k1") };
    expect(await code_of(await sign(forged, { partner: 7 }))).toBe("token_invalid");
    const token = await sign(k1, { partner: 7 });
    const tampered = token.slice(0, -4) + (token.endsWith("AAAA") ? "BBBB" : "AAAA");
    expect(await code_of(tampered)).toBe("token_invalid");
  });

  test("unknown kid: unknown_key; no kid: token_invalid", async () => {
    expect(await code_of(await sign(k1, { partner: 7 }, { kid: "nope" }))).toBe("unknown_key");
    expect(await code_of(await sign(k1, { partner: 7 }, { kid: null }))).toBe("token_invalid");
  });

  test("each key allows its algorithm only (HS256 with a public key's text as secret is refused)",
    async () => {
      const pem = new TextEncoder().encode(es.entry.public_key!);
      const confused: SigningKey = { ...k1, kid: es.kid, key: pem };
      expect(await code_of(await sign(confused, { partner: 7 }))).toBe("token_invalid");
      expect(await code_of(await sign(k1, { partner: 7 }, { alg: "HS512" }))).toBe("token_invalid");
    });

  test("garbage, an empty string and an oversized token", async () => {
    expect(await code_of("not.a.jwt")).toBe("token_invalid");
    expect(await code_of("abc")).toBe("token_invalid");
    expect(await code_of("")).toBe("not_authenticated");
    expect(await code_of("a".repeat(9_000))).toBe("token_invalid");
  });
});

describe("keys", () => {
  test("two HS256 kids at once (rotation): tokens of both work", async () => {
    expect(await code_of(await sign(k1, { partner: 7 }))).toBe("partner");
    expect(await code_of(await sign(k2, { partner: 7 }))).toBe("partner");
  });

  test("ES256 (SPKI PEM), RS256 (JWK) and EdDSA public keys", async () => {
    expect(await code_of(await sign(es, { partner: 9 }))).toBe("partner");
    expect(await code_of(await sign(rs, { scope: "internal" }))).toBe("internal");
    expect(await code_of(await sign(ed, { partner: 9 }))).toBe("partner");
  });

  test("a JWKS URL: its keys verify tokens; a kid in neither is unknown_key", async () => {
    const remote = await key_pair("remote-1", "ES256");
    let fetches = 0;
    const jwks_server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => {
      fetches++;
      return Response.json({ keys: [remote.jwk] });
    } });
    const keys_file = write_keys_file(dir, [k1], "jwks-local.json");
    const with_jwks = await create_authenticator(load_auth_options({
      AUTH_KEYS_FILE: keys_file, AUTH_JWKS_URL: `http://127.0.0.1:${jwks_server.port}/jwks.json`,
    }, dir));
    try {
      const result = await with_jwks.authenticate(await sign(remote, { partner: 3 }));
      expect(result).toMatchObject({ kind: "partner", partner: 3 });
      expect(fetches).toBe(1);
      expect(await with_jwks.authenticate(await sign(k1, { partner: 3 }))).toMatchObject({ kind: "partner" });
      const unknown = await with_jwks.authenticate(await sign(remote, { partner: 3 }, { kid: "gone" }));
      expect(unknown).toMatchObject({ code: ErrorCode.unknown_key });
    } finally {
      with_jwks.close();
      jwks_server.stop(true);
    }
  });

  test("the keys file is re-read when it changes: a removed kid stops working, a new one works",
    async () => {
      const a = hs256_key("a");
      const b = hs256_key("b");
      const keys_file = write_keys_file(dir, [a], "rotating.json");
      const rotating = await create_authenticator(load_auth_options({ AUTH_KEYS_FILE: keys_file }, dir));
      try {
        const old_token = await sign(a, { partner: 7 });
        expect(await rotating.authenticate(old_token)).toMatchObject({ kind: "partner" });
        write_keys_file(dir, [a, b], "rotating.json");
        await rotating.refresh();
        expect(rotating.key_ids()).toEqual(["a", "b"]);
        expect(await rotating.authenticate(await sign(b, { partner: 7 }))).toMatchObject({ kind: "partner" });
        write_keys_file(dir, [b], "rotating.json");
        await rotating.refresh();
        expect(await rotating.authenticate(old_token)).toMatchObject({ code: ErrorCode.unknown_key });
        writeFileSync(keys_file, "{ broken");
        await expect(rotating.refresh()).rejects.toThrow(/not JSON/);
        expect(rotating.key_ids()).toEqual(["b"]); // a bad file keeps the keys in force
      } finally {
        rotating.close();
      }
    });

  test("a bad keys file stops start-up with its path and the key", async () => {
    const short = write_keys_file(dir, [{ ...k1, entry: { kid: "s", alg: "HS256", secret: "c2hvcnQ" } }],
      "short.json");
    await expect(create_authenticator(load_auth_options({ AUTH_KEYS_FILE: short }, dir)))
      .rejects.toThrow(/key "s": an HS256 secret needs at least 32 bytes/);
    const dup = write_keys_file(dir, [k1, k1], "dup.json");
    await expect(create_authenticator(load_auth_options({ AUTH_KEYS_FILE: dup }, dir)))
      .rejects.toThrow(/kid "k1" appears twice/);
  });
});

describe("revocation", () => {
  test("a revoked jti is refused, also after it was cached; is_revoked says so", async () => {
    const token = await sign(k1, { partner: 7, jti: "to-revoke" });
    expect(await code_of(token)).toBe("partner");
    expect(auth.is_revoked("to-revoke")).toBe(false);
    appendFileSync(revoked_file, "# revoked by the test\nto-revoke\n");
    await auth.refresh();
    expect(auth.is_revoked("to-revoke")).toBe(true);
    expect(await code_of(token)).toBe("token_revoked");
    expect(await code_of(await sign(k1, { partner: 7, jti: "to-revoke" }))).toBe("token_revoked");
    expect(await code_of(await sign(k1, { partner: 7, jti: "other" }))).toBe("partner");
  });

  test("the poll picks up a revocation by itself", async () => {
    appendFileSync(revoked_file, "polled\n");
    const deadline = Date.now() + 5_000;
    while (!auth.is_revoked("polled") && Date.now() < deadline) await Bun.sleep(10);
    expect(auth.is_revoked("polled")).toBe(true);
  });
});

describe("verified-token cache", () => {
  test("a second use is a cache hit (the same principal object)", async () => {
    const token = await sign(k1, { partner: 7 });
    const first = await auth.authenticate(token);
    expect(await auth.authenticate(token)).toBe(first);
  });

  test("bounded: beyond its maximum the oldest entry goes; expired entries are not returned",
    () => {
      const cache = new TokenCache(3);
      const principal = (jti: string, expires_at_ms: number): Principal =>
        ({ kind: "partner", partner: 1, jti, expires_at_ms });
      for (const name of ["a", "b", "c", "d"]) cache.set(name, principal(name, 1_000));
      expect(cache.size).toBe(3);
      expect(cache.get("a", 0)).toBeUndefined();
      expect(cache.get("d", 0)?.jti).toBe("d");
      expect(cache.get("d", 1_000)).toBeUndefined(); // at its expiry
      cache.set("e", principal("e", 500));
      cache.sweep(600);
      expect(cache.size).toBe(2);
    });
});

describe("options", () => {
  test("defaults", () => {
    const options = load_auth_options({}, "/data");
    expect(options).toEqual({
      enabled: true, keys_file: "/data/auth-keys.json", keys_file_configured: false, jwks_url: null,
      issuer: "balance-service", audience: "balance-service",
      revoked_file: "/data/revoked-tokens.txt", revocation_poll_ms: 1_000,
    });
    expect(load_auth_options({ AUTH: "off" }, "/data").enabled).toBe(false);
  });

  test("bad values name their variable", () => {
    const bad: [Record<string, string>, RegExp][] = [
      [{ AUTH: "yes" }, /^AUTH must be "on" or "off"/],
      [{ AUTH_JWKS_URL: "ftp://x" }, /^AUTH_JWKS_URL must be an http\(s\) URL/],
      [{ AUTH_JWKS_URL: "not a url" }, /^AUTH_JWKS_URL/],
      [{ AUTH_REVOCATION_POLL_MS: "10" }, /^AUTH_REVOCATION_POLL_MS must be between 50 and 60000/],
      [{ AUTH_REVOCATION_POLL_MS: "1s" }, /^AUTH_REVOCATION_POLL_MS must be a whole number/],
      [{ AUTH_ISSUER: "x".repeat(300) }, /^AUTH_ISSUER must be at most/],
    ];
    for (const [env, message] of bad) {
      expect(() => load_auth_options(env, "/data")).toThrow(ConfigError);
      expect(() => load_auth_options(env, "/data")).toThrow(message);
    }
  });

  test("a configured keys file that is missing, or no keys at all, stops start-up", async () => {
    await expect(create_authenticator(load_auth_options({ AUTH_KEYS_FILE: join(dir, "none.json") }, dir)))
      .rejects.toThrow(/AUTH_KEYS_FILE .*none.json does not exist/);
    await expect(create_authenticator(load_auth_options({}, join(dir, "empty-data"))))
      .rejects.toThrow(/no keys/);
  });
});

describe("development key and minting", () => {
  test("made once with mode 0600 and kid dev-1; minted tokens verify", async () => {
    const data_dir = join(dir, "dev-data");
    const options = load_auth_options({}, data_dir);
    expect(uses_dev_key(options)).toBe(true);
    const key = await ensure_dev_key(options);
    expect(key).toMatchObject({ kid: DEV_KID, alg: "HS256" });
    expect(statSync(options.keys_file).mode & 0o777).toBe(0o600);
    expect(await ensure_dev_key(options)).toEqual(key!); // kept, not replaced
    const dev_auth = await create_authenticator(options);
    try {
      const common = { keys_file: options.keys_file, issuer: options.issuer, audience: options.audience };
      const partner = await mint_token({ ...common, subject: { partner: 7 }, ttl_s: 60 });
      expect(await dev_auth.authenticate(partner.token))
        .toEqual({ kind: "partner", partner: 7, jti: partner.jti, expires_at_ms: partner.expires_at_ms });
      const internal = await mint_token({ ...common, subject: { internal: true }, ttl_s: 60 });
      expect(await dev_auth.authenticate(internal.token)).toMatchObject({ kind: "internal" });
      await expect(mint_token({ ...common, subject: { partner: 0 }, ttl_s: 60 })).rejects.toThrow(RangeError);
      await expect(mint_token({ ...common, subject: { internal: true }, ttl_s: 60, kid: "x" }))
        .rejects.toThrow(/no HS256 key with kid "x"/);
    } finally {
      dev_auth.close();
    }
  });

  test("not with AUTH_KEYS_FILE or AUTH_JWKS_URL set", async () => {
    expect(uses_dev_key(load_auth_options({ AUTH_KEYS_FILE: "/k.json" }, dir))).toBe(false);
    expect(uses_dev_key(load_auth_options({ AUTH_JWKS_URL: "https://x/jwks" }, dir))).toBe(false);
    expect(await ensure_dev_key(load_auth_options({ AUTH_KEYS_FILE: "/k.json" }, dir))).toBeNull();
  });
});
