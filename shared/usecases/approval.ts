/**
 * Approval gates (README "Approvals"). Two halves around one task token, like the gate protocol:
 * - awaitApproval (the AwaitApproval / AwaitReview states, lambda .waitForTaskToken): the task goes to
 *   AWAITING_APPROVAL with the token on its item. For `after`, the same write ends the agent's work on the
 *   attempt (its output kept, the attempt AWAITING_APPROVAL) and the agent's slot is given back at once, so a
 *   waiting task holds no slot. Nothing polls: the state waits on its token until a decision or its timeout.
 * - decideApproval (POST /batches/{id}/tasks/{taskId}/approval, and a validator's verdict): claims the wait
 *   (one conditional write, so of two decisions one wins), records the decision (kept on the wait too until
 *   its answer arrived), then answers the token: success goes on (before: to Route; after: the output is
 *   accepted), a rejection fails the state with the reviewer's words (before: the task fails; after: the
 *   attempt fails and the task is routed again, the comment in the next attempt's context). A decision whose
 *   state stopped waiting meanwhile (timed out, cancelled) is taken back and refused, and so is one claimed
 *   while its batch is being cancelled. An answer that throws is tried again; past the tries the decision
 *   stays recorded, the caller hears 503, and the same decision sent again sends the answer again (a
 *   timeout of the wait first takes the decision back). An answer refused for a reason sending it again cannot
 *   cure (no permission to answer: CallbackRefusedError) is not tried again: the decision is taken back, the
 *   wait opened again for a decision, and the caller hears 502 with the cause.
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
import { APPROVAL_ANSWER_RETRY_DELAYS_MS } from '../domain/limits';
import { leaseKey } from '../domain/pool';
import type { ApprovalCaller, ApprovalRecord } from '../domain/schemas';
import type { ApprovalWaitInput } from '../domain/workflow';
import {
  type AgentRegistry,
  type ApprovalWait,
  CallbackRefusedError,
  type Callbacks,
  type Clock,
  type StoredTask,
  type TaskStore,
} from '../ports';
import { attemptEndOf, isTerminal, readBatchAndTask } from './common';
import { ConflictError, UnavailableError, UpstreamRefusedError } from './errors';
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
  /** Waits between tries of an answer that threw (APPROVAL_ANSWER_RETRY_DELAYS_MS); a timer by default. */
  sleep?: (ms: number) => Promise<void>;
}

