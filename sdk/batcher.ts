// The transport-independent core: packs calls into batches, pipelines them, and decides what to do
// with every outcome. Its one promise: no order is ever applied twice because of a retry.
//
// - A *unit* is what one call waits for: one order, or a linked chain (all-or-nothing). Units queue
//   per mode and per node their partner's orders go to (Transport.route_of: a batch is answered
//   whole, so one node's failover must not hold the answers of orders bound for another); a batch
//   takes whole units up to batch_orders_max orders. A queue that reaches the limit is flushed at
//   once; the rest at the end of the event-loop turn (setImmediate), so every call made in one
//   turn shares batches.
// - At most the transport's in_flight_max batches are unanswered; the rest wait in the queue, which
//   is bounded (queue_orders_max: beyond it calls fail at once with `queue_full`).
// - A batch whose answer is lost (connection dropped, timeout) is sent again with the SAME ids once
//   the transport reconnects, as long as its oldest id is younger than the idempotency window minus
//   a margin: the server answers a retried order with its original result (flagged replayed). Past
//   that, the call fails with `window_passed` and outcome_unknown: the SDK never resends an order
//   that may have been applied under a new id.
// - Whole-request refusals that change nothing (busy, disk_full, not_ready, shutting_down) are
//   retried with the same ids after retry_after_ms.
// - Ids the SDK minted are renewed, and the unit sent again, only when the server said the unit was
//   not applied: every order `busy` (the idempotency window's budget is spent), or, on an attempt no earlier
//   one could have applied, a `replayed` or `id_conflict` answer (another client used the id).

import { assert, assert_never } from "../common/assert.ts";
import { ORDER_FLAG_LINKED, ORDER_SIZE_BYTES } from "../common/constants.ts";
import { Mode } from "../schema/generated/balance/wire/mode.ts";
import { Status } from "../schema/generated/balance/wire/status.ts";
import { type OrderFields, type ResultFields, write_order_fields } from "../schema/layout.ts";
import { BalanceError, is_retryable } from "./errors.ts";
import { OrderIdGenerator, order_id_time_ms } from "../schema/order_id.ts";
import type { BatchOutcome, Transport } from "./transport.ts";

export interface BatcherOptions {
  /** Orders per batch (at most the server's batch_orders_max, 128). */
  batch_orders_max: number;
  /** Orders waiting to be sent, over all calls; past it calls fail with `queue_full`. */
  queue_orders_max: number;
  /** Server's idempotency window W (IDEMPOTENCY_WINDOW_MS): lost answers are resent within it. */
  idempotency_window_ms: number;
  /** Resends stop this long before an id leaves the window (clock skew, time in transit). */
  window_margin_ms: number;
  /** First retry delay; doubled per attempt up to retry_delay_ms_max. */
  retry_delay_ms_min: number;
  retry_delay_ms_max: number;
  /** How many times a unit's minted ids may be renewed (busy, collisions). */
  renewals_max: number;
  now_ms: () => number;
}

export const BATCHER_DEFAULTS: Readonly<BatcherOptions> = {
  batch_orders_max: 128,
  queue_orders_max: 65_536,
  idempotency_window_ms: 10_000,
  window_margin_ms: 1_000,
  retry_delay_ms_min: 20,
  retry_delay_ms_max: 1_000,
  renewals_max: 8,
  now_ms: Date.now,
};

export interface UnitCallbacks {
  resolve: (results: ResultFields[]) => void;
  reject: (error: BalanceError) => void;
}

/** One call's orders: a single order or a linked chain. */
class Unit {
  done = false;
  /** An attempt was sent and its answer lost: the orders may have been applied. */
  maybe_applied = false;
  attempts = 0;
  renewals = 0;
  /** Why the last attempt failed (a lost answer, an unreachable server, ...): said on timeout. */
  last_failure: string | null = null;

