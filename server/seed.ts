// Seeding accounts and opening balances from a file at start-up (the original's "load prepare
// from storage"). Each row becomes a linked chain: open_account, then a credit (or a debit into the
// overdraft) of the opening balance, so an account never exists without its balance. Rerunning the
// seed is harmless: an existing account refuses the chain (account_exists, linked_failed). A marker
// file records a completed seed so later starts skip it.
//
// Format (CSV, header line required): account,partner,kind,currency,overdraft_limit,balance

import { existsSync, writeFileSync } from "node:fs";
import {
  BATCH_ORDERS_MAX, ORDER_FLAG_LINKED, ORDER_SIZE_BYTES, RESULT_SIZE_BYTES,
} from "../common/constants.ts";
import { AccountKind } from "../schema/generated/balance/wire/account-kind.ts";
import { Mode } from "../schema/generated/balance/wire/mode.ts";
import { Op } from "../schema/generated/balance/wire/op.ts";
import { Status } from "../schema/generated/balance/wire/status.ts";
import { write_order_fields } from "../schema/layout.ts";
import type { ServiceNode } from "../node/service_node.ts";
import { OrderIdGenerator } from "../schema/order_id.ts";

const HEADER = "account,partner,kind,currency,overdraft_limit,balance";
const KINDS: Record<string, AccountKind> = {
  partner: AccountKind.partner, provider: AccountKind.provider, user: AccountKind.user,
};

export interface SeedRow {
  account: bigint;
  partner: number;
  kind: AccountKind;
  currency: number;
  overdraft_limit: bigint;
  balance: bigint;
}

export class SeedError extends Error {
  override name = "SeedError";
}

export function parse_seed(text: string): SeedRow[] {
  const lines = text.split("\n").map((line) => line.trim()).filter((line) => line !== "");
  if (lines[0] !== HEADER) throw new SeedError(`seed file must start with "${HEADER}"`);
  return lines.slice(1).map((line, index) => {
    const cells = line.split(",");
    const where = `seed line ${index + 2}`;
    if (cells.length !== 6) throw new SeedError(`${where}: 6 columns expected`);
    const [account, partner, kind, currency, overdraft, balance] = cells as [string, string,
      string, string, string, string];
    if (!/^\d+$/.test(account) || !/^\d+$/.test(partner) || !/^\d+$/.test(currency)) {
      throw new SeedError(`${where}: account, partner and currency are whole numbers`);
    }
    if (KINDS[kind] === undefined) throw new SeedError(`${where}: kind is partner|provider|user`);
    if (!/^\d+$/.test(overdraft) || !/^-?\d+$/.test(balance)) {
      throw new SeedError(`${where}: overdraft_limit and balance are integers in minor units`);
    }
    return { account: BigInt(account), partner: Number(partner), kind: KINDS[kind]!,
      currency: Number(currency), overdraft_limit: BigInt(overdraft), balance: BigInt(balance) };
  });
}

/** The orders of one row: open_account, linked to its opening balance when there is one. */
function row_orders(row: SeedRow, ids: OrderIdGenerator): Parameters<typeof write_order_fields>[2][] {
  const open = { id: ids.next(), account: row.account, amount: row.overdraft_limit,
    ref: BigInt(row.kind), partner: row.partner, currency: row.currency, op: Op.open_account, flags: 0 };
  if (row.balance === 0n) return [open];
  const op = row.balance > 0n ? Op.credit : Op.debit;
  const amount = row.balance > 0n ? row.balance : -row.balance;
  return [{ ...open, flags: ORDER_FLAG_LINKED },
    { id: ids.next(), account: row.account, amount, ref: 0n, partner: row.partner,
      currency: row.currency, op, flags: 0 }];
}

export async function seed_rows(node: ServiceNode, rows: SeedRow[]): Promise<{ opened: number;
  existing: number }> {
  const ids = new OrderIdGenerator();
  let opened = 0;
  let existing = 0;
  let batch: Parameters<typeof write_order_fields>[2][] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    const bytes = new Uint8Array(batch.length * ORDER_SIZE_BYTES);
    const view = new DataView(bytes.buffer);
    batch.forEach((order, k) => write_order_fields(view, k * ORDER_SIZE_BYTES, order));
    const results = await node.router.submit(bytes, batch.length, Mode.committed);
    batch.forEach((order, k) => {
      const status = results[k * RESULT_SIZE_BYTES + 32]!;
      if (order.op !== Op.open_account) return;
      if (status === Status.ok) opened++;
      else if (status === Status.account_exists) existing++;
      else throw new SeedError(`seeding account ${order.account}: ${Status[status]}`);
    });
    batch = [];
  };
  for (const row of rows) {
    const orders = row_orders(row, ids);
    if (batch.length + orders.length > BATCH_ORDERS_MAX) await flush();
    batch.push(...orders);
  }
  await flush();
  return { opened, existing };
}

export async function seed_from_file(node: ServiceNode, path: string): Promise<void> {
  const marker = `${node.config.data_dir}/seeded`;
  if (existsSync(marker)) return;
  const rows = parse_seed(await Bun.file(path).text());
  const { opened, existing } = await seed_rows(node, rows);
  writeFileSync(marker, `${path}\n${new Date().toISOString()}\n`);
  console.log(`seeded ${opened} accounts from ${path} (${existing} already there)`);
}
