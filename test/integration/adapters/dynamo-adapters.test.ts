import * as fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CIRCUIT_FAILURE_THRESHOLD,
  CIRCUIT_OPEN_MS,
  DynamoAgentRegistry,
  EWMA_ALPHA,
  forgetKeptCredentialsMarks,
} from '../../../shared/adapters/dynamodb/agent-registry';
import { documentClient } from '../../../shared/adapters/dynamodb/client';
import { DynamoTaskStore } from '../../../shared/adapters/dynamodb/task-store';
import { CREDENTIAL_FINGERPRINT_CHARS } from '../../../shared/domain/limits';
import { CREDENTIALS_MARK_MS, type CredentialsMark } from '../../../shared/domain/permanent-failure';
import type { RoutingDecision, TriggerRule } from '../../../shared/domain/schemas';
import type { DependencyOutcome } from '../../../shared/domain/trigger';
import type { GateOutput } from '../../../shared/domain/workflow';
import type { Callbacks, TaskStore } from '../../../shared/ports';
import { buildBatchResult } from '../../../shared/usecases/batch-result';
import { completeTask } from '../../../shared/usecases/complete';
import { gateTask } from '../../../shared/usecases/gate';
import { countingClient, type LocalDynamo, startDynalite } from '../../support/dynalite';
import { agentOf, batchOf, ManualClock, uniqueId } from '../../support/fixtures';

let dynamo: LocalDynamo;
let store: DynamoTaskStore;
let registry: DynamoAgentRegistry;

beforeAll(async () => {
  dynamo = await startDynalite();
  const doc = documentClient(dynamo.client);
  store = new DynamoTaskStore(dynamo.tasksTable, doc);
  registry = new DynamoAgentRegistry(dynamo.agentsTable, doc);
});

afterAll(async () => {
  await dynamo.stop();
});