  constructor(
    readonly orders: OrderFields[],
    /** Per order: the SDK minted its id (it may renew it). */
    readonly minted: boolean[],
    readonly mode: Mode,
    readonly deadline_ms: number,
    readonly callbacks: UnitCallbacks,
  ) {}

  ids(): bigint[] {
    return this.orders.map((order) => order.id);
  }

  oldest_id_time_ms(): number {
    return Math.min(...this.orders.map((order) => order_id_time_ms(order.id)));
  }
}

interface InFlight {
  units: Unit[];
  timer: ReturnType<typeof setTimeout> | null;
}

export class Batcher {
  private readonly options: BatcherOptions;
  private readonly ids = new OrderIdGenerator();
  /** By mode and route (Transport.route_of), so a batch never waits on another node's answer. */
  private readonly queues = new Map<string, Queue>();
  private queued_orders = 0;
  private in_flight = 0;
  private flush_scheduled = false;
  private request_id = 0n;
  private closed = false;
  /** Units waiting for a retry delay. */
  private readonly waiting = new Set<Unit>();

  constructor(private readonly transport: Transport, options: Partial<BatcherOptions> = {}) {
    this.options = { ...BATCHER_DEFAULTS, ...options };
    assert(this.options.batch_orders_max >= 1, "batch_orders_max >= 1");
    assert(this.options.window_margin_ms < this.options.idempotency_window_ms,
      "window_margin_ms is below the idempotency window");
  }

  /** Queues one call's orders (one unit: a single order or one linked chain). */
  enqueue(orders: OrderFields[], mode: Mode, timeout_ms: number, callbacks: UnitCallbacks): void {
    assert(orders.length >= 1, "a unit holds at least one order");
    assert(orders.length <= this.batch_orders_max(), "a linked chain fits one batch");
    if (this.closed) return callbacks.reject(new BalanceError("closed", "the client is closed"));
    if (this.queued_orders + orders.length > this.options.queue_orders_max) {
      return callbacks.reject(new BalanceError("queue_full",
        `${this.queued_orders} orders are waiting to be sent (queue_orders_max); ` +
        "nothing was sent"));
    }
    const minted = orders.map((order) => order.id === 0n);
    const unit = new Unit(orders, minted, mode, this.options.now_ms() + timeout_ms, callbacks);
    this.push(unit);
  }

  /** Rejects every call not yet answered with `closed`; calls in flight stop waiting. */
  close(): void {
    this.closed = true;
    for (const queue of this.queues.values()) {
      for (const unit of queue.units.splice(0)) this.fail(unit, "closed", "the client was closed");
    }
    for (const unit of this.waiting) this.fail(unit, "closed", "the client was closed");
    this.waiting.clear();
    this.queued_orders = 0;
  }

  /** Batches sent and not yet answered. */
  get batches_in_flight(): number {
    return this.in_flight;
  }

  private batch_orders_max(): number {
    return Math.min(this.options.batch_orders_max, this.transport.limits().batch_orders_max);
  }

  private push(unit: Unit): void {
    const queue = this.queue_of(unit);
    queue.units.push(unit);
    this.queued_orders += unit.orders.length;
    if (queued_length(queue) >= this.batch_orders_max()) this.pump(true);
    this.schedule_flush();
  }

  /** The queue of the unit's mode and of the node its partner's orders go to now. */
  private queue_of(unit: Unit): Queue {
    const route = this.transport.route_of?.(unit.orders[0]!.partner) ?? "";
    const key = `${unit.mode} ${route}`;
    let queue = this.queues.get(key);
    if (queue === undefined) this.queues.set(key, queue = { mode: unit.mode, units: [] });
    return queue;
  }

  private schedule_flush(): void {
    if (this.flush_scheduled) return;
    this.flush_scheduled = true;
    setImmediate(() => {
      this.flush_scheduled = false;
      this.pump(false);
    });
  }

