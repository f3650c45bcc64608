/**
 * Capacity hand-off (usecases/handoff.ts) against dynalite: the Complete of a successful attempt gives its
 * slot to the longest-waiting task parked for the role, reserved on its behalf (the lease moves, `reserved`
 * never drops), its attempt started and its token answered with the DISPATCH, so it never routes again.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DynamoAgentRegistry } from '../../../shared/adapters/dynamodb/agent-registry';
import { DynamoBudgetLedger } from '../../../shared/adapters/dynamodb/budget-ledger';
import { documentClient } from '../../../shared/adapters/dynamodb/client';
import { DynamoTaskStore } from '../../../shared/adapters/dynamodb/task-store';
import { holdKey } from '../../../shared/domain/budget';
import { leaseKey } from '../../../shared/domain/pool';
import { BUILTIN_ROLES, resolveRoles } from '../../../shared/domain/roles';
import type { Task } from '../../../shared/domain/schemas';
import { CAPACITY_WAIT_SECONDS, WOKEN } from '../../../shared/domain/workflow';
import type { Callbacks } from '../../../shared/ports';
import { RouteLane } from '../../../shared/usecases/common';
import { type CompleteDeps, completeTask } from '../../../shared/usecases/complete';
import { gateTask } from '../../../shared/usecases/gate';
import { offerSlot } from '../../../shared/usecases/handoff';
import { recordAttempt } from '../../../shared/usecases/record-attempt';
import {
  type KnownState,
  ParkedHints,
  parkTask,
  type RouteDeps,
  routeTask,
  wakeParked,
} from '../../../shared/usecases/route';
import { type LocalDynamo, startDynalite } from '../../support/dynalite';
import { agentOf, batchOf, ManualClock, recordingCallbacks, uniqueId } from '../../support/fixtures';

let dynamo: LocalDynamo;
let store: DynamoTaskStore;
let agents: DynamoAgentRegistry;
let ledger: DynamoBudgetLedger;
const clock = new ManualClock();

beforeAll(async () => {
  dynamo = await startDynalite();
  const doc = documentClient(dynamo.client);
  store = new DynamoTaskStore(dynamo.tasksTable, doc);
  agents = new DynamoAgentRegistry(dynamo.agentsTable, doc);
  ledger = new DynamoBudgetLedger(dynamo.tasksTable, doc);
});

afterAll(async () => {
  await dynamo.stop();
});

let roleCounter = 0;
/**
 * A role of its own (agents share one table) with `agents` agents of `capacity` slots, every slot taken by a
 * routed task; the router counts its calls.
 */
async function fullRole(capacity: number, agentCount: number) {
  const base = BUILTIN_ROLES[0];
  if (!base) throw new Error('no built-in roles');
  const name = `handoff_role_${++roleCounter}_${Math.random().toString(36).slice(2, 6)}`;
  const catalog = resolveRoles([
    { ...base, name, defaults: { ...base.defaults, capacity, maxAgents: agentCount } },
  ]);
  const hints = new ParkedHints();
  const routes: string[] = [];
  const dispatch = {
    catalog,
    roleQueueUrls: { [name]: `https://sqs.local/${name}` },
    heartbeatSeconds: 60,
    hints,
  };
  const routeDeps: RouteDeps = { store, agents, clock, ...dispatch };
  const route = (batchId: string, taskId: string) => {
    routes.push(taskId);
    return routeTask(routeDeps, { batchId, taskId });
  };
  for (let i = 1; i <= agentCount; i++)
    await agents.put(agentOf('python_backend_coder', `${name}-${i}`, { role: name, capacity }));
  return { name, catalog, hints, dispatch, routeDeps, route, routes };
}

async function createBatch(tasks: Task[], maxTokens?: number) {
  const batchId = uniqueId();
  const { batch, tasks: stored } = batchOf(batchId, tasks);
  await store.createBatch(maxTokens === undefined ? batch : { ...batch, budget: { maxTokens } }, stored);
  if (maxTokens !== undefined) await ledger.open(batchId, { maxTokens });
  return batchId;
}

const tasksOf = (role: string, ids: string[], extra: Partial<Task> = {}): Task[] =>
  ids.map((id) => ({ id, description: 'write an endpoint', role, ...extra }));

/** A role of one slot, taken by the task 'runs'; 'late' found it taken and waits (marked, not parked). */
async function lateWaiting() {
  const role = await fullRole(1, 1);
  const batchId = await createBatch(tasksOf(role.name, ['runs', 'late']));
  expect(await role.route(batchId, 'runs')).toMatchObject({ decision: 'DISPATCH' });
  expect(await role.route(batchId, 'late')).toMatchObject({ decision: 'WAIT' });
  return { role, batchId, agentId: `${role.name}-1` };
}

/** Records each call of `name` on `target` in `calls`, then makes it (until the answer's mockRestore). */
function recordCalls<T extends object>(
  calls: string[],
  target: T,
  name: keyof T & string,
): { mockRestore(): void } {
  const original = (target[name] as (...args: unknown[]) => unknown).bind(target);
  const spy = vi.spyOn(target as Record<string, (...args: unknown[]) => unknown>, name);
  return spy.mockImplementation((...args: unknown[]) => {
    calls.push(name);
    return original(...args);
  });
}

/**
 * A batch whose task `dep`, of `own`'s role, is dispatched and whose `next` and `other`, of `dependents`' role,
 * wait on it with their gates armed (tokens `gate-next` and `gate-other`).
 */
async function gatedDependents(own: { name: string; route: RouteOf }, dependents: { name: string }) {
  const batchId = await createBatch([
    ...tasksOf(own.name, ['dep']),
    ...tasksOf(dependents.name, ['next', 'other'], { dependsOn: ['dep'] }),
  ]);
  expect(await own.route(batchId, 'dep')).toMatchObject({ decision: 'DISPATCH' });
  const { answers, callbacks } = recordingCallbacks();
  for (const taskId of ['next', 'other'])
    await gateTask({ store, callbacks }, { batchId, taskId, taskToken: `gate-${taskId}` });
  return { batchId, answers, callbacks };
}

type FullRole = Awaited<ReturnType<typeof fullRole>>;

/**
 * The hand-off of a Complete on an agent of `own` whose dependents are of role `other`: it routes them, with
 * both roles' queues, and the parked-task hints given.
 */
function handOffAcross(own: FullRole, other: FullRole, hints?: ParkedHints) {
  return {
    ...other.dispatch,
    ...(hints ? { hints } : {}),
    roleQueueUrls: { ...own.dispatch.roleQueueUrls, ...other.dispatch.roleQueueUrls },
    routeDependents: true,
  };
}

type RouteOf = (batchId: string, taskId: string) => Promise<unknown>;

