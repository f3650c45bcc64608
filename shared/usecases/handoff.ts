/**
 * Capacity hand-off: the end of an attempt gives its slot straight to the longest-waiting task parked for the
 * agent's role, instead of freeing it for whoever routes next. The slot's lease passes from the finished
 * attempt to the parked task's next attempt in one conditional write (`reserved` never moves, so no router
 * sees a free slot in between and no race is lost), the attempt is started with its routing decision as
 * Route would, and the DISPATCH is the answer to the task's WaitForCapacity token: a woken task never routes
 * again nor races for the slot.
 *
 * Order of the writes, each conditional, and what a crash between two of them leaves:
 * 1. take the parked token (exactly one release takes it): the task's wait times out and it routes again;
 * 2. count the outcome (no release): the finished attempt's lease stays held until the scaler reclaims it;
 * 3. transfer the lease: held under the parked task's next attempt until the scaler reclaims it (a Route of
 *    that task meanwhile cannot reserve the same key on this agent a second time, see reserve);
 * 4. start the attempt (startDispatch, as Route): the task's own Route, after its wait's timeout, finds the
 *    running attempt and dispatches it;
 * 5. answer the token with the DISPATCH.
 * Whenever the parked task cannot take this slot (cancelled, approval before dispatch, the agent excluded
 * for it or not a candidate, its budget says wait, the lease moved), the slot is released as before and the
 * task is woken to route itself: its Route decides, so every rule Route keeps holds for the hand-off too.
 */
import { needsApprovalBefore } from '../domain/approvals';
import { leaseExpiry, leaseKey } from '../domain/pool';
import { decideRoute, extractRequirements } from '../domain/routing';
import type { Agent, RoutingDecision, TaskStatus } from '../domain/schemas';
import { WOKEN } from '../domain/workflow';
import type { AgentRegistry, BatchState, Callbacks, StoredTask, WaitingClaim } from '../ports';
import { holdAttempt, releaseHold } from './budget';
import { isTerminal } from './common';
import {
  hintsOf,
  type RouteDeps,
  runningAttempt,
  startDispatch,
  taskOfWaitingKey,
  timeoutFor,
  wakeParked,
} from './route';

/** What a hand-off needs besides Complete's own deps: what Route needs to dispatch. */
export type HandOffDeps = RouteDeps & { callbacks: Callbacks };

/** The end of a successful attempt on `agentId` (of role `role`), whose slot is held under `leaseKey`. */
export interface FinishedAttempt {
  agentId: string;
  role: string;
  leaseKey: string;
  outcome: Parameters<AgentRegistry['recordOutcome']>[1];
}

/**
 * Counts the attempt's outcome on its agent and gives its slot to the longest-waiting task parked for the
 * role (see the file's comment), or, with nobody parked, back to the agent. Answers the agent after the
 * outcome (undefined when it is gone). Best effort beyond the outcome: a hand-off that fails midway leaves
 * the parked task to its wait's timeout and the slot to its lease.
 */
export async function releaseToParked(
  deps: HandOffDeps,
  finished: FinishedAttempt,
): Promise<Agent | undefined> {
  const { agents } = deps;
  const hints = hintsOf(deps);
  const now = deps.clock.now();
  const plainRelease = () =>
    agents.recordOutcome(finished.agentId, finished.outcome, { leaseKey: finished.leaseKey });
  if (hints.nobodyParked(finished.role, now)) return plainRelease();
  const parked = await claimLive(deps, finished.role, now);
  if (parked === undefined) return plainRelease();
  const ref = taskOfWaitingKey(parked.key);
  const [agent, batch, task] = await Promise.all([
    agents.recordOutcome(finished.agentId, finished.outcome),
    ref ? deps.store.getBatchState(ref.batchId) : undefined,
    ref ? deps.store.getTask(ref.batchId, ref.taskId) : undefined,
  ]);
  const handed =
    agent && batch && task
      ? await handOff(deps, {
          agent,
          batch,
          task,
          fromKey: finished.leaseKey,
          role: finished.role,
          ...parked,
        }).catch(() => 'failed' as const)
      : 'stale';
  if (handed !== 'dispatched') {
    // The slot goes back as it would have without a hand-off (a no-op when the lease moved or was
    // reclaimed), and the task routes itself: a parked one is woken (a token whose wait timed out already
    // wakes the next waiter), one not parked yet may park again.
    await agents.release(finished.agentId, deps.clock.now(), finished.leaseKey);
    // The mark of a task that ended or runs already (left behind by a route that raced its WAIT) goes.
    if (handed === 'stale') await agents.clearWaiting(finished.role, [parked.key]);
    else await agents.dropClaim(finished.role, parked.key);
    if (parked.token !== undefined && !(await deps.callbacks.succeed(parked.token, WOKEN).catch(() => false)))
      await wakeParked(deps, finished.role).catch(() => false);
  }
  return agent;
}

/** Parked tokens a release checks before it hands its slot over (each one refused had timed out). */
const MAX_CLAIM_TRIES = 3;

/**
 * Claims the longest-waiting task of `role` (see claimWaiting) whose wait is still on: a parked token whose
 * wait timed out (its task routes again already; its next WAIT resets the claim) would take the slot idle
 * until that route finds it, so a heartbeat on the token (refused once it timed out) tells them apart.
 */
