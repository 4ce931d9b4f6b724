// The phases around the load: set-up (open the accounts that do not exist, credit those below half
// the opening balance, read every account's figures as the ledger's starting point), clean-up
// (release the holds still pooled) and the end check (read every account back and compare with
// the ledger). Each is a Job for the pool; none of them is timed.

import { assert } from "../common/assert.ts";
import { BATCH_ORDERS_MAX, RESULT_SIZE_BYTES } from "../common/constants.ts";
import { AccountState } from "../schema/generated/balance/wire/account-state.ts";
import { Mode } from "../schema/generated/balance/wire/mode.ts";
import { Status } from "../schema/generated/balance/wire/status.ts";
import { RESULT_STATUS_OFFSET } from "../schema/layout.ts";
import type { AccountInfoFields } from "../schema/messages.ts";
import type { Job, JobRunner } from "./pool.ts";
import type { RequestRecord } from "./request_record.ts";
import type { Workload } from "./workload.ts";

const SETUP_BATCH_ORDERS = BATCH_ORDERS_MAX;
// Set-up orders answered busy (or whose request was refused for now) are sent again, with fresh
// ids, after a pause that doubles each round.
const SETUP_ATTEMPTS_MAX = 8;
const SETUP_RETRY_PAUSE_MS_FIRST = 100;
const MISMATCHES_LISTED_MAX = 10;

export class SetupError extends Error {
  override name = "SetupError";
}

/**
 * Sends batches whose orders `write(record, k, item)` makes for each item (an account index: the
 * writer puts it in record.account[k]). Items answered busy, or in a request refused for now, are
 * collected for another round.
 */
class BatchJob implements Job {
  readonly mode = Mode.committed;
  private next_item = 0;
  readonly status_counts = new Map<number, number>();
  readonly refusals: string[] = [];
  readonly retry: number[] = [];

  constructor(private readonly items: Int32Array,
    private readonly write: (record: RequestRecord, k: number, item: number) => void,
    private readonly ledger: Workload | null = null) {}

  next(record: RequestRecord): boolean {
    if (this.next_item >= this.items.length) return false;
    const count = Math.min(SETUP_BATCH_ORDERS, this.items.length - this.next_item);
    record.kind = "batch";
    record.measured = false;
    for (let k = 0; k < count; k++) this.write(record, k, this.items[this.next_item + k]!);
    record.count = count;
    this.next_item += count;
    return true;
  }

  on_results(record: RequestRecord, frame: Uint8Array, offset: number, count: number): void {
    for (let k = 0; k < count; k++) {
      const status = frame[offset + k * RESULT_SIZE_BYTES + RESULT_STATUS_OFFSET]!;
      if (status === Status.busy) {
        this.retry.push(record.account[k]!);
        continue;
      }
      this.status_counts.set(status, (this.status_counts.get(status) ?? 0) + 1);
    }
    this.ledger?.apply_results(record, frame, offset, count);
  }

  on_pending(): void {
    assert(false, "set-up batches are committed");
  }

  on_account(): void {
    assert(false, "batch jobs send no account queries");
  }

  on_refused(record: RequestRecord, reason: string, outcome_unknown: boolean): void {
    this.ledger?.forget(record, outcome_unknown);
    if (!outcome_unknown && RETRIED_REFUSALS.test(reason)) {
      for (let k = 0; k < record.count; k++) this.retry.push(record.account[k]!);
      return;
    }
    this.refusals.push(reason);
  }

  /** Throws unless every order ended in one of `accepted` statuses. */
  expect(what: string, accepted: readonly Status[]): void {
    if (this.refusals.length > 0) {
      const first = this.refusals[0];
      throw new SetupError(`${what}: ${this.refusals.length} requests refused (${first})`);
    }
    const others = [...this.status_counts].filter(([status]) => !accepted.includes(status));
    if (others.length > 0) {
      throw new SetupError(`${what}: unexpected statuses ${others.map(([s, n]) =>
        `${Status[s] ?? s} x${n}`).join(", ")}`);
    }
  }
}

// Refusals that mean "not now": HTTP 503 and 507, TCP Error busy, not_ready, disk_full.
const RETRIED_REFUSALS = /^(503|507) |busy|not_ready|disk_full/;

