// Who holds the TCP server's connection slots (docs/protocol.md, Limits): connections not past
// Hello yet are at most TCP_UNAUTHENTICATED_CONNECTIONS_MAX, and each principal (a partner, or the
// internal principal) holds at most TCP_CONNECTIONS_PER_PRINCIPAL_MAX, so neither clients without a
// token nor one partner can take every slot of TCP_CONNECTIONS_MAX. A connection holds one slot
// from its open to its close, whatever closes it.

import { assert } from "../../common/assert.ts";
import { PARTNER_ID_MAX } from "../../common/constants.ts";
import type { Principal } from "../../auth/principal.ts";
import type { TcpConfig } from "../../config/config.ts";

/** Partners are 1..2^32-1, so 0 names the internal principal (every internal token). */
const INTERNAL_KEY = 0;

export function principal_key(principal: Principal): number {
  if (principal.kind === "internal") return INTERNAL_KEY;
  assert(principal.partner >= 1 && principal.partner <= PARTNER_ID_MAX, "a partner is 1..2^32-1");
  return principal.partner;
}

export class ConnectionSlots {
  private unauthenticated = 0;
  /** Connections past Hello per principal key; a key leaves the map with its last connection. */
  private readonly by_principal = new Map<number, number>();

  constructor(private readonly config: TcpConfig) {}

  get unauthenticated_count(): number {
    return this.unauthenticated;
  }

  /** Connections past Hello of this principal. */
  count_of(principal: Principal): number {
    return this.by_principal.get(principal_key(principal)) ?? 0;
  }

  /** A new socket, before its Hello: false (refuse it) when as many wait for theirs already. */
  open(): boolean {
    if (this.unauthenticated >= this.config.unauthenticated_connections_max) return false;
    this.unauthenticated++;
    return true;
  }

  /** A Hello verified: the slot moves to its principal; false (refuse) when that one is full. */
  authenticate(principal: Principal): boolean {
    assert(this.unauthenticated > 0, "only a connection waiting for its Hello authenticates");
    const key = principal_key(principal);
    const count = this.by_principal.get(key) ?? 0;
    if (count >= this.config.connections_per_principal_max) return false;
    this.unauthenticated--;
    this.by_principal.set(key, count + 1);
    return true;
  }

  /** Why authenticate(principal) refused: for the Error frame. */
  full_message(principal: Principal): string {
    const who = principal.kind === "internal"
      ? "the internal principal"
      : `partner ${principal.partner}`;
    return `${who} holds ${this.count_of(principal)} connections, at most ` +
      `${this.config.connections_per_principal_max} (TCP_CONNECTIONS_PER_PRINCIPAL_MAX)`;
  }

  /** A connection closed: its principal, or null when it never passed Hello. */
  close(principal: Principal | null): void {
    if (principal === null) {
      assert(this.unauthenticated > 0, "a connection without a principal held a Hello slot");
      this.unauthenticated--;
      return;
    }
    const key = principal_key(principal);
    const count = this.by_principal.get(key) ?? 0;
    assert(count > 0, "a connection with a principal holds one of its slots");
    if (count === 1) this.by_principal.delete(key);
    else this.by_principal.set(key, count - 1);
  }
}
