/**
 * Route: pick the best agent for a task (domain scoring), take a capacity slot on it with a conditional
 * update, spawn a new agent from the role template when every agent is busy (up to the role's max), or
 * ask the task to wait. The decision is stored with the task, so "why this agent" stays answerable.
 */

import { approvalTimeoutSeconds, needsApprovalBefore, reviewerOf } from '../domain/approvals';
import type { BudgetAmount } from '../domain/budget';
import { neededIds, takesContext } from '../domain/context';
import { CONTEXT_PREFETCH_MAX } from '../domain/limits';
import {
  type CredentialsMark,
  failsAgainAny,
  markedFailure,
  markOn,
  notRetriedReason,
  permanentFailuresOf,
  someConfigurationEscapes,
} from '../domain/permanent-failure';
import { capacityWaitSeconds, freeSlots, leaseExpiry, leaseKey, waitingLeadMs } from '../domain/pool';
import { BASE_ROLE_DEFAULTS, type RoleCatalog } from '../domain/roles';
import {
  candidateRoles,
  decideRoute,
  extractRequirements,
  newAgent,
  ROUTING_WEIGHTS,
  spreadAfterLostRace,
  stableHash,
} from '../domain/routing';
import type { RoutingWeights } from '../domain/routing-config';
import type {
  Agent,
  ExecutorConfig,
  ExtractedRequirements,
  Role,
  RoutingDecision,
  Task,
} from '../domain/schemas';
import {
  BUDGET_WAIT_SECONDS,
  CAPACITY_WAIT_SECONDS,
  type ParkInput,
  type RouteOutput,
  type TaskRef,
  WOKEN,
} from '../domain/workflow';
import {
  type AgentRegistry,
  type BatchState,
  type Callbacks,
  type Clock,
  NotFoundError,
  StaleWriteError,
  type StoredTask,
  type TaskStore,
  type WaitingFor,
} from '../ports';
import { type AssistDeps, assistRouting } from './assist';
import { type BudgetDeps, holdAttempt, releaseHold } from './budget';
import { effectiveHeartbeatSeconds, isTerminal, releaseDependents } from './common';
import { ConfigurationError } from './errors';
import { hintsOf, type ParkedHints } from './parked-hints';

export { hintsOf, NO_PARKED_TTL_MS, ParkedHints } from './parked-hints';

export interface RouteDeps {
  store: TaskStore;
  agents: AgentRegistry;
  catalog: RoleCatalog;
  clock: Clock;
  /** Role name -> queue URL (ROLE_QUEUE_URLS). */
  roleQueueUrls: Readonly<Record<string, string>>;
  heartbeatSeconds: number;
  /** Where parkTask records that a role has a parked task (see ParkedHints); this process's by default. */
  hints?: ParkedHints;
  /** Score weights (normalised; default ROUTING_WEIGHTS). */
  weights?: RoutingWeights;
  /** Model-assisted routing, when configured. */
  assist?: AssistDeps;
  /** Batch budgets: the ledger and the prices an attempt's worst case is held at (none: budgets not held). */
  budget?: BudgetDeps;
  /** Releases the dependents of a task cancelled because its batch's budget is exhausted. */
  callbacks?: Callbacks;
}

const MS_PER_SECOND = 1000;

/** The agent id of spawn slot `slot` of a role: `<role>-<n>`, the same ids as the default pool. */
export const agentSlotId = (role: string, slot: number) => `${role}-${slot}`;

/**
 * What a caller read already and Route need not read again: the task as a write just answered it (the release
 * that opened its gate), the batch's state (read while that release was written).
 */
export interface KnownState {
  task?: StoredTask | undefined;
  batch?: Promise<BatchState | undefined> | undefined;
  /**
   * The agents of `roles`, listed beside the dependent's release (complete.ts): the route's first look at the
   * pool when it asks for exactly these roles.
   */
  pool?: PrefetchedPool | undefined;
}

/** A pool listing started before the route asked for it (hop latency). */
export interface PrefetchedPool {
  readonly roles: readonly string[];
  readonly agents: Promise<Agent[]>;
}

const sameList = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * The roles whose agents may take `task`, best first (candidateRoles), and the role a spawn for it comes from
 * (the first), from its `requirements`: those stored with it by its first route, else extracted from it
 * (without asking a model: Route passes the requirements it may have asked for). Route reserves among these;
 * RecordAttempt asks whether any of them escapes a permanent failure, so both look at the same agents.
 */
export function rolesFor(
  catalog: RoleCatalog,
  task: Pick<StoredTask, 'task' | 'requirements'>,
  requirements: ExtractedRequirements = task.requirements ?? extractRequirements(task.task, catalog),
): { roleNames: string[]; spawnRole: Role | undefined } {
  const roleNames = candidateRoles(requirements);
  return { roleNames, spawnRole: catalog.get(roleNames[0] ?? '') };
}

