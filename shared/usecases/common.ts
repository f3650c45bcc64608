/** Small helpers shared by several use cases. */
import { createHash } from 'node:crypto';
import { usdToNano } from '../domain/costs';
import { BATCH_CREATION_LEASE_MS } from '../domain/limits';
import { moreUrgent, readyUrgency } from '../domain/pool';
import type { Attempt, TaskStatus, TriggerRule } from '../domain/schemas';
import { type DependencyOutcome, type GateCounts, gateDecision, gateOpen, openedBy } from '../domain/trigger';
import type { DispatchResult, GateOutput, RouteOutput, TaskRef } from '../domain/workflow';
import {
  type AgentSpend,
  type AttemptEnd,
  type BatchCreation,
  type BatchState,
  type Callbacks,
  NotFoundError,
  type StoredTask,
  type TaskStore,
} from '../ports';

export const TERMINAL_STATUSES: ReadonlySet<TaskStatus> = new Set([
  'SUCCEEDED',
  'FAILED',
  'SKIPPED',
  'CANCELLED',
]);

export const isTerminal = (status: TaskStatus) => TERMINAL_STATUSES.has(status);

/** Whole seconds (at least 1) until a submission's claim on its batch id expires. */
export const creationLeaseSecondsLeft = (creation: Pick<BatchCreation, 'expiresAt'>, now: number): number =>
  Math.max(1, Math.ceil((creation.expiresAt - now) / 1000));

/**
 * The Retry-After of the 409s that meet a batch still being created (submit's and cancel's): as long as the
 * creation has run so far (at least 1 s), never past its claim's expiry. A live submission finishes in
 * milliseconds to seconds, so a client that obeys tries again about when it is done, not after the whole
 * lease (BATCH_CREATION_LEASE_MS); one that died is asked again at doubling intervals, a handful of requests
 * until its claim expires and the request sent again takes the creation over.
 */
export function creationRetrySeconds(creation: Pick<BatchCreation, 'expiresAt'>, now: number): number {
  const leftMs = creation.expiresAt - now;
  const elapsedMs = BATCH_CREATION_LEASE_MS - leftMs;
  return Math.max(1, Math.min(Math.ceil(elapsedMs / 1000), creationLeaseSecondsLeft(creation, now)));
}