  /** Sends batches while there is room in flight; `full_only` keeps a partial batch queued. */
  private pump(full_only: boolean): void {
    const in_flight_max = this.transport.limits().in_flight_max;
    for (const [key, queue] of this.queues) {
      while (this.in_flight < in_flight_max && !this.closed) {
        const units = this.take(queue, full_only);
        if (units.length === 0) break;
        this.send(units, queue.mode);
      }
      if (queue.units.length === 0) this.queues.delete(key); // routes come and go with the map
    }
  }

  /** Whole units, up to batch_orders_max orders; units past their deadline fail here. */
  private take(from: Queue, full_only: boolean): Unit[] {
    const queue = from.units;
    const limit = this.batch_orders_max();
    if (full_only && queued_length(from) < limit) return [];
    const units: Unit[] = [];
    let count = 0;
    while (queue.length > 0 && queue[0]!.orders.length > limit) {
      // The server announced a smaller limit than this chain: it can never be sent.
      const unit = queue.shift()!;
      this.queued_orders -= unit.orders.length;
      this.fail(unit, "refused", `a linked chain of ${unit.orders.length} orders exceeds the ` +
        `server's batch_orders_max ${limit}`, unit.maybe_applied);
    }
    while (queue.length > 0 && count + queue[0]!.orders.length <= limit) {
      const unit = queue.shift()!;
      this.queued_orders -= unit.orders.length;
      if (!this.ready_to_send(unit)) continue;
      units.push(unit);
      count += unit.orders.length;
    }
    return units;
  }

  /** Fails a unit whose deadline or window has passed; mints or renews ids that need it. */
  private ready_to_send(unit: Unit): boolean {
    if (unit.done) return false;
    const now_ms = this.options.now_ms();
    if (now_ms >= unit.deadline_ms) {
      this.fail(unit, "timeout", timeout_message(unit));
      return false;
    }
    const window_end_ms = this.options.idempotency_window_ms - this.options.window_margin_ms;
    const unminted = unit.orders.some((order) => order.id === 0n);
    const oldest_ms = unminted ? now_ms : unit.oldest_id_time_ms();
    if (now_ms - oldest_ms < window_end_ms) return this.mint(unit, false);
    if (unit.maybe_applied) {
      this.fail(unit, "window_passed", "the answer was lost and the orders left the idempotency " +
        "window: resending could apply them twice; read them with order() to learn their outcome");
      return false;
    }
    // Never applied: fresh ids are safe; an id the caller chose is sent as it is (`expired`).
    return this.mint(unit, true);
  }

  /** Gives minted orders a fresh id: those without one, or all when `renew`. */
  private mint(unit: Unit, renew: boolean): boolean {
    const now_ms = this.options.now_ms();
    unit.orders.forEach((order, k) => {
      if (order.id === 0n || (renew && unit.minted[k])) order.id = this.ids.next(now_ms);
    });
    return true;
  }

  private send(units: Unit[], mode: Mode): void {
    const count = units.reduce((sum, unit) => sum + unit.orders.length, 0);
    const orders_bytes = new Uint8Array(count * ORDER_SIZE_BYTES);
    const view = new DataView(orders_bytes.buffer);
    let k = 0;
    for (const unit of units) {
      unit.attempts++;
      for (const order of unit.orders) write_order_fields(view, (k++) * ORDER_SIZE_BYTES, order);
    }
    const flight: InFlight = { units, timer: null };
    this.arm_deadline(flight);
    const now_ms = this.options.now_ms();
    const timeout_ms = Math.max(1, Math.max(...units.map((unit) => unit.deadline_ms)) - now_ms);
    this.in_flight++;
    this.request_id++;
    this.transport.send_batch({
      request_id: this.request_id, mode, orders_bytes, count, timeout_ms,
    }).then(
      (outcome) => this.answer(flight, outcome),
      (error: unknown) => this.answer(flight, { kind: "lost", message: String(error) }),
    );
  }