describe('DynamoAgentRegistry', () => {
  it('never reserves past capacity under 50 concurrent reservations', async () => {
    const agent = agentOf('python_backend_coder', uniqueId('agent'), { capacity: 7 });
    await registry.put(agent);

    const results = await Promise.all(Array.from({ length: 50 }, () => registry.reserve(agent.agentId, 10)));

    expect(results.filter(Boolean)).toHaveLength(7);
    expect((await registry.get(agent.agentId))?.reserved).toBe(7);
  });

  it('never releases below zero', async () => {
    const agent = agentOf('python_backend_coder', uniqueId('agent'), { capacity: 3 });
    await registry.put(agent);
    await registry.reserve(agent.agentId, 10);

    await Promise.all(Array.from({ length: 5 }, () => registry.release(agent.agentId, 11)));

    expect((await registry.get(agent.agentId))?.reserved).toBe(0);
  });

  it('refuses a reservation on an agent whose circuit is open until the wait is over', async () => {
    const agent = agentOf('python_backend_coder', uniqueId('agent'), {
      circuit: 'open',
      circuitOpenUntil: 100,
    });
    await registry.put(agent);

    expect(await registry.reserve(agent.agentId, 50)).toBe(false);
    expect(await registry.reserve(agent.agentId, 150)).toBe(true);
  });

  it('counts outcomes and keeps an EWMA of latency', async () => {
    const agent = agentOf('python_backend_coder', uniqueId('agent'));
    await registry.put(agent);

    await registry.recordOutcome(agent.agentId, { success: true, latencyMs: 1000, at: 1 });
    await registry.recordOutcome(agent.agentId, { success: false, latencyMs: 5, at: 2 });
    const after = await registry.recordOutcome(agent.agentId, { success: true, latencyMs: 2000, at: 3 });

    expect(after).toMatchObject({
      attempts: 3,
      successes: 2,
      failures: 1,
      consecutiveFailures: 0,
      circuit: 'closed',
    });
    expect(after?.ewmaLatencyMs).toBeCloseTo(EWMA_ALPHA * 2000 + (1 - EWMA_ALPHA) * 1000);
  });

  it('records 20 concurrent outcomes on one agent with one read and one write each, counting every one', async () => {
    const agent = agentOf('python_backend_coder', uniqueId('agent'));
    await registry.put(agent);
    await registry.recordOutcome(agent.agentId, { success: true, latencyMs: 1000, at: 0 });
    const { client: counting, commands: calls } = countingClient(dynamo);
    const busy = new DynamoAgentRegistry(dynamo.agentsTable, documentClient(counting));

    const afters = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        busy.recordOutcome(agent.agentId, { success: true, latencyMs: 100, at: i + 1 }),
      ),
    );
    const final = await registry.get(agent.agentId);
    counting.destroy();

    // A versioned write made these race: most outcomes read and wrote several times.
    expect(calls.filter((c) => c === 'GetItemCommand')).toHaveLength(20);
    expect(calls.filter((c) => c === 'UpdateItemCommand')).toHaveLength(20);
    expect(final).toMatchObject({ attempts: 21, successes: 21, failures: 0, consecutiveFailures: 0 });
    // Some steps may read the same value; the average still moves toward the new latency, never past it.
    expect(final?.ewmaLatencyMs).toBeLessThanOrEqual(EWMA_ALPHA * 100 + (1 - EWMA_ALPHA) * 1000);
    expect(final?.ewmaLatencyMs).toBeGreaterThanOrEqual(100);
    for (const after of afters) expect(after?.ewmaLatencyMs).toBeGreaterThanOrEqual(100);
  });

  it('counts concurrent failures exactly and opens the circuit when together they reach the threshold', async () => {
    const agent = agentOf('python_backend_coder', uniqueId('agent'));
    await registry.put(agent);

    // Each failure may read a count below the threshold; the count after all of them is not.
    await Promise.all(
      Array.from({ length: CIRCUIT_FAILURE_THRESHOLD }, (_, i) =>
        registry.recordOutcome(agent.agentId, { success: false, latencyMs: 1, at: 100 + i }),
      ),
    );
    const after = await registry.get(agent.agentId);

    expect(after).toMatchObject({
      attempts: CIRCUIT_FAILURE_THRESHOLD,
      failures: CIRCUIT_FAILURE_THRESHOLD,
      consecutiveFailures: CIRCUIT_FAILURE_THRESHOLD,
      circuit: 'open',
    });
    expect(after?.circuitOpenUntil).toBeGreaterThanOrEqual(100 + CIRCUIT_OPEN_MS);
  });

  it('opens the circuit after three consecutive failures', async () => {
    const agent = agentOf('python_backend_coder', uniqueId('agent'));
    await registry.put(agent);

    for (const at of [1, 2, 3]) {
      await registry.recordOutcome(agent.agentId, { success: false, latencyMs: 1, at });
    }

    const after = await registry.get(agent.agentId);
    expect(after?.circuit).toBe('open');
    expect(after?.circuitOpenUntil).toBeGreaterThan(3);
  });

  it('creates an agent in a slot only once, and again after it was terminated', async () => {
    const agent = agentOf('database_designer', uniqueId('agent'));

    expect(await registry.create(agent)).toBe(true);
    expect(await registry.create(agent)).toBe(false);
    await registry.setStatus(agent.agentId, 'terminated');
    expect(await registry.create(agent)).toBe(true);
  });

  it('lists the agents of one role through the byRole index', async () => {
    const role = 'ui_ux_designer';
    const ids = [uniqueId('ux'), uniqueId('ux')];
    for (const id of ids) await registry.put(agentOf(role, id));

    const listed = await registry.list(role);

    expect(listed.map((a) => a.agentId).sort()).toEqual([...ids].sort());
  });

  it('keeps credentials marks fleet-wide: read by every process, until they expire or are cleared', async () => {
    const other = new DynamoAgentRegistry(dynamo.agentsTable, documentClient(dynamo.client));
    const now = 1_000_000;
    const mark = (name: 'anthropic' | 'openai', at: number, url?: string): CredentialsMark => ({
      executor: { name, ...(url === undefined ? {} : { url }) },
      at,
      until: at + CREDENTIALS_MARK_MS,
      agentId: 'python_backend_coder-1',
      batchId: 'b1',
      taskId: 't1',
    });
    await registry.clearCredentials();
    expect(await other.credentialsMarks(now)).toEqual([]);

    await registry.markCredentials(mark('anthropic', now));
    await registry.markCredentials(mark('openai', now, 'https://gateway.example/v1'));
    // Seen at once by every process.
    expect(await registry.credentialsMarks(now)).toHaveLength(2);
    expect(await other.credentialsMarks(now + 1)).toEqual(
      expect.arrayContaining([mark('anthropic', now), mark('openai', now, 'https://gateway.example/v1')]),
    );
    // Never an agent in a listing.
    expect((await registry.list()).some((a) => a.agentId.includes('#'))).toBe(false);
    // Expired, or cleared by its provider and url.
    expect(await registry.credentialsMarks(now + CREDENTIALS_MARK_MS)).toEqual([]);
    await registry.clearCredentials({ name: 'openai', url: 'https://gateway.example/v1' });
    expect(await registry.credentialsMarks(now + 1)).toEqual([mark('anthropic', now)]);
    await registry.clearCredentials();
    expect(await registry.credentialsMarks(now + 2)).toEqual([]);
  });
});

