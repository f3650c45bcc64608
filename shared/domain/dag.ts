/**
 * Dependency analysis of a batch: topological order, dependency levels, dependents, cycles and the
 * critical path. Pure and linear-ish: every function builds one index of the graph and walks it once, so
 * planning the largest batch (MAX_TASKS_PER_BATCH tasks) stays in the low milliseconds.
 *
 * Edge direction: a task "depends on" each id in its `dependsOn`; it may start only after they finish.
 */
import { DEFAULT_PRIORITY, MAX_DEPENDENT_ROLE_HINTS } from './limits';
import type { Batch, Task } from './schemas';

/** The part of a task the graph functions read; a `Task` is one. */
export interface DagNode {
  readonly id: string;
  readonly dependsOn?: readonly string[];
  readonly priority?: number;
}

/** Thrown when a graph function that needs a valid DAG gets a cycle or an unknown dependency. */
export class InvalidDependencyGraphError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidDependencyGraphError';
  }
}

/** The graph as arrays of indexes (submission order), with repeated dependencies counted once. */
interface IndexedGraph {
  readonly ids: readonly string[];
  /** deps[i]: indexes of the tasks task i depends on, in its dependsOn order. */
  readonly deps: readonly number[][];
  /** dependents[i]: indexes of the tasks that depend on task i, in submission order. */
  readonly dependents: readonly number[][];
}

/**
 * Indexes the graph. Duplicate ids keep their first occurrence; with `strict`, an unknown dependency
 * throws, otherwise it is ignored (validation reports those itself and still wants the rest analysed).
 */
function indexGraph(tasks: readonly DagNode[], strict: boolean): IndexedGraph {
  const index = new Map<string, number>();
  tasks.forEach((t, i) => {
    if (!index.has(t.id)) index.set(t.id, i);
  });
  const deps: number[][] = [];
  const dependents: number[][] = tasks.map(() => []);
  tasks.forEach((task, i) => {
    const own: number[] = [];
    const seen = new Set<number>();
    for (const dep of task.dependsOn ?? []) {
      const d = index.get(dep);
      if (d === undefined) {
        if (strict)
          throw new InvalidDependencyGraphError(`task "${task.id}" depends on unknown task "${dep}"`);
        continue;
      }
      if (seen.has(d)) continue;
      seen.add(d);
      own.push(d);
      dependents[d]?.push(i);
    }
    deps.push(own);
  });
  return { ids: tasks.map((t) => t.id), deps, dependents };
}

/**
 * A binary min-heap of task indexes ordered by (priority, submission index). Used instead of sorting the
 * ready list on every step so the order costs O((V + E) log V).
 */
class ReadyHeap {
  private readonly items: number[] = [];
  constructor(private readonly rank: (i: number) => number) {}

  get size(): number {
    return this.items.length;
  }

  push(value: number): void {
    const items = this.items;
    items.push(value);
    let child = items.length - 1;
    while (child > 0) {
      const parent = (child - 1) >> 1;
      if (this.rank(items[parent] as number) <= this.rank(value)) break;
      items[child] = items[parent] as number;
      child = parent;
    }
    items[child] = value;
  }

  pop(): number | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return top;
    let parent = 0;
    const lastRank = this.rank(last);
    for (;;) {
      const left = 2 * parent + 1;
      if (left >= items.length) break;
      const right = left + 1;
      const smaller =
        right < items.length && this.rank(items[right] as number) < this.rank(items[left] as number)
          ? right
          : left;
      if (this.rank(items[smaller] as number) >= lastRank) break;
      items[parent] = items[smaller] as number;
      parent = smaller;
    }
    items[parent] = last;
    return top;
  }
}

