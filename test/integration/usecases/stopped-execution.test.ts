/**
 * A batch whose execution ended without its Finalize (usecases/interrupted.ts endStoppedExecution), on dynalite:
 * ended when the execution is the batch's current one, left alone otherwise (a nested expansion's, an earlier
 * one's, or the stop of a cancel in progress). And when the status change event never came (EventBridge
 * delivers best effort): the scaler's pass (endLostStoppedExecutions) finds the batch among the running ones
 * and ends it as the event would have, a bounded number a pass.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoAgentRegistry } from '../../../shared/adapters/dynamodb/agent-registry';
import { documentClient } from '../../../shared/adapters/dynamodb/client';
import { DynamoTaskStore } from '../../../shared/adapters/dynamodb/task-store';
import type { ExecutionInput } from '../../../shared/domain/workflow';
import type { ExecutionState, ExecutionStates, Orchestrator } from '../../../shared/ports';
import {
  endStoppedExecution,
  LOST_EVENT_MIN_AGE_MS,
  MAX_RUNNING_BATCHES_CHECKED_PER_PASS,
} from '../../../shared/usecases/interrupted';
import { redriveBatch } from '../../../shared/usecases/redrive';
import { scaleAgents } from '../../../shared/usecases/scaler';
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

/** Step Functions' starts; `onStart` runs while an execution starts. */
function orchestrator(onStart?: () => Promise<void>): Orchestrator {
  return {
    start: async (name: string, _input: ExecutionInput) => {
      await onStart?.();
      return { executionArn: arnOf(name) };
    },
    stop: async () => {},
    executionArnOf: arnOf,
  };
}

/** Submits a two-task batch at the clock's time; its execution ARN is the one the orchestrator answers. */
async function submitted(clock: ManualClock): Promise<{ batchId: string; executionArn: string }> {
  const batchId = uniqueId('stopped');
  let ids = 0;
  const deps: SubmitDeps = {
    store,
    orchestrator: orchestrator(),
    catalog,
    clock,
    ids: { next: (p = '') => `${p}${++ids}` },
  };
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

/** Step Functions as the pass sees it: every execution RUNNING unless set otherwise; each describe recorded. */
class FakeExecutions implements ExecutionStates {
  readonly states = new Map<string, ExecutionState>();
  readonly described: string[] = [];
  executionArnOf = arnOf;
  async describe(executionArn: string): Promise<ExecutionState | undefined> {
    this.described.push(executionArn);
    return this.states.get(executionArn) ?? { status: 'RUNNING' };
  }
}

/** One scaler pass that looks at running batches, at the clock's time. */
function pass(clock: ManualClock, executions: FakeExecutions, sweep: { cursor?: string } = {}) {
  return scaleAgents({ agents, catalog, clock, lostEvents: { store, executions, sweep } });
}

/** Every running batch id in the running index (created before `createdBefore`). */
async function runningIds(createdBefore: number): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.listRunningBatches({
      createdBefore,
      limit: 100,
      ...(cursor !== undefined ? { cursor } : {}),
    });
    ids.push(...page.batches.map((b) => b.batchId));
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return ids;
}

