/**
 * Batches interrupted by a restart: `meta-agent serve --data-dir` keeps the store across restarts, but not the
 * executions of its in-process Step Functions (nor the role queues' messages, nor a worker's running call),
 * so a batch that was RUNNING when the server stopped can never finish by itself. At start every such batch
 * is ended: each unfinished task FAILS with the reason (its open attempt too, its agent's slot given back),
 * and the batch is finalized (FAILED or PARTIAL), so it reads whole and can be redriven.
 */

import { MAX_BATCH_PAGE_SIZE } from '../domain/limits';
import { leaseKey } from '../domain/pool';
import {
  type AgentRegistry,
  type BudgetLedger,
  type Clock,
  type ExecutionStates,
  InvalidCursorError,
  type TaskStore,
} from '../ports';
import { takeBackOnEnd } from './approval';
import { settleAttempt } from './budget';
import { executionNameFor, isTerminal } from './common';
import { finalizeBatch } from './finalize';

export interface InterruptedDeps {
  readonly store: TaskStore;
  readonly agents: AgentRegistry;
  readonly clock: Clock;
  /** Budget ledgers: an open attempt's hold is settled (at what it held), so a redrive starts from the truth. */
  readonly ledger?: BudgetLedger;
}

/** Ends every RUNNING batch as interrupted with `reason`; answers their ids. */
export async function endInterruptedBatches(deps: InterruptedDeps, reason: string): Promise<string[]> {
  const running: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await deps.store.listBatches({
      limit: MAX_BATCH_PAGE_SIZE,
      ...(cursor !== undefined ? { cursor } : {}),
    });
    for (const batch of page.batches) if (batch.status === 'RUNNING') running.push(batch.batchId);
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  for (const batchId of running) await endInterruptedBatch(deps, batchId, reason);
  return running;
}

/** An execution that ended otherwise than by succeeding (Step Functions' status change event). */
export interface StoppedExecution {
  readonly executionArn: string;
  readonly batchId: string;
  readonly status: 'FAILED' | 'TIMED_OUT' | 'ABORTED';
  readonly error?: string;
  readonly cause?: string;
}

/** Characters of an execution's error cause quoted in the tasks' reason (a cause may hold 32 KiB). */
const STOPPED_CAUSE_MAX_CHARS = 300;

/**
 * A batch whose execution ended without its Finalize (failed on an error no state catches, timed out, or
 * stopped from outside, such as the console) would stay RUNNING for good, its unfinished tasks with it, and
 * no redrive could take it (a redrive needs a finished batch). Ended as interrupted (above), with a reason that
 * names the execution's end. Only the batch's current execution counts: a nested expansion's (its failure is
 * caught by its parent) or an earlier one's is not the batch's; a cancel in progress ends the batch itself.
 * Answers whether the batch was ended.
 */
export async function endStoppedExecution(
  deps: InterruptedDeps,
  stopped: StoppedExecution,
): Promise<boolean> {
  const batch = await deps.store.getBatch(stopped.batchId);
  if (batch?.status !== 'RUNNING' || batch.cancelRequested) return false;
  // Before its submit wrote the ARN, the batch's execution is its first, named after it (a nested one's name
  // has a suffix).
  const current =
    batch.executionArn === undefined
      ? stopped.executionArn.endsWith(`:${executionNameFor(batch.batchId)}`)
      : batch.executionArn === stopped.executionArn;
  if (!current) return false;
  const how = { FAILED: 'failed', TIMED_OUT: 'timed out', ABORTED: 'was stopped' }[stopped.status];
  const detail = [stopped.error, stopped.cause]
    .filter((part) => part !== undefined && part !== '')
    .join(': ');
  const quoted =
    detail.length > STOPPED_CAUSE_MAX_CHARS ? `${detail.slice(0, STOPPED_CAUSE_MAX_CHARS)}...` : detail;
  await endInterruptedBatch(
    deps,
    stopped.batchId,
    `interrupted: the batch's execution ${how}${quoted ? ` (${quoted})` : ''} while this task was unfinished; redrive the batch to run it again`,
  );
  return true;
}

/**
 * RUNNING batches whose execution one pass of endLostStoppedExecutions looks at, the oldest first: each costs a
 * DescribeExecution (Step Functions' bucket for it holds 250 and refills 15 a second, shared with the account's
 * other calls), so a pass stays a second or two whatever the number of running batches; the next pass carries
 * on after the last one looked at.
 */
export const MAX_RUNNING_BATCHES_CHECKED_PER_PASS = 20;

/**
 * How long a batch has existed before a pass looks at its execution: the status change event, delivered in
 * seconds, ends a batch that failed young; a younger batch costs a pass nothing.
 */
export const LOST_EVENT_MIN_AGE_MS = 5 * 60_000;

/**
 * Batches of the list index one pass of indexRunningBatches reads (the oldest first), putting the RUNNING ones
 * without `runningPk` into the running index: a Query page and a conditional write per RUNNING one, so a pass
 * after an upgrade stays short whatever the table holds; the next passes carry on until every batch was read.
 */
export const MAX_BATCHES_INDEXED_PER_PASS = 100;

/** Where the passes stopped, kept by the caller between them (the scaler keeps it in its module). */
export interface LostEventSweep {
  /** Among the running batches (a cold start starts from the oldest). */
  cursor?: string;
  /**
   * Among all batches, putting those RUNNING since before the running index into it: `done` once the passes
   * read them all (a batch written since has its `runningPk` from its first write).
   */
  indexing?: { cursor?: string; done?: boolean };
}