/** Routes one task: DISPATCH (slot reserved, attempt started, decision stored), WAIT or STOP. */
export async function routeTask(deps: RouteDeps, ref: TaskRef, known: KnownState = {}): Promise<RouteOutput> {
  const [batch, task] = await Promise.all([
    known.batch ?? deps.store.getBatchState(ref.batchId),
    known.task ?? deps.store.getTask(ref.batchId, ref.taskId),
  ]);
  if (!batch) throw new NotFoundError('batch', ref.batchId);
  if (!task) throw new NotFoundError('task', `${ref.batchId}/${ref.taskId}`);
  if (batch.cancelRequested) return { decision: 'STOP', reason: 'batch cancelled' };
  if (isTerminal(task.status)) return { decision: 'STOP', reason: `task already ${task.status}` };
  const current = runningAttempt(task);
  const currentRole = task.role ?? task.decision?.role;
  // A retried Route invocation whose first run already dispatched: answer the same dispatch again.
  if (current && currentRole !== undefined) {
    const executor = await executorOf(deps, current.agentId, currentRole);
    return dispatchOutput(deps, task, current.agentId, currentRole, task.attemptCount, executor);
  }

  // approval.before: nothing is reserved until a person approves (the task waits holding no slot).
  if (task.attemptCount === 0 && needsApprovalBefore(task.task, task.approvals)) {
    return { decision: 'APPROVAL', stage: 'before', timeoutSeconds: approvalTimeoutSeconds(task.task) };
  }

  const now = deps.clock.now();
  // Extracted (and, when unsure, chosen by a model) once: the first dispatch stores them for every later route.
  const requirements =
    task.requirements ??
    (await assistRouting(deps, task.task, extractRequirements(task.task, deps.catalog), now));
  const { roleNames, spawnRole } = rolesFor(deps.catalog, task, requirements);
  if (!spawnRole) {
    throw new ConfigurationError(
      `task ${task.taskId} needs role "${roleNames[0]}", which is not in the catalog`,
    );
  }
  const exclude = new Set(
    task.attempts.filter((a) => a.status === 'FAILED' || a.status === 'TIMED_OUT').map((a) => a.agentId),
  );
  const permanent = permanentFailuresOf(task.attempts);
  const request: ReserveRequest = {
    task: task.task,
    taskId: task.taskId,
    requirements,
    roleNames,
    spawnRole,
    exclude,
    ...(permanent.length > 0 ? { failsAgain: (executor) => failsAgainAny(permanent, executor) } : {}),
    leaseKey: leaseKey(task.batchId, task.taskId, task.attemptCount + 1),
    timeoutSeconds: (role) => timeoutFor(deps, task, role),
    now,
  };
  const busy: NonNullable<ReserveRequest['busy']> = {};
  const reserved = await reserveAgent(deps, { ...request, busy, prefetched: known.pool });
  if (reserved) return dispatchReserved(deps, batch, task, requirements, reserved);
  // A refused key marked fleet-wide, and nothing else to go to: the task fails now, without a call.
  if (busy.marked)
    return endBeforeDispatch(deps, task, 'FAILED', notRetriedReason(markedFailure(busy.marked), busy.marked));
  const waiting = await waitFor(deps, task, spawnRole.name, requirements, busy.reopensAt);
  // No lost wake-up: a slot freed after this route listed the pool and before its mark was written would be
  // seen by neither side (the release found no mark, this route found no slot), and the task would wait out
  // its whole wait with the slot idle. The release frees first, then looks for marks (or parks, in this
  // process, since it looked: see releaseToParked); this route wrote its mark first, so looking at the pool
  // again now finds any slot freed before that look, and a release after it finds the mark.
  const late = await reserveAgent(deps, { ...request, now: deps.clock.now(), busy });
  const lost = busy.lostRaces ?? [];
  if (!late) return lost.length === 0 ? waiting : { ...waiting, lostRaces: lost.length };
  // The races its first look lost count in its decision too.
  const decision = { ...late.decision, rejected: [...lost, ...late.decision.rejected] };
  return dispatchReserved(deps, batch, { ...task, waitingRole: spawnRole.name }, requirements, {
    ...late,
    decision,
  });
}

/**
 * Holds the attempt's worst case against the batch's budget (when it has one) and starts the attempt on the
 * reserved slot; when it does not fit, the slot goes back (WAIT, or the task is cancelled over budget).
 */
