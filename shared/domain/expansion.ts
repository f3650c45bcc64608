/**
 * Tasks that plan tasks (README "Workflow control"): the structured output of a task with `expands: true`,
 * `{ "tasks": [ <task spec>, ... ] }`, adds those tasks to its running batch. They are validated like a
 * submitted batch (the same schema and cross-task rules, with the batch's tasks around them) and against the
 * expansion limits; an expansion that fails any rule adds nothing and fails its task with the reason.
 */
import {
  MAX_EXPANSION_DEPTH,
  MAX_EXPANSION_TASKS_PER_BATCH,
  MAX_TASKS_PER_BATCH,
  MAX_TASKS_PER_EXPANSION,
} from './limits';
import type { Task, TaskStatus } from './schemas';
import { formatPath, validateBatch } from './validation';

/** Problems named in an expansion's refusal; the rest are counted. */
const MAX_LISTED_PROBLEMS = 10;

/** A task already in the batch, as an expansion sees it. */
export interface BatchMember {
  readonly task: Task;
  readonly status: TaskStatus;
}

/** What an expansion is checked against. */
export interface ExpansionScope {
  /** The expanding task's id: added tasks may depend on it (it has succeeded when they start). */
  readonly plannerId: string;
  /** The expanding task's own expansion depth (0 for a submitted task). */
  readonly plannerDepth: number;
  /** Every task in the batch now, the expanding task included. */
  readonly members: readonly BatchMember[];
  /** Tasks all earlier expansions of the batch added. */
  readonly addedSoFar: number;
  readonly knownRoles: ReadonlySet<string>;
}

export type ExpansionValidation = { ok: true; tasks: Task[] } | { ok: false; reason: string };

const FINISHED: ReadonlySet<TaskStatus> = new Set(['SUCCEEDED', 'FAILED', 'SKIPPED', 'CANCELLED']);

function refuse(problems: readonly string[]): ExpansionValidation {
  const listed = problems.slice(0, MAX_LISTED_PROBLEMS);
  const more = problems.length - listed.length;
  return {
    ok: false,
    reason: `expansion refused, nothing added: ${listed.join('; ')}${more > 0 ? `; and ${more} more` : ''}`,
  };
}

/**
 * Refusals of the limits of an expansion of `count` tasks, as `NAME (value)` sentences. The batch-wide limit
 * is checked again atomically when the tasks are registered (TaskStore.registerExpansion), against
 * expansions running at the same time.
 */
export function expansionLimitProblems(
  count: number,
  scope: Pick<ExpansionScope, 'plannerDepth' | 'addedSoFar'> & { batchSize: number },
): string[] {
  const problems: string[] = [];
  if (scope.plannerDepth + 1 > MAX_EXPANSION_DEPTH) {
    problems.push(
      `this task was added at expansion depth ${scope.plannerDepth}; its tasks would be at depth ${scope.plannerDepth + 1}, over MAX_EXPANSION_DEPTH (${MAX_EXPANSION_DEPTH})`,
    );
  }
  if (count > MAX_TASKS_PER_EXPANSION) {
    problems.push(
      `$.tasks: the output lists ${count} tasks; one expansion may add at most MAX_TASKS_PER_EXPANSION (${MAX_TASKS_PER_EXPANSION})`,
    );
  }
  if (scope.addedSoFar + count > MAX_EXPANSION_TASKS_PER_BATCH) {
    problems.push(
      `$.tasks: expansions of this batch added ${scope.addedSoFar} tasks; ${count} more would pass MAX_EXPANSION_TASKS_PER_BATCH (${MAX_EXPANSION_TASKS_PER_BATCH})`,
    );
  }
  if (scope.batchSize + count > MAX_TASKS_PER_BATCH) {
    problems.push(
      `$.tasks: the batch has ${scope.batchSize} tasks; ${count} more would pass MAX_TASKS_PER_BATCH (${MAX_TASKS_PER_BATCH})`,
    );
  }
  return problems;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Validates an expanding task's output. Besides the rules of a submitted batch: the ids are new to the
 * batch, and a dependency outside the expansion is the expanding task or a task that has finished (a task
 * still running could finish before the added task is registered as its dependent, and its release would
 * be lost; the expanding task's dependents wait for the added tasks, so they are never finished).
 */
export function validateExpansion(output: unknown, scope: ExpansionScope): ExpansionValidation {
  if (!isRecord(output) || !Array.isArray(output.tasks)) {
    return refuse([
      '$: the output of an expanding task must be a JSON object with a "tasks" list of task specs (the task format of a batch)',
    ]);
  }
  const rawTasks = output.tasks as unknown[];
  if (rawTasks.length === 0) return { ok: true, tasks: [] };
  const limits = expansionLimitProblems(rawTasks.length, {
    ...scope,
    batchSize: scope.members.length,
  });
  if (limits.length > 0) return refuse(limits);
  const validation = validateBatch({ tasks: rawTasks }, scope.knownRoles, {
    existing: scope.members.map((m) => m.task),
  });
  if (!validation.ok) return refuse(validation.issues.map((i) => `${i.path}: ${i.message}`));
  const status = new Map(scope.members.map((m) => [m.task.id, m.status]));
  const problems: string[] = [];
  validation.batch.tasks.forEach((task, index) => {
    (task.dependsOn ?? []).forEach((dep, position) => {
      const depStatus = status.get(dep);
      if (depStatus === undefined || dep === scope.plannerId || FINISHED.has(depStatus)) return;
      problems.push(
        `${formatPath(['tasks', index, 'dependsOn', position])}: "${dep}" has not finished (${depStatus}); an added task may depend only on tasks added with it, on the expanding task and on tasks that have finished`,
      );
    });
  });
  if (problems.length > 0) return refuse(problems);
  return { ok: true, tasks: validation.batch.tasks };
}
