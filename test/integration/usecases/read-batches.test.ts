import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { documentClient } from '../../../shared/adapters/dynamodb/client';
import { DynamoTaskStore } from '../../../shared/adapters/dynamodb/task-store';
import { BatchListSchema, type RoutingDecision, TaskDetailSchema } from '../../../shared/domain/schemas';
import { NotFoundError } from '../../../shared/ports';
import { RequestValidationError } from '../../../shared/usecases/errors';
import { finalizeBatch } from '../../../shared/usecases/finalize';
import { getTaskDetail, listBatches } from '../../../shared/usecases/read-batches';
import { countingClient, type LocalDynamo, startDynalite } from '../../support/dynalite';
import { batchOf, ManualClock, uniqueId } from '../../support/fixtures';

let dynamo: LocalDynamo;
let store: DynamoTaskStore;
const clock = new ManualClock();

beforeAll(async () => {
  dynamo = await startDynalite();
  store = new DynamoTaskStore(dynamo.tasksTable, documentClient(dynamo.client));
});

afterAll(async () => {
  await dynamo.stop();
});

/** Stores a batch of `n` independent tasks created at `createdAt`. */
async function storeBatch(createdAt: number, n = 3): Promise<string> {
  const batchId = uniqueId('list');
  const tasks = Array.from({ length: n }, (_, i) => ({ id: `t${i}`, description: `task ${i}` }));
  const { batch, tasks: stored } = batchOf(batchId, tasks);
  await store.createBatch({ ...batch, createdAt, startedAt: createdAt, taskCount: n }, stored);
  return batchId;
}

describe('GET /batches (listBatches)', () => {
  it('lists batches newest first, a page at a time, with a cursor to the next page', async () => {
    const base = 1_000_000 + Math.floor(Math.random() * 1_000_000) * 1_000;
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(await storeBatch(10 ** 13 + base + i));

    const first = await listBatches({ store }, { limit: 2 });
    const second = await listBatches({ store }, { limit: 2, cursor: first.nextCursor ?? '' });

    expect(BatchListSchema.parse(first)).toEqual(first);
    expect(first.batches.map((b) => b.batchId)).toEqual([ids[4], ids[3]]);
    expect(second.batches.map((b) => b.batchId)).toEqual([ids[2], ids[1]]);
  });

  it("counts a running batch's progress from its tasks and a finished batch's from what Finalize stored", async () => {
    const running = await storeBatch(10 ** 14, 3);
    await store.setTaskStatus(running, 't0', 'SUCCEEDED', { at: 5 });
    await store.setTaskStatus(running, 't1', 'RUNNING');
    const finished = await storeBatch(10 ** 14 - 1, 2);
    await store.setTaskStatus(finished, 't0', 'SUCCEEDED', { at: 5 });
    await store.setTaskStatus(finished, 't1', 'FAILED', { at: 6 });
    clock.time = 10 ** 14 - 1 + 49;
    await finalizeBatch({ store, clock }, { batchId: finished });

    // Reads of the finished batch: its listing only, not one query over its tasks.
    const counting = countingClient(dynamo);
    const countingStore = new DynamoTaskStore(dynamo.tasksTable, documentClient(counting.client));
    const page = await listBatches({ store: countingStore }, { limit: 2 });

    expect(page.batches).toEqual([
      expect.objectContaining({
        batchId: running,
        status: 'RUNNING',
        tasks: {
          total: 3,
          done: 1,
          succeeded: 1,
          failed: 0,
          skipped: 0,
          cancelled: 0,
          running: 1,
          waiting: 1,
        },
      }),
      expect.objectContaining({
        batchId: finished,
        status: 'PARTIAL',
        makespanMs: 49,
        tasks: {
          total: 2,
          done: 2,
          succeeded: 1,
          failed: 1,
          skipped: 0,
          cancelled: 0,
          running: 0,
          waiting: 0,
        },
      }),
    ]);
    // One query of the index, one over the running batch's tasks.
    expect(counting.commands).toEqual(['QueryCommand', 'QueryCommand']);
    counting.client.destroy();
  });

  it('refuses a cursor it did not hand out, naming the query parameter', async () => {
    const forged = Buffer.from(JSON.stringify({ pk: 'IDEMPOTENCY#x', sk: 'BATCH' })).toString('base64url');

    for (const cursor of ['not-a-cursor', forged]) {
      const error = await listBatches({ store }, { cursor }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RequestValidationError);
      expect((error as RequestValidationError).issues[0]?.path).toBe('$.query.cursor');
    }
  });
});

describe('GET /batches/{id}/tasks/{taskId} (getTaskDetail)', () => {
  const decision: RoutingDecision = {
    taskId: 'api',
    agentId: 'python_backend_coder-1',
    role: 'python_backend_coder',
    score: 0.9,
    breakdown: { specialization: 1, availability: 1, success: 0.5, speed: 1 },
    candidates: [
      {
        agentId: 'python_backend_coder-1',
        role: 'python_backend_coder',
        score: 0.9,
        breakdown: { specialization: 1, availability: 1, success: 0.5, speed: 1 },
      },
    ],
    rejected: [{ agentId: 'python_backend_coder-2', reason: 'at capacity' }],
    requirements: {
      languages: ['python'],
      frameworks: [],
      skills: [],
      complexity: 'low',
      roleCandidates: [],
    },
    spawned: false,
    decidedAt: 10,
  };

  it('answers the task as submitted, its attempts with durations, dependents and the routing decision', async () => {
    const batchId = uniqueId('detail');
    const { batch, tasks } = batchOf(batchId, [
      { id: 'schema', description: 'Design the users schema' },
      { id: 'api', description: 'Write the FastAPI endpoint', dependsOn: ['schema'], priority: 1 },
    ]);
    await store.createBatch(batch, tasks);
    await store.startAttempt(batchId, 'api', 1, 'python_backend_coder-1', decision, 100);
    await store.finishAttempt(batchId, 'api', 1, { status: 'FAILED', at: 350, error: 'boom' });
    await store.startAttempt(batchId, 'api', 2, 'python_backend_coder-1', decision, 400);

    const detail = await getTaskDetail({ store }, batchId, 'api');

    expect(TaskDetailSchema.parse(detail)).toEqual(detail);
    expect(detail).toMatchObject({
      id: 'api',
      batchId,
      status: 'RUNNING',
      spec: { description: 'Write the FastAPI endpoint', dependsOn: ['schema'], priority: 1 },
      decision: { agentId: 'python_backend_coder-1', rejected: [{ reason: 'at capacity' }] },
    });
    expect(detail.attempts).toEqual([
      expect.objectContaining({ status: 'FAILED', error: 'boom', durationMs: 250 }),
      expect.not.objectContaining({ durationMs: expect.anything() }),
    ]);
    expect((await getTaskDetail({ store }, batchId, 'schema')).dependents).toEqual(['api']);
  });

  it('says whether the batch or the task is unknown', async () => {
    const batchId = await storeBatch(5);

    await expect(getTaskDetail({ store }, 'no-such-batch', 't0')).rejects.toMatchObject({
      kind: 'batch',
    });
    const error = await getTaskDetail({ store }, batchId, 'nope').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error).toMatchObject({ kind: 'task' });
  });
});
