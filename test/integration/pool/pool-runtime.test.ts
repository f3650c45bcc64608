/**
 * The agent pool on the embedded runtime: the real handlers (route, worker, record-attempt, complete,
 * scaler, agents API...) against dynalite, fauxqs, the loopback Step Functions and Lambda endpoints, with
 * the simulated executor's failure modes. Each scenario uses its own role (overridden in ROLES_CONFIG), so
 * their pools do not interfere.
 */
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyResult, Context, SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { synthesizeLocalDefinition } from '../../../infra/local-definition';
import { buildContainer } from '../../../shared/adapters/wiring';
import { resolveRoles } from '../../../shared/domain/roles';
import type { Agent, BatchResult, TaskResult } from '../../../shared/domain/schemas';
import type { DispatchMessage } from '../../../shared/domain/workflow';
import { type AslDefinition, type LambdaHandler, LocalRuntime } from '../../../shared/local/runtime';
import { LOCAL_HANDLERS } from '../../../shared/local/system';
import type { AgentRegistry, TaskStore } from '../../../shared/ports';
import type { AgentView } from '../../../shared/usecases/agents';
import type { ScaleResult } from '../../../shared/usecases/scaler';
import { apiEvent } from '../../support/api-events';

type ApiHandler = (event: ReturnType<typeof apiEvent>) => Promise<APIGatewayProxyResult>;

/** Short heartbeats, so a crashed worker is noticed in about two seconds. */
const HEARTBEAT_SECONDS = 2;
const POLL_MS = 100;
const FINISH_WITHIN_MS = 40_000;
const CIRCUIT_COOLDOWN_SECONDS = 3;

/** One role per scenario, with the bounds the scenario needs. */
const ROLES_CONFIG = [
  { name: 'data_analyst', defaults: { minAgents: 0, maxAgents: 2, idleTtlSeconds: 1 } },
  { name: 'code_reviewer', defaults: { capacity: 2, minAgents: 0, maxAgents: 5, queueConcurrency: 10 } },
  {
    name: 'python_backend_coder',
    defaults: { capacity: 4, minAgents: 0, maxAgents: 6, queueConcurrency: 20 },
  },
  {
    name: 'documentation_writer',
    defaults: { capacity: 4, minAgents: 0, maxAgents: 4, queueConcurrency: 20 },
  },
  {
    name: 'security_auditor',
    defaults: {
      capacity: 2,
      minAgents: 0,
      maxAgents: 1,
      circuitFailureThreshold: 3,
      circuitCooldownSeconds: CIRCUIT_COOLDOWN_SECONDS,
    },
  },
  { name: 'test_generator', defaults: { minAgents: 0, maxAgents: 1 } },
  // Room for all six roots of the cancel test at once: with 4 slots the slow tasks could take them first
  // (routes race under load), the quick ones then waited behind them, and the test's precondition (exactly
  // the two quick tasks done) never held.
  { name: 'devops_engineer', defaults: { capacity: 2, minAgents: 0, maxAgents: 3, queueConcurrency: 10 } },
  { name: 'api_integrator', defaults: { minAgents: 0 } },
  // One slot in all: the second task waits for capacity.
  { name: 'performance_optimizer', defaults: { capacity: 1, minAgents: 0, maxAgents: 1 } },
  // Two slots in all: two of four tasks wait, and each release hands its slot to one of them.
  { name: 'ui_ux_designer', defaults: { capacity: 1, minAgents: 0, maxAgents: 2 } },
  { name: 'refactoring_specialist', defaults: { capacity: 4, minAgents: 0 } },
  // One slot until an operator adds an agent: two of three long tasks park.
  { name: 'database_designer', defaults: { capacity: 1, minAgents: 0, maxAgents: 1 } },
];

let runtime: LocalRuntime;
let api: Record<'submit' | 'status' | 'cancel' | 'redrive' | 'agents', ApiHandler>;
let scaler: () => Promise<ScaleResult>;
let registry: AgentRegistry;
let store: TaskStore;
let sqs: SQSClient;
/** The scaler on an interval, as the local system runs it (EventBridge's schedule on AWS). */
const SCALER_INTERVAL_MS = 300;
let scalerLoop: { stop: boolean; done?: Promise<void> } = { stop: true };
/** Roles whose next delivered record is sent to the queue a second time (a duplicate delivery). */
const duplicateNext = new Set<string>();
/** Bodies the agent handler received, per role (duplicates included). */
const delivered = new Map<string, string[]>();

