/**
 * RecordAttempt (the Dispatch state's Catch): end the attempt as FAILED / TIMED_OUT, give the agent's slot
 * back, count the failure on the agent (circuit breaker), and say whether to route again.
 */
import { APPROVAL_REJECTED_ERROR, REVIEW_FAILED_ERROR, rejectedForGood } from '../domain/approvals';
import {
  type CredentialsMark,
  credentialsMarkKey,
  credentialsMarkOf,
  failsAgainAny,
  markedFailure,
  notRetriedReason,
  permanentFailuresOf,
  someConfigurationEscapes,
} from '../domain/permanent-failure';
import { circuitPolicy, leaseKey } from '../domain/pool';
import type { RoleCatalog } from '../domain/roles';
import { NON_RETRYABLE_ERRORS, type RecordAttemptInput, type RecordAttemptOutput } from '../domain/workflow';
import type { AgentRegistry, BudgetLedger, Callbacks, Clock, StoredTask, TaskStore } from '../ports';
import { recordApprovalTimeout } from './approval';
import { settleAttempt } from './budget';
import { isTerminal, readBatchAndTask, spentOf } from './common';
import { type HandOffConfig, releaseSlot } from './handoff';
import { someReviewerEscapesMarks } from './review';
import { rolesFor } from './route';

export interface RecordAttemptDeps {
  store: TaskStore;
  agents: AgentRegistry;
  clock: Clock;
  /** The role catalog, for per-role circuit settings (defaults when absent). */
  catalog?: RoleCatalog;
  /** Answers the token of a task parked for capacity after the release (see wakeAfterRelease). */
  callbacks?: Callbacks;
  /**
   * Capacity hand-off (handoff.ts), with `callbacks`: the failed attempt's slot goes to the
   * longest-waiting task parked for the role, as a successful one's does. Without it, a release only wakes one.
   */
  handOff?: HandOffConfig;
  /** Budget ledgers: the failed attempt settles what it held. */
  ledger?: BudgetLedger;
}

/** Step Functions error names that mean "the agent never answered in time". */
export const TIMEOUT_ERRORS: ReadonlySet<string> = new Set(['States.Timeout', 'States.HeartbeatTimeout']);

/** The answer for a task whose failure is not worth another attempt: `why` is its reason too. */
const notRetried = (why: string): RecordAttemptOutput => ({ retry: false, reason: why, failure: why });

/**
 * Writes `mark` unless a mark of the same key stands already: an attempt the worker ended because of that mark
 * (CredentialsMarkedError, no call made) neither extends it nor takes its name.
 */
async function markUnlessStanding(
  deps: Pick<RecordAttemptDeps, 'agents'>,
  mark: CredentialsMark,
  now: number,
): Promise<void> {
  const key = credentialsMarkKey(mark);
  const standing = await deps.agents.credentialsMarks(now);
  if (!standing.some((m) => credentialsMarkKey(m) === key)) await deps.agents.markCredentials(mark);
}