/** Kahn's algorithm over an indexed graph; returns indexes, fewer than V when there is a cycle. */
function orderIndexes(tasks: readonly DagNode[], graph: IndexedGraph): number[] {
  const n = tasks.length;
  // Rank = priority first, then submission index; unique per task, so the order is fully determined.
  const rank = (i: number) => (tasks[i]?.priority ?? DEFAULT_PRIORITY) * n + i;
  const pending = graph.deps.map((d) => d.length);
  const ready = new ReadyHeap(rank);
  pending.forEach((count, i) => {
    if (count === 0) ready.push(i);
  });
  const order: number[] = [];
  for (let i = ready.pop(); i !== undefined; i = ready.pop()) {
    order.push(i);
    for (const d of graph.dependents[i] ?? []) {
      const left = (pending[d] ?? 0) - 1;
      pending[d] = left;
      if (left === 0) ready.push(d);
    }
  }
  return order;
}

function assertAcyclic(tasks: readonly DagNode[], graph: IndexedGraph, order: readonly number[]): void {
  if (order.length === tasks.length) return;
  const selfDependent = graph.deps.findIndex((deps, i) => deps.includes(i));
  if (selfDependent !== -1) {
    throw new InvalidDependencyGraphError(`task "${graph.ids[selfDependent]}" depends on itself`);
  }
  const cycle = findCycles(tasks, 1)[0] ?? [];
  throw new InvalidDependencyGraphError(
    `the dependencies form a cycle: ${[...cycle, cycle[0]].join(' -> ')}`,
  );
}

/** Ids of the tasks that depend on each task, in submission order. Repeated dependencies count once. */
export function dependentsOf(tasks: readonly DagNode[]): Map<string, string[]> {
  const graph = indexGraph(tasks, false);
  return new Map(tasks.map((t, i) => [t.id, (graph.dependents[i] ?? []).map((d) => graph.ids[d] as string)]));
}

/**
 * Per task, the role of each dependent that names one and depends on that task alone (at most
 * MAX_DEPENDENT_ROLE_HINTS): the Complete of the task opens such a dependent's gate, and can read its role's
 * pool beside the release (hop latency). Tasks without such dependents are absent.
 */
export function soleDependentRoles(
  tasks: readonly (DagNode & { readonly role?: string | undefined })[],
): Map<string, Record<string, string>> {
  const roles = new Map<string, Record<string, string>>();
  for (const task of tasks) {
    const deps = new Set(task.dependsOn ?? []);
    const [only] = deps;
    if (task.role === undefined || deps.size !== 1 || only === undefined) continue;
    const hints = roles.get(only) ?? {};
    if (Object.keys(hints).length >= MAX_DEPENDENT_ROLE_HINTS) continue;
    hints[task.id] = task.role;
    roles.set(only, hints);
  }
  return roles;
}

/**
 * A topological order that is stable and priority-aware: among the tasks whose dependencies are all
 * placed, the lowest priority number comes first, then the earliest submitted. O((V + E) log V).
 * Throws InvalidDependencyGraphError on a cycle or an unknown dependency (validate the batch first).
 */
export function topologicalOrder(tasks: readonly DagNode[]): string[] {
  const graph = indexGraph(tasks, true);
  const order = orderIndexes(tasks, graph);
  assertAcyclic(tasks, graph, order);
  return order.map((i) => graph.ids[i] as string);
}

function levelIndexes(graph: IndexedGraph, order: readonly number[]): number[] {
  const level = new Array<number>(graph.ids.length).fill(0);
  for (const i of order) {
    let max = -1;
    for (const d of graph.deps[i] ?? []) max = Math.max(max, level[d] ?? 0);
    level[i] = max + 1;
  }
  return level;
}

function groupLevels(graph: IndexedGraph, level: readonly number[]): string[][] {
  const levels: string[][] = [];
  level.forEach((l, i) => {
    let bucket = levels[l];
    if (bucket === undefined) {
      bucket = [];
      levels[l] = bucket;
    }
    bucket.push(graph.ids[i] as string);
  });
  return levels;
}

/**
 * For each task, the number of tasks on the longest chain of its dependents (0 for a task nothing depends
 * on): how many dependency hops at least still follow it. Edges to tasks outside `tasks` are ignored.
 */
