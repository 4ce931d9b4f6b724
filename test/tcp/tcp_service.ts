// A real balance service process for the TCP tests: its own free TCP port, authentication on with an
// HS256 keys file written for the test (kid "tcp-1"), a revoked-token file the test appends to, and
// a fast revocation poll. Orders and tokens are built with the helpers below.

import { appendFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ORDER_SIZE_BYTES } from "../../common/constants.ts";
import { encode_order_batch } from "../../schema/codec.ts";
import { AccountKind } from "../../schema/generated/balance/wire/account-kind.ts";
import { Mode } from "../../schema/generated/balance/wire/mode.ts";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import { write_order_fields } from "../../schema/layout.ts";
import { OrderIdGenerator } from "../../schema/order_id.ts";
import { hs256_key, sign, write_keys_file, type SigningKey, type TokenClaims } from "../auth/tokens.ts";
import { ServiceProcess, free_port, temp_data_dir } from "../../harness/service_process.ts";

export const REVOCATION_POLL_MS = 100;
export const EUR = 978;

export interface TcpService {
  service: ServiceProcess;
  tcp_port: number;
  key: SigningKey;
  revoked_file: string;
  partner_token(partner: number, claims?: TokenClaims): Promise<string>;
  internal_token(claims?: TokenClaims): Promise<string>;
  revoke(jti: string): void;
}

export async function start_tcp_service(env: Record<string, string> = {}): Promise<TcpService> {
  const data_dir = temp_data_dir("balance-tcp");
  const key = hs256_key("tcp-1");
  const keys_file = write_keys_file(data_dir, [key]);
  const revoked_file = join(data_dir, "revoked.txt");
  writeFileSync(revoked_file, "");
  const tcp_port = free_port();
  const service = await ServiceProcess.start({ data_dir, env: {
    TCP_PORT: String(tcp_port), AUTH_KEYS_FILE: keys_file, AUTH_REVOKED_FILE: revoked_file,
    AUTH_REVOCATION_POLL_MS: String(REVOCATION_POLL_MS), ...env,
  } });
  return {
    service, tcp_port, key, revoked_file,
    partner_token: (partner, claims = {}) => sign(key, { partner, ...claims }),
    internal_token: (claims = {}) => sign(key, { scope: "internal", ...claims }),
    revoke: (jti) => appendFileSync(revoked_file, `${jti}\n`),
  };
}

export interface WireOrder {
  op: Op;
  partner: number;
  account: bigint;
  amount?: bigint;
  ref?: bigint;
  currency?: number;
}

const ids = new OrderIdGenerator();

export function orders_bytes(orders: readonly WireOrder[]): Uint8Array {
  const bytes = new Uint8Array(orders.length * ORDER_SIZE_BYTES);
  const view = new DataView(bytes.buffer);
  orders.forEach((order, k) => write_order_fields(view, k * ORDER_SIZE_BYTES, {
    id: ids.next(), account: order.account, amount: order.amount ?? 0n, ref: order.ref ?? 0n,
    partner: order.partner, currency: order.currency ?? EUR, op: order.op, flags: 0,
  }));
  return bytes;
}

export function batch(request_id: bigint, orders: readonly WireOrder[], mode = Mode.committed)
  : Uint8Array {
  return encode_order_batch(request_id, mode, orders_bytes(orders), orders.length);
}

export function open_order(partner: number, account: bigint): WireOrder {
  return { op: Op.open_account, partner, account, ref: BigInt(AccountKind.user) };
}

export function credit(partner: number, account: bigint, amount: bigint): WireOrder {
  return { op: Op.credit, partner, account, amount };
}
