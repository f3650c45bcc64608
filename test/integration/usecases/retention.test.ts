/**
 * pruneFinishedBatches (serve's retention) against the DynamoDB task store on dynalite: which finished
 * batches go, in which order, and what a pass that stops part-way leaves.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { documentClient } from '../../../shared/adapters/dynamodb/client';
import { DynamoTaskStore } from '../../../shared/adapters/dynamodb/task-store';
import type { TaskStore } from '../../../shared/ports';
import { finalizeBatch } from '../../../shared/usecases/finalize';
import { pruneFinishedBatches } from '../../../shared/usecases/retention';
import { type LocalDynamo, startDynalite } from '../../support/dynalite';
import { batchOf, ManualClock, uniqueId } from '../../support/fixtures';
import { MemoryArtifacts } from '../../support/memory-artifacts';

let dynamo: LocalDynamo;
let store: DynamoTaskStore;
const clock = new ManualClock();

// A table of its own for each test: retention reads every batch of the table.
beforeEach(async () => {
  dynamo = await startDynalite();
  store = new DynamoTaskStore(dynamo.tasksTable, documentClient(dynamo.client));
});

afterEach(async () => {
  await dynamo.stop();
});

/** Stores a batch of one task created at `createdAt`; finished (its task succeeded, finalized) unless `running`. */
async function storeBatch(createdAt: number, running = false): Promise<string> {
  const batchId = uniqueId('keep');
  const { batch, tasks } = batchOf(batchId, [{ id: 'a', description: 'task a' }]);
  await store.createBatch({ ...batch, createdAt, startedAt: createdAt, taskCount: 1 }, tasks);
  if (!running) {
    await store.setTaskStatus(batchId, 'a', 'SUCCEEDED', { at: createdAt + 1 });
    clock.time = createdAt + 2;
    await finalizeBatch({ store, clock }, { batchId });
  }
  return batchId;
}

/** The store, recording each deletion asked for and failing the `failAt`-th (from 1) if given. */
function recordingStore(failAt?: number): { store: TaskStore; asked: string[] } {
  const asked: string[] = [];
  const recording = Object.create(store) as TaskStore;
  recording.deleteFinishedBatch = async (batchId, status) => {
    asked.push(batchId);
    if (asked.length === failAt) throw new Error('the table is unreachable');
    return store.deleteFinishedBatch(batchId, status);
  };
  return { store: recording, asked };
}

async function exists(batchId: string): Promise<boolean> {
  return (await store.getBatch(batchId)) !== undefined;
}

describe('pruneFinishedBatches', () => {
  it('keeps the newest finished batches and a running one, deleting the older finished ones oldest first', async () => {
    const base = 2 * 10 ** 13;
    const running = await storeBatch(base, true);
    const ids = [];
    for (let i = 1; i <= 5; i++) ids.push(await storeBatch(base + i * 1_000));
    const { store: recording, asked } = recordingStore();

    const deleted = await pruneFinishedBatches({ store: recording, artifacts: new MemoryArtifacts() }, 2);

    expect(deleted).toEqual([ids[0], ids[1], ids[2]]);
    expect(asked).toEqual(deleted);
    expect(await Promise.all([running, ...ids].map(exists))).toEqual([true, false, false, false, true, true]);
  });

  it('has deleted only the oldest when a pass stops part-way, and the next pass deletes the rest', async () => {
    const base = 2 * 10 ** 13;
    const ids = [];
    for (let i = 1; i <= 4; i++) ids.push(await storeBatch(base + i * 1_000));
    const artifacts = new MemoryArtifacts();
    const failing = recordingStore(2);

    const error = await pruneFinishedBatches({ store: failing.store, artifacts }, 1).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(Error);
    expect(failing.asked).toEqual([ids[0], ids[1]]);
    expect(await Promise.all(ids.map(exists))).toEqual([false, true, true, true]);
    expect(await pruneFinishedBatches({ store, artifacts }, 1)).toEqual([ids[1], ids[2]]);
    expect(await Promise.all(ids.map(exists))).toEqual([false, false, false, true]);
  });
});
