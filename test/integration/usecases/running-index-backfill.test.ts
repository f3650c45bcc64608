/**
 * Batches RUNNING since before the running index (byRunning) existed, on dynalite: they have no `runningPk`, so
 * the scaler's lost-event sweep, which reads that index, never looked at them. Each scaler pass puts a bounded
 * number of them into it (usecases/interrupted.ts indexRunningBatches), the oldest first, carrying on from where
 * the previous pass stopped, and only those still RUNNING.
 */
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoAgentRegistry } from '../../../shared/adapters/dynamodb/agent-registry';
import { documentClient } from '../../../shared/adapters/dynamodb/client';
import { BATCH_SK, batchPk } from '../../../shared/adapters/dynamodb/keys';
import { DynamoTaskStore } from '../../../shared/adapters/dynamodb/task-store';
import type { ExecutionState, ExecutionStates } from '../../../shared/ports';
import {
  LOST_EVENT_MIN_AGE_MS,
  type LostEventSweep,
  MAX_BATCHES_INDEXED_PER_PASS,
} from '../../../shared/usecases/interrupted';
import { scaleAgents } from '../../../shared/usecases/scaler';
import { type LocalDynamo, startDynalite } from '../../support/dynalite';
import { batchOf, catalog, ManualClock, uniqueId } from '../../support/fixtures';

let dynamo: LocalDynamo;
let doc: ReturnType<typeof documentClient>;
let store: DynamoTaskStore;
let agents: DynamoAgentRegistry;

beforeAll(async () => {
  dynamo = await startDynalite();
  doc = documentClient(dynamo.client);
  store = new DynamoTaskStore(dynamo.tasksTable, doc);
  agents = new DynamoAgentRegistry(dynamo.agentsTable, doc);
});

afterAll(async () => {
  await dynamo.stop();
});

const arnOf = (name: string) => `arn:aws:states:us-east-1:1:execution:sm:${name}`;

/** Step Functions as the pass sees it: every execution RUNNING unless set otherwise. */
class FakeExecutions implements ExecutionStates {
  readonly states = new Map<string, ExecutionState>();
  executionArnOf = arnOf;
  async describe(executionArn: string): Promise<ExecutionState | undefined> {
    return this.states.get(executionArn) ?? { status: 'RUNNING' };
  }
}

/** A batch as a version before the running index wrote it: no `runningPk`, whatever its status. */
async function writtenBeforeTheIndex(clock: ManualClock, status: 'RUNNING' | 'SUCCEEDED'): Promise<string> {
  const batchId = uniqueId('legacy');
  const { batch, tasks } = batchOf(batchId, [{ id: 't', description: 'write code' }]);
  await store.createBatch({ ...batch, createdAt: clock.now(), executionArn: arnOf(batchId) }, tasks);
  if (status !== 'RUNNING') await store.updateBatch(batchId, { status });
  await doc.send(
    new UpdateCommand({
      TableName: dynamo.tasksTable,
      Key: { pk: batchPk(batchId), sk: BATCH_SK },
      UpdateExpression: 'REMOVE runningPk',
      ConditionExpression: 'attribute_exists(pk)',
    }),
  );
  clock.advance(1);
  return batchId;
}

/** Every batch id in the running index. */
async function runningIds(clock: ManualClock): Promise<string[]> {
  const page = await store.listRunningBatches({ createdBefore: clock.now() + 1, limit: 1_000 });
  return page.batches.map((b) => b.batchId);
}

function pass(clock: ManualClock, sweep: LostEventSweep, executions = new FakeExecutions()) {
  return scaleAgents({ agents, catalog, clock, lostEvents: { store, executions, sweep } });
}

describe('a batch RUNNING since before the running index', () => {
  it(`is put into it, ${MAX_BATCHES_INDEXED_PER_PASS} batches read a pass, the oldest first, until every batch was read`, async () => {
    const clock = new ManualClock();
    const legacy: string[] = [];
    for (let i = 0; i < MAX_BATCHES_INDEXED_PER_PASS; i++)
      legacy.push(await writtenBeforeTheIndex(clock, 'RUNNING'));
    const finished = await writtenBeforeTheIndex(clock, 'SUCCEEDED');
    const last = await writtenBeforeTheIndex(clock, 'RUNNING');
    expect(await runningIds(clock)).toEqual([]);
    const sweep: LostEventSweep = {};

    const first = await pass(clock, sweep);

    expect(first.interruptedError).toBeUndefined();
    expect(first.indexedRunning).toBe(MAX_BATCHES_INDEXED_PER_PASS);
    expect(new Set(await runningIds(clock))).toEqual(new Set(legacy));
    expect(sweep.indexing?.done).toBeUndefined();
    expect(sweep.indexing?.cursor).toBeDefined();

    const second = await pass(clock, sweep);

    expect(second.indexedRunning).toBe(1);
    expect(new Set(await runningIds(clock))).toEqual(new Set([...legacy, last]));
    expect(await runningIds(clock)).not.toContain(finished);
    expect(sweep.indexing).toEqual({ done: true });
    expect((await store.getBatch(finished))?.status).toBe('SUCCEEDED');

    // Every batch was read: the passes after read nothing more.
    expect((await pass(clock, sweep)).indexedRunning).toBe(0);
  });

  it("is swept once indexed: its execution's lost end ends the batch", async () => {
    const clock = new ManualClock();
    const batchId = await writtenBeforeTheIndex(clock, 'RUNNING');
    const executions = new FakeExecutions();
    executions.states.set(arnOf(batchId), { status: 'FAILED', error: 'States.Runtime' });
    clock.advance(LOST_EVENT_MIN_AGE_MS + 1);
    const sweep: LostEventSweep = {};

    // The batches the test above left running are swept too, MAX_RUNNING_BATCHES_CHECKED_PER_PASS a pass.
    const ended: string[] = [];
    let indexed = 0;
    for (let passes = 0; !ended.includes(batchId) || !sweep.indexing?.done; passes++) {
      expect(passes).toBeLessThan(10);
      const result = await pass(clock, sweep, executions);
      ended.push(...result.interrupted);
      indexed += result.indexedRunning ?? 0;
    }

    // The batches the test above put into the index were read again, and not counted: they had their place.
    expect(indexed).toBe(1);
    expect((await store.getBatch(batchId))?.status).toBe('FAILED');
  });
});
