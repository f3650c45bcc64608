/**
 * Approval gates (README "Approvals"). Two halves around one task token, like the gate protocol:
 * - awaitApproval (the AwaitApproval / AwaitReview states, lambda .waitForTaskToken): the task goes to
 *   AWAITING_APPROVAL with the token on its item. For `after`, the same write ends the agent's work on the
 *   attempt (its output kept, the attempt AWAITING_APPROVAL) and the agent's slot is given back at once, so a
 *   waiting task holds no slot. Nothing polls: the state waits on its token until a decision or its timeout.
 * - decideApproval (POST /batches/{id}/tasks/{taskId}/approval, and a validator's verdict): claims the wait
 *   (one conditional write, so of two decisions one wins), records the decision, then answers the token:
 *   success goes on (before: to Route; after: the output is accepted), a rejection fails the state with the
 *   reviewer's words (before: the task fails; after: the attempt fails and the task is routed again, the
 *   comment in the next attempt's context). A decision whose state stopped waiting meanwhile (timed out,
 *   cancelled) is taken back and refused.
 */
import {
  APPROVAL_REJECTED_ERROR,
  APPROVAL_TIMEOUT_BY,
  type ApprovalDecision,
  type ApprovalStage,
  approvalTimeoutSeconds,
  PENDING_REVIEW_TOKEN,
  PERSON,
  rejectionCause,
  reviewerOf,
  timeoutComment,
} from '../domain/approvals';
import { leaseKey } from '../domain/pool';
import type { ApprovalRecord } from '../domain/schemas';
import type { ApprovalWaitInput } from '../domain/workflow';
import {
  type AgentRegistry,
  type ApprovalWait,
  type Callbacks,
  type Clock,
  NotFoundError,
  type StoredTask,
  type TaskStore,
} from '../ports';
import { attemptEndOf, isTerminal, readBatchAndTask } from './common';
import { ConflictError } from './errors';
import { wakeAfterRelease } from './route';

export interface AwaitApprovalDeps {
  store: TaskStore;
  agents: AgentRegistry;
  callbacks: Callbacks;
  clock: Clock;
}

/** What the waiting state's answer says when the task cannot wait (it ended, the batch was cancelled). */
export const NOT_WAITING_ERROR = 'TaskNotWaiting';

/**
 * Puts the task in AWAITING_APPROVAL with the state's token. `waiting: false` when it cannot wait (the task
 * ended or the attempt is no longer running): then the token is answered at once, with success for `before`
 * (Route then STOPs the ended task) and a failure for `after` (the attempt ends like any failed one).
 */
export async function awaitApproval(
  deps: AwaitApprovalDeps,
  input: ApprovalWaitInput,
): Promise<{ waiting: boolean }> {
  const { batch, task } = await readBatchAndTask(deps.store, input);
  const waiting = batch.cancelRequested
    ? undefined
    : await holdForDecision(deps, task, { ...input, token: input.taskToken });
  if (!waiting) {
    if (input.stage === 'before') await deps.callbacks.succeed(input.taskToken, { waiting: false });
    else
      await deps.callbacks.fail(
        input.taskToken,
        NOT_WAITING_ERROR,
        batch.cancelRequested ? 'batch cancelled' : `task ${input.taskId} no longer waits for this attempt`,
      );
    return { waiting: false };
  }
  return { waiting: true };
}

/**
 * Puts the task in AWAITING_APPROVAL, its wait answered through `token`. For `after`, the same write holds
 * the attempt's output (the worker's answer, `result`) and the agent's slot is given back. Answers the task as
 * written, or undefined when it cannot wait (it ended, or the attempt is no longer running).
 */
export async function holdForDecision(
  deps: AwaitApprovalDeps,
  task: StoredTask,
  input: Omit<ApprovalWaitInput, 'taskToken' | 'batchId' | 'taskId'> & { token: string },
): Promise<StoredTask | undefined> {
  const now = deps.clock.now();
  const reviewer = reviewerOf(task.task);
  const wait = {
    stage: input.stage,
    token: input.token,
    since: now,
    timeoutSeconds: approvalTimeoutSeconds(task.task),
    reviewer: reviewer.kind === 'validator' ? reviewer.role : PERSON,
    ...(input.attempt === undefined ? {} : { attempt: input.attempt }),
  };
  const result = input.result;
  const held =
    input.stage === 'after' && input.attempt !== undefined && result !== undefined
      ? attemptEndOf(result, input.attempt, result.finishedAt ?? now)
      : undefined;
  const waiting = await deps.store.awaitApproval(task.batchId, task.taskId, wait, held);
  if (waiting && held && input.agentId !== undefined)
    await giveSlotBack(deps, waiting, input.agentId, held.number, now);
  return waiting;
}

/**
 * The agent's work on a held attempt is done: its slot goes back now (the decision may take hours), and a
 * task parked for the role is woken. The agent's metrics are counted when the output is decided (Complete on
 * approval, RecordAttempt on rejection), as one outcome.
 */
async function giveSlotBack(
  deps: AwaitApprovalDeps,
  task: StoredTask,
  agentId: string,
  attempt: number,
  now: number,
): Promise<void> {
  await deps.agents.release(agentId, now, leaseKey(task.batchId, task.taskId, attempt));
  const agent = await deps.agents.get(agentId);
  await wakeAfterRelease(deps, agent).catch(() => false);
}

export interface DecideApprovalDeps {
  store: TaskStore;
  callbacks: Callbacks;
  clock: Clock;
}

