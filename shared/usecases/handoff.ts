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
 * task is routed on its behalf (routeTask: every rule Route keeps holds) with the slot free, its token
 * answered with what Route answers (parked again when that is WAIT); a task that ended leaves the slot to
 * the next waiter.
 *
 * A slot freed without a hand-off (nobody was parked, a failed attempt, a held output) is offered to the
 * longest waiter the same way (offerSlot) when a task may have marked itself waiting since the release
 * looked: with the route's second look at the pool after its mark (routeTask), no task waits while a slot
 * of its role is free in this process. Across processes (Lambda containers) see ParkedHints.
 */
import { needsApprovalBefore } from '../domain/approvals';
import { failsAgainAny, markOn, permanentFailuresOf } from '../domain/permanent-failure';
import { leaseExpiry, leaseKey } from '../domain/pool';
import { decideRoute, extractRequirements } from '../domain/routing';
import type { Agent, RoutingDecision, TaskStatus } from '../domain/schemas';
import { type RouteOutput, WOKEN } from '../domain/workflow';
import type { AgentRegistry, BatchState, Callbacks, StoredTask, WaitingClaim } from '../ports';
import { holdAttempt, releaseHold } from './budget';
import { isTerminal } from './common';
import {
  hintsOf,
  type RouteDeps,
  routeTask,
  runningAttempt,
  startDispatch,
  takeWaitingMarks,
  taskOfWaitingKey,
  timeoutFor,
  wakeAfterRelease,
} from './route';

/** What a hand-off needs besides Complete's own deps: what Route needs to dispatch. */
export type HandOffDeps = RouteDeps & { callbacks: Callbacks };

/** What Route needs to dispatch a parked task, beyond the stores, the clock and the callbacks (see releaseSlot). */
export type HandOffConfig = Pick<
  RouteDeps,
  'catalog' | 'roleQueueUrls' | 'heartbeatSeconds' | 'weights' | 'budget' | 'hints'
>;

/**
 * The end of an attempt on its agent (Complete, RecordAttempt): with `handOff` and `callbacks`, the outcome is
 * counted and the slot goes to the longest-waiting task parked for the role (releaseToParked); otherwise the
 * slot goes back in the outcome's write and, with `callbacks`, a parked task is woken (best effort: a waiter not
 * woken routes again at its wait's timeout).
 */
export async function releaseSlot(
  deps: Pick<RouteDeps, 'store' | 'agents' | 'clock'> & {
    callbacks?: Callbacks | undefined;
    handOff?: HandOffConfig | undefined;
  },
  finished: Omit<FinishedAttempt, 'role'> & { role: string | undefined },
): Promise<void> {
  const { store, agents, clock, callbacks, handOff } = deps;
  const { role, ...attempt } = finished;
  if (handOff && callbacks && role !== undefined) {
    await releaseToParked({ ...handOff, store, agents, clock, callbacks }, { ...attempt, role });
    return;
  }
  const agent = await agents.recordOutcome(attempt.agentId, attempt.outcome, { leaseKey: attempt.leaseKey });
  if (callbacks) await wakeAfterRelease({ agents, callbacks, clock }, agent).catch(() => false);
}

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
  // Parks of the role in this process so far: one made after this release looked may have been missed by it.
  const since = hints.parks(finished.role);
  const parked = hints.nobodyParked(finished.role, now)
    ? undefined
    : await claimLive(deps, finished.role, now, since);
  if (parked === undefined) {
    const agent = await agents.recordOutcome(finished.agentId, finished.outcome, {
      leaseKey: finished.leaseKey,
    });
    // No lost wake-up: a route that waits found every slot taken at its second look, after its mark (see
    // routeTask), so a slot freed before that look is its own to take; one freed after it is found here,
    // now that it is free. Such a route saw this agent full, so its release un-fills it (the first since
    // that look): then, in any process (a Lambda container's hints know nothing of other containers'
    // parks), the slot is offered to the longest waiter. In this process a park since the look above
    // tells the same.
    const unfilled = agent !== undefined && agent.reserved === agent.capacity - 1;
    if (agent && (unfilled || hints.parkedSince(finished.role, since)))
      await offerSlot(deps, finished.role).catch(() => false);
    return agent;
  }
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
    // reclaimed), then the claimed task routes on it (its Route decides, see routeClaimed), or, when it
    // ended or runs already, the next waiter gets it.
    await agents.release(finished.agentId, deps.clock.now(), finished.leaseKey);
    // Not to the claimed task again: one whose budget says wait is marked and parked again, still the
    // longest waiter.
    if (!(await routeClaimed(deps, finished.role, parked).catch(() => false)))
      await offerSlot(deps, finished.role, parked.key).catch(() => false);
  }
  return agent;
}

