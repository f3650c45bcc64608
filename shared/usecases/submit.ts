/**
 * Submit: validate, persist (tasks, then the batch item), then start the execution, in that order, so a
 * crash part-way leaves no running orphan and a retry with the same Idempotency-Key finishes the job.
 */
import { createHash } from 'node:crypto';
import { dependentsOf, topologicalOrder } from '../domain/dag';
import { DEFAULT_MAX_ATTEMPTS } from '../domain/limits';
import type { RoleCatalog } from '../domain/roles';
import type { Batch } from '../domain/schemas';
import { assertValidBatch, parseBatchJson } from '../domain/validation';
import { type ExecutionInput, executionInput } from '../domain/workflow';
import type { Clock, IdGenerator, Orchestrator, StoredBatch, StoredTask, TaskStore } from '../ports';
import { executionNameFor } from './common';
import { ConflictError } from './errors';

export interface SubmitDeps {
  store: TaskStore;
  orchestrator: Orchestrator;
  catalog: RoleCatalog;
  clock: Clock;
  ids: IdGenerator;
}

export interface SubmitRequest {
  /** The request body as received (JSON text). */
  body: string;
  idempotencyKey?: string;
}

export interface SubmitResult {
  batchId: string;
  /** false when an earlier request with the same Idempotency-Key already created it. */
  created: boolean;
}

/** Builds the stored task items of a validated batch: dependency counts for the gate protocol. */
export function storedTasksOf(batchId: string, batch: Batch, maxAttempts: number): StoredTask[] {
  const dependents = dependentsOf(batch.tasks);
  return batch.tasks.map((task, index) => {
    const deps = new Set(task.dependsOn ?? []);
    return {
      batchId,
      taskId: task.id,
      index,
      task,
      status: deps.size > 0 ? 'PENDING' : 'READY',
      pendingDeps: deps.size,
      failedDeps: 0,
      dependents: [...new Set(dependents.get(task.id) ?? [])],
      maxAttempts,
      attemptCount: 0,
      attempts: [],
      releasedBy: [],
    };
  });
}

/** Execution input: task ids in topological order; every task in flight at once. */
export function executionInputOf(batchId: string, tasks: readonly StoredTask[]): ExecutionInput {
  const byId = new Map(tasks.map((t) => [t.taskId, t]));
  const ids = new Set(byId.keys());
  // Only edges inside `tasks` count (a redrive runs a subset whose other dependencies already succeeded).
  const order = topologicalOrder(
    tasks.map((t) => ({ ...t.task, dependsOn: (t.task.dependsOn ?? []).filter((d) => ids.has(d)) })),
  );
  return executionInput(
    batchId,
    order.map((taskId) => ({ taskId, hasDeps: (byId.get(taskId)?.pendingDeps ?? 0) > 0 })),
  );
}

/** Validates and starts a batch. Throws BatchValidationError (nothing persisted) or ConflictError. */
export async function submitBatch(deps: SubmitDeps, request: SubmitRequest): Promise<SubmitResult> {
  const batch = assertValidBatch(parseBatchJson(request.body), new Set(deps.catalog.keys()));
  const now = deps.clock.now();
  let batchId = batch.batchId ?? deps.ids.next('batch-');

  if (request.idempotencyKey !== undefined) {
    const requestHash = createHash('sha256').update(request.body).digest('hex');
    const claim = await deps.store.claimIdempotencyKey(request.idempotencyKey, batchId, requestHash, now);
    if (!claim.claimed) {
      if (claim.requestHash !== undefined && claim.requestHash !== requestHash) {
        throw new ConflictError(
          `Idempotency-Key "${request.idempotencyKey}" was used for a different request (batch ${claim.batchId})`,
        );
      }
      batchId = claim.batchId;
      const existing = await deps.store.getBatch(batchId);
      if (existing?.executionArn !== undefined) return { batchId, created: false };
      if (existing) {
        // The first request stored everything but died before starting: start it now (once, by name).
        await start(deps, existing, await deps.store.listTasks(batchId));
        return { batchId, created: false };
      }
      // The first request died before writing the batch item: write it all again under its batch id.
    }
  } else if (batch.batchId !== undefined && (await deps.store.getBatch(batchId))) {
    throw new ConflictError(`batch "${batchId}" already exists; choose another batchId or omit it`);
  }

  const maxAttempts = batch.options?.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  const tasks = storedTasksOf(batchId, batch, maxAttempts);
  const stored: StoredBatch = {
    batchId,
    status: 'RUNNING',
    createdAt: now,
    startedAt: now,
    maxAttempts,
    failFast: batch.options?.failFast ?? false,
    taskIds: batch.tasks.map((t) => t.id),
    taskCount: batch.tasks.length,
    ...(request.idempotencyKey !== undefined ? { idempotencyKey: request.idempotencyKey } : {}),
    redriveCount: 0,
  };
  const created = await deps.store.createBatch(stored, tasks);
  if (!created.created && request.idempotencyKey === undefined) {
    throw new ConflictError(`batch "${batchId}" already exists; choose another batchId or omit it`);
  }
  await start(deps, stored, tasks);
  return { batchId, created: true };
}

async function start(deps: SubmitDeps, batch: StoredBatch, tasks: readonly StoredTask[]): Promise<void> {
  const { executionArn } = await deps.orchestrator.start(
    executionNameFor(batch.batchId),
    executionInputOf(batch.batchId, tasks),
  );
  await deps.store.updateBatch(batch.batchId, { executionArn });
}
