/**
 * Submit claims a batch id before it writes a task (usecases/submit.ts), on dynalite: a submission that died
 * part-way is finished by the same request sent again, never by another one, and never twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { documentClient } from '../../../shared/adapters/dynamodb/client';
import { DynamoTaskStore } from '../../../shared/adapters/dynamodb/task-store';
import { BATCH_CREATION_LEASE_MS } from '../../../shared/domain/limits';
import type { ExecutionInput } from '../../../shared/domain/workflow';
import type { Orchestrator, StoredTask, TaskStore } from '../../../shared/ports';
import { cancelBatch } from '../../../shared/usecases/cancel';
import { ConflictError } from '../../../shared/usecases/errors';
import { type SubmitDeps, submitBatch } from '../../../shared/usecases/submit';
import { type LocalDynamo, startDynalite } from '../../support/dynalite';
import { catalog, ManualClock, uniqueId } from '../../support/fixtures';

let dynamo: LocalDynamo;
let store: DynamoTaskStore;

beforeAll(async () => {
  dynamo = await startDynalite();
  store = new DynamoTaskStore(dynamo.tasksTable, documentClient(dynamo.client));
});

afterAll(async () => {
  await dynamo.stop();
});

/** An orchestrator that records starts and can be told to fail the next ones. */
function orchestrator() {
  const started: { name: string; input: ExecutionInput }[] = [];
  const state = { failures: 0 };
  const orchestrator: Orchestrator = {
    start: async (name, input) => {
      if (state.failures > 0) {
        state.failures--;
        throw new Error('StartExecution throttled');
      }
      started.push({ name, input });
      return { executionArn: orchestrator.executionArnOf(name) };
    },
    stop: async () => {},
    executionArnOf: (name) => `arn:aws:states:us-east-1:1:execution:sm:${name}`,
  };
  return { orchestrator, started, state };
}

let owners = 0;
function depsWith(overrides: Partial<SubmitDeps> = {}) {
  const clock = new ManualClock();
  const recorded = orchestrator();
  const deps: SubmitDeps = {
    store,
    orchestrator: recorded.orchestrator,
    catalog,
    clock,
    ids: { next: (prefix = '') => `${prefix}${++owners}` },
    ...overrides,
  };
  return { deps, clock, ...recorded };
}

const body = (batchId: string, ids: string[]) =>
  JSON.stringify({ batchId, tasks: ids.map((id) => ({ id, description: `write the endpoint ${id}` })) });

/** A store whose task writes die after writing `keep` tasks, the way a killed process stops: no cleanup. */
class CrashError extends Error {}
function crashingStore(keep: number): TaskStore {
  return new Proxy(store, {
    get(target, property, receiver) {
      if (property === 'putTasks') {
        return async (tasks: StoredTask[]) => {
          await target.putTasks(tasks.slice(0, keep));
          throw new CrashError('the process died');
        };
      }
      if (property === 'updateBatchCreation') {
        // A dead process releases nothing.
        return async () => false;
      }
      return Reflect.get(target, property, receiver);
    },
  });
}