/** Step Functions execution names: 1-80 characters, no spaces, brackets, wildcards, ':' and a few more. */
const EXECUTION_NAME_MAX = 80;
const EXECUTION_NAME_FORBIDDEN = /[\s<>{}[\]?*"#%\\^|~`$&,;:/]/;
const NAME_HASH_CHARS = 10;

/**
 * The execution name for a batch (plus an optional suffix such as `-redrive-2`): the batch id itself when
 * Step Functions accepts it, else a readable prefix and a hash of the id, so distinct ids never collide.
 */
export function executionNameFor(batchId: string, suffix = ''): string {
  const plain = `${batchId}${suffix}`;
  if (plain.length <= EXECUTION_NAME_MAX && !EXECUTION_NAME_FORBIDDEN.test(plain)) return plain;
  const hash = createHash('sha256').update(batchId).digest('hex').slice(0, NAME_HASH_CHARS);
  const room = EXECUTION_NAME_MAX - suffix.length - hash.length - 1;
  return `${batchId.replace(new RegExp(EXECUTION_NAME_FORBIDDEN.source, 'g'), '_').slice(0, room)}-${hash}${suffix}`;
}

/**
 * The gate's answer once it is open (domain/trigger.ts): the trigger rule's decision, or, with `reason`, no
 * run at all (the batch was cancelled, the task ended).
 */
export function gateOutput(rule: TriggerRule | undefined, counts: GateCounts, reason?: string): GateOutput {
  const decision = reason === undefined ? gateDecision(rule, counts) : { proceed: false, reason };
  return {
    proceed: decision.proceed,
    failedDeps: counts.failedDeps,
    ...(decision.reason !== undefined ? { reason: decision.reason } : {}),
  };
}

/** The gate counters of a stored task (those absent on items written before trigger rules count 0). */
export function gateCountsOf(task: StoredTask): GateCounts {
  return {
    pendingDeps: task.pendingDeps,
    failedDeps: task.failedDeps,
    skippedDeps: task.skippedDeps ?? 0,
    succeededDeps: task.succeededDeps ?? 0,
  };
}

/**
 * Counts `task`'s completion on each dependent (at most once per pair: the store remembers who released
 * it) and answers a dependent's armed gate when this release opened it under the dependent's trigger rule
 * (the last dependency to finish, or, for one_success, the first to succeed): the Complete half of the gate
 * protocol. A release counted before (a repeated Complete) answers an open gate again, without a route.
 * `routeOpened` may be a promise: the releases are written at once, and no gate is answered (no dependent
 * routed) before it resolves; when it rejects, none is. Rejects once every release settled, with the first error.
 */
export async function releaseDependents(
  store: TaskStore,
  callbacks: Callbacks,
  task: Pick<StoredTask, 'batchId' | 'taskId' | 'dependents'>,
  outcome: DependencyOutcome,
  routeOpened?: RouteOpened | Promise<RouteOpened | undefined>,
  lane?: RouteLane,
): Promise<void> {
  const dependents = [...new Set(task.dependents)];
  const turns = routeOpened && lane ? new RouteTurns(dependents.length, lane) : undefined;
  await settleAll(
    dependents.map(async (dependentId) => {
      const turn = turns?.turn();
      try {
        const result = await store.releaseDependent(task.batchId, dependentId, outcome, task.taskId);
        const route = await routeOpened;
        if (result.applied === false) {
          // Counted before: a repeated Complete, whose first run released this dependent and then failed (an
          // error answering the gate, a crash) before its gate's answer went out. Nothing else would answer it
          // before the gate arms again (GATE_REARM_SECONDS), so an open gate's token is answered once more,
          // without a route: an answer that went out before makes this one a refused, gone token; otherwise the
          // dependent routes itself, and its Route meets any attempt the first run started.
          // Its turn passes now, not after this answer: the others' routes do not wait for it.
          turn?.pass();
          if (result.gateToken && gateOpen(result.trigger, result))
            await callbacks.succeed(result.gateToken, gateOutput(result.trigger, result));
          return;
        }
        if (result.gateToken && openedBy(result.trigger, result, outcome)) {
          const output = gateOutput(result.trigger, result);
          // Only the release that opened the gate gets here (exactly once), so the dependent is routed once.
          let routed: RouteOutput | undefined;
          if (output.proceed && route) {
            const routeIt = () => route({ batchId: task.batchId, taskId: dependentId }, result.task);
            routed = await (turn ? turn.take(readyUrgency(result.task), routeIt) : routeIt()).catch(
              () => undefined,
            );
          }
          await callbacks.succeed(result.gateToken, routed ? { ...output, route: routed } : output);
        }
      } finally {
        turn?.pass();
      }
    }),
  );
}

/**
 * Where the routes of the dependents that Completes open wait their turn: at most `concurrency` at once among the
 * Completes that share the lane (a handler's: completeDeps), the most urgent waiting one next (domain/pool.ts
 * readyUrgency; the longest waiting among equals).
 * For a store that answers one request at a time (the embedded runtime's dynalite), where routes side by side
 * interleave their calls and each dependent is dispatched as late as the last: the critical path's dependent
 * goes first, whichever Complete opened it (CompleteDeps.routeLane). Routes wait holding nothing.
 */
export class RouteLane {
  #running = 0;
  #arrivals = 0;
  readonly #waiting: { urgency: readonly [number, number]; arrival: number; start: () => void }[] = [];

  constructor(readonly concurrency = 1) {
    if (!Number.isInteger(concurrency) || concurrency < 1)
      throw new RangeError(`A route lane's concurrency must be an integer >= 1, got ${concurrency}`);
  }

  /** Runs `route` in its turn; answers what it answers. */
  run<T>(urgency: readonly [number, number], route: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const start = () => {
        Promise.resolve()
          .then(route)
          .then(resolve, reject)
          .finally(() => {
            this.#running -= 1;
            this.#next();
          });
      };
      this.#waiting.push({ urgency, arrival: this.#arrivals++, start });
      this.#next();
    });
  }

  #next(): void {
    while (this.#running < this.concurrency && this.#waiting.length > 0) {
      let best = 0;
      for (let i = 1; i < this.#waiting.length; i++) {
        const a = this.#waiting[i];
        const b = this.#waiting[best];
        if (a && b && (moreUrgent(a.urgency, b.urgency) || a.arrival - b.arrival) < 0) best = i;
      }
      const [next] = this.#waiting.splice(best, 1);
      this.#running += 1;
      next?.start();
    }
  }
}