export function chainsAfter(tasks: readonly DagNode[]): Map<string, number> {
  const chains = longestChainsFrom(tasks, () => 1);
  for (const [id, tasksOnChain] of chains) chains.set(id, tasksOnChain - 1);
  return chains;
}

/**
 * For each task, the estimated work (ms) on the longest chain that starts with it: its own estimate plus the
 * most of its dependents' (its "bottom level" in list scheduling). A waiting task with more work ahead of it
 * is given a freed slot first (domain/pool.ts waitingLeadMs): the critical path's tasks go before the ones
 * with room to spare, which shortens the batch. Edges to tasks outside `tasks` are ignored.
 */
export function workAhead<T extends DagNode>(
  tasks: readonly T[],
  estimate: DurationEstimate<T>,
): Map<string, number> {
  return longestChainsFrom(tasks, (i) => checkedEstimate(tasks[i] as T, estimate));
}

/** For each task, the most `weight` adds up to along a chain of dependents that starts with it. */
function longestChainsFrom(
  tasks: readonly DagNode[],
  weight: (index: number) => number,
): Map<string, number> {
  const graph = indexGraph(tasks, false);
  const order = orderIndexes(tasks, graph);
  assertAcyclic(tasks, graph, order);
  const longest = new Array<number>(graph.ids.length).fill(0);
  for (let k = order.length - 1; k >= 0; k--) {
    const i = order[k] as number;
    let after = 0;
    for (const d of graph.dependents[i] ?? []) after = Math.max(after, longest[d] as number);
    longest[i] = weight(i) + after;
  }
  return new Map(graph.ids.map((id, i) => [id, longest[i] as number]));
}

/**
 * Dependency levels: level 0 holds the tasks without dependencies, and a task's level is one more than
 * the highest level among its dependencies. Ids inside a level keep submission order.
 */
export function dependencyLevels(tasks: readonly DagNode[]): string[][] {
  const graph = indexGraph(tasks, true);
  const order = orderIndexes(tasks, graph);
  assertAcyclic(tasks, graph, order);
  return groupLevels(graph, levelIndexes(graph, order));
}

/** Upper bound on the cycles findCycles returns, so a pathological batch cannot flood the error report. */
export const MAX_REPORTED_CYCLES = 20;

/**
 * Strongly connected components with more than one task (Tarjan, iterative so deep chains cannot
 * overflow the stack). Self-dependencies are not cycles here: validation reports them on their own.
 */
function cyclicComponents(graph: IndexedGraph): number[][] {
  const n = graph.ids.length;
  const indexOf = new Array<number>(n).fill(-1);
  const low = new Array<number>(n).fill(0);
  const onStack = new Array<boolean>(n).fill(false);
  const stack: number[] = [];
  const components: number[][] = [];
  let counter = 0;
  for (let root = 0; root < n; root++) {
    if (indexOf[root] !== -1) continue;
    // Each frame: the node and how many of its dependencies were already visited.
    const frames: [number, number][] = [[root, 0]];
    indexOf[root] = low[root] = counter++;
    stack.push(root);
    onStack[root] = true;
    while (frames.length > 0) {
      const frame = frames[frames.length - 1] as [number, number];
      const [v, next] = frame;
      const out = graph.deps[v] ?? [];
      if (next < out.length) {
        frame[1] = next + 1;
        const w = out[next] as number;
        if (indexOf[w] === -1) {
          indexOf[w] = low[w] = counter++;
          stack.push(w);
          onStack[w] = true;
          frames.push([w, 0]);
        } else if (onStack[w]) {
          low[v] = Math.min(low[v] as number, indexOf[w] as number);
        }
        continue;
      }
      frames.pop();
      const parent = frames[frames.length - 1];
      if (parent) low[parent[0]] = Math.min(low[parent[0]] as number, low[v] as number);
      if (low[v] === indexOf[v]) {
        const component: number[] = [];
        for (;;) {
          const w = stack.pop() as number;
          onStack[w] = false;
          component.push(w);
          if (w === v) break;
        }
        if (component.length > 1) components.push(component.sort((a, b) => a - b));
      }
    }
  }
  return components;
}

