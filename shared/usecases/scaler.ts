/**
 * Scaler (EventBridge schedule on AWS; an interval in the local system): one cheap pass over every role.
 *  1. reclaims expired reservation leases, so a worker that died cannot hold a slot for ever;
 *  2. reads the role's backlog: queue depth (visible + in flight) plus fresh waiting-for-capacity marks,
 *     and prunes stale marks;
 *  3. derives the desired agent count (desiredScale, shared/domain/pool.ts);
 *  4. spawns logical agents up to it (pre-warming);
 *  5. terminates agents idle longer than the role's idleTtlSeconds, keeping max(minAgents, desired) and
 *     never one holding a reservation (the termination is conditional on reserved = 0);
 *  6. sets the role queue's MaximumConcurrency when it differs: the backlog, but never below the slots of
 *     the live agents, since a dispatched message waiting for a poller past HeartbeatSeconds times out.
 * Between 4 and 5, the slots steps 1 and 4 freed or added wake as many tasks parked for the role (no
 * release will: they would wait out their wait, 30 s and more, beside a free slot).
 * Circuits: an open circuit turns half-open on the first reserve after its cool-down (no pass needed); a
 * half-open agent whose probe was lost (lease reclaimed, no outcome) is re-opened here for a new probe.
 * Step 2 also gives waiting marks written before the byWait index their place in it (at most
 * MAX_MARKS_ORDERED_PER_PASS a role a pass), since no release finds a mark outside it.
 * After the roles, the batches whose execution ended with its status change event lost are ended
 * (interrupted.ts endLostStoppedExecutions), a bounded number a pass; before them, batches RUNNING since before
 * the running index that sweep reads are put into it (indexRunningBatches), a bounded number a pass.
 * A role whose queue cannot be read is still reclaimed and trimmed; its error is reported, not thrown.
 * A pass short of time (timeLeftMs) starts no further step: every step is conditional on what it read, so
 * the roles are left consistent and the next pass carries on.
 */
import { desiredScale, expiredLeases, freshWaiting, STUCK_PROBE_MS, WAITING_FRESH_MS } from '../domain/pool';
import type { RoleCatalog } from '../domain/roles';
import type { Agent, Role } from '../domain/schemas';
import type {
  AgentRegistry,
  BudgetLedger,
  Callbacks,
  Clock,
  ExecutionStates,
  QueueConcurrency,
  QueueDepth,
  TaskStore,
} from '../ports';
import { endLostStoppedExecutions, indexRunningBatches, type LostEventDeps } from './interrupted';
import { spawnAgent, wakeForCapacity } from './route';

export interface ScalerDeps {
  agents: AgentRegistry;
  catalog: RoleCatalog;
  clock: Clock;
  /** Role name -> queue URL (ROLE_QUEUE_URLS); roles without a queue are not scaled by backlog. */
  roleQueueUrls?: Readonly<Record<string, string>>;
  queues?: QueueDepth;
  concurrency?: QueueConcurrency;
  /**
   * Answers the tokens of tasks parked for capacity: the slots a pass frees (reclaimed leases) or adds
   * (spawned agents) wake as many parked tasks. Without it they route at their wait's timeout.
   */
  callbacks?: Pick<Callbacks, 'succeed'>;
  /**
   * Time left in this invocation (the Lambda context's getRemainingTimeInMillis): below
   * SCALER_STOP_MARGIN_MS no further step starts. The local system's reaches 0 when it stops, so a pass
   * under way then ends at its next step instead of holding the shutdown.
   */
  timeLeftMs?: () => number;
  /**
   * The batches and executions to end batches whose execution ended unseen (endLostStoppedExecutions), and
   * where the previous pass stopped among them; without it, no batch is looked at.
   */
  lostEvents?: {
    store: TaskStore;
    executions: ExecutionStates;
    ledger?: BudgetLedger;
    sweep: LostEventDeps['sweep'];
  };
}

/**
 * Waiting marks without their place in the byWait order (written by an older version) one pass orders for a
 * role: each costs a read and a conditional write, so a pass after an upgrade stays short whatever the
 * backlog; the next passes order the rest (a mark's task also re-WAITs at its wait's timeout, which orders it).
 */
