import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  chainsAfter,
  criticalPath,
  type DagNode,
  DEFAULT_TASK_ESTIMATE_MS,
  dependencyLevels,
  dependentsOf,
  findCycles,
  InvalidDependencyGraphError,
  planBatch,
  simulatedDurationEstimate,
  soleDependentRoles,
  topologicalOrder,
  workAhead,
} from '../../shared/domain/dag';
import { MAX_DEPENDENT_ROLE_HINTS } from '../../shared/domain/limits';
import type { Task } from '../../shared/domain/schemas';

interface TestNode extends DagNode {
  id: string;
  dependsOn: string[];
  priority: 1 | 2 | 3;
  durationMs: number;
}

/**
 * Random DAGs whose submission order is NOT topological: each task gets a hidden rank (a permutation),
 * and an edge always goes from the higher rank to the lower, so the graph is acyclic.
 */
const dagArbitrary = (maxTasks: number) =>
  fc.integer({ min: 1, max: maxTasks }).chain((n) =>
    fc
      .record({
        rank: fc.shuffledSubarray(
          Array.from({ length: n }, (_, i) => i),
          { minLength: n, maxLength: n },
        ),
        edges: fc.array(fc.tuple(fc.nat(n - 1), fc.nat(n - 1)), { maxLength: n * 3 }),
        priorities: fc.array(fc.constantFrom<1 | 2 | 3>(1, 2, 3), { minLength: n, maxLength: n }),
        durations: fc.array(fc.nat(1_000), { minLength: n, maxLength: n }),
      })
      .map(({ rank, edges, priorities, durations }) => {
        const tasks: TestNode[] = rank.map((_, i) => ({
          id: `t${i}`,
          dependsOn: [],
          priority: priorities[i] ?? 2,
          durationMs: durations[i] ?? 0,
        }));
        for (const [a, b] of edges) {
          if (a === b) continue;
          const [later, earlier] = (rank[a] ?? 0) > (rank[b] ?? 0) ? [a, b] : [b, a];
          const task = tasks[later] as TestNode;
          const dep = `t${earlier}`;
          if (!task.dependsOn.includes(dep)) task.dependsOn.push(dep);
        }
        return tasks;
      }),
  );

const byId = (tasks: readonly TestNode[]) => new Map(tasks.map((t) => [t.id, t]));

/** Reference order by brute force: repeatedly take the ready task with the smallest (priority, index). */
function referenceOrder(tasks: readonly TestNode[]): string[] {
  const done = new Set<string>();
  const order: string[] = [];
  while (order.length < tasks.length) {
    let best: { task: TestNode; index: number } | undefined;
    tasks.forEach((task, index) => {
      if (done.has(task.id) || !task.dependsOn.every((d) => done.has(d))) return;
      if (!best || task.priority < best.task.priority) best = { task, index };
    });
    if (!best) throw new Error('reference order found a cycle');
    done.add(best.task.id);
    order.push(best.task.id);
  }
  return order;
}

/** Longest chain by brute force: every path ending at every task. */
function bruteForceLongestChain(tasks: readonly TestNode[]): number {
  const map = byId(tasks);
  const longestEndingAt = (id: string): number => {
    const task = map.get(id) as TestNode;
    return task.durationMs + Math.max(0, ...task.dependsOn.map(longestEndingAt));
  };
  return Math.max(...tasks.map((t) => longestEndingAt(t.id)));
}

/** True when `from` depends, directly or not, on `to`. */
function reaches(tasks: readonly TestNode[], from: string, to: string): boolean {
  const map = byId(tasks);
  const stack = [from];
  const seen = new Set<string>();
  while (stack.length > 0) {
    const id = stack.pop() as string;
    for (const dep of map.get(id)?.dependsOn ?? []) {
      if (dep === to) return true;
      if (!seen.has(dep)) {
        seen.add(dep);
        stack.push(dep);
      }
    }
  }
  return false;
}

const task = (id: string, dependsOn: string[] = [], extra: Partial<Task> = {}): Task => ({
  id,
  description: `do ${id}`,
  dependsOn,
  ...extra,
});

