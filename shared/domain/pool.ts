/**
 * Agent pool policy, pure: circuit breaker constants, reservation leases, and the scaler's desired agent
 * count and queue concurrency from a role's backlog. No I/O and no clock: callers pass `now`.
 */
import { DEFAULT_TASK_ESTIMATE_MS } from './dag';
import { DEFAULT_PRIORITY } from './limits';
import type { Agent, RoleDefaults } from './schemas';
import { CAPACITY_WAIT_SECONDS } from './workflow';

/** Consecutive failures that open an agent's circuit. */
export const CIRCUIT_FAILURE_THRESHOLD = 3;
/** How long an open circuit keeps the agent out of routing before one probe task may try it (half-open). */
export const CIRCUIT_OPEN_MS = 30_000;
/**
 * Added to a task's timeout to form its reservation lease: covers the Route -> Dispatch -> RecordAttempt
 * hops after the timeout fires, so a lease never expires while its attempt can still be released normally.
 */
export const LEASE_MARGIN_MS = 60_000;
/**
 * A half-open agent with no reservation and no activity for this long lost its probe without an outcome
 * (the probe's lease was reclaimed): the scaler re-opens it so a new probe may be admitted.
 */
export const STUCK_PROBE_MS = 60_000;
/** Lambda's floor for an SQS event source's ScalingConfig.MaximumConcurrency. */
export const MIN_QUEUE_CONCURRENCY = 2;
/**
 * Doublings of the capacity wait: a task that keeps finding no capacity asks again after CAPACITY_WAIT_SECONDS,
 * then twice that (the longest wait; a wait for budget doubles from its shorter base up to the same).
 */
export const CAPACITY_WAIT_DOUBLINGS = 1;
/** The longest capacity or budget wait: a parked task routes again at least this often. */
export const MAX_CAPACITY_WAIT_SECONDS = CAPACITY_WAIT_SECONDS * 2 ** CAPACITY_WAIT_DOUBLINGS;
const MS_PER_SECOND = 1000;
/** What a waiting mark's freshness allows beyond the longest wait: the route that refreshes it. */
const WAITING_FRESH_MARGIN_MS = 10_000;
/**
 * A waiting-for-capacity mark counts as backlog this long after the task's last WAIT. A waiting task routes
 * again at least every MAX_CAPACITY_WAIT_SECONDS (refreshing its mark), so an older mark belongs to a task
 * that has since been dispatched, cancelled or stopped; a younger one may hold a parked token and must not be
 * pruned (the task would wait out its whole wait).
 */
export const WAITING_FRESH_MS = MAX_CAPACITY_WAIT_SECONDS * MS_PER_SECOND + WAITING_FRESH_MARGIN_MS;

/** How far a task of priority 1 goes ahead of a priority-2 waiter (and one of 2 ahead of 3): 10 minutes. */
export const PRIORITY_LEAD_MS = 600_000;
/** How far each task on the chain still ahead of a waiting task moves it forward: one minute. */
export const CHAIN_LEAD_MS = 60_000;
/** Chain steps that count towards the lead: past 30, a deeper chain goes no further ahead (30 minutes). */
export const MAX_CHAIN_LEAD_STEPS = 30;
/**
 * How far each millisecond of estimated work ahead of a waiting task (dag.ts workAhead) moves it forward: a
 * task of the default estimate (DEFAULT_TASK_ESTIMATE_MS, 1 s) leads by CHAIN_LEAD_MS, as a chain step does.
 */
export const WORK_LEAD_PER_MS = CHAIN_LEAD_MS / DEFAULT_TASK_ESTIMATE_MS;
/** The most the work ahead leads by: as much as MAX_CHAIN_LEAD_STEPS chain steps. */
export const MAX_WORK_LEAD_MS = MAX_CHAIN_LEAD_STEPS * CHAIN_LEAD_MS;

/**
 * The order in which tasks waiting for a role's capacity get a freed slot: the longest waiting first, each
 * moved forward by its lead (milliseconds taken off when it began to wait). The task's priority (1 highest,
 * `DEFAULT_PRIORITY` 2) leads by PRIORITY_LEAD_MS a step, and the work still ahead of it by WORK_LEAD_PER_MS
 * a millisecond (`workAheadMs`: the estimated work on the longest chain that starts with it, dag.ts
 * workAhead), so among tasks that began to wait at about the same time the one on the critical path goes
 * first (list scheduling by bottom level). A task stored before the work ahead was (no `workAheadMs`) leads by
 * CHAIN_LEAD_MS for each task on the longest chain of its dependents (dag.ts chainsAfter). Bounded, so no
 * waiter is passed over for ever: a task that waited longer than another's lead goes first.
 */
