// Orders for bench/pipeline.ts: committed batches of BATCH_ORDERS_MAX credits and debits over HTTP
// (FlatBuffers frames, the service's own path) from a few concurrent clients, one partner per
// group (GROUP_MAP pins them), until `orders` have been answered. Returns the last sequence each
// group answered, so a stage knows when the stream has carried everything.

import { assert } from "../common/assert.ts";
import { BATCH_ORDERS_MAX } from "../common/constants.ts";
import { Op } from "../schema/generated/balance/wire/op.ts";
import { OrderIdGenerator } from "../schema/order_id.ts";
import {
  open_account, order_frame, post_frame_batch, with_concurrency, type TestOrder,
} from "../harness/http_client.ts";

export const PIPELINE_GROUPS = 4;
const PARTNER_FIRST = 41;
const ACCOUNTS_PER_PARTNER = 16;
const CLIENTS = 4;
const EUR = 978;

/** The service's environment for the bench: 4 groups, one partner each, room for the load. */
export const PIPELINE_SERVICE_ENV: Readonly<Record<string, string>> = {
  GROUPS: String(PIPELINE_GROUPS),
  GROUP_MAP: Array.from({ length: PIPELINE_GROUPS }, (_, g) => `${PARTNER_FIRST + g}:${g}`).join(","),
  IDEMPOTENCY_WINDOW_MS: "1000",
  IDEMPOTENCY_ENTRIES_PER_GROUP: String(1 << 20),
  ACCOUNTS_PER_GROUP: "1024",
  RING_SLOTS: "1024",
  JOURNAL_SEGMENT_BYTES: String(64 * 1024 * 1024),
  AUTH: "off",
};

export async function open_accounts(base_url: string): Promise<void> {
  for (let g = 0; g < PIPELINE_GROUPS; g++) {
    for (let k = 0; k < ACCOUNTS_PER_PARTNER; k++) {
      await open_account(base_url, PARTNER_FIRST + g, BigInt(k + 1), EUR);
    }
  }
}

export interface LoadResult {
  orders: number;
  seconds: number;
  /** Per group, the highest sequence the service answered. */
  last_sequences: number[];
}

/** Sends about `orders` orders (whole batches) and waits for every reply. */
export async function load_orders(base_url: string, orders: number): Promise<LoadResult> {
  assert(orders >= BATCH_ORDERS_MAX, "at least one batch");
  const ids = new OrderIdGenerator();
  const batches = Math.ceil(orders / BATCH_ORDERS_MAX);
  const last_sequences = new Array<number>(PIPELINE_GROUPS).fill(0);
  const tasks = Array.from({ length: batches }, (_, b) => async () => {
    const group = b % PIPELINE_GROUPS;
    const batch: TestOrder[] = [];
    for (let n = 0; n < BATCH_ORDERS_MAX; n++) {
      batch.push({ id: ids.next(), op: n % 4 === 3 ? Op.debit : Op.credit,
        partner: PARTNER_FIRST + group, account: BigInt(1 + (n % ACCOUNTS_PER_PARTNER)),
        amount: BigInt(1 + (n % 50)), currency: EUR });
    }
    const reply = await post_frame_batch(base_url, order_frame(batch));
    if (reply.kind !== "results") throw new Error(`batch refused: ${JSON.stringify(reply)}`);
    for (const result of reply.results) {
      last_sequences[group] = Math.max(last_sequences[group]!, Number(result.sequence));
    }
  });
  const start_ms = performance.now();
  await with_concurrency(CLIENTS, tasks);
  return { orders: batches * BATCH_ORDERS_MAX, seconds: (performance.now() - start_ms) / 1000,
    last_sequences };
}
