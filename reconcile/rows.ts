// The plain rows reconcile compares: one group's accounts and open holds as the engine holds them
// at a sequence (reconcile/engine_state.ts) and as PostgreSQL's projection holds them
// (reconcile/postgres_state.ts). Ids are bigint (u64); money and sequences are numbers, exact
// because the engine keeps every figure a safe integer.

/** An account with every figure both sides keep; named by (partner, account). */
export interface AccountRow {
  account: bigint;
  partner: number;
  kind: number; // AccountKind
  currency: number; // ISO 4217 numeric
  state: number; // AccountState
  overdraft_limit_minor: number;
  balance_minor: number;
  held_minor: number;
  available_minor: number;
  /** The group sequence of the last event that changed the account. */
  last_sequence: number;
}

/** An open hold in the engine (the engine keeps no per-hold sequence). */
export interface EngineHold {
  /** A hold is named by its partner and hold id (order ids are each partner's own). */
  partner: number;
  hold: bigint;
  account: bigint;
  amount_minor: number;
  /** Engine time the hold expires at; null: no timeout. */
  expires_at_ms: number | null;
}

/** A hold row in PostgreSQL: open, or closed (captured, released, expired) with its state. */
export interface PostgresHold extends EngineHold {
  state: number; // HoldState (engine/holds.ts)
  /** The last event that changed the hold. */
  sequence: number;
}

/** A group's state in the engine after event `sequence`. */
export interface EngineState {
  group: number;
  /** The number of groups the service has (from the admin route). */
  groups: number;
  sequence: number;
  epoch: number;
  accounts: AccountRow[];
  open_holds: EngineHold[];
}

/** A group's projection in PostgreSQL, read in one REPEATABLE READ transaction. */
export interface PostgresState {
  group: number;
  /** How far the projector had applied the group: at least the engine's sequence. */
  applied_sequence: number;
  accounts: AccountRow[];
  /** Open holds, holds changed after the engine's sequence, and the engine's open holds' rows. */
  holds: PostgresHold[];
}

/** Why reconcile cannot run (exit 2): the message says what to look at. */
export class ReconcileError extends Error {
  override name = "ReconcileError";
}

/** A u64 from its two 32-bit halves. */
export function u64_of(hi: number, lo: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}
