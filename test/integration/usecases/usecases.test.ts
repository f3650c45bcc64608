import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DynamoAgentRegistry } from '../../../shared/adapters/dynamodb/agent-registry';
import { documentClient } from '../../../shared/adapters/dynamodb/client';
import { DynamoTaskStore } from '../../../shared/adapters/dynamodb/task-store';
import { CREDENTIAL_FINGERPRINT_CHARS } from '../../../shared/domain/limits';
import { CREDENTIALS_MARK_MS } from '../../../shared/domain/permanent-failure';
import { BUILTIN_ROLES, resolveRoles } from '../../../shared/domain/roles';
import type { Task } from '../../../shared/domain/schemas';
import { CAPACITY_WAIT_SECONDS, type ExecutionInput, WOKEN } from '../../../shared/domain/workflow';
import type { Orchestrator } from '../../../shared/ports';
import { cancelBatch } from '../../../shared/usecases/cancel';
import { completeTask } from '../../../shared/usecases/complete';
import { ConflictError } from '../../../shared/usecases/errors';
import { finalizeBatch } from '../../../shared/usecases/finalize';
import { gateTask } from '../../../shared/usecases/gate';
import { recordAttempt } from '../../../shared/usecases/record-attempt';
import { redriveBatch } from '../../../shared/usecases/redrive';
import {
  NO_PARKED_TTL_MS,
  ParkedHints,
  parkTask,
  type RouteDeps,
  routeTask,
  wakeAfterRelease,
  wakeParked,
} from '../../../shared/usecases/route';
import { scaleAgents } from '../../../shared/usecases/scaler';
import { type LocalDynamo, startDynalite } from '../../support/dynalite';
import { agentOf, batchOf, catalog, ManualClock, recordingCallbacks, uniqueId } from '../../support/fixtures';

let dynamo: LocalDynamo;
let store: DynamoTaskStore;
let agents: DynamoAgentRegistry;
const clock = new ManualClock();

beforeAll(async () => {
  dynamo = await startDynalite();
  const doc = documentClient(dynamo.client);
  store = new DynamoTaskStore(dynamo.tasksTable, doc);
  agents = new DynamoAgentRegistry(dynamo.agentsTable, doc);
});

afterAll(async () => {
  await dynamo.stop();
});

function recordingOrchestrator() {
  const started: { name: string; input: ExecutionInput }[] = [];
  const stopped: string[] = [];
  const orchestrator: Orchestrator = {
    start: async (name, input) => {
      started.push({ name, input });
      return { executionArn: orchestrator.executionArnOf(name) };
    },
    stop: async (arn) => {
      stopped.push(arn);
    },
    executionArnOf: (name) => `arn:aws:states:us-east-1:1:execution:sm:${name}`,
  };
  return { started, stopped, orchestrator };
}

let roleCounter = 0;
/** A role of its own per test (agents live in one shared table), built from the Python coder role. */
function isolatedRole(defaults: { capacity?: number; maxAgents?: number } = {}) {
  const base = BUILTIN_ROLES[0];
  if (!base) throw new Error('no built-in roles');
  const name = `test_role_${++roleCounter}_${Math.random().toString(36).slice(2, 6)}`;
  const catalog = resolveRoles([{ ...base, name, defaults: { ...base.defaults, ...defaults } }]);
  const deps: RouteDeps = {
    store,
    agents,
    catalog,
    clock,
    roleQueueUrls: { [name]: `https://sqs.local/${name}` },
    heartbeatSeconds: 60,
  };
  return { name, catalog, deps };
}

/** A role whose one agent has one slot, taken: every task of the role WAITs. */
async function busyRole() {
  const role = isolatedRole({ capacity: 1, maxAgents: 1 });
  await agents.put(
    agentOf('python_backend_coder', `${role.name}-1`, { role: role.name, capacity: 1, reserved: 1 }),
  );
  return role;
}

async function createBatch(tasks: Task[], options: { maxAttempts?: number; failFast?: boolean } = {}) {
  const batchId = uniqueId();
  const { batch, tasks: stored } = batchOf(batchId, tasks, options);
  await store.createBatch(batch, stored);
  return batchId;
}