/**
 * The routes of the dependents one Complete opens, handed to the lane once every release has come back
 * (releaseDependents with a RouteLane), so the most urgent of them goes first even when the lane is free as the
 * first release comes back. Each release takes its turn once: `take` (its route, queued) or `pass` (no route;
 * also called after `take`, where it does nothing).
 */
class RouteTurns {
  #left: number;
  readonly #lane: RouteLane;
  readonly #queue: { urgency: readonly [number, number]; run: () => void }[] = [];

  constructor(releases: number, lane: RouteLane) {
    this.#left = releases;
    this.#lane = lane;
  }

  turn(): {
    take: <T>(urgency: readonly [number, number], route: () => Promise<T>) => Promise<T>;
    pass: () => void;
  } {
    let reported = false;
    const report = () => {
      if (reported) return;
      reported = true;
      this.#left -= 1;
      if (this.#left > 0) return;
      // The most urgent first: the lane starts the first at once when it is free.
      this.#queue.sort((a, b) => moreUrgent(a.urgency, b.urgency));
      for (const queued of this.#queue.splice(0)) queued.run();
    };
    return {
      take: (urgency, route) =>
        new Promise((resolve, reject) => {
          this.#queue.push({ urgency, run: () => this.#lane.run(urgency, route).then(resolve, reject) });
          report();
        }),
      pass: report,
    };
  }
}

/** Waits for every one of `work` to settle, then throws the first error among them (in their order). */
export async function settleAll(work: readonly unknown[]): Promise<void> {
  const failed = (await Promise.allSettled(work)).find((outcome) => outcome.status === 'rejected');
  if (failed) throw failed.reason;
}

/**
 * Routes a dependent whose gate this release opened (hop latency): its Route output travels with the gate's
 * token, so the dependent skips its own Route state. undefined (or an error) leaves the routing to it. A
 * Route is safe to repeat: a dependent whose attempt started here is answered that dispatch again.
 * `released` is the dependent as the release's write answered it, so the Route need not read it again.
 */
export type RouteOpened = (dependent: TaskRef, released?: StoredTask) => Promise<RouteOutput | undefined>;

/**
 * The HeartbeatSeconds a Dispatch uses: the configured interval, kept below the task's timeout because
 * Step Functions requires HeartbeatSeconds < TimeoutSeconds. Route sends it; the worker beats at a third.
 */
export function effectiveHeartbeatSeconds(configured: number, timeoutSeconds: number): number {
  return Math.max(1, Math.min(configured, timeoutSeconds - 1));
}

/** What an attempt that reported its usage adds to its agent's totals (nothing when it reported none). */
export function spentOf(attempt: Pick<Attempt, 'usage' | 'costUsd'>): { spent?: AgentSpend } {
  // An answer that reported no usage: no tokens to add, its cost unknown (the agent's cost is unknown then).
  if (attempt.usage === undefined)
    return attempt.costUsd === null
      ? { spent: { usage: { inputTokens: 0, outputTokens: 0 }, costNanoUsd: null } }
      : {};
  const cost = attempt.costUsd;
  return {
    spent: {
      usage: attempt.usage,
      costNanoUsd: cost === null || cost === undefined ? null : usdToNano(cost),
    },
  };
}

/** The batch's state and the task, read together; NotFoundError for either one missing. */
export async function readBatchAndTask(
  store: Pick<TaskStore, 'getBatchState' | 'getTask'>,
  ref: { batchId: string; taskId: string },
): Promise<{ batch: BatchState; task: StoredTask }> {
  const [batch, task] = await Promise.all([
    store.getBatchState(ref.batchId),
    store.getTask(ref.batchId, ref.taskId),
  ]);
  if (!batch) throw new NotFoundError('batch', ref.batchId);
  if (!task) throw new NotFoundError('task', `${ref.batchId}/${ref.taskId}`);
  return { batch, task };
}

/**
 * The end of an attempt as the worker's answer carries it (DispatchResult): the output or its reference, and
 * the attempt's record (context, usage, cost), to be written with the attempt's status.
 */
export function attemptEndOf(
  result: DispatchResult,
  number: number,
  finishedAt: number,
): AttemptEnd & { number: number; finishedAt: number } {
  return {
    number,
    finishedAt,
    ...(result.output === undefined ? {} : { output: result.output }),
    ...(result.outputRef === undefined ? {} : { outputRef: result.outputRef }),
    ...(result.context === undefined ? {} : { context: result.context }),
    ...(result.usage === undefined ? {} : { usage: result.usage }),
    ...(result.costUsd === undefined ? {} : { costUsd: result.costUsd }),
  };
}