async function dispatchReserved(
  deps: RouteDeps,
  batch: BatchState,
  task: StoredTask,
  requirements: ExtractedRequirements,
  reserved: NonNullable<Awaited<ReturnType<typeof reserveAgent>>>,
): Promise<RouteOutput> {
  const { decision, executor, leaseKey: key } = reserved;
  const hold = await holdAttempt(deps, batch, task, decision.role, executor, requirements);
  if (hold.kind !== 'held') {
    await deps.agents.release(decision.agentId, deps.clock.now(), key);
    if (hold.kind === 'wait') {
      // Marked waiting for the role like a capacity wait, so its WaitForCapacity has a mark to park on and
      // waits: BUDGET_WAIT_SECONDS, doubling while it keeps waiting (capacityWaitSeconds), or less when a
      // slot of the role frees (an attempt ended, its hold settled) and the release offers it. Unmarked, its
      // park found nothing to park on and woke it at once: Route and WaitForCapacity ran back to back,
      // hundreds of times a second, until the budget had room.
      return waitFor(deps, task, decision.role, requirements, undefined, 'budget');
    }
    return endBeforeDispatch(deps, task, 'CANCELLED', hold.reason);
  }
  // The attempt starts when the slot was taken (rounds of lost races can take a while), so an agent's
  // attempt intervals always nest inside its reservations.
  return startDispatch(deps, task, decision, executor, deps.clock.now(), hold.held);
}

/**
 * No agent of `role` is free, or the batch's budget does not fit the attempt yet (`waitingFor`): marks the
 * task waiting for the role (a task waiting for capacity is the scaler's backlog) and answers WAIT.
 * `requirements`, when a routing question was asked for them, are kept with the task. The first wait is
 * CAPACITY_WAIT_SECONDS, or BUDGET_WAIT_SECONDS for budget (shorter: no release of another role announces a
 * settled attempt), doubled by each consecutive WAIT (capacityWaitSeconds).
 */
export async function waitFor(
  deps: Pick<RouteDeps, 'agents' | 'store' | 'clock' | 'hints'>,
  task: StoredTask,
  role: string,
  requirements?: ExtractedRequirements,
  reopensAt?: number,
  waitingFor: WaitingFor = 'capacity',
): Promise<{ decision: 'WAIT'; role: string; waitSeconds: number }> {
  const baseSeconds = waitingFor === 'budget' ? BUDGET_WAIT_SECONDS : CAPACITY_WAIT_SECONDS;
  // The scaler counts fresh marks of capacity waits as backlog (pre-warming agents and queue concurrency for
  // them). Stamped now, not when this route began: a route slowed by a burst could otherwise write a mark the
  // scaler already finds stale and prunes before the task parks its token on it.
  // A routing question asked by this route is kept with the task, so the next route neither asks again
  // nor loses what it cost (a cached answer would carry no usage). A question that failed is kept too: the
  // next route would otherwise ask a failing or slow provider again, each time holding the route up to the
  // question's timeout, for the same deterministic role.
  const asked =
    requirements !== undefined && task.requirements === undefined && requirements.assist !== undefined;
  const [waits] = await Promise.all([
    // A release in this process may hand this task a slot even before it parks (capacity hand-off). The
    // hint is raised once the mark is written, not before: a release that finds it raised after freeing its
    // slot then finds the mark too (see releaseToParked).
    deps.agents
      .markWaiting(
        role,
        waitingKey(task),
        deps.clock.now(),
        waitingLeadMs(task.task.priority, task.chainAfter, task.workAheadMs),
        waitingFor,
      )
      .then((waits) => {
        hintsOf(deps).parked(role);
        return waits;
      }),
    task.waitingRole === role && !asked
      ? undefined
      : deps.store.setWaitingRole(task.batchId, task.taskId, role, ...(asked ? [requirements] : [])),
  ]);
  const until = reopensAt === undefined ? undefined : (reopensAt - deps.clock.now()) / MS_PER_SECOND;
  return { decision: 'WAIT', role, waitSeconds: capacityWaitSeconds(waits, baseSeconds, until) };
}

export interface ReserveRequest {
  /** The task the agents are scored for (a review's task, for a validator). */
  task: Task;
  /** Spreads concurrent spawns over the role's free slots. */
  taskId: string;
  requirements: ExtractedRequirements;
  /** Roles whose agents compete; `spawnRole` is the one a new agent is spawned for. */
  roleNames: readonly string[];
  spawnRole: NonNullable<ReturnType<RoleCatalog['get']>>;
  /** Agents that failed this work before: tried only when no other agent is free. */
  exclude: ReadonlySet<string>;
  /**
   * Whether an agent with this executor would fail the way an earlier attempt failed permanently (a bad key, an
   * unknown model): such agents are never chosen, and no agent is spawned with such an executor.
   */
  failsAgain?: (executor: ExecutorConfig) => boolean;
  leaseKey: string;
  /** The lease's length for an agent of `role`. */
  timeoutSeconds: (role: string) => number;
  now: number;
  /**
   * Filled when no slot was reserved: when the first open circuit of a candidate agent admits a probe (epoch
   * ms), the one change no release announces that a waiting task should not wait out; how many
   * reservation races were lost (a decision records them when a slot is reserved); and the credentials mark
   * that leaves the task no configuration to go to, when one does.
   */
  busy?: { reopensAt?: number; lostRaces?: RoutingDecision['rejected']; marked?: CredentialsMark };
  /** The pool's first look, already under way when it lists exactly `roleNames` (a failed one is read again). */
  prefetched?: PrefetchedPool | undefined;
}