describe('route', () => {
  it('does not rewrite a standing mark for an attempt its worker ended because of it (no call was made)', async () => {
    const { name, deps } = isolatedRole({ capacity: 1, maxAgents: 1 });
    const executor = { name: 'anthropic' as const, url: `https://${uniqueId('in-flight')}.test` };
    await agents.put(agentOf('python_backend_coder', `${name}-1`, { role: name, capacity: 1, executor }));
    const batchId = await createBatch([{ id: 't', description: 'write an endpoint', role: name }]);
    expect(await routeTask(deps, { batchId, taskId: 't' })).toMatchObject({ decision: 'DISPATCH' });
    const KEY = '2'.repeat(CREDENTIAL_FINGERPRINT_CHARS);
    const standing = {
      executor,
      fingerprint: KEY,
      at: clock.now(),
      until: clock.now() + CREDENTIALS_MARK_MS,
      agentId: 'elsewhere-1',
      batchId: 'earlier',
      taskId: 'refused',
    };
    await agents.markCredentials(standing);
    try {
      // The worker found the mark before the call (CredentialsMarkedError) and recorded its failure.
      await store.setAttemptRecord(batchId, 't', 1, {
        permanent: { cause: 'credentials', executor, fingerprint: KEY },
      });
      clock.advance(1_000);
      const recorded = await recordAttempt(
        { store, agents, clock, catalog: deps.catalog },
        {
          batchId,
          taskId: 't',
          agentId: `${name}-1`,
          attempt: 1,
          error: { Error: 'CredentialsMarkedError', Cause: 'not called' },
        },
      );

      expect(recorded).toMatchObject({ retry: false });
      const marks = (await agents.credentialsMarks(clock.now())).filter(
        (m) => m.executor.url === executor.url,
      );
      expect(marks).toEqual([standing]);
    } finally {
      await agents.clearCredentials(executor);
    }
  });

  it('routes to a configuration again once its key is another than the one its mark was written for (a redeploy with a new key)', async () => {
    const { name, deps } = isolatedRole({ capacity: 1, maxAgents: 1 });
    // A provider and url of this test's own: marks are the fleet's (one table for the file).
    const executor = { name: 'anthropic' as const, url: `https://${uniqueId('redeployed')}.test` };
    await agents.put(agentOf('python_backend_coder', `${name}-1`, { role: name, capacity: 1, executor }));
    const OLD_KEY = '0'.repeat(CREDENTIAL_FINGERPRINT_CHARS);
    let inUse = OLD_KEY;
    const keyed = new DynamoAgentRegistry(
      dynamo.agentsTable,
      documentClient(dynamo.client),
      undefined,
      async () => inUse,
    );
    const routing = { ...deps, agents: keyed };
    await agents.markCredentials({
      executor,
      fingerprint: OLD_KEY,
      at: clock.now(),
      until: clock.now() + CREDENTIALS_MARK_MS,
      agentId: `${name}-1`,
      batchId: 'earlier',
      taskId: 'refused',
    });
    try {
      const refused = await createBatch([{ id: 't', description: 'write an endpoint', role: name }]);
      // The refused key still in use: nowhere to go, the task fails at once, the mark named with its key.
      expect(await routeTask(routing, { batchId: refused, taskId: 't' })).toMatchObject({
        decision: 'STOP',
        reason: expect.stringContaining(`marked fleet-wide for its key of fingerprint ${OLD_KEY}`),
      });

      inUse = '1'.repeat(CREDENTIAL_FINGERPRINT_CHARS);
      const fixed = await createBatch([{ id: 't', description: 'write an endpoint', role: name }]);
      expect(await routeTask(routing, { batchId: fixed, taskId: 't' })).toMatchObject({
        decision: 'DISPATCH',
        agentId: `${name}-1`,
      });
    } finally {
      await agents.clearCredentials(executor);
    }
  });

  it("answers the chosen agent's executor with the dispatch, for the worker's message", async () => {
    const { name, deps } = isolatedRole({ capacity: 1, maxAgents: 1 });
    const executor = { name: 'openai' as const, model: 'gpt-test' };
    await agents.put(agentOf('python_backend_coder', `${name}-1`, { role: name, capacity: 1, executor }));
    const batchId = await createBatch([{ id: 't', description: 'write an endpoint', role: name }]);

    const first = await routeTask(deps, { batchId, taskId: 't' });
    // A repeated Route of the same attempt answers the same dispatch, executor included.
    const again = await routeTask(deps, { batchId, taskId: 't' });

    // Stamped with the answer's time: a worker that claims the message late beats at once (keepAlive).
    expect(first).toMatchObject({
      decision: 'DISPATCH',
      agentId: `${name}-1`,
      executor,
      dispatchedAt: clock.now(),
    });
    expect(again).toEqual(first);
  });

  it('spawns an agent when every agent of the role is at capacity and the role allows more', async () => {
    const { name, deps } = isolatedRole({ capacity: 1, maxAgents: 3 });
    await agents.put(agentOf('python_backend_coder', `${name}-1`, { role: name, capacity: 1, reserved: 1 }));
    const batchId = await createBatch([{ id: 't', description: 'write an endpoint', role: name }]);

    const output = await routeTask(deps, { batchId, taskId: 't' });

    expect(output).toMatchObject({ decision: 'DISPATCH', agentId: `${name}-2`, attempt: 1, role: name });
    const task = await store.getTask(batchId, 't');
    expect(task?.decision).toMatchObject({ agentId: `${name}-2`, spawned: true });
    expect(task?.decision?.rejected).toContainEqual({ agentId: `${name}-1`, reason: 'at capacity' });
    expect(task).toMatchObject({ status: 'RUNNING', attemptCount: 1, startedAt: clock.now() });
    expect((await agents.get(`${name}-2`))?.reserved).toBe(1);
  });

  it('spreads routers that spawn at once over the free slots instead of walking them in the same order', async () => {
    const { name, deps } = isolatedRole({ capacity: 2, maxAgents: 8 });
    const ids = Array.from({ length: 16 }, (_, i) => `t-${i}`);
    const batchId = await createBatch(
      ids.map((id) => ({ id, description: 'write an endpoint', role: name })),
    );
    let creates = 0;
    const counting = Object.create(agents) as typeof agents;
    counting.create = (agent) => {
      creates += 1;
      return agents.create(agent);
    };

    const outputs = await Promise.all(
      ids.map((taskId) => routeTask({ ...deps, agents: counting }, { batchId, taskId })),
    );

    expect(outputs.every((o) => o.decision === 'DISPATCH')).toBe(true);
    const pool = await agents.list(name);
    expect(pool).toHaveLength(8);
    expect(pool.every((a) => a.reserved <= a.capacity)).toBe(true);
    // Walking the slots in order, each of the 16 routers tried every slot taken before it: about 100 creates.
    expect(creates).toBeLessThanOrEqual(40);
  });

  it('asks the task to wait when every agent is busy and the role is at its maximum', async () => {
    const { name, deps } = await busyRole();
    const batchId = await createBatch([{ id: 't', description: 'write an endpoint', role: name }]);

    const output = await routeTask(deps, { batchId, taskId: 't' });

    expect(output).toEqual({ decision: 'WAIT', role: name, waitSeconds: CAPACITY_WAIT_SECONDS });
    expect(await agents.list(name)).toHaveLength(1);
    expect((await store.getTask(batchId, 't'))?.attemptCount).toBe(0);
  });

  it('wakes the longest-waiting task parked for capacity when a completion frees a slot', async () => {
    const { name, deps } = isolatedRole({ capacity: 1, maxAgents: 1 });
    await agents.put(agentOf('python_backend_coder', `${name}-1`, { role: name, capacity: 1 }));
    const batchId = await createBatch([
      { id: 'runs', description: 'write an endpoint', role: name },
      { id: 'first', description: 'write an endpoint', role: name },
      { id: 'second', description: 'write an endpoint', role: name },
    ]);
    expect(await routeTask(deps, { batchId, taskId: 'runs' })).toMatchObject({ decision: 'DISPATCH' });
    // Two tasks find the agent full: each WAITs and parks its token; 'first' has waited twice.
    for (const taskId of ['first', 'first', 'second']) {
      expect(await routeTask(deps, { batchId, taskId })).toMatchObject({ decision: 'WAIT', role: name });
    }
    for (const taskId of ['first', 'second']) {
      expect(await parkTask(deps, { batchId, taskId, role: name, taskToken: `park-${taskId}` })).toEqual({
        parked: true,
      });
    }
    const { answers, callbacks } = recordingCallbacks();

    await completeTask(
      { store, agents, callbacks, clock },
      { batchId, taskId: 'runs', outcome: 'SUCCEEDED' },
    );
    const wokeFirst = [...answers];
    // A release that leaves the agent full (another slot taken meanwhile) wakes nobody; any release that
    // leaves a free slot wakes the next waiter, until nobody is left.
    const agentWith = (capacity: number, reserved: number) =>
      agentOf('python_backend_coder', `${name}-1`, { role: name, capacity, reserved });
    const stillFull = await wakeAfterRelease({ agents, callbacks }, agentWith(2, 2));
    const roomLeft = await wakeAfterRelease({ agents, callbacks }, agentWith(3, 1));
    const nobodyLeft = await wakeAfterRelease(
      { agents, callbacks, hints: new ParkedHints() },
      agentWith(3, 1),
    );

    expect(wokeFirst).toEqual([{ token: 'park-first', output: WOKEN }]);
    expect([stillFull, roomLeft, nobodyLeft]).toEqual([false, true, false]);
    expect(answers.map((a) => a.token)).toEqual(['park-first', 'park-second']);
  });

  /**
   * Two tasks `ids` of a busy role that waited for it (marked, not parked), and a wake of the role through fresh
   * hints (`hints`) that records the tokens it answers.
   */
  async function twoWaiting(ids: [string, string]) {
    const { name, deps } = await busyRole();
    const batchId = await createBatch(ids.map((id) => ({ id, description: 'x', role: name })));
    for (const taskId of ids) await routeTask(deps, { batchId, taskId });
    const hints = new ParkedHints();
    const { answers, callbacks } = recordingCallbacks();
    const wake = () => wakeParked({ agents, callbacks, clock, hints }, name);
    return { name, batchId, hints, answers, wake };
  }

  it('remembers a role found with nobody parked for a moment, unless this process parks one', async () => {
    const { name, batchId, hints, answers, wake } = await twoWaiting(['elsewhere', 'here']);

    const empty = await wake();
    // Parked by another process (another container's hints): not seen until the hint expires.
    await parkTask(
      { agents, hints: new ParkedHints() },
      { batchId, taskId: 'elsewhere', role: name, taskToken: 'a' },
    );
    const withinTtl = await wake();
    clock.advance(NO_PARKED_TTL_MS);
    const afterTtl = await wake();
    const emptyAgain = await wake();
    // Parked by this process: seen at once.
    await parkTask({ agents, hints }, { batchId, taskId: 'here', role: name, taskToken: 'b' });
    const parkedHere = await wake();

    expect([empty, withinTtl, afterTtl, emptyAgain, parkedHere]).toEqual([false, false, true, false, true]);
    expect(answers.map((a) => a.token)).toEqual(['a', 'b']);
  });

  it('while every park passes through the hints, keeps a role found empty past the TTL until a park here', async () => {
    const { name, batchId, hints, answers, wake } = await twoWaiting(['first', 'second']);
    // Two holders (two embedded systems in one process): the hold lasts until both let go.
    const letGoA = hints.holdWhileEveryParkIsHere();
    const letGoB = hints.holdWhileEveryParkIsHere();

    const empty = await wake();
    clock.advance(10 * NO_PARKED_TTL_MS);
    // A mark no park here announced (what the TTL is for): a held hint does not look for it.
    await parkTask(
      { agents, hints: new ParkedHints() },
      { batchId, taskId: 'first', role: name, taskToken: 'a' },
    );
    const heldPastTtl = await wake();
    letGoA();
    letGoA(); // a second call by the same holder changes nothing
    const stillHeld = await wake();
    letGoB();
    // Nobody holds: the hint found more than the TTL ago is stale, so the release looks and finds the mark.
    const released = await wake();
    const foundEmpty = await wake();
    const holdAgain = hints.holdWhileEveryParkIsHere();
    clock.advance(10 * NO_PARKED_TTL_MS);
    // A park here clears the held hint at once.
    await parkTask({ agents, hints }, { batchId, taskId: 'second', role: name, taskToken: 'b' });
    const parkedHere = await wake();
    holdAgain();

    expect([empty, heldPastTtl, stillHeld, released, foundEmpty, parkedHere]).toEqual([
      false,
      false,
      false,
      true,
      false,
      true,
    ]);
    expect(answers.map((a) => a.token)).toEqual(['a', 'b']);
  });

  it('skips a parked token whose wait already timed out and wakes the next waiter', async () => {
    const { name, deps } = await busyRole();
    const batchId = await createBatch([
      { id: 'late', description: 'x', role: name },
      { id: 'next', description: 'x', role: name },
    ]);
    for (const taskId of ['late', 'late', 'next']) await routeTask(deps, { batchId, taskId });
    await parkTask(deps, { batchId, taskId: 'late', role: name, taskToken: 'expired' });
    await parkTask(deps, { batchId, taskId: 'next', role: name, taskToken: 'live' });
    const tried: string[] = [];
    const callbacks = {
      succeed: async (token: string) => {
        tried.push(token);
        return token === 'live';
      },
    };

    const woke = await wakeParked({ agents, callbacks, hints: new ParkedHints() }, name);

    expect(woke).toBe(true);
    expect(tried).toEqual(['expired', 'live']);
  });

  it('puts a token back on its mark when waking it fails with an error, so the next release wakes it', async () => {
    const { name, deps } = await busyRole();
    const batchId = await createBatch([{ id: 'late', description: 'x', role: name }]);
    expect(await routeTask(deps, { batchId, taskId: 'late' })).toMatchObject({ decision: 'WAIT' });
    await parkTask(deps, { batchId, taskId: 'late', role: name, taskToken: 'live' });
    const failing = {
      succeed: async () => {
        throw new Error('ThrottlingException');
      },
    };

    await expect(wakeParked({ agents, callbacks: failing, hints: new ParkedHints() }, name)).rejects.toThrow(
      'ThrottlingException',
    );
    expect(await agents.takeParked(name)).toEqual({ token: 'live', key: `${batchId}#late` });
  });

  it('parks nothing for a task whose waiting mark is gone, so its timeout routes it again', async () => {
    const { name, deps } = isolatedRole();
    const batchId = await createBatch([{ id: 't', description: 'x', role: name }]);

    expect(await parkTask(deps, { batchId, taskId: 't', role: name, taskToken: 'tok' })).toEqual({
      parked: false,
    });
    expect(await agents.takeParked(name)).toBeUndefined();
  });

  it('drops the waiting mark of a task that waited when it is dispatched, and sends no delete for one that never waited', async () => {
    const { name, deps } = await busyRole();
    const batchId = await createBatch([
      { id: 'waits', description: 'write an endpoint', role: name },
      { id: 'never-waits', description: 'write another endpoint', role: name },
    ]);
    const cleared: string[] = [];
    const counting = Object.create(agents) as typeof agents;
    counting.takeWaiting = (role, key) => {
      cleared.push(key);
      return agents.takeWaiting(role, key);
    };
    const routing = { ...deps, agents: counting };

    expect(await routeTask(routing, { batchId, taskId: 'waits' })).toMatchObject({ decision: 'WAIT' });
    expect((await store.getTask(batchId, 'waits'))?.waitingRole).toBe(name);
    expect(Object.keys(await agents.waitingMarks(name))).toEqual([`${batchId}#waits`]);

    await agents.release(`${name}-1`, clock.now());
    expect(await routeTask(routing, { batchId, taskId: 'waits' })).toMatchObject({ decision: 'DISPATCH' });
    expect(await agents.waitingMarks(name)).toEqual({});
    expect((await store.getTask(batchId, 'waits'))?.waitingRole).toBeUndefined();

    await agents.update(`${name}-1`, { capacity: 2 });
    expect(await routeTask(routing, { batchId, taskId: 'never-waits' })).toMatchObject({
      decision: 'DISPATCH',
    });
    expect(cleared).toEqual([`${batchId}#waits`]);
  });

  it('dispatches a task that waited even when its waiting mark cannot be dropped (the mark expires)', async () => {
    const { name, deps } = await busyRole();
    const batchId = await createBatch([{ id: 'waits', description: 'write an endpoint', role: name }]);
    const failing = Object.create(agents) as typeof agents;
    failing.takeWaiting = async () => {
      throw new Error('ProvisionedThroughputExceededException');
    };
    expect(await routeTask(deps, { batchId, taskId: 'waits' })).toMatchObject({ decision: 'WAIT' });
    await agents.release(`${name}-1`, clock.now());

    const output = await routeTask({ ...deps, agents: failing }, { batchId, taskId: 'waits' });

    expect(output).toMatchObject({ decision: 'DISPATCH', agentId: `${name}-1`, attempt: 1 });
    expect(await store.getTask(batchId, 'waits')).toMatchObject({ status: 'RUNNING', attemptCount: 1 });
    expect(await agents.get(`${name}-1`)).toMatchObject({ reserved: 1 });
    expect(Object.keys(await agents.waitingMarks(name))).toEqual([`${batchId}#waits`]);
  });

  it('routes a retry away from the agent that failed the task', async () => {
    const { name, deps } = isolatedRole({ capacity: 2, maxAgents: 2 });
    await agents.put(agentOf('python_backend_coder', `${name}-1`, { role: name }));
    await agents.put(agentOf('python_backend_coder', `${name}-2`, { role: name }));
    const batchId = await createBatch([{ id: 't', description: 'write an endpoint', role: name }]);
    const first = await routeTask(deps, { batchId, taskId: 't' });
    expect(first).toMatchObject({ decision: 'DISPATCH' });
    // Two fresh agents tie; either may win the first attempt.
    const failed = (first as { agentId: string }).agentId;
    const other = failed === `${name}-1` ? `${name}-2` : `${name}-1`;
    await recordAttempt(
      { store, agents, clock },
      { batchId, taskId: 't', agentId: failed, attempt: 1, error: { Error: 'TaskFailed', Cause: 'boom' } },
    );

    const second = await routeTask(deps, { batchId, taskId: 't' });

    expect(second).toMatchObject({ decision: 'DISPATCH', agentId: other, attempt: 2 });
    expect((await store.getTask(batchId, 't'))?.decision?.rejected).toContainEqual({
      agentId: failed,
      reason: 'failed this task before',
    });
  });

  it('routes a SQL task without a role to the database designer and stores why', async () => {
    const deps: RouteDeps = {
      store,
      agents,
      catalog,
      clock,
      roleQueueUrls: { database_designer: 'https://sqs.local/database_designer' },
      heartbeatSeconds: 60,
    };
    const batchId = await createBatch([
      { id: 't', description: 'Design the PostgreSQL schema and SQL migrations for the orders table' },
    ]);

    const output = await routeTask(deps, { batchId, taskId: 't' });

    expect(output).toMatchObject({ decision: 'DISPATCH', role: 'database_designer' });
    const task = await store.getTask(batchId, 't');
    expect(task?.requirements?.roleCandidates[0]?.role).toBe('database_designer');
    expect(task?.decision?.candidates.length).toBeGreaterThan(0);
  });

  it('stops routing a task of a cancelled batch', async () => {
    const { name, deps } = isolatedRole();
    const batchId = await createBatch([{ id: 't', description: 'x', role: name }]);
    await store.updateBatch(batchId, { cancelRequested: true });

    expect(await routeTask(deps, { batchId, taskId: 't' })).toMatchObject({ decision: 'STOP' });
  });
});