export interface DecideApprovalRequest extends ApprovalDecision {
  batchId: string;
  taskId: string;
  /** `person` (the API), or the validator agent's id. */
  by?: string;
  /** Who sent a person's decision, as the API's authorisation established it (kept on the record). */
  caller?: ApprovalCaller;
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

const CANCEL_REQUESTED = (batchId: string, taskId: string) =>
  `batch "${batchId}" is being cancelled: the decision on task "${taskId}" is not recorded (the task ends CANCELLED)`;

/** How long a caller waits before sending again a decision whose answer could not be sent. */
const UNDELIVERED_RETRY_AFTER_SECONDS = 5;

/**
 * Decides a waiting approval. ConflictError (409) when the task is not waiting for one (with its status),
 * when another decision won, when its batch is being cancelled, or when the wait ended before this decision
 * reached it. UnavailableError (503) when the decision is recorded but its answer could not be sent (every try
 * threw): the same decision sent again sends it again (a repeat is idempotent), and a timeout of the wait
 * first takes the decision back.
 */
export async function decideApproval(
  deps: DecideApprovalDeps,
  request: DecideApprovalRequest,
): Promise<DecideApprovalResult> {
  const { batchId, taskId } = request;
  const { batch, task } = await readBatchAndTask(deps.store, request);
  const wait = task.approvalWait;
  if (task.status !== 'AWAITING_APPROVAL') {
    throw new ConflictError(
      `task "${taskId}" is not waiting for an approval (it is ${task.status}${isTerminal(task.status) ? '' : '; decide once it is AWAITING_APPROVAL'})`,
    );
  }
  if (batch.cancelRequested) throw new ConflictError(CANCEL_REQUESTED(batchId, taskId));
  // Still AWAITING_APPROVAL without its wait: a decision took it, and the task has not moved on yet.
  if (!wait) throw new ConflictError(DECIDED_MEANWHILE(taskId));
  if (wait.decided) return sendAgain(deps, request, wait, wait.decided);
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
  const record: ApprovalRecord = {
    stage: wait.stage,
    decision: request.decision,
    by: request.by ?? PERSON,
    ...(request.caller ? { caller: request.caller } : {}),
    ...(request.comment ? { comment: request.comment } : {}),
    ...(wait.attempt === undefined ? {} : { attempt: wait.attempt }),
    at: deps.clock.now(),
    ...(request.simulated ? { simulated: true } : {}),
    ...(request.decision === 'reject' && request.retry === false ? { retry: false as const } : {}),
    ...request.spent,
  };
  // The claim: one decision takes the wait, and is kept (durable) before the answer is sent.
  const index = await deps.store.appendApproval(batchId, taskId, record, wait.token);
  if (index === undefined) throw new ConflictError(DECIDED_MEANWHILE(taskId));
  // A cancel requested before the claim stops the execution: the decision must not stand beside CANCELLED.
  // One requested after it is later than the decision, which stands (its record is older than the cancel).
  if ((await deps.store.getBatchState(batchId))?.cancelRequested) {
    await takeBack(deps.store, { batchId, taskId, index, record, token: wait.token });
    throw new ConflictError(CANCEL_REQUESTED(batchId, taskId));
  }
  const sent = await answer(deps, wait, record);
  if (sent.outcome === 'gone' && !sent.afterError) {
    // The state stopped waiting first (its timeout, a cancel): the decision never took effect. (Nobody else
    // sends this answer now: a repeat sends again only once this call gave up, `undelivered`.)
    await takeBack(deps.store, { batchId, taskId, index, record, token: wait.token });
    throw new ConflictError(
      `the approval wait of task "${taskId}" ended before the decision reached it (timed out or cancelled)`,
    );
  }
  return settle(deps, request, wait, record, sent);
}
/**
 * A decision's answer to its waiting state: arrived, refused as the state no longer waits (gone), refused for a
 * reason sending again cannot cure (refused), or every try threw (failed).
 */
interface Answer {
  outcome: 'delivered' | 'gone' | 'refused' | 'failed';
  /** A try threw before this outcome: a refusal may then be of an earlier try's answer that did arrive. */
  afterError: boolean;
  error?: string;
}

/** Sends the decision's answer, trying again after APPROVAL_ANSWER_RETRY_DELAYS_MS when a try throws. */
async function answer(deps: DecideApprovalDeps, wait: ApprovalWait, record: ApprovalRecord): Promise<Answer> {
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  for (let tried = 0; ; tried++) {
    try {
      const arrived =
        record.decision === 'approve'
          ? await deps.callbacks.succeed(wait.token, { decision: 'approve', by: record.by })
          : await deps.callbacks.fail(
              wait.token,
              APPROVAL_REJECTED_ERROR,
              rejectionCause(record.stage, record.by, record.comment, record.attempt),
            );
      return { outcome: arrived ? 'delivered' : 'gone', afterError: tried > 0 };
    } catch (error) {
      if (error instanceof CallbackRefusedError)
        return { outcome: 'refused', afterError: tried > 0, error: error.message };
      const pause = APPROVAL_ANSWER_RETRY_DELAYS_MS[tried];
      if (pause === undefined)
        return {
          outcome: 'failed',
          afterError: true,
          error: error instanceof Error ? error.message : String(error),
        };
      await sleep(pause);
    }
  }
}

/**
 * After an answer was sent (or could not be): the wait ends once it arrived; one that could not be sent is
 * noted on the wait (a repeat of the decision sends it again) and the caller told to send the decision again.
 */
async function settle(
  deps: DecideApprovalDeps,
  request: DecideApprovalRequest,
  wait: ApprovalWait,
  record: ApprovalRecord,
  sent: Answer,
): Promise<DecideApprovalResult> {
  const { batchId, taskId } = request;
  if (sent.outcome === 'delivered') {
    await deps.store.endApprovalWait(batchId, taskId, wait.token);
    return { batchId, taskId, stage: record.stage, decision: record.decision, record };
  }
  if (sent.outcome === 'gone') {
    // Either an earlier try of this answer arrived (the task moves on, the decision stands) or the wait
    // timed out or was cancelled first (the timeout takes the decision back): the next state says which.
    throw new ConflictError(
      `the approval wait of task "${taskId}" ended: an earlier try of this decision reached it (the task moves on), or it timed out or was cancelled first (the decision is then taken back); read the task`,
    );
  }
  const error = sent.error ?? 'unknown error';
  if (sent.outcome === 'refused') return refused(deps, request, wait, record, error);
  await deps.store.markApprovalUndelivered(batchId, taskId, wait.token, { error, at: deps.clock.now() });
  throw new UnavailableError(
    `the ${record.decision} of task "${taskId}" is recorded, but its answer could not be sent to the waiting workflow (${error}); send the same decision again to send it (until then the task waits, at most until its deadline, when the decision is taken back)`,
    UNDELIVERED_RETRY_AFTER_SECONDS,
  );
}

/**
 * The waiting state's service refused the decision's answer for good (no permission to answer it, an answer it
 * does not accept): sending it again would be refused again, so the decision never takes effect. It is taken
 * back and the wait opened again (one write), so the task waits for a decision as before (once the cause is
 * fixed, a decision is sent again; else its timeout ends the wait), and the caller hears why (502).
 */
async function refused(
  deps: DecideApprovalDeps,
  request: DecideApprovalRequest,
  wait: ApprovalWait,
  record: ApprovalRecord,
  error: string,
): Promise<never> {
  const { batchId, taskId } = request;
  const task = await deps.store.getTask(batchId, taskId);
  const index = task ? indexOfRecord(task, record) : -1;
  // A wait written again meanwhile (its state retried with a new token) keeps waiting, without the record.
  if (index >= 0 && !(await deps.store.reopenApprovalWait(batchId, taskId, wait.token, { index, record })))
    await deps.store.retractApproval(batchId, taskId, index, record);
  throw new UpstreamRefusedError(
    `the ${record.decision} of task "${taskId}" is not recorded: the waiting workflow refused its answer (${error}), and sending it again cannot cure that; the task still waits for a decision (until its deadline): fix the cause (for AccessDenied, the API's permission to answer the workflow: states:SendTaskSuccess and states:SendTaskFailure), then decide again`,
  );
}

/**
 * A decision on a wait another decision took: the same decision sends the taken one's answer again, once the
 * call that took it could not send it (ApprovalWait.undelivered); a different one, or one while the first
 * call still sends, is refused.
 */
async function sendAgain(
  deps: DecideApprovalDeps,
  request: DecideApprovalRequest,
  wait: ApprovalWait,
  decided: ApprovalRecord,
): Promise<DecideApprovalResult> {
  const taken = `task "${request.taskId}" was decided (${decided.decision} by ${decided.by} at ${new Date(decided.at).toISOString()})`;
  const same =
    decided.decision === request.decision &&
    (request.attempt === undefined || decided.attempt === request.attempt);
  if (!same) {
    throw new ConflictError(
      `${taken}${wait.undelivered ? `; its answer could not be sent yet: send "${decided.decision}" again to send it` : ''}`,
    );
  }
  if (!wait.undelivered) throw new ConflictError(`${taken}; its answer is being sent: read it again`, 1);
  const sent = await answer(deps, wait, decided);
  return settle(deps, request, wait, decided, { ...sent, afterError: true });
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
  // A decision took the wait but its answer never arrived (the state timed out): it never took effect.
  await takeBackUndelivered(deps.store, task);
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

/**
 * Takes back the decision that took the task's wait when its waiting state stopped waiting without its answer
 * (the wait timed out; a validator's review failed): it never took effect. With `by`, only that reviewer's.
 */
export async function takeBackUndelivered(
  store: Pick<TaskStore, 'retractApproval' | 'endApprovalWait'>,
  task: StoredTask,
  by?: { by: string; attempt: number },
): Promise<boolean> {
  const wait = task.approvalWait;
  const decided = wait?.decided;
  if (!wait || !decided) return false;
  if (by !== undefined && (decided.by !== by.by || decided.attempt !== by.attempt)) return false;
  const index = indexOfRecord(task, decided);
  if (index < 0) return false;
  const { batchId, taskId } = task;
  return takeBack(store, { batchId, taskId, index, record: decided, token: wait.token });
}

/**
 * A task that ended (cancelled, interrupted) while its wait held a decision whose answer could not be sent
 * (ApprovalWait.undelivered: the call that took the wait gave up, 503): its state stopped waiting without it,
 * so it never took effect, and it is taken back; the ended task shows no decision. A decision whose answer is
 * still being sent is left to its call, which takes it back when the answer is refused.
 */
export async function takeBackOnEnd(
  store: Pick<TaskStore, 'retractApproval' | 'endApprovalWait'>,
  task: StoredTask,
): Promise<boolean> {
  return task.approvalWait?.undelivered === undefined ? false : takeBackUndelivered(store, task);
}

/** Where `record` is among the task's approvals (the last match: a record is its time, author and decision). */
const indexOfRecord = (task: StoredTask, record: ApprovalRecord): number =>
  (task.approvals ?? []).findLastIndex(
    (a) => a.at === record.at && a.by === record.by && a.decision === record.decision,
  );

/**
 * Removes a decision its waiting state never took, then the wait it took if still that token's: in two writes,
 * so a wait written again meanwhile (its state retried with a new token) keeps waiting, without the record.
 */
async function takeBack(
  store: Pick<TaskStore, 'retractApproval' | 'endApprovalWait'>,
  taken: { batchId: string; taskId: string; index: number; record: ApprovalRecord; token: string },
): Promise<boolean> {
  const { batchId, taskId } = taken;
  const retracted = await store.retractApproval(batchId, taskId, taken.index, taken.record);
  await store.endApprovalWait(batchId, taskId, taken.token);
  return retracted;
}