beforeAll(async () => {
  const { definition, taskStates } = synthesizeLocalDefinition();
  const loaded: Record<string, LambdaHandler> = {};
  runtime = await LocalRuntime.start({
    definition: definition as unknown as AslDefinition,
    taskStates,
    roles: resolveRoles(ROLES_CONFIG),
    handlers: async () => {
      for (const name of LOCAL_HANDLERS)
        loaded[name] = (await import(`../../../functions/${name}.ts`)).handler;
      return loaded;
    },
    // The deployed worker, behind a tap that records deliveries and can duplicate one.
    agentHandler: (role) => async (event: SQSEvent, context: Context) => {
      for (const record of event.Records) {
        delivered.set(role, [...(delivered.get(role) ?? []), record.body]);
        if (duplicateNext.delete(role)) {
          await sqs.send(
            new SendMessageCommand({ QueueUrl: runtime.roleQueueUrls[role] ?? '', MessageBody: record.body }),
          );
        }
      }
      return (loaded['agent-worker'] as LambdaHandler<SQSEvent, unknown>)(event, context);
    },
    env: {
      HEARTBEAT_SECONDS: String(HEARTBEAT_SECONDS),
      ROLES_CONFIG: JSON.stringify(ROLES_CONFIG),
      POWERTOOLS_METRICS_DISABLED: 'true',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
    },
  });
  const asApi = (name: string) => loaded[name] as unknown as ApiHandler;
  api = {
    submit: asApi('submit'),
    status: asApi('status'),
    cancel: asApi('cancel'),
    redrive: asApi('redrive'),
    agents: asApi('agents-api'),
  };
  scaler = () => (loaded.scaler as unknown as (event: unknown) => Promise<ScaleResult>)({});
  const container = buildContainer(process.env);
  registry = container.agentRegistry;
  store = container.taskStore;
  sqs = new SQSClient({});
  scalerLoop = { stop: false };
  const loop = scalerLoop;
  loop.done = (async () => {
    while (!loop.stop) {
      const pass = await scaler();
      expect(pass.errors).toEqual([]);
      await sleep(SCALER_INTERVAL_MS);
    }
  })();
});

afterAll(async () => {
  scalerLoop.stop = true;
  await scalerLoop.done;
  sqs?.destroy();
  await runtime?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function submit(tasks: unknown[], options?: Record<string, unknown>): Promise<string> {
  const response = await api.submit(
    apiEvent({ body: JSON.stringify({ tasks, ...(options ? { options } : {}) }) }),
  );
  expect(response.statusCode).toBe(202);
  return JSON.parse(response.body).batchId;
}

async function status(batchId: string): Promise<BatchResult> {
  const response = await api.status(apiEvent({ method: 'GET', pathParameters: { id: batchId } }));
  return JSON.parse(response.body);
}

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  withinMs = FINISH_WITHIN_MS,
): Promise<T> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(POLL_MS);
  }
}

const finished = (batchId: string) =>
  until(`batch ${batchId}`, async () => {
    const result = await status(batchId);
    return result.status === 'RUNNING' ? undefined : result;
  });

const taskById = (result: BatchResult, id: string): TaskResult => {
  const task = result.tasks.find((t) => t.id === id);
  if (!task) throw new Error(`no task ${id}`);
  return task;
};

const live = (agents: Agent[]) => agents.filter((a) => a.status !== 'terminated');

/** Most attempts of `attempts` running at the same time (intervals [startedAt, finishedAt)). */
function peakOverlap(attempts: { startedAt: number; finishedAt?: number }[]): number {
  const events = attempts.flatMap((a) => [
    [a.startedAt, 1],
    [a.finishedAt ?? Number.POSITIVE_INFINITY, -1],
  ]);
  events.sort((x, y) => (x[0] as number) - (y[0] as number) || (x[1] as number) - (y[1] as number));
  let current = 0;
  let peak = 0;
  for (const [, delta] of events) {
    current += delta as number;
    peak = Math.max(peak, current);
  }
  return peak;
}

