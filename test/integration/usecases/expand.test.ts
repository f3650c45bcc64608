/**
 * Expansion in Complete on dynalite: a repeated Complete adds nothing twice and answers the same run, a plan
 * stored as an artifact is read from the bucket, and an expansion racing a cancel leaves no task pending.
 */
import { describe, expect, it } from 'vitest';
import {
  MAX_ADDED_DEPENDENCIES_PER_TASK,
  MAX_ATTEMPTS_LIMIT,
  MAX_INPUT_BYTES,
} from '../../../shared/domain/limits';
import type { DispatchResult } from '../../../shared/domain/workflow';
import type { ArtifactStore, Callbacks } from '../../../shared/ports';
import { completeTask } from '../../../shared/usecases/complete';
import { expandTask } from '../../../shared/usecases/expand';
import { useDynamoStores } from '../../support/dynamo-stores';
import { batchOf, catalog, ManualClock, uniqueId } from '../../support/fixtures';

const stores = useDynamoStores();
const clock = new ManualClock();
/** No gate is armed in these batches: nothing is answered. */
const callbacks: Callbacks = {
  succeed: async () => true,
  fail: async () => true,
  heartbeat: async () => true,
};

const plan = {
  tasks: [
    { id: 'a', description: 'A' },
    { id: 'b', description: 'B', dependsOn: ['a'] },
  ],
};
const answer = (output: unknown): DispatchResult => ({
  status: 'SUCCEEDED',
  agentId: 'agent-1',
  attempt: 1,
  durationMs: 5,
  output,
  expands: true,
});

async function plannerBatch() {
  const batchId = uniqueId();
  const { batch, tasks } = batchOf(batchId, [
    { id: 'plan', description: 'Plan', expands: true },
    { id: 'review', description: 'Review', dependsOn: ['plan'] },
  ]);
  await stores.store.createBatch({ ...batch, taskCount: 2 }, tasks);
  return batchId;
}