export const MAX_MARKS_ORDERED_PER_PASS = 100;

/** Time a pass keeps in hand: it starts no step with less left (a step is a few conditional calls). */
export const SCALER_STOP_MARGIN_MS = 5_000;

function outOfTime(deps: ScalerDeps): boolean {
  return deps.timeLeftMs !== undefined && deps.timeLeftMs() < SCALER_STOP_MARGIN_MS;
}

export interface RoleScale {
  role: string;
  queued: number;
  waiting: number;
  desiredAgents: number;
  desiredConcurrency: number;
  /** The concurrency set this pass (absent when unchanged or not managed). */
  concurrencySet?: number;
  /** Tasks parked for the role that this pass woke for the slots it freed or added (absent: none tried). */
  woken?: number;
  /** Waiting marks this pass gave their place in the order releases serve (absent: none lacked it). */
  ordered?: number;
}

export interface ScaleResult {
  terminated: string[];
  spawned: string[];
  /** `<agentId>:<leaseKey>` of every lease reclaimed. */
  reclaimed: string[];
  /** Half-open agents whose probe was lost, re-opened for a new probe. */
  reopened: string[];
  roles: RoleScale[];
  errors: { role: string; error: string }[];
  /** Roles whose steps this pass did not finish, out of time (see ScalerDeps.timeLeftMs). */
  unfinished: string[];
  /** Batches ended as interrupted: their execution ended and its status change event never came. */
  interrupted: string[];
  /** Batches RUNNING since before the running index that this pass put into it (absent: the pass did not get there). */
  indexedRunning?: number;
  /** Why the look at running batches failed (it is tried again at the next pass). */
  interruptedError?: string;
}

const MS_PER_SECOND = 1000;

/** One scaling pass over every role of the catalog. */
export async function scaleAgents(deps: ScalerDeps): Promise<ScaleResult> {
  const now = deps.clock.now();
  const result: ScaleResult = {
    terminated: [],
    spawned: [],
    reclaimed: [],
    reopened: [],
    roles: [],
    errors: [],
    unfinished: [],
    interrupted: [],
  };
  const all = await deps.agents.list();
  const byRole = new Map<string, Agent[]>();
  for (const agent of all) byRole.set(agent.role, [...(byRole.get(agent.role) ?? []), agent]);
  await Promise.all(
    [...deps.catalog.values()].map(async (role) => {
      try {
        if (!(await scaleRole(deps, role, byRole.get(role.name) ?? [], now, result)))
          result.unfinished.push(role.name);
      } catch (error) {
        result.errors.push({
          role: role.name,
          error: error instanceof Error ? error.message : String(error),
        });
      }
    }),
  );
  if (deps.lostEvents && !outOfTime(deps)) {
    try {
      // First, so a batch put into the running index now is looked at in turn (the sweep reads that index).
      result.indexedRunning = await indexRunningBatches(deps.lostEvents);
      if (outOfTime(deps)) return result;
      result.interrupted = await endLostStoppedExecutions({
        ...deps.lostEvents,
        agents: deps.agents,
        clock: deps.clock,
        outOfTime: () => outOfTime(deps),
      });
    } catch (error) {
      result.interruptedError = error instanceof Error ? error.message : String(error);
    }
  }
  return result;
}