  /** Fails units of a batch in flight at their own deadlines (the batch may outlive them). */
  private arm_deadline(flight: InFlight): void {
    const open = flight.units.filter((unit) => !unit.done);
    if (open.length === 0) return;
    const deadline_ms = Math.min(...open.map((unit) => unit.deadline_ms));
    const delay_ms = Math.max(0, deadline_ms - this.options.now_ms());
    flight.timer = setTimeout(() => {
      const now_ms = this.options.now_ms();
      for (const unit of open) {
        if (!unit.done && now_ms >= unit.deadline_ms) {
          unit.maybe_applied = true;
          this.fail(unit, "timeout", timeout_message(unit));
        }
      }
      this.arm_deadline(flight);
    }, delay_ms);
  }

  private answer(flight: InFlight, outcome: BatchOutcome): void {
    this.in_flight--;
    if (flight.timer !== null) clearTimeout(flight.timer);
    const units = flight.units.filter((unit) => !unit.done);
    switch (outcome.kind) {
      case "results":
        this.answer_results(units, outcome.results);
        break;
      case "refused":
        this.answer_refused(units, outcome);
        break;
      case "lost":
        for (const unit of units) unit.maybe_applied = true;
        this.retry(units, 0, outcome.message);
        break;
      case "unreachable":
        this.answer_unreachable(units, outcome);
        break;
      default:
        assert_never(outcome, "batch outcome");
    }
    this.pump(false);
  }

  private answer_results(units: Unit[], results: ResultFields[]): void {
    const all = units.reduce((sum, unit) => sum + unit.orders.length, 0);
    let at = 0;
    for (const unit of units) {
      const slice = results.slice(at, at + unit.orders.length);
      at += unit.orders.length;
      const matches = slice.length === unit.orders.length &&
        slice.every((result, k) => result.order_id === unit.orders[k]!.id);
      if (!matches || results.length < all) {
        this.fail(unit, "protocol", "the results do not match the orders sent", true);
        continue;
      }
      this.settle(unit, slice);
    }
  }

  /** A unit's results: resolve, renew and resend, or fail. */
  private settle(unit: Unit, results: ResultFields[]): void {
    if (unit.maybe_applied && results.some((result) => result.status === Status.expired)) {
      return this.fail(unit, "window_passed", "an earlier attempt may have been applied and the " +
        "server no longer recognises the ids (expired): the outcome is unknown");
    }
    const renew = this.renew_reason(unit, results);
    const renewable = unit.minted.every((minted) => minted) &&
      unit.renewals < this.options.renewals_max;
    if (renew === null || !renewable) return this.resolve(unit, results);
    unit.renewals++;
    for (const order of unit.orders) order.id = 0n; // minted anew when sent
    const delay_ms = renew === "busy" ? this.backoff_ms(unit.renewals) : 0;
    this.retry([unit], delay_ms, null);
  }

  /** Why a unit's answer says "not applied, send again under new ids", or null. */
  private renew_reason(unit: Unit, results: ResultFields[]): "busy" | "collision" | null {
    if (results.every((result) => result.status === Status.busy)) return "busy";
    if (unit.maybe_applied) return null;
    // No earlier attempt can have applied these ids: a replay or conflict is another client's id.
    const foreign = results.some((result) =>
      result.replayed || result.status === Status.id_conflict);
    return foreign ? "collision" : null;
  }

  private answer_refused(units: Unit[], outcome: Extract<BatchOutcome, { kind: "refused" }>): void {
    if (outcome.applied === "unknown") for (const unit of units) unit.maybe_applied = true;
    if (is_retryable(outcome.code) || outcome.applied === "unknown") {
      return this.retry(units, outcome.retry_after_ms, outcome.message);
    }
    for (const unit of units) {
      this.fail(unit, "refused", outcome.message, unit.maybe_applied, outcome.code,
        outcome.retry_after_ms);
    }
  }

