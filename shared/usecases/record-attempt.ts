/**
 * RecordAttempt (the Dispatch state's Catch): end the attempt as FAILED / TIMED_OUT, give the agent's slot
 * back, count the failure on the agent (circuit breaker), and say whether to route again.
 */
import { circuitPolicy, leaseKey } from '../domain/pool';
import type { RoleCatalog } from '../domain/roles';
import { NON_RETRYABLE_ERRORS, type RecordAttemptInput, type RecordAttemptOutput } from '../domain/workflow';
import { type AgentRegistry, type Callbacks, type Clock, NotFoundError, type TaskStore } from '../ports';
import { isTerminal, spentOf } from './common';
import { wakeAfterRelease } from './route';

export interface RecordAttemptDeps {
  store: TaskStore;
  agents: AgentRegistry;
  clock: Clock;
  /** The role catalog, for per-role circuit settings (defaults when absent). */
  catalog?: RoleCatalog;
  /** Answers the token of a task parked for capacity after the release (see wakeAfterRelease). */
  callbacks?: Pick<Callbacks, 'succeed'>;
}

/** Step Functions error names that mean "the agent never answered in time". */
export const TIMEOUT_ERRORS: ReadonlySet<string> = new Set(['States.Timeout', 'States.HeartbeatTimeout']);

/** Ends a failed attempt once and answers whether the state machine should route the task again. */
export async function recordAttempt(
  deps: RecordAttemptDeps,
  input: RecordAttemptInput,
): Promise<RecordAttemptOutput> {
  const now = deps.clock.now();
  const error = input.error.Cause ? `${input.error.Error}: ${input.error.Cause}` : input.error.Error;
  const timedOut = TIMEOUT_ERRORS.has(input.error.Error);
  const finished = await deps.store.finishAttempt(input.batchId, input.taskId, input.attempt, {
    status: timedOut ? 'TIMED_OUT' : 'FAILED',
    at: now,
    error,
  });
  const [batch, task] = await Promise.all([
    deps.store.getBatchState(input.batchId),
    deps.store.getTask(input.batchId, input.taskId),
  ]);
  if (!batch) throw new NotFoundError('batch', input.batchId);
  if (!task) throw new NotFoundError('task', `${input.batchId}/${input.taskId}`);
  // Only the call that ended the attempt counts it (a retried invocation must not release twice).
  if (finished) {
    const ended = task.attempts[input.attempt - 1];
    const startedAt = ended?.startedAt ?? now;
    const role = task.decision?.role ?? task.role;
    const agent = await deps.agents.recordOutcome(
      input.agentId,
      {
        success: false,
        latencyMs: now - startedAt,
        at: now,
        circuit: circuitPolicy(role === undefined ? undefined : deps.catalog?.get(role)?.defaults),
        // The worker recorded the usage of a failed attempt before failing its token.
        ...spentOf(ended ?? {}),
      },
      { leaseKey: leaseKey(input.batchId, input.taskId, input.attempt) },
    );
    const callbacks = deps.callbacks;
    if (callbacks)
      await wakeAfterRelease({ agents: deps.agents, callbacks, clock: deps.clock }, agent).catch(() => false);
  }
  if (batch.cancelRequested) return { retry: false, reason: 'batch cancelled' };
  if (isTerminal(task.status)) return { retry: false, reason: `task already ${task.status}` };
  // Another agent cannot fix these (an output over the size limit): the task fails now, with the error.
  if (NON_RETRYABLE_ERRORS.has(input.error.Error)) return { retry: false, reason: `not retried: ${error}` };
  if (task.attemptCount < task.maxAttempts) {
    await deps.store.setTaskStatus(input.batchId, input.taskId, 'READY');
    return { retry: true };
  }
  return { retry: false, reason: `failed after ${task.attemptCount} attempts; last error: ${error}` };
}
