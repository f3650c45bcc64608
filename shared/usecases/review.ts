/**
 * Validation by an agent (approval.after.by, README "Workflow control"): an agent of the validator role reviews
 * each attempt's output, and its verdict acts exactly like a person's decision (decideApproval).
 * - routeReview (RouteReview state): the first call holds the output and gives the attempt's agent its slot
 *   back (like AwaitReview); then the review is routed like a task of the validator role (scoring,
 *   reservation, spawn, circuit breakers; WAIT when every validator is busy). A validator whose review of this
 *   attempt gave no verdict is not asked again; after MAX_REVIEWS_PER_ATTEMPT such reviews the attempt fails.
 * - runReview (the validator's worker, DispatchReview's message): makes the review's token the task's approval
 *   wait, asks the executor for a verdict (VERDICT_SCHEMA), and decides through decideApproval; a review that
 *   gives no verdict fails its token.
 * - recordReviewFailure (RecordReview state): the review gave no verdict (an error, an answer that is none, a
 *   crash or a timeout): recorded on the task, the validator's slot given back and the failure counted on it.
 */
import { readSimulate } from '../adapters/executors/simulated';
import {
  failedReviewsOf,
  PENDING_REVIEW_TOKEN,
  quotedOutput,
  reviewerOf,
  reviewLeaseKey,
  reviewsSoFar,
  reviewTask,
  simulateReview,
  VERDICT_SCHEMA,
  type Verdict,
} from '../domain/approvals';
import { MAX_REVIEWS_PER_ATTEMPT } from '../domain/limits';
import { OutputSchemaError, outputMisfits } from '../domain/output-schema';
import {
  type CredentialsMark,
  markedFailure,
  markOn,
  notRetriedReason,
  someConfigurationEscapes,
} from '../domain/permanent-failure';
import { circuitPolicy } from '../domain/pool';
import { BASE_ROLE_DEFAULTS, renderPrompt } from '../domain/roles';
import { candidateRoles, extractRequirements } from '../domain/routing';
import type { ExecutorConfig } from '../domain/schemas';
import type {
  DispatchMessage,
  RecordReviewInput,
  RouteReviewInput,
  RouteReviewOutput,
} from '../domain/workflow';
import type { AgentRegistry, Callbacks, Clock, StoredTask, TaskStore } from '../ports';
import {
  type AgentWorkerDeps,
  CredentialsMarkedError,
  callsOf,
  keepAlive,
  markBeforeCall,
  spendOfCalls,
  type WorkerOutcome,
} from './agent-worker';
import { decideApproval, holdForDecision, NOT_WAITING_ERROR, takeBackUndelivered } from './approval';
import { effectiveHeartbeatSeconds, isTerminal, readBatchAndTask, spentOf } from './common';
import { ConfigurationError, ConflictError } from './errors';
import {
  clearWaitingMark,
  type ReserveRequest,
  type RouteDeps,
  reserveAgent,
  waitFor,
  wakeAfterRelease,
} from './route';

const MS_PER_SECOND = 1000;

/** The validator role of a task whose output an agent reviews; ConfigurationError for any other task. */
function validatorRoleOf(task: StoredTask): string {
  const reviewer = reviewerOf(task.task);
  if (reviewer.kind !== 'validator')
    throw new ConfigurationError(`task ${task.taskId} has no validator role (approval.after.by)`);
  return reviewer.role;
}

