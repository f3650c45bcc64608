import { describe, expect, it } from 'vitest';
import {
  checkOrder,
  checkRoleLimit,
  type Executor,
  listSchedule,
  runIdeal,
  runLangGraph,
  type Span,
} from '../../../benchmarks/executors';
import type { Batch, Task } from '../../../shared/domain/schemas';

function task(id: string, role: string, ms: number, dependsOn: string[] = []): Task {
  return {
    id,
    description: `task ${id}`,
    role,
    ...(dependsOn.length > 0 ? { dependsOn } : {}),
    input: { simulate: { durationMs: ms } },
  };
}

/**
 * A join of parents at different depths (in LangGraph they end in different supersteps), and five tasks of
 * one role behind it (limit 2).
 */
const joinBatch: Batch = {
  batchId: 'join',
  tasks: [
    task('fast', 'a', 5),
    task('fast2', 'a', 5, ['fast']),
    task('slow', 'b', 60),
    task('join', 'c', 5, ['fast2', 'slow']),
    ...Array.from({ length: 5 }, (_, i) => task(`r${i}`, 'r', 20, ['join'])),
  ],
};

/** A fast chain of three beside one slow task. */
const fastSlowBatch: Batch = {
  batchId: 'fast-slow',
  tasks: [task('slow', 'b', 150), task('f0', 'a', 5), task('f1', 'a', 5, ['f0']), task('f2', 'a', 5, ['f1'])],
};

const byId = (spans: readonly Span[]) => new Map(spans.map((s) => [s.id, s]));

describe.each<[string, Executor]>([
  ['the ideal executor', runIdeal],
  ['LangGraph.js', runLangGraph],
])('%s on a benchmark DAG', (_name, run) => {
  it('starts a join once, after every parent ended, and holds the per-role limit', async () => {
    const schedule = await run(joinBatch, 2);

    expect(() => checkOrder(joinBatch, schedule.spans)).not.toThrow();
    expect(() => checkRoleLimit(joinBatch, schedule.spans, 2)).not.toThrow();
    const spans = byId(schedule.spans);
    for (const parent of ['fast2', 'slow']) {
      expect(spans.get('join')?.startedAt).toBeGreaterThanOrEqual(spans.get(parent)?.finishedAt ?? Infinity);
    }
    expect(schedule.makespanMs).toBeGreaterThanOrEqual(60 + 5 + 3 * 20);
  });
});

describe('supersteps against an event-driven executor', () => {
  it('LangGraph.js starts the next task of a fast branch only when the slow one of the same step ends', async () => {
    const spans = byId((await runLangGraph(fastSlowBatch, 4)).spans);

    expect(spans.get('f1')?.startedAt).toBeGreaterThanOrEqual(spans.get('slow')?.finishedAt ?? Infinity);
  });

  it('the ideal executor runs the whole fast branch while the slow task runs', async () => {
    const spans = byId((await runIdeal(fastSlowBatch, 4)).spans);

    expect(spans.get('f2')?.finishedAt).toBeLessThan(spans.get('slow')?.finishedAt ?? -Infinity);
  });
});

describe('checkOrder and checkRoleLimit', () => {
  const batch: Batch = {
    batchId: 'check',
    tasks: [task('a', 'r', 10), task('b', 'r', 10, ['a']), task('c', 'r', 10)],
  };

  it('accepts a slot handed over at the instant the holder ends', () => {
    const spans = [
      { id: 'a', startedAt: 0, finishedAt: 10 },
      { id: 'c', startedAt: 10, finishedAt: 20 },
      { id: 'b', startedAt: 20, finishedAt: 30 },
    ];

    expect(() => checkOrder(batch, spans)).not.toThrow();
    expect(() => checkRoleLimit(batch, spans, 1)).not.toThrow();
  });

  it('refuses a task that started before its dependency ended', () => {
    const spans = [
      { id: 'a', startedAt: 0, finishedAt: 10 },
      { id: 'b', startedAt: 9, finishedAt: 19 },
      { id: 'c', startedAt: 20, finishedAt: 30 },
    ];

    expect(() => checkOrder(batch, spans)).toThrow('b started before its dependency a ended');
  });

  it('refuses more tasks of a role at once than its limit', () => {
    const spans = [
      { id: 'a', startedAt: 0, finishedAt: 10 },
      { id: 'c', startedAt: 5, finishedAt: 15 },
      { id: 'b', startedAt: 10, finishedAt: 20 },
    ];

    expect(() => checkRoleLimit(batch, spans, 1)).toThrow('2 tasks of r ran at once (limit 1)');
  });

  it('refuses a task that did not run or ran twice', () => {
    const once = [
      { id: 'a', startedAt: 0, finishedAt: 10 },
      { id: 'b', startedAt: 10, finishedAt: 20 },
    ];

    expect(() => checkOrder(batch, once)).toThrow('c did not run');
    expect(() => checkRoleLimit(batch, [...once, once[0] as Span], 2)).toThrow('a ran more than once');
  });
});

describe('listSchedule', () => {
  // One slot a role. 'a' (submitted first) has two short tasks after it, 'b' one long one.
  const batch: Batch = {
    batchId: 'order',
    tasks: [
      task('a', 'r', 100),
      task('b', 'r', 100),
      task('a1', 's', 10, ['a']),
      task('a2', 's', 10, ['a1']),
      task('b1', 't', 500, ['b']),
    ],
  };

  it('gives a freed slot by readiness, by the chain ahead, or by the estimated work ahead', () => {
    // Readiness and the chain (two tasks after 'a', one after 'b') run 'a' first: 'b1' starts at 200.
    expect(listSchedule(batch, 1, 'readiness')).toBe(700);
    expect(listSchedule(batch, 1, 'chain')).toBe(700);
    // By work, 'b' (600 ms ahead) goes before 'a' (120 ms): 'b1' ends at 600, 'a2' at 220.
    expect(listSchedule(batch, 1, 'work')).toBe(600);
  });

  it('runs every task after its dependencies within the per-role limit: no faster than the work allows', () => {
    const wide: Batch = {
      batchId: 'wide',
      tasks: Array.from({ length: 6 }, (_, i) => task(`w${i}`, 'r', 100)),
    };
    expect(listSchedule(wide, 2, 'readiness')).toBe(300);
    expect(listSchedule(wide, 6, 'work')).toBe(100);
    // The join after the slow parent (60 + 5 ms), then five tasks of 20 ms two at a time.
    for (const order of ['readiness', 'chain', 'work'] as const)
      expect(listSchedule(joinBatch, 2, order)).toBe(125);
  });
});