/** Runs `write` for every item, again for those answered busy, up to SETUP_ATTEMPTS_MAX rounds. */
async function run_with_retries(pool: JobRunner, what: string, items: Int32Array,
  write: (record: RequestRecord, k: number, item: number) => void): Promise<BatchJob[]> {
  const rounds: BatchJob[] = [];
  let pending = items;
  let pause_ms = SETUP_RETRY_PAUSE_MS_FIRST;
  for (let attempt = 1; pending.length > 0; attempt++) {
    if (attempt > SETUP_ATTEMPTS_MAX) {
      throw new SetupError(`${what}: ${pending.length} orders still busy after ` +
        `${SETUP_ATTEMPTS_MAX} attempts`);
    }
    if (attempt > 1) await Bun.sleep(pause_ms);
    if (attempt > 1) pause_ms *= 2;
    const job = new BatchJob(pending, write);
    await pool.run(job);
    rounds.push(job);
    pending = Int32Array.from(job.retry);
  }
  return rounds;
}

/** Throws unless every order of every round ended in one of `accepted` statuses. */
function expect_statuses(rounds: BatchJob[], what: string, accepted: readonly Status[]): void {
  for (const round of rounds) round.expect(what, accepted);
}

function count_status(rounds: BatchJob[], status: Status): number {
  return rounds.reduce((sum, round) => sum + (round.status_counts.get(status) ?? 0), 0);
}

export interface Figures {
  found: Uint8Array;
  balance: Float64Array;
  held: Float64Array;
  state: Uint8Array;
  currency: Uint16Array;
}

/** Reads the figures of `accounts`. */
class ReadJob implements Job {
  readonly mode = Mode.committed;
  private next_item = 0;
  answered = 0;
  readonly refusals: string[] = [];

  constructor(private readonly workload: Workload, private readonly accounts: Int32Array,
    readonly figures: Figures) {}

  next(record: RequestRecord): boolean {
    if (this.next_item >= this.accounts.length) return false;
    const account = this.accounts[this.next_item++]!;
    record.kind = "account";
    record.query_account = account;
    record.query_partner = this.workload.partner_of(account);
    record.query_account_id = this.workload.account_id(account);
    return true;
  }

  on_account(record: RequestRecord, info: AccountInfoFields | null): void {
    const account = record.query_account;
    this.answered++;
    if (info === null) return;
    this.figures.found[account] = 1;
    this.figures.balance[account] = Number(info.balance);
    this.figures.held[account] = Number(info.held);
    this.figures.state[account] = info.state;
    this.figures.currency[account] = info.currency;
  }

  on_results(): void {
    assert(false, "read jobs send no batches");
  }

  on_pending(): void {
    assert(false, "read jobs send no batches");
  }

  on_refused(_record: RequestRecord, reason: string): void {
    this.refusals.push(reason);
  }
}

function new_figures(count: number): Figures {
  return { found: new Uint8Array(count), balance: new Float64Array(count),
    held: new Float64Array(count), state: new Uint8Array(count), currency: new Uint16Array(count) };
}

function all_accounts(workload: Workload): Int32Array {
  return Int32Array.from({ length: workload.account_count }, (_, i) => i);
}

async function read_all(pool: JobRunner, workload: Workload, accounts: Int32Array): Promise<Figures> {
  const job = new ReadJob(workload, accounts, new_figures(workload.account_count));
  await pool.run(job);
  if (job.refusals.length > 0) {
    throw new SetupError(`account reads: ${job.refusals.length} refused (${job.refusals[0]})`);
  }
  assert(job.answered === accounts.length, "every account read was answered");
  return job.figures;
}

export interface SetupReport {
  opened: number;
  credited: number;
  existing: number;
}