describe('record attempt', () => {
  it('allows a retry until maxAttempts, then refuses with the last error', async () => {
    const { name, deps } = isolatedRole({ capacity: 1, maxAgents: 2 });
    const batchId = await createBatch([{ id: 't', description: 'x', role: name }], { maxAttempts: 2 });
    const error = { Error: 'States.HeartbeatTimeout' };

    const route1 = await routeTask(deps, { batchId, taskId: 't' });
    const first = await recordAttempt(
      { store, agents, clock },
      { batchId, taskId: 't', agentId: `${name}-1`, attempt: 1, error },
    );
    const route2 = await routeTask(deps, { batchId, taskId: 't' });
    const second = await recordAttempt(
      { store, agents, clock },
      { batchId, taskId: 't', agentId: `${name}-2`, attempt: 2, error },
    );

    expect([route1.decision, route2.decision]).toEqual(['DISPATCH', 'DISPATCH']);
    expect(first).toEqual({ retry: true });
    expect(second.retry).toBe(false);
    expect(second.reason).toContain('States.HeartbeatTimeout');
    const task = await store.getTask(batchId, 't');
    expect(task?.attempts.map((a) => a.status)).toEqual(['TIMED_OUT', 'TIMED_OUT']);
    expect(await agents.get(`${name}-1`)).toMatchObject({ reserved: 0, failures: 1 });
  });

  it('refuses a retry at once for an error no other agent can fix (an output over the limit)', async () => {
    const { name, deps } = isolatedRole({ capacity: 1, maxAgents: 2 });
    const batchId = await createBatch([{ id: 't', description: 'x', role: name }], { maxAttempts: 3 });
    await routeTask(deps, { batchId, taskId: 't' });

    const next = await recordAttempt(
      { store, agents, clock },
      {
        batchId,
        taskId: 't',
        agentId: `${name}-1`,
        attempt: 1,
        error: { Error: 'OutputTooLargeError', Cause: 'the output is 10485761 bytes as JSON' },
      },
    );

    // The reason is the task's too (FailTask records `failure`).
    const why = 'not retried: OutputTooLargeError: the output is 10485761 bytes as JSON';
    expect(next).toEqual({ retry: false, reason: why, failure: why });
    const task = await store.getTask(batchId, 't');
    expect(task?.attempts.map((a) => a.status)).toEqual(['FAILED']);
    expect(await agents.get(`${name}-1`)).toMatchObject({ reserved: 0, failures: 1 });
  });
});