describe('a submission that died part-way', () => {
  it('is finished by the same request sent again once its claim expired, writing every task', async () => {
    const { deps, clock, started } = depsWith();
    const batchId = uniqueId('crashed');
    const text = body(batchId, ['a', 'b', 'c']);
    await expect(
      submitBatch({ ...deps, store: crashingStore(1) }, { body: text, idempotencyKey: `${batchId}-key` }),
    ).rejects.toBeInstanceOf(CrashError);
    expect(await store.listTasks(batchId)).toHaveLength(1);

    const tooEarly = submitBatch(deps, { body: text, idempotencyKey: `${batchId}-key` });
    await expect(tooEarly).rejects.toBeInstanceOf(ConflictError);
    clock.advance(BATCH_CREATION_LEASE_MS + 1);
    const finished = await submitBatch(deps, { body: text, idempotencyKey: `${batchId}-key` });

    expect(finished).toEqual({ batchId, created: true });
    expect((await store.listTasks(batchId)).map((t) => [t.taskId, t.status])).toEqual([
      ['a', 'READY'],
      ['b', 'READY'],
      ['c', 'READY'],
    ]);
    expect(started.map((s) => s.name)).toEqual([batchId]);
    const batch = await store.getBatch(batchId);
    expect(batch?.creation).toBeUndefined();
    expect(batch?.executionArn).toContain(batchId);
  });

  it('is never finished by another request: a different body for the id is a 409 even after expiry', async () => {
    const { deps, clock } = depsWith();
    const batchId = uniqueId('crashed-other');
    await expect(
      submitBatch({ ...deps, store: crashingStore(1) }, { body: body(batchId, ['a', 'b']) }),
    ).rejects.toBeInstanceOf(CrashError);
    clock.advance(BATCH_CREATION_LEASE_MS + 1);

    await expect(submitBatch(deps, { body: body(batchId, ['x']) })).rejects.toBeInstanceOf(ConflictError);
    expect((await store.listTasks(batchId)).map((t) => t.taskId)).toEqual(['a']);
    // The same request (no key either) finishes it.
    await submitBatch(deps, { body: body(batchId, ['a', 'b']) });
    expect((await store.listTasks(batchId)).map((t) => t.taskId)).toEqual(['a', 'b']);
  });

  it('that failed with an error releases its claim: the same request sent at once finishes it', async () => {
    const { deps, state, started } = depsWith();
    const batchId = uniqueId('start-failed');
    const text = body(batchId, ['a']);
    state.failures = 1;

    await expect(submitBatch(deps, { body: text })).rejects.toThrow('throttled');
    const again = await submitBatch(deps, { body: text });

    expect(again.created).toBe(true);
    expect(started).toHaveLength(1);
    expect((await store.getBatch(batchId))?.creation).toBeUndefined();
  });

  it('whose tasks were all written is only started by the taker, never written again', async () => {
    const { deps, clock, started } = depsWith();
    const batchId = uniqueId('written');
    const text = body(batchId, ['a', 'b']);
    // The first submit wrote every task and marked them, then died before starting the execution.
    const dying: TaskStore = new Proxy(store, {
      get(target, property, receiver) {
        if (property === 'updateBatchCreation') {
          return async (...args: Parameters<TaskStore['updateBatchCreation']>) => {
            if (args[2]?.tasksWritten) return target.updateBatchCreation(...args);
            throw new CrashError('died before starting');
          };
        }
        return Reflect.get(target, property, receiver);
      },
    });
    const failingStart = depsWith().orchestrator;
    failingStart.start = async () => {
      throw new CrashError('died before starting');
    };
    await expect(
      submitBatch({ ...deps, store: dying, orchestrator: failingStart }, { body: text }),
    ).rejects.toBeInstanceOf(CrashError);
    // Meanwhile (in the story: an execution started by the dead submit) task a moved on.
    expect(await store.setTaskStatus(batchId, 'a', 'RUNNING')).toBe(true);
    clock.advance(BATCH_CREATION_LEASE_MS + 1);

    await submitBatch(deps, { body: text });

    expect((await store.getTask(batchId, 'a'))?.status).toBe('RUNNING');
    expect(started.map((s) => s.name)).toEqual([batchId]);
  });

  it('is taken over by exactly one of several copies of the request sent at once', async () => {
    const { deps, clock, started } = depsWith();
    const batchId = uniqueId('takeover-race');
    const text = body(batchId, ['a', 'b', 'c']);
    await expect(submitBatch({ ...deps, store: crashingStore(2) }, { body: text })).rejects.toBeInstanceOf(
      CrashError,
    );
    clock.advance(BATCH_CREATION_LEASE_MS + 1);

    const outcomes = await Promise.allSettled(
      Array.from({ length: 6 }, () => submitBatch(deps, { body: text })),
    );

    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    for (const o of outcomes) if (o.status === 'rejected') expect(o.reason).toBeInstanceOf(ConflictError);
    expect(started).toHaveLength(1);
    expect(await store.listTasks(batchId)).toHaveLength(3);
  });

  it('tells a copy of the request, and a cancel, to retry after about as long as the creation has run, never past its claim', async () => {
    const { deps, clock } = depsWith();
    const batchId = uniqueId('retry-after');
    const text = body(batchId, ['a']);
    await expect(submitBatch({ ...deps, store: crashingStore(0) }, { body: text })).rejects.toBeInstanceOf(
      CrashError,
    );
    const cancelDeps = { ...deps, agents: {} as never, clock: deps.clock };
    const retryAfter = async () =>
      Promise.all(
        [submitBatch(deps, { body: text }), cancelBatch(cancelDeps, batchId)].map((refused) =>
          refused.then(
            () => 'accepted',
            (error: unknown) => (error instanceof ConflictError ? error.retryAfterSeconds : error),
          ),
        ),
      );

    // A creation that just began usually ends within the second: not the whole lease.
    expect(await retryAfter()).toEqual([1, 1]);
    clock.advance(10_000);
    expect(await retryAfter()).toEqual([10, 10]);
    // Near the claim's end: when it expires, when the request sent again takes the creation over.
    clock.advance(BATCH_CREATION_LEASE_MS - 10_000 - 7_500);
    expect(await retryAfter()).toEqual([8, 8]);
  });

  it('cannot be cancelled while it is being created', async () => {
    const { deps } = depsWith();
    const batchId = uniqueId('cancel-creating');
    await expect(
      submitBatch({ ...deps, store: crashingStore(0) }, { body: body(batchId, ['a']) }),
    ).rejects.toBeInstanceOf(CrashError);

    await expect(
      cancelBatch({ ...deps, agents: {} as never, clock: deps.clock }, batchId),
    ).rejects.toBeInstanceOf(ConflictError);
    expect((await store.getBatch(batchId))?.status).toBe('RUNNING');
  });

  it('is cancelled once its claim ran out: nothing of it runs afterwards, and the request sent again is refused', async () => {
    const { deps, clock, started } = depsWith();
    const batchId = uniqueId('cancel-abandoned');
    const text = body(batchId, ['a', 'b', 'c']);
    await expect(submitBatch({ ...deps, store: crashingStore(2) }, { body: text })).rejects.toBeInstanceOf(
      CrashError,
    );
    const cancelDeps = { ...deps, agents: {} as never, clock: deps.clock };
    const tooEarly = cancelBatch(cancelDeps, batchId);
    await expect(tooEarly).rejects.toBeInstanceOf(ConflictError);
    clock.advance(BATCH_CREATION_LEASE_MS + 1);

    const result = await cancelBatch(cancelDeps, batchId);

    expect(result.status).toBe('CANCELLED');
    const batch = await store.getBatch(batchId);
    expect(batch).toMatchObject({ status: 'CANCELLED' });
    expect(batch?.creation).toBeUndefined();
    expect((await store.listTasks(batchId)).map((t) => [t.taskId, t.status])).toEqual([
      ['a', 'CANCELLED'],
      ['b', 'CANCELLED'],
    ]);
    // The same request sent again finds a finished batch: it writes and starts nothing.
    await expect(submitBatch(deps, { body: text })).rejects.toBeInstanceOf(ConflictError);
    expect(started).toHaveLength(0);
    expect(await store.listTasks(batchId)).toHaveLength(2);
  });
});

