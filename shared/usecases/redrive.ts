/**
 * Redrive (POST /batches/{id}/redrive): run again only the tasks that did not succeed. Their run state is
 * reset, pendingDeps counts only dependencies that did not succeed, attempts keep their history and
 * numbering, and a new execution `<batchId>-redrive-<n>` runs the subset.
 */
import { z } from 'zod';
import { limitsOf, spentWithoutBudget } from '../domain/budget';
import { BudgetSchema } from '../domain/schemas';
import {
  type BudgetLedger,
  NotFoundError,
  type Orchestrator,
  type StoredTask,
  type TaskStore,
} from '../ports';
import { executionNameFor } from './common';
import { ConfigurationError, ConflictError } from './errors';
import { executionInputOf } from './submit';

export interface RedriveDeps {
  store: TaskStore;
  orchestrator: Orchestrator;
  /** Budget ledgers (required to redrive with a budget). */
  ledger?: BudgetLedger;
}

/** POST /batches/{id}/redrive's body: a new budget, its fields over the batch's (raise one, keep the other). */
export const RedriveRequestSchema = z.object({ budget: BudgetSchema.optional() }).strict();
export type RedriveRequest = z.infer<typeof RedriveRequestSchema>;

export interface RedriveResult {
  batchId: string;
  executionName: string;
  taskIds: string[];
}

const REDRIVABLE = new Set(['FAILED', 'SKIPPED', 'CANCELLED']);
/**
 * Statuses a redrive resets its tasks to. In a batch that is not running, a task in one of them was reset by a
 * redrive that failed before its execution started (its batch write or the start itself): nothing will run
 * it, so the next redrive runs it again. Left out, that batch would keep it waiting for ever, and refuse every
 * redrive as having nothing to run.
 */
const RESET = new Set(['READY', 'PENDING']);

/**
 * Re-runs the unsuccessful tasks of a finished batch; 409 (ConflictError) while it runs. A batch with a
 * budget (`request.budget` over its own) is routed again against it: the exhausted mark goes, the limits are
 * the new ones, what was spent stays spent.
 */
export async function redriveBatch(
  deps: RedriveDeps,
  batchId: string,
  request: RedriveRequest = {},
): Promise<RedriveResult> {
  const batch = await deps.store.getBatch(batchId);
  if (!batch) throw new NotFoundError('batch', batchId);
  if (batch.status === 'RUNNING') throw new ConflictError(`batch "${batchId}" is still running`);
  const tasks = await deps.store.listTasks(batchId);
  const succeeded = new Set(tasks.filter((t) => t.status === 'SUCCEEDED').map((t) => t.taskId));
  const rerun = tasks.filter((t) => REDRIVABLE.has(t.status) || RESET.has(t.status));
  if (rerun.length === 0)
    throw new ConflictError(`batch "${batchId}" has no failed, skipped or cancelled task`);

  const reset: StoredTask[] = rerun.map((t) => {
    const deps = [...new Set(t.task.dependsOn ?? [])];
    const pending = deps.filter((d) => !succeeded.has(d));
    const {
      gateToken: _gate,
      reason: _reason,
      finishedAt: _finished,
      output: _output,
      outputRef: _outputRef,
      ...rest
    } = t;
    return {
      ...rest,
      status: pending.length > 0 ? 'PENDING' : 'READY',
      pendingDeps: pending.length,
      failedDeps: 0,
      skippedDeps: 0,
      // Dependencies that succeeded before count for the trigger rule (a one_success gate opens at once).
      succeededDeps: deps.length - pending.length,
      releasedBy: [],
      // A fresh budget of attempts on top of the ones already made (attempt numbers keep counting).
      maxAttempts: t.attemptCount + batch.maxAttempts,
    };
  });
  const n = (batch.redriveCount ?? 0) + 1;
  const budget = request.budget ? { ...batch.budget, ...request.budget } : batch.budget;
  if (budget) {
    if (!deps.ledger) throw new ConfigurationError('a batch budget needs the budget ledger');
    // A batch that had no budget starts its ledger with what it spent so far (attempts that reported usage).
    await deps.ledger.setLimits(
      batchId,
      limitsOf(budget),
      spentWithoutBudget(tasks.flatMap((t) => t.attempts)),
    );
  }
  await deps.store.putTasks(reset);
  const executionName = executionNameFor(batchId, `-redrive-${n}`);
  const expectedArn = deps.orchestrator.executionArnOf(executionName);
  await deps.store.updateBatch(batchId, {
    ...(budget ? { budget } : {}),
    status: 'RUNNING',
    // The new execution's ARN with the status: until then the batch named the execution that ended, and a
    // late status change event of that one (or the scheduled pass, interrupted.ts) would end the batch again.
    executionArn: expectedArn,
    redriveCount: n,
    cancelRequested: undefined,
    cancelReason: undefined,
    finishedAt: undefined,
    makespanMs: undefined,
  });
  const { executionArn } = await deps.orchestrator.start(executionName, executionInputOf(batchId, reset));
  if (executionArn !== expectedArn) await deps.store.updateBatch(batchId, { executionArn });
  return { batchId, executionName, taskIds: reset.map((t) => t.taskId) };
}