describe('a batch whose execution ended and whose status change event never came', () => {
  it("is ended by the scaler's pass, FAILED, each unfinished task with a reason naming how its execution ended", async () => {
    const clock = new ManualClock();
    const { batchId, executionArn } = await submitted(clock);
    const executions = new FakeExecutions();
    executions.states.set(executionArn, { status: 'FAILED', error: 'States.Runtime', cause: 'a bad path' });
    clock.advance(LOST_EVENT_MIN_AGE_MS + 1);

    const result = await pass(clock, executions);

    expect(result.interrupted).toContain(batchId);
    expect(result.interruptedError).toBeUndefined();
    expect((await store.getBatch(batchId))?.status).toBe('FAILED');
    const tasks = await store.listTasks(batchId);
    expect(tasks.map((t) => t.status)).toEqual(['FAILED', 'FAILED']);
    expect(tasks[0]?.reason).toBe(
      "interrupted: the batch's execution failed (States.Runtime: a bad path) while this task was unfinished; redrive the batch to run it again",
    );
    // Out of the running index: the next pass does not look at it.
    expect(await runningIds(clock.now())).not.toContain(batchId);
  });

  it('leaves a young batch undescribed, and a batch whose execution runs, is not its current one or is being cancelled RUNNING', async () => {
    const clock = new ManualClock();
    const runs = await submitted(clock);
    const replaced = await submitted(clock);
    const cancelling = await submitted(clock);
    // The batch names an execution after the one that ended (a redrive's): the ended one is not its own.
    await store.updateBatch(replaced.batchId, { executionArn: arnOf(`${replaced.batchId}-redrive-1`) });
    await store.updateBatch(cancelling.batchId, {
      cancelRequested: true,
      cancelReason: 'cancelled by request',
    });
    const executions = new FakeExecutions();
    executions.states.set(cancelling.executionArn, { status: 'ABORTED' });
    executions.states.set(replaced.executionArn, { status: 'FAILED' });
    clock.advance(LOST_EVENT_MIN_AGE_MS + 1);
    const young = await submitted(clock);
    executions.states.set(young.executionArn, { status: 'FAILED' });

    const result = await pass(clock, executions);

    expect(executions.described).not.toContain(young.executionArn);
    expect(executions.described).toEqual(
      expect.arrayContaining([runs.executionArn, arnOf(`${replaced.batchId}-redrive-1`)]),
    );
    for (const batch of [runs, replaced, cancelling, young]) {
      expect(result.interrupted).not.toContain(batch.batchId);
      expect((await store.getBatch(batch.batchId))?.status, batch.batchId).toBe('RUNNING');
    }
  });

  it(`looks at ${MAX_RUNNING_BATCHES_CHECKED_PER_PASS} running batches a pass, the oldest first, and the next passes carry on until each was looked at`, async () => {
    const clock = new ManualClock();
    const mine: string[] = [];
    for (let i = 0; i < MAX_RUNNING_BATCHES_CHECKED_PER_PASS + 3; i++) {
      mine.push((await submitted(clock)).executionArn);
      clock.advance(1);
    }
    clock.advance(LOST_EVENT_MIN_AGE_MS);
    const executions = new FakeExecutions();
    const sweep: { cursor?: string } = {};

    await pass(clock, executions, sweep);
    expect(executions.described).toHaveLength(MAX_RUNNING_BATCHES_CHECKED_PER_PASS);
    expect(sweep.cursor).toBeDefined();
    // Oldest first: the batches other tests left running were created no later than these.
    const firstPass = executions.described.filter((arn) => mine.includes(arn));
    expect(firstPass).toEqual(mine.slice(0, firstPass.length));

    for (let passes = 1; sweep.cursor !== undefined; passes++) {
      expect(passes).toBeLessThan(10);
      await pass(clock, executions, sweep);
    }
    const described = executions.described.filter((arn) => mine.includes(arn));
    expect(described).toEqual(mine);
  });

  it('does not end a redriven batch for a late event of the execution it replaced, arriving while the redrive starts its own', async () => {
    const clock = new ManualClock();
    const { batchId, executionArn } = await submitted(clock);
    const deps = { store, agents, clock };
    expect(await endStoppedExecution(deps, { batchId, executionArn, status: 'FAILED' })).toBe(true);
    let late: boolean | undefined;

    await redriveBatch(
      {
        store,
        orchestrator: orchestrator(async () => {
          late = await endStoppedExecution(deps, { batchId, executionArn, status: 'FAILED' });
        }),
      },
      batchId,
    );

    expect(late).toBe(false);
    expect((await store.getBatch(batchId))?.status).toBe('RUNNING');
    expect((await store.getBatch(batchId))?.executionArn).toBe(arnOf(`${batchId}-redrive-1`));
    expect(await runningIds(clock.now() + 1)).toContain(batchId);
  });
});
