import { describe, expect, it } from 'vitest';
import type { RouteOutput } from '../../../shared/domain/workflow';
import type { Callbacks, ReleaseResult, StoredTask, TaskStore } from '../../../shared/ports';
import {
  effectiveHeartbeatSeconds,
  executionNameFor,
  gateOutput,
  RouteLane,
  type RouteOpened,
  releaseDependents,
} from '../../../shared/usecases/common';

describe('executionNameFor', () => {
  it('uses the batch id itself when Step Functions accepts it', () => {
    expect(executionNameFor('batch-1', '-redrive-2')).toBe('batch-1-redrive-2');
  });

  it('replaces characters execution names forbid and keeps distinct ids distinct', () => {
    const a = executionNameFor('team:a.1');
    const b = executionNameFor('team_a.1');

    expect(a).toMatch(/^team_a\.1-[0-9a-f]{10}$/);
    expect(a).not.toBe(b);
  });

  it('fits a 128-character id and its suffix into 80 characters', () => {
    const name = executionNameFor('x'.repeat(128), '-redrive-12');

    expect(name.length).toBeLessThanOrEqual(80);
    expect(name.endsWith('-redrive-12')).toBe(true);
  });
});

describe('gateOutput', () => {
  const counts = (failedDeps: number) => ({ pendingDeps: 0, failedDeps, skippedDeps: 0, succeededDeps: 2 });
  it('proceeds by default only when no dependency failed, and never with a reason to stop', () => {
    expect(gateOutput(undefined, counts(0))).toEqual({ proceed: true, failedDeps: 0 });
    expect(gateOutput(undefined, counts(2))).toMatchObject({ proceed: false, failedDeps: 2 });
    expect(gateOutput('all_done', counts(2))).toEqual({ proceed: true, failedDeps: 2 });
    expect(gateOutput('all_done', counts(0), 'batch cancelled')).toEqual({
      proceed: false,
      failedDeps: 0,
      reason: 'batch cancelled',
    });
  });
});

describe('effectiveHeartbeatSeconds', () => {
  it('stays below the timeout, as Step Functions requires', () => {
    expect(effectiveHeartbeatSeconds(60, 300)).toBe(60);
    expect(effectiveHeartbeatSeconds(60, 10)).toBe(9);
  });
});