export function waitingLeadMs(
  priority: number | undefined,
  chainAfter: number | undefined,
  workAheadMs?: number,
): number {
  const priorityLead = (DEFAULT_PRIORITY - (priority ?? DEFAULT_PRIORITY)) * PRIORITY_LEAD_MS;
  if (workAheadMs !== undefined && Number.isFinite(workAheadMs)) {
    return priorityLead + Math.min(Math.max(0, workAheadMs) * WORK_LEAD_PER_MS, MAX_WORK_LEAD_MS);
  }
  const steps = Math.min(Math.max(0, chainAfter ?? 0), MAX_CHAIN_LEAD_STEPS);
  return priorityLead + steps * CHAIN_LEAD_MS;
}

/**
 * How urgent a ready task's dispatch is beside others ready at the same moment (the dependents one Complete
 * opens, a batch's first tasks): its lead as a waiting task would have it (waitingLeadMs: priority, then the
 * work on the longest chain that starts with it), then the dependency hops on that chain, each of which costs
 * the batch a hop's time too (a stored task's fields; none known: the least urgent). Sort with `moreUrgent`.
 */
export function readyUrgency(
  task: { task: { priority?: number }; chainAfter?: number; workAheadMs?: number } | undefined,
): readonly [number, number] {
  if (!task) return [0, 0];
  return [waitingLeadMs(task.task.priority, task.chainAfter, task.workAheadMs), task.chainAfter ?? 0];
}

/** Orders readyUrgency values, the most urgent first (for Array.prototype.sort, which is stable). */
export const moreUrgent = (a: readonly [number, number], b: readonly [number, number]): number =>
  b[0] - a[0] || b[1] - a[1];

/** Slots of `agent` a route may reserve now: none when it is draining, terminated or absent. */
export function freeSlots(agent: Pick<Agent, 'status' | 'capacity' | 'reserved'> | undefined): number {
  const live = agent !== undefined && (agent.status === 'active' || agent.status === 'idle');
  return live ? Math.max(0, agent.capacity - agent.reserved) : 0;
}

/** An agent's circuit breaker settings. */
export interface CircuitPolicy {
  failureThreshold: number;
  openMs: number;
}

export const DEFAULT_CIRCUIT_POLICY: CircuitPolicy = {
  failureThreshold: CIRCUIT_FAILURE_THRESHOLD,
  openMs: CIRCUIT_OPEN_MS,
};

/** The circuit settings of a role: its overrides, else the defaults. */
export function circuitPolicy(
  defaults: Pick<RoleDefaults, 'circuitFailureThreshold' | 'circuitCooldownSeconds'> | undefined,
): CircuitPolicy {
  return {
    failureThreshold: defaults?.circuitFailureThreshold ?? CIRCUIT_FAILURE_THRESHOLD,
    openMs:
      defaults?.circuitCooldownSeconds === undefined
        ? CIRCUIT_OPEN_MS
        : defaults.circuitCooldownSeconds * MS_PER_SECOND,
  };
}

/** The key of one reservation's lease: one per attempt of a task. */
export const leaseKey = (batchId: string, taskId: string, attempt: number) =>
  `${batchId}#${taskId}#${attempt}`;

/** When a reservation for a task with `timeoutSeconds` stops being trusted (epoch ms). */
export function leaseExpiry(now: number, timeoutSeconds: number): number {
  return now + timeoutSeconds * MS_PER_SECOND + LEASE_MARGIN_MS;
}

/** Lease keys of `leases` whose expiry is before `now`, oldest first. */
export function expiredLeases(leases: Readonly<Record<string, number>>, now: number): string[] {
  return Object.entries(leases)
    .filter(([, expiresAt]) => expiresAt < now)
    .sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0]))
    .map(([key]) => key);
}

/** What a task marked waiting for a role waits for: a free slot of the role, or its batch's budget. */
export type WaitingFor = 'capacity' | 'budget';

