// A scripted Transport for the SDK's core: a tiny in-memory "server" that applies credits and
// debits once per id (a retry of a known id is answered with its original result, replayed), and a
// script that decides, per batch, whether the answer arrives, is lost before or after the orders
// are applied, or is a refusal. Every batch sent is recorded with its orders.

import { ORDER_SIZE_BYTES } from "../../common/constants.ts";
import { ErrorCode } from "../../schema/generated/balance/wire/error-code.ts";
import { Mode } from "../../schema/generated/balance/wire/mode.ts";
import { Op } from "../../schema/generated/balance/wire/op.ts";
import { Status } from "../../schema/generated/balance/wire/status.ts";
import { read_order_fields, type OrderFields, type ResultFields } from "../../schema/layout.ts";
import type {
  BatchOutcome, ReadOutcome, Transport, TransportLimits, WireBatch,
} from "../../sdk/transport.ts";
import type { AccountInfo } from "../../sdk/types.ts";

export type Step =
  /** Apply and answer. */
  | "answer"
  /** Apply, then lose the answer (the connection drops after the server acted). */
  | "lose_after_apply"
  /** Lose the request before the server sees it. */
  | "lose_before_apply"
  /** Apply, then answer `busy` "not durable in time" (the server cannot tell: applied unknown). */
  | "not_durable_in_time"
  /** Never answer (until the transport's own timeout). */
  | "hang"
  /** Answer every order `busy` (the idempotency budget spent: not applied, not remembered). */
  | "all_busy"
  /** The whole request refused with this code (nothing applied). */
  | { refuse: ErrorCode; retry_after_ms?: number };

export interface SentBatch {
  mode: Mode;
  orders: OrderFields[];
}

export class FakeServer {
  readonly results = new Map<bigint, ResultFields>();
  readonly balances = new Map<bigint, bigint>();
  sequence = 0n;
  applied = 0;

  apply(order: OrderFields): ResultFields {
    const known = this.results.get(order.id);
    if (known !== undefined) return { ...known, replayed: true };
    const balance = this.balances.get(order.account) ?? 0n;
    let status = Status.ok;
    let after = balance;
    if (order.op === Op.credit) after = balance + order.amount;
    else if (order.op === Op.debit && balance >= order.amount) after = balance - order.amount;
    else if (order.op === Op.debit) status = Status.insufficient_funds;
    this.balances.set(order.account, after);
    this.sequence++;
    if (status === Status.ok) this.applied++;
    const result: ResultFields = { order_id: order.id, sequence: this.sequence, balance: after,
      available: after, status, replayed: false };
    this.results.set(order.id, result);
    return result;
  }
}

export class FakeTransport implements Transport {
  readonly sent: SentBatch[] = [];
  readonly server = new FakeServer();
  in_flight = 0;
  in_flight_peak = 0;
  /** Steps for the next batches, in order; "answer" once they run out. */
  steps: Step[] = [];
  /** Delay before an answer, so batches overlap in flight. */
  answer_delay_ms = 0;

  constructor(private readonly transport_limits: TransportLimits = {
    batch_orders_max: 128, in_flight_max: 16,
  }) {}

  limits(): TransportLimits {
    return this.transport_limits;
  }

  token_partner(): number {
    return 7;
  }

  async send_batch(batch: WireBatch): Promise<BatchOutcome> {
    const view = new DataView(batch.orders_bytes.buffer, batch.orders_bytes.byteOffset);
    const orders: OrderFields[] = [];
    for (let k = 0; k < batch.count; k++) orders.push(read_order_fields(view, k * ORDER_SIZE_BYTES));
    this.sent.push({ mode: batch.mode, orders });
    const step = this.steps.shift() ?? "answer";
    this.in_flight++;
    this.in_flight_peak = Math.max(this.in_flight_peak, this.in_flight);
    try {
      await new Promise((resolve) => setTimeout(resolve, this.answer_delay_ms));
      return await this.run(step, batch, orders);
    } finally {
      this.in_flight--;
    }
  }

  private async run(step: Step, batch: WireBatch, orders: OrderFields[]): Promise<BatchOutcome> {
    if (typeof step === "object") {
      return { kind: "refused", code: step.refuse, message: `refused ${ErrorCode[step.refuse]}`,
        retry_after_ms: step.retry_after_ms ?? 0, applied: "no" };
    }
    switch (step) {
      case "lose_before_apply":
        return { kind: "lost", message: "connection lost before the server read the batch" };
      case "hang":
        await new Promise((resolve) => setTimeout(resolve, batch.timeout_ms));
        return { kind: "lost", message: "timeout" };
      case "all_busy":
        return { kind: "results", results: orders.map((order) => ({ order_id: order.id,
          sequence: 0n, balance: 0n, available: 0n, status: Status.busy, replayed: false })) };
      case "not_durable_in_time":
        for (const order of orders) this.server.apply(order);
        return { kind: "refused", code: ErrorCode.busy, message: "not durable in time",
          retry_after_ms: 0, applied: "unknown" };
      case "lose_after_apply":
        for (const order of orders) this.server.apply(order);
        return { kind: "lost", message: "connection lost after the server applied the batch" };
      case "answer": {
        const results = orders.map((order) => this.server.apply(order));
        if (batch.mode === Mode.committed) return { kind: "results", results };
        // accepted: the one answer says pending; the outcome is the server's to tell later
        return { kind: "results", results: orders.map((order) => ({ order_id: order.id,
          sequence: 0n, balance: 0n, available: 0n, status: Status.pending, replayed: false })) };
      }
    }
  }

  async read_account(): Promise<ReadOutcome<AccountInfo>> {
    return { kind: "not_found" };
  }

  async read_order(_partner: number, order_id: bigint): Promise<ReadOutcome<ResultFields>> {
    const result = this.server.results.get(order_id);
    return result === undefined ? { kind: "not_found" } : { kind: "found", value: result };
  }

  close(): void {}
}