/** Ends a failed attempt once and answers whether the state machine should route the task again. */
export async function recordAttempt(
  deps: RecordAttemptDeps,
  input: RecordAttemptInput,
): Promise<RecordAttemptOutput> {
  const now = deps.clock.now();
  const { batch, task } = await readBatchAndTask(deps.store, input);
  const previous = task.attempts[input.attempt - 1];
  // A held output (approval.after) whose review timed out: a rejection by timeout, not the agent's timeout.
  const approvalTimeout =
    previous?.status === 'AWAITING_APPROVAL' && TIMEOUT_ERRORS.has(input.error.Error)
      ? await recordApprovalTimeout(deps, task)
      : undefined;
  const error =
    approvalTimeout?.reason ??
    (input.error.Cause ? `${input.error.Error}: ${input.error.Cause}` : input.error.Error);
  const timedOut = approvalTimeout === undefined && TIMEOUT_ERRORS.has(input.error.Error);
  const finished = await deps.store.finishAttempt(input.batchId, input.taskId, input.attempt, {
    status: timedOut ? 'TIMED_OUT' : 'FAILED',
    at: now,
    error,
  });
  // The budget's hold of the attempt: settled once (a repeated invocation is a no-op), at the usage the
  // worker recorded before failing its token, or, without any (it died, it timed out), at what it held.
  // A refused key is the fleet's: its configuration is marked for every task (Route then neither picks nor
  // spawns an agent with it, and fails at once a task that nothing else could take), before the slot goes
  // back, so the task it is handed to does not call with that key.
  const mark = credentialsMarkOf(
    previous?.permanent,
    { agentId: input.agentId, batchId: input.batchId, taskId: input.taskId },
    now,
  );
  await Promise.all([
    settleAttempt(deps.ledger, task, input.attempt),
    mark ? markUnlessStanding(deps, mark, now) : undefined,
  ]);
  // Only the call that ended the attempt counts it (a retried invocation must not release twice). A rejected
  // output is the agent's failure; a review nobody made in time, or no validator could make, is not (its slot
  // went back when it answered).
  const notItsFault = approvalTimeout !== undefined || input.error.Error === REVIEW_FAILED_ERROR;
  if (finished && !notItsFault) {
    const startedAt = previous?.startedAt ?? now;
    const workedUntil = previous?.status === 'AWAITING_APPROVAL' ? (previous.finishedAt ?? now) : now;
    const role = task.decision?.role ?? task.role;
    const outcome = {
      success: false,
      latencyMs: Math.max(0, workedUntil - startedAt),
      at: now,
      circuit: circuitPolicy(role === undefined ? undefined : deps.catalog?.get(role)?.defaults),
      // The worker recorded the usage of a failed attempt before failing its token.
      ...spentOf(previous ?? {}),
    };
    const slot = { leaseKey: leaseKey(input.batchId, input.taskId, input.attempt) };
    // The slot goes to the longest-waiting task parked for the role (unless the failure opened the agent's
    // circuit: then it is given back and that task routes elsewhere), as a success's does.
    await releaseSlot(deps, { agentId: input.agentId, role, ...slot, outcome });
  }
  if (batch.cancelRequested) return { retry: false, reason: 'batch cancelled' };
  if (isTerminal(task.status)) return { retry: false, reason: `task already ${task.status}` };
  // Another agent cannot fix these (an output over the size limit): the task fails now, with the error.
  if (NON_RETRYABLE_ERRORS.has(input.error.Error)) return notRetried(`not retried: ${error}`);
  // A rejection by timeout is nobody's: another attempt would redo the work only to wait as long again.
  if (approvalTimeout) return notRetried(`${error}; not retried: nobody decided on the output`);
  // A rejection of the output that asked for no retry (nobody could review it: `run` without a terminal): another
  // attempt would redo the work only to meet the same rejection.
  if (input.error.Error === APPROVAL_REJECTED_ERROR && rejectedForGood(task.approvals, input.attempt))
    return notRetried(`${error}; not retried: the rejection asked for no further attempt`);
  // A review no validator can make (every configuration of its role marked for a refused key): another attempt
  // would redo the work only to meet the same marks, so the task fails now, as one with nowhere to go does.
  if (
    input.error.Error === REVIEW_FAILED_ERROR &&
    deps.catalog &&
    !(await someReviewerEscapesMarks(
      { agents: deps.agents, catalog: deps.catalog },
      task,
      input.attempt,
      now,
    ))
  )
    return notRetried(error);
  // A failure its executor configuration will repeat (a bad key, an unknown model, an answer cut at the output
  // limit): routed again only when some agent could take the task with a configuration that differs in what
  // caused it (Route then chooses among those only); else it fails now instead of paying for the same failure.
  const permanent = previous?.permanent;
  if (permanent && !(await someAgentEscapes(deps, task, now))) {
    return notRetried(`${error}; ${notRetriedReason(permanent)}`);
  }
  if (task.attemptCount < task.maxAttempts) {
    await deps.store.setTaskStatus(input.batchId, input.taskId, 'READY');
    return { retry: true };
  }
  return { retry: false, reason: `failed after ${task.attemptCount} attempts; last error: ${error}` };
}

/**
 * Whether some agent that could take `task` (of its candidate roles, or one its role would spawn) has an executor
 * that escapes every permanent failure of its attempts so far and every credentials mark of the fleet.
 */
async function someAgentEscapes(
  deps: Pick<RecordAttemptDeps, 'agents' | 'catalog'>,
  task: StoredTask,
  now: number,
): Promise<boolean> {
  const decided = task.decision?.role ?? task.role;
  // The roles Route chooses among (rolesFor); without a catalog, the role the task was dispatched to.
  const { roleNames, spawnRole } = deps.catalog
    ? rolesFor(deps.catalog, task)
    : { roleNames: decided === undefined ? [] : [decided], spawnRole: undefined };
  const [marks, ...pools] = await Promise.all([
    deps.agents.credentialsMarks(now),
    ...roleNames.map((role) => deps.agents.list(role)),
  ]);
  const failures = [...permanentFailuresOf(task.attempts), ...marks.map(markedFailure)];
  // An agent the router would spawn for the task (its first role) gets the role's default executor.
  return someConfigurationEscapes(pools.flat(), spawnRole, (executor) => failsAgainAny(failures, executor));
}