/** The lookup of an execution's end: the orchestrator's Step Functions, and where the previous pass stopped. */
export interface LostEventDeps extends InterruptedDeps {
  readonly executions: ExecutionStates;
  /**
   * Where the previous pass stopped among the running batches, kept by the caller between passes so that
   * successive passes visit them all (the scaler keeps it in its module: a cold start starts from the oldest).
   */
  readonly sweep: LostEventSweep;
  /** True when the pass should stop before the next batch (the scaler's time): the next pass takes it. */
  readonly outOfTime?: () => boolean;
}

/**
 * Step Functions' status change events are delivered best effort: a batch whose execution ended without its
 * Finalize and whose event was lost would stay RUNNING for good. A periodic pass (the scaler's) reads the
 * running batches older than LOST_EVENT_MIN_AGE_MS, MAX_RUNNING_BATCHES_CHECKED_PER_PASS at a time, describes
 * each one's current execution, and ends through endStoppedExecution (the same rules: only the batch's current
 * execution, never under a cancel) those whose execution failed, timed out or was stopped. Answers the ids of
 * the batches it ended.
 */
export async function endLostStoppedExecutions(deps: LostEventDeps): Promise<string[]> {
  const page = await deps.store
    .listRunningBatches({
      createdBefore: deps.clock.now() - LOST_EVENT_MIN_AGE_MS,
      limit: MAX_RUNNING_BATCHES_CHECKED_PER_PASS,
      ...(deps.sweep.cursor !== undefined ? { cursor: deps.sweep.cursor } : {}),
    })
    .catch((error: unknown) => {
      // A cursor of another store (a process that outlived a table): start again from the oldest.
      if (error instanceof InvalidCursorError) deps.sweep.cursor = undefined;
      throw error;
    });
  const ended: string[] = [];
  for (const batch of page.batches) {
    // Not advanced: the next pass reads this page again, less the batches ended since.
    if (deps.outOfTime?.()) return ended;
    // Before its submit wrote the ARN, the batch's execution is its first, named after it.
    const executionArn =
      batch.executionArn ?? deps.executions.executionArnOf(executionNameFor(batch.batchId));
    const state = await deps.executions.describe(executionArn);
    if (state?.status !== 'FAILED' && state?.status !== 'TIMED_OUT' && state?.status !== 'ABORTED') continue;
    const stopped: StoppedExecution = {
      executionArn,
      batchId: batch.batchId,
      status: state.status,
      ...(state.error !== undefined ? { error: state.error } : {}),
      ...(state.cause !== undefined ? { cause: state.cause } : {}),
    };
    if (await endStoppedExecution(deps, stopped)) ended.push(batch.batchId);
  }
  // The last page: the next pass starts from the oldest again.
  deps.sweep.cursor = page.nextCursor;
  return ended;
}

/**
 * A batch RUNNING since before the running index existed has no `runningPk` until its next status change, so
 * the pass above would never look at it: one pass of this puts up to MAX_BATCHES_INDEXED_PER_PASS of the
 * batches, the oldest first, into the index (only one still RUNNING and without `runningPk`: a conditional
 * write), from where the previous pass stopped; once every batch was read it does nothing more. Answers how
 * many batches it put in.
 */
export async function indexRunningBatches(deps: Pick<LostEventDeps, 'store' | 'sweep'>): Promise<number> {
  const indexing = deps.sweep.indexing ?? {};
  deps.sweep.indexing = indexing;
  if (indexing.done) return 0;
  const page = await deps.store
    .indexRunningBatches({
      limit: MAX_BATCHES_INDEXED_PER_PASS,
      ...(indexing.cursor !== undefined ? { cursor: indexing.cursor } : {}),
    })
    .catch((error: unknown) => {
      // A cursor of another store (a process that outlived a table): start again from the oldest.
      if (error instanceof InvalidCursorError) indexing.cursor = undefined;
      throw error;
    });
  indexing.cursor = page.nextCursor;
  if (page.nextCursor === undefined) indexing.done = true;
  return page.indexed;
}

async function endInterruptedBatch(deps: InterruptedDeps, batchId: string, reason: string): Promise<void> {
  const batch = await deps.store.getBatch(batchId);
  if (batch?.status !== 'RUNNING') return;
  // A submission cut short: its claim goes, the tasks it wrote end like the others.
  if (batch.creation !== undefined) {
    await deps.store.updateBatchCreation(batchId, batch.creation.owner, undefined);
  }
  const now = deps.clock.now();
  for (const task of await deps.store.listTasks(batchId)) {
    if (isTerminal(task.status)) continue;
    if (!(await deps.store.setTaskStatus(batchId, task.taskId, 'FAILED', { reason, at: now }))) continue;
    // A decision whose answer never got through did not take effect: the ended task shows none.
    await takeBackOnEnd(deps.store, task);
    const last = task.attempts[task.attemptCount - 1];
    if (last?.status !== 'RUNNING' && last?.status !== 'AWAITING_APPROVAL') continue;
    const ended = await deps.store.finishAttempt(batchId, task.taskId, task.attemptCount, {
      status: 'FAILED',
      at: now,
      error: reason,
    });
    if (ended)
      await Promise.all([
        deps.agents.release(last.agentId, now, leaseKey(batchId, task.taskId, task.attemptCount)),
        settleAttempt(deps.ledger, task, task.attemptCount),
      ]);
  }
  await finalizeBatch(deps, { batchId });
}
