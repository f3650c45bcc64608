/**
 * Complete: the task's final status, the agent's metrics, and the release of its dependents (the Complete
 * half of the gate protocol). Safe to repeat: the status transition guards the metrics, and the store
 * counts each (dependency, dependent) pair once.
 */
import { APPROVAL_REJECTED_ERROR } from '../domain/approvals';
import { holdKey } from '../domain/budget';
import { circuitPolicy, leaseKey } from '../domain/pool';
import type { RoleCatalog } from '../domain/roles';
import type { TaskStatus } from '../domain/schemas';
import { type DependencyOutcome, gateDecision } from '../domain/trigger';
import {
  type CompleteInput,
  EXPANSION_FAILED_ERROR,
  type ExpansionRun,
  type TaskRef,
} from '../domain/workflow';
import {
  type AgentRegistry,
  type ArtifactStore,
  type BatchState,
  type BudgetLedger,
  type Callbacks,
  type Clock,
  NotFoundError,
  type StoredBatch,
  type StoredTask,
  type TaskStore,
} from '../ports';
import { recordApprovalTimeout, takeBackOnEnd } from './approval';
import { settleAttempt } from './budget';
import {
  attemptEndOf,
  gateCountsOf,
  isTerminal,
  type RouteLane,
  type RouteOpened,
  releaseDependents,
  settleAll,
  spentOf,
} from './common';
import { type ExpansionOutcome, expandTask, expansionRun } from './expand';
import { type HandOffConfig, releaseSlot } from './handoff';
import { hintsOf } from './parked-hints';
import { TIMEOUT_ERRORS } from './record-attempt';
import { type PrefetchedPool, routeTask } from './route';

export interface CompleteDeps {
  store: TaskStore;
  agents: AgentRegistry;
  callbacks: Callbacks;
  clock: Clock;
  /** The role catalog, for per-role circuit settings (defaults when absent). */
  catalog?: RoleCatalog;
  /** Budget ledgers: the attempt's end settles what it held. */
  ledger?: BudgetLedger;
  /**
   * Capacity hand-off (handoff.ts): what Route needs to dispatch a task parked for the role of a successful
   * attempt's agent, which then gets the slot directly. Without it, a release only wakes a parked task.
   */
  handOff?: HandOffConfig & {
    /** Route a dependent whose gate this Complete opens (hop latency); not with model-assisted routing. */
    routeDependents?: boolean;
  };
  /** The artifacts store: an expanding task's plan too large for the task item is read from it. */
  artifacts?: ArtifactStore;
  /**
   * The agent's bookkeeping (its outcome, its slot released or handed over) is written once the dependents this
   * Complete routes are routed and their gates answered, not beside their releases and routes. For a store
   * that answers one request at a time (the embedded runtime's dynalite), where the bookkeeping's read and
   * write slowed the calls on the way to the next dispatch; on DynamoDB calls do not compete, and beside the
   * routes the Complete ends sooner (the default). A dependent that may need the freed slot still routes after
   * the bookkeeping either way.
   * `whenQuiet`, when given, is awaited before it too, unless a task is parked for the slot's role (the slot is
   * then someone's next dispatch): the embedded runtime waits there for its store to be quiet a moment, so the
   * bookkeeping's calls do not slow the dependent's worker claiming its attempt and reading its context either.
   */
  bookkeepingAfterRoutes?: { whenQuiet?: () => Promise<void> };
  /**
   * The dependents' releases are sent once the task's status is written, not beside it (the default when the
   * worker's answer names them, DispatchResult.dependents). For a store that answers one request at a time (the
   * embedded runtime's dynalite), whose requests interleave: beside the status write, its answer and the
   * releases' came no sooner there (`npm run bench:hop`). On DynamoDB calls do not compete, and beside it the next
   * dispatch comes a round trip sooner (bench:hop with HOP_RTT_MS, a model of the network's round trips).
   */
  releasesAfterStatusWrite?: boolean;
  /**
   * The dependents this Complete opens are routed in the lane's turn, the most urgent first (the priority, then
   * the work and hops on the longest chain ahead of each), once every release came back, instead of side by
   * side; the lane is shared by the Completes of one handler (usecases/common.ts RouteLane). For a store that
   * answers one request at a time (the embedded runtime's dynalite), where routes side by side interleave their
   * calls and each dependent is dispatched as late as the last: a fast branch's next task no longer waits for a
   * slow branch's route. On DynamoDB calls do not compete, and side by side none waits.
   */
  routeLane?: RouteLane;
}

