// Reading the engine's answer to an account query (common/slots.ts, ACCOUNT_*) as the wire's
// AccountInfo fields: one place for HTTP and TCP alike.

import type { AccountKind } from "../schema/generated/balance/wire/account-kind.ts";
import type { AccountState } from "../schema/generated/balance/wire/account-state.ts";
import type { AccountInfoFields } from "../schema/messages.ts";
import * as S from "../common/slots.ts";

export function account_info_of(request_id: bigint, account: bigint, body: Uint8Array)
  : AccountInfoFields {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  return {
    request_id,
    account,
    partner: view.getUint32(S.ACCOUNT_PARTNER, true),
    kind: view.getUint8(S.ACCOUNT_KIND) as AccountKind,
    currency: view.getUint16(S.ACCOUNT_CURRENCY, true),
    state: view.getUint8(S.ACCOUNT_STATE) as AccountState,
    overdraft_limit: BigInt(view.getFloat64(S.ACCOUNT_OVERDRAFT, true)),
    balance: BigInt(view.getFloat64(S.ACCOUNT_BALANCE, true)),
    held: BigInt(view.getFloat64(S.ACCOUNT_HELD, true)),
    available: BigInt(view.getFloat64(S.ACCOUNT_AVAILABLE, true)),
    sequence: BigInt(view.getFloat64(S.ACCOUNT_SEQUENCE, true)),
  };
}