describe('an Idempotency-Key sent with a batch id that is taken', () => {
  it('is left free: the corrected request with the same key creates its batch', async () => {
    const { deps, started } = depsWith();
    const taken = uniqueId('taken');
    const fixed = uniqueId('fixed');
    const key = `${taken}-key`;
    await submitBatch(deps, { body: body(taken, ['a']) });

    await expect(submitBatch(deps, { body: body(taken, ['mine']), idempotencyKey: key })).rejects.toThrow(
      `batch "${taken}" already exists`,
    );
    const corrected = await submitBatch(deps, { body: body(fixed, ['mine']), idempotencyKey: key });

    expect(corrected).toEqual({ batchId: fixed, created: true });
    expect(started.map((s) => s.name)).toEqual([taken, fixed]);
    // The key now answers the corrected request, and only it.
    expect(await submitBatch(deps, { body: body(fixed, ['mine']), idempotencyKey: key })).toEqual({
      batchId: fixed,
      created: false,
    });
    expect((await store.listTasks(taken)).map((t) => t.taskId)).toEqual(['a']);
  });

  it('stays with the request that holds it: a copy refused for the taken id does not free it', async () => {
    const { deps } = depsWith();
    const batchId = uniqueId('held');
    const key = `${batchId}-key`;
    await submitBatch(deps, { body: body(batchId, ['a']), idempotencyKey: key });

    await expect(submitBatch(deps, { body: body(batchId, ['b']), idempotencyKey: key })).rejects.toThrow(
      'was used for a different request',
    );
    await expect(submitBatch(deps, { body: body(batchId, ['a']) })).rejects.toBeInstanceOf(ConflictError);

    expect(await submitBatch(deps, { body: body(batchId, ['a']), idempotencyKey: key })).toEqual({
      batchId,
      created: false,
    });
  });
});
