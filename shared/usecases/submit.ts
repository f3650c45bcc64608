/**
 * Submit: validate, claim the batch id, write the tasks, start the execution, in that order, so an existing
 * batch is never overwritten, a crash part-way leaves no running orphan, and the same request submitted
 * again finishes the job (see submitBatch).
 */
import { createHash } from 'node:crypto';
import { limitsOf } from '../domain/budget';
import { effectiveBudget } from '../domain/costs';
import {
  chainsAfter,
  dependentsOf,
  simulatedDurationEstimate,
  soleDependentRoles,
  topologicalOrder,
  workAhead,
} from '../domain/dag';
import { BATCH_CREATION_LEASE_MS, DEFAULT_MAX_ATTEMPTS } from '../domain/limits';
import { moreUrgent, readyUrgency } from '../domain/pool';
import type { RoleCatalog } from '../domain/roles';
import type { Batch, Budget } from '../domain/schemas';
import { assertValidBatch, parseBatchJson } from '../domain/validation';
import { type ExecutionInput, executionInput } from '../domain/workflow';
import type {
  BatchCreation,
  BudgetLedger,
  Clock,
  IdGenerator,
  Orchestrator,
  StoredBatch,
  StoredTask,
  TaskStore,
} from '../ports';
import { creationRetrySeconds, executionNameFor } from './common';
import { ConfigurationError, ConflictError } from './errors';

export interface SubmitDeps {
  store: TaskStore;
  orchestrator: Orchestrator;
  catalog: RoleCatalog;
  clock: Clock;
  ids: IdGenerator;
  /** The deployment's default budget (COSTS_CONFIG `budget`): fields a batch's own budget leaves out. */
  defaultBudget?: Budget;
  /** Where a batch with a budget keeps it (required for one). */
  ledger?: BudgetLedger;
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
  const chains = chainsAfter(batch.tasks);
  const work = workAhead(batch.tasks, simulatedDurationEstimate);
  const dependentRoles = soleDependentRoles(batch.tasks);
  return batch.tasks.map((task, index) => {
    const deps = new Set(task.dependsOn ?? []);
    const roles = dependentRoles.get(task.id);
    return {
      batchId,
      taskId: task.id,
      index,
      task,
      status: deps.size > 0 ? 'PENDING' : 'READY',
      pendingDeps: deps.size,
      failedDeps: 0,
      skippedDeps: 0,
      succeededDeps: 0,
      dependents: [...new Set(dependents.get(task.id) ?? [])],
      ...(roles ? { dependentRoles: roles } : {}),
      chainAfter: chains.get(task.id) ?? 0,
      workAheadMs: work.get(task.id) ?? 0,
      maxAttempts,
      attemptCount: 0,
      attempts: [],
      releasedBy: [],
    };
  });
}

/**
 * Execution input: task ids in topological order, the tasks ready at once first, the most urgent of them first
 * (domain/pool.ts readyUrgency); every task in flight at once. Where routes wait their turn (the embedded
 * runtime's LOCAL_ROUTE_CONCURRENCY) the Map's first iterations route first, so the critical path's first task
 * is dispatched first; on AWS every iteration starts at once and the order changes nothing.
 */
export function executionInputOf(batchId: string, tasks: readonly StoredTask[]): ExecutionInput {
  const byId = new Map(tasks.map((t) => [t.taskId, t]));
  const ids = new Set(byId.keys());
  // Only edges inside `tasks` count (a redrive runs a subset whose other dependencies already succeeded).
  const order = topologicalOrder(
    tasks.map((t) => ({ ...t.task, dependsOn: (t.task.dependsOn ?? []).filter((d) => ids.has(d)) })),
  );
  const items = order.map((taskId) => ({ taskId, hasDeps: (byId.get(taskId)?.pendingDeps ?? 0) > 0 }));
  // Each ready task's urgency computed once, not at every comparison of the sort.
  const ready = items
    .filter((item) => !item.hasDeps)
    .map((item) => ({ item, urgency: readyUrgency(byId.get(item.taskId)) }))
    .sort((a, b) => moreUrgent(a.urgency, b.urgency))
    .map(({ item }) => item);
  return executionInput(batchId, [...ready, ...items.filter((item) => item.hasDeps)]);
}

/**
 * Validates and starts a batch. Throws BatchValidationError (nothing persisted) or ConflictError.
 *
 * A batch id is written once. The batch item is claimed first, by a conditional put that carries the
 * request's hash and a creation claim (owner, expiry); only then are the tasks written, then marked
 * written, then the execution started and the claim removed with the execution ARN stored. So:
 * - a submission of an id that exists, other than the same request again, is a 409: nothing is written;
 * - the same request again (same body and Idempotency-Key, or both without one) finishes what a submit
 *   that died part-way left: after the claim expired, it takes the creation over, writes the tasks unless
 *   they were all written (an execution may be running on them then), and starts the execution by name
 *   (a second start of the same name is the first one);
 * - while the claim of a live submit holds, the same request again is a 409 with Retry-After;
 * - once the batch runs, the same request with an Idempotency-Key answers the batch (202, created false),
 *   without one a 409 like any other submission of a taken id.
 */