describe('topologicalOrder', () => {
  it('places every task after all of its dependencies, as a permutation of the ids', () => {
    fc.assert(
      fc.property(dagArbitrary(40), (tasks) => {
        const order = topologicalOrder(tasks);
        expect([...order].sort()).toEqual(tasks.map((t) => t.id).sort());
        const position = new Map(order.map((id, i) => [id, i]));
        for (const t of tasks)
          for (const dep of t.dependsOn)
            expect(position.get(dep) as number).toBeLessThan(position.get(t.id) as number);
      }),
    );
  });

  it('picks among ready tasks the highest priority, then the earliest submitted (brute-force reference)', () => {
    fc.assert(
      fc.property(dagArbitrary(30), (tasks) => {
        expect(topologicalOrder(tasks)).toEqual(referenceOrder(tasks));
      }),
    );
  });

  it('keeps submission order for independent tasks of equal priority', () => {
    const tasks = ['e', 'd', 'c', 'b', 'a'].map((id) => task(id));
    expect(topologicalOrder(tasks)).toEqual(['e', 'd', 'c', 'b', 'a']);
  });

  it('runs a priority 1 task before earlier-submitted priority 2 and 3 tasks once it is ready', () => {
    const tasks = [
      task('low', [], { priority: 3 }),
      task('normal'),
      task('base'),
      task('urgent', ['base'], { priority: 1 }),
    ];
    expect(topologicalOrder(tasks)).toEqual(['normal', 'base', 'urgent', 'low']);
  });

  it('orders two thousand independent tasks by priority then submission order', () => {
    const tasks = Array.from({ length: 2_000 }, (_, i) =>
      task(`t${i}`, [], { priority: (((i * 7) % 3) + 1) as 1 | 2 | 3 }),
    );
    const expected = tasks
      .map((t, i) => ({ id: t.id, key: (t.priority ?? 2) * 10_000 + i }))
      .sort((a, b) => a.key - b.key)
      .map((t) => t.id);
    expect(topologicalOrder(tasks)).toEqual(expected);
  });

  it('refuses a cycle, naming its tasks', () => {
    const tasks = [task('a', ['c']), task('b', ['a']), task('c', ['b'])];
    expect(() => topologicalOrder(tasks)).toThrow(InvalidDependencyGraphError);
    expect(() => topologicalOrder(tasks)).toThrow('a -> c -> b -> a');
  });

  it('refuses an unknown dependency instead of silently dropping the task', () => {
    expect(() => topologicalOrder([task('a', ['ghost'])])).toThrow(/unknown task "ghost"/);
  });

  it('refuses a self-dependency, naming the task', () => {
    expect(() => topologicalOrder([task('loop', ['loop'])])).toThrow(/"loop" depends on itself/);
  });
});

describe('dependencyLevels', () => {
  it('puts each task one level above its deepest dependency, level 0 for no dependencies', () => {
    fc.assert(
      fc.property(dagArbitrary(40), (tasks) => {
        const levels = dependencyLevels(tasks);
        const levelOf = new Map<string, number>();
        levels.forEach((ids, level) => {
          for (const id of ids) levelOf.set(id, level);
        });
        expect(levelOf.size).toBe(tasks.length);
        for (const t of tasks) {
          const expected =
            t.dependsOn.length === 0 ? 0 : 1 + Math.max(...t.dependsOn.map((d) => levelOf.get(d) ?? -99));
          expect(levelOf.get(t.id)).toBe(expected);
        }
        for (const ids of levels) expect(ids.length).toBeGreaterThan(0);
      }),
    );
  });

  it('groups a diamond into three levels in submission order', () => {
    const tasks = [
      task('top'),
      task('right', ['top']),
      task('left', ['top']),
      task('bottom', ['left', 'right']),
    ];
    expect(dependencyLevels(tasks)).toEqual([['top'], ['right', 'left'], ['bottom']]);
  });
});

describe('dependentsOf', () => {
  it('lists the tasks that depend on each task, once each', () => {
    const tasks = [task('a'), task('b', ['a', 'a']), task('c', ['a', 'b'])];
    expect(dependentsOf(tasks)).toEqual(
      new Map([
        ['a', ['b', 'c']],
        ['b', ['c']],
        ['c', []],
      ]),
    );
  });
});

describe('soleDependentRoles', () => {
  const withRole = (id: string, role: string | undefined, dependsOn: string[] = []) => ({
    id,
    dependsOn,
    ...(role === undefined ? {} : { role }),
  });

  it('names, per task, the role of each dependent that names one and depends on that task alone', () => {
    const tasks = [
      withRole('a', 'r1'),
      withRole('b', 'r2', ['a', 'a']), // a repeated dependency is one
      withRole('c', 'r3', ['a', 'b']), // two dependencies: no single Complete opens it
      withRole('d', undefined, ['a']), // no role named: its route decides
      withRole('e', 'r1', ['b']),
    ];

    expect(soleDependentRoles(tasks)).toEqual(
      new Map([
        ['a', { b: 'r2' }],
        ['b', { e: 'r1' }],
      ]),
    );
  });

  it(`names at most ${MAX_DEPENDENT_ROLE_HINTS} dependents of a task, the first submitted`, () => {
    const fanOut = Array.from({ length: MAX_DEPENDENT_ROLE_HINTS + 5 }, (_, i) =>
      withRole(`t${i}`, 'r', ['root']),
    );

    const hints = soleDependentRoles([withRole('root', 'r'), ...fanOut]).get('root') ?? {};

    expect(Object.keys(hints)).toEqual(fanOut.slice(0, MAX_DEPENDENT_ROLE_HINTS).map((t) => t.id));
  });
});