/** Shortest cycle through `start` inside its component (BFS along dependencies), as indexes. */
function shortestCycleThrough(
  graph: IndexedGraph,
  start: number,
  inComponent: ReadonlySet<number>,
): number[] {
  const previous = new Map<number, number>();
  const queue: number[] = [start];
  for (let head = 0; head < queue.length; head++) {
    const v = queue[head] as number;
    for (const w of graph.deps[v] ?? []) {
      // Self-dependencies are reported on their own, not as cycles.
      if (w === v || !inComponent.has(w)) continue;
      if (w === start) {
        const path: number[] = [];
        for (let x: number | undefined = v; x !== undefined && x !== start; x = previous.get(x)) path.push(x);
        return [start, ...path.reverse()];
      }
      if (!previous.has(w)) {
        previous.set(w, v);
        queue.push(w);
      }
    }
  }
  return [];
}

/**
 * Dependency cycles, each as ids in dependency order: `[a, b, c]` means a depends on b, b on c and c on a.
 * Every strongly connected component yields at least one cycle (the shortest through its earliest
 * task); further distinct cycles are added for its tasks not yet on a reported cycle, up to `max` in all.
 * Each cycle starts at its earliest-submitted task. Unknown dependencies and self-dependencies are
 * ignored. Cost: O(V + E) plus one BFS per reported cycle.
 */
export function findCycles(tasks: readonly DagNode[], max = MAX_REPORTED_CYCLES): string[][] {
  const graph = indexGraph(tasks, false);
  const components = cyclicComponents(graph);
  const cycles: number[][] = [];
  // First pass: one cycle per component, so a cap never hides a whole component.
  const perComponent = components.map((component) => {
    const members = new Set(component);
    const first = shortestCycleThrough(graph, component[0] as number, members);
    if (cycles.length < max) cycles.push(first);
    return { component, members, covered: new Set(first) };
  });
  const seen = new Set(cycles.map((c) => c.join(',')));
  for (const { component, members, covered } of perComponent) {
    for (const v of component) {
      if (cycles.length >= max) break;
      if (covered.has(v)) continue;
      const cycle = shortestCycleThrough(graph, v, members);
      // Rotate to start at the earliest task so the same cycle found from two tasks compares equal.
      const start = cycle.indexOf(Math.min(...cycle));
      const rotated = [...cycle.slice(start), ...cycle.slice(0, start)];
      for (const x of rotated) covered.add(x);
      const key = rotated.join(',');
      if (seen.has(key)) continue;
      seen.add(key);
      cycles.push(rotated);
    }
  }
  return cycles.map((cycle) => cycle.map((i) => graph.ids[i] as string));
}

/** The longest chain of dependent tasks by estimated duration: it bounds the batch's makespan from below. */
export interface CriticalPath {
  /** Ids in execution order (the first has no dependencies on the path). */
  ids: string[];
  /** Sum of the estimates of the tasks on the path. */
  durationMs: number;
}

/** How long a task is expected to take, in milliseconds (finite, >= 0). */
export type DurationEstimate<T extends DagNode = Task> = (task: T) => number;

/** The task's estimate; RangeError unless it is a finite number >= 0. */
function checkedEstimate<T extends DagNode>(task: T, estimate: DurationEstimate<T>): number {
  const ms = estimate(task);
  if (!Number.isFinite(ms) || ms < 0) {
    throw new RangeError(`estimate for task "${task.id}" must be a finite number >= 0, got ${ms}`);
  }
  return ms;
}

