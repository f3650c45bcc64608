import { DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import {
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
  TaskTimedOut,
} from '@aws-sdk/client-sfn';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { EnvVar } from '../../../shared/config';
import { MAX_EXECUTION_INPUT_BYTES } from '../../../shared/domain/limits';
import { resolveRoles } from '../../../shared/domain/roles';
import type { Role } from '../../../shared/domain/schemas';
import type { AslDefinition } from '../../../shared/local/runtime/definition';
import type { LambdaHandler } from '../../../shared/local/runtime/lambda-context';
import { LocalRuntime, type LocalRuntimeOptions } from '../../../shared/local/runtime/local-runtime';
import { acceptsConnections, eventually, sleep } from './helpers';

const ROLE = 'code_reviewer';
const MAX_CONCURRENCY = 2;

/**
 * A small machine with the patterns of the real one: Distributed Map with ItemSelector over $$.Map.Item.Value
 * and MaxConcurrencyPath; a lambda:invoke.waitForTaskToken gate; a SecondsPath Wait; a lambda:invoke route;
 * an sqs:sendMessage.waitForTaskToken dispatch with TimeoutSecondsPath / HeartbeatSecondsPath and Catch on
 * timeouts and on a SendTaskFailure error name.
 */
const definition: AslDefinition = {
  StartAt: 'ProcessTasks',
  States: {
    ProcessTasks: {
      Type: 'Map',
      ItemsPath: '$.items',
      MaxConcurrencyPath: '$.concurrency',
      ItemSelector: {
        'batchId.$': '$.batchId',
        'pauseSeconds.$': '$.pauseSeconds',
        'taskId.$': '$$.Map.Item.Value.taskId',
        'mode.$': '$$.Map.Item.Value.mode',
      },
      ItemProcessor: {
        ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' },
        StartAt: 'Gate',
        States: {
          Gate: {
            Type: 'Task',
            Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
            Parameters: {
              FunctionName: 'gate',
              Payload: { 'batchId.$': '$.batchId', 'taskId.$': '$.taskId', 'taskToken.$': '$$.Task.Token' },
            },
            ResultPath: '$.gate',
            Next: 'Pause',
          },
          Pause: { Type: 'Wait', SecondsPath: '$.pauseSeconds', Next: 'Settle' },
          Settle: { Type: 'Wait', Seconds: 30, Next: 'Route' },
          Route: {
            Type: 'Task',
            Resource: 'arn:aws:states:::lambda:invoke',
            Parameters: { FunctionName: 'route', 'Payload.$': '$' },
            ResultSelector: { 'value.$': '$.Payload' },
            ResultPath: '$.route',
            Next: 'Dispatch',
          },
          Dispatch: {
            Type: 'Task',
            Resource: 'arn:aws:states:::sqs:sendMessage.waitForTaskToken',
            Parameters: {
              'QueueUrl.$': '$.route.value.queueUrl',
              MessageBody: { 'taskId.$': '$.taskId', 'mode.$': '$.mode', 'taskToken.$': '$$.Task.Token' },
            },
            TimeoutSecondsPath: '$.route.value.timeoutSeconds',
            HeartbeatSecondsPath: '$.route.value.heartbeatSeconds',
            ResultPath: '$.result',
            Catch: [
              {
                ErrorEquals: ['States.Timeout', 'States.HeartbeatTimeout'],
                ResultPath: '$.error',
                Next: 'TimedOut',
              },
              { ErrorEquals: ['Agent.Failed'], ResultPath: '$.error', Next: 'AgentFailed' },
            ],
            Next: 'Done',
          },
          TimedOut: {
            Type: 'Pass',
            Parameters: { 'taskId.$': '$.taskId', outcome: 'TIMED_OUT', 'error.$': '$.error' },
            End: true,
          },
          AgentFailed: {
            Type: 'Pass',
            Parameters: { 'taskId.$': '$.taskId', outcome: 'FAILED', 'error.$': '$.error' },
            End: true,
          },
          Done: {
            Type: 'Pass',
            Parameters: {
              'taskId.$': '$.taskId',
              outcome: 'SUCCEEDED',
              'gate.$': '$.gate',
              'result.$': '$.result',
            },
            End: true,
          },
        },
      },
      End: true,
    },
  },
};

const taskStates = { Gate: 'gate', Route: 'route' };

/** Per mode: how long the dispatch may run and how often it must beat. */
const ROUTES: Record<string, { timeoutSeconds: number; heartbeatSeconds: number }> = {
  ok: { timeoutSeconds: 10, heartbeatSeconds: 5 },
  fail: { timeoutSeconds: 10, heartbeatSeconds: 5 },
  // Beats every 300 ms but never answers: only the 2 s timeout can end it.
  beating: { timeoutSeconds: 2, heartbeatSeconds: 1 },
  // Never beats: the 1 s heartbeat timeout ends it.
  silent: { timeoutSeconds: 10, heartbeatSeconds: 1 },
  hang: { timeoutSeconds: 300, heartbeatSeconds: 200 },
};

interface Observed {
  gateCalls: number;
  /** Task ids in the order their gate handler was called. */
  gateOrder: string[];
  gatesRunning: number;
  gatePeak: number;
  running: number;
  peak: number;
  tokens: Map<string, string>;
  lateCallbackErrors: string[];
}

/** Fake handlers built like the real ones: stock clients with no endpoint configuration, env read at load. */
function fakeHandlers(observed: Observed): Record<string, LambdaHandler> {
  const tasksTable = process.env[EnvVar.TasksTable] ?? '';
  const queueUrls = JSON.parse(process.env[EnvVar.RoleQueueUrls] ?? '{}') as Record<string, string>;
  const sfn = new SFNClient({});
  const dynamo = new DynamoDBClient({});

  const gate: LambdaHandler = async (event) => {
    const { batchId, taskId, taskToken } = event as { batchId: string; taskId: string; taskToken: string };
    observed.gateCalls += 1;
    observed.gateOrder.push(taskId);
    observed.gatesRunning += 1;
    observed.gatePeak = Math.max(observed.gatePeak, observed.gatesRunning);
    await sleep(20);
    observed.gatesRunning -= 1;
    await dynamo.send(
      new PutItemCommand({
        TableName: tasksTable,
        Item: { pk: { S: `BATCH#${batchId}` }, sk: { S: `TASK#${taskId}` }, gateToken: { S: taskToken } },
      }),
    );
    await sfn.send(
      new SendTaskSuccessCommand({ taskToken, output: JSON.stringify({ proceed: true, failedDeps: 0 }) }),
    );
  };

  const route: LambdaHandler = async (event) => {
    const { mode } = event as { mode: string };
    return { queueUrl: queueUrls[ROLE], ...ROUTES[mode] };
  };

  const agent: LambdaHandler = async (event) => {
    observed.running += 1;
    observed.peak = Math.max(observed.peak, observed.running);
    try {
      for (const record of (event as SQSEvent).Records) {
        const { taskId, mode, taskToken } = JSON.parse(record.body) as Record<string, string>;
        observed.tokens.set(taskId ?? '', taskToken ?? '');
        if (mode === 'ok') {
          await sleep(150);
          await sfn.send(new SendTaskHeartbeatCommand({ taskToken }));
          await sfn.send(
            new SendTaskSuccessCommand({ taskToken, output: JSON.stringify({ by: 'agent', taskId }) }),
          );
        } else if (mode === 'fail') {
          await sfn.send(
            new SendTaskFailureCommand({
              taskToken,
              error: 'Agent.Failed',
              cause: `agent gave up on ${taskId}`,
            }),
          );
        } else if (mode === 'beating') {
          try {
            for (;;) {
              await sleep(300);
              await sfn.send(new SendTaskHeartbeatCommand({ taskToken }));
            }
          } catch (error) {
            observed.lateCallbackErrors.push((error as Error).name);
          }
        }
      }
    } finally {
      observed.running -= 1;
    }
  };

  return { gate, route, agent };
}

const roles: Role[] = [...resolveRoles().values()].filter((r) => r.name === ROLE);

async function startRuntime(
  observed: Observed,
  extra: Pick<LocalRuntimeOptions, 'stateConcurrency' | 'beforeInvoke'> = {},
): Promise<LocalRuntime> {
  return LocalRuntime.start({
    ...extra,
    definition,
    taskStates,
    handlers: async () => fakeHandlers(observed),
    agentHandler: 'agent',
    roles,
    concurrency: { [ROLE]: MAX_CONCURRENCY },
    waitScale: 0.01,
    // One record per invocation, so concurrent invocations are concurrent tasks.
    batchSize: 1,
  });
}

/** Starts a batch of two tasks that succeed, side by side. */
function startPair(runtime: LocalRuntime, batchId: string, taskIds: [string, string], pauseSeconds: number) {
  return runtime.startExecution({
    batchId,
    concurrency: 2,
    pauseSeconds,
    items: taskIds.map((taskId) => ({ taskId, mode: 'ok' })),
  });
}

const newObserved = (): Observed => ({
  gateCalls: 0,
  gateOrder: [],
  gatesRunning: 0,
  gatePeak: 0,
  running: 0,
  peak: 0,
  tokens: new Map(),
  lateCallbackErrors: [],
});

describe('LocalRuntime', () => {
  let runtime: LocalRuntime | undefined;
  afterEach(async () => {
    await runtime?.stop();
    runtime = undefined;
  });

  it('runs the machine end to end: gate, scaled wait, route, dispatch through the role queue and the agent', async () => {
    const observed = newObserved();
    runtime = await startRuntime(observed);
    const items = Array.from({ length: 5 }, (_, i) => ({ taskId: `t${i}`, mode: 'ok' }));
    const started = Date.now();

    const { executionArn } = runtime.startExecution({
      batchId: 'b1',
      concurrency: 5,
      pauseSeconds: 100,
      items,
    });
    const record = await runtime.waitForExecution(executionArn);

    expect(record.status).toBe('SUCCEEDED');
    expect(JSON.parse(record.output ?? 'null')).toEqual(
      items.map(({ taskId }) => ({
        taskId,
        outcome: 'SUCCEEDED',
        gate: { proceed: true, failedDeps: 0 },
        result: { by: 'agent', taskId },
      })),
    );
    // Waits of 100 s (SecondsPath) and 30 s (Seconds) at scale 0.01 take 1.3 s.
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(observed.peak).toBe(MAX_CONCURRENCY);
    expect(runtime.pollers.peakInFlight(ROLE)).toBe(MAX_CONCURRENCY);
    const tasksTable = process.env[EnvVar.TasksTable];
    const stored = await new DynamoDBClient({}).send(
      new GetItemCommand({ TableName: tasksTable, Key: { pk: { S: 'BATCH#b1' }, sk: { S: 'TASK#t3' } } }),
    );
    expect(stored.Item?.gateToken?.S).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    expect(runtime.tokens.pendingCount).toBe(0);
  });

  it("runs at most a state's concurrency limit of its handler at once, and every item still runs", async () => {
    const observed = newObserved();
    runtime = await startRuntime(observed, { stateConcurrency: { Gate: 2 } });
    const items = Array.from({ length: 8 }, (_, i) => ({ taskId: `g${i}`, mode: 'ok' }));

    const { executionArn } = runtime.startExecution({
      batchId: 'b-gates',
      concurrency: 8,
      pauseSeconds: 0,
      items,
    });
    const record = await runtime.waitForExecution(executionArn);

    expect(record.status).toBe('SUCCEEDED');
    expect(observed.gateCalls).toBe(8);
    // Without the limit all 8 gates of the Map run at once.
    expect(observed.gatePeak).toBe(2);
  });

  it("waits a state's beforeInvoke before the invocation takes its place in the state's limit, and invokes when it fails", async () => {
    const observed = newObserved();
    const waited: string[] = [];
    runtime = await startRuntime(observed, {
      stateConcurrency: { Gate: 1 },
      beforeInvoke: {
        Gate: async (event) => {
          const { taskId } = event as { taskId: string };
          waited.push(taskId);
          if (taskId === 'late') {
            // Holds its gate back until the other one ran: were the wait inside the limit of 1, it would hold
            // the only place, and the other gate would run only after this one gave up.
            const until = Date.now() + 3_000;
            while (!observed.gateOrder.includes('early') && Date.now() < until) await sleep(10);
            return;
          }
          throw new Error('a failed wait still invokes');
        },
      },
    });

    const { executionArn } = startPair(runtime, 'b-before', ['late', 'early'], 0);
    const record = await runtime.waitForExecution(executionArn);

    expect(record.status).toBe('SUCCEEDED');
    expect(waited.sort()).toEqual(['early', 'late']);
    expect(observed.gateOrder).toEqual(['early', 'late']);
  });

  it('tells invocation observers every handler call with its timing and every agent delivery', async () => {
    const observed = newObserved();
    runtime = await startRuntime(observed);
    const routed: { taskId: unknown; durationMs: number; ok: boolean }[] = [];
    const delivered: string[] = [];
    runtime.runner.observeInvocations((t) => {
      if (t.handlerName === 'route') {
        routed.push({ taskId: (t.event as { taskId?: unknown }).taskId, durationMs: t.durationMs, ok: t.ok });
      }
    });
    runtime.pollers.observeInvocations((i) => {
      for (const r of i.records) delivered.push((JSON.parse(r.body) as { taskId: string }).taskId);
    });

    const { executionArn } = startPair(runtime, 'b-observed', ['o1', 'o2'], 1);
    await runtime.waitForExecution(executionArn);

    expect(routed.map((r) => r.taskId).sort()).toEqual(['o1', 'o2']);
    expect(routed.every((r) => r.ok && r.durationMs >= 0)).toBe(true);
    expect(delivered.sort()).toEqual(['o1', 'o2']);
  });

  it('points stock clients at the emulators through the AWS_ENDPOINT_URL_* variables', async () => {
    runtime = await startRuntime(newObserved());
    const queueUrl = (JSON.parse(process.env[EnvVar.RoleQueueUrls] ?? '{}') as Record<string, string>)[ROLE];

    const attributes = await new SQSClient({}).send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
    );
    const missing = new SFNClient({}).send(
      new DescribeExecutionCommand({ executionArn: `${runtime.stateMachineArn}:nope` }),
    );

    expect(process.env.AWS_ENDPOINT_URL_SQS).toBe(runtime.emulators.sqsEndpoint);
    expect(attributes.Attributes?.QueueArn).toBe(runtime.emulators.queues.get(ROLE)?.arn);
    await expect(missing).rejects.toBeInstanceOf(ExecutionDoesNotExist);
  });

  it('routes SendTaskFailure, timeouts and heartbeat timeouts to the Catch with their error names', async () => {
    const observed = newObserved();
    runtime = await startRuntime(observed);
    const items = [
      { taskId: 'f', mode: 'fail' },
      { taskId: 'b', mode: 'beating' },
      { taskId: 's', mode: 'silent' },
    ];

    const { executionArn } = runtime.startExecution({
      batchId: 'b2',
      concurrency: 3,
      pauseSeconds: 0,
      items,
    });
    const record = await runtime.waitForExecution(executionArn);

    expect(record.status).toBe('SUCCEEDED');
    expect(JSON.parse(record.output ?? 'null')).toEqual([
      { taskId: 'f', outcome: 'FAILED', error: { Error: 'Agent.Failed', Cause: 'agent gave up on f' } },
      { taskId: 'b', outcome: 'TIMED_OUT', error: { Error: 'States.Timeout', Cause: '' } },
      { taskId: 's', outcome: 'TIMED_OUT', error: { Error: 'States.HeartbeatTimeout', Cause: '' } },
    ]);
    // The beating agent learns it lost the task from its next heartbeat.
    await eventually(() => observed.lateCallbackErrors.length === 1);
    expect(observed.lateCallbackErrors).toEqual(['TaskTimedOut']);
    const late = new SFNClient({}).send(
      new SendTaskSuccessCommand({ taskToken: observed.tokens.get('s'), output: '{}' }),
    );
    await expect(late).rejects.toBeInstanceOf(TaskTimedOut);
  });

  it('serves StartExecution, DescribeExecution and StopExecution to the stock SFNClient', async () => {
    const observed = newObserved();
    runtime = await startRuntime(observed);
    const sfn = new SFNClient({});
    // Concurrency 1: the second and third items are still queued in the Map when the execution stops.
    const items = ['h', 'h2', 'h3'].map((taskId) => ({ taskId, mode: 'hang' }));
    const input = { batchId: 'b3', concurrency: 1, pauseSeconds: 0, items };

    const { executionArn } = await sfn.send(
      new StartExecutionCommand({
        stateMachineArn: process.env[EnvVar.StateMachineArn],
        name: 'b3',
        input: JSON.stringify(input),
      }),
    );
    await eventually(() => observed.tokens.has('h'));
    const running = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    await sfn.send(new StopExecutionCommand({ executionArn, error: 'User.Cancelled', cause: 'by test' }));
    const stopped = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    // Time for the queued iterations to start, if anything let them.
    await sleep(300);
    const late = sfn.send(new SendTaskSuccessCommand({ taskToken: observed.tokens.get('h'), output: '{}' }));

    expect(executionArn).toMatch(/:execution:[^:]+:b3$/);
    expect(running.status).toBe('RUNNING');
    expect(JSON.parse(running.input ?? '{}')).toEqual(input);
    expect(stopped).toMatchObject({ status: 'ABORTED', error: 'User.Cancelled', cause: 'by test' });
    expect(stopped.stopDate).toBeInstanceOf(Date);
    expect(runtime.tokens.pendingCount).toBe(0);
    expect(observed.gateCalls).toBe(1);
    await expect(late).rejects.toBeInstanceOf(TaskTimedOut);
  });

  it('refuses an execution input over 256 KiB as the API does, and starts nothing', async () => {
    const observed = newObserved();
    runtime = await startRuntime(observed);
    const sfn = new SFNClient({});
    const items = [{ taskId: 'x'.repeat(MAX_EXECUTION_INPUT_BYTES), mode: 'hang' }];
    const start = sfn.send(
      new StartExecutionCommand({
        stateMachineArn: process.env[EnvVar.StateMachineArn],
        name: 'too-large',
        input: JSON.stringify({ batchId: 'b-large', concurrency: 1, pauseSeconds: 0, items }),
      }),
    );

    await expect(start).rejects.toMatchObject({
      name: 'ValidationException',
      message: expect.stringContaining(`less than or equal to ${MAX_EXECUTION_INPUT_BYTES}`),
    });
    expect(runtime.runner.list()).toEqual([]);
  });

  it('fails an execution whose error nothing catches, and reports it through DescribeExecution', async () => {
    const observed = newObserved();
    runtime = await startRuntime(observed);
    const input = {
      batchId: 'b4',
      concurrency: 1,
      pauseSeconds: 0,
      items: [{ taskId: 'x', mode: 'unknown' }],
    };

    const { executionArn } = runtime.startExecution(input);
    const record = await runtime.waitForExecution(executionArn);

    // route returns no timeoutSeconds for an unknown mode: the Dispatch path does not resolve.
    expect(record.status).toBe('FAILED');
    expect(record.error).toBe('States.Runtime');
  });

  it('stops cleanly: no open port, environment restored', async () => {
    const before = process.env.AWS_ENDPOINT_URL_SFN;
    const started = await startRuntime(newObserved());
    const ports = [started.sfnEndpoint.port, started.emulators.sqsPort, started.emulators.dynamodbPort];
    expect(await Promise.all(ports.map(acceptsConnections))).toEqual([true, true, true]);

    await started.stop();

    expect(await Promise.all(ports.map(acceptsConnections))).toEqual([false, false, false]);
    expect(process.env.AWS_ENDPOINT_URL_SFN).toBe(before);
  });
});
