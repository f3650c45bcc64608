/**
 * The context of an attempt (README "Passing work between tasks"): assembled in the worker when the attempt
 * starts, from the store, never carried through the state machine. One batch read of the tasks it takes work
 * from, then reads of stored outputs: whole only where a field or a JSON value is needed (each once, one at a
 * time), else the first bytes of each (an S3 range read) up to its share of the budget.
 */
import { rejectionsBefore, withRejections } from '../domain/approvals';
import {
  neededIds,
  planContext,
  type RenderedContext,
  readWhole,
  renderContext,
  type TaskWork,
  takesContext,
  type WholeRead,
  wholeReadsOf,
} from '../domain/context';
import { DEFAULT_CONTEXT_BUDGET_BYTES } from '../domain/limits';
import type { ApprovalRecord, ArtifactRef, Task } from '../domain/schemas';
import type { ArtifactStore, TaskStore } from '../ports';

export interface ContextDeps {
  store: Pick<TaskStore, 'getWork'>;
  artifacts: Pick<ArtifactStore, 'read' | 'readHead'>;
}

async function readAll(
  refs: readonly { ref: ArtifactRef; bytes?: number }[],
  read: (ref: ArtifactRef, bytes?: number) => Promise<Uint8Array>,
): Promise<Map<string, Uint8Array>> {
  const bodies = await Promise.all(
    refs.map(async (r) => [r.ref.location, await read(r.ref, r.bytes)] as const),
  );
  return new Map(bodies);
}

/** The task's context, or undefined when it takes no work from other tasks (then nothing is read). */
export async function assembleContext(
  deps: ContextDeps,
  batchId: string,
  task: Task,
  /** Work read already (the worker reads what its dispatch message names beside its claim). */
  prefetched: readonly TaskWork[] = [],
): Promise<RenderedContext | undefined> {
  if (!takesContext(task)) return undefined;
  const needed = neededIds(task);
  const wanted = new Set(needed);
  // Only the work this task's context takes: a hint that named others reads nothing more into it.
  const work = new Map<string, TaskWork>(
    prefetched.filter((w) => wanted.has(w.taskId)).map((w) => [w.taskId, w]),
  );
  const missing = needed.filter((id) => !work.has(id));
  if (missing.length > 0)
    for (const item of await deps.store.getWork(batchId, missing)) work.set(item.taskId, item);
  const budgetBytes = task.contextBudgetBytes ?? DEFAULT_CONTEXT_BUDGET_BYTES;
  // One at a time, each kept only for what the task takes of it (readWhole): at most one stored output read
  // whole (MAX_OUTPUT_BYTES, and its parsed value) is in memory at once, whatever the number of placeholders.
  const whole = new Map<string, WholeRead>();
  for (const ref of wholeReadsOf(task, work, budgetBytes))
    whole.set(ref.location, readWhole(task, work, budgetBytes, ref, await deps.artifacts.read(ref)));
  const plan = planContext({ batchId, task, budgetBytes, work, whole });
  const heads = await readAll(plan.reads, (ref, bytes) => deps.artifacts.readHead(ref, bytes ?? ref.bytes));
  return renderContext(task, plan, heads);
}

/**
 * What attempt `attempt` of `task` is given beside its own text: the work of the tasks it depends on
 * (assembleContext) with, after rejected outputs, what their reviewers said first (the prompt's section and the
 * task with its placeholders filled). The agent worker runs it; the budget's bound (domain/budget.ts
 * promptBytesBound) holds for what it renders.
 */
export async function attemptContext(
  deps: ContextDeps,
  batchId: string,
  task: Task,
  attempt: { number: number; approvals?: readonly ApprovalRecord[] | undefined },
  prefetched: readonly TaskWork[] = [],
): Promise<RenderedContext | undefined> {
  return withRejections(
    await assembleContext(deps, batchId, task, prefetched),
    task,
    rejectionsBefore(attempt.approvals, attempt.number),
  );
}