export interface CompleteResult {
  status: TaskStatus;
  /** false when the task was already terminal (a repeated Complete, or cancelled meanwhile). */
  transitioned: boolean;
  /** An expanding task that added tasks: what the nested execution runs (RunExpansion). */
  expansion?: ExpansionRun;
}

/** Applies a task outcome and releases its dependents; safe to call twice. */
export async function completeTask(deps: CompleteDeps, input: CompleteInput): Promise<CompleteResult> {
  const now = deps.clock.now();
  // Success needs nothing read first: the status write answers the task (its dependents, attempts and agent
  // do not change with the status), and, when the worker's answer carries the attempt's end (it did not
  // store a large output itself), the same write ends the attempt. A task that was terminal already is read.
  const result = input.result;
  const attemptEnd =
    result?.finishedAt !== undefined && !result.outputStored
      ? attemptEndOf(result, input.attempt ?? result.attempt, result.finishedAt)
      : undefined;
  // An expanding task adds its tasks before its status is written (usecases/expand.ts); a refused expansion
  // fails it instead, with the reason, its attempt and output kept.
  const expansion: ExpansionOutcome | undefined =
    input.outcome === 'SUCCEEDED' && result?.expands === true
      ? await expandTask(deps, input.batchId, input.taskId, result)
      : undefined;
  const refusal = expansion?.kind === 'refused' ? expansion.reason : undefined;
  const added = expansion?.kind === 'added' ? expansion.tasks : [];
  const outcome = refusal === undefined ? input.outcome : 'FAILED';
  const statusWrite =
    input.outcome === 'SUCCEEDED'
      ? deps.store.transitionTask(input.batchId, input.taskId, outcome, {
          at: now,
          ...(refusal === undefined ? {} : { reason: refusal }),
          ...(added.length > 0 ? { expandedTasks: added.map((t) => t.taskId) } : {}),
          ...(attemptEnd ? { attempt: attemptEnd } : {}),
        })
      : undefined;
  const batch = startedOnce(() => deps.store.getBatchState(input.batchId));
  // Hop latency: the dependents the worker's answer names (a task's dependents never change once stored) are
  // released beside the status write, with the batch's read their routes take, instead of after it: one store
  // round trip less on the way to the next dispatch. Their gates are answered, and dependents routed, only once
  // the status write answered (a dependent's context reads the output it writes) and with what this Complete
  // decides below. (A succeeding task releases its dependents as its outcome: see releaseAs.)
  // The pool of each dependent whose role the answer names (another than the freed slot's) is listed beside its
  // release too, for its route's first look: one more round trip less.
  const early =
    statusWrite && result?.dependents?.length && !deps.releasesAfterStatusWrite
      ? releaseEarly(deps, input, outcome, result.dependents, result.dependentRoles)
      : undefined;
  if (early && deps.handOff?.routeDependents) batch();
  let succeeded: StoredTask | undefined;
  let task: StoredTask | undefined;
  try {
    succeeded = await statusWrite;
    task = succeeded ?? (await deps.store.getTask(input.batchId, input.taskId));
    if (!task) throw new NotFoundError('task', `${input.batchId}/${input.taskId}`);
  } catch (error) {
    // No gate is answered: this Complete's retry finds the releases counted and answers the open gates.
    await early?.abandon(error);
    throw error;
  }
  let transitioned: boolean;
  /** The agent's bookkeeping, started after the dependents' releases are sent (below). */
  let bookkeeping: (() => Promise<unknown>) | undefined;
  /** The role of the slot the task's attempt held. */
  const slotRole = task.decision?.role ?? task.role;
  if (input.outcome === 'SUCCEEDED') {
    transitioned = succeeded !== undefined;
    const agentId = input.agentId ?? task.agentId;
    if (transitioned && agentId !== undefined) {
      const attemptNumber = input.attempt ?? task.attemptCount;
      const attempt = task.attempts[attemptNumber - 1];
      const outcome = {
        success: true,
        latencyMs: Math.max(
          0,
          (result?.finishedAt ?? attempt?.finishedAt ?? now) - (attempt?.startedAt ?? now),
        ),
        at: now,
        circuit: circuitPolicy(roleOf(deps, task)),
        ...spentOf(result ?? {}),
      };
      const slot = { leaseKey: leaseKey(input.batchId, input.taskId, attemptNumber) };
      // The slot goes to the longest-waiting task parked for the agent's role (handed over, dispatched), or
      // back in the metrics write (one round trip less), then a parked task is woken.
      bookkeeping = () => releaseSlot(deps, { agentId, role: slotRole, ...slot, outcome });
    }
  } else if (input.outcome === 'FAILED') {
    const last = task.attempts[task.attemptCount - 1];
    const reason = input.error
      ? await failureReason(deps, task, input.error)
      : (input.retry?.failure ??
        `failed after ${task.attemptCount} attempt${task.attemptCount === 1 ? '' : 's'}${
          last?.error ? `; last error: ${last.error}` : ''
        }`);
    transitioned = await deps.store.setTaskStatus(input.batchId, input.taskId, 'FAILED', { reason, at: now });
  } else {
    transitioned = await deps.store.setTaskStatus(input.batchId, input.taskId, 'SKIPPED', {
      reason: await skipReason(deps.store, task),
      at: now,
    });
  }
  // failFast cancels the tasks that have not started before this failure releases its dependents: a dependent
  // the release would open (all_done, or one_success with another dependency that succeeded) is one of them,
  // and its gate, answered below, finds it CANCELLED (Route STOPs it) instead of dispatching it.
  if (outcome === 'FAILED' && transitioned) {
    const state = await deps.store.getBatch(input.batchId);
    if (state?.failFast) await failFast(deps, state, task.taskId);
  }
  // A FAILED outcome for a task whose status was written already (FailOnError after a CompleteTask whose
  // handler failed past its status write) releases the dependents with the status the task has, so a
  // dependent the failed run had not released yet counts the same outcome as those it had.
  // (The terminal statuses are exactly the dependency outcomes.)
  const releaseAs: DependencyOutcome =
    input.outcome === 'FAILED' && !transitioned && isTerminal(task.status)
      ? (task.status as DependencyOutcome)
      : outcome;
  // Dependents first: their gates wait on this; the agent's slot and metrics, and the budget's hold of the
  // attempt (settled once, with what it used), are written meanwhile.
  // A handler error fails the task (FailOnError): a Route that held the next attempt's worst case and then
  // failed leaves a hold no attempt will settle; it goes back unspent.
  const droppedHold =
    input.outcome === 'FAILED' && input.error && deps.ledger
      ? deps.ledger.dropHold(task.batchId, holdKey(task.taskId, task.attemptCount + 1))
      : undefined;
  const settledAttempt =
    input.outcome === 'SUCCEEDED' ? (input.attempt ?? task.attemptCount) : task.attemptCount;
  // The agent's bookkeeping (its outcome, its slot released or handed to a parked task) is written beside the
  // dependents' releases and routes (DynamoDB's calls do not compete, and the Complete ends sooner), or, with
  // bookkeepingAfterRoutes, once they are routed and their gates answered: on the embedded runtime, whose
  // dynalite answers on one thread, its read and write slowed the routes' calls on the way to the next
  // dispatch. A dependent that may need the slot it frees (its role not named, or the agent's own) routes after
  // it either way, so it takes the slot instead of racing its release and waiting.
  // The releases are sent first, then the batch's read and the bookkeeping: an emulator that answers one
  // request at a time (dynalite) answers a release, on the way to the next dispatch, before them.
  // The bookkeeping is awaited below (a route that waited on it leaves its failure to its Route); a failed batch
  // read fails the routes that use it, and none may use it.
  const bookkept = startedOnce(() => bookkeeping?.() ?? Promise.resolve());
  /** Whether a dependent's route started the bookkeeping (it may need the slot). */
  let pulledForward = false;
  const opened = routeOpened(
    deps,
    task,
    batch,
    (released) => {
      const role = released?.task.role;
      if (role !== undefined && role !== slotRole) return undefined;
      pulledForward = true;
      return bookkept();
    },
    // Not for a dependent of the freed slot's role: its pool is listed once the slot's release is written.
    (dependentId, released) =>
      released !== undefined && released.task.role !== slotRole ? early?.pools.get(dependentId) : undefined,
  );
  const releasing = early
    ? early.open(opened)
    : releaseDependents(deps.store, deps.callbacks, task, releaseAs, opened, deps.routeLane);
  if (opened) batch();
  // No quiet to wait for without bookkeeping (a failed or skipped task's), or when a route started it already.
  const afterRoutes = () =>
    bookkeeping === undefined || pulledForward
      ? bookkept()
      : bookkeepingWhenQuiet(deps, slotRole).then(bookkept);
  // Everything settles before a failure is thrown: a Complete that failed early (a release's error) while the
  // bookkeeping was still on its way would leave the agent's slot taken, as its retry finds the status written
  // and writes no bookkeeping; the slot would wait for the scaler to reclaim its lease.
  await settleAll([
    releasing,
    opened && deps.bookkeepingAfterRoutes ? releasing.then(afterRoutes, afterRoutes) : bookkept(),
    settleAttempt(deps.ledger, task, settledAttempt, input.outcome === 'SUCCEEDED' ? result : undefined),
    droppedHold,
  ]);
  const latest = transitioned ? undefined : await deps.store.getTask(input.batchId, input.taskId);
  return {
    status: latest?.status ?? outcome,
    transitioned,
    ...(added.length > 0 ? { expansion: expansionRun(added) } : {}),
  };
}