describe('DynamoAgentRegistry credentials marks of one key', () => {
  it('keeps a mark per refused key of a configuration, answers only those of the key in use now, and clears every key of it', async () => {
    const OLD_KEY = 'a'.repeat(CREDENTIAL_FINGERPRINT_CHARS);
    const NEW_KEY = 'b'.repeat(CREDENTIAL_FINGERPRINT_CHARS);
    // The fingerprint of the key in use: the refused one, then a new one (a redeploy), then unknown.
    let inUse: string | undefined = OLD_KEY;
    const looks: string[] = [];
    const keyed = new DynamoAgentRegistry(
      dynamo.agentsTable,
      documentClient(dynamo.client),
      undefined,
      async (executor) => {
        looks.push(executor.name);
        return inUse;
      },
    );
    const now = 3_000_000;
    const first = { agentId: 'python_backend_coder-1', batchId: 'b1', taskId: 't1' };
    const mark = (fingerprint?: string, url?: string): CredentialsMark => ({
      ...first,
      executor: { name: 'anthropic', ...(url === undefined ? {} : { url }) },
      ...(fingerprint === undefined ? {} : { fingerprint }),
      at: now,
      until: now + CREDENTIALS_MARK_MS,
    });
    await keyed.clearCredentials();
    expect(await keyed.credentialsMarks(now)).toEqual([]);
    expect(looks).toEqual([]);

    await keyed.markCredentials(mark(OLD_KEY));
    expect(await keyed.credentialsMarks(now + 1)).toEqual([mark(OLD_KEY)]);
    inUse = NEW_KEY;
    expect(await keyed.credentialsMarks(now + 1)).toEqual([]);
    // The new key refused too: a mark of its own, beside the old key's (kept, not answered).
    await keyed.markCredentials(mark(NEW_KEY));
    expect(await keyed.credentialsMarks(now + 2)).toEqual([mark(NEW_KEY)]);
    expect(await registry.credentialsMarks(now + 2)).toEqual(
      expect.arrayContaining([mark(OLD_KEY), mark(NEW_KEY)]),
    );
    // A key that cannot be told (its lookup failed), or a mark of no key: the mark applies.
    inUse = undefined;
    await keyed.markCredentials(mark(undefined, 'https://gateway.example/v1'));
    expect(await keyed.credentialsMarks(now + 3)).toHaveLength(3);

    await keyed.clearCredentials({ name: 'anthropic' });
    expect(await registry.credentialsMarks(now + 4)).toEqual([mark(undefined, 'https://gateway.example/v1')]);
    await keyed.clearCredentials();
    expect(await registry.credentialsMarks(now + 5)).toEqual([]);
  });
});

describe("DynamoAgentRegistry, the store's only writer", () => {
  it('reads the credentials marks again only after one of its registries wrote or cleared one', async () => {
    forgetKeptCredentialsMarks();
    const soleWriter = `${dynamo.endpoint} ${dynamo.agentsTable}`;
    const { client, commands } = countingClient(dynamo);
    const route = new DynamoAgentRegistry(dynamo.agentsTable, documentClient(client), soleWriter);
    // Another handler module of the same process: its own registry, the same store.
    const recordAttempt = new DynamoAgentRegistry(
      dynamo.agentsTable,
      documentClient(dynamo.client),
      soleWriter,
    );
    const queries = () => commands.filter((c) => c === 'QueryCommand').length;
    const now = 2_000_000;
    await recordAttempt.clearCredentials();

    expect(await route.credentialsMarks(now)).toEqual([]);
    expect(await route.credentialsMarks(now + 1)).toEqual([]);
    expect(queries()).toBe(1);

    const mark: CredentialsMark = {
      executor: { name: 'anthropic' },
      at: now,
      until: now + CREDENTIALS_MARK_MS,
      agentId: 'python_backend_coder-1',
      batchId: 'b1',
      taskId: 't1',
    };
    await recordAttempt.markCredentials(mark);
    expect(await route.credentialsMarks(now + 2)).toEqual([mark]);
    expect(await route.credentialsMarks(now + 3)).toEqual([mark]);
    expect(queries()).toBe(2);
    // A kept mark still expires at its time.
    expect(await route.credentialsMarks(now + CREDENTIALS_MARK_MS)).toEqual([]);

    await recordAttempt.clearCredentials({ name: 'anthropic' });
    expect(await route.credentialsMarks(now + 4)).toEqual([]);
    expect(queries()).toBe(3);
    client.destroy();
  });
});

