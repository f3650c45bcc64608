/**
 * ExpansionFailed (README "Tasks that plan tasks"): RunExpansion could not start its nested execution, or the
 * nested execution failed, so the tasks the expansion added would never run and the planner's dependents (whose
 * pendingDeps count them) would wait forever. Every added task that has not finished FAILS here, through
 * Complete like any failed task: its dependents are released (each pair counted once by the store) and their
 * trigger rules decide whether they run or are skipped. Safe to repeat: a finished task stays as it is.
 */
import { EXPANSION_FAILED_ERROR, type ExpansionFailedInput } from '../domain/workflow';
import type { StoredTask } from '../ports';
import { isTerminal } from './common';
import { type CompleteDeps, completeTask, describeStateError } from './complete';

export interface ExpansionFailureResult {
  /** The added tasks this call failed (those not finished before). */
  failed: string[];
  reason: string;
}

/**
 * The reason the added tasks fail with. A nested execution that failed is reported (States.TaskFailed) with
 * its summary as the Cause: its own Error and Cause say what went wrong, not the summary.
 */
export function expansionFailureReason(error: ExpansionFailedInput['expansionError']): string {
  let described = describeStateError(error);
  try {
    const nested = JSON.parse(error.Cause ?? '') as { Error?: unknown; Cause?: unknown };
    if (typeof nested.Error === 'string')
      described = `${error.Error}: ${describeStateError({
        Error: nested.Error,
        Cause: typeof nested.Cause === 'string' ? nested.Cause : undefined,
      })}`;
  } catch {
    // Not a nested execution's summary: the error as caught.
  }
  return `the expansion's nested execution failed: ${described}`;
}

/**
 * The tasks `plannerId`'s expansion added, and those added in turn by them (a nested expansion's tasks run in
 * an execution the failed one started, so they would not run either).
 */
function addedUnder(plannerId: string, members: readonly StoredTask[]): StoredTask[] {
  const under = new Set([plannerId]);
  const found: StoredTask[] = [];
  for (let grew = true; grew; ) {
    grew = false;
    for (const t of members)
      if (t.addedBy !== undefined && under.has(t.addedBy) && !under.has(t.taskId)) {
        under.add(t.taskId);
        found.push(t);
        grew = true;
      }
  }
  return found;
}

/** Fails every unfinished task `input.taskId`'s expansion added, releasing their dependents. */
export async function failExpansion(
  deps: CompleteDeps,
  input: ExpansionFailedInput,
): Promise<ExpansionFailureResult> {
  const reason = expansionFailureReason(input.expansionError);
  const members = await deps.store.listTasks(input.batchId);
  const unfinished = addedUnder(input.taskId, members).filter((t) => !isTerminal(t.status));
  const results = await Promise.all(
    unfinished.map(async (t) => {
      const result = await completeTask(deps, {
        batchId: input.batchId,
        taskId: t.taskId,
        outcome: 'FAILED',
        error: { Error: EXPANSION_FAILED_ERROR, Cause: reason },
      });
      return result.transitioned ? [t.taskId] : [];
    }),
  );
  return { failed: results.flat(), reason };
}
