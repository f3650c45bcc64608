import type { BatchResult } from '../domain/schemas';
import { type BudgetLedger, NotFoundError, type TaskStore } from '../ports';
import { buildBatchResult } from './batch-result';
import { budgetStateFor } from './budget';

/** GET /batches/{id}: the result so far (current statuses while running). */
export async function getBatchStatus(
  deps: { store: TaskStore; ledger?: BudgetLedger },
  batchId: string,
): Promise<BatchResult> {
  const [batch, tasks] = await Promise.all([deps.store.getBatch(batchId), deps.store.listTasks(batchId)]);
  if (!batch) throw new NotFoundError('batch', batchId);
  const budget = await budgetStateFor(deps.ledger, batch);
  return buildBatchResult(batch, tasks, budget ? { budget } : {});
}