/**
 * Scores the agents of the candidate roles (domain decideRoute) and reserves a slot on the best one with a
 * conditional update, spawning agents from the role template up to its max; a lost reservation race drops
 * that agent and tries the next. Answers the decision and the winner's executor, or undefined when every
 * agent is busy (the caller waits).
 */
export async function reserveAgent(
  deps: Pick<RouteDeps, 'agents' | 'catalog' | 'roleQueueUrls' | 'weights'>,
  request: ReserveRequest,
): Promise<{ decision: RoutingDecision; executor: ExecutorConfig; leaseKey: string } | undefined> {
  const { task, requirements, roleNames, spawnRole, now } = request;
  const listPool = async () => (await Promise.all(roleNames.map((r) => deps.agents.list(r)))).flat();
  let exclude: ReadonlySet<string> = request.exclude;
  const { prefetched } = request;
  // The fleet's credentials marks are read beside the pool's first look (a Query of a partition that is
  // nearly always empty, in parallel: no hop added).
  let [pool, marks] = await Promise.all([
    prefetched && sameList(prefetched.roles, roleNames) ? prefetched.agents.catch(listPool) : listPool(),
    deps.agents.credentialsMarks(now),
  ]);
  // A marked configuration is never chosen nor spawned, like one an attempt of this task failed permanently.
  const failsAgain =
    marks.length === 0
      ? request.failsAgain
      : (executor: ExecutorConfig) =>
          markOn(marks, executor) !== undefined || request.failsAgain?.(executor) === true;
  const spawned = new Set<string>();
  const lostRaces: RoutingDecision['rejected'] = [];
  let allowedExcluded = false;
  // Each round either reserves, spawns one agent, or removes one candidate; bound it generously.
  const maxRounds = pool.length + 2 * spawnRole.defaults.maxAgents + 2;

  for (let round = 0; round < maxRounds; round++) {
    const unusable = failsAgain ? pool.filter((a) => failsAgain(a.executor)).map((a) => a.agentId) : [];
    const result = decideRoute({
      task,
      requirements,
      agents: pool,
      catalog: deps.catalog,
      exclude: new Set([...exclude, ...unusable]),
      now,
      ...(deps.weights ? { weights: deps.weights } : {}),
    });
    if (result.kind === 'route') {
      // After a lost race the others that lost it spread over the free agents (see spreadAfterLostRace).
      const chosen =
        lostRaces.length === 0
          ? result.decision
          : spreadAfterLostRace(result.decision, (deps.weights ?? ROUTING_WEIGHTS).availability);
      // Checked before anything is reserved: a role without a queue is a deployment error, not a wait.
      if (!deps.roleQueueUrls[chosen.role]) throw missingQueue(chosen.role);
      const winner = chosen.agentId;
      const lease = {
        key: request.leaseKey,
        expiresAt: leaseExpiry(now, request.timeoutSeconds(chosen.role)),
      };
      const winnerAgent = pool.find((a) => a.agentId === winner);
      if (await deps.agents.reserve(winner, now, lease, winnerAgent?.circuit)) {
        const decision: RoutingDecision = {
          ...chosen,
          rejected: [...chosen.rejected, ...lostRaces],
          spawned: spawned.has(winner),
        };
        const executor = winnerAgent?.executor ?? (await executorOf(deps, winner, chosen.role));
        return { decision, executor, leaseKey: lease.key };
      }
      // Another router took the last slot (or the agent changed state). The listing is stale: when many route
      // at once, every agent it shows free may be taken already, and trying each one loses a race on each.
      // Read the pool again (one Query instead of a lost write per agent), the agents lost on kept full (the
      // role index may not show their new reservations yet).
      lostRaces.push({ agentId: winner, reason: 'lost the reservation race' });
      const lost = new Set(lostRaces.map((r) => r.agentId));
      pool = (await listPool()).map((a) => (lost.has(a.agentId) ? { ...a, reserved: a.capacity } : a));
      continue;
    }
    const live = pool.filter((a) => a.status !== 'terminated');
    const liveOfRole = live.filter((a) => a.role === spawnRole.name);
    // An agent spawned from the template would fail the way an earlier attempt did: none is spawned.
    const spawnFails = failsAgain?.(spawnRole.defaults.executor) === true;
    if (liveOfRole.length < spawnRole.defaults.maxAgents && !spawnFails) {
      const agent = await spawnAgent(deps.agents, spawnRole, liveOfRole, now, request.taskId);
      if (agent) {
        spawned.add(agent.agentId);
        pool = [...pool.filter((a) => a.agentId !== agent.agentId), agent];
      } else {
        pool = await listPool(); // someone else spawned into the free slots: look again
      }
      continue;
    }
    // Every agent is busy, or the only free ones failed this task before. Rather than wait forever for
    // an agent that is not there, let a previously failing agent try again.
    const freeButExcluded = live.some(
      (a) =>
        exclude.has(a.agentId) &&
        a.reserved < a.capacity &&
        a.status !== 'draining' &&
        failsAgain?.(a.executor) !== true,
    );
    if (freeButExcluded && !allowedExcluded) {
      allowedExcluded = true;
      exclude = new Set();
      continue;
    }
    break;
  }
  if (request.busy) {
    if (lostRaces.length > 0) request.busy.lostRaces = [...(request.busy.lostRaces ?? []), ...lostRaces];
    // Nothing it could go to escapes a mark (and its own failures): the mark that stands in the way.
    const marked =
      marks.length > 0 && failsAgain && !someConfigurationEscapes(pool, spawnRole, failsAgain)
        ? (markOn(marks, spawnRole.defaults.executor) ??
          pool.map((a) => markOn(marks, a.executor)).find((mark) => mark !== undefined))
        : undefined;
    if (marked) request.busy.marked = marked;
    const reopening = pool
      .filter((a) => a.circuit === 'open' && (a.status === 'active' || a.status === 'idle'))
      .map((a) => a.circuitOpenUntil ?? Number.POSITIVE_INFINITY)
      .filter((until) => until > now && Number.isFinite(until));
    if (reopening.length > 0) request.busy.reopensAt = Math.min(...reopening);
  }
  return undefined;
}

