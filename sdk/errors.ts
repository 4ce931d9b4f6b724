// The one error type of the SDK. A call rejects only when it has no result: the server refused the
// whole request (an ErrorCode), the call ran out of time, its orders left the idempotency window
// before an answer came, the connection could not be made, or the client was closed. Per-order
// business outcomes (insufficient_funds, ...) are OrderResults, never errors.

import { assert_never } from "../common/assert.ts";
import { ErrorCode } from "../schema/generated/balance/wire/error-code.ts";
import { is_error_code } from "../schema/vocabulary.ts";
import { enum_name } from "./types.ts";

export type ErrorReason =
  /** The server answered an Error (`code` says which). */
  | "refused"
  /** No final answer within the call's timeout_ms. */
  | "timeout"
  /** The answer was lost and the orders are older than the idempotency window: resending them
   *  could apply them twice (their ids would be `expired`, not recognised), so the SDK stopped. */
  | "window_passed"
  /** The service could not be reached (nothing was sent, or see outcome_unknown). */
  | "unreachable"
  /** close() was called. */
  | "closed"
  /** The client's queue is full (queue_orders_max): back off. Nothing was sent. */
  | "queue_full"
  /** The service answered something the protocol does not allow. */
  | "protocol";

export class BalanceError extends Error {
  override name = "BalanceError";
  /** The server's ErrorCode when reason is "refused"; ErrorCode.none otherwise. */
  readonly code: ErrorCode;
  readonly code_name: string;
  readonly reason: ErrorReason;
  /**
   * True when the orders may or may not have been applied (an attempt was sent and its answer
   * lost). Find out with client.order(partner, id) while the id is in the window, or resend the
   * same orders with the same ids (submit with `id`): a retry is answered with the original result.
   */
  readonly outcome_unknown: boolean;
  /** The orders' ids (empty for reads). */
  readonly order_ids: readonly bigint[];
  readonly retry_after_ms: number;

  constructor(
    reason: ErrorReason,
    message: string,
    details: {
      code?: ErrorCode;
      outcome_unknown?: boolean;
      order_ids?: readonly bigint[];
      retry_after_ms?: number;
    } = {},
  ) {
    super(message);
    this.reason = reason;
    this.code = details.code ?? ErrorCode.none;
    this.code_name = enum_name(ErrorCode, this.code);
    this.outcome_unknown = details.outcome_unknown ?? false;
    this.order_ids = details.order_ids ?? [];
    this.retry_after_ms = details.retry_after_ms ?? 0;
  }
}

/**
 * Whether a refusal of a whole request is temporary: the same request may be sent again (with the
 * same ids) after retry_after_ms. The others are final for this request.
 */
export function is_retryable(code: number): boolean {
  // A code this SDK does not know (a newer server's): final, never resent blindly.
  if (!is_error_code(code)) return false;
  switch (code) {
    case ErrorCode.busy:
    case ErrorCode.disk_full:
    case ErrorCode.not_ready:
    case ErrorCode.shutting_down:
    case ErrorCode.too_many_in_flight:
    case ErrorCode.too_many_connections: // another connection of ours may close
    case ErrorCode.not_primary: // the map changed: read it again, send to the group's primary
      return true;
    case ErrorCode.none:
    case ErrorCode.malformed_frame:
    case ErrorCode.frame_too_large:
    case ErrorCode.wrong_identifier:
    case ErrorCode.unsupported_version:
    case ErrorCode.not_authenticated:
    case ErrorCode.token_invalid:
    case ErrorCode.token_expired:
    case ErrorCode.token_revoked:
    case ErrorCode.unknown_key:
    case ErrorCode.forbidden:
    case ErrorCode.batch_empty:
    case ErrorCode.batch_too_large:
    case ErrorCode.unsupported_media_type:
    case ErrorCode.not_found:
    case ErrorCode.frame_timeout: // the link is too slow for a frame: resending would time out again
      return false;
    default:
      return assert_never(code, "error code");
  }
}
