// Verified tokens, so HTTP pays a Map lookup per request rather than a signature check. Bounded:
// beyond TOKEN_CACHE_ENTRIES_MAX the oldest entry goes; expired entries go when touched or swept.
// A hit is still checked for expiry and revocation by the authenticator on every use.

import { assert } from "../common/assert.ts";
import type { Principal } from "./principal.ts";

export const TOKEN_CACHE_ENTRIES_MAX = 10_000;

export class TokenCache {
  private readonly entries = new Map<string, Principal>();

  constructor(readonly entries_max = TOKEN_CACHE_ENTRIES_MAX) {
    assert(entries_max >= 1, "a token cache holds at least one entry");
  }

  get size(): number {
    return this.entries.size;
  }

  /** The principal of a verified token that has not expired at now_ms. */
  get(token: string, now_ms: number): Principal | undefined {
    const principal = this.entries.get(token);
    if (principal === undefined) return undefined;
    if (now_ms >= principal.expires_at_ms) {
      this.entries.delete(token);
      return undefined;
    }
    return principal;
  }

  set(token: string, principal: Principal): void {
    this.entries.delete(token);
    while (this.entries.size >= this.entries_max) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
    this.entries.set(token, principal);
    assert(this.entries.size <= this.entries_max, "token cache over its maximum");
  }

  /** Drops expired entries. */
  sweep(now_ms: number): void {
    for (const [token, principal] of this.entries) {
      if (now_ms >= principal.expires_at_ms) this.entries.delete(token);
    }
  }

  clear(): void {
    this.entries.clear();
  }
}