describe('gate', () => {
  it('arms with one write while dependencies are pending, reading nothing', async () => {
    const batchId = await createBatch([
      { id: 'a', description: 'x' },
      { id: 'b', description: 'y', dependsOn: ['a'] },
    ]);
    const { answers, callbacks } = recordingCallbacks();
    const reads: string[] = [];
    const counting = Object.create(store) as typeof store;
    counting.getTask = (b, t) => {
      reads.push(`task ${t}`);
      return store.getTask(b, t);
    };
    counting.getBatchState = (b) => {
      reads.push('batch');
      return store.getBatchState(b);
    };

    const result = await gateTask(
      { store: counting, callbacks },
      { batchId, taskId: 'b', taskToken: 'gate-b' },
    );

    expect(result).toEqual({ armed: true });
    expect(reads).toEqual([]);
    expect(answers).toEqual([]);
    expect((await store.getTask(batchId, 'b'))?.gateToken).toBe('gate-b');
  });

  it('answers at once, without arming, for a task that ended before its gate ran', async () => {
    const batchId = await createBatch([
      { id: 'a', description: 'x' },
      { id: 'b', description: 'y', dependsOn: ['a'] },
    ]);
    await store.setTaskStatus(batchId, 'b', 'CANCELLED', { reason: 'cancelled by request', at: 1 });
    const { answers, callbacks } = recordingCallbacks();

    const result = await gateTask({ store, callbacks }, { batchId, taskId: 'b', taskToken: 'gate-b' });

    expect(result).toMatchObject({ armed: false });
    expect(answers).toEqual([{ token: 'gate-b', output: expect.objectContaining({ proceed: false }) }]);
    expect((await store.getTask(batchId, 'b'))?.gateToken).toBeUndefined();
  });
});