async function scaleRole(
  deps: ScalerDeps,
  role: Role,
  agents: Agent[],
  now: number,
  result: ScaleResult,
): Promise<boolean> {
  if (outOfTime(deps)) return false;
  // 1. Reclaim: conditional on the expiry read, so a lease extended or released meanwhile is untouched.
  /** Slots this pass freed or added for the role: tasks parked for it are woken for them. */
  let gained = 0;
  for (const agent of agents) {
    for (const key of expiredLeases(agent.leases ?? {}, now)) {
      const expiresAt = agent.leases?.[key] ?? 0;
      if (await deps.agents.reclaimLease(agent.agentId, key, expiresAt)) {
        result.reclaimed.push(`${agent.agentId}:${key}`);
        agent.reserved = Math.max(0, agent.reserved - 1);
        gained += 1;
      }
    }
  }

  // A probe whose lease was just reclaimed never reports: let the circuit admit a new one.
  for (const agent of agents) {
    if (agent.circuit === 'half_open' && agent.reserved === 0) {
      if (await deps.agents.reopenStuckProbe(agent.agentId, now - STUCK_PROBE_MS, now)) {
        result.reopened.push(agent.agentId);
      }
    }
  }

  // 2. Backlog.
  if (outOfTime(deps)) return false;
  const marks = await deps.agents.waitingMarks(role.name);
  const staleBefore = now - WAITING_FRESH_MS;
  const stale = Object.entries(marks)
    .filter(([, mark]) => mark.at < staleBefore)
    .map(([key]) => key);
  // Conditional: a mark its task refreshed after this read (a new WAIT, then a park) stays.
  if (stale.length > 0) await deps.agents.clearWaiting(role.name, stale, staleBefore);
  const unordered = Object.entries(marks)
    .filter(([, mark]) => mark.ordered === false && mark.at >= staleBefore)
    .map(([key]) => key)
    .slice(0, MAX_MARKS_ORDERED_PER_PASS);
  const ordered = unordered.length > 0 ? await deps.agents.orderWaiting(role.name, unordered) : undefined;
  const waiting = freshWaiting(marks, now);
  const queueUrl = deps.roleQueueUrls?.[role.name];
  const depth = queueUrl && deps.queues ? await deps.queues.depth(queueUrl) : undefined;
  const queued = depth ? depth.visible + depth.inFlight : 0;

  // 3. Plan the agents.
  const plan = desiredScale(role.defaults, { queued, waiting });
  const scale: RoleScale = {
    role: role.name,
    queued,
    waiting,
    desiredAgents: plan.agents,
    desiredConcurrency: plan.concurrency,
    ...(ordered !== undefined ? { ordered } : {}),
  };
  result.roles.push(scale);

  // 4. Pre-warm.
  if (outOfTime(deps)) return false;
  let live = agents.filter((a) => a.status !== 'terminated');
  while (live.length < plan.agents) {
    const agent = await spawnAgent(deps.agents, role, live, now);
    if (!agent) break; // every slot taken meanwhile (a router spawned): enough agents exist
    result.spawned.push(agent.agentId);
    live = [...live, agent];
    gained += agent.capacity;
  }
  if (deps.callbacks && gained > 0) {
    if (outOfTime(deps)) return false;
    // Best effort: a task not woken routes at its wait's timeout, as before.
    scale.woken = await wakeForCapacity(
      { agents: deps.agents, callbacks: deps.callbacks, clock: deps.clock },
      role.name,
      gained,
    ).catch(() => 0);
  }

  // 5. Idle termination, oldest idle first, keeping max(minAgents, desired).
  if (outOfTime(deps)) return false;
  const idleBefore = now - role.defaults.idleTtlSeconds * MS_PER_SECOND;
  let surplus = live.length - Math.max(role.defaults.minAgents, plan.agents);
  const idle = live
    .filter((a) => a.reserved === 0 && a.lastActiveAt < idleBefore)
    .sort((a, b) => a.lastActiveAt - b.lastActiveAt || b.agentId.localeCompare(a.agentId));
  for (const agent of idle) {
    if (surplus <= 0) break;
    // Conditional: an agent reserved since the scan keeps running.
    if (await deps.agents.terminateIfIdle(agent.agentId, idleBefore)) {
      result.terminated.push(agent.agentId);
      live = live.filter((a) => a.agentId !== agent.agentId);
      surplus--;
    }
  }

  // 6. Queue concurrency, from the backlog and the slots of the agents now live (only when a mapping
  // consumes the queue and the value changes).
  const liveSlots = live.reduce((n, a) => n + a.capacity, 0);
  scale.desiredConcurrency = desiredScale(role.defaults, { queued, waiting, liveSlots }).concurrency;
  if (outOfTime(deps)) return false;
  if (depth?.queueArn && deps.concurrency) {
    const current = await deps.concurrency.get(depth.queueArn);
    if (current !== undefined && current !== scale.desiredConcurrency) {
      if (await deps.concurrency.set(depth.queueArn, scale.desiredConcurrency)) {
        scale.concurrencySet = scale.desiredConcurrency;
      }
    }
  }
  return true;
}
