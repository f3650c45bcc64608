/**
 * Cancel (DELETE /batches/{id}): flag the batch, stop its execution, cancel every unfinished task and give
 * their agents' slots back. Running workers find their heartbeat refused and abort. The stopped execution
 * never reaches Finalize, so the batch is finalized here.
 */
import { leaseKey } from '../domain/pool';
import type { BatchResult } from '../domain/schemas';
import {
  type AgentRegistry,
  type BatchCreation,
  type BudgetLedger,
  type Clock,
  NotFoundError,
  type Orchestrator,
  type StoredBatch,
  type TaskStore,
} from '../ports';
import { takeBackOnEnd } from './approval';
import { buildBatchResult } from './batch-result';
import { budgetStateFor, settleAttempt } from './budget';
import { creationLeaseSecondsLeft, creationRetrySeconds, executionNameFor, isTerminal } from './common';
import { ConflictError } from './errors';

export interface CancelDeps {
  store: TaskStore;
  agents: AgentRegistry;
  orchestrator: Orchestrator;
  clock: Clock;
  /** Budget ledgers: a cancelled attempt settles what it held; the result shows the budget. */
  ledger?: BudgetLedger;
}

/** Cancels a running batch; 409 (ConflictError) when it already finished. */
export async function cancelBatch(
  deps: CancelDeps,
  batchId: string,
  reason = 'cancelled by request',
): Promise<BatchResult> {
  const batch = await deps.store.getBatch(batchId);
  if (!batch) throw new NotFoundError('batch', batchId);
  if (batch.status !== 'RUNNING')
    throw new ConflictError(`batch "${batchId}" already finished (${batch.status})`);
  if (batch.creation !== undefined) await takeOverCreation(deps, batch);
  await deps.store.updateBatch(batchId, { cancelRequested: true, cancelReason: reason });
  // A batch cancelled right after its submit may not have its execution ARN written yet: the first
  // execution's name is known, so it is stopped all the same (a gate armed meanwhile would wait forever).
  await deps.orchestrator.stop(
    batch.executionArn ?? deps.orchestrator.executionArnOf(executionNameFor(batchId)),
    reason,
  );

  const now = deps.clock.now();
  const tasks = await deps.store.listTasks(batchId);
  await Promise.all(
    tasks
      .filter((t) => !isTerminal(t.status))
      .map(async (t) => {
        // Each task's end is read when it is cancelled: a Route may have started its attempt since `now`,
        // and neither the attempt nor the task may end before that start.
        const at = Math.max(now, deps.clock.now());
        if (!(await deps.store.setTaskStatus(batchId, t.taskId, 'CANCELLED', { reason, at }))) return;
        // Read again: a Route may have started an attempt after the list above; once the task is
        // CANCELLED no attempt can start any more (startAttempt requires a non-terminal task), so this read
        // sees the last one and its slot is never leaked.
        const latest = (await deps.store.getTask(batchId, t.taskId)) ?? t;
        // A decision recorded before the cancel whose answer never got through did not take effect.
        await takeBackOnEnd(deps.store, latest);
        const last = latest.attempts[latest.attemptCount - 1];
        // A running attempt, or one whose output waits for approval (its slot went back already: the
        // release below is then a no-op on the lease).
        if (last?.status !== 'RUNNING' && last?.status !== 'AWAITING_APPROVAL') return;
        const ended = await deps.store.finishAttempt(batchId, t.taskId, latest.attemptCount, {
          status: 'CANCELLED',
          at: Math.max(at, last.startedAt),
          error: reason,
        });
        if (ended) {
          await Promise.all([
            deps.agents.release(last.agentId, at, leaseKey(batchId, t.taskId, latest.attemptCount)),
            // Whatever it reported so far (a running attempt usually nothing yet: then what it held).
            settleAttempt(deps.ledger, latest, latest.attemptCount),
          ]);
        }
      }),
  );
  const finishedAt = deps.clock.now();
  const makespanMs = Math.max(0, finishedAt - batch.startedAt);
  const [final, budget] = await Promise.all([
    deps.store.listTasks(batchId),
    budgetStateFor(deps.ledger, batch),
  ]);
  const result = buildBatchResult(
    { ...batch, cancelRequested: true, status: 'CANCELLED', finishedAt, makespanMs },
    final,
    { ...(budget ? { budget } : {}) },
  );
  await deps.store.updateBatch(batchId, {
    status: 'CANCELLED',
    finishedAt,
    makespanMs,
    ...(result.costUsd !== undefined ? { costUsd: result.costUsd } : {}),
    ...(result.usage !== undefined ? { usage: result.usage } : {}),
  });
  return result;
}

/**
 * A batch still held by its submission. While the submission's lease runs, its tasks may not all be written
 * yet and cancelling would leave later ones running: 409. Once the lease ran out (the submission failed with an
 * error, which releases it at once, or died) the cancel takes the creation over, so neither that submission
 * nor the same request sent again writes or starts anything more, and cancels what it wrote. Without this, a
 * batch whose submission failed after its claim stayed RUNNING with no task for good: only the very same
 * request could finish it, and retention never deletes a running batch.
 */
async function takeOverCreation(deps: CancelDeps, batch: StoredBatch): Promise<void> {
  const creation = batch.creation as BatchCreation;
  const now = deps.clock.now();
  if (creation.expiresAt > now) {
    throw new ConflictError(
      `batch "${batch.batchId}" is still being created; cancel it once it runs, or in ${creationLeaseSecondsLeft(creation, now)} s if its submission does not finish (the same request sent again finishes an interrupted submission)`,
      creationRetrySeconds(creation, now),
    );
  }
  if (!(await deps.store.updateBatchCreation(batch.batchId, creation.owner, undefined))) {
    throw new ConflictError(
      `batch "${batch.batchId}" is being created by a submission sent again; cancel it once it runs`,
      1,
    );
  }
}