/** Opens and funds the accounts; the figures read at the end are the ledger's starting point. */
export async function set_up(pool: JobRunner, workload: Workload, opening_balance: number)
  : Promise<SetupReport> {
  const accounts = all_accounts(workload);
  const open = await run_with_retries(pool, "opening accounts", accounts,
    (record, k, account) => workload.write_open_account(record, k, account, Date.now()));
  expect_statuses(open, "opening accounts", [Status.ok, Status.account_exists]);
  let figures = await read_all(pool, workload, accounts);
  const low: number[] = [];
  for (let a = 0; a < workload.account_count; a++) {
    const id = workload.account_id(a);
    if (figures.found[a] !== 1) throw new SetupError(`account ${id} is missing`);
    if (figures.state[a] !== AccountState.open) {
      throw new SetupError(`account ${id} is ${AccountState[figures.state[a]!]}`);
    }
    if (figures.currency[a] !== workload.shape.currency) {
      throw new SetupError(`account ${workload.account_id(a)} is in currency ` +
        `${figures.currency[a]}, not ${workload.shape.currency} (--currency)`);
    }
    if (figures.balance[a]! < opening_balance / 2) low.push(a);
  }
  if (low.length > 0) {
    const balances = figures.balance;
    const credit = await run_with_retries(pool, "opening credits", Int32Array.from(low),
      (record, k, account) => workload.write_credit(record, k, account,
        opening_balance - balances[account]!, Date.now()));
    expect_statuses(credit, "opening credits", [Status.ok]);
    figures = await read_all(pool, workload, accounts);
  }
  workload.initial_balance.set(figures.balance);
  workload.initial_held.set(figures.held);
  const opened = count_status(open, Status.ok);
  return { opened, credited: low.length, existing: workload.account_count - opened };
}

/** Releases every hold still waiting in the pool (their results go to the ledger). */
export async function release_pooled_holds(pool: JobRunner, workload: Workload): Promise<number> {
  // A release answered busy goes back to the pool (the ledger's rule), so each round releases
  // what is pooled at its start; rounds stop when one releases nothing.
  let released = 0;
  let pause_ms = SETUP_RETRY_PAUSE_MS_FIRST;
  for (let attempt = 1; workload.pool_size > 0 && attempt <= SETUP_ATTEMPTS_MAX; attempt++) {
    if (attempt > 1) await Bun.sleep(pause_ms);
    if (attempt > 1) pause_ms *= 2;
    const job = new BatchJob(new Int32Array(workload.pool_size), (record, k) => {
      const wrote = workload.write_pool_release(record, k, Date.now());
      assert(wrote, "the pool holds one hold per item");
    }, workload);
    await pool.run(job);
    released += job.status_counts.get(Status.ok) ?? 0;
    if (job.refusals.length > 0) break;
  }
  return released;
}

export interface CheckReport {
  verdict: "pass" | "fail" | "inconclusive" | "skipped";
  accounts_checked: number;
  mismatches: number;
  listed: string[];
  note: string;
}

/** Reads every account back: balance and held must be the figures after set-up plus the ledger. */
export async function end_check(pool: JobRunner, workload: Workload): Promise<CheckReport> {
  const figures = await read_all(pool, workload, all_accounts(workload));
  let mismatches = 0;
  const listed: string[] = [];
  for (let a = 0; a < workload.account_count; a++) {
    const balance = workload.initial_balance[a]! + workload.delta_balance[a]!;
    const held = workload.initial_held[a]! + workload.delta_held[a]!;
    const found = figures.found[a] === 1;
    if (found && figures.balance[a] === balance && figures.held[a] === held) continue;
    mismatches++;
    if (listed.length < MISMATCHES_LISTED_MAX) {
      listed.push(`account ${workload.partner_of(a)}/${workload.account_id(a)}: expected balance ` +
        `${balance} held ${held}, read ` +
        (found ? `balance ${figures.balance[a]} held ${figures.held[a]}` : "nothing (not found)"));
    }
  }
  const anomalies = workload.mismatched_results + workload.replayed_results;
  const notes: string[] = [];
  if (workload.unknown_orders > 0) {
    notes.push(`${workload.unknown_orders} orders of unknown outcome`);
  }
  if (workload.mismatched_results > 0) {
    notes.push(`${workload.mismatched_results} results not matching their order's id`);
  }
  if (workload.replayed_results > 0) {
    notes.push(`${workload.replayed_results} fresh orders answered "replayed"`);
  }
  // Orders of unknown outcome may explain mismatches; wrong or replayed results never do.
  const verdict = anomalies > 0 ? "fail" : workload.unknown_orders > 0 ? "inconclusive"
    : mismatches > 0 ? "fail" : "pass";
  return { verdict, accounts_checked: workload.account_count, mismatches, listed,
    note: notes.join("; ") };
}
