/**
 * Budgets in the use cases (README "Budgets"): Route holds an attempt's worst case before its dispatch, and
 * the attempt's end (Complete, RecordAttempt, cancel) settles it with what it really used. When the next
 * attempt does not fit even once the attempts in flight settle, the budget is exhausted: the task is
 * CANCELLED with the reason and its dependents are released as failed (their gates skip them).
 */
import {
  attemptWorstCase,
  type BudgetAmount,
  budgetStateOf,
  chargeOf,
  couldFitLater,
  exhaustedReason,
  holdKey,
  overLimit,
  unpricedReason,
} from '../domain/budget';
import { PriceTable } from '../domain/costs';
import type { RoleCatalog } from '../domain/roles';
import type { Attempt, BudgetState, ExecutorConfig, ExtractedRequirements } from '../domain/schemas';
import type { BatchState, BudgetLedger, StoredTask } from '../ports';

/** What Route needs to hold budgets: the ledger and the price table (COSTS_CONFIG's over the built-in). */
export interface BudgetDeps {
  ledger: BudgetLedger;
  prices?: PriceTable;
}

const BUILT_IN_PRICES = new PriceTable();

/** Reserve tries when a settle between the refused reserve and its read made room. */
const RESERVE_TRIES = 3;

/** The outcome of holding an attempt's worst case: held (with the amount), wait, or cancel with a reason. */
export type HoldOutcome =
  | { kind: 'held'; held?: BudgetAmount }
  | { kind: 'wait' }
  | { kind: 'cancel'; reason: string };

/**
 * Holds the worst case of the task's next attempt on `executor` against the batch's budget (nothing to hold
 * without one). Waits when it could fit once attempts in flight settle; otherwise exhausts the budget.
 */
export async function holdAttempt(
  deps: { budget?: BudgetDeps | undefined; catalog: RoleCatalog },
  batch: Pick<BatchState, 'batchId' | 'budget'>,
  task: StoredTask,
  roleName: string,
  executor: ExecutorConfig,
  requirements: ExtractedRequirements,
): Promise<HoldOutcome> {
  const budget = deps.budget;
  const role = deps.catalog.get(roleName);
  if (!batch.budget || !budget || !role) return { kind: 'held' };
  const attempt = task.attemptCount + 1;
  const worst = attemptWorstCase({
    role,
    task: task.task,
    requirements,
    approvals: task.approvals,
    attempt,
    executor,
    prices: budget.prices ?? BUILT_IN_PRICES,
  });
  if (worst.nanoUsd === null && batch.budget.maxCostUsd !== undefined)
    return { kind: 'cancel', reason: unpricedReason(executor) };
  const hold: BudgetAmount = { nanoUsd: worst.nanoUsd ?? 0, tokens: worst.tokens };
  for (let tries = 0; tries < RESERVE_TRIES; tries++) {
    const result = await budget.ledger.reserve(batch.batchId, holdKey(task.taskId, attempt), hold);
    if (result.held) return { kind: 'held', held: result.held };
    const state = result.state;
    // No ledger (a batch stored before its budget had one): nothing to hold against.
    if (!state) return { kind: 'held' };
    if (state.exhausted !== undefined) return { kind: 'cancel', reason: state.exhausted };
    const limit = overLimit(state, hold);
    if (limit === undefined) continue; // a settle made room since the refusal: try again
    if (couldFitLater(state, hold)) return { kind: 'wait' };
    // The reason states the limit the attempt passes with nothing in flight: the one passed with the holds in
    // flight counted may be another, which the attempt would fit once they settled.
    const exhaustedBy = overLimit(state, hold, false) ?? limit;
    const reason = await budget.ledger.exhaust(batch.batchId, exhaustedReason(state, hold, exhaustedBy));
    return { kind: 'cancel', reason };
  }
  return { kind: 'wait' };
}

/**
 * Settles attempt `number` of `task` once, if it held part of a budget: its hold is released and what it used
 * is spent (its hold when it reported no usage). Safe to repeat: the ledger settles each attempt once.
 */
export async function settleAttempt(
  ledger: BudgetLedger | undefined,
  task: Pick<StoredTask, 'batchId' | 'taskId' | 'attempts'>,
  number: number,
  ended?: Pick<Attempt, 'usage' | 'costUsd'>,
): Promise<void> {
  const attempt = task.attempts[number - 1];
  if (!ledger || !attempt?.held) return;
  const charge = chargeOf(attempt.held, ended?.usage !== undefined ? ended : attempt);
  await ledger.settle(task.batchId, holdKey(task.taskId, number), attempt.held, charge);
}

/** Gives back the hold of an attempt that was never started (its Route lost the race to start it). */
export async function releaseHold(
  ledger: BudgetLedger | undefined,
  task: Pick<StoredTask, 'batchId' | 'taskId'>,
  number: number,
  held: BudgetAmount,
): Promise<void> {
  await ledger?.settle(task.batchId, holdKey(task.taskId, number), held, { nanoUsd: 0, tokens: 0 });
}

/** The batch's budget as its result shows it (undefined without a budget or a ledger). */
export async function budgetStateFor(
  ledger: BudgetLedger | undefined,
  batch: Pick<BatchState, 'batchId' | 'budget'>,
): Promise<BudgetState | undefined> {
  if (!ledger || !batch.budget) return undefined;
  const state = await ledger.get(batch.batchId);
  return state ? budgetStateOf(state) : undefined;
}