describe('releaseDependents with a route lane', () => {
  /** A release that opens the dependent's gate, its item with `workAheadMs` of work on the chain ahead. */
  const opened = (taskId: string, workAheadMs: number): ReleaseResult => ({
    pendingDeps: 0,
    failedDeps: 0,
    skippedDeps: 0,
    succeededDeps: 1,
    gateToken: `gate-${taskId}`,
    applied: true,
    task: { taskId, workAheadMs, chainAfter: 0, task: { id: taskId } } as StoredTask,
  });

  function harness(releases: Record<string, () => Promise<ReleaseResult>>) {
    const events: string[] = [];
    const store = {
      releaseDependent: (_batchId: string, dependentId: string) =>
        releases[dependentId]?.() as Promise<ReleaseResult>,
    } as unknown as TaskStore;
    const callbacks = {
      succeed: async (token: string, output: unknown) => {
        events.push(`answer ${token}${(output as { route?: unknown }).route ? ' routed' : ''}`);
        return true;
      },
    } as Callbacks;
    const route: RouteOpened = async ({ taskId }) => {
      events.push(`route ${taskId}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
      events.push(`routed ${taskId}`);
      if (taskId === 'broken') throw new Error('route failed');
      return { decision: 'DISPATCH' } as RouteOutput;
    };
    const lane = new RouteLane();
    const release = (dependents: string[], taskId = 'dep') =>
      releaseDependents(store, callbacks, { batchId: 'b', taskId, dependents }, 'SUCCEEDED', route, lane);
    return { events, release };
  }

  it('routes the opened dependents one at a time, the most work ahead first, once every release came back', async () => {
    const { events, release } = harness({
      small: async () => opened('small', 100),
      big: async () => opened('big', 900),
      // Still waits on another dependency: released, not routed.
      waiting: async () => ({ ...opened('waiting', 5_000), pendingDeps: 1 }),
      mid: async () => {
        await new Promise((resolve) => setTimeout(resolve, 10));
        return opened('mid', 500);
      },
    });
    await release(['small', 'big', 'waiting', 'mid']);
    const routes = events.filter((e) => e.startsWith('route '));
    expect(routes).toEqual(['route big', 'route mid', 'route small']);
    // One at a time: each route ends before the next starts.
    const steps = events.filter((e) => /^rout/.test(e));
    expect(steps).toEqual([
      'route big',
      'routed big',
      'route mid',
      'routed mid',
      'route small',
      'routed small',
    ]);
    expect(events.filter((e) => e.startsWith('answer')).sort()).toEqual([
      'answer gate-big routed',
      'answer gate-mid routed',
      'answer gate-small routed',
    ]);
  });

  it("does not hold the others' routes on a release that fails or a route that fails, and throws the release's error", async () => {
    const { events, release } = harness({
      lost: async () => {
        throw new Error('release failed');
      },
      broken: async () => opened('broken', 900),
      fine: async () => opened('fine', 100),
    });
    await expect(release(['lost', 'broken', 'fine'])).rejects.toThrow('release failed');
    // The failed route's gate is answered without a route (the dependent routes itself).
    expect(events.filter((e) => e.startsWith('answer')).sort()).toEqual([
      'answer gate-broken',
      'answer gate-fine routed',
    ]);
  });

  it("takes a later Complete's more urgent dependent before an earlier one's that still wait", async () => {
    const { events, release } = harness({
      first: async () => opened('first', 300),
      second: async () => opened('second', 200),
      third: async () => opened('third', 100),
      urgent: async () => opened('urgent', 5_000),
    });
    const earlier = release(['first', 'second', 'third'], 'one');
    // While the earlier Complete's first route runs, another Complete opens a more urgent dependent.
    await new Promise((resolve) => setTimeout(resolve, 2));
    await Promise.all([earlier, release(['urgent'], 'two')]);
    // One lane for both Completes: one route at a time, the waiting one with the most work ahead next.
    expect(events.filter((e) => /^rout/.test(e))).toEqual([
      'route first',
      'routed first',
      'route urgent',
      'routed urgent',
      'route second',
      'routed second',
      'route third',
      'routed third',
    ]);
  });
});

describe('RouteLane', () => {
  it('runs at most its concurrency at once, the most urgent waiting one next, the longest waiting among equals', async () => {
    const lane = new RouteLane(2);
    const started: string[] = [];
    let running = 0;
    let peak = 0;
    const job = (name: string, ms: number) => async () => {
      started.push(name);
      running += 1;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setTimeout(resolve, ms));
      running -= 1;
      if (name === 'fails') throw new Error('route failed');
      return name;
    };
    const done = await Promise.allSettled([
      lane.run([0, 0], job('a', 10)),
      lane.run([0, 0], job('fails', 5)),
      lane.run([0, 0], job('low-1', 1)),
      lane.run([5, 0], job('high', 1)),
      lane.run([0, 0], job('low-2', 1)),
      lane.run([5, 3], job('higher', 1)),
    ]);
    expect(started).toEqual(['a', 'fails', 'higher', 'high', 'low-1', 'low-2']);
    expect(peak).toBe(2);
    expect(done.map((d) => d.status)).toEqual([
      'fulfilled',
      'rejected',
      'fulfilled',
      'fulfilled',
      'fulfilled',
      'fulfilled',
    ]);
  });

  it('refuses a concurrency below 1', () => {
    expect(() => new RouteLane(0)).toThrow(/integer >= 1, got 0/);
  });
});
