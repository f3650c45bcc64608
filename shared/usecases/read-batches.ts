/**
 * Reading batches as the dashboard does: the list of batches (GET /batches) and one task in full
 * (GET /batches/{id}/tasks/{taskId}).
 */

import { simulatedDuration } from '../domain/dag';
import { DEFAULT_BATCH_PAGE_SIZE } from '../domain/limits';
import {
  type BatchDecisions,
  type BatchGraph,
  type BatchList,
  type BatchSummary,
  GRAPH_DESCRIPTION_CHARS,
  type TaskDetail,
} from '../domain/schemas';
import { type BatchListing, InvalidCursorError, NotFoundError, type TaskStore } from '../ports';
import { tallyOf, taskResult } from './batch-result';
import { RequestValidationError } from './errors';

/** A page of batches, newest first. */
export interface BatchPageRequest {
  readonly limit?: number;
  readonly cursor?: string;
}

/**
 * GET /batches: newest first, with each batch's progress. A finished batch's progress was stored by
 * Finalize; a running batch's is counted from its task items (one query each, statuses only).
 */
export async function listBatches(deps: { store: TaskStore }, request: BatchPageRequest): Promise<BatchList> {
  let page: Awaited<ReturnType<TaskStore['listBatches']>>;
  try {
    page = await deps.store.listBatches({
      limit: request.limit ?? DEFAULT_BATCH_PAGE_SIZE,
      ...(request.cursor !== undefined ? { cursor: request.cursor } : {}),
    });
  } catch (error) {
    if (error instanceof InvalidCursorError) {
      throw new RequestValidationError([{ path: '$.query.cursor', message: error.message }]);
    }
    throw error;
  }
  const batches = await Promise.all(page.batches.map((listing) => summaryOf(deps.store, listing)));
  return { batches, ...(page.nextCursor !== undefined ? { nextCursor: page.nextCursor } : {}) };
}

async function summaryOf(store: TaskStore, listing: BatchListing): Promise<BatchSummary> {
  const counts =
    listing.status !== 'RUNNING' && listing.taskCounts !== undefined
      ? listing.taskCounts
      : await store.countTaskStatuses(listing.batchId);
  return {
    batchId: listing.batchId,
    status: listing.status,
    createdAt: listing.createdAt,
    startedAt: listing.startedAt,
    ...(listing.finishedAt !== undefined ? { finishedAt: listing.finishedAt } : {}),
    ...(listing.makespanMs !== undefined ? { makespanMs: listing.makespanMs } : {}),
    tasks: tallyOf(counts, listing.taskCount),
    ...(listing.costUsd !== undefined ? { costUsd: listing.costUsd } : {}),
  };
}

/**
 * GET /batches/{id}/tasks/{taskId}: the task as submitted, its result, attempts with durations, the tasks
 * that depend on it and the routing decision of its latest attempt (404 for an unknown batch or task).
 */
export async function getTaskDetail(
  deps: { store: TaskStore },
  batchId: string,
  taskId: string,
): Promise<TaskDetail> {
  const task = await deps.store.getTask(batchId, taskId);
  if (!task) {
    // Say which one is missing: a wrong batch id is a different mistake from a wrong task id.
    if (!(await deps.store.getBatchState(batchId))) throw new NotFoundError('batch', batchId);
    throw new NotFoundError('task', `${batchId}/${taskId}`);
  }
  const result = taskResult(task, true);
  return {
    ...result,
    batchId,
    spec: task.task,
    dependents: task.dependents,
    attempts: result.attempts.map((attempt) => ({
      ...attempt,
      ...(attempt.finishedAt !== undefined
        ? { durationMs: Math.max(0, attempt.finishedAt - attempt.startedAt) }
        : {}),
    })),
    ...(task.decision !== undefined ? { decision: task.decision } : {}),
  };
}

/** GET /batches/{id}/graph: every task's dependencies as submitted (404 for an unknown batch). */
export async function getBatchGraph(deps: { store: TaskStore }, batchId: string): Promise<BatchGraph> {
  const [batch, tasks] = await Promise.all([
    deps.store.getBatchState(batchId),
    deps.store.listTasks(batchId),
  ]);
  if (!batch) throw new NotFoundError('batch', batchId);
  return {
    batchId,
    tasks: tasks.map(({ task }) => {
      const simulated = simulatedDuration(task);
      return {
        id: task.id,
        dependsOn: task.dependsOn ?? [],
        ...(task.priority !== undefined ? { priority: task.priority } : {}),
        ...(task.role !== undefined ? { role: task.role } : {}),
        description: task.description.slice(0, GRAPH_DESCRIPTION_CHARS),
        ...(simulated !== undefined ? { simulatedDurationMs: simulated } : {}),
      };
    }),
  };
}

/**
 * GET /batches/{id}/decisions: every task's latest routing decision with its description and explicit
 * role, in submission order (what `meta-agent replay` re-scores). 404 for an unknown batch.
 */
export async function getBatchDecisions(
  deps: { store: TaskStore },
  batchId: string,
): Promise<BatchDecisions> {
  const [batch, tasks] = await Promise.all([deps.store.getBatch(batchId), deps.store.listTasks(batchId)]);
  if (!batch) throw new NotFoundError('batch', batchId);
  const byId = new Map(tasks.map((t) => [t.taskId, t]));
  const decisions = batch.taskIds.flatMap((taskId) => {
    const task = byId.get(taskId);
    if (!task) return [];
    return [
      {
        taskId,
        description: task.task.description,
        ...(task.task.role !== undefined ? { role: task.task.role } : {}),
        ...(task.task.requirements !== undefined ? { requirements: task.task.requirements } : {}),
        status: task.status,
        ...(task.decision !== undefined ? { decision: task.decision } : {}),
      },
    ];
  });
  return { batchId, status: batch.status, decisions };
}