/**
 * Releases `dependents` at once (releaseDependents), answering their gates once `open` gives what routes the
 * ones it opens (see routeOpened); `abandon` answers none and resolves once every release settled. When
 * Complete routes the dependents it opens, the pool of each role `roles` names for a dependent is listed at once
 * too (one listing per role): `pools`, by dependent.
 */
function releaseEarly(
  deps: CompleteDeps,
  ref: TaskRef,
  outcome: DependencyOutcome,
  dependents: readonly string[],
  roles: Readonly<Record<string, string>> = {},
): {
  open: (route: RouteOpened | undefined) => Promise<void>;
  abandon: (error: unknown) => Promise<void>;
  pools: ReadonlyMap<string, PrefetchedPool>;
} {
  let open: (route: RouteOpened | undefined) => void = () => undefined;
  let refuse: (error: unknown) => void = () => undefined;
  const opened = new Promise<RouteOpened | undefined>((resolve, reject) => {
    open = resolve;
    refuse = reject;
  });
  // Handled here too: a release that failed before it waited for `opened` does not see it refused.
  opened.catch(() => undefined);
  const task = { batchId: ref.batchId, taskId: ref.taskId, dependents: [...dependents] };
  const releasing = releaseDependents(deps.store, deps.callbacks, task, outcome, opened, deps.routeLane);
  releasing.catch(() => undefined);
  const pools = new Map<string, PrefetchedPool>();
  if (deps.handOff?.routeDependents) {
    const listings = new Map<string, PrefetchedPool>();
    for (const [dependentId, role] of Object.entries(roles)) {
      if (!dependents.includes(dependentId)) continue;
      let listing = listings.get(role);
      if (!listing) {
        const agents = deps.agents.list(role);
        agents.catch(() => undefined); // a failed listing: the route lists the pool itself
        listing = { roles: [role], agents };
        listings.set(role, listing);
      }
      pools.set(dependentId, listing);
    }
  }
  return {
    pools,
    open: (route) => {
      open(route);
      return releasing;
    },
    abandon: async (error) => {
      refuse(error);
      await releasing.catch(() => undefined);
    },
  };
}

