// Authentication of an HTTP request: `authorization: Bearer <token>`, verified by the shared
// Authenticator (a cache hit for a token seen before). Failures are 401 with the error code and a
// WWW-Authenticate header; what a principal may not do is 403 forbidden (authorize_orders,
// partner_for_read in principal.ts), decided by the handlers.

import { ErrorCode } from "../schema/generated/balance/wire/error-code.ts";
import { bad_request, type BodyFormat } from "../http/replies.ts";
import { is_auth_failure, type Authenticator, type Forbidden, type Principal } from "./principal.ts";

const BEARER = /^Bearer +([A-Za-z0-9._~+/=-]+) *$/i;
const REALM = "balance-service";

/** The bearer token of a request, or null when there is none (or another scheme). */
export function bearer_token(req: Request): string | null {
  const header = req.headers.get("authorization");
  if (header === null) return null;
  const match = BEARER.exec(header);
  return match === null ? null : match[1]!;
}

/**
 * The request's principal, or the 401 response to send, in the format `format_of` names (asked
 * only for a 401: reading headers costs on every request of the hot path).
 */
export async function authenticate_request(auth: Authenticator, req: Request,
  format_of: (req: Request) => BodyFormat): Promise<Principal | Response> {
  const token = bearer_token(req);
  if (token === null) {
    const response = bad_request(format_of(req), ErrorCode.not_authenticated,
      "authorization: Bearer <token> is required");
    response.headers.set("www-authenticate", `Bearer realm="${REALM}"`);
    return response;
  }
  const result = await auth.authenticate(token);
  if (!is_auth_failure(result)) return result;
  const response = bad_request(format_of(req), result.code, result.message);
  response.headers.set("www-authenticate", `Bearer realm="${REALM}", error="invalid_token"`);
  return response;
}

/** 403 forbidden, in the caller's format. */
export function forbidden_response(format: BodyFormat, forbidden: Forbidden, request_id = 0n)
  : Response {
  return bad_request(format, forbidden.code, forbidden.message, request_id);
}
