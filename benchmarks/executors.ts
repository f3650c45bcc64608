/**
 * The in-process executors the comparison benchmark (`npm run bench:compare`) runs beside meta-agent on the
 * same DAGs: an ideal event-driven list scheduler (a task starts the moment its last dependency ends and its
 * role has a free slot) and LangGraph.js (a StateGraph with one node per task). Both hold a FIFO semaphore
 * per role around each task's work (the per-role concurrency) and sleep for the task's simulated duration.
 * `checkOrder` and `checkRoleLimit` prove a schedule valid: each task ran once, after every dependency
 * ended, within its role's limit. `listSchedule` (`npm run bench:order`) simulates the ideal scheduler with no
 * clock, giving a freed slot by readiness or by meta-agent's capacity waits' order.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Annotation, START, StateGraph } from '@langchain/langgraph';
import { Semaphore } from '../shared/adapters/executors/policy';
import { chainsAfter, dependentsOf, simulatedDurationEstimate, workAhead } from '../shared/domain/dag';
import { waitingLeadMs } from '../shared/domain/pool';
import type { Batch, BatchResult, Task } from '../shared/domain/schemas';
import { simulatedMs } from './lib';

/** When one task held its role's slot (performance.now() or epoch ms: one clock per schedule). */
export interface Span {
  readonly id: string;
  readonly startedAt: number;
  readonly finishedAt: number;
}

export interface Schedule {
  readonly spans: readonly Span[];
  /**
   * Submission to result, as meta-agent's report measures it (submit to Finalize): the call or the graph's
   * invoke to its return for the in-process executors.
   */
  readonly makespanMs: number;
}

/** An executor: runs the batch in-process, at most `perRole` tasks of a role at once. */
export type Executor = (batch: Batch, perRole: number) => Promise<Schedule>;

/** First task start to last task end. */
export function spanOf(spans: readonly Span[]): number {
  if (spans.length === 0) return 0;
  return Math.max(...spans.map((s) => s.finishedAt)) - Math.min(...spans.map((s) => s.startedAt));
}

/**
 * The spans of meta-agent's result, epoch ms: from the task's first dispatch decision (its attempt starts
 * when Route reserves the agent's slot, before the message waits in the role queue) to its Complete.
 */
export function spansOf(result: BatchResult): Span[] {
  return result.tasks.flatMap((t) =>
    t.startedAt === undefined || t.finishedAt === undefined
      ? []
      : [{ id: t.id, startedAt: t.startedAt, finishedAt: t.finishedAt }],
  );
}

/** Runs tasks' simulated work under one semaphore per role, recording when each held its slot. */
class RoleSlots {
  readonly spans: Span[] = [];
  readonly #slots = new Map<string, Semaphore>();
  readonly #abort = new AbortController();

  constructor(private readonly perRole: number) {}

