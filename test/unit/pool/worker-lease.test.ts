/** The worker keeps its reservation's lease ahead while it heartbeats; a poisoned task fails with its reason. */
import { describe, expect, it } from 'vitest';
import { createExecutor } from '../../../shared/adapters/executors';
import {
  circuitPolicy,
  DEFAULT_CIRCUIT_POLICY,
  LEASE_MARGIN_MS,
  leaseKey,
} from '../../../shared/domain/pool';
import type { AgentRegistry, Callbacks, StoredTask, TaskStore } from '../../../shared/ports';
import { failPoisonedTask, POISON_MESSAGE_ERROR, runDispatch } from '../../../shared/usecases/agent-worker';
import { agentOf, batchOf, catalog } from '../../support/fixtures';
import { MemoryArtifacts } from '../../support/memory-artifacts';

const HEARTBEAT_SECONDS = 1;
const NOW = 5_000;

function runningTask(): StoredTask {
  const [task] = batchOf('b', [
    { id: 't', description: 'x', input: { simulate: { durationMs: 900 } } },
  ]).tasks;
  if (!task) throw new Error('no task');
  return {
    ...task,
    status: 'RUNNING',
    role: 'python_backend_coder',
    attemptCount: 1,
    attempts: [{ agentId: 'python_backend_coder-1', status: 'RUNNING', startedAt: 0 }],
  };
}

describe('the agent worker and the pool', () => {
  it('extends its lease at every accepted heartbeat', async () => {
    const task = runningTask();
    const extensions: [string, string, number][] = [];
    const store = {
      claimAttempt: async () => task,
      getTask: async () => task,
      finishAttempt: async () => true,
    } as unknown as TaskStore;
    const agents = {
      get: async () => agentOf('python_backend_coder', 'python_backend_coder-1'),
      extendLease: async (agentId: string, key: string, expiresAt: number) => {
        extensions.push([agentId, key, expiresAt]);
        return true;
      },
    } as unknown as AgentRegistry;
    const callbacks: Callbacks = {
      succeed: async () => true,
      fail: async () => true,
      heartbeat: async () => true,
    };

    const outcome = await runDispatch(
      {
        store,
        agents,
        callbacks,
        catalog,
        clock: { now: () => NOW },
        executorFor: createExecutor,
        heartbeatSeconds: HEARTBEAT_SECONDS,
        artifacts: new MemoryArtifacts(),
      },
      { batchId: 'b', taskId: 't', agentId: 'python_backend_coder-1', attempt: 1, taskToken: 'tok' },
    );

    expect(outcome.kind).toBe('succeeded');
    expect(extensions.length).toBeGreaterThanOrEqual(1);
    expect(extensions[0]).toEqual([
      'python_backend_coder-1',
      leaseKey('b', 't', 1),
      NOW + HEARTBEAT_SECONDS * 1000 + LEASE_MARGIN_MS,
    ]);
  });

  it('fails a task named by a poison message with the reason, and its token when the message has one', async () => {
    const statuses: unknown[] = [];
    const failures: unknown[] = [];
    const store = {
      setTaskStatus: async (...args: unknown[]) => {
        statuses.push(args);
        return true;
      },
    } as unknown as TaskStore;
    const callbacks = {
      fail: async (...args: unknown[]) => {
        failures.push(args);
        return true;
      },
    } as unknown as Callbacks;

    const failed = await failPoisonedTask(
      { store, callbacks, clock: { now: () => NOW } },
      { batchId: 'b', taskId: 't', taskToken: 'tok' },
      'attempt: expected number',
    );

    expect(failed).toBe(true);
    expect(statuses).toEqual([
      ['b', 't', 'FAILED', { reason: 'poison message: attempt: expected number', at: NOW }],
    ]);
    expect(failures).toEqual([['tok', POISON_MESSAGE_ERROR, 'attempt: expected number']]);
  });
});

describe('circuitPolicy', () => {
  it('uses a role override and falls back to the defaults', () => {
    expect(circuitPolicy({ circuitFailureThreshold: 5, circuitCooldownSeconds: 3 })).toEqual({
      failureThreshold: 5,
      openMs: 3_000,
    });
    expect(circuitPolicy(undefined)).toEqual(DEFAULT_CIRCUIT_POLICY);
  });
});