describe('DynamoTaskStore', () => {
  it('claims an idempotency key once and returns the first batch id to later claims', async () => {
    const key = uniqueId('key');

    const first = await store.claimIdempotencyKey(key, 'batch-a', 'hash-a', 1);
    const second = await store.claimIdempotencyKey(key, 'batch-b', 'hash-b', 2);

    expect(first).toEqual({ claimed: true });
    expect(second).toEqual({ claimed: false, batchId: 'batch-a', requestHash: 'hash-a' });
  });

  it('claims a batch id once: a second claim writes nothing and answers the batch already there', async () => {
    const batchId = uniqueId();
    const { batch } = batchOf(batchId, [{ id: 'a', description: 'x' }]);
    const first = { ...batch, requestHash: 'h1', creation: { owner: 'o1', expiresAt: 100 } };

    const claims = await Promise.all([
      store.claimBatch(first),
      store.claimBatch({ ...batch, requestHash: 'h2', creation: { owner: 'o2', expiresAt: 100 } }),
    ]);

    expect(claims.filter((c) => c.claimed)).toHaveLength(1);
    const refused = claims.find((c) => !c.claimed);
    const winner = (await store.getBatch(batchId))?.requestHash;
    expect(refused).toEqual({ claimed: false, existing: expect.objectContaining({ requestHash: winner }) });
  });

  it('changes a creation claim only for its owner and only while the batch runs', async () => {
    const batchId = uniqueId();
    const { batch } = batchOf(batchId, [{ id: 'a', description: 'x' }]);
    await store.claimBatch({ ...batch, creation: { owner: 'o1', expiresAt: 100 } });

    expect(await store.updateBatchCreation(batchId, 'intruder', { owner: 'intruder', expiresAt: 1 })).toBe(
      false,
    );
    expect(await store.updateBatchCreation(batchId, 'o1', { owner: 'o2', expiresAt: 200 })).toBe(true);
    expect(await store.updateBatchCreation(batchId, 'o1', undefined)).toBe(false);
    expect(await store.updateBatchCreation(batchId, 'o2', undefined, { executionArn: 'arn:x' })).toBe(true);
    const done = await store.getBatch(batchId);
    expect(done?.creation).toBeUndefined();
    expect(done?.executionArn).toBe('arn:x');
    expect(await store.updateBatchCreation(uniqueId(), 'o1', undefined)).toBe(false);

    const cancelled = uniqueId();
    await store.claimBatch({ ...batch, batchId: cancelled, creation: { owner: 'o1', expiresAt: 1 } });
    await store.updateBatch(cancelled, { status: 'CANCELLED' });
    expect(await store.updateBatchCreation(cancelled, 'o1', { owner: 'o3', expiresAt: 2 })).toBe(false);
  });

  it('writes no task of a batch whose id is taken', async () => {
    const batchId = uniqueId();
    const original = batchOf(batchId, [{ id: 'a', description: 'x' }]);
    await store.createBatch(original.batch, original.tasks);
    await store.setTaskStatus(batchId, 'a', 'SUCCEEDED', { at: 5 });
    const other = batchOf(batchId, [
      { id: 'a', description: 'y' },
      { id: 'b', description: 'y' },
    ]);

    expect(await store.createBatch(other.batch, other.tasks)).toEqual({ created: false, batchId });
    expect((await store.listTasks(batchId)).map((t) => [t.taskId, t.status])).toEqual([['a', 'SUCCEEDED']]);
  });

  it('writes a batch of 60 tasks and lists them in submission order', async () => {
    const batchId = uniqueId();
    const tasks = Array.from({ length: 60 }, (_, i) => ({ id: `t${59 - i}`, description: 'write code' }));
    const { batch, tasks: stored } = batchOf(batchId, tasks);

    await store.createBatch(batch, stored);

    expect((await store.listTasks(batchId)).map((t) => t.taskId)).toEqual(tasks.map((t) => t.id));
  });

  it('reads the state of a batch without its task id list', async () => {
    const batchId = uniqueId();
    const { batch, tasks } = batchOf(batchId, [{ id: 'a', description: 'write code' }]);
    await store.createBatch(batch, tasks);
    await store.updateBatch(batchId, { cancelRequested: true, cancelReason: 'user', executionArn: 'arn:x' });

    const { taskIds, ...expected } = {
      ...batch,
      cancelRequested: true,
      cancelReason: 'user',
      executionArn: 'arn:x',
    };

    expect(taskIds).toEqual(['a']);
    expect(await store.getBatchState(batchId)).toEqual(expected);
    expect(await store.getBatchState(uniqueId())).toBeUndefined();
  });

  it('answers the task as written when it moves to a terminal status, and nothing when it was terminal', async () => {
    const batchId = uniqueId();
    const { batch, tasks } = batchOf(batchId, [
      { id: 'a', description: 'write code' },
      { id: 'b', description: 'test it', dependsOn: ['a'] },
    ]);
    await store.createBatch(batch, tasks);

    const moved = await store.transitionTask(batchId, 'a', 'SUCCEEDED', { at: 42 });
    const again = await store.transitionTask(batchId, 'a', 'FAILED', { at: 43 });

    expect(moved).toMatchObject({ taskId: 'a', status: 'SUCCEEDED', finishedAt: 42, dependents: ['b'] });
    expect(again).toBeUndefined();
    expect(await store.transitionTask(batchId, 'missing', 'SUCCEEDED')).toBeUndefined();
    expect((await store.getTask(batchId, 'a'))?.status).toBe('SUCCEEDED');
  });

  it('ends the attempt with the status in the same write, output included', async () => {
    const batchId = uniqueId();
    const { batch, tasks } = batchOf(batchId, [{ id: 'a', description: 'write code' }]);
    await store.createBatch(batch, tasks);
    const decision = { role: 'python_backend_coder', requirements: {} } as unknown as RoutingDecision;
    await store.startAttempt(batchId, 'a', 1, 'agent-1', decision, 10);

    const moved = await store.transitionTask(batchId, 'a', 'SUCCEEDED', {
      at: 30,
      attempt: { number: 1, finishedAt: 25, output: { text: 'done' } },
    });

    expect(moved?.attempts).toEqual([
      { agentId: 'agent-1', status: 'SUCCEEDED', startedAt: 10, finishedAt: 25 },
    ]);
    expect(moved).toMatchObject({ status: 'SUCCEEDED', finishedAt: 30, output: { text: 'done' } });
  });

  it("lists a batch's tasks as its result shows them without outputs: the same result as from whole items, nothing else read", async () => {
    const batchId = uniqueId();
    const { batch, tasks } = batchOf(batchId, [
      { id: 'b', description: 'test it', dependsOn: ['a'] },
      { id: 'a', description: 'write code', input: { spec: 'x'.repeat(2_000) } },
    ]);
    await store.createBatch(batch, tasks);
    const decision = { role: 'python_backend_coder', requirements: {} } as unknown as RoutingDecision;
    await store.startAttempt(batchId, 'a', 1, 'agent-1', decision, 10);
    await store.transitionTask(batchId, 'a', 'SUCCEEDED', {
      at: 30,
      attempt: { number: 1, finishedAt: 25, output: { text: 'y'.repeat(5_000) } },
    });
    await store.armGate(batchId, 'b', 'a-gate-token');

    const full = await store.listTasks(batchId);
    const summaries = await store.listTaskSummaries(batchId);

    // In submission order, as listTasks gives them; the batch's result without outputs is the same from both.
    expect(summaries.map((t) => t.taskId)).toEqual(['b', 'a']);
    const stored = await store.getBatch(batchId);
    if (!stored) throw new Error('the batch was not stored');
    expect(buildBatchResult(stored, summaries, { includeOutput: false })).toEqual(
      buildBatchResult(stored, full, { includeOutput: false }),
    );
    expect(summaries[1]).toMatchObject({ status: 'SUCCEEDED', agentId: 'agent-1', finishedAt: 30 });
    // No definition, input, output or gate state read.
    for (const summary of summaries) {
      for (const key of ['task', 'output', 'inputJson', 'outputJson', 'gateToken', 'dependents', 'pk'])
        expect(summary).not.toHaveProperty(key);
    }
  });

  it('ends an attempt with the reference of a stored output and its context record', async () => {
    const batchId = uniqueId();
    const { batch, tasks } = batchOf(batchId, [{ id: 'a', description: 'write code' }]);
    await store.createBatch(batch, tasks);
    const decision = { role: 'python_backend_coder', requirements: {} } as unknown as RoutingDecision;
    await store.startAttempt(batchId, 'a', 1, 'agent-1', decision, 10);
    const outputRef = {
      location: 's3://bucket/outputs/b/a/attempt-1.json',
      bytes: 70_000,
      sha256: 'a'.repeat(64),
      contentType: 'application/json',
      format: 'text' as const,
    };
    const context = { budgetBytes: 1_000, usedBytes: 10, items: [] };

    const moved = await store.transitionTask(batchId, 'a', 'SUCCEEDED', {
      at: 30,
      attempt: { number: 1, finishedAt: 25, outputRef, context },
    });

    expect(moved?.outputRef).toEqual(outputRef);
    expect(moved?.output).toBeUndefined();
    expect(moved?.attempts[0]).toMatchObject({ status: 'SUCCEEDED', context });
  });

  it('reads the work of several tasks in one batch read, without their descriptions, and records a failed attempt context', async () => {
    const batchId = uniqueId();
    const { batch, tasks } = batchOf(batchId, [
      { id: 'a', description: 'x'.repeat(1_000) },
      { id: 'b', description: 'y', dependsOn: ['a'] },
      { id: 'c', description: 'z', dependsOn: ['a', 'b'] },
    ]);
    const { client, commands } = countingClient(dynamo);
    const counted = new DynamoTaskStore(dynamo.tasksTable, documentClient(client));
    await counted.createBatch(batch, tasks);
    const decision = { role: 'database_designer', requirements: {} } as unknown as RoutingDecision;
    await counted.startAttempt(batchId, 'a', 1, 'agent-1', decision, 10);
    await counted.transitionTask(batchId, 'a', 'SUCCEEDED', {
      at: 30,
      attempt: { number: 1, finishedAt: 25, output: { text: 'the schema' } },
    });
    await counted.setTaskStatus(batchId, 'b', 'FAILED', { reason: 'it broke', at: 40 });
    commands.length = 0;

    const work = await counted.getWork(batchId, ['a', 'b', 'missing']);

    expect(commands).toEqual(['BatchGetItemCommand']);
    expect(work.sort((x, y) => x.taskId.localeCompare(y.taskId))).toEqual([
      {
        taskId: 'a',
        status: 'SUCCEEDED',
        role: 'database_designer',
        agentId: 'agent-1',
        output: { text: 'the schema' },
        dependsOn: [],
      },
      { taskId: 'b', status: 'FAILED', reason: 'it broke', dependsOn: ['a'] },
    ]);

    await counted.startAttempt(batchId, 'c', 1, 'agent-2', decision, 50);
    await counted.setAttemptRecord(batchId, 'c', 1, {
      context: { budgetBytes: 500, usedBytes: 20, items: [] },
    });
    expect((await counted.getTask(batchId, 'c'))?.attempts[0]?.context).toEqual({
      budgetBytes: 500,
      usedBytes: 20,
      items: [],
    });
  });

  it('counts a dependency release once per dependency', async () => {
    const batchId = uniqueId();
    const { batch, tasks } = batchOf(batchId, [
      { id: 'a', description: 'x' },
      { id: 'b', description: 'x' },
      { id: 'c', description: 'x', dependsOn: ['a', 'b'] },
    ]);
    await store.createBatch(batch, tasks);

    const first = await store.releaseDependent(batchId, 'c', 'FAILED', 'a');
    const repeated = await store.releaseDependent(batchId, 'c', 'FAILED', 'a');

    expect(repeated).toMatchObject({ applied: false, pendingDeps: 1, failedDeps: 1 });
    // The release that applied answers the dependent as it left it (what a Route of it would read).
    expect(first.task).toEqual(await store.getTask(batchId, 'c'));
    expect(first.task).toMatchObject({ taskId: 'c', pendingDeps: 1, failedDeps: 1 });
    expect(repeated.task).toBeUndefined();
  });

  it('registers an expansion once per expanding task, within the batch-wide limit under concurrent expansions', async () => {
    const batchId = uniqueId();
    const { batch, tasks } = batchOf(batchId, [
      { id: 'p1', description: 'x' },
      { id: 'p2', description: 'x' },
      { id: 'p3', description: 'x' },
    ]);
    await store.createBatch({ ...batch, taskCount: 3 }, tasks);
    const limits = { maxExpansionTasks: 5, maxTasks: 100 };

    const added: Record<string, string[]> = { p1: ['a1', 'a2'], p2: ['b1', 'b2'], p3: ['c1', 'c2'] };
    const results = await Promise.all(
      Object.entries(added).map(([taskId, ids]) => store.registerExpansion(batchId, taskId, ids, limits)),
    );
    // Which two win is the store's order (DynamoDB Local and dynalite differ): a winner repeats.
    const winners = Object.keys(added).filter((_, i) => results[i]?.registered);
    const again = winners[0] ?? 'p1';
    const repeated = await store.registerExpansion(batchId, again, added[again] ?? [], limits);

    // Two of the three fit in 5; the third is refused, and a repeat registers nothing again.
    expect(winners).toHaveLength(2);
    expect(repeated.registered).toBe(false);
    const after = await store.getBatch(batchId);
    expect(after).toMatchObject({ taskCount: 7, expansionTasks: 4 });
    expect(after?.taskIds).toHaveLength(7);
    expect(after?.expandedBy).toEqual(expect.arrayContaining(winners));
    expect(after?.expandedBy).toHaveLength(2);
    expect(repeated.batch.expandedBy).toContain(again);
  });

  it('registers no expansion with an id the batch has, and up to 100 ids in one write', async () => {
    const batchId = uniqueId();
    const { batch, tasks } = batchOf(batchId, [
      { id: 'p1', description: 'x' },
      { id: 'p2', description: 'x' },
    ]);
    await store.createBatch({ ...batch, taskCount: 2 }, tasks);
    const limits = { maxExpansionTasks: 500, maxTasks: 2_000 };
    const hundred = Array.from({ length: 100 }, (_, i) => `added-task-with-a-long-id-${'x'.repeat(90)}-${i}`);

    const taken = await store.registerExpansion(batchId, 'p1', ['fresh', 'p2'], limits);
    const many = await store.registerExpansion(batchId, 'p1', hundred, limits);

    expect(taken.registered).toBe(false);
    expect(taken.batch.taskIds).toEqual(['p1', 'p2']);
    expect(many.registered).toBe(true);
    expect(many.batch).toMatchObject({ taskCount: 102, expansionTasks: 100 });
  });

  it('makes a dependent wait for the added tasks once per expanding task', async () => {
    const batchId = uniqueId();
    const { batch, tasks } = batchOf(batchId, [
      { id: 'plan', description: 'x' },
      { id: 'review', description: 'x', dependsOn: ['plan'] },
    ]);
    await store.createBatch(batch, tasks);

    expect(await store.addDependencies(batchId, 'review', ['a', 'b'], 'plan')).toBe(true);
    expect(await store.addDependencies(batchId, 'review', ['a', 'b'], 'plan')).toBe(false);

    const review = await store.getTask(batchId, 'review');
    expect(review).toMatchObject({ pendingDeps: 3, task: { dependsOn: ['plan', 'a', 'b'] } });
    expect(review).not.toHaveProperty('expandedFrom');
    // The expanding task's own release leaves the gate closed until the added tasks release it too.
    expect(await store.releaseDependent(batchId, 'review', 'SUCCEEDED', 'plan')).toMatchObject({
      pendingDeps: 2,
    });
  });

  it('claims an attempt once, so a duplicate delivery is recognised', async () => {
    const batchId = uniqueId();
    const { batch, tasks } = batchOf(batchId, [{ id: 'a', description: 'x' }]);
    await store.createBatch(batch, tasks);
    const decision = {
      taskId: 'a',
      agentId: 'python_backend_coder-1',
      role: 'python_backend_coder',
      score: 1,
      breakdown: { specialization: 1, availability: 1, success: 1, speed: 1 },
      candidates: [],
      rejected: [],
      requirements: {
        languages: [],
        frameworks: [],
        skills: [],
        complexity: 'low' as const,
        roleCandidates: [],
      },
      spawned: false,
      decidedAt: 5,
    };
    await store.startAttempt(batchId, 'a', 1, decision.agentId, decision, 5);

    const claims = await Promise.all([
      store.claimAttempt(batchId, 'a', 1),
      store.claimAttempt(batchId, 'a', 1),
    ]);

    expect(claims.filter(Boolean)).toHaveLength(1);
    // The winner gets the claimed task back (the worker needs no second read).
    expect(claims.find(Boolean)).toMatchObject({ taskId: 'a', attemptCount: 1 });
    expect(await store.claimAttempt(batchId, 'a', 2)).toBeUndefined();
  });
});

