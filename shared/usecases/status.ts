import type { BatchResult } from '../domain/schemas';
import { NotFoundError, type TaskStore } from '../ports';
import { buildBatchResult } from './batch-result';

/** GET /batches/{id}: the result so far (current statuses while running). */
export async function getBatchStatus(deps: { store: TaskStore }, batchId: string): Promise<BatchResult> {
  const [batch, tasks] = await Promise.all([deps.store.getBatch(batchId), deps.store.listTasks(batchId)]);
  if (!batch) throw new NotFoundError('batch', batchId);
  return buildBatchResult(batch, tasks);
}
