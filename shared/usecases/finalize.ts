/** Finalize: the batch's status and makespan, stored, and its result (without outputs) returned. */
import type { BatchResult } from '../domain/schemas';
import type { FinalizeInput } from '../domain/workflow';
import { type BudgetLedger, type Clock, NotFoundError, type TaskStore } from '../ports';
import { buildBatchResult, countStatuses, decideBatchStatus } from './batch-result';
import { budgetStateFor } from './budget';

export interface FinalizeDeps {
  store: TaskStore;
  clock: Clock;
  /** Budget ledgers: the result shows the batch's budget. */
  ledger?: BudgetLedger;
}

/** Decides, stores and returns the batch result (outputs left out). */
export async function finalizeBatch(deps: FinalizeDeps, input: FinalizeInput): Promise<BatchResult> {
  // The tasks as the result shows them (no outputs, inputs or definitions read): the batch's last step, on
  // every batch's way to its end.
  const [batch, tasks] = await Promise.all([
    deps.store.getBatch(input.batchId),
    deps.store.listTaskSummaries(input.batchId),
  ]);
  if (!batch) throw new NotFoundError('batch', input.batchId);
  const budget = await budgetStateFor(deps.ledger, batch);
  const finishedAt = deps.clock.now();
  const status = decideBatchStatus(batch, tasks);
  const makespanMs = Math.max(0, finishedAt - batch.startedAt);
  // The tally too, so GET /batches shows a finished batch's progress without reading its tasks.
  const taskCounts = countStatuses(tasks);
  // Outputs stay in the store (GET /batches/{id}): the state machine's payload limit is 256 KiB.
  const result = buildBatchResult({ ...batch, status, finishedAt, makespanMs }, tasks, {
    includeOutput: false,
    ...(budget ? { budget } : {}),
  });
  // The cost too, for the batch list (null: some attempt's price is unknown).
  await deps.store.updateBatch(batch.batchId, {
    status,
    finishedAt,
    makespanMs,
    taskCounts,
    ...(result.costUsd !== undefined ? { costUsd: result.costUsd } : {}),
    ...(result.usage !== undefined ? { usage: result.usage } : {}),
  });
  return result;
}
