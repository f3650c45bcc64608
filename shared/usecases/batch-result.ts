import type { BatchResult, BatchStatus, TaskResult } from '../domain/schemas';
import type { StoredBatch, StoredTask } from '../ports';

/**
 * The public result of a batch (API GET /batches/{id}, Finalize, CLI --json): tasks in submission order,
 * each with its attempts. `includeOutput: false` keeps a Finalize result small (state payloads are capped).
 */
export function buildBatchResult(
  batch: StoredBatch,
  tasks: readonly StoredTask[],
  options: { includeOutput?: boolean } = {},
): BatchResult {
  const byId = new Map(tasks.map((t) => [t.taskId, t]));
  const ordered = batch.taskIds.flatMap((id) => {
    const task = byId.get(id);
    return task ? [task] : [];
  });
  return {
    batchId: batch.batchId,
    status: batch.status,
    startedAt: batch.startedAt,
    ...(batch.finishedAt !== undefined ? { finishedAt: batch.finishedAt } : {}),
    ...(batch.makespanMs !== undefined ? { makespanMs: batch.makespanMs } : {}),
    tasks: ordered.map((task) => taskResult(task, options.includeOutput ?? true)),
  };
}

function taskResult(task: StoredTask, includeOutput: boolean): TaskResult {
  return {
    id: task.taskId,
    status: task.status,
    ...(task.role !== undefined ? { role: task.role } : {}),
    ...(task.agentId !== undefined ? { agentId: task.agentId } : {}),
    ...(task.startedAt !== undefined ? { startedAt: task.startedAt } : {}),
    ...(task.finishedAt !== undefined ? { finishedAt: task.finishedAt } : {}),
    attempts: task.attempts,
    ...(includeOutput && task.output !== undefined ? { output: task.output } : {}),
    ...(task.reason !== undefined ? { reason: task.reason } : {}),
  };
}

/** SUCCEEDED when every task succeeded, PARTIAL when some did, FAILED when none; CANCELLED on request. */
export function decideBatchStatus(batch: StoredBatch, tasks: readonly StoredTask[]): BatchStatus {
  if (batch.cancelRequested) return 'CANCELLED';
  const succeeded = tasks.filter((t) => t.status === 'SUCCEEDED').length;
  if (succeeded === tasks.length) return 'SUCCEEDED';
  return succeeded > 0 ? 'PARTIAL' : 'FAILED';
}