/**
 * WaitForCapacity: parks the task's token on its waiting mark (written by the WAIT just before). A release
 * that leaves a free slot claims a parked token and answers it (capacity hand-off, see handoff.ts). The park
 * never leaves a token that nobody would answer before its wait's timeout (30 s and more):
 * - no mark to park on, and the task's attempt started (a release handed it a slot between its WAIT and this
 *   park): the token is answered with that dispatch, as Route would answer it;
 * - no mark, and no attempt started (the release that claimed the mark has not started it yet, or routed the
 *   task and found nothing for it, or the scaler pruned the mark): the task is woken and routes again; its
 *   Route meets the release's attempt, or reserves first and the release gives its slot back (startDispatch),
 *   so it is dispatched once either way;
 * - parked, but its attempt started meanwhile (a release started it while the task, woken, routed again and
 *   marked itself waiting once more): the mark goes and the token is answered with that dispatch.
 * A token answered twice (a release answering it too) is refused the second time, which changes nothing.
 */
export async function parkTask(
  deps: Pick<RouteDeps, 'agents' | 'hints'> & Partial<RouteDeps>,
  input: ParkInput,
): Promise<{ parked: boolean; handedOver?: boolean; woken?: boolean }> {
  const parked = await deps.agents.parkWaiting(input.role, waitingKey(input), input.taskToken);
  if (parked) hintsOf(deps).parked(input.role);
  const { store, callbacks, catalog, clock, roleQueueUrls, heartbeatSeconds } = deps;
  if (!store || !callbacks || !catalog || !clock || !roleQueueUrls || heartbeatSeconds === undefined)
    return { parked };
  const routeDeps: RouteDeps = { ...deps, store, catalog, clock, roleQueueUrls, heartbeatSeconds };
  const task = await store.getTask(input.batchId, input.taskId);
  const current = task && !isTerminal(task.status) ? runningAttempt(task) : undefined;
  const role = task?.role ?? task?.decision?.role;
  if (!task || !current || role === undefined) {
    if (parked) return { parked };
    return { parked, woken: await callbacks.succeed(input.taskToken, WOKEN).catch(() => false) };
  }
  if (parked) await deps.agents.clearWaiting(input.role, [waitingKey(input)]);
  const executor = await executorOf(routeDeps, current.agentId, role);
  const output = dispatchOutput(routeDeps, task, current.agentId, role, task.attemptCount, executor);
  return { parked: false, handedOver: await callbacks.succeed(input.taskToken, output) };
}

export interface WakeDeps {
  agents: AgentRegistry;
  callbacks: Pick<Callbacks, 'succeed'>;
  clock?: Clock;
  hints?: ParkedHints;
}

