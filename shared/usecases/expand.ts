/**
 * Expansion (README "Workflow control"): the Complete of an expanding task's successful attempt adds the tasks
 * its output lists to the running batch, before the task's own status is written. In order, each step safe
 * to repeat (a retried Complete redoes them):
 * 1. validate the output against the batch (domain/expansion.ts); a refusal fails the task, adding nothing;
 * 2. register the ids on the batch item (one conditional write: the batch-wide limits hold under concurrent
 *    expansions, and the report lists the added tasks);
 * 3. write the added task items, their gate counters counting only dependencies inside the expansion
 *    (dependencies outside it have finished: their outcome is counted at once);
 * 4. make every dependent of the expanding task wait for all the added tasks: its pendingDeps is raised by
 *    their number in one atomic write while the expanding task itself is still pending for it, so its gate
 *    cannot open in between, and each added task releases it as one of its dependencies.
 * Then Complete writes SUCCEEDED and releases the dependents as usual; the state machine runs the added tasks
 * in a nested execution (RunExpansion).
 */
import {
  chainsAfter,
  simulatedDurationEstimate,
  soleDependentRoles,
  topologicalOrder,
  workAhead,
} from '../domain/dag';
import { expansionLimitProblems, validateExpansion } from '../domain/expansion';
import { taskItemIssues } from '../domain/item-size';
import {
  MAX_ADDED_DEPENDENCIES_PER_TASK,
  MAX_EXPANSION_TASKS_PER_BATCH,
  MAX_TASKS_PER_BATCH,
} from '../domain/limits';
import type { RoleCatalog } from '../domain/roles';
import type { Task } from '../domain/schemas';
import { type DependencyOutcome, releaseDelta } from '../domain/trigger';
import type { DispatchResult, ExpansionRun } from '../domain/workflow';
import {
  type ArtifactStore,
  type Clock,
  NotFoundError,
  type StoredBatch,
  type StoredTask,
  type TaskStore,
} from '../ports';
import { isTerminal } from './common';
import { ConfigurationError } from './errors';

export interface ExpandDeps {
  store: TaskStore;
  clock: Clock;
  /** The known roles (an added task's role must be one). */
  catalog?: RoleCatalog;
  /** Where an output larger than the task item is kept (read when the plan is one). */
  artifacts?: ArtifactStore;
}

export type ExpansionOutcome =
  | { kind: 'none' }
  | { kind: 'refused'; reason: string }
  | { kind: 'added'; tasks: StoredTask[] };

/** The expanding task's output: inline in the worker's answer, or read from its artifact. */
async function planOf(deps: ExpandDeps, result: DispatchResult): Promise<unknown> {
  if (result.outputRef === undefined) return result.output;
  if (!deps.artifacts) throw new ConfigurationError('reading a stored plan needs the artifacts store');
  const bytes = await deps.artifacts.read(result.outputRef);
  return JSON.parse(new TextDecoder('utf-8').decode(bytes)) as unknown;
}

/**
 * Applies the expansion of `plannerId`'s successful attempt (`result`), before its status is written. A task
 * that is terminal already (a repeated Complete) answers the tasks it added, if any.
 */