/** Routes the review of an attempt's output to an agent of the task's validator role (see the file comment). */
export async function routeReview(
  deps: RouteDeps & { callbacks: Callbacks },
  input: RouteReviewInput,
): Promise<RouteReviewOutput> {
  const { batch, task: read } = await readBatchAndTask(deps.store, input);
  if (batch.cancelRequested) return { decision: 'STOP', reason: 'batch cancelled' };
  if (isTerminal(read.status)) return { decision: 'STOP', reason: `task already ${read.status}` };
  const { attempt, agentId, result } = input.review;
  const roleName = validatorRoleOf(read);
  let task = read;
  const slot = task.attempts[attempt - 1];
  if (slot?.status === 'RUNNING') {
    // The output waits for its verdict holding no slot of its agent's role.
    const held = await holdForDecision(deps, task, {
      stage: 'after',
      token: PENDING_REVIEW_TOKEN,
      agentId,
      attempt,
      result,
    });
    if (!held) return { decision: 'FAIL', reason: `task ${task.taskId} no longer waits for this attempt` };
    task = held;
  } else if (slot?.status !== 'AWAITING_APPROVAL') {
    return {
      decision: 'FAIL',
      reason: `attempt ${attempt} is ${slot?.status ?? 'missing'}, not under review`,
    };
  }
  const failures = failedReviewsOf(task.reviewFailures, attempt);
  const last = failures[failures.length - 1];
  if (last && failures.length >= MAX_REVIEWS_PER_ATTEMPT) {
    return {
      decision: 'FAIL',
      reason: `no verdict on the output of attempt ${attempt} after ${failures.length} reviews by ${roleName} agents; last: ${last.error}`,
    };
  }
  const role = deps.catalog.get(roleName);
  if (!role) throw new ConfigurationError(`validator role "${roleName}" is not in the catalog`);
  const run = reviewsSoFar(task.approvals, task.reviewFailures) + 1;
  const review = reviewTask(task.task, roleName, attempt, '');
  const requirements = extractRequirements(review, deps.catalog);
  const now = deps.clock.now();
  const timeoutSeconds = role.defaults.timeoutSeconds;
  const lease = reviewLeaseKey(task.batchId, task.taskId, attempt, run);
  const dispatch = async (
    agentId: string,
    agentRole: string,
    executor: ExecutorConfig,
  ): Promise<RouteReviewOutput> => {
    const queueUrl = deps.roleQueueUrls[agentRole];
    if (!queueUrl)
      throw new ConfigurationError(`no queue configured for role "${agentRole}" (ROLE_QUEUE_URLS)`);
    return {
      decision: 'DISPATCH',
      agentId,
      role: agentRole,
      executor,
      queueUrl,
      run,
      startedAt: now,
      timeoutSeconds,
      heartbeatSeconds: effectiveHeartbeatSeconds(deps.heartbeatSeconds, timeoutSeconds),
    };
  };
  // A repeated invocation (a retried Lambda call) whose first run reserved already answers that reservation.
  const holder = (await deps.agents.list(roleName)).find((a) => a.leases?.[lease] !== undefined);
  if (holder) return dispatch(holder.agentId, holder.role, holder.executor ?? role.defaults.executor);
  const busy: NonNullable<ReserveRequest['busy']> = {};
  const reserved = await reserveAgent(deps, {
    task: review,
    taskId: task.taskId,
    requirements,
    roleNames: candidateRoles(requirements),
    spawnRole: role,
    exclude: new Set(failures.map((f) => f.by)),
    leaseKey: lease,
    timeoutSeconds: () => timeoutSeconds,
    now,
    busy,
  });
  // Every configuration a validator could have is marked for a refused key: the review fails now, as a task
  // does, rather than wait out the mark (RecordAttempt then ends the task: see someReviewerEscapesMarks).
  if (!reserved && busy.marked)
    return { decision: 'FAIL', reason: unreviewableReason(roleName, attempt, busy.marked) };
  if (!reserved) return waitFor(deps, task, roleName);
  await clearWaitingMark(deps, task);
  return dispatch(reserved.decision.agentId, reserved.decision.role, reserved.executor);
}

/** Why the output of `attempt` gets no review: `mark` leaves its validator role no configuration to go to. */
const unreviewableReason = (roleName: string, attempt: number, mark: CredentialsMark) =>
  `no ${roleName} agent can review the output of attempt ${attempt}: ${notRetriedReason(markedFailure(mark), mark)}`;

/**
 * Whether some configuration the review of `task`'s attempt `attempt` could go to (an agent of its validator's
 * candidate roles, or one the validator role would spawn) escapes the fleet's credentials marks: when none
 * does, a review that failed is not worth another attempt of the task (it would meet the same marks).
 */