/**
 * After a release that left `agent` a free slot (Complete, RecordAttempt): wakes the longest-waiting task
 * parked for its role, one per release; a woken task that loses the slot to another router parks again.
 * Waking only on the release that un-filled a full agent missed most waiters (two releases on one agent
 * before the first woken task reserved left the second slot idle until a timeout); waking on every release
 * cost a Query per completion on pools where nobody waits, which ParkedHints bounds. A token whose wait
 * already timed out is skipped for the next. Best effort: a waiter not woken routes again at its timeout.
 */
export async function wakeAfterRelease(deps: WakeDeps, agent: Agent | undefined): Promise<boolean> {
  if (agent === undefined || freeSlots(agent) === 0) return false;
  return wakeParked(deps, agent.role);
}

/** Takes and answers the token of the longest-waiting task parked for `role`; false when none is. */
export async function wakeParked(deps: WakeDeps, role: string): Promise<boolean> {
  const hints = hintsOf(deps);
  const now = (deps.clock ?? Date).now();
  if (hints.nobodyParked(role, now)) return false;
  // Parks of the role so far: one that lands while a look reads is not forgotten when it finds nobody.
  const since = hints.parks(role);
  for (let tries = 0; tries < MAX_WAKE_TRIES; tries++) {
    const parked = await deps.agents.takeParked(role);
    if (parked === undefined) {
      hints.foundEmpty(role, now, since);
      return false;
    }
    // An answer that fails for another reason than a gone token (an error after the SDK's retries) puts the
    // token back on its mark for the next release, rather than leaving a parked task that no release finds
    // until its wait's timeout (30 s and more).
    const woken = await deps.callbacks.succeed(parked.token, WOKEN).catch(async (error: unknown) => {
      await deps.agents.parkWaiting(role, parked.key, parked.token).catch(() => false);
      throw error;
    });
    if (woken) return true;
  }
  return false;
}

/** Parked tokens a wake tries before giving up (each one refused had already timed out). */
const MAX_WAKE_TRIES = 3;

/**
 * Slots a role gained outside a release (the scaler reclaimed a dead worker's lease or spawned agents, an
 * operator added an agent or raised its capacity): wakes up to `slots` tasks parked for the role, the longest
 * waiting first, so they route now instead of at their wait's timeout (30 s, then 60 s). Each woken task
 * routes itself and parks again when another router took the slot first. The marks are claimed, not only the
 * parked tokens taken: a task that marked itself waiting but has not parked yet finds its mark claimed when it
 * parks, and routes again at once (parkTask). Such a claim is not counted (the mark may be one its task left
 * behind), so the next waiter is woken too. At most MAX_CAPACITY_WAKES per call; a role with more parked tasks
 * wakes the rest at its next releases. Answers how many parked tasks were woken.
 */
export async function wakeForCapacity(deps: WakeDeps, role: string, slots: number): Promise<number> {
  const wanted = Math.min(slots, MAX_CAPACITY_WAKES);
  const now = (deps.clock ?? Date).now();
  let woken = 0;
  for (let claims = 0; woken < wanted && claims < wanted + MAX_WAKE_TRIES; claims++) {
    const claim = await deps.agents.claimWaiting(role, now);
    if (claim === undefined) break;
    const { key, token } = claim;
    if (token === undefined) continue;
    // A token whose wait timed out is refused (its task routes already); an answer that fails for another
    // reason puts the token back on its mark for the next release, as wakeParked does.
    const answered = await deps.callbacks.succeed(token, WOKEN).catch(async (error: unknown) => {
      await deps.agents.dropClaim(role, key).catch(() => undefined);
      await deps.agents.parkWaiting(role, key, token).catch(() => false);
      throw error;
    });
    if (answered) woken += 1;
  }
  return woken;
}

/** Tasks one gain of capacity wakes at most (each wake is a Query and a token answer). */
export const MAX_CAPACITY_WAKES = 50;

/** The waiting mark of a task: one per task, refreshed by each WAIT, dropped on dispatch. */
const waitingKey = (task: Pick<StoredTask, 'batchId' | 'taskId'>) => `${task.batchId}#${task.taskId}`;

/** The task a waiting key names (neither id can hold a '#'); undefined for a malformed key. */
export function taskOfWaitingKey(key: string): TaskRef | undefined {
  const at = key.lastIndexOf('#');
  return at <= 0 || at === key.length - 1
    ? undefined
    : { batchId: key.slice(0, at), taskId: key.slice(at + 1) };
}

export function timeoutFor(deps: Pick<RouteDeps, 'catalog'>, task: StoredTask, roleName: string): number {
  return (
    task.task.timeoutSeconds ??
    deps.catalog.get(roleName)?.defaults.timeoutSeconds ??
    BASE_ROLE_DEFAULTS.timeoutSeconds
  );
}