export async function submitBatch(deps: SubmitDeps, request: SubmitRequest): Promise<SubmitResult> {
  const batch = assertValidBatch(parseBatchJson(request.body), new Set(deps.catalog.keys()));
  const maxAttempts = batch.options?.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  const now = deps.clock.now();
  const requestHash = createHash('sha256').update(request.body).digest('hex');
  let batchId = batch.batchId ?? deps.ids.next('batch-');
  /** Whether this request claimed its Idempotency-Key (rather than finding it claimed by the same request). */
  let keyClaimed = false;

  if (request.idempotencyKey !== undefined) {
    const claim = await deps.store.claimIdempotencyKey(request.idempotencyKey, batchId, requestHash, now);
    keyClaimed = claim.claimed;
    if (!claim.claimed) {
      if (claim.requestHash !== undefined && claim.requestHash !== requestHash) {
        throw new ConflictError(
          `Idempotency-Key "${request.idempotencyKey}" was used for a different request (batch ${claim.batchId})`,
        );
      }
      // The same request again: its batch id (a generated one is not generated twice).
      batchId = claim.batchId;
    }
  }

  const budget = effectiveBudget(batch.options?.budget, deps.defaultBudget);
  if (budget && !deps.ledger) throw new ConfigurationError('a batch budget needs the budget ledger');
  const tasks = storedTasksOf(batchId, batch, maxAttempts);
  let creation: BatchCreation = { owner: deps.ids.next('submit-'), expiresAt: now + BATCH_CREATION_LEASE_MS };
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
    requestHash,
    ...(budget ? { budget } : {}),
    creation,
  };
  const claim = await deps.store.claimBatch(stored);
  if (!claim.claimed) {
    const existing = claim.existing;
    const sameRequest =
      existing.requestHash === requestHash && existing.idempotencyKey === request.idempotencyKey;
    if (!sameRequest) {
      // Refused: the key this request claimed names a batch it did not create. Left claimed, the corrected
      // request (another batchId, the same key) would be refused as "a different request" for that batch.
      if (keyClaimed && request.idempotencyKey !== undefined)
        await deps.store
          .releaseIdempotencyKey(request.idempotencyKey, batchId, requestHash)
          .catch(() => undefined); // the 409 is the answer; a key left claimed only refuses the next try
      throw new ConflictError(`batch "${batchId}" already exists; choose another batchId or omit it`);
    }
    if (existing.creation === undefined) {
      if (request.idempotencyKey !== undefined) return { batchId, created: false };
      throw new ConflictError(
        `batch "${batchId}" already exists (submitted with this same body); send an Idempotency-Key to make a submission safely repeatable`,
      );
    }
    if (existing.creation.expiresAt > now) {
      const seconds = creationRetrySeconds(existing.creation, now);
      throw new ConflictError(
        `batch "${batchId}" is still being created by an earlier submission of this request; retry in ${seconds} s`,
        seconds,
      );
    }
    // The submit that claimed it died part-way: take the creation over (one taker wins).
    const takeOver = { ...existing.creation, owner: creation.owner, expiresAt: creation.expiresAt };
    if (!(await deps.store.updateBatchCreation(batchId, existing.creation.owner, takeOver))) {
      throw new ConflictError(
        `batch "${batchId}" is being created by another submission of this request; retry in a moment`,
        1,
      );
    }
    creation = takeOver;
  }
  await finishCreation(deps, { ...stored, creation }, tasks);
  return { batchId, created: true };
}

/**
 * Writes the tasks (unless a previous owner wrote them all), marks them written, starts the execution and
 * removes the claim. A step whose claim was taken over meanwhile stops: the new owner does the rest. On a
 * failure the claim is released at once, so the request can be repeated without waiting for it to expire.
 */
async function finishCreation(deps: SubmitDeps, batch: StoredBatch, tasks: StoredTask[]): Promise<void> {
  const creation = batch.creation as BatchCreation;
  const { batchId } = batch;
  try {
    if (!creation.tasksWritten) {
      // The ledger before any task: a task can route as soon as the execution starts.
      if (batch.budget) await deps.ledger?.open(batchId, limitsOf(batch.budget));
      await deps.store.putTasks(tasks);
      const written = { ...creation, tasksWritten: true };
      if (!(await deps.store.updateBatchCreation(batchId, creation.owner, written))) return;
    }
    const { executionArn } = await deps.orchestrator.start(
      executionNameFor(batchId),
      executionInputOf(batchId, tasks),
    );
    await deps.store.updateBatchCreation(batchId, creation.owner, undefined, { executionArn });
  } catch (error) {
    const released = { ...creation, expiresAt: deps.clock.now() };
    await deps.store.updateBatchCreation(batchId, creation.owner, released).catch(() => false);
    throw error;
  }
}