  private answer_unreachable(units: Unit[], outcome: Extract<BatchOutcome, { kind: "unreachable" }>)
    : void {
    const code = outcome.code;
    if (code === undefined || is_retryable(code)) return this.retry(units, 0, outcome.message);
    for (const unit of units) this.fail(unit, "refused", outcome.message, unit.maybe_applied, code);
  }

  /** Queues units again, at the front in their order, after a delay: `delay_ms` or a backoff. */
  private retry(units: Unit[], delay_ms: number, reason: string | null): void {
    const by_wait = new Map<number, Unit[]>();
    for (const unit of units) {
      if (this.closed) {
        this.fail(unit, "closed", "the client was closed", unit.maybe_applied);
        continue;
      }
      if (reason !== null) unit.last_failure = reason;
      const backoff_ms = reason === null ? 0 : this.backoff_ms(unit.attempts);
      const remaining_ms = unit.deadline_ms - this.options.now_ms();
      const wait_ms = Math.max(0, Math.min(Math.max(delay_ms, backoff_ms), remaining_ms));
      this.waiting.add(unit);
      const group = by_wait.get(wait_ms);
      if (group === undefined) by_wait.set(wait_ms, [unit]);
      else group.push(unit);
    }
    for (const [wait_ms, group] of by_wait) {
      setTimeout(() => this.requeue(group.filter((unit) => this.waiting.delete(unit))), wait_ms);
    }
  }

  private requeue(units: Unit[]): void {
    // At the front of their queues, in their order (the route may have changed meanwhile).
    const by_queue = new Map<Queue, Unit[]>();
    for (const unit of units) {
      if (unit.done) continue;
      const queue = this.queue_of(unit);
      const own = by_queue.get(queue);
      if (own === undefined) by_queue.set(queue, [unit]);
      else own.push(unit);
      this.queued_orders += unit.orders.length;
    }
    for (const [queue, own] of by_queue) queue.units.unshift(...own);
    for (const queue of by_queue.keys()) {
      if (queued_length(queue) >= this.batch_orders_max()) this.pump(true);
    }
    this.schedule_flush();
  }

  private backoff_ms(attempt: number): number {
    const doubled = this.options.retry_delay_ms_min * 2 ** Math.min(attempt - 1, 20);
    return Math.min(this.options.retry_delay_ms_max, doubled);
  }

  private resolve(unit: Unit, results: ResultFields[]): void {
    assert(!unit.done, "a unit is answered once");
    unit.done = true;
    unit.callbacks.resolve(results);
  }

  private fail(unit: Unit, reason: ConstructorParameters<typeof BalanceError>[0], message: string,
    outcome_unknown = unit.maybe_applied, code?: number, retry_after_ms = 0): void {
    if (unit.done) return;
    unit.done = true;
    const ids = unit.ids().filter((id) => id !== 0n);
    const suffix = outcome_unknown ? " (outcome unknown: the orders may have been applied)" : "";
    unit.callbacks.reject(new BalanceError(reason, `${message}${suffix}`, {
      code, outcome_unknown, order_ids: ids, retry_after_ms,
    }));
  }
}

interface Queue {
  mode: Mode;
  units: Unit[];
}

function queued_length(queue: Queue): number {
  let count = 0;
  for (const unit of queue.units) count += unit.orders.length;
  return count;
}

function timeout_message(unit: Unit): string {
  const last = unit.last_failure === null ? "" : ` (last attempt: ${unit.last_failure})`;
  return `no answer within timeout_ms${last}`;
}

/** Splits orders into units: a linked chain runs to the first order without the linked flag. */
export function split_units(orders: OrderFields[]): OrderFields[][] {
  const units: OrderFields[][] = [];
  let current: OrderFields[] = [];
  for (const order of orders) {
    current.push(order);
    if ((order.flags & ORDER_FLAG_LINKED) === 0) {
      units.push(current);
      current = [];
    }
  }
  if (current.length > 0) units.push(current);
  return units;
}