describe('complete', () => {
  it('releases each dependent exactly once when Complete is repeated', async () => {
    const batchId = await createBatch([
      { id: 'a', description: 'x' },
      { id: 'b', description: 'y' },
      { id: 'c', description: 'z', dependsOn: ['a', 'b'] },
    ]);
    const { answers, callbacks } = recordingCallbacks();
    await gateTask({ store, callbacks }, { batchId, taskId: 'c', taskToken: 'gate-c' });
    const deps = { store, agents, callbacks, clock };

    await completeTask(deps, { batchId, taskId: 'a', outcome: 'SUCCEEDED' });
    const repeated = await completeTask(deps, { batchId, taskId: 'a', outcome: 'SUCCEEDED' });

    expect(repeated.transitioned).toBe(false);
    expect((await store.getTask(batchId, 'c'))?.pendingDeps).toBe(1);
    expect(answers).toEqual([]);
    await completeTask(deps, { batchId, taskId: 'b', outcome: 'SUCCEEDED' });
    expect(answers).toEqual([{ token: 'gate-c', output: { proceed: true, failedDeps: 0 } }]);
  });

  it('answers an open gate on a repeated Complete whose first run failed before its answer went out', async () => {
    const batchId = await createBatch([
      { id: 'a', description: 'x' },
      { id: 'b', description: 'y', dependsOn: ['a'] },
      { id: 'c', description: 'z', dependsOn: ['a', 'b'] },
    ]);
    const { answers, callbacks } = recordingCallbacks();
    await gateTask({ store, callbacks }, { batchId, taskId: 'b', taskToken: 'gate-b' });
    await gateTask({ store, callbacks }, { batchId, taskId: 'c', taskToken: 'gate-c' });
    // Step Functions refuses a token answered before (a gone token: false), as SfnCallbacks reports it; the
    // first answer fails after the SDK's retries, as a throttled SendTaskSuccess would.
    const answered = new Set<string>();
    let failuresLeft = 1;
    const sfnLike = {
      ...callbacks,
      succeed: async (token: string, output: unknown) => {
        if (failuresLeft-- > 0)
          throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
        if (answered.has(token)) return false;
        answered.add(token);
        return callbacks.succeed(token, output);
      },
    };
    const deps = { store, agents, callbacks: sfnLike, clock };
    const input = { batchId, taskId: 'a', outcome: 'SUCCEEDED' } as const;

    await expect(completeTask(deps, input)).rejects.toThrow('Rate exceeded');
    expect(answers).toEqual([]);
    // Step Functions runs the Complete again: the release is counted already, and b's gate is answered.
    const retried = await completeTask(deps, input);

    expect(retried.transitioned).toBe(false);
    expect(answers).toEqual([{ token: 'gate-b', output: { proceed: true, failedDeps: 0 } }]);
    // c's gate is not open (b is pending): not answered. Once b completes, c's is, once.
    await completeTask(deps, { batchId, taskId: 'b', outcome: 'SUCCEEDED' });
    expect(answers).toEqual([
      { token: 'gate-b', output: { proceed: true, failedDeps: 0 } },
      { token: 'gate-c', output: { proceed: true, failedDeps: 0 } },
    ]);
    // A third run of a's Complete answers the open gates again, and both answers are refused.
    await completeTask(deps, input);
    expect(answers).toHaveLength(2);
  });

  describe("the dependents the worker's answer names (DispatchResult.dependents)", () => {
    /** a, its attempt started, and b depending on it, b's gate armed. */
    async function completing() {
      const { name, deps } = isolatedRole();
      const batchId = await createBatch([
        { id: 'a', description: 'x', role: name },
        { id: 'b', description: 'y', role: name, dependsOn: ['a'] },
      ]);
      const route = await routeTask(deps, { batchId, taskId: 'a' });
      if (route.decision !== 'DISPATCH') throw new Error(`a was not dispatched: ${route.decision}`);
      const { answers, callbacks } = recordingCallbacks();
      await gateTask({ store, callbacks }, { batchId, taskId: 'b', taskToken: 'gate-b' });
      const { agentId } = route;
      const input = {
        batchId,
        taskId: 'a',
        outcome: 'SUCCEEDED',
        agentId,
        attempt: 1,
        result: {
          status: 'SUCCEEDED',
          agentId,
          attempt: 1,
          durationMs: 5,
          finishedAt: clock.now(),
          output: { answer: 42 },
          dependents: ['b'] as string[],
        },
      } as const;
      return { batchId, answers, callbacks, input };
    }

    /** The store, its status writes held until `answer` (or failed with `failWith`), every call in `events`. */
    function watchedStore(failWith?: Error) {
      const events: string[] = [];
      let answer: () => void = () => undefined;
      const held = new Promise<void>((resolve) => {
        answer = resolve;
      });
      const watched = new Proxy(store, {
        get(target, prop) {
          const value = Reflect.get(target, prop, target);
          if (typeof value !== 'function') return value;
          if (prop === 'transitionTask')
            return async (...args: Parameters<typeof store.transitionTask>) => {
              events.push('status write sent');
              await held;
              if (failWith) throw failWith;
              const written = await target.transitionTask(...args);
              events.push('status write answered');
              return written;
            };
          if (prop === 'releaseDependent')
            return (...args: Parameters<typeof store.releaseDependent>) => {
              events.push(`release of ${args[1]} sent`);
              return target.releaseDependent(...args);
            };
          return value.bind(target);
        },
      });
      return { watched, events, answer };
    }

    it('releases them beside the status write and answers their gates once it is written', async () => {
      const { batchId, answers, callbacks, input } = await completing();
      const { watched, events, answer } = watchedStore();

      const done = completeTask({ store: watched, agents, callbacks, clock }, input);
      // b's release is counted while a's status write is still on its way; b's gate waits for it.
      await vi.waitFor(async () => expect((await store.getTask(batchId, 'b'))?.pendingDeps).toBe(0));
      expect(events).toEqual(['status write sent', 'release of b sent']);
      expect(answers).toEqual([]);
      answer();
      await done;

      expect(answers).toEqual([{ token: 'gate-b', output: { proceed: true, failedDeps: 0 } }]);
      expect(await store.getTask(batchId, 'a')).toMatchObject({
        status: 'SUCCEEDED',
        output: { answer: 42 },
      });
    });

    it('sends them after the status write with releasesAfterStatusWrite', async () => {
      const { answers, callbacks, input } = await completing();
      const { watched, events, answer } = watchedStore();
      answer();

      await completeTask({ store: watched, agents, callbacks, clock, releasesAfterStatusWrite: true }, input);

      expect(events).toEqual(['status write sent', 'status write answered', 'release of b sent']);
      expect(answers).toEqual([{ token: 'gate-b', output: { proceed: true, failedDeps: 0 } }]);
    });

    it('answers no gate when the status write fails, and its retry answers it once', async () => {
      const { batchId, answers, callbacks, input } = await completing();
      const failure = Object.assign(new Error('Throughput exceeds the table limit'), {
        name: 'ProvisionedThroughputExceededException',
      });
      const { watched, answer } = watchedStore(failure);
      answer();

      await expect(completeTask({ store: watched, agents, callbacks, clock }, input)).rejects.toThrow(
        'Throughput exceeds',
      );
      // The release was counted; no gate was answered for a task whose status and output are not written.
      expect(await store.getTask(batchId, 'b')).toMatchObject({ pendingDeps: 0, succeededDeps: 1 });
      expect(answers).toEqual([]);
      expect((await store.getTask(batchId, 'a'))?.status).toBe('RUNNING');

      // Step Functions retries the Complete: the status is written, the release found counted, the gate answered.
      const retried = await completeTask({ store, agents, callbacks, clock }, input);
      expect(retried).toMatchObject({ status: 'SUCCEEDED', transitioned: true });
      expect(answers).toEqual([{ token: 'gate-b', output: { proceed: true, failedDeps: 0 } }]);
      expect(await store.getTask(batchId, 'b')).toMatchObject({ pendingDeps: 0, succeededDeps: 1 });
    });
  });

  it("FailOnError after a Complete that failed past its status write releases the rest with the task's status", async () => {
    const batchId = await createBatch([
      { id: 'a', description: 'x' },
      { id: 'b', description: 'y', dependsOn: ['a'] },
      { id: 'c', description: 'z', dependsOn: ['a'] },
    ]);
    const { answers, callbacks } = recordingCallbacks();
    await gateTask({ store, callbacks }, { batchId, taskId: 'b', taskToken: 'gate-b' });
    await gateTask({ store, callbacks }, { batchId, taskId: 'c', taskToken: 'gate-c' });
    // The CompleteTask's handler wrote a's status and released b, then failed (its answer to b's gate lost).
    await store.transitionTask(batchId, 'a', 'SUCCEEDED', { at: clock.now() });
    await store.releaseDependent(batchId, 'b', 'SUCCEEDED', 'a');

    // The state machine's Catch: FailOnError, a Complete with the caught error.
    await completeTask(
      { store, agents, callbacks, clock },
      {
        batchId,
        taskId: 'a',
        outcome: 'FAILED',
        error: { Error: 'ThrottlingException', Cause: 'Rate exceeded' },
      },
    );

    // a stays SUCCEEDED; b's gate is answered, and c counts a's success as b did.
    expect((await store.getTask(batchId, 'a'))?.status).toBe('SUCCEEDED');
    expect(answers).toEqual(
      expect.arrayContaining([
        { token: 'gate-b', output: { proceed: true, failedDeps: 0 } },
        { token: 'gate-c', output: { proceed: true, failedDeps: 0 } },
      ]),
    );
    expect(answers).toHaveLength(2);
    expect(await store.getTask(batchId, 'c')).toMatchObject({ failedDeps: 0, succeededDeps: 1 });
  });

  it('a worker that dies in its own Complete past the status write: RecordAttempt and FailTask release the dependents as SUCCEEDED', async () => {
    const { name, deps } = isolatedRole();
    const batchId = await createBatch([
      { id: 'a', description: 'x', role: name },
      { id: 'b', description: 'y', dependsOn: ['a'], role: name },
    ]);
    const { answers, callbacks } = recordingCallbacks();
    await gateTask({ store, callbacks }, { batchId, taskId: 'b', taskToken: 'gate-b' });
    const route = await routeTask(deps, { batchId, taskId: 'a' });
    if (route.decision !== 'DISPATCH') throw new Error(`a was not dispatched: ${route.decision}`);
    const { agentId, attempt } = route;
    // The worker's Complete (DispatchMessage.complete): its store answers the status write, then nothing more,
    // as if the worker's process died there (no release, no gate answered, no token answered).
    let died = false;
    const dying = new Proxy(store, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          if (died) return new Promise(() => undefined);
          if (prop === 'transitionTask') died = true;
          return value.apply(target, args);
        };
      },
    });
    const result = {
      status: 'SUCCEEDED' as const,
      agentId,
      attempt,
      durationMs: 5,
      finishedAt: clock.now(),
      output: { ok: true },
    };
    void completeTask(
      { store: dying, agents, callbacks, clock },
      { batchId, taskId: 'a', outcome: 'SUCCEEDED', agentId, attempt, result },
    );
    await vi.waitFor(async () => expect((await store.getTask(batchId, 'a'))?.status).toBe('SUCCEEDED'));
    expect(answers).toEqual([]);

    // The Dispatch state's heartbeat times out: RecordAttempt finds the task SUCCEEDED (no retry), FailTask's
    // Complete keeps it and releases b with its success.
    const retry = await recordAttempt(
      { store, agents, clock, callbacks },
      { batchId, taskId: 'a', agentId, attempt, error: { Error: 'States.HeartbeatTimeout' } },
    );
    expect(retry).toEqual({ retry: false, reason: 'task already SUCCEEDED' });
    await completeTask(
      { store, agents, callbacks, clock },
      { batchId, taskId: 'a', outcome: 'FAILED', agentId, attempt },
    );

    expect(await store.getTask(batchId, 'a')).toMatchObject({
      status: 'SUCCEEDED',
      attempts: [expect.objectContaining({ status: 'SUCCEEDED' })],
    });
    expect(await store.getWork(batchId, ['a'])).toEqual([expect.objectContaining({ output: { ok: true } })]);
    expect(answers).toEqual([{ token: 'gate-b', output: { proceed: true, failedDeps: 0 } }]);
    expect(await store.getTask(batchId, 'b')).toMatchObject({ pendingDeps: 0, succeededDeps: 1 });
  });

  it('counts the agent success once and frees its slot', async () => {
    const { name, deps } = isolatedRole();
    const batchId = await createBatch([{ id: 't', description: 'x', role: name }]);
    const route = await routeTask(deps, { batchId, taskId: 't' });
    const agentId = route.decision === 'DISPATCH' ? route.agentId : '';
    const { callbacks } = recordingCallbacks();

    for (let i = 0; i < 2; i++) {
      await completeTask(
        { store, agents, callbacks, clock },
        { batchId, taskId: 't', outcome: 'SUCCEEDED', agentId, attempt: 1 },
      );
    }

    expect(await agents.get(agentId)).toMatchObject({ reserved: 0, attempts: 1, successes: 1 });
  });

  it('wakes a dependent with proceed=false when its dependency failed, and says why it was skipped', async () => {
    const batchId = await createBatch([
      { id: 'a', description: 'x' },
      { id: 'b', description: 'y', dependsOn: ['a'] },
    ]);
    const { answers, callbacks } = recordingCallbacks();
    const deps = { store, agents, callbacks, clock };
    await gateTask({ store, callbacks }, { batchId, taskId: 'b', taskToken: 'gate-b' });

    await completeTask(deps, { batchId, taskId: 'a', outcome: 'FAILED' });
    await completeTask(deps, { batchId, taskId: 'b', outcome: 'SKIPPED' });

    expect(answers[0]?.output).toMatchObject({ proceed: false, failedDeps: 1 });
    expect(await store.getTask(batchId, 'b')).toMatchObject({ status: 'SKIPPED' });
    expect((await store.getTask(batchId, 'b'))?.reason).toContain('a (FAILED)');
  });

  it('cancels tasks not started yet when a task fails under failFast', async () => {
    const batchId = await createBatch(
      [
        { id: 'a', description: 'x' },
        { id: 'b', description: 'y' },
        { id: 'c', description: 'z', dependsOn: ['b'] },
      ],
      { failFast: true },
    );
    const { answers, callbacks } = recordingCallbacks();
    await gateTask({ store, callbacks }, { batchId, taskId: 'c', taskToken: 'gate-c' });

    await completeTask({ store, agents, callbacks, clock }, { batchId, taskId: 'a', outcome: 'FAILED' });

    const tasks = await store.listTasks(batchId);
    expect(tasks.map((t) => t.status)).toEqual(['FAILED', 'CANCELLED', 'CANCELLED']);
    expect(answers.filter((a) => a.token === 'gate-c')).toHaveLength(1);
    expect(answers.find((a) => a.token === 'gate-c')?.output).toMatchObject({ proceed: false });
  });

  it("cancels under failFast the failed task's all_done dependent before its release opens the gate", async () => {
    const batchId = await createBatch(
      [
        { id: 'bad', description: 'y' },
        { id: 'next', description: 'z', dependsOn: ['bad'], trigger: 'all_done' },
      ],
      { failFast: true },
    );
    // What the state machine does with the gate's answer: the dependent's Route, which reads its status.
    const seenByRoute: string[] = [];
    const callbacks = {
      ...recordingCallbacks().callbacks,
      succeed: async (token: string) => {
        const task = await store.getTask(batchId, 'next');
        if (token === 'gate-next') seenByRoute.push(String(task?.status));
        return true;
      },
    };
    await gateTask({ store, callbacks }, { batchId, taskId: 'next', taskToken: 'gate-next' });

    await completeTask({ store, agents, callbacks, clock }, { batchId, taskId: 'bad', outcome: 'FAILED' });

    // It had not started when its dependency failed: its Route finds it cancelled and stops it.
    expect(seenByRoute).toEqual(['CANCELLED']);
    expect(await store.getTask(batchId, 'next')).toMatchObject({
      status: 'CANCELLED',
      attemptCount: 0,
      reason: 'cancelled: failFast after task bad failed',
    });
  });
});