/**
 * Gives a free slot of `role` to the longest-waiting task marked for it (claimed, see claimLive), routed on its
 * behalf (routeClaimed). A release that freed its slot calls it (a failed attempt's, a held output's, one that
 * may have missed a waiter); true when a task was dispatched or woken to take it. `except`: a waiting key
 * passed over (see claimWaiting).
 */
export async function offerSlot(deps: HandOffDeps, role: string, except?: string): Promise<boolean> {
  // Parks of the role so far: one that lands while the look reads is not forgotten when it finds nobody.
  const since = hintsOf(deps).parks(role);
  const claim = await claimLive(deps, role, deps.clock.now(), since, except);
  return claim === undefined ? false : routeClaimed(deps, role, claim);
}

/**
 * Routes the task of a claimed waiting mark on its behalf (routeTask: every rule of Route holds, and a free
 * slot it can use is reserved, its attempt started) and answers its token with the decision, so the task
 * goes on without a Route state of its own. Nothing free for it (another router took the slot): it keeps
 * waiting, its token parked again. A mark of a task that ended or runs is dropped (false: the slot is for the
 * next waiter), a parked review (its task's attempt awaits a verdict) is woken to route itself. true when the
 * claimed task took a slot or was woken to.
 */
async function routeClaimed(deps: HandOffDeps, role: string, claim: WaitingClaim): Promise<boolean> {
  const wake = async () =>
    claim.token !== undefined && (await deps.callbacks.succeed(claim.token, WOKEN).catch(() => false));
  const ref = taskOfWaitingKey(claim.key);
  const task = ref ? await deps.store.getTask(ref.batchId, ref.taskId) : undefined;
  if (!ref || !task || isTerminal(task.status) || runningAttempt(task)) {
    // Left behind by a route that raced its WAIT: the task routes to its end (STOP) or its running attempt.
    await deps.agents.clearWaiting(role, [claim.key]);
    await wake();
    return false;
  }
  if (!ROUTABLE.has(task.status) || task.attempts[task.attemptCount - 1]?.status === 'AWAITING_APPROVAL') {
    await deps.agents.dropClaim(role, claim.key);
    return wake();
  }
  let output: RouteOutput;
  try {
    output = await routeTask(deps, ref);
  } catch (error) {
    // Its own Route meets the same error and fails the task with it (FailOnError).
    await deps.agents.dropClaim(role, claim.key);
    await wake();
    throw error;
  }
  if (output.decision === 'WAIT') {
    // Its WAIT marked it again (the claim dropped; a wait for budget marks it too): the token goes back on
    // the mark. A mark gone meanwhile wakes it to route itself. Either way the slot it did not take is for
    // the next waiter (false).
    if (claim.token !== undefined && !(await deps.agents.parkWaiting(output.role, claim.key, claim.token)))
      await wake();
    return false;
  }
  if (claim.token !== undefined) {
    // It waits for capacity no more (dispatched, stopped, or waiting for an approval): its mark goes (a
    // dispatch drops the one of the role it last recorded already).
    if (output.decision !== 'DISPATCH' || task.waitingRole !== role)
      await deps.agents.clearWaiting(role, [claim.key]);
    await deps.callbacks.succeed(claim.token, output).catch(() => false);
  } else if (output.decision === 'DISPATCH') {
    // Not parked yet: its park finds the mark gone and answers its own token with the dispatch (parkTask),
    // or, parked since on a mark its route wrote again, is answered here (see takeWaitingMarks).
    if (task.waitingRole !== role) await takeWaitingMarks(deps, { ...ref, waitingRole: role }, output);
  } else {
    // Not parked yet and not dispatched: its park lands as before, and its wait's timeout routes it.
    await deps.agents.dropClaim(role, claim.key);
  }
  return output.decision === 'DISPATCH';
}