  async work(task: Task): Promise<void> {
    const role = task.role ?? 'unknown';
    let slots = this.#slots.get(role);
    if (!slots) {
      slots = new Semaphore(this.perRole);
      this.#slots.set(role, slots);
    }
    const release = await slots.acquire(this.#abort.signal);
    const startedAt = performance.now();
    try {
      await sleep(simulatedMs(task));
    } finally {
      // Recorded before the slot is handed on, so the next holder starts at or after this end.
      this.spans.push({ id: task.id, startedAt, finishedAt: performance.now() });
      release();
    }
  }
}

/** Runs `body` and returns the spans its tasks recorded, with the time the whole run took. */
async function timed(slots: RoleSlots, body: () => Promise<void>): Promise<Schedule> {
  const began = performance.now();
  await body();
  return { spans: slots.spans, makespanMs: performance.now() - began };
}

/** The tasks that depend on each task (dag.ts dependentsOf), each once however often it names the task. */
function dependentTasks(batch: Batch): Map<string, Task[]> {
  const byId = new Map(batch.tasks.map((t) => [t.id, t]));
  return new Map(
    [...dependentsOf(batch.tasks)].map(([id, ids]) => [id, ids.map((d) => byId.get(d) as Task)]),
  );
}

/**
 * The ideal executor, in practice the lower bound: no hop costs anything, a task starts as soon as its last
 * dependency ends (then waits only for its role's slot, in order of readiness).
 */
export const runIdeal: Executor = async (batch, perRole) => {
  const slots = new RoleSlots(perRole);
  const pending = new Map(batch.tasks.map((t) => [t.id, new Set(t.dependsOn ?? [])]));
  const dependents = dependentTasks(batch);
  return timed(
    slots,
    () =>
      new Promise<void>((resolve, reject) => {
        let remaining = batch.tasks.length;
        if (remaining === 0) resolve();
        const start = (task: Task): void => {
          slots.work(task).then(() => {
            remaining -= 1;
            for (const next of dependents.get(task.id) ?? []) {
              const waiting = pending.get(next.id);
              waiting?.delete(task.id);
              if (waiting?.size === 0) start(next);
            }
            if (remaining === 0) resolve();
          }, reject);
        };
        for (const task of batch.tasks) if ((task.dependsOn ?? []).length === 0) start(task);
      }),
  );
};

/** The graph's state: the ids of the tasks done, appended by each node. */
const DagState = Annotation.Root({
  done: Annotation<string[]>({ reducer: (done, ids) => done.concat(ids), default: () => [] }),
});

/**
 * LangGraph.js on the same DAG: one node per task, an edge from each dependency. A task with several
 * dependencies gets one edge from the list of them (`addEdge([a, b], c)`): LangGraph then keeps a barrier
 * channel (NamedBarrierValue) that triggers the node only once every listed parent has written, whichever
 * supersteps they finished in. Separate `addEdge(a, c)` and `addEdge(b, c)` would run c after the first
 * parent (and again after the second); `defer: true` would hold c until nothing else is left to run.
 * LangGraph runs in supersteps (Pregel): every node triggered by the last step starts together, and the next
 * step starts when all of them have ended, so a fast branch waits for a slow one at each step.
 */
export const runLangGraph: Executor = async (batch, perRole) => {
  const slots = new RoleSlots(perRole);
  const graph = new StateGraph(DagState).addNode(
    Object.fromEntries(
      batch.tasks.map((task) => [
        task.id,
        async () => {
          await slots.work(task);
          return { done: [task.id] };
        },
      ]),
    ),
  );
  for (const task of batch.tasks) {
    const deps = task.dependsOn ?? [];
    const [only] = deps;
    if (only === undefined) graph.addEdge(START, task.id);
    else if (deps.length === 1) graph.addEdge(only, task.id);
    else graph.addEdge(deps, task.id);
  }
  const app = graph.compile();
  return timed(slots, async () => {
    // One superstep per level of the DAG at most: no more steps than tasks.
    const state = await app.invoke({ done: [] }, { recursionLimit: batch.tasks.length + 1 });
    if (state.done.length !== batch.tasks.length) {
      throw new Error(`LangGraph ran ${state.done.length} of ${batch.tasks.length} tasks`);
    }
  });
};

function spansById(batch: Batch, spans: readonly Span[]): Map<string, Span> {
  const byId = new Map<string, Span>();
  for (const span of spans) {
    if (byId.has(span.id)) throw new Error(`${span.id} ran more than once`);
    byId.set(span.id, span);
  }
  for (const task of batch.tasks) if (!byId.has(task.id)) throw new Error(`${task.id} did not run`);
  return byId;
}

/** Throws unless every task ran exactly once and started at or after the end of each of its dependencies. */
export function checkOrder(batch: Batch, spans: readonly Span[]): void {
  const byId = spansById(batch, spans);
  for (const task of batch.tasks) {
    const span = byId.get(task.id) as Span;
    for (const dep of task.dependsOn ?? []) {
      const parent = byId.get(dep);
      if (parent && span.startedAt < parent.finishedAt) {
        throw new Error(`${task.id} started before its dependency ${dep} ended`);
      }
    }
  }
}

/** Throws unless every task ran exactly once and no more than `perRole` tasks of a role ran at once. */
export function checkRoleLimit(batch: Batch, spans: readonly Span[], perRole: number): void {
  const byId = spansById(batch, spans);
  const events: { at: number; role: string; delta: number }[] = [];
  for (const task of batch.tasks) {
    const span = byId.get(task.id) as Span;
    const role = task.role ?? 'unknown';
    events.push({ at: span.startedAt, role, delta: 1 }, { at: span.finishedAt, role, delta: -1 });
  }
  // Ends before starts at the same instant: a slot handed over is not two tasks at once.
  events.sort((a, b) => a.at - b.at || a.delta - b.delta);
  const running = new Map<string, number>();
  for (const event of events) {
    const count = (running.get(event.role) ?? 0) + event.delta;
    if (count > perRole) throw new Error(`${count} tasks of ${event.role} ran at once (limit ${perRole})`);
    running.set(event.role, count);
  }
}

/**
 * Who gets a role's freed slot in listSchedule: the task ready first (readiness: the ideal executor's order,
 * and SQS's), or the earliest readiness less its lead (pool.ts waitingLeadMs) by the chain of dependents ahead
 * (chain) or by the estimated work ahead (work, dag.ts workAhead: what Route marks a waiting task with).
 */
export const WAITING_ORDERS = ['readiness', 'chain', 'work'] as const;
export type WaitingOrder = (typeof WAITING_ORDERS)[number];

/** A waiting task's place: the earliest first (readiness less its lead, as the registry's claim orders them). */
type Key = (task: Task, readyAt: number) => number;

function keyOf(batch: Batch, order: WaitingOrder): Key {
  if (order === 'readiness') return (_task, readyAt) => readyAt;
  if (order === 'chain') {
    const chains = chainsAfter(batch.tasks);
    return (task, readyAt) => readyAt - waitingLeadMs(task.priority, chains.get(task.id));
  }
  const work = workAhead(batch.tasks, simulatedDurationEstimate);
  return (task, readyAt) => readyAt - waitingLeadMs(task.priority, undefined, work.get(task.id));
}

/**
 * Makespan of `batch`, simulated with no hop cost (no clock: each task takes its simulated duration), when each
 * role runs `perRole` tasks at once and a freed slot goes to the waiting task first in `order`.
 */
export function listSchedule(batch: Batch, perRole: number, order: WaitingOrder): number {
  const key = keyOf(batch, order);
  const dependents = dependentTasks(batch);
  const pending = new Map(batch.tasks.map((t) => [t.id, new Set(t.dependsOn ?? []).size]));
  const waiting = new Map<string, { task: Task; key: number; seq: number }[]>();
  const running = new Map<string, number>();
  const ends: { at: number; task: Task }[] = [];
  let seq = 0;
  let now = 0;
  let done = 0;
  const ready = (task: Task) => {
    const role = task.role ?? 'unknown';
    waiting.set(role, [...(waiting.get(role) ?? []), { task, key: key(task, now), seq: seq++ }]);
  };
  const dispatch = () => {
    for (const [role, queue] of waiting) {
      queue.sort((a, b) => a.key - b.key || a.seq - b.seq);
      while (queue.length > 0 && (running.get(role) ?? 0) < perRole) {
        const next = queue.shift() as { task: Task };
        running.set(role, (running.get(role) ?? 0) + 1);
        ends.push({ at: now + simulatedMs(next.task), task: next.task });
      }
    }
  };
  for (const task of batch.tasks) if (pending.get(task.id) === 0) ready(task);
  dispatch();
  while (done < batch.tasks.length) {
    ends.sort((a, b) => a.at - b.at);
    const end = ends.shift();
    if (!end) throw new Error(`${batch.batchId}: ${batch.tasks.length - done} tasks never became ready`);
    now = end.at;
    done += 1;
    const role = end.task.role ?? 'unknown';
    running.set(role, (running.get(role) ?? 1) - 1);
    for (const next of dependents.get(end.task.id) ?? []) {
      const left = (pending.get(next.id) ?? 1) - 1;
      pending.set(next.id, left);
      if (left === 0) ready(next);
    }
    dispatch();
  }
  return now;
}
