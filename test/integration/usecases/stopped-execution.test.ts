/**
 * A batch whose execution ended without its Finalize (usecases/interrupted.ts endStoppedExecution), on dynalite:
 * ended when the execution is the batch's current one, left alone otherwise (a nested expansion's, an earlier
 * one's, or the stop of a cancel in progress).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoAgentRegistry } from '../../../shared/adapters/dynamodb/agent-registry';
import { documentClient } from '../../../shared/adapters/dynamodb/client';
import { DynamoTaskStore } from '../../../shared/adapters/dynamodb/task-store';
import type { ExecutionInput } from '../../../shared/domain/workflow';
import type { Orchestrator } from '../../../shared/ports';
import { endStoppedExecution } from '../../../shared/usecases/interrupted';
import { type SubmitDeps, submitBatch } from '../../../shared/usecases/submit';
import { type LocalDynamo, startDynalite } from '../../support/dynalite';
import { catalog, ManualClock, uniqueId } from '../../support/fixtures';

let dynamo: LocalDynamo;
let store: DynamoTaskStore;
let agents: DynamoAgentRegistry;

beforeAll(async () => {
  dynamo = await startDynalite();
  const doc = documentClient(dynamo.client);
  store = new DynamoTaskStore(dynamo.tasksTable, doc);
  agents = new DynamoAgentRegistry(dynamo.agentsTable, doc);
});

afterAll(async () => {
  await dynamo.stop();
});

const arnOf = (name: string) => `arn:aws:states:us-east-1:1:execution:sm:${name}`;

/** Submits a two-task batch; its execution ARN is the one the orchestrator answers. */
async function submitted(clock: ManualClock): Promise<{ batchId: string; executionArn: string }> {
  const batchId = uniqueId('stopped');
  const orchestrator: Orchestrator = {
    start: async (name: string, _input: ExecutionInput) => ({ executionArn: arnOf(name) }),
    stop: async () => {},
    executionArnOf: arnOf,
  };
  let ids = 0;
  const deps: SubmitDeps = { store, orchestrator, catalog, clock, ids: { next: (p = '') => `${p}${++ids}` } };
  await submitBatch(deps, {
    body: JSON.stringify({
      batchId,
      tasks: [
        { id: 'a', description: 'Design the schema', role: 'database_designer' },
        { id: 'b', description: 'Write the endpoint', role: 'python_backend_coder', dependsOn: ['a'] },
      ],
    }),
  });
  return { batchId, executionArn: arnOf(batchId) };
}

describe('a batch whose execution ended without its Finalize', () => {
  it('ends FAILED, every unfinished task FAILED with a reason naming how the execution ended', async () => {
    const clock = new ManualClock();
    const { batchId, executionArn } = await submitted(clock);

    const ended = await endStoppedExecution(
      { store, agents, clock },
      { batchId, executionArn, status: 'TIMED_OUT', error: 'States.Timeout', cause: 'x'.repeat(1_000) },
    );

    expect(ended).toBe(true);
    expect((await store.getBatch(batchId))?.status).toBe('FAILED');
    const tasks = await store.listTasks(batchId);
    expect(tasks.map((t) => t.status)).toEqual(['FAILED', 'FAILED']);
    // The cause is quoted in part: a cause may hold 32 KiB.
    expect(tasks[0]?.reason).toBe(
      `interrupted: the batch's execution timed out (States.Timeout: ${'x'.repeat(284)}...) while this task was unfinished; redrive the batch to run it again`,
    );
  });

  it("leaves the batch alone for an execution that is not its current one, and for a cancel's stop", async () => {
    const clock = new ManualClock();
    const nested = await submitted(clock);
    const cancelling = await submitted(clock);
    await store.updateBatch(cancelling.batchId, {
      cancelRequested: true,
      cancelReason: 'cancelled by request',
    });

    const outcomes = await Promise.all([
      // A nested expansion's execution (its failure is caught by its parent), and one before a redrive's.
      endStoppedExecution(
        { store, agents, clock },
        { batchId: nested.batchId, executionArn: arnOf(`${nested.batchId}-x1`), status: 'FAILED' },
      ),
      endStoppedExecution(
        { store, agents, clock },
        { batchId: cancelling.batchId, executionArn: cancelling.executionArn, status: 'ABORTED' },
      ),
    ]);

    expect(outcomes).toEqual([false, false]);
    expect((await store.getBatch(nested.batchId))?.status).toBe('RUNNING');
    expect((await store.getBatch(cancelling.batchId))?.status).toBe('RUNNING');
  });
});