describe('finalize', () => {
  async function finalStatus(outcomes: ('SUCCEEDED' | 'FAILED' | 'SKIPPED')[], cancel = false) {
    const batchId = await createBatch(outcomes.map((_, i) => ({ id: `t${i}`, description: 'x' })));
    for (const [i, outcome] of outcomes.entries())
      await store.setTaskStatus(batchId, `t${i}`, outcome, { at: 5 });
    if (cancel) await store.updateBatch(batchId, { cancelRequested: true });
    const result = await finalizeBatch({ store, clock }, { batchId });
    expect((await store.getBatch(batchId))?.status).toBe(result.status);
    return result;
  }

  it('reports SUCCEEDED when every task succeeded', async () => {
    expect((await finalStatus(['SUCCEEDED', 'SUCCEEDED'])).status).toBe('SUCCEEDED');
  });

  it('reports PARTIAL when some tasks succeeded', async () => {
    expect((await finalStatus(['SUCCEEDED', 'FAILED', 'SKIPPED'])).status).toBe('PARTIAL');
  });

  it('reports FAILED when no task succeeded', async () => {
    expect((await finalStatus(['FAILED', 'SKIPPED'])).status).toBe('FAILED');
  });

  it('reports CANCELLED for a cancelled batch', async () => {
    expect((await finalStatus(['SUCCEEDED'], true)).status).toBe('CANCELLED');
  });

  it('lists tasks in submission order with the makespan', async () => {
    const result = await finalStatus(['SUCCEEDED', 'FAILED']);

    expect(result.tasks.map((t) => t.id)).toEqual(['t0', 't1']);
    expect(result.makespanMs).toBe(clock.now() - 1);
  });
});