describe('expansion in Complete', () => {
  it('adds nothing twice when Complete is repeated, and answers the same run', async () => {
    const batchId = await plannerBatch();
    const deps = { store: stores.store, agents: stores.agents, callbacks, clock };
    const input = { batchId, taskId: 'plan', outcome: 'SUCCEEDED' as const, result: answer(plan) };

    const first = await completeTask(deps, input);
    const again = await completeTask(deps, input);

    const run = {
      items: [
        { taskId: 'a', hasDeps: false },
        { taskId: 'b', hasDeps: true },
      ],
      concurrency: 2,
    };
    expect(first).toEqual({ status: 'SUCCEEDED', transitioned: true, expansion: run });
    expect(again).toEqual({ status: 'SUCCEEDED', transitioned: false, expansion: run });
    const batch = await stores.store.getBatch(batchId);
    expect(batch).toMatchObject({ taskIds: ['plan', 'review', 'a', 'b'], taskCount: 4, expansionTasks: 2 });
    // The review waits for a and b: the planner's release took it from 3 to 2, and opened nothing.
    expect(await stores.store.getTask(batchId, 'review')).toMatchObject({
      pendingDeps: 2,
      task: { dependsOn: ['plan', 'a', 'b'] },
    });
    expect(await stores.store.getTask(batchId, 'plan')).toMatchObject({ expandedTasks: ['a', 'b'] });
    expect(await stores.store.getTask(batchId, 'b')).toMatchObject({
      status: 'PENDING',
      pendingDeps: 1,
      dependents: ['review'],
      addedBy: 'plan',
      expansionDepth: 1,
    });
  });

  it('refuses a task whose item could pass DynamoDB item size at its worst, adding nothing', async () => {
    const batchId = uniqueId();
    const { batch, tasks } = batchOf(
      batchId,
      [
        { id: 'plan', description: 'Plan', expands: true },
        { id: 'review', description: 'Review', dependsOn: ['plan'] },
      ],
      { maxAttempts: MAX_ATTEMPTS_LIMIT },
    );
    await stores.store.createBatch({ ...batch, taskCount: 2 }, tasks);
    // Each field within its own limit; with ten attempts reviewed by a validator, one item could not hold them.
    const large = {
      id: 'large',
      description: 'é'.repeat(20_000),
      input: { text: 'i'.repeat(MAX_INPUT_BYTES - 20) },
      approval: { after: true, by: 'code_reviewer' },
    };

    const outcome = await expandTask({ store: stores.store, clock, catalog }, batchId, 'plan', {
      ...answer({ tasks: [{ id: 'small', description: 'S' }, large] }),
    });

    expect(outcome.kind).toBe('refused');
    expect(outcome.kind === 'refused' ? outcome.reason : '').toMatch(
      /^expansion refused, nothing added: \$\.tasks\[1\]\.input: task "large" takes \d+ bytes/,
    );
    expect(await stores.store.getBatch(batchId)).toMatchObject({ taskIds: ['plan', 'review'], taskCount: 2 });
    expect(await stores.store.getTask(batchId, 'small')).toBeUndefined();
  });

  it(`refuses an expansion that would make a dependent wait for more than ${MAX_ADDED_DEPENDENCIES_PER_TASK} added tasks`, async () => {
    const batchId = uniqueId();
    const { batch, tasks } = batchOf(batchId, [
      { id: 'plan-1', description: 'Plan', expands: true },
      { id: 'plan-2', description: 'Plan', expands: true },
      { id: 'review', description: 'Review', dependsOn: ['plan-1', 'plan-2'] },
    ]);
    await stores.store.createBatch({ ...batch, taskCount: 3 }, tasks);
    const specs = (prefix: string, count: number) =>
      Array.from({ length: count }, (_, i) => ({ id: `${prefix}-${i}`, description: 'D' }));
    const deps = { store: stores.store, clock };

    const first = await expandTask(
      deps,
      batchId,
      'plan-1',
      answer({ tasks: specs('a', MAX_ADDED_DEPENDENCIES_PER_TASK) }),
    );
    const second = await expandTask(deps, batchId, 'plan-2', answer({ tasks: specs('b', 1) }));

    expect(first.kind).toBe('added');
    expect(second.kind).toBe('refused');
    expect(second.kind === 'refused' ? second.reason : '').toContain(
      `task "review" depends on "plan-2" and already waits for ${MAX_ADDED_DEPENDENCIES_PER_TASK} tasks added by expansions`,
    );
    const review = await stores.store.getTask(batchId, 'review');
    expect(review?.task.dependsOn).toHaveLength(2 + MAX_ADDED_DEPENDENCIES_PER_TASK);
    expect(await stores.store.getTask(batchId, 'b-0')).toBeUndefined();
  });

  it('reads a plan stored in the artifacts bucket', async () => {
    const batchId = await plannerBatch();
    const ref = { location: 's3://bucket/plan', bytes: 10, sha256: 'x', contentType: 'application/json' };
    const artifacts = {
      read: async () => new TextEncoder().encode(JSON.stringify(plan)),
    } as unknown as ArtifactStore;
    const { output: _inline, ...stored } = answer(undefined);

    const outcome = await expandTask({ store: stores.store, clock, artifacts }, batchId, 'plan', {
      ...stored,
      outputRef: ref as never,
    });

    expect(outcome.kind).toBe('added');
  });

  it('cancels the tasks it added when the batch is being cancelled', async () => {
    const batchId = await plannerBatch();
    await stores.store.updateBatch(batchId, { cancelRequested: true, cancelReason: 'cancelled by request' });

    const outcome = await expandTask({ store: stores.store, clock }, batchId, 'plan', answer(plan));

    expect(outcome.kind).toBe('added');
    for (const id of ['a', 'b'])
      expect(await stores.store.getTask(batchId, id)).toMatchObject({
        status: 'CANCELLED',
        reason: 'cancelled by request',
      });
  });
});