describe('dependency gate protocol (Gate and Complete interleaved)', () => {
  /** The store with every call waiting for the scheduler before it runs, so the interleaving is random. */
  function scheduledStore(s: fc.Scheduler): TaskStore {
    return new Proxy(store, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (typeof value !== 'function') return value;
        return async (...args: unknown[]) => {
          await s.schedule(Promise.resolve(), String(prop));
          return value.apply(target, args);
        };
      },
    }) as TaskStore;
  }

  /** Records every token answer with the dependent's pendingDeps as stored at that moment. */
  function recordingCallbacks(batchId: string, taskId: string, sink: { token: string; pending: number }[]) {
    const callbacks: Callbacks = {
      succeed: async (token) => {
        const task = await store.getTask(batchId, taskId);
        sink.push({ token, pending: task?.pendingDeps ?? -1 });
        return true;
      },
      fail: async () => true,
      heartbeat: async () => true,
    };
    return callbacks;
  }

  /** A stored batch of `k` dependencies d0..d(k-1) and one dependent `x` of them all: their ids. */
  async function dependentOfAll(
    prefix: string,
    k: number,
  ): Promise<{ batchId: string; deps: { id: string }[] }> {
    const batchId = uniqueId(prefix);
    const deps = Array.from({ length: k }, (_, i) => ({ id: `d${i}`, description: 'dep' }));
    const { batch, tasks } = batchOf(batchId, [
      ...deps,
      { id: 'x', description: 'dependent', dependsOn: deps.map((d) => d.id) },
    ]);
    await store.createBatch(batch, tasks);
    return { batchId, deps };
  }

  it('wakes the gate exactly once when Gate and every Complete race freely', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 6 }), fc.nat({ max: 6 }), async (k, gatePosition) => {
        const { batchId, deps } = await dependentOfAll('race', k);
        const answers: { token: string; pending: number }[] = [];
        const callbacks = recordingCallbacks(batchId, 'x', answers);
        const clock = new ManualClock();
        const completes = deps.map(
          (d) => () =>
            completeTask(
              { store, agents: registry, callbacks, clock },
              { batchId, taskId: d.id, outcome: 'SUCCEEDED' },
            ),
        );
        const gate = () => gateTask({ store, callbacks }, { batchId, taskId: 'x', taskToken: 'race-token' });
        const order: (() => Promise<unknown>)[] = [...completes];
        order.splice(Math.min(gatePosition, order.length), 0, gate);

        await Promise.all(order.map((run) => run()));

        expect(answers).toEqual([{ token: 'race-token', pending: 0 }]);
      }),
      { numRuns: 30 },
    );
  });

  /**
   * The README's words over the dependencies that finished (undefined: one has not finished): whether the
   * task runs, is skipped, or must still wait.
   */
  function expectedUnder(
    rule: TriggerRule,
    ends: readonly (DependencyOutcome | 'UNFINISHED')[],
  ): 'runs' | 'skipped' | 'waits' {
    const some = (o: DependencyOutcome) => ends.includes(o);
    if (rule === 'one_success' && some('SUCCEEDED')) return 'runs';
    if (ends.includes('UNFINISHED')) return 'waits';
    let runs: boolean;
    if (rule === 'all_success') runs = ends.every((o) => o === 'SUCCEEDED');
    else if (rule === 'all_done') runs = true;
    else if (rule === 'one_success') runs = false;
    else runs = !some('FAILED') && some('SUCCEEDED');
    return runs ? 'runs' : 'skipped';
  }

  it('answers the gate once, never early, and as its trigger rule says, in every interleaving of outcomes', async () => {
    const rules: TriggerRule[] = ['all_success', 'all_done', 'one_success', 'none_failed_min_one_success'];
    const ending = fc.constantFrom<'SUCCEEDED' | 'FAILED' | 'SKIPPED' | 'UNFINISHED'>(
      'SUCCEEDED',
      'FAILED',
      'SKIPPED',
      'UNFINISHED',
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...rules),
        fc.array(ending, { minLength: 1, maxLength: 4 }),
        fc.scheduler(),
        async (rule, ends, s) => {
          const batchId = uniqueId('rule');
          const deps = ends.map((_, i) => ({ id: `d${i}`, description: 'dep' }));
          const { batch, tasks } = batchOf(batchId, [
            ...deps,
            { id: 'x', description: 'dependent', dependsOn: deps.map((d) => d.id), trigger: rule },
          ]);
          await store.createBatch(batch, tasks);
          const answers: { output: GateOutput; pending: number; succeeded: number }[] = [];
          const callbacks: Callbacks = {
            succeed: async (_token, output) => {
              const task = await store.getTask(batchId, 'x');
              answers.push({
                output: output as GateOutput,
                pending: task?.pendingDeps ?? -1,
                succeeded: task?.succeededDeps ?? -1,
              });
              return true;
            },
            fail: async () => true,
            heartbeat: async () => true,
          };
          const scheduled = scheduledStore(s);
          const clock = new ManualClock();

          const work = Promise.all([
            gateTask({ store: scheduled, callbacks }, { batchId, taskId: 'x', taskToken: 'gate-token' }),
            ...deps.flatMap((d, i) => {
              const outcome = ends[i];
              if (outcome === undefined || outcome === 'UNFINISHED') return [];
              return [
                completeTask(
                  { store: scheduled, agents: registry, callbacks, clock },
                  { batchId, taskId: d.id, outcome },
                ),
              ];
            }),
          ]);
          await s.waitFor(work);

          const expected = expectedUnder(rule, ends);
          if (expected === 'waits') {
            expect(answers).toEqual([]);
            return;
          }
          expect(answers).toHaveLength(1);
          const [answer] = answers;
          expect(answer?.output.proceed).toBe(expected === 'runs');
          // Never early: every dependency had finished, or (one_success running) one had succeeded.
          if (rule === 'one_success' && answer?.output.proceed) expect(answer.succeeded).toBeGreaterThan(0);
          else expect(answer?.pending).toBe(0);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('wakes the gate exactly once, never early and never lost, in every interleaving', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 4 }), fc.scheduler(), async (k, s) => {
        const { batchId, deps } = await dependentOfAll('gate', k);
        const answers: { token: string; pending: number }[] = [];
        const callbacks = recordingCallbacks(batchId, 'x', answers);
        const scheduled = scheduledStore(s);
        const clock = new ManualClock();

        const work = Promise.all([
          gateTask({ store: scheduled, callbacks }, { batchId, taskId: 'x', taskToken: 'gate-token' }),
          ...deps.map((d) =>
            completeTask(
              { store: scheduled, agents: registry, callbacks, clock },
              { batchId, taskId: d.id, outcome: 'SUCCEEDED' },
            ),
          ),
        ]);
        await s.waitFor(work);

        expect(answers).toEqual([{ token: 'gate-token', pending: 0 }]);
      }),
      { numRuns: 40 },
    );
  });

  it('never loses the wake when Completes fail answering and Step Functions runs them again', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
        fc.scheduler(),
        async (k, failing, s) => {
          const { batchId, deps } = await dependentOfAll('retry', k);
          // As Step Functions answers: the first answer of a token is taken, any later one refused.
          const answers: { token: string; pending: number }[] = [];
          const recording = recordingCallbacks(batchId, 'x', answers);
          const answered = new Set<string>();
          const sfn: Callbacks = {
            ...recording,
            succeed: async (token, output) => {
              if (answered.has(token)) return false;
              answered.add(token);
              return recording.succeed(token, output);
            },
          };
          // A run whose answer fails (after the SDK's retries), then its Complete is run again.
          const throwing: Callbacks = {
            ...sfn,
            succeed: async () => {
              throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
            },
          };
          const scheduled = scheduledStore(s);
          const clock = new ManualClock();
          const complete = (taskId: string, callbacks: Callbacks) =>
            completeTask(
              { store: scheduled, agents: registry, callbacks, clock },
              { batchId, taskId, outcome: 'SUCCEEDED' },
            );

          const work = Promise.all([
            gateTask({ store: scheduled, callbacks: sfn }, { batchId, taskId: 'x', taskToken: 'gate-token' }),
            ...deps.map((d, i) =>
              failing[i]
                ? complete(d.id, throwing).then(
                    () => undefined,
                    () => complete(d.id, sfn),
                  )
                : complete(d.id, sfn),
            ),
          ]);
          await s.waitFor(work);

          expect(answers).toEqual([{ token: 'gate-token', pending: 0 }]);
        },
      ),
      { numRuns: 60 },
    );
  });
});