export async function someReviewerEscapesMarks(
  deps: { agents: AgentRegistry; catalog: RouteDeps['catalog'] },
  task: StoredTask,
  attempt: number,
  now: number,
): Promise<boolean> {
  const reviewer = reviewerOf(task.task);
  if (reviewer.kind !== 'validator') return true;
  const marks = await deps.agents.credentialsMarks(now);
  if (marks.length === 0) return true;
  const roleNames = candidateRoles(
    extractRequirements(reviewTask(task.task, reviewer.role, attempt, ''), deps.catalog),
  );
  const pool = (await Promise.all(roleNames.map((r) => deps.agents.list(r)))).flat();
  return someConfigurationEscapes(
    pool,
    deps.catalog.get(reviewer.role),
    (executor) => markOn(marks, executor) !== undefined,
  );
}

export interface RecordReviewDeps {
  store: TaskStore;
  agents: AgentRegistry;
  clock: Clock;
  catalog?: RouteDeps['catalog'];
  callbacks?: Pick<Callbacks, 'succeed'>;
}

/** A review gave no verdict: recorded once, the validator's slot given back and the failure counted on it. */
export async function recordReviewFailure(deps: RecordReviewDeps, input: RecordReviewInput): Promise<void> {
  const now = deps.clock.now();
  const { reviewer } = input;
  const error = input.error.Cause ? `${input.error.Error}: ${input.error.Cause}` : input.error.Error;
  const appended = await deps.store.appendReviewFailure(
    input.batchId,
    input.taskId,
    { attempt: reviewer.attempt, by: reviewer.agentId, error, at: now },
    reviewer.run,
  );
  // A verdict this review recorded but whose answer never arrived (its token failed) did not take effect
  // (taken back by a repeated RecordReview too: the first may have stopped in between).
  const task = await deps.store.getTask(input.batchId, input.taskId);
  if (task) await takeBackUndelivered(deps.store, task, { by: reviewer.agentId, attempt: reviewer.attempt });
  if (!appended) return;
  const agent = await deps.agents.recordOutcome(
    reviewer.agentId,
    {
      success: false,
      latencyMs: Math.max(0, now - reviewer.startedAt),
      at: now,
      circuit: circuitPolicy(deps.catalog?.get(reviewer.role)?.defaults),
    },
    { leaseKey: reviewLeaseKey(input.batchId, input.taskId, reviewer.attempt, reviewer.run) },
  );
  const callbacks = deps.callbacks;
  if (callbacks)
    await wakeAfterRelease({ agents: deps.agents, callbacks, clock: deps.clock }, agent).catch(() => false);
}

/** The output under review as text (the held output, or the head of its artifact), cut for the prompt. */
async function outputUnderReview(
  deps: Pick<AgentWorkerDeps, 'artifacts'>,
  task: StoredTask,
): Promise<string> {
  if (task.outputRef) {
    const head = await deps.artifacts.readHead(task.outputRef, REVIEW_HEAD_BYTES);
    return quotedOutput(new TextDecoder().decode(head), task.outputRef.bytes);
  }
  if (task.output === undefined) return '(the attempt gave no output)';
  const text = typeof task.output === 'string' ? task.output : JSON.stringify(task.output, null, 2);
  return quotedOutput(text, new TextEncoder().encode(text).length);
}

/** Bytes of a stored output read for a review: enough for REVIEW_OUTPUT_MAX_CHARS of any UTF-8 text. */
const REVIEW_HEAD_BYTES = 4 * 48_000;

/**
 * The validator's worker: one review of one attempt's output (see the file comment). Never throws for the
 * executor's failure or an answer that is no verdict: it fails the review's token with the reason.
 */