export function runningAttempt(task: StoredTask) {
  const last = task.attempts[task.attemptCount - 1];
  return last?.status === 'RUNNING' ? last : undefined;
}

/**
 * Creates an agent in a free slot of the role (route and scaler); undefined when the slots tried were taken
 * meanwhile. The scaler tries every free slot in order. A router passes its task id (`spreadBy`): it tries
 * the first free slot, then one more chosen by a hash of the task id, and gives up (the caller lists the
 * pool again and finds the agents others spawned). Many routers spawning at once no longer walk the same
 * slots in the same order: 1,000 tasks on a fresh pool made 9,000 creates, 8,800 of them lost.
 */
export async function spawnAgent(
  agents: AgentRegistry,
  role: NonNullable<ReturnType<RoleCatalog['get']>>,
  live: readonly Agent[],
  now: number,
  spreadBy?: string,
): Promise<Agent | undefined> {
  const taken = new Set(live.map((a) => a.agentId));
  const free: string[] = [];
  for (let slot = 1; slot <= role.defaults.maxAgents; slot++) {
    const id = agentSlotId(role.name, slot);
    if (!taken.has(id)) free.push(id);
  }
  const tries =
    spreadBy === undefined || free.length <= 2
      ? free
      : [free[0] as string, free[1 + (stableHash(spreadBy) % (free.length - 1))] as string];
  for (const id of tries) {
    const agent = newAgent(role, id, now);
    if (await agents.create(agent)) return agent;
  }
  return undefined;
}

/**
 * Ends a task before its next attempt: CANCELLED when the attempt does not fit its batch's budget, FAILED when
 * a credentials mark leaves it nowhere to go. The reason is stored, its waiting mark dropped, its dependents
 * released as failed (so their gates skip them), and the child execution STOPs.
 */
async function endBeforeDispatch(
  deps: RouteDeps,
  task: StoredTask,
  status: 'CANCELLED' | 'FAILED',
  reason: string,
): Promise<RouteOutput> {
  const now = deps.clock.now();
  if (await deps.store.setTaskStatus(task.batchId, task.taskId, status, { reason, at: now })) {
    await Promise.all([
      task.waitingRole === undefined
        ? undefined
        : deps.agents.clearWaiting(task.waitingRole, [waitingKey(task)]),
      deps.callbacks ? releaseDependents(deps.store, deps.callbacks, task, status) : undefined,
    ]);
  }
  return { decision: 'STOP', reason };
}

/**
 * Starts the attempt on the reserved `decision.agentId` (stored with its decision and budget hold) and
 * answers its DISPATCH; a concurrent change of the task gives the slot back and answers what stands. The
 * task's waiting marks go once the attempt's fate is written (see takeWaitingMarks), unless `takeMarks` is
 * false: then the caller takes them, beside its own answer to the task's token (a hand-off's).
 */
export async function startDispatch(
  deps: RouteDeps,
  task: StoredTask,
  decision: RoutingDecision,
  executor: ExecutorConfig,
  now: number,
  held?: BudgetAmount,
  takeMarks = true,
): Promise<RouteOutput> {
  const attempt = task.attemptCount + 1;
  let output: RouteOutput;
  try {
    await deps.store.startAttempt(task.batchId, task.taskId, attempt, decision.agentId, decision, now, held);
    output = dispatchOutput(deps, task, decision.agentId, decision.role, attempt, executor);
  } catch (error) {
    if (!(error instanceof StaleWriteError)) {
      // The attempt did not start: its hold goes back now (the task fails on this error, nothing settles it).
      if (held) await releaseHold(deps.budget?.ledger, task, attempt, held).catch(() => undefined);
      throw error;
    }
    output = await afterLostStart(deps, { task, decision, executor, now, held });
  }
  if (takeMarks) await takeWaitingMarks(deps, task, output);
  return output;
}

/**
 * A concurrent Route of the same task started its attempt first (or the task was cancelled): the slot and the
 * budget's hold go back, and the answer is what stands (the winner's dispatch, else STOP).
 */