describe('the agent pool on the embedded runtime', () => {
  it('spawns an agent for a task that has none, then terminates it once idle, through the scaled queue', async () => {
    expect(live(await registry.list('data_analyst'))).toEqual([]);

    const batchId = await submit([
      { id: 'report', description: 'analyse the churn data', role: 'data_analyst' },
    ]);
    const result = await finished(batchId);
    const stored = await store.getTask(batchId, 'report');
    // The background scaler retires it after the role's 1 s idle TTL.
    await until('idle termination', async () =>
      (await registry.get('data_analyst-1'))?.status === 'terminated' ? true : undefined,
    );

    expect(result.status).toBe('SUCCEEDED');
    expect(result.tasks[0]?.agentId).toBe('data_analyst-1');
    expect(stored?.decision?.spawned).toBe(true);
    // With no live agent left, the scaler holds the role queue at Lambda's floor (through the Lambda API).
    expect(runtime.pollers.maxConcurrency('data_analyst')).toBe(2);
  });

  it('wakes a task waiting for capacity as soon as the slot frees, not at its wait timeout', async () => {
    const role = 'performance_optimizer';
    const work = { simulate: { durationMs: 1_000 } };
    const batchId = await submit([
      { id: 'first', description: 'Profile the endpoint', role, input: work },
      { id: 'second', description: 'Profile the query', role, input: work },
    ]);

    const result = await finished(batchId);
    const [early, late] = ['first', 'second']
      .map((id) => taskById(result, id))
      .sort((a, b) => (a.startedAt ?? 0) - (b.startedAt ?? 0)) as [TaskResult, TaskResult];

    expect(result.status).toBe('SUCCEEDED');
    expect(
      peakOverlap(result.tasks.map((t) => ({ startedAt: t.startedAt ?? 0, finishedAt: t.finishedAt }))),
    ).toBe(1);
    // The late task parked at its first WAIT with a 2 s timeout, a second before the slot freed: woken by the
    // release it starts at once; left to the timeout it would start about a second later.
    expect((late.startedAt ?? 0) - (early.finishedAt ?? 0)).toBeLessThan(500);
  });

  it('hands a freed slot to a waiting task with its routing decision: every task routes once', async () => {
    const role = 'ui_ux_designer';
    const routes = new Map<string, number>();
    let parks = 0;
    const stop = runtime.runner.observeInvocations((call) => {
      if (call.handlerName !== 'route') return;
      const taskId = (call.event as { taskId?: string }).taskId ?? '?';
      if (call.stateName === 'Route') routes.set(taskId, (routes.get(taskId) ?? 0) + 1);
      else parks += 1;
    });
    const ids = ['mock-1', 'mock-2', 'mock-3', 'mock-4'];
    let batchId: string;
    let result: BatchResult;
    try {
      // Long enough for the two tasks that find no slot to park before a slot frees; short enough that a
      // hand-off reaches each well before its 2 s wait would time out and route it again.
      batchId = await submit(
        ids.map((id) => ({
          id,
          description: 'Mock the screen',
          role,
          input: { simulate: { durationMs: 600 } },
        })),
      );
      result = await finished(batchId);
    } finally {
      stop();
    }

    expect(result.status).toBe('SUCCEEDED');
    expect(Object.fromEntries(routes)).toEqual(Object.fromEntries(ids.map((id) => [id, 1])));
    expect(parks).toBe(2);
    const pool = (await registry.list(role)).filter((a) => a.status !== 'terminated');
    expect(pool.map((a) => a.reserved)).toEqual(pool.map(() => 0));
    for (const agent of pool) {
      const attempts = result.tasks
        .filter((t) => t.agentId === agent.agentId)
        .map((t) => ({ startedAt: t.startedAt ?? 0, finishedAt: t.finishedAt }));
      expect(peakOverlap(attempts)).toBe(1);
    }
  });

  it("routes each dependent in the Complete that opens its gate: a chain's tasks after the first skip Route", async () => {
    const role = 'refactoring_specialist';
    const routed: string[] = [];
    const stop = runtime.runner.observeInvocations((call) => {
      if (call.handlerName === 'route' && call.stateName === 'Route')
        routed.push((call.event as { taskId?: string }).taskId ?? '?');
    });
    const ids = ['step-1', 'step-2', 'step-3', 'step-4'];
    let result: BatchResult;
    try {
      const batchId = await submit(
        ids.map((id, i) => ({
          id,
          description: 'Refactor the module',
          role,
          ...(i > 0 ? { dependsOn: [ids[i - 1]] } : {}),
        })),
      );
      result = await finished(batchId);
    } finally {
      stop();
    }

    expect(result.status).toBe('SUCCEEDED');
    expect(routed).toEqual(['step-1']);
    for (const [i, id] of ids.entries()) {
      if (i === 0) continue;
      const previous = taskById(result, ids[i - 1] as string);
      expect(taskById(result, id)?.startedAt ?? 0).toBeGreaterThanOrEqual(previous?.finishedAt ?? Infinity);
    }
  });

  it('spreads 20 similar tasks over the role agents without ever exceeding an agent capacity', async () => {
    const tasks = Array.from({ length: 20 }, (_, i) => ({
      id: `review-${i + 1}`,
      description: 'review the pull request',
      role: 'code_reviewer',
      input: { simulate: { durationMs: 400 } },
    }));
    let maxSampled = 0;
    let maxWaiting = 0;
    let sampling = true;
    const concurrencySeen = new Set<number>([runtime.pollers.maxConcurrency('code_reviewer')]);
    const sampler = (async () => {
      while (sampling) {
        for (const agent of await registry.list('code_reviewer'))
          maxSampled = Math.max(maxSampled, agent.reserved);
        concurrencySeen.add(runtime.pollers.maxConcurrency('code_reviewer'));
        maxWaiting = Math.max(maxWaiting, Object.keys(await registry.waitingMarks('code_reviewer')).length);
        await sleep(25);
      }
    })();

    const batchId = await submit(tasks);
    const result = await finished(batchId);
    sampling = false;
    await sampler;

    const agents = await registry.list('code_reviewer');
    const perAgent = new Map<string, TaskResult[]>();
    for (const task of result.tasks)
      perAgent.set(task.agentId ?? '?', [...(perAgent.get(task.agentId ?? '?') ?? []), task]);
    const distribution = Object.fromEntries([...perAgent].map(([id, list]) => [id, list.length]).sort());
    console.log('tasks per agent (20 code_reviewer tasks, capacity 2, max 5 agents):', distribution);
    console.log('code_reviewer queue concurrency seen during the run:', [...concurrencySeen]);
    expect(result.status).toBe('SUCCEEDED');
    expect(agents.length).toBe(5);
    expect(maxSampled).toBeLessThanOrEqual(2);
    for (const [, list] of perAgent) {
      const attempts = list.flatMap((t) =>
        t.attempts.map((a) => ({ startedAt: a.startedAt, finishedAt: a.finishedAt })),
      );
      expect(peakOverlap(attempts)).toBeLessThanOrEqual(2);
    }
    expect(perAgent.size).toBe(5);
    expect(agents.every((a) => a.reserved === 0)).toBe(true);
    // The scaler started the idle role at the floor and raised it for the 5 agents' 10 slots.
    expect(concurrencySeen).toContain(2);
    expect(concurrencySeen).toContain(10);
    // 20 tasks for 10 slots: some WAITed and were marked for the scaler; every mark left on dispatch.
    expect(maxWaiting).toBeGreaterThan(0);
    expect(await registry.waitingMarks('code_reviewer')).toEqual({});
  });

  it('recovers 12 first-attempt failures (error, crash, timeout) on other agents before their dependents run', async () => {
    const modes = ['error', 'crash', 'timeout'] as const;
    const failing = modes.flatMap((mode) =>
      Array.from({ length: 4 }, (_, i) => ({
        id: `${mode}-${i + 1}`,
        description: 'write the endpoint',
        role: 'python_backend_coder',
        timeoutSeconds: 4,
        input: { simulate: { durationMs: 100, failAttempts: 1, failMode: mode } },
      })),
    );
    const dependents = failing.map((t) => ({
      id: `docs-${t.id}`,
      description: 'document the endpoint',
      role: 'documentation_writer',
      dependsOn: [t.id],
    }));

    const result = await finished(await submit([...failing, ...dependents]));

    expect(result.status).toBe('SUCCEEDED');
    for (const task of failing) {
      const attempts = taskById(result, task.id).attempts;
      const mode = task.input.simulate.failMode;
      expect(attempts.map((a) => a.status)).toEqual([mode === 'error' ? 'FAILED' : 'TIMED_OUT', 'SUCCEEDED']);
      expect(attempts[1]?.agentId).not.toBe(attempts[0]?.agentId);
      const dependent = taskById(result, `docs-${task.id}`);
      expect(dependent.status).toBe('SUCCEEDED');
      expect(dependent.startedAt ?? 0).toBeGreaterThanOrEqual(
        taskById(result, task.id).finishedAt ?? Infinity,
      );
    }
    expect(taskById(result, 'crash-1').attempts[0]?.error).toContain('States.HeartbeatTimeout');
    expect(taskById(result, 'timeout-1').attempts[0]?.error).toContain('States.Timeout');
    expect((await registry.list('python_backend_coder')).every((a) => a.reserved === 0)).toBe(true);
  });

  it('opens the circuit of a repeatedly failing agent, routes nothing to it during the cool-down, then admits one probe', async () => {
    const first = await submit(
      [
        {
          id: 'flaky',
          description: 'audit the login flow',
          role: 'security_auditor',
          input: { simulate: { durationMs: 300, failAttempts: 3, failMode: 'error' } },
        },
      ],
      { maxAttempts: 5 },
    );
    const opened = await until('the circuit to open', async () => {
      const agent = await registry.get('security_auditor-1');
      return agent?.circuit === 'open' ? agent : undefined;
    });
    const second = await submit(
      ['a', 'b'].map((id) => ({
        id: `audit-${id}`,
        description: 'audit the session handling',
        role: 'security_auditor',
        input: { simulate: { durationMs: 300 } },
      })),
    );

    const results = [await finished(first), await finished(second)];

    const reopenAt = opened.circuitOpenUntil ?? 0;
    const openedAt = reopenAt - CIRCUIT_COOLDOWN_SECONDS * 1000;
    const attempts = results
      .flatMap((r) => r.tasks.flatMap((t) => t.attempts))
      .filter((a) => a.agentId === 'security_auditor-1')
      .sort((x, y) => x.startedAt - y.startedAt);
    const after = attempts.filter((a) => a.startedAt >= openedAt);
    expect(results.map((r) => r.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    expect(taskById(results[0] as BatchResult, 'flaky').attempts.map((a) => a.status)).toEqual([
      'FAILED',
      'FAILED',
      'FAILED',
      'SUCCEEDED',
    ]);
    expect(after).toHaveLength(3);
    expect(after.every((a) => a.startedAt >= reopenAt)).toBe(true);
    // The probe ran alone: the next task started only once it had succeeded and closed the circuit.
    expect(after[1]?.startedAt).toBeGreaterThanOrEqual(after[0]?.finishedAt ?? Infinity);
    expect((await registry.get('security_auditor-1'))?.circuit).toBe('closed');
  });

  it('runs a task once and counts it once when its SQS message is delivered twice', async () => {
    duplicateNext.add('test_generator');

    const batchId = await submit([
      {
        id: 'tests',
        description: 'generate the unit tests',
        role: 'test_generator',
        input: { simulate: { durationMs: 600 } },
      },
    ]);
    const result = await finished(batchId);

    const bodies = (delivered.get('test_generator') ?? []).map((b) => JSON.parse(b) as DispatchMessage);
    const ofTask = bodies.filter((b) => b.batchId === batchId);
    expect(ofTask).toHaveLength(2);
    expect(ofTask[1]).toEqual(ofTask[0]);
    expect(result.status).toBe('SUCCEEDED');
    expect(result.tasks[0]?.attempts).toHaveLength(1);
    expect(await registry.get('test_generator-1')).toMatchObject({ attempts: 1, successes: 1, reserved: 0 });
  });

  it('fails a task named by a poison message with the reason', async () => {
    const batchId = await submit([
      {
        id: 'integrate',
        description: 'call the payment API',
        role: 'api_integrator',
        input: { simulate: { durationMs: 1_500 } },
      },
    ]);
    await until('the task to run', async () =>
      (await store.getTask(batchId, 'integrate'))?.status === 'RUNNING' ? true : undefined,
    );

    await sqs.send(
      new SendMessageCommand({
        QueueUrl: runtime.roleQueueUrls.api_integrator ?? '',
        MessageBody: JSON.stringify({ batchId, taskId: 'integrate', attempt: 'first' }),
      }),
    );
    const result = await finished(batchId);

    expect(result.status).toBe('FAILED');
    expect(result.tasks[0]?.status).toBe('FAILED');
    expect(result.tasks[0]?.reason).toContain('poison message');
    expect(result.tasks[0]?.reason).toContain('attempt');
  });

  it('cancels mid-batch with nothing left running, then redrives only what did not succeed', async () => {
    const quick = ['q1', 'q2'].map((id) => ({
      id,
      description: 'configure the pipeline',
      role: 'devops_engineer',
    }));
    const slow = ['s1', 's2', 's3', 's4'].map((id) => ({
      id,
      description: 'configure the deployment',
      role: 'devops_engineer',
      input: { simulate: { durationMs: 2_000 } },
    }));
    const after = { id: 'after', description: 'deploy it', role: 'devops_engineer', dependsOn: ['s1', 's2'] };
    const batchId = await submit([...quick, ...slow, after]);
    await until('the quick tasks', async () => {
      const result = await status(batchId);
      return result.tasks.filter((t) => t.status === 'SUCCEEDED').length === 2 ? true : undefined;
    });

    const cancel = await api.cancel(apiEvent({ method: 'DELETE', pathParameters: { id: batchId } }));
    const cancelled: BatchResult = JSON.parse(cancel.body);
    const drained = await until('the workers to stop', async () =>
      runtime.pollers.inFlight('devops_engineer') === 0 ? true : undefined,
    );
    const agentsAfterCancel = await registry.list('devops_engineer');
    const attemptsBefore = Object.fromEntries(cancelled.tasks.map((t) => [t.id, t.attempts.length]));
    const redrive = await api.redrive(apiEvent({ method: 'POST', pathParameters: { id: batchId } }));
    const result = await finished(batchId);

    expect(cancel.statusCode).toBe(200);
    expect(drained).toBe(true);
    expect(cancelled.status).toBe('CANCELLED');
    expect(cancelled.tasks.map((t) => [t.id, t.status])).toEqual([
      ['q1', 'SUCCEEDED'],
      ['q2', 'SUCCEEDED'],
      ['s1', 'CANCELLED'],
      ['s2', 'CANCELLED'],
      ['s3', 'CANCELLED'],
      ['s4', 'CANCELLED'],
      ['after', 'CANCELLED'],
    ]);
    expect(agentsAfterCancel.every((a) => a.reserved === 0)).toBe(true);
    expect(JSON.parse(redrive.body).taskIds).toEqual(['s1', 's2', 's3', 's4', 'after']);
    expect(result.status).toBe('SUCCEEDED');
    expect(taskById(result, 'q1').attempts).toHaveLength(attemptsBefore.q1 ?? -1);
    expect(taskById(result, 'q2').attempts).toHaveLength(attemptsBefore.q2 ?? -1);
    expect(taskById(result, 'after').startedAt ?? 0).toBeGreaterThanOrEqual(
      taskById(result, 's2').finishedAt ?? Infinity,
    );
  });

  it('with failFast, cancels what has not started when a task fails, and lets running work finish', async () => {
    const batchId = await submit(
      [
        {
          id: 'broken',
          description: 'refactor the module',
          role: 'refactoring_specialist',
          input: { simulate: { durationMs: 200, failAttempts: 9, failMode: 'error' } },
        },
        {
          id: 'running',
          description: 'refactor the parser',
          role: 'refactoring_specialist',
          input: { simulate: { durationMs: 1_500 } },
        },
        {
          id: 'blocked',
          description: 'refactor the tests',
          role: 'refactoring_specialist',
          dependsOn: ['running'],
        },
        {
          id: 'downstream',
          description: 'refactor the docs',
          role: 'refactoring_specialist',
          dependsOn: ['broken'],
        },
      ],
      { failFast: true, maxAttempts: 1 },
    );

    const result = await finished(batchId);

    expect(result.tasks.slice(0, 3).map((t) => [t.id, t.status])).toEqual([
      ['broken', 'FAILED'],
      ['running', 'SUCCEEDED'],
      ['blocked', 'CANCELLED'],
    ]);
    // The failed task's own dependent is skipped by its gate or cancelled by failFast, whichever is first.
    expect(['SKIPPED', 'CANCELLED']).toContain(taskById(result, 'downstream').status);
    expect(taskById(result, 'blocked').attempts).toEqual([]);
    expect(taskById(result, 'downstream').attempts).toEqual([]);
    expect(taskById(result, 'blocked').reason).toContain('failFast');
  });

  it('starts the tasks parked for capacity as soon as PUT /agents adds slots, not at their wait timeout', async () => {
    const role = 'database_designer';
    /** How long each task holds its slot. */
    const HOLD_MS = 5_000;
    const waits: number[] = [];
    let parks = 0;
    let put: Promise<number> | undefined;
    const stop = runtime.runner.observeInvocations((call) => {
      if (call.handlerName !== 'route') return;
      const result = call.result as { decision?: string; waitSeconds?: number; parked?: boolean } | undefined;
      if (call.stateName === 'Route' && result?.decision === 'WAIT') waits.push(result.waitSeconds ?? 0);
      if (call.stateName !== 'Route' && result?.parked === true) parks += 1;
      // Both late tasks parked: an operator adds an agent of two slots at once.
      if (parks === 2 && put === undefined) {
        put = (async () => {
          const at = Date.now();
          const response = await api.agents(
            apiEvent({
              method: 'PUT',
              path: `/agents/${role}-extra`,
              pathParameters: { id: `${role}-extra` },
              body: JSON.stringify({ role, capacity: 2 }),
            }),
          );
          expect(response.statusCode).toBe(201);
          return at;
        })();
      }
    });
    const ids = ['schema-1', 'schema-2', 'schema-3'];
    let result: BatchResult;
    let putAt: number;
    try {
      const batchId = await submit(
        ids.map((id) => ({
          id,
          description: 'Design the schema',
          role,
          input: { simulate: { durationMs: HOLD_MS } },
        })),
      );
      putAt = await until('both late tasks parked and the put answered', async () => put);
      result = await finished(batchId);
    } finally {
      stop();
    }

    expect(result.status).toBe('SUCCEEDED');
    expect(waits).toHaveLength(2);
    // Woken by the put, both start at once. Without it one would start when the first task's release hands
    // it the slot (HOLD_MS after the first started), the other at its wait's timeout (30 s after it parked,
    // which was just before the put).
    const soon = Math.min(HOLD_MS, Math.min(...waits) * 1_000) / 2;
    const starts = result.tasks.map((t) => t.startedAt ?? 0).sort((a, b) => a - b);
    expect((starts[1] ?? 0) - putAt).toBeLessThan(soon);
    expect((starts[2] ?? 0) - putAt).toBeLessThan(soon);
  });

  it('shows every agent with its load, success rate, latency and circuit on GET /agents', async () => {
    const response = await api.agents(apiEvent({ method: 'GET', path: '/agents' }));
    const { agents } = JSON.parse(response.body) as { agents: AgentView[] };

    const reviewer = agents.find((a) => a.agentId === 'code_reviewer-1');
    expect(response.statusCode).toBe(200);
    expect(reviewer).toMatchObject({
      role: 'code_reviewer',
      reserved: 0,
      capacity: 2,
      circuit: 'closed',
      successRate: 1,
    });
    expect(reviewer?.ewmaLatencyMs).toBeGreaterThan(0);
  });
});