export async function runReview(
  deps: AgentWorkerDeps,
  message: DispatchMessage & { review: { run: number } },
): Promise<WorkerOutcome> {
  const { batchId, taskId, agentId, attempt, taskToken } = message;
  const run = message.review.run;
  const task = await deps.store.getTask(batchId, taskId);
  const roleName = message.role;
  const role = roleName === undefined ? undefined : deps.catalog.get(roleName);
  const startedAt = deps.clock.now();
  const timeoutSeconds = role?.defaults.timeoutSeconds ?? BASE_ROLE_DEFAULTS.timeoutSeconds;
  // The review's token becomes the task's approval wait: the verdict answers it like a person's decision.
  const waiting =
    task && role && !isTerminal(task.status)
      ? await deps.store.awaitApproval(batchId, taskId, {
          stage: 'after',
          token: taskToken,
          since: startedAt,
          timeoutSeconds,
          reviewer: role.name,
          attempt,
        })
      : undefined;
  if (!task || !role || !waiting) {
    const reason = role
      ? `task ${taskId} no longer waits for a review`
      : `role "${roleName}" is not in the catalog`;
    await deps.callbacks.fail(taskToken, NOT_WAITING_ERROR, reason);
    return { kind: 'failed', error: reason };
  }
  const executor = message.executor ?? role.defaults.executor;
  const lease = reviewLeaseKey(batchId, taskId, attempt, run);
  const alive = keepAlive(deps, {
    taskToken,
    agentId,
    leaseKey: lease,
    timeoutSeconds,
    dispatchedAt: message.dispatchedAt,
  });
  try {
    // Only the simulated executor reads a review's input (a prompt shows the input: a model must not see it).
    const simulate =
      executor.name === 'simulated'
        ? simulateReview(readSimulate(task.task.input).verdicts?.[run - 1])
        : undefined;
    // A mark written since the review was dispatched ends it as the task's worker ends an attempt: no call.
    const [underReview, mark] = await Promise.all([
      outputUnderReview(deps, waiting),
      markBeforeCall(deps, executor),
    ]);
    if (mark) throw new CredentialsMarkedError(executor, mark);
    const review = reviewTask(task.task, role.name, attempt, underReview, simulate);
    const requirements = extractRequirements(review, deps.catalog);
    const outcome = await deps.executorFor(executor).execute(
      {
        batchId,
        taskId,
        agentId,
        role: role.name,
        attempt: 1,
        task: review,
        requirements,
        prompt: renderPrompt(role, review, requirements, ''),
        executor,
        timeoutMs: timeoutSeconds * MS_PER_SECOND,
      },
      alive.signal,
    );
    const misfits =
      outcome.output === undefined ? ['there is no output'] : outputMisfits(VERDICT_SCHEMA, outcome.output);
    if (misfits.length > 0) throw new OutputSchemaError(misfits);
    const verdict = outcome.output as Verdict;
    const spent = spendOfCalls(deps, executor, callsOf(outcome));
    try {
      await decideApproval(deps, {
        batchId,
        taskId,
        decision: verdict.accept ? 'approve' : 'reject',
        ...(verdict.comments ? { comment: verdict.comments } : {}),
        by: agentId,
        attempt,
        ...(outcome.simulated ? { simulated: true } : {}),
        spent,
      });
    } catch (error) {
      // A person decided first, or the wait ended: this verdict is not needed.
      if (!(error instanceof ConflictError)) throw error;
      await deps.agents.release(agentId, deps.clock.now(), lease);
      return { kind: 'aborted', reason: error.message };
    }
    const finishedAt = deps.clock.now();
    const agent = await deps.agents.recordOutcome(
      agentId,
      {
        success: true,
        latencyMs: finishedAt - startedAt,
        at: finishedAt,
        circuit: circuitPolicy(role.defaults),
        ...spentOf(spent),
      },
      { leaseKey: lease },
    );
    await wakeAfterRelease(deps, agent).catch(() => false);
    return { kind: 'succeeded', durationMs: finishedAt - startedAt };
  } catch (error) {
    const outcome = await alive.failed(error);
    // Nobody waits for this review any more (cancelled, timed out): its slot goes back now. A review that
    // failed its token is recorded by RecordReview, which gives the slot back with the failure counted.
    if (outcome.kind === 'aborted') await deps.agents.release(agentId, deps.clock.now(), lease);
    return outcome;
  } finally {
    alive.stop();
  }
}