describe('capacity hand-off', () => {
  it('gives a freed slot to the longest-waiting parked task: reserved once, dispatched, never routed again', async () => {
    const role = await fullRole(1, 1);
    const batchId = await createBatch(tasksOf(role.name, ['runs', 'first', 'second']));
    expect(await role.route(batchId, 'runs')).toMatchObject({ decision: 'DISPATCH' });
    // 'first' has waited twice, 'second' once: 'first' is the longest waiting.
    for (const taskId of ['second', 'first', 'first'])
      expect(await role.route(batchId, taskId)).toMatchObject({ decision: 'WAIT' });
    for (const taskId of ['first', 'second'])
      await parkTask(role.routeDeps, { batchId, taskId, role: role.name, taskToken: `park-${taskId}` });
    const routesBefore = role.routes.length;
    const { answers, callbacks } = recordingCallbacks();
    const deps: CompleteDeps = { store, agents, callbacks, clock, handOff: role.dispatch };

    await completeTask(deps, { batchId, taskId: 'runs', outcome: 'SUCCEEDED' });

    const agentId = `${role.name}-1`;
    expect(answers).toEqual([
      {
        token: 'park-first',
        output: expect.objectContaining({ decision: 'DISPATCH', agentId, attempt: 1, role: role.name }),
      },
    ]);
    // The router was not asked again: the decision came with the token.
    expect(role.routes).toHaveLength(routesBefore);
    const first = await store.getTask(batchId, 'first');
    expect(first).toMatchObject({ status: 'RUNNING', attemptCount: 1, agentId });
    expect(first?.decision).toMatchObject({ agentId, role: role.name, spawned: false });
    // The slot never went back: one reservation, now under the handed-over attempt's lease.
    const agent = await agents.get(agentId);
    expect(agent).toMatchObject({ reserved: 1, successes: 1 });
    expect(agent?.leases).toEqual({ [leaseKey(batchId, 'first', 1)]: expect.any(Number) });
    // The dispatched task's waiting mark is gone; 'second' is still parked for the next release.
    expect(Object.keys(await agents.waitingMarks(role.name))).toEqual([`${batchId}#second`]);
    expect(await agents.takeParked(role.name)).toEqual({ token: 'park-second', key: `${batchId}#second` });
  });

  it('hands a slot to a task that asked for capacity but has not parked yet: its park answers itself with the DISPATCH', async () => {
    const { role, batchId, agentId } = await lateWaiting();
    const { answers, callbacks } = recordingCallbacks();

    await completeTask(
      { store, agents, callbacks, clock, handOff: role.dispatch },
      { batchId, taskId: 'runs', outcome: 'SUCCEEDED' },
    );
    const afterRelease = [...answers];
    const park = await parkTask(
      { ...role.routeDeps, callbacks },
      { batchId, taskId: 'late', role: role.name, taskToken: 'park-late' },
    );

    expect(afterRelease).toEqual([]);
    expect(park).toEqual({ parked: false, handedOver: true });
    expect(answers).toEqual([
      { token: 'park-late', output: expect.objectContaining({ decision: 'DISPATCH', agentId, attempt: 1 }) },
    ]);
    expect(role.routes.filter((t) => t === 'late')).toHaveLength(1);
    expect(await agents.get(agentId)).toMatchObject({
      reserved: 1,
      leases: { [leaseKey(batchId, 'late', 1)]: expect.any(Number) },
    });
  });

  it('offers a freed slot to the waiter holding up the most work first: priority, then the chain of dependents ahead', async () => {
    const role = await fullRole(1, 1);
    const batchId = await createBatch([
      ...tasksOf(role.name, ['runs', 'shallow', 'deep', 'urgent']).map((t) =>
        t.id === 'urgent' ? { ...t, priority: 1 as const } : t,
      ),
      // Two tasks wait on 'deep' one after the other: a chain of two ahead of it.
      ...tasksOf(role.name, ['next'], { dependsOn: ['deep'] }),
      ...tasksOf(role.name, ['last'], { dependsOn: ['next'] }),
    ]);
    expect(await role.route(batchId, 'runs')).toMatchObject({ decision: 'DISPATCH' });
    // They begin to wait a second apart, the shallow one first.
    for (const taskId of ['shallow', 'deep', 'urgent']) {
      expect(await role.route(batchId, taskId)).toMatchObject({ decision: 'WAIT' });
      clock.advance(1_000);
    }

    const order = [];
    for (let i = 0; i < 3; i++) order.push((await agents.claimWaiting(role.name, clock.now()))?.key);

    expect(order).toEqual([`${batchId}#urgent`, `${batchId}#deep`, `${batchId}#shallow`]);
  });

  it('offers a freed slot to the waiter with the most estimated work ahead, before a longer chain of short tasks', async () => {
    const role = await fullRole(1, 1);
    const simulated = (durationMs: number): Partial<Task> => ({ input: { simulate: { durationMs } } });
    const batchId = await createBatch([
      ...tasksOf(role.name, ['runs']),
      ...tasksOf(role.name, ['short', 'long'], simulated(10)),
      // Two short tasks after 'short' (30 ms of work on its chain), one long task after 'long' (610 ms).
      ...tasksOf(role.name, ['s1'], { dependsOn: ['short'], ...simulated(10) }),
      ...tasksOf(role.name, ['s2'], { dependsOn: ['s1'], ...simulated(10) }),
      ...tasksOf(role.name, ['l1'], { dependsOn: ['long'], ...simulated(600) }),
    ]);
    expect(await role.route(batchId, 'runs')).toMatchObject({ decision: 'DISPATCH' });
    // 'short' begins to wait a second before 'long', and has the longer chain of dependents ahead.
    for (const taskId of ['short', 'long']) {
      expect(await role.route(batchId, taskId)).toMatchObject({ decision: 'WAIT' });
      clock.advance(1_000);
    }

    const order = [];
    for (let i = 0; i < 2; i++) order.push((await agents.claimWaiting(role.name, clock.now()))?.key);

    expect(order).toEqual([`${batchId}#long`, `${batchId}#short`]);
  });

  it('wakes a task at once whose mark a release claimed before it parked but has not dispatched it (no 30 s stall)', async () => {
    const role = await fullRole(1, 1);
    const batchId = await createBatch(tasksOf(role.name, ['runs', 'late', 'pruned']));
    expect(await role.route(batchId, 'runs')).toMatchObject({ decision: 'DISPATCH' });
    for (const taskId of ['late', 'pruned'])
      expect(await role.route(batchId, taskId)).toMatchObject({ decision: 'WAIT' });
    const { answers, callbacks } = recordingCallbacks();
    // A release's claim lands between the task's WAIT and its park, before the release starts the attempt;
    // the other task's mark is pruned (the scaler) before it parks.
    expect(await agents.claimWaiting(role.name, clock.now())).toMatchObject({
      key: `${batchId}#late`,
    });
    await agents.clearWaiting(role.name, [`${batchId}#pruned`]);

    for (const taskId of ['late', 'pruned'])
      expect(
        await parkTask(
          { ...role.routeDeps, callbacks },
          { batchId, taskId, role: role.name, taskToken: `park-${taskId}` },
        ),
      ).toEqual({ parked: false, woken: true });

    expect(answers).toEqual([
      { token: 'park-late', output: WOKEN },
      { token: 'park-pruned', output: WOKEN },
    ]);
  });

  it('answers a parked token with the dispatch when the attempt started while the task marked itself waiting again', async () => {
    const { role, batchId, agentId } = await lateWaiting();
    await completeTask(
      { store, agents, callbacks: recordingCallbacks().callbacks, clock },
      { batchId, taskId: 'runs', outcome: 'SUCCEEDED' },
    );
    // A release starts the task's attempt (here its own route does) while the task, woken, has marked itself
    // waiting once more: its park lands on that mark, with the attempt already running.
    expect(await role.route(batchId, 'late')).toMatchObject({ decision: 'DISPATCH', agentId });
    await agents.markWaiting(role.name, `${batchId}#late`, clock.now());
    const { answers, callbacks } = recordingCallbacks();

    expect(
      await parkTask(
        { ...role.routeDeps, callbacks },
        { batchId, taskId: 'late', role: role.name, taskToken: 'park-late' },
      ),
    ).toEqual({ parked: false, handedOver: true });
    expect(answers).toEqual([
      { token: 'park-late', output: expect.objectContaining({ decision: 'DISPATCH', agentId, attempt: 1 }) },
    ]);
    expect(await agents.takeParked(role.name)).toBeUndefined();
  });

  it('answers a token parked while a hand-off that claimed the unparked mark was starting the attempt (no 60 s stall)', async () => {
    const { role, batchId, agentId } = await lateWaiting();
    const { answers, callbacks } = recordingCallbacks();
    // The release claims the mark of 'late' before it parks. While the release moves the slot, 'late' parks
    // (refused: claimed), is woken, routes again (every slot still taken: WAIT, the claim dropped) and parks
    // again, before the release has written the attempt: its park finds no attempt and stays parked.
    const steps: unknown[] = [];
    const handOffAgents = Object.create(agents) as typeof agents;
    handOffAgents.transferLease = async (...args) => {
      const late = { batchId, taskId: 'late', role: role.name };
      const parkDeps = { ...role.routeDeps, callbacks };
      steps.push(await parkTask(parkDeps, { ...late, taskToken: 'park-1' }));
      steps.push((await role.route(batchId, 'late')).decision);
      steps.push(await parkTask(parkDeps, { ...late, taskToken: 'park-2' }));
      return agents.transferLease(...args);
    };

    await completeTask(
      { store, agents: handOffAgents, callbacks, clock, handOff: role.dispatch },
      { batchId, taskId: 'runs', outcome: 'SUCCEEDED' },
    );

    expect(steps).toEqual([{ parked: false, woken: true }, 'WAIT', { parked: true }]);
    // The attempt the release started is the answer to the token parked meanwhile: not its wait's timeout.
    expect(answers).toEqual([
      { token: 'park-1', output: WOKEN },
      { token: 'park-2', output: expect.objectContaining({ decision: 'DISPATCH', agentId, attempt: 1 }) },
    ]);
    expect(await store.getTask(batchId, 'late')).toMatchObject({ status: 'RUNNING', attemptCount: 1 });
    expect(await agents.takeParked(role.name)).toBeUndefined();
  });

  it('gives a claimed mark back when the hand-off declines, so the task parks as before', async () => {
    const { role, batchId } = await lateWaiting();
    await store.updateBatch(batchId, { cancelRequested: true, cancelReason: 'cancelled by the user' });
    const { callbacks } = recordingCallbacks();

    await completeTask(
      { store, agents, callbacks, clock, handOff: role.dispatch },
      { batchId, taskId: 'runs', outcome: 'SUCCEEDED' },
    );

    expect(
      await parkTask(role.routeDeps, { batchId, taskId: 'late', role: role.name, taskToken: 'park-late' }),
    ).toEqual({ parked: true });
    expect(await agents.get(`${role.name}-1`)).toMatchObject({ reserved: 0 });
  });

  it('skips a parked token whose wait timed out (its task routes again already) and hands the slot to the next', async () => {
    const role = await fullRole(1, 1);
    const batchId = await createBatch(tasksOf(role.name, ['runs', 'timedOut', 'live']));
    expect(await role.route(batchId, 'runs')).toMatchObject({ decision: 'DISPATCH' });
    for (const taskId of ['timedOut', 'timedOut', 'live'])
      expect(await role.route(batchId, taskId)).toMatchObject({ decision: 'WAIT' });
    for (const taskId of ['timedOut', 'live'])
      await parkTask(role.routeDeps, { batchId, taskId, role: role.name, taskToken: `park-${taskId}` });
    const { answers, callbacks } = recordingCallbacks();
    const beats: string[] = [];
    callbacks.heartbeat = async (token) => {
      beats.push(token);
      return token !== 'park-timedOut';
    };

    await completeTask(
      { store, agents, callbacks, clock, handOff: role.dispatch },
      { batchId, taskId: 'runs', outcome: 'SUCCEEDED' },
    );

    expect(beats).toEqual(['park-timedOut', 'park-live']);
    expect(answers).toEqual([
      { token: 'park-live', output: expect.objectContaining({ decision: 'DISPATCH', attempt: 1 }) },
    ]);
    expect(await store.getTask(batchId, 'timedOut')).toMatchObject({ attemptCount: 0 });
    expect(await store.getTask(batchId, 'live')).toMatchObject({ status: 'RUNNING', attemptCount: 1 });
  });

  it('hands the slot to a parked token whose heartbeat fails with an error, rather than leaving it off its mark', async () => {
    const role = await fullRole(1, 1);
    const batchId = await createBatch(tasksOf(role.name, ['runs', 'parked']));
    expect(await role.route(batchId, 'runs')).toMatchObject({ decision: 'DISPATCH' });
    expect(await role.route(batchId, 'parked')).toMatchObject({ decision: 'WAIT' });
    await parkTask(role.routeDeps, { batchId, taskId: 'parked', role: role.name, taskToken: 'park-parked' });
    const { answers, callbacks } = recordingCallbacks();
    callbacks.heartbeat = async () => {
      throw new Error('ThrottlingException');
    };

    await completeTask(
      { store, agents, callbacks, clock, handOff: role.dispatch },
      { batchId, taskId: 'runs', outcome: 'SUCCEEDED' },
    );

    expect(answers).toEqual([
      { token: 'park-parked', output: expect.objectContaining({ decision: 'DISPATCH', attempt: 1 }) },
    ]);
    expect(await store.getTask(batchId, 'parked')).toMatchObject({ status: 'RUNNING', attemptCount: 1 });
  });

  it('hands each of two concurrent releases a different parked task, longest waiting first, never over capacity', async () => {
    const role = await fullRole(2, 1);
    const batchId = await createBatch(tasksOf(role.name, ['a', 'b', 'w1', 'w2', 'w3']));
    for (const taskId of ['a', 'b'])
      expect(await role.route(batchId, taskId)).toMatchObject({ decision: 'DISPATCH' });
    // w3 waited once, w2 twice, w1 three times.
    for (const taskId of ['w1', 'w1', 'w1', 'w2', 'w2', 'w3'])
      expect(await role.route(batchId, taskId)).toMatchObject({ decision: 'WAIT' });
    for (const taskId of ['w3', 'w2', 'w1'])
      await parkTask(role.routeDeps, { batchId, taskId, role: role.name, taskToken: `park-${taskId}` });
    const { answers, callbacks } = recordingCallbacks();
    const deps: CompleteDeps = { store, agents, callbacks, clock, handOff: role.dispatch };

    await Promise.all(
      ['a', 'b'].map((taskId) => completeTask(deps, { batchId, taskId, outcome: 'SUCCEEDED' })),
    );

    expect(answers.map((a) => a.token).sort()).toEqual(['park-w1', 'park-w2']);
    expect(answers.every((a) => (a.output as { decision: string }).decision === 'DISPATCH')).toBe(true);
    const agent = await agents.get(`${role.name}-1`);
    expect(agent?.reserved).toBe(2);
    expect(Object.keys(agent?.leases ?? {}).sort()).toEqual(
      [leaseKey(batchId, 'w1', 1), leaseKey(batchId, 'w2', 1)].sort(),
    );
    for (const taskId of ['w1', 'w2'])
      expect(await store.getTask(batchId, taskId)).toMatchObject({ status: 'RUNNING', attemptCount: 1 });
    expect(await store.getTask(batchId, 'w3')).toMatchObject({ attemptCount: 0 });
  });

  it("holds the attempt's worst case against the batch's budget, and hands nothing over when the budget says wait", async () => {
    const limit = 10_000_000;
    const handOver = async (othersHold: boolean) => {
      const role = await fullRole(1, 1);
      const deps = { ...role.routeDeps, budget: { ledger } };
      const batchId = await createBatch(tasksOf(role.name, ['runs', 'next']), limit);
      expect(await routeTask(deps, { batchId, taskId: 'runs' })).toMatchObject({ decision: 'DISPATCH' });
      expect(await routeTask(deps, { batchId, taskId: 'next' })).toMatchObject({ decision: 'WAIT' });
      await parkTask(deps, { batchId, taskId: 'next', role: role.name, taskToken: 'park-next' });
      // Another attempt holds all but one token of what is left: 'next' could fit only once it settles.
      const held = (await ledger.get(batchId))?.reserved.tokens ?? 0;
      if (othersHold) await ledger.reserve(batchId, 'other#1', { nanoUsd: 0, tokens: limit - held - 1 });
      const { answers, callbacks } = recordingCallbacks();
      await completeTask(
        { store, agents, callbacks, clock, ledger, handOff: { ...role.dispatch, budget: { ledger } } },
        { batchId, taskId: 'runs', outcome: 'SUCCEEDED' },
      );
      return {
        batchId,
        answers: answers.map((a) => (a.output as { decision?: string }).decision),
        next: await store.getTask(batchId, 'next'),
        agent: await agents.get(`${role.name}-1`),
        marks: Object.keys(await agents.waitingMarks(role.name)),
        waitingFor: Object.values(await agents.waitingMarks(role.name)).map((m) => m.waitingFor),
      };
    };

    const fits = await handOver(false);
    const waits = await handOver(true);

    expect(fits.answers).toEqual(['DISPATCH']);
    const hold = fits.next?.attempts[0]?.held;
    expect(hold?.tokens).toBeGreaterThan(0);
    // The hold stands under the attempt's key: a second hold of that key answers it, holding nothing more.
    expect(await ledger.reserve(fits.batchId, holdKey('next', 1), { nanoUsd: 0, tokens: 1 })).toEqual({
      held: hold,
    });
    expect(fits.agent).toMatchObject({ reserved: 1 });
    // Routed on its behalf, its budget still says wait: it is marked waiting again and its token goes back on
    // the mark (a park that failed would have woken it), to wait out its budget wait or the next release.
    expect(waits.answers).toEqual([]);
    expect(waits.marks).toEqual([`${waits.batchId}#next`]);
    // ... as waiting for budget, which the scaler does not count as backlog (an agent more would not run it).
    expect(waits.waitingFor).toEqual(['budget']);
    expect(waits.next?.attemptCount).toBe(0);
    expect(waits.agent).toMatchObject({ reserved: 0, leases: {} });
  });

  it('does not hand a slot to a task that needs an approval before dispatch: the slot goes back, its token gets the APPROVAL', async () => {
    const role = await fullRole(1, 1);
    const batchId = await createBatch([
      ...tasksOf(role.name, ['runs']),
      ...tasksOf(role.name, ['gated'], { approval: { before: true } }),
    ]);
    expect(await role.route(batchId, 'runs')).toMatchObject({ decision: 'DISPATCH' });
    // Parked as a task that asked for capacity would be (its Route answers APPROVAL, so only by hand).
    await agents.markWaiting(role.name, `${batchId}#gated`, clock.now());
    await parkTask(role.routeDeps, { batchId, taskId: 'gated', role: role.name, taskToken: 'park-gated' });
    const { answers, callbacks } = recordingCallbacks();

    await completeTask(
      { store, agents, callbacks, clock, handOff: role.dispatch },
      { batchId, taskId: 'runs', outcome: 'SUCCEEDED' },
    );

    // Routed on its behalf with the slot free: Route's answer (wait for the approval), no Route state of its own.
    expect(answers).toEqual([
      { token: 'park-gated', output: expect.objectContaining({ decision: 'APPROVAL', stage: 'before' }) },
    ]);
    expect(await store.getTask(batchId, 'gated')).toMatchObject({ attemptCount: 0 });
    expect(await agents.waitingMarks(role.name)).toEqual({});
    expect(await agents.get(`${role.name}-1`)).toMatchObject({ reserved: 0, leases: {} });
  });

  it("does not hand a task's slot to a parked review: its task's attempt awaits the verdict, not a new attempt", async () => {
    const role = await fullRole(1, 1);
    const batchId = await createBatch(tasksOf(role.name, ['runs', 'reviewed']));
    expect(await role.route(batchId, 'runs')).toMatchObject({ decision: 'DISPATCH' });
    // The output of 'reviewed' waits for a validator of this role (WaitForReviewer parks under the same marks).
    await store.setTaskStatus(batchId, 'reviewed', 'AWAITING_APPROVAL');
    await agents.markWaiting(role.name, `${batchId}#reviewed`, clock.now());
    await parkTask(role.routeDeps, {
      batchId,
      taskId: 'reviewed',
      role: role.name,
      taskToken: 'park-review',
    });
    const { answers, callbacks } = recordingCallbacks();

    await completeTask(
      { store, agents, callbacks, clock, handOff: role.dispatch },
      { batchId, taskId: 'runs', outcome: 'SUCCEEDED' },
    );

    expect(answers).toEqual([{ token: 'park-review', output: WOKEN }]);
    expect(await store.getTask(batchId, 'reviewed')).toMatchObject({
      status: 'AWAITING_APPROVAL',
      attemptCount: 0,
    });
    expect(await agents.get(`${role.name}-1`)).toMatchObject({ reserved: 0, leases: {} });
  });

  it('does not hand a slot to a task of a cancelled batch', async () => {
    const role = await fullRole(1, 1);
    const batchId = await createBatch(tasksOf(role.name, ['runs', 'waits']));
    expect(await role.route(batchId, 'runs')).toMatchObject({ decision: 'DISPATCH' });
    expect(await role.route(batchId, 'waits')).toMatchObject({ decision: 'WAIT' });
    await parkTask(role.routeDeps, { batchId, taskId: 'waits', role: role.name, taskToken: 'park-waits' });
    const { answers, callbacks } = recordingCallbacks();
    // Cancel asked while 'runs' finishes (cancelBatch's first write).
    await store.updateBatch(batchId, { cancelRequested: true, cancelReason: 'cancelled by the user' });

    await completeTask(
      { store, agents, callbacks, clock, handOff: role.dispatch },
      { batchId, taskId: 'runs', outcome: 'SUCCEEDED' },
    );

    expect(answers.filter((a) => a.token === 'park-waits')).toEqual([
      { token: 'park-waits', output: { decision: 'STOP', reason: 'batch cancelled' } },
    ]);
    expect((await store.getTask(batchId, 'waits'))?.attemptCount).toBe(0);
    expect((await agents.get(`${role.name}-1`))?.reserved).toBe(0);
  });

  it('does not hand over the slot of an agent a task failed on before: routed on its behalf, it takes it only when nothing else is free', async () => {
    const role = await fullRole(1, 1);
    const agentId = `${role.name}-1`;
    const batchId = await createBatch(tasksOf(role.name, ['runs', 'retry']));
    // 'retry' failed once on the agent, then found it busy with 'runs'.
    expect(await role.route(batchId, 'retry')).toMatchObject({ decision: 'DISPATCH', agentId });
    await store.finishAttempt(batchId, 'retry', 1, { status: 'FAILED', at: clock.now(), error: 'boom' });
    await agents.release(agentId, clock.now(), leaseKey(batchId, 'retry', 1));
    await store.setTaskStatus(batchId, 'retry', 'READY');
    expect(await role.route(batchId, 'runs')).toMatchObject({ decision: 'DISPATCH', agentId });
    expect(await role.route(batchId, 'retry')).toMatchObject({ decision: 'WAIT' });
    await parkTask(role.routeDeps, { batchId, taskId: 'retry', role: role.name, taskToken: 'park-retry' });
    const { answers, callbacks } = recordingCallbacks();

    await completeTask(
      { store, agents, callbacks, clock, handOff: role.dispatch },
      { batchId, taskId: 'runs', outcome: 'SUCCEEDED' },
    );

    // Route's rule: an agent the task failed on is tried again when no other is free (none is here).
    expect(answers).toEqual([
      { token: 'park-retry', output: expect.objectContaining({ decision: 'DISPATCH', agentId, attempt: 2 }) },
    ]);
    expect(await agents.get(agentId)).toMatchObject({
      reserved: 1,
      leases: { [leaseKey(batchId, 'retry', 2)]: expect.any(Number) },
    });
  });

  it('releases the slot as before when nobody is parked', async () => {
    const role = await fullRole(1, 1);
    const batchId = await createBatch(tasksOf(role.name, ['runs']));
    expect(await role.route(batchId, 'runs')).toMatchObject({ decision: 'DISPATCH' });
    const { answers, callbacks } = recordingCallbacks();

    await completeTask(
      { store, agents, callbacks, clock, handOff: role.dispatch },
      { batchId, taskId: 'runs', outcome: 'SUCCEEDED' },
    );

    expect(answers).toEqual([]);
    expect(await agents.get(`${role.name}-1`)).toMatchObject({ reserved: 0, leases: {}, successes: 1 });
  });
});

