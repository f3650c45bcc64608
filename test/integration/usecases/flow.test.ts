/**
 * The whole application core on dynalite, driven the way the state machine drives it (one child flow per
 * Map item, every item in flight at once), with task tokens answered in memory. The real state machine and
 * queues are the embedded runtime's business; this shows the use cases compose.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoAgentRegistry } from '../../../shared/adapters/dynamodb/agent-registry';
import { documentClient } from '../../../shared/adapters/dynamodb/client';
import { DynamoTaskStore } from '../../../shared/adapters/dynamodb/task-store';
import { createExecutor } from '../../../shared/adapters/executors';
import {
  DispatchResultSchema,
  type ExecutionInput,
  type GateOutput,
  type MapItem,
} from '../../../shared/domain/workflow';
import type { Callbacks, Clock, Orchestrator } from '../../../shared/ports';
import { runDispatch } from '../../../shared/usecases/agent-worker';
import { completeTask } from '../../../shared/usecases/complete';
import { finalizeBatch } from '../../../shared/usecases/finalize';
import { gateTask } from '../../../shared/usecases/gate';
import { recordAttempt } from '../../../shared/usecases/record-attempt';
import { routeTask } from '../../../shared/usecases/route';
import { submitBatch } from '../../../shared/usecases/submit';
import { type LocalDynamo, startDynalite } from '../../support/dynalite';
import { catalog, uniqueId } from '../../support/fixtures';
import { MemoryArtifacts } from '../../support/memory-artifacts';

/** Task tokens answered in memory: succeed/fail settle whoever waits on the token, once. */
class TokenBook implements Callbacks {
  private readonly waiters = new Map<string, { resolve(v: unknown): void; reject(e: Error): void }>();

  wait(token: string): Promise<unknown> {
    return new Promise((resolve, reject) => this.waiters.set(token, { resolve, reject }));
  }

  async succeed(token: string, output: unknown): Promise<boolean> {
    const waiter = this.waiters.get(token);
    this.waiters.delete(token);
    waiter?.resolve(output);
    return waiter !== undefined;
  }

  async fail(token: string, error: string, cause: string): Promise<boolean> {
    const waiter = this.waiters.get(token);
    this.waiters.delete(token);
    waiter?.reject(Object.assign(new Error(cause), { name: error }));
    return waiter !== undefined;
  }

  async heartbeat(token: string): Promise<boolean> {
    return this.waiters.has(token);
  }
}

let dynamo: LocalDynamo;

beforeAll(async () => {
  dynamo = await startDynalite();
});

afterAll(async () => {
  await dynamo.stop();
});

describe('a batch through every use case', () => {
  it('runs a diamond with one retried task and one failing branch to a PARTIAL result', async () => {
    const doc = documentClient(dynamo.client);
    const store = new DynamoTaskStore(dynamo.tasksTable, doc);
    const agents = new DynamoAgentRegistry(dynamo.agentsTable, doc);
    const clock: Clock = { now: () => Date.now() };
    const book = new TokenBook();
    let execution: ExecutionInput | undefined;
    const orchestrator: Orchestrator = {
      start: async (name, input) => {
        execution = input;
        return { executionArn: orchestrator.executionArnOf(name) };
      },
      stop: async () => {},
      executionArnOf: (name) => `arn:aws:states:us-east-1:1:execution:sm:${name}`,
    };
    const roleQueueUrls = Object.fromEntries([...catalog.keys()].map((r) => [r, `queue/${r}`]));
    const routeDeps = { store, agents, catalog, clock, roleQueueUrls, heartbeatSeconds: 60 };
    const workerDeps = {
      store,
      agents,
      callbacks: book,
      catalog,
      clock,
      executorFor: createExecutor,
      heartbeatSeconds: 60,
      artifacts: new MemoryArtifacts(),
    };
    const completeDeps = { store, agents, callbacks: book, clock };
    const batchId = uniqueId('flow');

    await submitBatch(
      { store, orchestrator, catalog, clock, ids: { next: () => 'unused' } },
      {
        body: JSON.stringify({
          batchId,
          tasks: [
            { id: 'schema', description: 'design the schema', role: 'database_designer' },
            {
              id: 'api',
              description: 'write the endpoint',
              role: 'python_backend_coder',
              dependsOn: ['schema'],
              input: { simulate: { failAttempts: 1, failMode: 'error' } },
            },
            {
              id: 'ui',
              description: 'build the form',
              role: 'typescript_frontend_agent',
              dependsOn: ['schema'],
              input: { simulate: { failAttempts: 5, failMode: 'error' } },
            },
            {
              id: 'docs',
              description: 'document it',
              role: 'documentation_writer',
              dependsOn: ['api', 'ui'],
            },
          ],
        }),
      },
    );

    async function child(item: MapItem): Promise<void> {
      const ref = { batchId, taskId: item.taskId };
      if (item.hasDeps) {
        const token = `gate:${item.taskId}`;
        const answer = book.wait(token);
        await gateTask({ store, callbacks: book }, { ...ref, taskToken: token });
        if (!((await answer) as GateOutput).proceed) {
          await completeTask(completeDeps, { ...ref, outcome: 'SKIPPED' });
          return;
        }
      }
      for (;;) {
        const route = await routeTask(routeDeps, ref);
        if (route.decision === 'STOP') return;
        if (route.decision === 'APPROVAL') throw new Error('this flow has no approvals');
        if (route.decision === 'WAIT') {
          await new Promise((resolve) => setTimeout(resolve, 5));
          continue;
        }
        const token = `dispatch:${item.taskId}:${route.attempt}`;
        const answer = book.wait(token);
        await runDispatch(workerDeps, {
          ...ref,
          agentId: route.agentId,
          attempt: route.attempt,
          taskToken: token,
          inlineResult: true,
        });
        try {
          // As CompleteTask's payload: the worker's answer ($.result) carries the attempt's end.
          const result = DispatchResultSchema.parse(await answer);
          await completeTask(completeDeps, {
            ...ref,
            outcome: 'SUCCEEDED',
            agentId: route.agentId,
            attempt: route.attempt,
            result,
          });
          return;
        } catch (error) {
          const next = await recordAttempt(
            { store, agents, clock },
            {
              ...ref,
              agentId: route.agentId,
              attempt: route.attempt,
              error: { Error: (error as Error).name },
            },
          );
          if (!next.retry) {
            await completeTask(completeDeps, { ...ref, outcome: 'FAILED' });
            return;
          }
        }
      }
    }
    await Promise.all((execution?.items ?? []).map(child));
    const result = await finalizeBatch({ store, clock }, { batchId });

    expect(result.status).toBe('PARTIAL');
    expect(result.tasks.map((t) => [t.id, t.status])).toEqual([
      ['schema', 'SUCCEEDED'],
      ['api', 'SUCCEEDED'],
      ['ui', 'FAILED'],
      ['docs', 'SKIPPED'],
    ]);
    const api = result.tasks[1];
    expect(api?.attempts.map((a) => a.status)).toEqual(['FAILED', 'SUCCEEDED']);
    expect(api?.attempts[0]?.agentId).not.toBe(api?.attempts[1]?.agentId);
    expect(result.tasks[2]?.attempts).toHaveLength(3);
    expect(result.tasks[3]?.reason).toContain('ui (FAILED)');
    expect((await store.getTask(batchId, 'api'))?.output).toMatchObject({ simulated: true });
    for (const agent of await agents.list()) expect(agent.reserved).toBe(0);
  });
});