/** Parked tokens a release checks before it hands its slot over (each one refused had timed out). */
const MAX_CLAIM_TRIES = 3;

/**
 * Claims the longest-waiting task of `role` (see claimWaiting) whose wait is still on: a parked token whose
 * wait timed out (its task routes again already; its next WAIT resets the claim) would take the slot idle
 * until that route finds it, so a heartbeat on the token (refused once it timed out) tells them apart.
 * `since`: the parks snapshot taken before the look (see ParkedHints.foundEmpty); `except`: see claimWaiting.
 */
async function claimLive(
  deps: HandOffDeps,
  role: string,
  now: number,
  since: number,
  except?: string,
): Promise<WaitingClaim | undefined> {
  for (let tries = 0; tries < MAX_CLAIM_TRIES; tries++) {
    const claim = await deps.agents.claimWaiting(role, now, except);
    if (claim === undefined) {
      if (tries === 0) hintsOf(deps).foundEmpty(role, now, since);
      return undefined;
    }
    // A heartbeat that fails for another reason than a gone token (an error after the SDK's retries) tells
    // nothing: the token is taken as live, since a claim given up would leave a live parked task with its
    // token off its mark, found by no release until its wait's timeout (30 s and more). Were it gone, its
    // task's Route finds the attempt the hand-off started and dispatches it.
    if (claim.token === undefined || (await deps.callbacks.heartbeat(claim.token).catch(() => true)))
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
  /** The role the task waited for (its waiting key there is the task's). */
  role: string;
  /**
   * The task's WaitForCapacity token; none when it had not parked yet (its park answers itself, or a park
   * that found no attempt yet is answered when the attempt's write takes the mark, see takeWaitingMarks).
   */
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
  // Never to a configuration this task failed on permanently or the fleet marked (its Route says what then).
  if (failsAgainAny(permanentFailuresOf(task.attempts), agent.executor)) return 'declined';
  const decision = handOffDecision(deps, agent, task, now);
  if (!decision) return 'declined';
  const { requirements } = decision;
  // The budget is held as Route would; when the attempt does not fit now, the task's own Route decides
  // between waiting and cancelling. The fleet's marks are read beside it.
  const [hold, marks] = await Promise.all([
    holdAttempt(deps, batch, task, decision.role, agent.executor, requirements),
    deps.agents.credentialsMarks(now),
  ]);
  if (hold.kind !== 'held') return 'declined';
  if (markOn(marks, agent.executor)) {
    if (hold.held) await releaseHold(deps.budget?.ledger, task, task.attemptCount + 1, hold.held);
    return 'declined';
  }
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
    output = await startDispatch(deps, task, decision, agent.executor, now, hold.held, false);
  } catch (error) {
    // The attempt did not start (startDispatch gave the budget's hold back): neither does the slot stay.
    await deps.agents.release(agent.agentId, deps.clock.now(), lease.key).catch(() => undefined);
    throw error;
  }
  // A token whose wait timed out meanwhile is refused: the task's Route (after the timeout) finds the
  // running attempt and dispatches it. A task that had not parked yet finds its mark gone when it parks, and
  // its park answers its token with this dispatch (parkTask), or, parked since on a mark its woken route
  // wrote again, is answered as the marks are taken. Those are of the role the task last recorded and of
  // the one it was claimed under (a route that raced its WAIT may not have recorded that one), taken beside
  // the claimed token's answer: the claim took that token off its mark.
  await Promise.all([
    request.token === undefined
      ? undefined
      : deps.callbacks.succeed(request.token, output).catch(() => false),
    takeWaitingMarks(deps, task, output, request.role),
  ]);
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