/**
 * `registry` with `method` running `hook` on its first call only, to put another use case's writes exactly
 * between two steps of the one under test: before the call, or (`after`) between its read and its answer;
 * `ran` tells whether it did.
 */
function hookedOnce(
  registry: DynamoAgentRegistry,
  method: 'markWaiting' | 'recordOutcome' | 'reserve' | 'claimWaiting' | 'takeParked',
  hook: () => Promise<void>,
  when: 'before' | 'after' = 'before',
) {
  let ran = false;
  const wrapped = Object.create(registry) as DynamoAgentRegistry;
  const original = registry[method].bind(registry) as (...args: unknown[]) => Promise<unknown>;
  const once = async () => {
    if (ran) return;
    ran = true;
    await hook();
  };
  Object.assign(wrapped, {
    [method]: async (...args: unknown[]) => {
      if (when === 'before') await once();
      const answer = await original(...args);
      if (when === 'after') await once();
      return answer;
    },
  });
  return { registry: wrapped, ran: () => ran };
}

describe('no lost wake-up: no task waits while a slot of its role is free', () => {
  for (const look of ['offerSlot', 'wakeParked'] as const) {
    it(`remembers a park that landed while ${look} looked and found nobody: the next wake finds it`, async () => {
      const role = await fullRole(1, 1);
      const batchId = await createBatch(tasksOf(role.name, ['runs', 'late']));
      expect(await role.route(batchId, 'runs')).toMatchObject({ decision: 'DISPATCH' });
      // As on the embedded runtime: every park passes through these hints, so a role found empty stays so.
      const letGo = role.hints.holdWhileEveryParkIsHere();
      const { answers, callbacks } = recordingCallbacks();
      const deps = { ...role.routeDeps, callbacks };
      // 'late' finds the agent busy, marks itself waiting and parks after the look read the marks.
      const racing = hookedOnce(
        agents,
        look === 'offerSlot' ? 'claimWaiting' : 'takeParked',
        async () => {
          expect(await role.route(batchId, 'late')).toMatchObject({ decision: 'WAIT' });
          await parkTask(deps, { batchId, taskId: 'late', role: role.name, taskToken: 'park-late' });
        },
        'after',
      );

      const found =
        look === 'offerSlot'
          ? await offerSlot({ ...deps, agents: racing.registry }, role.name)
          : await wakeParked({ ...deps, agents: racing.registry }, role.name);
      // Slots gained (an operator's PUT /agents): the parked task is woken, not left to its 30 s wait.
      const woken = await wakeParked(deps, role.name);
      letGo();

      expect(racing.ran()).toBe(true);
      expect(found).toBe(false);
      expect(woken).toBe(true);
      expect(answers).toEqual([{ token: 'park-late', output: WOKEN }]);
    });
  }

  it('gives a route the slot freed between its look at the pool and its waiting mark', async () => {
    const role = await fullRole(1, 1);
    const agentId = `${role.name}-1`;
    const batchId = await createBatch(tasksOf(role.name, ['runs', 'late']));
    expect(await role.route(batchId, 'runs')).toMatchObject({ decision: 'DISPATCH' });
    const { answers, callbacks } = recordingCallbacks();
    // 'late' found the agent busy; 'runs' ends before its mark is written: the release finds no mark.
    const racing = hookedOnce(agents, 'markWaiting', async () => {
      await completeTask(
        { store, agents, callbacks, clock, handOff: role.dispatch },
        { batchId, taskId: 'runs', outcome: 'SUCCEEDED' },
      );
    });

    const output = await routeTask(
      { ...role.routeDeps, agents: racing.registry },
      { batchId, taskId: 'late' },
    );

    expect(racing.ran()).toBe(true);
    expect(answers).toEqual([]);
    expect(output).toMatchObject({ decision: 'DISPATCH', agentId, attempt: 1 });
    expect(await store.getTask(batchId, 'late')).toMatchObject({ status: 'RUNNING', attemptCount: 1 });
    expect(await agents.waitingMarks(role.name)).toEqual({});
    expect(await agents.get(agentId)).toMatchObject({
      reserved: 1,
      leases: { [leaseKey(batchId, 'late', 1)]: expect.any(Number) },
    });
  });

  it('gives the slot a release frees to a task that marked itself waiting after that release looked', async () => {
    const role = await fullRole(1, 1);
    const agentId = `${role.name}-1`;
    const batchId = await createBatch(tasksOf(role.name, ['runs', 'late']));
    expect(await role.route(batchId, 'runs')).toMatchObject({ decision: 'DISPATCH' });
    const { answers, callbacks } = recordingCallbacks();
    // The release of 'runs' looked for waiters (none yet); before its slot goes back, 'late' routes (the agent
    // still busy at both its looks), waits and parks.
    const racing = hookedOnce(agents, 'recordOutcome', async () => {
      expect(await role.route(batchId, 'late')).toMatchObject({ decision: 'WAIT' });
      expect(
        await parkTask(role.routeDeps, { batchId, taskId: 'late', role: role.name, taskToken: 'park-late' }),
      ).toEqual({ parked: true });
    });

    await completeTask(
      { store, agents: racing.registry, callbacks, clock, handOff: role.dispatch },
      { batchId, taskId: 'runs', outcome: 'SUCCEEDED' },
    );

    expect(racing.ran()).toBe(true);
    expect(answers).toEqual([
      { token: 'park-late', output: expect.objectContaining({ decision: 'DISPATCH', agentId, attempt: 1 }) },
    ]);
    expect(await store.getTask(batchId, 'late')).toMatchObject({ status: 'RUNNING', attemptCount: 1 });
    expect(await agents.waitingMarks(role.name)).toEqual({});
    expect(await agents.get(agentId)).toMatchObject({ reserved: 1, successes: 1 });
  });

  it('offers the slot of a full agent to a waiter even from a process whose hints say nobody is parked', async () => {
    const { role, batchId, agentId } = await lateWaiting();
    await parkTask(role.routeDeps, { batchId, taskId: 'late', role: role.name, taskToken: 'park-late' });
    const { answers, callbacks } = recordingCallbacks();
    // Another Lambda container: it found the role empty a moment ago and saw no park since.
    const elsewhere = new ParkedHints();
    elsewhere.foundEmpty(role.name, clock.now(), elsewhere.parks(role.name));

    await completeTask(
      { store, agents, callbacks, clock, handOff: { ...role.dispatch, hints: elsewhere } },
      { batchId, taskId: 'runs', outcome: 'SUCCEEDED' },
    );

    expect(answers).toEqual([
      { token: 'park-late', output: expect.objectContaining({ decision: 'DISPATCH', agentId, attempt: 1 }) },
    ]);
    expect(await store.getTask(batchId, 'late')).toMatchObject({ status: 'RUNNING', attemptCount: 1 });
  });

  it('says how many reservation races a route lost before it waited', async () => {
    const role = await fullRole(1, 1);
    const agentId = `${role.name}-1`;
    const batchId = await createBatch(tasksOf(role.name, ['runs', 'late']));
    expect(await role.route(batchId, 'runs')).toMatchObject({ decision: 'DISPATCH' });
    await completeTask(
      { store, agents, callbacks: recordingCallbacks().callbacks, clock, handOff: role.dispatch },
      { batchId, taskId: 'runs', outcome: 'SUCCEEDED' },
    );
    // 'late' finds the agent free; another router reserves its slot just before 'late' does.
    const racing = hookedOnce(agents, 'reserve', async () => {
      expect(
        await agents.reserve(agentId, clock.now(), { key: 'other#1', expiresAt: clock.now() + 60_000 }),
      ).toBe(true);
    });

    const output = await routeTask(
      { ...role.routeDeps, agents: racing.registry },
      { batchId, taskId: 'late' },
    );

    expect(racing.ran()).toBe(true);
    expect(output).toEqual({
      decision: 'WAIT',
      role: role.name,
      waitSeconds: CAPACITY_WAIT_SECONDS,
      lostRaces: 1,
    });
  });

  it('gives the slot the longest waiter cannot take (its budget says wait) to the next waiter', async () => {
    const limit = 10_000_000;
    const role = await fullRole(1, 1);
    const agentId = `${role.name}-1`;
    const deps = { ...role.routeDeps, budget: { ledger } };
    const budgeted = await createBatch(tasksOf(role.name, ['runs', 'next']), limit);
    const other = await createBatch(tasksOf(role.name, ['other']));
    expect(await routeTask(deps, { batchId: budgeted, taskId: 'runs' })).toMatchObject({
      decision: 'DISPATCH',
    });
    expect(await routeTask(deps, { batchId: budgeted, taskId: 'next' })).toMatchObject({ decision: 'WAIT' });
    clock.advance(1_000);
    expect(await routeTask(deps, { batchId: other, taskId: 'other' })).toMatchObject({ decision: 'WAIT' });
    await parkTask(deps, { batchId: budgeted, taskId: 'next', role: role.name, taskToken: 'park-next' });
    await parkTask(deps, { batchId: other, taskId: 'other', role: role.name, taskToken: 'park-other' });
    // Another attempt of the budgeted batch holds all but one token of what is left.
    const held = (await ledger.get(budgeted))?.reserved.tokens ?? 0;
    await ledger.reserve(budgeted, 'another#1', { nanoUsd: 0, tokens: limit - held - 1 });
    const { answers, callbacks } = recordingCallbacks();

    await completeTask(
      { store, agents, callbacks, clock, ledger, handOff: { ...role.dispatch, budget: { ledger } } },
      { batchId: budgeted, taskId: 'runs', outcome: 'SUCCEEDED' },
    );

    // 'next' stays parked on its mark (its budget says wait); 'other' takes the slot.
    expect(answers).toEqual([
      { token: 'park-other', output: expect.objectContaining({ decision: 'DISPATCH', agentId, attempt: 1 }) },
    ]);
    expect(Object.keys(await agents.waitingMarks(role.name))).toEqual([`${budgeted}#next`]);
    expect(await store.getTask(other, 'other')).toMatchObject({ status: 'RUNNING', attemptCount: 1 });
    expect(await agents.get(agentId)).toMatchObject({ reserved: 1 });
  });

  it("gives a failed attempt's slot to the longest-waiting parked task, as a success's", async () => {
    const role = await fullRole(1, 1);
    const agentId = `${role.name}-1`;
    const batchId = await createBatch(tasksOf(role.name, ['fails', 'waits']));
    expect(await role.route(batchId, 'fails')).toMatchObject({ decision: 'DISPATCH' });
    expect(await role.route(batchId, 'waits')).toMatchObject({ decision: 'WAIT' });
    await parkTask(role.routeDeps, { batchId, taskId: 'waits', role: role.name, taskToken: 'park-waits' });
    const routesBefore = role.routes.length;
    const { answers, callbacks } = recordingCallbacks();

    const next = await recordAttempt(
      { store, agents, clock, catalog: role.catalog, callbacks, handOff: role.dispatch },
      { batchId, taskId: 'fails', agentId, attempt: 1, error: { Error: 'Error', Cause: 'boom' } },
    );

    expect(next).toEqual({ retry: true });
    expect(answers).toEqual([
      { token: 'park-waits', output: expect.objectContaining({ decision: 'DISPATCH', agentId, attempt: 1 }) },
    ]);
    expect(role.routes).toHaveLength(routesBefore);
    expect(await store.getTask(batchId, 'waits')).toMatchObject({ status: 'RUNNING', attemptCount: 1 });
    expect(await store.getTask(batchId, 'fails')).toMatchObject({ status: 'READY', attemptCount: 1 });
    // The failure counted, the slot never went back: one reservation, under the parked task's lease.
    expect(await agents.get(agentId)).toMatchObject({
      reserved: 1,
      failures: 1,
      leases: { [leaseKey(batchId, 'waits', 1)]: expect.any(Number) },
    });
  });
});