/**
 * Resolves when the bookkeeping may start after the routes (see CompleteDeps.bookkeepingAfterRoutes): at once
 * when a task may be parked for `role` (this process's hints do not say nobody is: it may wait for the slot)
 * or nothing says to wait; never rejects.
 */
async function bookkeepingWhenQuiet(deps: CompleteDeps, role: string | undefined): Promise<void> {
  const whenQuiet = deps.bookkeepingAfterRoutes?.whenQuiet;
  if (!whenQuiet || role === undefined) return;
  if (!hintsOf(deps.handOff ?? {}).nobodyParked(role, deps.clock.now())) return;
  await whenQuiet().catch(() => undefined);
}

/**
 * `start`, called at the first call of the answer and never again: every call answers its one promise, whose
 * rejection counts as handled (each caller that awaits it still sees it).
 */
function startedOnce<T>(start: () => Promise<T>): () => Promise<T> {
  let started: Promise<T> | undefined;
  return () => {
    if (!started) {
      started = start();
      started.catch(() => undefined);
    }
    return started;
  };
}

/**
 * Hop latency: a dependent whose gate this Complete opens is routed here, and its Route output travels with
 * the gate's token (RoutedByGate), one Lambda invocation and two state transitions fewer per dependency hop.
 * Only with the hand-off's dispatch deps; without them the dependent routes itself.
 */
function routeOpened(
  deps: CompleteDeps,
  task: StoredTask,
  /** The batch's state, read once for every dependent routed. */
  batch: () => Promise<BatchState | undefined>,
  /** Awaited before a dependent is routed (the bookkeeping it may need), when it answers a promise. */
  before: (released: StoredTask | undefined) => Promise<unknown> | undefined,
  /** A listing of the dependent's pool started beside its release, for its route's first look. */
  poolOf: (dependentId: string, released: StoredTask | undefined) => PrefetchedPool | undefined,
): RouteOpened | undefined {
  if (!deps.handOff?.routeDependents || task.dependents.length === 0) return undefined;
  const { routeDependents: _, ...dispatch } = deps.handOff;
  const routeDeps = {
    ...dispatch,
    store: deps.store,
    agents: deps.agents,
    clock: deps.clock,
    callbacks: deps.callbacks,
  };
  // The batch's state is read once, while the releases are written (the caller starts it once they are sent, or
  // beside the status write when the releases go out with it), for every dependent they open: one read per
  // Complete with dependents (also when no gate opens), one round trip less on every hop.
  return async (dependent, released) => {
    await before(released);
    const pool = poolOf(dependent.taskId, released);
    return routeTask(routeDeps, dependent, { task: released, batch: batch(), ...(pool ? { pool } : {}) });
  };
}

