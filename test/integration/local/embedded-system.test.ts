/**
 * The main job on the real emulators: the synthesized state machine and the deployed handlers run batches
 * to completion in dependency order, within each role's concurrency limit, without waves.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Batch } from '../../../shared/domain/schemas';
import { batchIdOfExecutionInput } from '../../../shared/domain/workflow';
import { EmbeddedSystem, LOCAL_ROUTE_CONCURRENCY } from '../../../shared/local/system';
import { dependencyViolations, example } from '../../support/batch-checks';

/** Role queue limit for this suite: low, so the limit is actually reached. */
const CONCURRENCY = 2;
/** Short heartbeats so the crash in the failure-recovery example is noticed in about two seconds. */
const HEARTBEAT_SECONDS = 2;

let system: EmbeddedSystem;

beforeAll(async () => {
  system = await EmbeddedSystem.start({
    concurrency: CONCURRENCY,
    heartbeatSeconds: HEARTBEAT_SECONDS,
    scalerIntervalMs: 0,
  });
});

afterAll(async () => {
  await system?.stop();
});

async function run(batch: Batch) {
  const { batchId } = await system.submit(batch);
  return system.waitForBatch(batchId);
}

describe('the embedded system', () => {
  it.each(['auth-feature.json', 'release-20.json', 'failure-recovery.json'])(
    'runs examples/%s to completion with every task starting after its dependencies finished',
    async (file) => {
      const batch = example(file);

      const result = await run(batch);

      expect(result.status).toBe('SUCCEEDED');
      expect(result.tasks.map((t) => t.id)).toEqual(batch.tasks.map((t) => t.id));
      expect(result.tasks.every((t) => t.status === 'SUCCEEDED')).toBe(true);
      expect(dependencyViolations(batch, result)).toEqual([]);
      expect(result.makespanMs).toBeGreaterThan(0);
    },
  );

  it('recovers every failure mode of the failure-recovery example on another agent', async () => {
    const result = await run({ ...example('failure-recovery.json'), batchId: 'failure-recovery-again' });

    const attempts = Object.fromEntries(result.tasks.map((t) => [t.id, t.attempts]));
    expect(attempts.schema?.map((a) => a.status)).toEqual(['FAILED', 'SUCCEEDED']);
    expect(attempts['ingest-api']?.[0]?.error).toContain('HeartbeatTimeout');
    expect(attempts.viewer?.[0]?.error).toContain('Timeout');
    for (const task of result.tasks) {
      const agents = task.attempts.map((a) => a.agentId);
      expect(new Set(agents).size).toBe(agents.length);
    }
  });

  it('never has more tasks of one role in flight than the role queue allows', async () => {
    const tasks = Array.from({ length: 10 }, (_, i) => ({
      id: `endpoint-${i}`,
      description: `Write the Python FastAPI endpoint number ${i}`,
      role: 'python_backend_coder',
      input: { simulate: { durationMs: 200 } },
    }));

    const result = await run({ batchId: 'concurrency-limit', tasks });

    expect(result.status).toBe('SUCCEEDED');
    expect(system.runtime.pollers.peakInFlight('python_backend_coder')).toBe(CONCURRENCY);
    for (const role of system.catalog.keys()) {
      expect(system.runtime.pollers.peakInFlight(role)).toBeLessThanOrEqual(CONCURRENCY);
    }
  });

  it('lets the workers run the Complete of the tasks nobody reviews: no CompleteTask invocation', async () => {
    const states: string[] = [];
    const stop = system.runtime.runner.observeInvocations((call) => {
      states.push(call.stateName);
    });
    const batch: Batch = {
      batchId: 'worker-completes',
      tasks: [
        { id: 'schema', description: 'Design the schema', role: 'database_designer' },
        {
          id: 'endpoint',
          description: 'Write the endpoint',
          role: 'python_backend_coder',
          dependsOn: ['schema'],
        },
        { id: 'tests', description: 'Write the tests', role: 'test_generator', dependsOn: ['endpoint'] },
      ].map((t) => ({ ...t, input: { simulate: { durationMs: 5 } } })),
    };
    let result: Awaited<ReturnType<typeof run>>;
    try {
      result = await run(batch);
    } finally {
      stop();
    }

    expect(result.status).toBe('SUCCEEDED');
    expect(result.tasks.map((t) => [t.id, t.status, t.attempts.length])).toEqual([
      ['schema', 'SUCCEEDED', 1],
      ['endpoint', 'SUCCEEDED', 1],
      ['tests', 'SUCCEEDED', 1],
    ]);
    expect(dependencyViolations(batch, result)).toEqual([]);
    // The Lambda invocations of the state machine: the two gates, no Complete.
    expect(states.filter((name) => name === 'Gate')).toHaveLength(2);
    expect(states).not.toContain('CompleteTask');
  });

  it('routes at most LOCAL_ROUTE_CONCURRENCY ready tasks at once (the Route state invocations)', async () => {
    const tasks = Array.from({ length: 40 }, (_, i) => ({
      id: `ready-${i}`,
      description: `Write the Python FastAPI endpoint number ${i}`,
      input: { simulate: { durationMs: 0 } },
    }));
    const routes: { startedAt: number; endedAt: number }[] = [];
    const stop = system.runtime.runner.observeInvocations((call) => {
      if (call.stateName === 'Route')
        routes.push({ startedAt: call.startedAt, endedAt: call.startedAt + call.durationMs });
    });

    let result: Awaited<ReturnType<typeof run>>;
    try {
      result = await run({ batchId: 'route-limit', tasks });
    } finally {
      stop();
    }

    expect(result.status).toBe('SUCCEEDED');
    expect(routes.length).toBeGreaterThanOrEqual(tasks.length);
    // The most Route invocations in flight at any moment (an end at the same instant as a start is not overlap).
    const events = routes.flatMap((r) => [
      { at: r.startedAt, delta: 1 },
      { at: r.endedAt, delta: -1 },
    ]);
    events.sort((a, b) => a.at - b.at || a.delta - b.delta);
    let inFlight = 0;
    let peak = 0;
    for (const e of events) {
      inFlight += e.delta;
      peak = Math.max(peak, inFlight);
    }
    expect(peak).toBe(LOCAL_ROUTE_CONCURRENCY);
  });

  it('skips the dependents of a failed task, naming the failed dependency, and runs the rest', async () => {
    const batch: Batch = {
      batchId: 'skip-dependents',
      options: { maxAttempts: 2 },
      tasks: [
        {
          id: 'broken',
          description: 'Design the schema',
          role: 'database_designer',
          input: { simulate: { failAttempts: 2 } },
        },
        {
          id: 'uses-broken',
          description: 'Write the endpoint',
          role: 'python_backend_coder',
          dependsOn: ['broken'],
        },
        {
          id: 'transitive',
          description: 'Document the endpoint',
          role: 'documentation_writer',
          dependsOn: ['uses-broken'],
        },
        { id: 'independent', description: 'Build the form', role: 'typescript_frontend_agent' },
      ],
    };

    const result = await run(batch);

    const byId = Object.fromEntries(result.tasks.map((t) => [t.id, t]));
    expect(result.status).toBe('PARTIAL');
    expect(byId.broken?.status).toBe('FAILED');
    expect(byId.broken?.attempts).toHaveLength(2);
    expect(byId['uses-broken']?.status).toBe('SKIPPED');
    expect(byId['uses-broken']?.reason).toContain('broken');
    expect(byId['uses-broken']?.attempts).toEqual([]);
    expect(byId.transitive?.status).toBe('SKIPPED');
    expect(byId.transitive?.reason).toContain('uses-broken');
    expect(byId.independent?.status).toBe('SUCCEEDED');
  });

  it('dispatches a task as soon as its own dependencies finish, not in waves', async () => {
    const batch: Batch = {
      batchId: 'no-waves',
      tasks: [
        {
          id: 'slow',
          description: 'Audit the payment flow',
          role: 'security_auditor',
          input: { simulate: { durationMs: 3000 } },
        },
        {
          id: 'fast-1',
          description: 'Design the schema',
          role: 'database_designer',
          input: { simulate: { durationMs: 100 } },
        },
        {
          id: 'fast-2',
          description: 'Write the endpoint',
          role: 'python_backend_coder',
          dependsOn: ['fast-1'],
          input: { simulate: { durationMs: 100 } },
        },
        {
          id: 'fast-3',
          description: 'Write the unit tests',
          role: 'test_generator',
          dependsOn: ['fast-2'],
          input: { simulate: { durationMs: 100 } },
        },
        {
          id: 'join',
          description: 'Review it all',
          role: 'code_reviewer',
          dependsOn: ['slow', 'fast-3'],
          input: { simulate: { durationMs: 100 } },
        },
      ],
    };

    const result = await run(batch);

    const byId = Object.fromEntries(result.tasks.map((t) => [t.id, t]));
    // In lock-step waves fast-2 (level 1) and fast-3 (level 2) would wait for slow (level 0).
    expect(byId['fast-3']?.finishedAt).toBeLessThan(byId.slow?.finishedAt ?? 0);
    expect(byId.join?.startedAt).toBeGreaterThanOrEqual(byId.slow?.finishedAt ?? Number.POSITIVE_INFINITY);
    expect(dependencyViolations(batch, result)).toEqual([]);
  });

  it('waits for a batch without polling its status when nobody watches the progress', async () => {
    const reads = vi.spyOn(system, 'result');
    try {
      const { batchId } = await system.submit({
        batchId: 'no-polling',
        tasks: [
          {
            id: 'a',
            description: 'Design the schema',
            role: 'database_designer',
            input: { simulate: { durationMs: 600 } },
          },
          { id: 'b', description: 'Write the endpoint', role: 'python_backend_coder', dependsOn: ['a'] },
        ],
      });

      const result = await system.waitForBatch(batchId);

      // One read, after the execution ended: a status poll reads every task, and polling every 100 ms would
      // have read it six times or more here.
      expect(result.status).toBe('SUCCEEDED');
      expect(reads).toHaveBeenCalledTimes(1);
    } finally {
      reads.mockRestore();
    }
  });

  it('shows a watched batch ended as soon as its execution ends, not at the next poll', async () => {
    const pollMs = 30_000;
    const snapshots: string[] = [];
    const { batchId } = await system.submit({
      batchId: 'ends-before-next-poll',
      tasks: [
        {
          id: 'a',
          description: 'Design the schema',
          role: 'database_designer',
          input: { simulate: { durationMs: 300 } },
        },
      ],
    });

    const started = performance.now();
    const result = await system.waitForBatch(batchId, (s) => snapshots.push(s.status), pollMs);

    expect(result.status).toBe('SUCCEEDED');
    expect(snapshots.at(-1)).toBe('SUCCEEDED');
    // The first poll saw it RUNNING; the second is made when the execution ends, long before pollMs.
    expect(performance.now() - started).toBeLessThan(pollMs / 2);
  });

  it('ends a batch whose execution was stopped from outside before its Finalize, instead of leaving it RUNNING', async () => {
    const { batchId } = await system.submit({
      batchId: 'stopped-outside',
      tasks: [
        {
          id: 'long',
          description: 'Design the schema',
          role: 'database_designer',
          input: { simulate: { durationMs: 30_000 } },
        },
        { id: 'after', description: 'Write the endpoint', role: 'python_backend_coder', dependsOn: ['long'] },
      ],
    });
    for (let i = 0; i < 200; i++) {
      if ((await system.result(batchId)).tasks[0]?.status === 'RUNNING') break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const execution = system.runtime.runner
      .list()
      .find((e) => e.status === 'RUNNING' && batchIdOfExecutionInput(e.input) === batchId);
    if (!execution) throw new Error('no running execution');

    // As an operator's StopExecution (the console's "Stop execution") would.
    system.runtime.runner.stop(execution.executionArn, 'Operator.Stop', 'stopped by hand');
    const result = await system.waitForBatch(batchId);

    expect(result.status).toBe('FAILED');
    const reason =
      "interrupted: the batch's execution was stopped (Operator.Stop: stopped by hand) while this task was unfinished; redrive the batch to run it again";
    expect(result.tasks.map((t) => [t.id, t.status, t.reason])).toEqual([
      ['long', 'FAILED', reason],
      ['after', 'FAILED', reason],
    ]);
    expect(result.tasks[0]?.attempts.map((a) => a.status)).toEqual(['FAILED']);
    // Its agent's slot was given back.
    const { agents } = JSON.parse((await system.request({ method: 'GET', path: '/agents' })).body) as {
      agents: { agentId: string; reserved: number }[];
    };
    expect(agents.find((a) => a.agentId === result.tasks[0]?.agentId)?.reserved).toBe(0);
  });
});