export interface DecideApprovalRequest extends ApprovalDecision {
  batchId: string;
  taskId: string;
  /** `person` (the API), or the validator agent's id. */
  by?: string;
  /** A validator's verdict is for one attempt's output; a late verdict for an earlier attempt is refused. */
  attempt?: number;
  /** A validator's verdict made by the simulated executor (kept on the record, shown as simulated). */
  simulated?: boolean;
  /** What a validator's review used (kept on the record, counted in the task's totals). */
  spent?: Pick<ApprovalRecord, 'usage' | 'costUsd'>;
}

export interface DecideApprovalResult {
  batchId: string;
  taskId: string;
  stage: ApprovalStage;
  decision: ApprovalDecision['decision'];
  record: ApprovalRecord;
}

const DECIDED_MEANWHILE = (taskId: string) =>
  `task "${taskId}" was decided meanwhile (or its wait ended); read it again`;

/**
 * Decides a waiting approval. ConflictError (409) when the task is not waiting for one (with its status),
 * when another decision won, or when the wait ended before this decision reached it.
 */
export async function decideApproval(
  deps: DecideApprovalDeps,
  request: DecideApprovalRequest,
): Promise<DecideApprovalResult> {
  const { batchId, taskId } = request;
  const task = await deps.store.getTask(batchId, taskId);
  if (!task) throw new NotFoundError('task', `${batchId}/${taskId}`);
  const wait = task.approvalWait;
  if (task.status !== 'AWAITING_APPROVAL') {
    throw new ConflictError(
      `task "${taskId}" is not waiting for an approval (it is ${task.status}${isTerminal(task.status) ? '' : '; decide once it is AWAITING_APPROVAL'})`,
    );
  }
  // Still AWAITING_APPROVAL without its wait: a decision took it, and the task has not moved on yet.
  if (!wait) throw new ConflictError(DECIDED_MEANWHILE(taskId));
  if (wait.token === PENDING_REVIEW_TOKEN) {
    // No state waits on this token yet (the review is routed, or parked until a validator is free): an
    // answer to it would go nowhere, and the held output would lose its wait.
    throw new ConflictError(
      `the output of attempt ${wait.attempt ?? '?'} of task "${taskId}" waits for an agent of the validator role "${wait.reviewer}" to take its review (every one is busy); decide once the review has started, or leave it to the validator`,
    );
  }
  if (request.attempt !== undefined && wait.attempt !== request.attempt) {
    throw new ConflictError(
      `task "${taskId}" waits for the review of attempt ${wait.attempt ?? '?'}, not of attempt ${request.attempt}`,
    );
  }
  const by = request.by ?? PERSON;
  const record: ApprovalRecord = {
    stage: wait.stage,
    decision: request.decision,
    by,
    ...(request.comment ? { comment: request.comment } : {}),
    ...(wait.attempt === undefined ? {} : { attempt: wait.attempt }),
    at: deps.clock.now(),
    ...(request.simulated ? { simulated: true } : {}),
    ...(request.decision === 'reject' && request.retry === false ? { retry: false as const } : {}),
    ...request.spent,
  };
  const index = await deps.store.appendApproval(batchId, taskId, record, wait.token);
  if (index === undefined) throw new ConflictError(DECIDED_MEANWHILE(taskId));
  const answered =
    request.decision === 'approve'
      ? await deps.callbacks.succeed(wait.token, { decision: 'approve', by })
      : await deps.callbacks.fail(
          wait.token,
          APPROVAL_REJECTED_ERROR,
          rejectionCause(wait.stage, by, request.comment, wait.attempt),
        );
  if (!answered) {
    // The state stopped waiting first (its timeout, a cancel): the decision never took effect.
    await deps.store.retractApproval(batchId, taskId, index, record);
    throw new ConflictError(
      `the approval wait of task "${taskId}" ended before the decision reached it (timed out or cancelled)`,
    );
  }
  return { batchId, taskId, stage: wait.stage, decision: request.decision, record };
}

/**
 * The wait of a task still AWAITING_APPROVAL whose wait a decision took just as the wait timed out: that
 * decision's answer is refused (the state stopped waiting) and it is taken back, so the timeout is what
 * ends the wait. Without this, the timeout read as the agent's (its attempt TIMED_OUT, counted against it).
 */
function claimedWait(task: StoredTask): Pick<ApprovalWait, 'stage' | 'timeoutSeconds' | 'attempt'> {
  const held = task.attempts.findLastIndex((a) => a.status === 'AWAITING_APPROVAL');
  return held < 0
    ? { stage: 'before', timeoutSeconds: approvalTimeoutSeconds(task.task) }
    : { stage: 'after', timeoutSeconds: approvalTimeoutSeconds(task.task), attempt: held + 1 };
}

/**
 * When a waiting state's timeout fired (States.Timeout caught): records the rejection by timeout and says
 * why, or undefined when the task was not waiting for an approval (the timeout was its agent's).
 */
export async function recordApprovalTimeout(
  deps: { store: TaskStore; clock: Clock },
  task: StoredTask,
): Promise<{ reason: string; stage: ApprovalStage } | undefined> {
  if (task.status !== 'AWAITING_APPROVAL') return undefined;
  const wait = task.approvalWait ?? claimedWait(task);
  const comment = timeoutComment(wait.timeoutSeconds);
  await deps.store.appendApproval(task.batchId, task.taskId, {
    stage: wait.stage,
    decision: 'reject',
    by: APPROVAL_TIMEOUT_BY,
    comment,
    ...(wait.attempt === undefined ? {} : { attempt: wait.attempt }),
    at: deps.clock.now(),
  });
  return {
    stage: wait.stage,
    reason: `ApprovalTimeout: ${rejectionCause(wait.stage, APPROVAL_TIMEOUT_BY, comment, wait.attempt)}`,
  };
}
