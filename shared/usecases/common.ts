/** Small helpers shared by several use cases. */
import { createHash } from 'node:crypto';
import { usdToNano } from '../domain/costs';
import { waitingLeadMs } from '../domain/pool';
import type { Attempt, TaskStatus, TriggerRule } from '../domain/schemas';
import { type DependencyOutcome, type GateCounts, gateDecision, gateOpen, openedBy } from '../domain/trigger';
import type { DispatchResult, GateOutput, RouteOutput, TaskRef } from '../domain/workflow';
import {
  type AgentSpend,
  type AttemptEnd,
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
  routesInTurn = false,
): Promise<void> {
  const dependents = [...new Set(task.dependents)];
  const turns =
    routeOpened && routesInTurn && dependents.length > 1 ? new RouteTurns(dependents.length) : undefined;
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
          turn?.pass();
          if (result.gateToken && gateOpen(result.trigger, result))
            await callbacks.succeed(result.gateToken, gateOutput(result.trigger, result));
          return;
        }
        if (result.gateToken && openedBy(result.trigger, result, outcome)) {
          const output = gateOutput(result.trigger, result);
          // Only the release that opened the gate gets here (exactly once), so the dependent is routed once.
          const routeIt = () =>
            (route as RouteOpened)({ batchId: task.batchId, taskId: dependentId }, result.task);
          const routed =
            output.proceed && route
              ? await (turn ? turn.take(urgencyOf(result.task), routeIt) : routeIt()).catch(() => undefined)
              : undefined;
          turn?.pass();
          await callbacks.succeed(result.gateToken, routed ? { ...output, route: routed } : output);
        }
      } finally {
        turn?.pass();
      }
    }),
  );
}

/**
 * How urgent a dependent's route is among those one Complete opens: its lead as a waiting task has it (the
 * priority, then the work on the longest chain that starts with it: domain/pool.ts waitingLeadMs), then the
 * dependency hops still ahead of it (each one costs the batch a hop's time too).
 */
function urgencyOf(task: StoredTask | undefined): [number, number] {
  if (!task) return [0, 0];
  return [waitingLeadMs(task.task.priority, task.chainAfter, task.workAheadMs), task.chainAfter ?? 0];
}

const moreUrgent = (a: readonly [number, number], b: readonly [number, number]) => b[0] - a[0] || b[1] - a[1];

/**
 * The routes of the dependents one Complete opens, one at a time and the most urgent first, once every release
 * has come back (releaseDependents with `routesInTurn`): for a store that answers one request at a time (the
 * embedded runtime's dynalite), where routes side by side interleave their calls and each dependent is
 * dispatched as late as the last. Each release takes its turn once: `take` (its route, queued) or `pass`.
 */
class RouteTurns {
  #left: number;
  readonly #queue: { urgency: [number, number]; run: () => Promise<void> }[] = [];

  constructor(releases: number) {
    this.#left = releases;
  }

  turn(): { take: <T>(urgency: [number, number], route: () => Promise<T>) => Promise<T>; pass: () => void } {
    let reported = false;
    const report = () => {
      if (reported) return false;
      reported = true;
      this.#left -= 1;
      if (this.#left === 0) void this.#drain();
      return true;
    };
    return {
      take: (urgency, route) =>
        new Promise((resolve, reject) => {
          this.#queue.push({ urgency, run: () => route().then(resolve, reject) });
          report();
        }),
      pass: () => void report(),
    };
  }

  async #drain(): Promise<void> {
    this.#queue.sort((a, b) => moreUrgent(a.urgency, b.urgency));
    for (const next of this.#queue.splice(0)) await next.run();
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
  if (attempt.usage === undefined) return {};
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