function criticalPathOf<T extends DagNode>(
  tasks: readonly T[],
  graph: IndexedGraph,
  order: readonly number[],
  estimate: DurationEstimate<T>,
): CriticalPath {
  const n = tasks.length;
  const finish = new Array<number>(n).fill(0);
  const via = new Array<number>(n).fill(-1);
  for (const i of order) {
    const ms = checkedEstimate(tasks[i] as T, estimate);
    let start = 0;
    // Ties keep the dependency listed first, so the path is deterministic.
    for (const d of graph.deps[i] ?? []) {
      if (via[i] === -1 || (finish[d] as number) > start) {
        start = finish[d] as number;
        via[i] = d;
      }
    }
    finish[i] = start + ms;
  }
  let end = -1;
  for (let i = 0; i < n; i++) if (end === -1 || (finish[i] as number) > (finish[end] as number)) end = i;
  const ids: string[] = [];
  for (let i = end; i !== -1; i = via[i] as number) ids.push(graph.ids[i] as string);
  return { ids: ids.reverse(), durationMs: end === -1 ? 0 : (finish[end] as number) };
}

/**
 * The critical path: the chain of dependent tasks whose estimated durations add up to the most.
 * Ties go to the earliest-submitted end task and, along the path, to the dependency listed first.
 * Throws InvalidDependencyGraphError on a cycle or an unknown dependency, RangeError on a bad estimate.
 */
export function criticalPath<T extends DagNode>(
  tasks: readonly T[],
  estimate: DurationEstimate<T>,
): CriticalPath {
  const graph = indexGraph(tasks, true);
  const order = orderIndexes(tasks, graph);
  assertAcyclic(tasks, graph, order);
  return criticalPathOf(tasks, graph, order, estimate);
}

/** Everything the `plan` command and the submitter need about a batch's shape. */
export interface BatchPlan {
  /** Topological order, priority-aware (see topologicalOrder). */
  order: string[];
  /** Dependency levels (see dependencyLevels). */
  levels: string[][];
  /** Ids of the tasks that depend on each task. */
  dependents: Map<string, string[]>;
  criticalPath: CriticalPath;
  /** Tasks in the widest level: how many can run at once when every task takes the same time. */
  maxParallelism: number;
}

/**
 * Plans a validated batch: order, levels, dependents and critical path from one index of the graph.
 * Throws InvalidDependencyGraphError when given an unvalidated batch with a cycle or unknown dependency.
 */
export function planBatch(batch: Pick<Batch, 'tasks'>, estimate: DurationEstimate<Task>): BatchPlan {
  const tasks = batch.tasks;
  const graph = indexGraph(tasks, true);
  const order = orderIndexes(tasks, graph);
  assertAcyclic(tasks, graph, order);
  const levels = groupLevels(graph, levelIndexes(graph, order));
  return {
    order: order.map((i) => graph.ids[i] as string),
    levels,
    dependents: new Map(
      tasks.map((t, i) => [t.id, (graph.dependents[i] ?? []).map((d) => graph.ids[d] as string)]),
    ),
    criticalPath: criticalPathOf(tasks, graph, order, estimate),
    maxParallelism: levels.reduce((max, level) => Math.max(max, level.length), 0),
  };
}

/**
 * Estimate used when a task does not say how long it takes (no `input.simulate.durationMs`): one second,
 * the order of a short simulated task. Plans label every duration "estimated" for this reason.
 */
export const DEFAULT_TASK_ESTIMATE_MS = 1_000;

/** `input.simulate.durationMs` when the task gives a valid one, else DEFAULT_TASK_ESTIMATE_MS. */
export function simulatedDurationEstimate(task: Task): number {
  return simulatedDuration(task) ?? DEFAULT_TASK_ESTIMATE_MS;
}

/** The task's own `input.simulate.durationMs`, or undefined when it gives none. */
export function simulatedDuration(task: Task): number | undefined {
  const simulate = task.input?.simulate;
  if (typeof simulate !== 'object' || simulate === null) return undefined;
  const ms = (simulate as { durationMs?: unknown }).durationMs;
  return typeof ms === 'number' && Number.isFinite(ms) && ms >= 0 ? ms : undefined;
}
