import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
} from '@aws-sdk/client-sfn';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { DocumentClient } from '../../../shared/adapters/dynamodb/client';
import { SimulatedExecutor } from '../../../shared/adapters/executors/simulated';
import type { DispatchMessage } from '../../../shared/domain/workflow';
import { HANDLER_ENV, sqsEvent, sqsRecord } from '../../support/api-events';
import { agentOf } from '../../support/fixtures';

// The handlers' document clients (shared/adapters/dynamodb/client.ts), whose send this replaces.
const ddb = mockClient(DocumentClient);
const sfn = mockClient(SFNClient);
let handler: (event: SQSEvent) => Promise<SQSBatchResponse>;

const message: DispatchMessage = {
  batchId: 'b1',
  taskId: 't1',
  agentId: 'python_backend_coder-1',
  attempt: 1,
  taskToken: 'token-1',
  inlineResult: true,
};

function taskItem(input: Record<string, unknown> = {}) {
  return {
    pk: 'BATCH#b1',
    sk: 'TASK#t1',
    type: 'task',
    batchId: 'b1',
    taskId: 't1',
    index: 0,
    task: { id: 't1', description: 'write the endpoint', input },
    status: 'RUNNING',
    role: 'python_backend_coder',
    agentId: message.agentId,
    pendingDeps: 0,
    failedDeps: 0,
    dependents: [],
    maxAttempts: 3,
    attemptCount: 1,
    attempts: [{ agentId: message.agentId, status: 'RUNNING', startedAt: 1 }],
  };
}

/** The store as DynamoDB would answer it: the attempt can be claimed once. */
function fakeStore(task = taskItem()) {
  let claimed = false;
  ddb
    .on(GetCommand)
    .callsFake((input) =>
      input.Key.agentId ? { Item: agentOf('python_backend_coder', message.agentId) } : { Item: task },
    );
  ddb.on(UpdateCommand).callsFake((input) => {
    if (input.UpdateExpression === 'SET claimedAttempt = :a') {
      if (claimed) throw new ConditionalCheckFailedException({ message: 'claimed', $metadata: {} });
      claimed = true;
      return { Attributes: task }; // ReturnValues ALL_NEW: the claimed task
    }
    return {};
  });
}

beforeAll(async () => {
  for (const [name, value] of Object.entries(HANDLER_ENV)) vi.stubEnv(name, value);
  ({ handler } = await import('../../../functions/agent-worker'));
});

afterAll(() => {
  vi.unstubAllEnvs();
});

beforeEach(() => {
  ddb.reset();
  sfn.reset();
  sfn.on(SendTaskSuccessCommand).resolves({});
  sfn.on(SendTaskFailureCommand).resolves({});
  sfn.on(SendTaskHeartbeatCommand).resolves({});
  vi.restoreAllMocks();
});

describe('agent worker handler', () => {
  it('reports exactly the poison record as a batch item failure', async () => {
    fakeStore();

    const response = await handler(
      sqsEvent(sqsRecord('good', JSON.stringify(message)), sqsRecord('poison', '{"batchId": 7')),
    );

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'poison' }]);
    expect(sfn.commandCalls(SendTaskSuccessCommand)).toHaveLength(1);
  });

  it('treats a well-formed JSON body that is not a dispatch message as poison', async () => {
    fakeStore();

    const response = await handler(sqsEvent(sqsRecord('odd', JSON.stringify({ hello: 'world' }))));

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'odd' }]);
    expect(ddb.calls()).toHaveLength(0);
  });

  it('runs the executor once for a duplicate delivery and deletes both records', async () => {
    fakeStore();
    const execute = vi.spyOn(SimulatedExecutor.prototype, 'execute');

    const response = await handler(
      sqsEvent(sqsRecord('first', JSON.stringify(message)), sqsRecord('again', JSON.stringify(message))),
    );

    expect(response.batchItemFailures).toEqual([]);
    expect(execute).toHaveBeenCalledTimes(1);
    expect(sfn.commandCalls(SendTaskSuccessCommand)).toHaveLength(1);
  });

  it('answers SendTaskSuccess with the dispatch result, the attempt end and the output', async () => {
    fakeStore();

    await handler(sqsEvent(sqsRecord('m', JSON.stringify(message))));

    const [success] = sfn.commandCalls(SendTaskSuccessCommand);
    expect(success?.args[0].input.taskToken).toBe('token-1');
    expect(JSON.parse(success?.args[0].input.output ?? '{}')).toMatchObject({
      status: 'SUCCEEDED',
      agentId: message.agentId,
      attempt: 1,
      finishedAt: expect.any(Number),
      output: { simulated: true },
    });
    // Complete writes the attempt's end with the task's status: the worker writes nothing for it.
    const finish = ddb
      .commandCalls(UpdateCommand)
      .find((c) => c.args[0].input.UpdateExpression?.includes('attempts[0].#status'));
    expect(finish).toBeUndefined();
  });

  it('answers SendTaskFailure with the error name when the executor fails', async () => {
    fakeStore(taskItem({ simulate: { failAttempts: 1, failMode: 'error' } }));

    await handler(sqsEvent(sqsRecord('m', JSON.stringify(message))));

    const [failure] = sfn.commandCalls(SendTaskFailureCommand);
    expect(failure?.args[0].input.error).toBe('SimulatedFailureError');
    expect(sfn.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);
  });

  it('answers nothing when the simulated worker crashes', async () => {
    fakeStore(taskItem({ simulate: { failAttempts: 1, failMode: 'crash' } }));

    const response = await handler(sqsEvent(sqsRecord('m', JSON.stringify(message))));

    expect(response.batchItemFailures).toEqual([]);
    expect(sfn.calls()).toHaveLength(0);
  });
});