describe('findCycles', () => {
  it('finds no cycle in a DAG', () => {
    fc.assert(
      fc.property(dagArbitrary(30), (tasks) => {
        expect(findCycles(tasks)).toEqual([]);
      }),
    );
  });

  it('finds a real cycle whenever a back edge is added to a random DAG', () => {
    fc.assert(
      fc.property(dagArbitrary(25), fc.nat(), (tasks, seed) => {
        fc.pre(tasks.length >= 2);
        // Back edge: make an ancestor `to` depend on a task `from` that (transitively) depends on it.
        const pairs: [string, string][] = [];
        for (const a of tasks)
          for (const b of tasks) if (reaches(tasks, a.id, b.id)) pairs.push([a.id, b.id]);
        const [from, to] = pairs.length > 0 ? (pairs[seed % pairs.length] as [string, string]) : ['t0', 't1'];
        const map = byId(tasks);
        if (pairs.length === 0) (map.get(from) as TestNode).dependsOn.push(to);
        (map.get(to) as TestNode).dependsOn.push(from);

        const cycles = findCycles(tasks);
        expect(cycles.length).toBeGreaterThan(0);
        for (const cycle of cycles) {
          expect(cycle.length).toBeGreaterThanOrEqual(2);
          expect(new Set(cycle).size).toBe(cycle.length);
          cycle.forEach((id, i) => {
            const next = cycle[(i + 1) % cycle.length] as string;
            expect(map.get(id)?.dependsOn).toContain(next);
          });
        }
        expect(cycles.some((c) => c.includes(to) && c.includes(from))).toBe(true);
      }),
    );
  });

  it('reports one cycle in each strongly connected component, starting at its earliest task', () => {
    const tasks = [
      task('a', ['b']),
      task('b', ['a']),
      task('free'),
      task('x', ['y']),
      task('y', ['z']),
      task('z', ['x']),
    ];
    expect(findCycles(tasks)).toEqual([
      ['a', 'b'],
      ['x', 'y', 'z'],
    ]);
  });

  it('reports a second distinct cycle inside one component', () => {
    // a -> b -> a and b -> c -> b share b: one component, two cycles.
    const tasks = [task('a', ['b']), task('b', ['a', 'c']), task('c', ['b'])];
    const cycles = findCycles(tasks);
    expect(cycles).toContainEqual(['a', 'b']);
    expect(cycles).toContainEqual(['b', 'c']);
  });

  it('handles a 10,000-task chain closed into a cycle without overflowing the stack', () => {
    const n = 10_000;
    const tasks = Array.from({ length: n }, (_, i) => task(`t${i}`, [`t${(i + 1) % n}`]));
    const [cycle] = findCycles(tasks);
    expect(cycle).toHaveLength(n);
  });
});

describe('criticalPath', () => {
  it('equals the longest chain found by brute force, and is a real chain at least as long as any task', () => {
    fc.assert(
      fc.property(dagArbitrary(12), (tasks) => {
        const path = criticalPath(tasks, (t) => t.durationMs);
        expect(path.durationMs).toBe(bruteForceLongestChain(tasks));
        for (const t of tasks) expect(path.durationMs).toBeGreaterThanOrEqual(t.durationMs);
        const map = byId(tasks);
        expect(path.ids.reduce((sum, id) => sum + (map.get(id)?.durationMs ?? 0), 0)).toBe(path.durationMs);
        for (let i = 1; i < path.ids.length; i++) {
          expect(map.get(path.ids[i] as string)?.dependsOn).toContain(path.ids[i - 1]);
        }
        expect(map.get(path.ids[0] as string)?.dependsOn.some((d) => path.ids.includes(d))).toBe(false);
      }),
    );
  });

  it('follows the slower branch of a diamond', () => {
    const tasks = [
      task('top'),
      task('fast', ['top']),
      task('slow', ['top']),
      task('bottom', ['fast', 'slow']),
    ];
    const ms: Record<string, number> = { top: 100, fast: 50, slow: 400, bottom: 10 };
    expect(criticalPath(tasks, (t) => ms[t.id] ?? 0)).toEqual({
      ids: ['top', 'slow', 'bottom'],
      durationMs: 510,
    });
  });

  it('refuses a negative or non-finite estimate, naming the task', () => {
    expect(() => criticalPath([task('a')], () => -1)).toThrow(/"a"/);
    expect(() => criticalPath([task('a')], () => Number.NaN)).toThrow(RangeError);
  });
});

