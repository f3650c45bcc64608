import { describe, expect, it } from 'vitest';
import type { ConnectionNotifier, StoredTask, SubscriptionStore } from '../../../shared/ports';
import { buildBatchResult } from '../../../shared/usecases/batch-result';
import { notifySubscribers, progressFromImages } from '../../../shared/usecases/notify';

function fakeSubscriptions(initial: Record<string, string[]>) {
  const subs = new Map(Object.entries(initial).map(([batch, conns]) => [batch, new Set(conns)]));
  const store: SubscriptionStore = {
    subscribe: async (connectionId, batchId) => {
      subs.set(batchId, new Set([...(subs.get(batchId) ?? []), connectionId]));
    },
    subscribers: async (batchId) => [...(subs.get(batchId) ?? [])],
    unsubscribe: async (connectionId, batchId) => {
      subs.get(batchId)?.delete(connectionId);
    },
    unsubscribeAll: async (connectionId) => {
      for (const set of subs.values()) set.delete(connectionId);
    },
  };
  return { subs, store };
}

describe('progressFromImages', () => {
  it('reports a task whose status changed', () => {
    const message = progressFromImages(
      { type: 'task', batchId: 'b', taskId: 't', status: 'RUNNING', attemptCount: 1, agentId: 'a-1' },
      { type: 'task', batchId: 'b', taskId: 't', status: 'READY', attemptCount: 0 },
    );

    expect(message).toEqual({
      type: 'task',
      batchId: 'b',
      taskId: 't',
      status: 'RUNNING',
      agentId: 'a-1',
      attempt: 1,
    });
  });

  it("gives a finished task's tokens and cost, its failed attempts counted too", () => {
    const attempts = [
      {
        agentId: 'a-1',
        status: 'FAILED',
        startedAt: 1,
        usage: { inputTokens: 100, outputTokens: 10 },
        costUsd: 0.0003,
      },
      {
        agentId: 'a-2',
        status: 'SUCCEEDED',
        startedAt: 2,
        usage: { inputTokens: 200, outputTokens: 20 },
        costUsd: 0.0006,
      },
    ];
    const message = progressFromImages(
      { type: 'task', batchId: 'b', taskId: 't', status: 'SUCCEEDED', attemptCount: 2, attempts },
      { type: 'task', batchId: 'b', taskId: 't', status: 'RUNNING', attemptCount: 2, attempts },
    );

    expect(message).toMatchObject({ usage: { inputTokens: 300, outputTokens: 30 }, costUsd: 0.0009 });
  });

  it("gives a finished task's totals as its result does: its validator's review and routing question too", () => {
    const attempts = [
      {
        agentId: 'a-1',
        status: 'SUCCEEDED',
        startedAt: 1,
        usage: { inputTokens: 100, outputTokens: 10 },
        costUsd: 0.0003,
      },
    ];
    const approvals = [
      {
        stage: 'after',
        decision: 'approve',
        by: 'code_reviewer-1',
        attempt: 1,
        at: 3,
        usage: { inputTokens: 40, outputTokens: 4 },
        costUsd: 0.0001,
      },
    ];
    const requirements = {
      languages: [],
      frameworks: [],
      skills: [],
      complexity: 'low',
      roleCandidates: [],
      assist: {
        provider: 'anthropic',
        model: 'claude-sonnet-5-5',
        confidence: 0.2,
        threshold: 0.5,
        candidates: ['python_backend_coder'],
        fallback: 'python_backend_coder',
        cached: false,
        usage: { inputTokens: 20, outputTokens: 2 },
        costUsd: 0.00006,
        at: 1,
      },
    };
    const task = {
      type: 'task',
      batchId: 'b',
      taskId: 't',
      attemptCount: 1,
      attempts,
      approvals,
      requirements,
    };
    const message = progressFromImages(
      { ...task, status: 'SUCCEEDED' },
      { ...task, status: 'AWAITING_APPROVAL' },
    );
    const result = buildBatchResult(
      {
        batchId: 'b',
        status: 'SUCCEEDED',
        createdAt: 1,
        startedAt: 1,
        maxAttempts: 3,
        failFast: false,
        taskIds: ['t'],
      },
      [{ ...(task as unknown as StoredTask), status: 'SUCCEEDED' }],
    );

    expect(message).toMatchObject({ usage: { inputTokens: 160, outputTokens: 16 }, costUsd: 0.00046 });
    expect(message).toMatchObject({ usage: result.tasks[0]?.usage, costUsd: result.tasks[0]?.costUsd });
  });

  it('reports the cost of a finished batch, unknown when a price was', () => {
    expect(
      progressFromImages(
        {
          type: 'batch',
          batchId: 'b',
          status: 'SUCCEEDED',
          costUsd: null,
          usage: { inputTokens: 1, outputTokens: 2 },
        },
        { type: 'batch', status: 'RUNNING' },
      ),
    ).toMatchObject({ costUsd: null, usage: { inputTokens: 1, outputTokens: 2 } });
  });

  it('stays quiet when only bookkeeping changed (a gate token, a claim)', () => {
    const before = { type: 'task', batchId: 'b', taskId: 't', status: 'PENDING', attemptCount: 0 };

    expect(progressFromImages({ ...before, gateToken: 'tok' }, before)).toBeUndefined();
  });

  it('reports a finished batch and ignores subscription items', () => {
    expect(
      progressFromImages(
        { type: 'batch', batchId: 'b', status: 'PARTIAL', makespanMs: 9 },
        { type: 'batch', status: 'RUNNING' },
      ),
    ).toEqual({ type: 'batch', batchId: 'b', status: 'PARTIAL', makespanMs: 9 });
    expect(progressFromImages({ type: 'subscription', batchId: 'b' }, undefined)).toBeUndefined();
  });
});

describe('notifySubscribers', () => {
  it('posts to every subscriber of the batch and forgets connections that are gone', async () => {
    const { subs, store } = fakeSubscriptions({ b1: ['c1', 'c2'], b2: ['c3'] });
    const posted: string[] = [];
    const notifier: ConnectionNotifier = {
      post: async (connectionId) => {
        if (connectionId === 'c2') return false;
        posted.push(connectionId);
        return true;
      },
    };

    const result = await notifySubscribers({ subscriptions: store, notifier }, [
      { type: 'batch', batchId: 'b1', status: 'SUCCEEDED' },
    ]);

    expect(posted).toEqual(['c1']);
    expect(result).toEqual({ delivered: 1, gone: 1 });
    expect([...(subs.get('b1') ?? [])]).toEqual(['c1']);
  });
});