async function claimLive(deps: HandOffDeps, role: string, now: number): Promise<WaitingClaim | undefined> {
  for (let tries = 0; tries < MAX_CLAIM_TRIES; tries++) {
    const claim = await deps.agents.claimWaiting(role, now);
    if (claim === undefined) {
      if (tries === 0) hintsOf(deps).foundEmpty(role, now);
      return undefined;
    }
    if (claim.token === undefined || (await deps.callbacks.heartbeat(claim.token).catch(() => false)))
      return claim;
  }
  return undefined;
}

/** Task statuses a Route dispatches from (waiting on its dependencies before, or between attempts). */
const ROUTABLE: ReadonlySet<TaskStatus> = new Set(['PENDING', 'READY']);

interface HandOffRequest {
  /** The agent after the outcome, still holding the finished attempt's slot. */
  agent: Agent;
  batch: BatchState;
  task: StoredTask;
  fromKey: string;
  /** The role the task waited for, and its waiting key there. */
  role: string;
  key: string;
  /** The task's WaitForCapacity token; none when it had not parked yet (its park answers itself). */
  token?: string | undefined;
}

/**
 * Hands `agent`'s slot to `task`: `dispatched` (the token answered with the DISPATCH, or with what stands
 * when the task changed meanwhile), `declined` (nothing moved: the caller releases the slot and wakes the
 * task), or throws after the lease moved (the caller wakes the task; the lease is the scaler's to reclaim
 * unless given back here).
 */
async function handOff(
  deps: HandOffDeps,
  request: HandOffRequest,
): Promise<'dispatched' | 'declined' | 'stale'> {
  const { agent, batch, task } = request;
  const now = deps.clock.now();
  // Only a task between attempts: a parked review (WaitForReviewer, the same waiting marks under the
  // validator's role) belongs to a task whose attempt awaits its verdict, and is only woken.
  if (isTerminal(task.status) || runningAttempt(task)) return 'stale';
  if (batch.cancelRequested || !ROUTABLE.has(task.status)) return 'declined';
  if (task.attempts[task.attemptCount - 1]?.status === 'AWAITING_APPROVAL') return 'declined';
  // approval.before: the task's Route answers APPROVAL; nothing is reserved before a person approves.
  if (task.attemptCount === 0 && needsApprovalBefore(task.task, task.approvals)) return 'declined';
  const decision = handOffDecision(deps, agent, task, now);
  if (!decision) return 'declined';
  const { requirements } = decision;
  // The budget is held as Route would; when the attempt does not fit now, the task's own Route decides
  // between waiting and cancelling.
  const hold = await holdAttempt(deps, batch, task, decision.role, agent.executor, requirements);
  if (hold.kind !== 'held') return 'declined';
  const attempt = task.attemptCount + 1;
  const lease = {
    key: leaseKey(task.batchId, task.taskId, attempt),
    expiresAt: leaseExpiry(now, timeoutFor(deps, task, decision.role)),
  };
  if (!(await deps.agents.transferLease(agent.agentId, request.fromKey, lease, now))) {
    if (hold.held) await releaseHold(deps.budget?.ledger, task, attempt, hold.held);
    return 'declined';
  }
  let output: Awaited<ReturnType<typeof startDispatch>>;
  try {
    // startDispatch drops the mark of the role the task last recorded; a route that raced its WAIT may
    // not have recorded this one, so it is dropped here too.
    [output] = await Promise.all([
      startDispatch(deps, task, decision, agent.executor, now, hold.held),
      task.waitingRole === request.role ? undefined : deps.agents.clearWaiting(request.role, [request.key]),
    ]);
  } catch (error) {
    // The attempt did not start (startDispatch gave the budget's hold back): neither does the slot stay.
    await deps.agents.release(agent.agentId, deps.clock.now(), lease.key).catch(() => undefined);
    throw error;
  }
  // A token whose wait timed out meanwhile is refused: the task's Route (after the timeout) finds the
  // running attempt and dispatches it. A task that had not parked yet finds its mark gone when it parks, and
  // its park answers its token with this dispatch (parkTask).
  if (request.token !== undefined) await deps.callbacks.succeed(request.token, output).catch(() => false);
  return 'dispatched';
}

/**
 * The routing decision that gives `agent`'s slot (as if free) to `task`, scored as Route scores it; undefined
 * when Route would not choose it (not a candidate role, failed this task before, circuit or status).
 */
function handOffDecision(
  deps: HandOffDeps,
  agent: Agent,
  task: StoredTask,
  now: number,
): RoutingDecision | undefined {
  const requirements = task.requirements ?? extractRequirements(task.task, deps.catalog);
  const exclude = new Set(
    task.attempts.filter((a) => a.status === 'FAILED' || a.status === 'TIMED_OUT').map((a) => a.agentId),
  );
  const result = decideRoute({
    task: task.task,
    requirements,
    agents: [{ ...agent, reserved: Math.max(0, agent.reserved - 1) }],
    catalog: deps.catalog,
    exclude,
    now,
    ...(deps.weights ? { weights: deps.weights } : {}),
  });
  if (result.kind !== 'route' || result.decision.agentId !== agent.agentId) return undefined;
  if (!deps.roleQueueUrls[result.decision.role]) return undefined;
  return { ...result.decision, spawned: false };
}