export async function expandTask(
  deps: ExpandDeps,
  batchId: string,
  plannerId: string,
  result: DispatchResult,
): Promise<ExpansionOutcome> {
  const [batch, members] = await Promise.all([deps.store.getBatch(batchId), deps.store.listTasks(batchId)]);
  if (!batch) throw new NotFoundError('batch', batchId);
  const planner = members.find((t) => t.taskId === plannerId);
  if (!planner) throw new NotFoundError('task', `${batchId}/${plannerId}`);
  if (isTerminal(planner.status)) {
    const added = new Set(planner.expandedTasks ?? []);
    const tasks = members.filter((t) => added.has(t.taskId));
    return tasks.length > 0 ? { kind: 'added', tasks } : { kind: 'none' };
  }
  // A repeated Complete finds its own tasks registered (and maybe written): they are not the batch's others.
  const repeated = batch.expandedBy?.includes(plannerId) ?? false;
  const others = members.filter((t) => t.addedBy !== plannerId);
  const validation = validateExpansion(await planOf(deps, result), {
    plannerId,
    plannerDepth: planner.expansionDepth ?? 0,
    members: others.map((t) => ({ task: t.task, status: t.status })),
    addedSoFar: repeated ? 0 : (batch.expansionTasks ?? 0),
    knownRoles: new Set(deps.catalog?.keys() ?? []),
  });
  if (!validation.ok) return { kind: 'refused', reason: validation.reason };
  if (validation.tasks.length === 0) return { kind: 'none' };

  const ids = validation.tasks.map((t) => t.id);
  // An added task whose item could pass DynamoDB's 400 KB at its worst is refused like a submitted one.
  const tooLarge = [
    ...taskItemIssues(addedTasks(planner, validation.tasks, others, batch)).map(
      (issue) => `${issue.path}: ${issue.message}`,
    ),
    ...crowdedDependents(planner, others, ids.length),
  ];
  if (tooLarge.length > 0) {
    return { kind: 'refused', reason: `expansion refused, nothing added: ${tooLarge.join('; ')}` };
  }
  let registered: StoredBatch = batch;
  if (!repeated) {
    const registration = await deps.store.registerExpansion(batchId, plannerId, ids, {
      maxExpansionTasks: MAX_EXPANSION_TASKS_PER_BATCH,
      maxTasks: MAX_TASKS_PER_BATCH,
    });
    registered = registration.batch;
    if (!registration.registered && !(registered.expandedBy ?? []).includes(plannerId)) {
      // Another expansion of the batch took an id or the room meanwhile.
      const taken = new Set(registered.taskIds);
      const duplicates = validation.tasks.flatMap((t, i) =>
        taken.has(t.id)
          ? [
              `$.tasks[${i}].id: duplicate task id "${t.id}": another expansion added a task with that id meanwhile; give every task a unique id`,
            ]
          : [],
      );
      const problems = [
        ...duplicates,
        ...expansionLimitProblems(ids.length, {
          plannerDepth: planner.expansionDepth ?? 0,
          addedSoFar: registered.expansionTasks ?? 0,
          batchSize: registered.taskCount ?? registered.taskIds.length,
        }),
      ];
      return { kind: 'refused', reason: `expansion refused, nothing added: ${problems.join('; ')}` };
    }
  }
  const tasks = addedTasks(planner, validation.tasks, others, registered);
  await deps.store.putTasks(tasks);
  await Promise.all(
    [...new Set(planner.dependents)].map((d) => deps.store.addDependencies(batchId, d, ids, plannerId)),
  );
  await cancelIfCancelling(deps, batchId, tasks);
  return { kind: 'added', tasks };
}

/**
 * The expanding task's dependents that would wait for more than MAX_ADDED_DEPENDENCIES_PER_TASK added tasks with
 * `count` more (the item of each reserves room for that many, domain/item-size.ts), each as a sentence.
 */
function crowdedDependents(planner: StoredTask, others: readonly StoredTask[], count: number): string[] {
  const added = new Set(others.filter((t) => t.addedBy !== undefined).map((t) => t.taskId));
  const byId = new Map(others.map((t) => [t.taskId, t]));
  return [...new Set(planner.dependents)].flatMap((id) => {
    const already = (byId.get(id)?.task.dependsOn ?? []).filter((dep) => added.has(dep)).length;
    if (already + count <= MAX_ADDED_DEPENDENCIES_PER_TASK) return [];
    return [
      `task "${id}" depends on "${planner.taskId}" and already waits for ${already} tasks added by expansions; ` +
        `these ${count} would make ${already + count}, and at most ${MAX_ADDED_DEPENDENCIES_PER_TASK} fit in its item: add fewer tasks`,
    ];
  });
}

/**
 * A cancel running at the same time as the expansion: cancel flags the batch, then lists its tasks to cancel
 * them. Read after the tasks were written, the flag is either unset (then the cancel's list, which comes after
 * its flag, holds the added tasks) or set (then the added tasks are cancelled here), so none is left pending.
 */