describe('cancel and redrive', () => {
  it('stops the execution of a batch cancelled before its execution ARN was written', async () => {
    const { stopped, orchestrator } = recordingOrchestrator();
    const batchId = await createBatch([{ id: 't', description: 'write code' }]);

    await cancelBatch({ store, agents, orchestrator, clock }, batchId);

    expect(stopped).toEqual([`arn:aws:states:us-east-1:1:execution:sm:${batchId}`]);
  });

  it('cancels unfinished tasks, frees their agents, stops the execution, and redrives them after', async () => {
    const { name, deps } = isolatedRole();
    const batchId = await createBatch([
      { id: 'a', description: 'x', role: name },
      { id: 'b', description: 'y', role: name, dependsOn: ['a'] },
    ]);
    await store.updateBatch(batchId, { executionArn: 'arn:exec' });
    const route = await routeTask(deps, { batchId, taskId: 'a' });
    const { orchestrator, started, stopped } = recordingOrchestrator();

    await expect(redriveBatch({ store, orchestrator }, batchId)).rejects.toBeInstanceOf(ConflictError);
    const cancelled = await cancelBatch({ store, agents, orchestrator, clock }, batchId);

    expect(cancelled.status).toBe('CANCELLED');
    expect(cancelled.tasks.map((t) => t.status)).toEqual(['CANCELLED', 'CANCELLED']);
    expect(stopped).toEqual(['arn:exec']);
    expect((await agents.get(route.decision === 'DISPATCH' ? route.agentId : ''))?.reserved).toBe(0);

    const redriven = await redriveBatch({ store, orchestrator }, batchId);

    expect(redriven.executionName).toBe(`${batchId}-redrive-1`);
    expect(started[0]?.input.items).toEqual([
      { taskId: 'a', hasDeps: false },
      { taskId: 'b', hasDeps: true },
    ]);
    expect(await store.getTask(batchId, 'b')).toMatchObject({
      status: 'PENDING',
      pendingDeps: 1,
      failedDeps: 0,
    });
    expect((await store.getBatch(batchId))?.status).toBe('RUNNING');
  });
});

