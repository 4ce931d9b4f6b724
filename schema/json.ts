// The JSON forms of the HTTP API, for curl and debugging: a batch in (schema/json_batch.ts),
// results and account figures out. 64-bit values go out as decimal strings, enums by their schema
// names.

import { AccountKind } from "./generated/balance/wire/account-kind.ts";
import { AccountState } from "./generated/balance/wire/account-state.ts";
import { Status } from "./generated/balance/wire/status.ts";
import { RESULT_SIZE_BYTES } from "../common/constants.ts";
import { read_result_fields } from "./layout.ts";
import type { AccountInfoFields } from "./messages.ts";

export { parse_batch_json, type JsonBatch } from "./json_batch.ts";

export type ResultJson = {
  id: string;
  status: string;
  sequence: string;
  balance: string;
  available: string;
  replayed: boolean;
};

export type AccountInfoJson = {
  account: string;
  partner: number;
  kind: string;
  currency: number;
  state: string;
  overdraft_limit: string;
  balance: string;
  held: string;
  available: string;
  sequence: string;
};

// A value a newer peer may send that this build has no name for still gets a readable one.
function enum_name(names: Record<number, string | undefined>, value: number): string {
  return names[value] ?? `unknown_${value}`;
}

// `count` Result structs from `byte_offset` of `view` (a reply frame or a ring slot).
export function results_to_json(view: DataView, byte_offset: number, count: number): ResultJson[] {
  const results: ResultJson[] = [];
  for (let i = 0; i < count; i++) {
    const result = read_result_fields(view, byte_offset + i * RESULT_SIZE_BYTES);
    results.push({
      id: result.order_id.toString(),
      status: enum_name(Status, result.status),
      sequence: result.sequence.toString(),
      balance: result.balance.toString(),
      available: result.available.toString(),
      replayed: result.replayed,
    });
  }
  return results;
}

export function account_info_to_json(info: AccountInfoFields): AccountInfoJson {
  return {
    account: info.account.toString(),
    partner: info.partner,
    kind: enum_name(AccountKind, info.kind),
    currency: info.currency,
    state: enum_name(AccountState, info.state),
    overdraft_limit: info.overdraft_limit.toString(),
    balance: info.balance.toString(),
    held: info.held.toString(),
    available: info.available.toString(),
    sequence: info.sequence.toString(),
  };
}