describe('routing a dependent with its gate (hop latency)', () => {
  /** A worker's answer for attempt 1 on `agentId`, which ends now. */
  const workerAnswer = (agentId: string) =>
    ({ status: 'SUCCEEDED', agentId, attempt: 1, durationMs: 5, finishedAt: clock.now() }) as const;

  /** `next` and `other`, dependents of `dep`, each routed and its gate answered with its DISPATCH. */
  async function expectBothDispatched(batchId: string, answers: { token: string; output: unknown }[]) {
    const dispatch = expect.objectContaining({ decision: 'DISPATCH', attempt: 1, contextIds: ['dep'] });
    expect(answers).toHaveLength(2);
    for (const taskId of ['next', 'other']) {
      expect(answers).toContainEqual({
        token: `gate-${taskId}`,
        output: { proceed: true, failedDeps: 0, route: dispatch },
      });
      expect(await store.getTask(batchId, taskId)).toMatchObject({ status: 'RUNNING', attemptCount: 1 });
    }
  }

  it('routes the dependents whose gates a Complete opens and answers each gate with its DISPATCH', async () => {
    const role = await fullRole(2, 2);
    const batchId = await createBatch([
      ...tasksOf(role.name, ['dep']),
      ...tasksOf(role.name, ['next', 'other'], { dependsOn: ['dep'] }),
    ]);
    // Every DISPATCH names the work its context takes (the Dispatch state's message reads the path).
    expect(await role.route(batchId, 'dep')).toMatchObject({ decision: 'DISPATCH', contextIds: [] });
    const { answers, callbacks } = recordingCallbacks();
    for (const taskId of ['next', 'other'])
      expect(await gateTask({ store, callbacks }, { batchId, taskId, taskToken: `gate-${taskId}` })).toEqual({
        armed: true,
      });
    const routesBefore = role.routes.length;
    const taskReads = vi.spyOn(store, 'getTask');
    const batchReads = vi.spyOn(store, 'getBatchState');

    try {
      await completeTask(
        { store, agents, callbacks, clock, handOff: { ...role.dispatch, routeDependents: true } },
        { batchId, taskId: 'dep', outcome: 'SUCCEEDED' },
      );
      // Each dependent is routed from the item its release's write answered (no read of it), and the
      // batch's state is read once for both, beside the releases.
      expect(taskReads.mock.calls.filter(([, taskId]) => taskId !== 'dep')).toEqual([]);
      expect(batchReads).toHaveBeenCalledTimes(1);
    } finally {
      taskReads.mockRestore();
      batchReads.mockRestore();
    }

    await expectBothDispatched(batchId, answers);
    expect(role.routes).toHaveLength(routesBefore);
    const reserved = await Promise.all(
      [1, 2].map(async (n) => (await agents.get(`${role.name}-${n}`))?.reserved),
    );
    expect(reserved.reduce((a, b) => (a ?? 0) + (b ?? 0), 0)).toBe(2);
  });

  // The embedded runtime's dynalite answers one request at a time: routes side by side interleave their calls,
  // and each dependent is dispatched as late as the last (CompleteDeps.routeLane).
  it.each([
    [true, ['list', 'startAttempt b', 'list', 'startAttempt c', 'list', 'startAttempt a']],
    [false, ['list', 'list', 'list']],
  ])(
    'with a route lane %s, routes the dependents it opens one at a time, the most urgent first',
    async (inTurn, expected) => {
      const role = await fullRole(4, 1);
      // b has two tasks after it, c one, a none: b is on the longest chain, then c.
      const batchId = await createBatch([
        ...tasksOf(role.name, ['dep']),
        ...tasksOf(role.name, ['a', 'b', 'c'], { dependsOn: ['dep'] }),
        ...tasksOf(role.name, ['b2'], { dependsOn: ['b'] }),
        ...tasksOf(role.name, ['b3'], { dependsOn: ['b2'] }),
        ...tasksOf(role.name, ['c2'], { dependsOn: ['c'] }),
      ]);
      expect(await role.route(batchId, 'dep')).toMatchObject({ decision: 'DISPATCH' });
      const { answers, callbacks } = recordingCallbacks();
      for (const taskId of ['a', 'b', 'c'])
        await gateTask({ store, callbacks }, { batchId, taskId, taskToken: `gate-${taskId}` });
      const calls: string[] = [];
      const listed = agents.list.bind(agents);
      const started = store.startAttempt.bind(store);
      const spies = [
        vi.spyOn(agents, 'list').mockImplementation((...args) => {
          calls.push('list');
          return listed(...args);
        }),
        vi.spyOn(store, 'startAttempt').mockImplementation(async (...args) => {
          await started(...args);
          calls.push(`startAttempt ${args[1]}`);
        }),
      ];
      try {
        await completeTask(
          {
            store,
            agents,
            callbacks,
            clock,
            handOff: { ...role.dispatch, routeDependents: true },
            ...(inTurn ? { routeLane: new RouteLane() } : {}),
          },
          { batchId, taskId: 'dep', outcome: 'SUCCEEDED' },
        );
      } finally {
        for (const spy of spies) spy.mockRestore();
      }
      expect(inTurn ? calls : calls.slice(0, 3)).toEqual(expected);
      expect(answers.map((a) => a.token).sort()).toEqual(['gate-a', 'gate-b', 'gate-c']);
      for (const taskId of ['a', 'b', 'c'])
        expect(await store.getTask(batchId, taskId)).toMatchObject({ status: 'RUNNING', attemptCount: 1 });
    },
  );

  it("routes them too when the worker's answer names them, releasing them beside the status write", async () => {
    const role = await fullRole(2, 2);
    const batchId = await createBatch([
      ...tasksOf(role.name, ['dep']),
      ...tasksOf(role.name, ['next', 'other'], { dependsOn: ['dep'] }),
    ]);
    const dep = await role.route(batchId, 'dep');
    if (dep.decision !== 'DISPATCH') throw new Error(`dep was not dispatched: ${dep.decision}`);
    const { answers, callbacks } = recordingCallbacks();
    for (const taskId of ['next', 'other'])
      await gateTask({ store, callbacks }, { batchId, taskId, taskToken: `gate-${taskId}` });
    const calls: string[] = [];
    const written = store.transitionTask.bind(store);
    const spies = [
      vi.spyOn(store, 'transitionTask').mockImplementation(async (...args) => {
        const task = await written(...args);
        calls.push('status written');
        return task;
      }),
      recordCalls(calls, store, 'releaseDependent'),
      recordCalls(calls, store, 'getBatchState'),
    ];
    const { agentId } = dep;
    try {
      await completeTask(
        { store, agents, callbacks, clock, handOff: { ...role.dispatch, routeDependents: true } },
        {
          batchId,
          taskId: 'dep',
          outcome: 'SUCCEEDED',
          agentId,
          attempt: 1,
          result: { ...workerAnswer(agentId), output: 'schema', dependents: ['next', 'other'] },
        },
      );
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    // Both releases and the batch's read go out before the status write answers; the batch is read once.
    expect(calls.slice(0, 4)).toEqual([
      'releaseDependent',
      'releaseDependent',
      'getBatchState',
      'status written',
    ]);
    expect(calls.filter((c) => c === 'getBatchState')).toHaveLength(1);
    await expectBothDispatched(batchId, answers);
    expect(await store.getTask(batchId, 'dep')).toMatchObject({ status: 'SUCCEEDED', output: 'schema' });
  });

  // dynalite answers one request at a time: a release, on the way to the next dispatch, goes out before the
  // batch's read and the agent's bookkeeping, which only a route (its batch) or no dependent (the slot) waits on.
  it("sends the dependents' releases before the batch's read and the agent's bookkeeping", async () => {
    const role = await fullRole(2, 2);
    const { batchId, answers, callbacks } = await gatedDependents(role, role);
    const calls: string[] = [];
    const record = <T extends object>(target: T, name: keyof T & string) => recordCalls(calls, target, name);
    const spies = [
      record(store, 'releaseDependent'),
      record(store, 'getBatchState'),
      record(agents, 'claimWaiting'),
      record(agents, 'recordOutcome'),
    ];
    try {
      await completeTask(
        { store, agents, callbacks, clock, handOff: { ...role.dispatch, routeDependents: true } },
        { batchId, taskId: 'dep', outcome: 'SUCCEEDED' },
      );
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    expect(calls.slice(0, 3)).toEqual(['releaseDependent', 'releaseDependent', 'getBatchState']);
    expect(calls.slice(3)).toContain('recordOutcome');
    expect(answers).toHaveLength(2);
  });

  /**
   * A Complete of `dep` (on the one agent of its own role) that opens the gates of `next` and `other`, of
   * another role, with bookkeepingAfterRoutes as given: the calls it made in order (each gate's answer, the
   * bookkeeping's look for parked tasks and its outcome write) and the agent after it.
   */
  async function completeOpeningOtherRole(afterRoutes: boolean, failRelease?: Error) {
    const own = await fullRole(2, 1);
    const other = await fullRole(2, 1);
    const { batchId, answers, callbacks } = await gatedDependents(own, other);
    const calls: string[] = [];
    const answering: Callbacks = {
      ...callbacks,
      succeed: (token, output) => {
        calls.push('answer');
        return callbacks.succeed(token, output);
      },
    };
    const spies: { mockRestore(): void }[] = (['claimWaiting', 'recordOutcome'] as const).map((name) =>
      recordCalls(calls, agents, name),
    );
    if (failRelease)
      spies.push(vi.spyOn(store, 'releaseDependent').mockRejectedValueOnce(failRelease) as never);
    const handOff = handOffAcross(own, other);
    let completed: Promise<unknown>;
    try {
      completed = completeTask(
        {
          store,
          agents,
          callbacks: answering,
          clock,
          handOff,
          ...(afterRoutes ? { bookkeepingAfterRoutes: {} } : {}),
        },
        { batchId, taskId: 'dep', outcome: 'SUCCEEDED' },
      );
      await completed.catch(() => undefined);
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    return { calls, answers, completed, agent: await agents.get(`${own.name}-1`) };
  }

  const firstBookkeeping = (calls: string[]) =>
    calls.findIndex((call) => call === 'claimWaiting' || call === 'recordOutcome');

  // The embedded runtime's dynalite answers on one thread: there the bookkeeping's read and write waits for the
  // routes, on the way to the next dispatch, instead of slowing their calls. On DynamoDB it goes beside them.
  it("writes the agent's bookkeeping after the routes and the gates' answers with bookkeepingAfterRoutes, beside them without", async () => {
    const after = await completeOpeningOtherRole(true);
    const beside = await completeOpeningOtherRole(false);

    expect(after.answers.map((a) => a.output)).toEqual([
      expect.objectContaining({ proceed: true, route: expect.objectContaining({ decision: 'DISPATCH' }) }),
      expect.objectContaining({ proceed: true, route: expect.objectContaining({ decision: 'DISPATCH' }) }),
    ]);
    expect(firstBookkeeping(after.calls)).toBeGreaterThan(after.calls.lastIndexOf('answer'));
    expect(firstBookkeeping(beside.calls)).toBeLessThan(beside.calls.indexOf('answer'));
    // Either way the outcome is counted and the slot freed.
    for (const { calls, agent } of [after, beside]) {
      expect(calls).toContain('recordOutcome');
      expect(agent).toMatchObject({ reserved: 0, successes: 1 });
    }
  });

  // On the embedded runtime the bookkeeping also waits for dynalite to be quiet (the dependent's worker claims
  // its attempt meanwhile), unless a task may be parked for the slot it frees.
  it('waits for the store to be quiet before the bookkeeping after the routes, unless a task may be parked for the slot', async () => {
    const seen: { quietAsked: number; calledBeforeQuiet: boolean; calledAfter: boolean }[] = [];
    for (const nobodyParked of [true, false]) {
      const own = await fullRole(2, 1);
      const other = await fullRole(2, 1);
      const { batchId, answers, callbacks } = await gatedDependents(own, other);
      const hints = new ParkedHints();
      if (nobodyParked) hints.foundEmpty(own.name, clock.now(), hints.parks(own.name));
      let quietAsked = 0;
      let letGo = () => {};
      const quiet = new Promise<void>((resolve) => {
        letGo = resolve;
      });
      const calls: string[] = [];
      const spy = recordCalls(calls, agents, 'recordOutcome');
      try {
        const completing = completeTask(
          {
            store,
            agents,
            callbacks,
            clock,
            handOff: handOffAcross(own, other, hints),
            bookkeepingAfterRoutes: {
              whenQuiet: () => {
                quietAsked += 1;
                return quiet;
              },
            },
          },
          { batchId, taskId: 'dep', outcome: 'SUCCEEDED' },
        );
        await vi.waitFor(() => expect(answers).toHaveLength(2));
        if (nobodyParked) await new Promise((resolve) => setTimeout(resolve, 20));
        else await vi.waitFor(() => expect(calls).toContain('recordOutcome'));
        const calledBeforeQuiet = calls.includes('recordOutcome');
        letGo();
        await completing;
        seen.push({ quietAsked, calledBeforeQuiet, calledAfter: calls.includes('recordOutcome') });
      } finally {
        spy.mockRestore();
      }
    }

    expect(seen).toEqual([
      { quietAsked: 1, calledBeforeQuiet: false, calledAfter: true },
      { quietAsked: 0, calledBeforeQuiet: true, calledAfter: true },
    ]);
  });

  it("asks for no quiet when the Complete has no bookkeeping, or a dependent of the slot's role started it", async () => {
    const asked: number[] = [];
    for (const [dependentsOfOwnRole, outcome] of [
      [true, 'SUCCEEDED'],
      [false, 'SKIPPED'],
    ] as const) {
      const own = await fullRole(2, 2);
      const other = dependentsOfOwnRole ? own : await fullRole(2, 1);
      const { batchId, answers, callbacks } = await gatedDependents(own, other);
      const hints = new ParkedHints();
      hints.foundEmpty(own.name, clock.now(), hints.parks(own.name));
      let quietAsked = 0;
      await completeTask(
        {
          store,
          agents,
          callbacks,
          clock,
          handOff: handOffAcross(own, other, hints),
          bookkeepingAfterRoutes: {
            whenQuiet: async () => {
              quietAsked += 1;
            },
          },
        },
        { batchId, taskId: 'dep', outcome },
      );
      expect(answers).toHaveLength(2);
      asked.push(quietAsked);
    }

    expect(asked).toEqual([0, 0]);
  });

  // Its retry would find the status written and write no bookkeeping: the slot would wait for its lease's end.
  it("frees the slot before a Complete fails with a release's error, after the routes or beside them", async () => {
    for (const bookkeepingAfterRoutes of [true, false]) {
      const { calls, completed, agent } = await completeOpeningOtherRole(
        bookkeepingAfterRoutes,
        new Error('release lost'),
      );

      await expect(completed).rejects.toThrow('release lost');
      expect(calls).toContain('recordOutcome');
      expect(agent).toMatchObject({ reserved: 0 });
    }
  });

  it('routes a task whose gate finds its dependencies ended when it arms, and answers the gate with its DISPATCH', async () => {
    const role = await fullRole(2, 1);
    const batchId = await createBatch([
      ...tasksOf(role.name, ['dep', 'bad']),
      ...tasksOf(role.name, ['late'], { dependsOn: ['dep'] }),
      ...tasksOf(role.name, ['skipped'], { dependsOn: ['bad'] }),
    ]);
    const { answers, callbacks } = recordingCallbacks();
    for (const taskId of ['dep', 'bad'])
      expect(await role.route(batchId, taskId)).toMatchObject({ decision: 'DISPATCH' });
    await completeTask({ store, agents, callbacks, clock }, { batchId, taskId: 'dep', outcome: 'SUCCEEDED' });
    await completeTask({ store, agents, callbacks, clock }, { batchId, taskId: 'bad', outcome: 'FAILED' });
    const routesBefore = role.routes.length;
    const route = (task: { batchId: string; taskId: string }, known: KnownState) =>
      routeTask({ ...role.dispatch, store, agents, clock, callbacks }, task, known);

    // Both gates arm after their dependency ended: the open one routes its task, the skipping one does not.
    expect(
      await gateTask({ store, callbacks, route }, { batchId, taskId: 'late', taskToken: 'gate-late' }),
    ).toEqual({
      armed: false,
      output: {
        proceed: true,
        failedDeps: 0,
        route: expect.objectContaining({ decision: 'DISPATCH', attempt: 1 }),
      },
    });
    const skipped = await gateTask(
      { store, callbacks, route },
      { batchId, taskId: 'skipped', taskToken: 'gate-skipped' },
    );
    expect(skipped).toMatchObject({ armed: false, output: { proceed: false } });
    expect(skipped.armed === false && skipped.output).not.toHaveProperty('route');

    expect(answers.map((a) => a.token)).toEqual(['gate-late', 'gate-skipped']);
    expect(answers[0]?.output).toHaveProperty('route.decision', 'DISPATCH');
    expect(role.routes).toHaveLength(routesBefore);
    expect(await store.getTask(batchId, 'late')).toMatchObject({ status: 'RUNNING', attemptCount: 1 });
    expect((await store.getTask(batchId, 'skipped'))?.attemptCount).toBe(0);
  });

  /**
   * Two roles of one agent with one slot each: 'dep' (of `done`) dispatched, 'after' (of `next`, depending on
   * 'dep' alone) waiting on it.
   */
  async function hopOfTwoRoles() {
    const base = BUILTIN_ROLES[0];
    if (!base) throw new Error('no built-in roles');
    const suffix = `${++roleCounter}_${Math.random().toString(36).slice(2, 6)}`;
    const [done, next] = [`hop_done_${suffix}`, `hop_next_${suffix}`];
    const catalog = resolveRoles(
      [done, next].map((name) => ({
        ...base,
        name,
        defaults: { ...base.defaults, capacity: 1, maxAgents: 1 },
      })),
    );
    const dispatch = {
      catalog,
      roleQueueUrls: { [done]: `https://sqs.local/${done}`, [next]: `https://sqs.local/${next}` },
      heartbeatSeconds: 60,
      hints: new ParkedHints(),
    };
    for (const name of [done, next])
      await agents.put(agentOf('python_backend_coder', `${name}-1`, { role: name, capacity: 1 }));
    const batchId = await createBatch([
      ...tasksOf(done, ['dep']),
      ...tasksOf(next, ['after'], { dependsOn: ['dep'] }),
    ]);
    const route = await routeTask({ store, agents, clock, ...dispatch }, { batchId, taskId: 'dep' });
    if (route.decision !== 'DISPATCH') throw new Error(`dep was not dispatched: ${route.decision}`);
    return { done, next, dispatch, batchId, agentId: route.agentId };
  }

  it("lists the pool of a dependent the worker's answer names a role for beside its release, and routes on it", async () => {
    const { done, next, dispatch, batchId, agentId } = await hopOfTwoRoles();
    // The submission names the role of a dependent that depends on this task alone, on its item.
    expect((await store.getTask(batchId, 'dep'))?.dependentRoles).toEqual({ after: next });
    const { answers, callbacks } = recordingCallbacks();
    await gateTask({ store, callbacks }, { batchId, taskId: 'after', taskToken: 'gate-after' });
    const events: string[] = [];
    const release = store.releaseDependent.bind(store);
    const list = agents.list.bind(agents);
    const spies = [
      vi.spyOn(store, 'releaseDependent').mockImplementation(async (...args) => {
        const released = await release(...args);
        events.push(`release of ${args[1]} written`);
        return released;
      }),
      vi.spyOn(agents, 'list').mockImplementation(async (role) => {
        events.push(`list ${role === next ? 'next' : role}`);
        return list(role);
      }),
    ];
    try {
      await completeTask(
        { store, agents, callbacks, clock, handOff: { ...dispatch, routeDependents: true } },
        {
          batchId,
          taskId: 'dep',
          outcome: 'SUCCEEDED',
          agentId,
          attempt: 1,
          result: { ...workerAnswer(agentId), dependents: ['after'], dependentRoles: { after: next } },
        },
      );
    } finally {
      for (const spy of spies) spy.mockRestore();
    }

    // Asked before the release's write answered, once: the route reserved on that listing without another look.
    expect(events.filter((e) => e !== `list ${done}`)).toEqual(['list next', 'release of after written']);
    expect(answers).toEqual([
      {
        token: 'gate-after',
        output: {
          proceed: true,
          failedDeps: 0,
          route: expect.objectContaining({ decision: 'DISPATCH', agentId: `${next}-1`, attempt: 1 }),
        },
      },
    ]);
    expect(await agents.get(`${next}-1`)).toMatchObject({ reserved: 1 });
  });

  it("does not hold a dependent of another role behind the finished agent's bookkeeping", async () => {
    const { done, next, dispatch, batchId } = await hopOfTwoRoles();
    const events: string[] = [];
    const { answers, callbacks } = recordingCallbacks();
    const answer = callbacks.succeed;
    await gateTask({ store, callbacks }, { batchId, taskId: 'after', taskToken: 'gate-after' });
    // The outcome's write waits for the gate's answer (2 s at most): a route held behind it answers late.
    let answered: () => void = () => undefined;
    const gateAnswered = new Promise<void>((resolve) => {
      answered = resolve;
    });
    callbacks.succeed = async (token, output) => {
      events.push(`answer ${token}`);
      answered();
      return answer(token, output);
    };
    const recordOutcome = agents.recordOutcome.bind(agents);
    const outcomes = vi.spyOn(agents, 'recordOutcome').mockImplementation(async (...args) => {
      events.push(`outcome asked ${args[0]}`);
      await Promise.race([gateAnswered, new Promise((resolve) => setTimeout(resolve, 2_000))]);
      events.push(`outcome written ${args[0]}`);
      return recordOutcome(...args);
    });

    try {
      await completeTask(
        { store, agents, callbacks, clock, handOff: { ...dispatch, routeDependents: true } },
        { batchId, taskId: 'dep', outcome: 'SUCCEEDED' },
      );
    } finally {
      outcomes.mockRestore();
    }

    // The dependent is dispatched while the agent's outcome and release are still being written.
    expect(events).toEqual([`outcome asked ${done}-1`, 'answer gate-after', `outcome written ${done}-1`]);
    expect(answers[0]?.output).toHaveProperty('route.decision', 'DISPATCH');
    expect(await agents.get(`${done}-1`)).toMatchObject({ reserved: 0, successes: 1, leases: {} });
    expect(await agents.get(`${next}-1`)).toMatchObject({ reserved: 1 });
  });

  it("routes a dependent of the finished agent's own role after its slot is freed, so it takes that slot", async () => {
    const role = await fullRole(1, 1);
    const batchId = await createBatch([
      ...tasksOf(role.name, ['dep']),
      ...tasksOf(role.name, ['after'], { dependsOn: ['dep'] }),
    ]);
    expect(await role.route(batchId, 'dep')).toMatchObject({ decision: 'DISPATCH' });
    const { answers, callbacks } = recordingCallbacks();
    await gateTask({ store, callbacks }, { batchId, taskId: 'after', taskToken: 'gate-after' });
    const agentId = `${role.name}-1`;
    // A slow outcome write: a route that did not wait for it would find the agent still full.
    const recordOutcome = agents.recordOutcome.bind(agents);
    const outcomes = vi.spyOn(agents, 'recordOutcome').mockImplementation(async (...args) => {
      await new Promise((resolve) => setTimeout(resolve, 50));
      return recordOutcome(...args);
    });

    try {
      await completeTask(
        { store, agents, callbacks, clock, handOff: { ...role.dispatch, routeDependents: true } },
        { batchId, taskId: 'dep', outcome: 'SUCCEEDED' },
      );
    } finally {
      outcomes.mockRestore();
    }

    // Routed while the slot was still held, it would have waited (WAIT) with the agent about to be free.
    expect(answers).toEqual([
      {
        token: 'gate-after',
        output: {
          proceed: true,
          failedDeps: 0,
          route: expect.objectContaining({ decision: 'DISPATCH', agentId, attempt: 1 }),
        },
      },
    ]);
    const agent = await agents.get(agentId);
    expect(agent).toMatchObject({ reserved: 1, successes: 1 });
    expect(agent?.leases).toEqual({ [leaseKey(batchId, 'after', 1)]: expect.any(Number) });
  });

  it('routes nothing for a gate that opens to skip its task, nor without routeDependents', async () => {
    const role = await fullRole(2, 1);
    const batchId = await createBatch([
      ...tasksOf(role.name, ['fails', 'ok']),
      ...tasksOf(role.name, ['skipped'], { dependsOn: ['fails'] }),
      ...tasksOf(role.name, ['routesItself'], { dependsOn: ['ok'] }),
    ]);
    const { answers, callbacks } = recordingCallbacks();
    for (const taskId of ['skipped', 'routesItself'])
      await gateTask({ store, callbacks }, { batchId, taskId, taskToken: `gate-${taskId}` });
    for (const taskId of ['fails', 'ok'])
      expect(await role.route(batchId, taskId)).toMatchObject({ decision: 'DISPATCH' });

    await completeTask(
      { store, agents, callbacks, clock, handOff: { ...role.dispatch, routeDependents: true } },
      { batchId, taskId: 'fails', outcome: 'FAILED' },
    );
    await completeTask(
      { store, agents, callbacks, clock, handOff: role.dispatch },
      { batchId, taskId: 'ok', outcome: 'SUCCEEDED' },
    );

    expect(answers).toEqual([
      { token: 'gate-skipped', output: expect.objectContaining({ proceed: false, failedDeps: 1 }) },
      { token: 'gate-routesItself', output: { proceed: true, failedDeps: 0 } },
    ]);
    expect(answers[0]?.output).not.toHaveProperty('route');
    for (const taskId of ['skipped', 'routesItself'])
      expect((await store.getTask(batchId, taskId))?.attemptCount).toBe(0);
  });
});