async function cancelIfCancelling(deps: ExpandDeps, batchId: string, tasks: readonly StoredTask[]) {
  const state = await deps.store.getBatchState(batchId);
  if (!state?.cancelRequested) return;
  const reason = state.cancelReason ?? 'cancelled by request';
  const at = deps.clock.now();
  await Promise.all(
    tasks.map((t) => deps.store.setTaskStatus(batchId, t.taskId, 'CANCELLED', { reason, at })),
  );
}

/**
 * The task items of an expansion. A dependency inside the expansion is pending; one outside it (the
 * expanding task, which is succeeding, or a finished task) is counted with its outcome at once. Every added
 * task has the expanding task's dependents among its own.
 */
export function addedTasks(
  planner: StoredTask,
  specs: readonly Task[],
  others: readonly StoredTask[],
  batch: Pick<StoredBatch, 'taskIds' | 'maxAttempts'>,
): StoredTask[] {
  const inside = new Set(specs.map((t) => t.id));
  const statusOf = new Map(others.map((t) => [t.taskId, t.status]));
  const position = new Map(batch.taskIds.map((id, i) => [id, i]));
  const dependents = new Map<string, string[]>();
  for (const spec of specs)
    for (const dep of spec.dependsOn ?? [])
      if (inside.has(dep)) dependents.set(dep, [...(dependents.get(dep) ?? []), spec.id]);
  // Every added task leads to the expanding task's dependents too: its chain inside, then theirs.
  const chains = chainsAfter(specs);
  const work = workAhead(specs, simulatedDurationEstimate);
  // The work ahead of the expanding task's dependents: its own, less its own estimate.
  const workAfterPlanner =
    planner.workAheadMs === undefined
      ? undefined
      : Math.max(0, planner.workAheadMs - simulatedDurationEstimate(planner.task));
  // Only dependents inside the expansion: the expanding task's dependents wait for every added task.
  const dependentRoles = soleDependentRoles(specs);
  return specs.map((task, i) => {
    const roles = dependentRoles.get(task.id);
    const counts = { pendingDeps: 0, failedDeps: 0, skippedDeps: 0, succeededDeps: 0 };
    for (const dep of new Set(task.dependsOn ?? [])) {
      if (inside.has(dep)) {
        counts.pendingDeps += 1;
        continue;
      }
      const outcome = (dep === planner.taskId ? 'SUCCEEDED' : statusOf.get(dep)) as DependencyOutcome;
      const delta = releaseDelta(outcome);
      counts.failedDeps += delta.failedDeps;
      counts.skippedDeps += delta.skippedDeps;
      counts.succeededDeps += delta.succeededDeps;
    }
    return {
      batchId: planner.batchId,
      taskId: task.id,
      index: position.get(task.id) ?? batch.taskIds.length + i,
      task,
      status: counts.pendingDeps > 0 ? 'PENDING' : 'READY',
      ...counts,
      dependents: [...new Set([...(dependents.get(task.id) ?? []), ...planner.dependents])],
      ...(roles ? { dependentRoles: roles } : {}),
      chainAfter: (chains.get(task.id) ?? 0) + (planner.chainAfter ?? 0),
      ...(workAfterPlanner === undefined ? {} : { workAheadMs: (work.get(task.id) ?? 0) + workAfterPlanner }),
      maxAttempts: batch.maxAttempts,
      attemptCount: 0,
      attempts: [],
      releasedBy: [],
      addedBy: planner.taskId,
      expansionDepth: (planner.expansionDepth ?? 0) + 1,
    };
  });
}

/**
 * The nested execution's Map items: the added tasks in dependency order. A task with any dependency passes
 * its Gate, even when all of them have finished already: the gate applies its trigger rule to their outcomes.
 */
export function expansionRun(tasks: readonly StoredTask[]): ExpansionRun {
  const ids = new Set(tasks.map((t) => t.taskId));
  const byId = new Map(tasks.map((t) => [t.taskId, t]));
  const order = topologicalOrder(
    tasks.map((t) => ({ ...t.task, dependsOn: (t.task.dependsOn ?? []).filter((d) => ids.has(d)) })),
  );
  const items = order.map((taskId) => ({
    taskId,
    hasDeps: (byId.get(taskId)?.task.dependsOn ?? []).length > 0,
  }));
  return { items, concurrency: items.length };
}