async function afterLostStart(
  deps: RouteDeps,
  lost: {
    task: StoredTask;
    decision: RoutingDecision;
    executor: ExecutorConfig;
    now: number;
    held: BudgetAmount | undefined;
  },
): Promise<RouteOutput> {
  const { task, decision, executor, held } = lost;
  const attempt = task.attemptCount + 1;
  await deps.agents.release(decision.agentId, lost.now, leaseKey(task.batchId, task.taskId, attempt));
  const latest = await deps.store.getTask(task.batchId, task.taskId);
  // The budget's hold too, unless the attempt it was taken for started after all (the winner's, holding
  // the same key): that attempt's end settles it.
  if (held && (latest?.attemptCount ?? 0) < attempt)
    await releaseHold(deps.budget?.ledger, task, attempt, held);
  const current = latest && !isTerminal(latest.status) ? runningAttempt(latest) : undefined;
  if (latest && current) {
    const role = latest.role ?? decision.role;
    const theirs =
      current.agentId === decision.agentId ? executor : await executorOf(deps, current.agentId, role);
    return dispatchOutput(deps, latest, current.agentId, role, latest.attemptCount, theirs);
  }
  return {
    decision: 'STOP',
    reason: `task ${task.taskId} changed while routing (${latest?.status ?? 'gone'})`,
  };
}

/**
 * Drops the waiting marks of a task whose attempt was just written, or found written by another (of the role
 * its WAIT recorded, and `alsoRole`), keeping the scaler's backlog honest, and answers a token parked on one
 * with `output`. Only after the write, never beside it: a park that lands after the drop finds its mark gone
 * and reads the attempt (parkTask), while one that landed before the write found no attempt and stays parked
 * on a token that only this answer ends before its wait's timeout (30 s, then 60 s). That is the task that
 * parked, was woken (a release had claimed its mark) and waited again while that release started its
 * attempt. A task that never waited has no mark, and nothing is sent.
 */
export async function takeWaitingMarks(
  deps: Pick<RouteDeps, 'agents' | 'callbacks'>,
  task: Pick<StoredTask, 'batchId' | 'taskId' | 'waitingRole'>,
  output: RouteOutput,
  alsoRole?: string,
): Promise<void> {
  const roles = new Set([task.waitingRole, alsoRole].filter((role) => role !== undefined));
  await Promise.all(
    [...roles].map(async (role) => {
      // Best effort, the attempt being written: a mark left behind expires (WAITING_FRESH_MS), and a token
      // left on it ends at its wait's timeout, when the task's Route finds the attempt.
      const token = await deps.agents.takeWaiting(role, waitingKey(task)).catch(() => undefined);
      if (token !== undefined) await deps.callbacks?.succeed(token, output).catch(() => false);
    }),
  );
}

/**
 * Drops the waiting mark of a task that waited before (of the role its WAIT named), keeping the scaler's
 * backlog honest (a mark left behind would still expire after WAITING_FRESH_MS); none sent when it never waited.
 */
export async function clearWaitingMark(
  deps: Pick<RouteDeps, 'agents'>,
  task: Pick<StoredTask, 'batchId' | 'taskId' | 'waitingRole'>,
): Promise<void> {
  if (task.waitingRole !== undefined) await deps.agents.clearWaiting(task.waitingRole, [waitingKey(task)]);
}

/** The executor of an agent the router has not listed (a repeated Route): read, else the role's default. */
async function executorOf(
  deps: Pick<RouteDeps, 'agents' | 'catalog'>,
  agentId: string,
  roleName: string,
): Promise<ExecutorConfig> {
  const agent = await deps.agents.get(agentId);
  return agent?.executor ?? deps.catalog.get(roleName)?.defaults.executor ?? BASE_ROLE_DEFAULTS.executor;
}

function dispatchOutput(
  deps: RouteDeps,
  task: StoredTask,
  agentId: string,
  roleName: string,
  attempt: number,
  executor: ExecutorConfig,
): RouteOutput {
  const queueUrl = deps.roleQueueUrls[roleName];
  if (!queueUrl) throw missingQueue(roleName);
  const timeoutSeconds = timeoutFor(deps, task, roleName);
  const reviewer = reviewerOf(task.task);
  // Named in the dispatch message, so the worker reads them beside its claim (always present: the Dispatch
  // state's message reads the path); more than the message should carry are read after the claim instead.
  const contextIds = takesContext(task.task) ? neededIds(task.task) : [];
  return {
    decision: 'DISPATCH',
    agentId,
    role: roleName,
    executor,
    queueUrl,
    attempt,
    timeoutSeconds,
    heartbeatSeconds: effectiveHeartbeatSeconds(deps.heartbeatSeconds, timeoutSeconds),
    contextIds: contextIds.length <= CONTEXT_PREFETCH_MAX ? contextIds : [],
    // The worker beats at once when it claims the message late (keepAlive): always present, the Dispatch
    // state's message reads the path.
    dispatchedAt: deps.clock.now(),
    ...(reviewer.kind === 'none'
      ? {}
      : { review: reviewer.kind, reviewTimeoutSeconds: approvalTimeoutSeconds(task.task) }),
  };
}

const missingQueue = (role: string) =>
  new ConfigurationError(`no queue configured for role "${role}" (ROLE_QUEUE_URLS)`);
