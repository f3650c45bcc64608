/**
 * Retention of finished batches: keep the newest `keep` finished batches, delete the older finished ones
 * whole (batch and task items, subscriptions, idempotency key, stored outputs). A running batch is never
 * deleted and does not count. `meta-agent serve` runs it on a schedule (DEFAULT_KEPT_FINISHED_BATCHES).
 */
import { MAX_BATCH_PAGE_SIZE } from '../domain/limits';
import type { BatchStatus } from '../domain/schemas';
import type { ArtifactStore, TaskStore } from '../ports';

export interface RetentionDeps {
  readonly store: TaskStore;
  readonly artifacts: ArtifactStore;
}

/** Statuses of a batch that has ended; any other (RUNNING) is left alone. */
const FINISHED: ReadonlySet<BatchStatus> = new Set(['SUCCEEDED', 'PARTIAL', 'FAILED', 'CANCELLED']);

/**
 * Deletes the finished batches beyond the newest `keep` (by creation time), the oldest first, and answers
 * their ids in that order: a pass that stops part-way (an error, the process ending) has deleted the oldest,
 * never a newer one while an older one stays. Each deletion is conditional on the status listed: a batch
 * redriven meanwhile is kept.
 */
export async function pruneFinishedBatches(deps: RetentionDeps, keep: number): Promise<string[]> {
  const excess: { batchId: string; status: BatchStatus }[] = [];
  let finished = 0;
  let cursor: string | undefined;
  do {
    const page = await deps.store.listBatches({
      limit: MAX_BATCH_PAGE_SIZE,
      ...(cursor !== undefined ? { cursor } : {}),
    });
    for (const batch of page.batches) {
      if (!FINISHED.has(batch.status)) continue;
      finished++;
      if (finished > keep) excess.push({ batchId: batch.batchId, status: batch.status });
    }
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  const deleted: string[] = [];
  // The listing is newest first.
  for (const { batchId, status } of excess.reverse()) {
    if (!(await deps.store.deleteFinishedBatch(batchId, status))) continue;
    await deps.artifacts.deleteBatchOutputs(batchId);
    deleted.push(batchId);
  }
  return deleted;
}