/** A waiting mark as the scaler reads it (AgentRegistry.waitingMarks). */
export interface WaitingMark {
  /** Its last WAIT (epoch ms). */
  at: number;
  waitingFor: WaitingFor;
  /**
   * false for a mark without its place in the order releases serve (written by a version before that order was
   * kept): no release finds it until the scaler gives it its place (AgentRegistry.orderWaiting).
   */
  ordered?: boolean;
}

/**
 * How many tasks wait for a slot of the role at `now`: its fresh waiting marks (see WAITING_FRESH_MS) of
 * tasks waiting for capacity. A task waiting for its batch's budget is not backlog: an agent more would not
 * run it.
 */
export function freshWaiting(marks: Readonly<Record<string, WaitingMark>>, now: number): number {
  return Object.values(marks).filter((m) => m.waitingFor === 'capacity' && m.at >= now - WAITING_FRESH_MS)
    .length;
}

/** What the scaler sees of one role. */
export interface RoleBacklog {
  /** Messages on the role queue, visible and in flight (each one a dispatched attempt). */
  queued: number;
  /** Tasks of the role waiting for capacity (fresh waiting marks). */
  waiting: number;
  /**
   * Slots of the role's live agents (sum of capacities). Every slot can be reserved and dispatched at any
   * moment, and a dispatched message that waits for a poller longer than HeartbeatSeconds times out, so
   * the queue keeps at least this concurrency (within bounds). Default 0.
   */
  liveSlots?: number;
}

export interface ScalePlan {
  /** Logical agents the role should have (live): within [minAgents, maxAgents]. */
  agents: number;
  /** The role queue's MaximumConcurrency: within [MIN_QUEUE_CONCURRENCY, max(queueConcurrency, 2)]. */
  concurrency: number;
}

const clamp = (value: number, low: number, high: number) => Math.min(high, Math.max(low, value));

/**
 * The desired pool of a role for its backlog. Every queued message holds a slot and every waiting task
 * needs one, so the demand in slots is `queued + waiting`; agents = ceil(demand / capacity), and
 * concurrency = max(demand, liveSlots) (one invocation per task that is or may be in flight), each clamped
 * to the role's bounds. Both are monotone non-decreasing in every input.
 */
export function desiredScale(
  defaults: Pick<RoleDefaults, 'capacity' | 'minAgents' | 'maxAgents' | 'queueConcurrency'>,
  backlog: RoleBacklog,
): ScalePlan {
  const demand = Math.max(0, backlog.queued) + Math.max(0, backlog.waiting);
  const maxAgents = Math.max(defaults.maxAgents, defaults.minAgents);
  const agents = clamp(Math.ceil(demand / Math.max(1, defaults.capacity)), defaults.minAgents, maxAgents);
  const maxConcurrency = Math.max(defaults.queueConcurrency, MIN_QUEUE_CONCURRENCY);
  const concurrency = clamp(Math.max(demand, backlog.liveSlots ?? 0), MIN_QUEUE_CONCURRENCY, maxConcurrency);
  return { agents, concurrency };
}

/**
 * Seconds a task waits before asking the router again, after its `waits`-th consecutive WAIT (from 1). A wait
 * ends early when a slot of its role frees (the release hands it over) or the role gains slots (an operator's
 * PUT /agents, a lease the scaler reclaims, agents it spawns: route.ts wakeForCapacity), so the timeout
 * bounds only what nothing announces: an open circuit's cool-down (`until`: the wait is cut to it) and, on
 * AWS, a release in another container that raced the task's WAIT (see ParkedHints). Never below one second.
 * The wait doubles with each consecutive WAIT up to MAX_CAPACITY_WAIT_SECONDS (or the base, when longer): a
 * wait for budget starts at BUDGET_WAIT_SECONDS, since no release of another role announces a settled attempt,
 * and doubles so that a long one costs a parked task a Route and a park a minute, not every 2 s (each round is
 * about 13 events of a Step Functions execution's history, which holds 25,000).
 */
export function capacityWaitSeconds(waits: number, baseSeconds: number, untilSeconds?: number): number {
  const longest = Math.max(baseSeconds, MAX_CAPACITY_WAIT_SECONDS);
  const wait = Math.min(baseSeconds * 2 ** Math.max(0, waits - 1), longest);
  return untilSeconds === undefined ? wait : Math.max(1, Math.min(wait, Math.ceil(untilSeconds)));
}