/**
 * A caught state error in one line: `Error: message`. A Lambda function error's Cause is JSON
 * ({ errorType, errorMessage, trace }): its message is what a user needs, not the stack.
 */
export function describeStateError(error: { Error: string; Cause?: string | undefined }): string {
  if (!error.Cause) return error.Error;
  try {
    const cause = JSON.parse(error.Cause) as { errorMessage?: unknown };
    if (typeof cause.errorMessage === 'string') return `${error.Error}: ${cause.errorMessage}`;
  } catch {
    // Not JSON: the Cause is the message itself.
  }
  return `${error.Error}: ${error.Cause}`;
}

/** Errors whose Cause is the whole reason the task fails (written for the task's record). */
const REASON_IN_CAUSE: ReadonlySet<string> = new Set([APPROVAL_REJECTED_ERROR, EXPANSION_FAILED_ERROR]);

/**
 * Why a state error fails the task. An approval before dispatch that was rejected says so in the reviewer's
 * words, a failed expansion names its nested execution's error; an approval whose wait timed out is recorded
 * as a rejection by timeout.
 */
async function failureReason(
  deps: CompleteDeps,
  task: StoredTask,
  error: NonNullable<CompleteInput['error']>,
): Promise<string> {
  if (REASON_IN_CAUSE.has(error.Error) && error.Cause) return error.Cause;
  if (TIMEOUT_ERRORS.has(error.Error)) {
    const timeout = await recordApprovalTimeout(deps, task);
    if (timeout) return timeout.reason;
  }
  return `failed: ${describeStateError(error)}`;
}

function roleOf(deps: CompleteDeps, task: StoredTask) {
  const role = task.decision?.role ?? task.role;
  return role === undefined ? undefined : deps.catalog?.get(role)?.defaults;
}

/** Why the gate skipped the task: its trigger rule's reason and the dependencies that did not succeed. */
async function skipReason(store: TaskStore, task: StoredTask): Promise<string> {
  const deps = await Promise.all(
    [...new Set(task.task.dependsOn ?? [])].map((id) => store.getTask(task.batchId, id)),
  );
  const bad = deps.flatMap((d) => (d && d.status !== 'SUCCEEDED' ? [`${d.taskId} (${d.status})`] : []));
  const rule = task.task.trigger;
  if (rule === undefined || rule === 'all_success')
    return bad.length > 0 ? `skipped: dependency ${bad.join(', ')} did not succeed` : 'skipped';
  const decision = gateDecision(rule, gateCountsOf(task));
  const why = decision.reason ?? `trigger ${rule}`;
  return bad.length > 0 ? `skipped: ${why} (${bad.join(', ')})` : `skipped: ${why}`;
}

/**
 * failFast: every task that has not started yet is CANCELLED and its dependents are released as failed, so
 * every waiting gate wakes with proceed=false (or its task is STOPped by Route), the execution drains, and
 * Finalize reports the batch. Tasks already running finish normally.
 */
async function failFast(deps: CompleteDeps, batch: StoredBatch, failedTaskId: string): Promise<void> {
  const reason = `cancelled: failFast after task ${failedTaskId} failed`;
  const now = deps.clock.now();
  const tasks = await deps.store.listTasks(batch.batchId);
  await Promise.all(
    tasks
      .filter((t) => !isTerminal(t.status) && t.attemptCount === 0)
      .map(async (t) => {
        if (!(await deps.store.setTaskStatus(t.batchId, t.taskId, 'CANCELLED', { reason, at: now }))) return;
        // A decision (before dispatch) whose answer never got through did not take effect.
        await takeBackOnEnd(deps.store, t);
        // A cancelled task never reaches Complete, so its dependents are released here. Its own armed gate
        // is left to the gate protocol: the last of its dependencies (cancelled here, or running and
        // completing later) wakes it exactly once, and Route then STOPs the cancelled task.
        await releaseDependents(deps.store, deps.callbacks, t, 'CANCELLED');
      }),
  );
}