describe('planBatch', () => {
  it('returns order, levels, dependents, critical path and max parallelism of one batch', () => {
    const tasks = [
      task('schema', [], { input: { simulate: { durationMs: 300 } } }),
      task('api', ['schema'], { input: { simulate: { durationMs: 500 } } }),
      task('form'),
      task('tests', ['api', 'form'], { input: { simulate: { durationMs: 200 } } }),
    ];
    const plan = planBatch({ tasks }, simulatedDurationEstimate);
    expect(plan.order).toEqual(['schema', 'api', 'form', 'tests']);
    expect(plan.levels).toEqual([['schema', 'form'], ['api'], ['tests']]);
    expect(plan.dependents.get('api')).toEqual(['tests']);
    expect(plan.criticalPath).toEqual({ ids: ['form', 'tests'], durationMs: DEFAULT_TASK_ESTIMATE_MS + 200 });
    expect(plan.maxParallelism).toBe(2);
  });

  it('agrees with the separate functions on random DAGs', () => {
    fc.assert(
      fc.property(dagArbitrary(30), (nodes) => {
        const tasks: Task[] = nodes.map((n) => ({ ...n, description: n.id }));
        const plan = planBatch({ tasks }, (t) => (t as unknown as TestNode).durationMs);
        expect(plan.order).toEqual(topologicalOrder(tasks));
        expect(plan.levels).toEqual(dependencyLevels(tasks));
        expect(plan.dependents).toEqual(dependentsOf(tasks));
        expect(plan.criticalPath).toEqual(criticalPath(nodes, (t) => t.durationMs));
      }),
    );
  });
});

describe('chainsAfter', () => {
  it('counts the tasks on the longest chain of dependents after each task', () => {
    // a -> b -> c -> d, a -> e, and f alone; e depends on a only.
    const tasks: DagNode[] = [
      { id: 'd', dependsOn: ['c'] },
      { id: 'a' },
      { id: 'b', dependsOn: ['a'] },
      { id: 'c', dependsOn: ['b'] },
      { id: 'e', dependsOn: ['a'] },
      { id: 'f' },
    ];

    expect(Object.fromEntries(chainsAfter(tasks))).toEqual({ a: 3, b: 2, c: 1, d: 0, e: 0, f: 0 });
  });

  it('takes the longer branch of a diamond and ignores dependencies outside the tasks given', () => {
    const tasks: DagNode[] = [
      { id: 'top', dependsOn: ['elsewhere'] },
      { id: 'left', dependsOn: ['top'] },
      { id: 'right', dependsOn: ['top'] },
      { id: 'right2', dependsOn: ['right'] },
      { id: 'join', dependsOn: ['left', 'right2'] },
    ];

    expect(chainsAfter(tasks).get('top')).toBe(3);
    expect(chainsAfter(tasks).get('left')).toBe(1);
  });

  it('refuses a cycle', () => {
    expect(() =>
      chainsAfter([
        { id: 'a', dependsOn: ['b'] },
        { id: 'b', dependsOn: ['a'] },
      ]),
    ).toThrow(InvalidDependencyGraphError);
  });
});

describe('workAhead', () => {
  const ms = (task: DagNode & { ms?: number }) => task.ms ?? 0;

  it("adds each task's estimate to the most work of a chain of its dependents", () => {
    // a (100) -> b (300) -> d (50); a -> c (500); c and b -> d; e (70) alone.
    const tasks = [
      { id: 'd', dependsOn: ['b', 'c'], ms: 50 },
      { id: 'a', ms: 100 },
      { id: 'b', dependsOn: ['a'], ms: 300 },
      { id: 'c', dependsOn: ['a'], ms: 500 },
      { id: 'e', ms: 70 },
    ];

    expect(Object.fromEntries(workAhead(tasks, ms))).toEqual({ a: 650, b: 350, c: 550, d: 50, e: 70 });
  });

  it('orders by estimated work, not by the number of tasks: one long task beats a chain of short ones', () => {
    const tasks = [
      { id: 'short1', ms: 10 },
      { id: 'short2', dependsOn: ['short1'], ms: 10 },
      { id: 'short3', dependsOn: ['short2'], ms: 10 },
      { id: 'long', ms: 600 },
    ];
    const work = workAhead(tasks, ms);

    expect(chainsAfter(tasks).get('short1')).toBeGreaterThan(chainsAfter(tasks).get('long') as number);
    expect(work.get('long')).toBeGreaterThan(work.get('short1') as number);
  });

  it('ignores dependencies outside the tasks given, refuses a bad estimate and a cycle', () => {
    expect(workAhead([{ id: 'x', dependsOn: ['elsewhere'], ms: 5 }], ms).get('x')).toBe(5);
    expect(() => workAhead([{ id: 'x', ms: -1 }], ms)).toThrow(/estimate for task "x"/);
    expect(() =>
      workAhead(
        [
          { id: 'a', dependsOn: ['b'] },
          { id: 'b', dependsOn: ['a'] },
        ],
        ms,
      ),
    ).toThrow(InvalidDependencyGraphError);
  });
});
