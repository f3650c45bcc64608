/**
 * ExpansionFailed on dynalite: the tasks an expansion added that have not finished FAIL with the nested
 * execution's error, transitively; their dependents are released once (a repeated call releases nothing
 * again), and the planner's dependent's gate opens with its trigger rule's answer.
 */
import { describe, expect, it } from 'vitest';
import type { DispatchResult } from '../../../shared/domain/workflow';
import { completeTask } from '../../../shared/usecases/complete';
import { failExpansion } from '../../../shared/usecases/expansion-failure';
import { useDynamoStores } from '../../support/dynamo-stores';
import { batchOf, ManualClock, recordingCallbacks, uniqueId } from '../../support/fixtures';

const stores = useDynamoStores();
const clock = new ManualClock();

const answer = (output: unknown, expands = true): DispatchResult => ({
  status: 'SUCCEEDED',
  agentId: 'agent-1',
  attempt: 1,
  durationMs: 5,
  output,
  expands,
});
const limitExceeded = { Error: 'StepFunctions.ExecutionLimitExceededException', Cause: 'too many' };
const REASON =
  "the expansion's nested execution failed: StepFunctions.ExecutionLimitExceededException: too many";

/** A planner that added a, b (after a) and sub (itself a planner), and a review waiting on the planner. */
async function expandedBatch() {
  const { answers: answered, callbacks } = recordingCallbacks();
  const deps = { store: stores.store, agents: stores.agents, callbacks, clock };
  const batchId = uniqueId();
  const { batch, tasks } = batchOf(batchId, [
    { id: 'plan', description: 'Plan', expands: true },
    { id: 'review', description: 'Review', dependsOn: ['plan'] },
  ]);
  await stores.store.createBatch({ ...batch, taskCount: 2 }, tasks);
  await completeTask(deps, {
    batchId,
    taskId: 'plan',
    outcome: 'SUCCEEDED',
    result: answer({
      tasks: [
        { id: 'a', description: 'A' },
        { id: 'b', description: 'B', dependsOn: ['a'] },
        { id: 'sub', description: 'Plan more', expands: true },
      ],
    }),
  });
  return { batchId, deps, answered };
}

describe('failExpansion', () => {
  it('fails the added tasks not finished, keeps the finished ones, and opens the dependent gate once', async () => {
    const { batchId, deps, answered } = await expandedBatch();
    await completeTask(deps, { batchId, taskId: 'a', outcome: 'SUCCEEDED', result: answer({}, false) });
    await completeTask(deps, { batchId, taskId: 'sub', outcome: 'SUCCEEDED', result: answer({}, false) });
    expect(await stores.store.armGate(batchId, 'review', 'review-token')).toBe(true);

    const first = await failExpansion(deps, { batchId, taskId: 'plan', expansionError: limitExceeded });
    const again = await failExpansion(deps, { batchId, taskId: 'plan', expansionError: limitExceeded });

    expect(first).toEqual({ failed: ['b'], reason: REASON });
    expect(again).toEqual({ failed: [], reason: REASON });
    expect(await stores.store.getTask(batchId, 'a')).toMatchObject({ status: 'SUCCEEDED' });
    expect(await stores.store.getTask(batchId, 'b')).toMatchObject({ status: 'FAILED', reason: REASON });
    expect(await stores.store.getTask(batchId, 'plan')).toMatchObject({ status: 'SUCCEEDED' });
    // plan, a, sub succeeded and b failed: each released the review once, and b's release opened its gate.
    expect(await stores.store.getTask(batchId, 'review')).toMatchObject({
      pendingDeps: 0,
      failedDeps: 1,
      succeededDeps: 3,
    });
    expect(answered).toEqual([
      { token: 'review-token', output: expect.objectContaining({ proceed: false, failedDeps: 1 }) },
    ]);
  });

  it('fails the tasks a nested expansion added too', async () => {
    const { batchId, deps } = await expandedBatch();
    await completeTask(deps, {
      batchId,
      taskId: 'sub',
      outcome: 'SUCCEEDED',
      result: answer({ tasks: [{ id: 'c', description: 'C' }] }),
    });

    const result = await failExpansion(deps, { batchId, taskId: 'plan', expansionError: limitExceeded });

    expect(result.failed.sort()).toEqual(['a', 'b', 'c']);
    expect(await stores.store.getTask(batchId, 'c')).toMatchObject({ status: 'FAILED', reason: REASON });
    expect(await stores.store.getTask(batchId, 'review')).toMatchObject({ pendingDeps: 0, failedDeps: 3 });
  });

  it('fails nothing for a task that added none', async () => {
    const { batchId, deps } = await expandedBatch();

    expect(await failExpansion(deps, { batchId, taskId: 'a', expansionError: limitExceeded })).toEqual({
      failed: [],
      reason: REASON,
    });
    expect(await stores.store.getTask(batchId, 'a')).toMatchObject({ status: 'READY' });
  });
});