describe('a redrive that failed part-way', () => {
  it('leaves the batch redrivable: the tasks it reset run in the next redrive', async () => {
    const batchId = await createBatch([
      { id: 'a', description: 'x' },
      { id: 'b', description: 'y', dependsOn: ['a'] },
    ]);
    await store.setTaskStatus(batchId, 'a', 'FAILED');
    await store.setTaskStatus(batchId, 'b', 'SKIPPED');
    await store.updateBatch(batchId, { status: 'FAILED' });
    const { orchestrator, started } = recordingOrchestrator();
    // The batch's write fails after the tasks were reset (a throttled or refused write).
    const failing = new Proxy(store, {
      get(target, property, receiver) {
        if (property === 'updateBatch') return async () => Promise.reject(new Error('write refused'));
        return Reflect.get(target, property, receiver);
      },
    });
    await expect(redriveBatch({ store: failing, orchestrator }, batchId)).rejects.toThrow('write refused');
    expect((await store.listTasks(batchId)).map((t) => t.status)).toEqual(['READY', 'PENDING']);
    expect((await store.getBatch(batchId))?.status).toBe('FAILED');

    const redriven = await redriveBatch({ store, orchestrator }, batchId);

    expect(redriven.taskIds).toEqual(['a', 'b']);
    expect(started.map((s) => s.name)).toEqual([`${batchId}-redrive-1`]);
    expect((await store.getBatch(batchId))?.status).toBe('RUNNING');
  });
});

describe('cancel and a route that starts an attempt meanwhile', () => {
  it('ends the attempt and its task no earlier than the attempt started', async () => {
    const { name, deps } = isolatedRole();
    const batchId = await createBatch([{ id: 'late', description: 'x', role: name }]);
    const cancelRead = clock.now();
    // The Route starts the attempt after the cancel read its clock, before the cancel lists the tasks.
    clock.advance(250);
    const route = await routeTask(deps, { batchId, taskId: 'late' });
    expect(route.decision).toBe('DISPATCH');
    let reads = 0;
    const lagging = { now: () => (reads++ === 0 ? cancelRead : clock.now()) };

    await cancelBatch(
      { store, agents, orchestrator: recordingOrchestrator().orchestrator, clock: lagging },
      batchId,
    );

    const task = await store.getTask(batchId, 'late');
    const attempt = task?.attempts[0];
    expect(attempt?.status).toBe('CANCELLED');
    expect(attempt?.finishedAt).toBeGreaterThanOrEqual(attempt?.startedAt ?? Number.POSITIVE_INFINITY);
    expect(task?.finishedAt).toBeGreaterThanOrEqual(attempt?.startedAt ?? Number.POSITIVE_INFINITY);
  });
});

describe('redrive and trigger rules', () => {
  it("counts a redriven task's dependencies that succeeded before, so a one_success gate opens at once", async () => {
    const batchId = await createBatch([
      { id: 'a', description: 'x' },
      { id: 'b', description: 'y' },
      { id: 'c', description: 'z', dependsOn: ['a', 'b'], trigger: 'one_success' },
    ]);
    await store.setTaskStatus(batchId, 'a', 'SUCCEEDED');
    await store.setTaskStatus(batchId, 'b', 'FAILED');
    await store.setTaskStatus(batchId, 'c', 'SKIPPED');
    await store.updateBatch(batchId, { status: 'PARTIAL' });
    const { orchestrator } = recordingOrchestrator();

    await redriveBatch({ store, orchestrator }, batchId);

    expect(await store.getTask(batchId, 'c')).toMatchObject({
      pendingDeps: 1,
      succeededDeps: 1,
      failedDeps: 0,
      skippedDeps: 0,
    });
    const answers: unknown[] = [];
    const callbacks = {
      succeed: async (_token: string, output: unknown) => {
        answers.push(output);
        return true;
      },
      fail: async () => true,
      heartbeat: async () => true,
    };
    expect(
      await gateTask({ store, callbacks }, { batchId, taskId: 'c', taskToken: 'c-token' }),
    ).toMatchObject({
      armed: false,
      output: { proceed: true },
    });
  });
});

describe('scaler', () => {
  it('terminates idle agents above the role minimum and keeps busy ones', async () => {
    const { name, catalog } = isolatedRole({ maxAgents: 5 });
    const role = catalog.get(name);
    const idleTtlMs = (role?.defaults.idleTtlSeconds ?? 0) * 1000;
    const longAgo = clock.now() - idleTtlMs - 1;
    await agents.put(agentOf('python_backend_coder', `${name}-1`, { role: name, lastActiveAt: longAgo }));
    await agents.put(agentOf('python_backend_coder', `${name}-2`, { role: name, lastActiveAt: longAgo - 1 }));
    await agents.put(
      agentOf('python_backend_coder', `${name}-3`, { role: name, lastActiveAt: longAgo, reserved: 1 }),
    );
    const onlyThisRole = new Map([[name, role]]) as typeof catalog;

    const result = await scaleAgents({ agents, catalog: onlyThisRole, clock });

    // minAgents is 1: of three live agents two may go, but the busy one stays.
    expect(result.terminated.sort()).toEqual([`${name}-1`, `${name}-2`]);
    expect((await agents.get(`${name}-3`))?.status).not.toBe('terminated');
  });
});
