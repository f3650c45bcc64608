/**
 * The scaler use case against dynalite, with the queue depth and the event source concurrency at the port
 * seam: each test gets its own agents table and a one-role catalog, so passes do not interfere.
 */

import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoAgentRegistry, WAITING_ITEM_PREFIX } from '../../../shared/adapters/dynamodb/agent-registry';
import { documentClient } from '../../../shared/adapters/dynamodb/client';
import { STUCK_PROBE_MS, WAITING_FRESH_MS } from '../../../shared/domain/pool';
import { resolveRoles } from '../../../shared/domain/roles';
import { WOKEN } from '../../../shared/domain/workflow';
import { createTables } from '../../../shared/local/runtime/emulators';
import type { QueueConcurrency, QueueDepth } from '../../../shared/ports';
import { putAgent } from '../../../shared/usecases/agents';
import { wakeForCapacity } from '../../../shared/usecases/route';
import {
  MAX_MARKS_ORDERED_PER_PASS,
  SCALER_STOP_MARGIN_MS,
  scaleAgents,
} from '../../../shared/usecases/scaler';
import { type LocalDynamo, startDynalite } from '../../support/dynalite';
import { agentOf, ManualClock, recordingCallbacks, uniqueId } from '../../support/fixtures';

const ROLE = 'code_reviewer';
const QUEUE_URL = 'http://queue/code_reviewer';
const QUEUE_ARN = 'arn:aws:sqs:us-east-1:000000000000:code_reviewer';
let dynamo: LocalDynamo;

beforeAll(async () => {
  dynamo = await startDynalite();
});

afterAll(async () => {
  await dynamo.stop();
});

/** A fresh agents table and registry. */
async function freshRegistry(): Promise<DynamoAgentRegistry> {
  return (await freshTable()).registry;
}

/** A fresh agents table, its name and a registry over it. */
async function freshTable(): Promise<{ registry: DynamoAgentRegistry; table: string }> {
  const table = uniqueId('agents');
  // The runtime's helper creates both tables; only the agents table is used here.
  await createTables(dynamo.client, uniqueId('tasks'), table);
  return { registry: new DynamoAgentRegistry(table, documentClient(dynamo.client)), table };
}

function oneRoleCatalog(defaults: Record<string, number>) {
  const all = resolveRoles([{ name: ROLE, defaults }]);
  const role = all.get(ROLE);
  if (!role) throw new Error('no role');
  return new Map([[ROLE, role]]);
}

function fakeQueue(depth: { visible: number; inFlight: number }, concurrency: { value: number }) {
  const sets: number[] = [];
  const queues: QueueDepth = { depth: async () => ({ queueArn: QUEUE_ARN, ...depth }) };
  const control: QueueConcurrency = {
    get: async (arn) => (arn === QUEUE_ARN ? concurrency.value : undefined),
    set: async (_arn, value) => {
      sets.push(value);
      concurrency.value = value;
      return true;
    },
  };
  return { queues, control, sets };
}

/** One scaler pass over ROLE, whose queue is the fake's. */
function scaleWithQueue(
  deps: Pick<Parameters<typeof scaleAgents>[0], 'agents' | 'catalog' | 'clock'>,
  { queues, control }: Pick<ReturnType<typeof fakeQueue>, 'queues' | 'control'>,
) {
  return scaleAgents({ ...deps, roleQueueUrls: { [ROLE]: QUEUE_URL }, queues, concurrency: control });
}

describe('scaleAgents', () => {
  it('pre-warms agents and raises the queue concurrency for a backlog of queued and waiting tasks', async () => {
    const agents = await freshRegistry();
    const clock = new ManualClock();
    const catalog = oneRoleCatalog({ capacity: 2, minAgents: 1, maxAgents: 4, queueConcurrency: 10 });
    const { queues, control, sets } = fakeQueue({ visible: 3, inFlight: 2 }, { value: 2 });
    await agents.markWaiting(ROLE, 'b#w1', clock.now());
    await agents.markWaiting(ROLE, 'b#w2', clock.now());

    const result = await scaleWithQueue({ agents, catalog, clock }, { queues, control });

    // Concurrency: the demand (7), raised to the 4 live agents' 8 slots.
    expect(result.roles[0]).toMatchObject({ queued: 5, waiting: 2, desiredAgents: 4, desiredConcurrency: 8 });
    expect(result.spawned.sort()).toEqual([`${ROLE}-1`, `${ROLE}-2`, `${ROLE}-3`, `${ROLE}-4`]);
    expect(sets).toEqual([8]);
  });

  it('counts a task waiting for its batch budget out of the backlog: an agent more would not run it', async () => {
    const agents = await freshRegistry();
    const clock = new ManualClock();
    const catalog = oneRoleCatalog({ capacity: 2, minAgents: 1, maxAgents: 4, queueConcurrency: 10 });
    const { queues, control } = fakeQueue({ visible: 0, inFlight: 2 }, { value: 2 });
    await agents.markWaiting(ROLE, 'b#slot', clock.now());
    for (const key of ['b#budget1', 'b#budget2', 'b#budget3', 'b#budget4'])
      await agents.markWaiting(ROLE, key, clock.now(), 0, 'budget');

    const result = await scaleWithQueue({ agents, catalog, clock }, { queues, control });

    // Two in flight and one waiting for a slot: two agents of two slots, not the four that seven would ask.
    expect(result.roles[0]).toMatchObject({ queued: 2, waiting: 1, desiredAgents: 2 });
    expect(result.spawned.sort()).toEqual([`${ROLE}-1`, `${ROLE}-2`]);
    // The budget waiters' marks are fresh: none is pruned.
    expect(Object.keys(await agents.waitingMarks(ROLE)).sort()).toEqual([
      'b#budget1',
      'b#budget2',
      'b#budget3',
      'b#budget4',
      'b#slot',
    ]);
  });

  it('starts no further step of a role once the invocation is nearly out of time, and says which it left', async () => {
    const agents = await freshRegistry();
    const clock = new ManualClock();
    const catalog = oneRoleCatalog({ capacity: 2, minAgents: 1, maxAgents: 4, queueConcurrency: 10 });
    const { queues, control, sets } = fakeQueue({ visible: 3, inFlight: 2 }, { value: 2 });
    // Time runs out once the backlog has been read: the pre-warm and the concurrency steps do not start.
    let timeLeft = SCALER_STOP_MARGIN_MS + 60_000;
    const readDepth = queues.depth;
    queues.depth = async (url) => {
      timeLeft = SCALER_STOP_MARGIN_MS - 1;
      return readDepth(url);
    };

    const roleQueueUrls = { [ROLE]: QUEUE_URL };

    const result = await scaleAgents({
      agents,
      catalog,
      clock,
      roleQueueUrls,
      queues,
      concurrency: control,
      timeLeftMs: () => timeLeft,
    });

    expect(result.roles[0]).toMatchObject({ queued: 5, desiredAgents: 3 });
    expect(result.unfinished).toEqual([ROLE]);
    expect(result.spawned).toEqual([]);
    expect(sets).toEqual([]);
    expect(await agents.list()).toEqual([]);
  });

  it('lowers the concurrency to the floor, prunes stale waiting marks and terminates idle agents down to minAgents', async () => {
    const agents = await freshRegistry();
    const clock = new ManualClock();
    const catalog = oneRoleCatalog({
      capacity: 2,
      minAgents: 1,
      maxAgents: 4,
      queueConcurrency: 10,
      idleTtlSeconds: 60,
    });
    for (const n of [1, 2, 3]) await agents.create(agentOf(ROLE, `${ROLE}-${n}`, {}, clock.now()));
    await agents.reserve(`${ROLE}-3`, clock.now(), { key: 'b#busy#1', expiresAt: clock.now() + 3_600_000 });
    await agents.markWaiting(ROLE, 'b#old', clock.now());
    clock.advance(Math.max(61_000, WAITING_FRESH_MS + 1));
    const { queues, control, sets } = fakeQueue({ visible: 0, inFlight: 0 }, { value: 7 });

    const result = await scaleWithQueue({ agents, catalog, clock }, { queues, control });

    expect(sets).toEqual([2]);
    expect(result.terminated.sort()).toEqual([`${ROLE}-1`, `${ROLE}-2`]);
    expect(await agents.waitingMarks(ROLE)).toEqual({});
    const live = (await agents.list(ROLE)).filter((a) => a.status !== 'terminated').map((a) => a.agentId);
    expect(live).toEqual([`${ROLE}-3`]);
  });

  it('reclaims the expired lease of a crashed worker, which frees its agent to be retired', async () => {
    const agents = await freshRegistry();
    const clock = new ManualClock();
    const catalog = oneRoleCatalog({ capacity: 1, minAgents: 0, maxAgents: 2, idleTtlSeconds: 1 });
    await agents.create(agentOf(ROLE, `${ROLE}-1`, {}, clock.now()));
    await agents.reserve(`${ROLE}-1`, clock.now(), { key: 'b#crashed#1', expiresAt: clock.now() + 1_000 });
    clock.advance(5_000);

    const before = await scaleAgents({ agents, catalog, clock: { now: () => clock.now() - 4_500 } });
    const result = await scaleAgents({ agents, catalog, clock });

    expect(before).toMatchObject({ reclaimed: [], terminated: [] });
    expect(result.reclaimed).toEqual([`${ROLE}-1:b#crashed#1`]);
    expect(result.terminated).toEqual([`${ROLE}-1`]);
    expect(await agents.get(`${ROLE}-1`)).toMatchObject({ reserved: 0, status: 'terminated' });
  });

  it('re-opens a half-open circuit whose probe crashed, so a new probe can be admitted', async () => {
    const agents = await freshRegistry();
    const clock = new ManualClock();
    const catalog = oneRoleCatalog({ capacity: 2, minAgents: 1, maxAgents: 1 });
    const id = `${ROLE}-1`;
    await agents.create(agentOf(ROLE, id, { circuit: 'open', circuitOpenUntil: clock.now() }, clock.now()));
    await agents.reserve(id, clock.now(), { key: 'b#probe#1', expiresAt: clock.now() + 1_000 });
    const probing = await agents.get(id);
    clock.advance(STUCK_PROBE_MS + 1);

    const result = await scaleAgents({ agents, catalog, clock });

    expect(probing?.circuit).toBe('half_open');
    expect(result.reclaimed).toEqual([`${id}:b#probe#1`]);
    expect(result.reopened).toEqual([id]);
    expect(await agents.reserve(id, clock.now(), { key: 'b#probe2#1', expiresAt: clock.now() + 1_000 })).toBe(
      true,
    );
    expect((await agents.get(id))?.circuit).toBe('half_open');
  });
});

/** Marks and parks `n` tasks of ROLE, a second apart (the first is the longest waiting); their tokens. */
async function parkTasks(agents: DynamoAgentRegistry, clock: ManualClock, n: number): Promise<string[]> {
  const tokens: string[] = [];
  for (let i = 1; i <= n; i++) {
    await agents.markWaiting(ROLE, `b#t${i}`, clock.now());
    expect(await agents.parkWaiting(ROLE, `b#t${i}`, `tok-${i}`)).toBe(true);
    tokens.push(`tok-${i}`);
    clock.advance(1_000);
  }
  return tokens;
}

/** ROLE-1, of one slot, held by a long attempt. */
async function oneBusySlot(agents: DynamoAgentRegistry, clock: ManualClock): Promise<void> {
  await agents.create(agentOf(ROLE, `${ROLE}-1`, { capacity: 1 }, clock.now()));
  await agents.reserve(`${ROLE}-1`, clock.now(), { key: 'b#busy#1', expiresAt: clock.now() + 3_600_000 });
}

describe('slots gained outside a release wake tasks parked for capacity', () => {
  it('a scaler pass wakes one parked task per lease it reclaims, the longest waiting first', async () => {
    const agents = await freshRegistry();
    const clock = new ManualClock();
    const catalog = oneRoleCatalog({ capacity: 1, minAgents: 1, maxAgents: 1 });
    await agents.create(agentOf(ROLE, `${ROLE}-1`, { capacity: 1 }, clock.now()));
    await agents.reserve(`${ROLE}-1`, clock.now(), { key: 'b#crashed#1', expiresAt: clock.now() + 1_000 });
    clock.advance(5_000);
    await parkTasks(agents, clock, 3);
    const { answers, callbacks } = recordingCallbacks();

    const result = await scaleAgents({ agents, catalog, clock, callbacks });

    expect(result.reclaimed).toEqual([`${ROLE}-1:b#crashed#1`]);
    expect(result.roles[0]?.woken).toBe(1);
    expect(answers).toEqual([{ token: 'tok-1', output: WOKEN }]);
    // The others stay parked for the next release.
    expect(await agents.takeParked(ROLE)).toMatchObject({ token: 'tok-2' });
  });

  it('a scaler pass wakes as many parked tasks as the slots of the agents it spawns', async () => {
    const agents = await freshRegistry();
    const clock = new ManualClock();
    const catalog = oneRoleCatalog({ capacity: 2, minAgents: 1, maxAgents: 1 });
    await parkTasks(agents, clock, 3);
    const { answers, callbacks } = recordingCallbacks();

    const result = await scaleAgents({ agents, catalog, clock, callbacks });

    expect(result.spawned).toEqual([`${ROLE}-1`]);
    expect(result.roles[0]?.woken).toBe(2);
    expect(answers.map((a) => a.token)).toEqual(['tok-1', 'tok-2']);
  });

  it('a scaler pass that frees and adds nothing wakes nobody', async () => {
    const agents = await freshRegistry();
    const clock = new ManualClock();
    const catalog = oneRoleCatalog({ capacity: 1, minAgents: 1, maxAgents: 1 });
    await oneBusySlot(agents, clock);
    await parkTasks(agents, clock, 2);
    const { answers, callbacks } = recordingCallbacks();

    const result = await scaleAgents({ agents, catalog, clock, callbacks });

    expect(result.roles[0]?.woken).toBeUndefined();
    expect(answers).toEqual([]);
  });

  it('PUT /agents wakes as many parked tasks as the slots it adds, and none for a change that adds none', async () => {
    const agents = await freshRegistry();
    const clock = new ManualClock();
    const catalog = oneRoleCatalog({ capacity: 1, minAgents: 1, maxAgents: 4 });
    await oneBusySlot(agents, clock);
    await parkTasks(agents, clock, 5);
    const { answers, callbacks } = recordingCallbacks();
    const deps = {
      agents,
      catalog,
      clock,
      wake: (role: string, slots: number) => wakeForCapacity({ agents, callbacks, clock }, role, slots),
    };

    await putAgent(deps, `${ROLE}-1`, { specializations: ['typescript'] });
    const afterSettings = answers.length;
    // Capacity 1 -> 3 with one slot reserved: two free slots.
    await putAgent(deps, `${ROLE}-1`, { capacity: 3 });
    const afterRaise = answers.length;
    // Its free slots were there before this put: it adds none.
    await putAgent(deps, `${ROLE}-1`, { specializations: ['python'] });
    const afterFreeSettings = answers.length;
    await putAgent(deps, `${ROLE}-1`, { status: 'draining' });
    const afterDrain = answers.length;
    // A new agent of capacity 1 (one slot), then the drained one active again (two free slots).
    await putAgent(deps, `${ROLE}-2`, { role: ROLE, capacity: 1 });
    await putAgent(deps, `${ROLE}-1`, { status: 'active' });

    expect(afterSettings).toBe(0);
    expect(afterRaise).toBe(2);
    expect(afterFreeSettings).toBe(2);
    expect(afterDrain).toBe(2);
    expect(answers.map((a) => a.token)).toEqual(['tok-1', 'tok-2', 'tok-3', 'tok-4', 'tok-5']);
    expect(answers.every((a) => a.output === WOKEN)).toBe(true);
  });

  it('claims the mark of a task not parked yet, so its park routes it at once, and wakes a parked one for the slot', async () => {
    const agents = await freshRegistry();
    const clock = new ManualClock();
    const catalog = oneRoleCatalog({ capacity: 1, minAgents: 1, maxAgents: 1 });
    await oneBusySlot(agents, clock);
    // The longest waiter has written its mark but not parked its token yet.
    await agents.markWaiting(ROLE, 'b#unparked', clock.now());
    clock.advance(1_000);
    await parkTasks(agents, clock, 2);
    const { answers, callbacks } = recordingCallbacks();
    const wake = (role: string, slots: number) => wakeForCapacity({ agents, callbacks, clock }, role, slots);

    await putAgent({ agents, catalog, clock, wake }, `${ROLE}-1`, { capacity: 2 });

    expect(answers).toEqual([{ token: 'tok-1', output: WOKEN }]);
    // Its park is refused (parkTask then wakes it to route again); the other parked task keeps waiting.
    expect(await agents.parkWaiting(ROLE, 'b#unparked', 'tok-unparked')).toBe(false);
    expect(await agents.takeParked(ROLE)).toMatchObject({ token: 'tok-2' });
  });
});

/**
 * A fresh registry, and a writer of waiting marks as a version before the byWait index wrote them (no
 * `waitOrder`, so not in that index).
 */
async function withOldMarks() {
  const { registry: agents, table } = await freshTable();
  const oldMark = async (key: string, at: number, leadMs = 0): Promise<void> => {
    await agents.markWaiting(ROLE, key, at, leadMs);
    await documentClient(dynamo.client).send(
      new UpdateCommand({
        TableName: table,
        Key: { agentId: `${WAITING_ITEM_PREFIX}${ROLE}#${key}` },
        UpdateExpression: 'REMOVE waitOrder',
      }),
    );
  };
  return { agents, oldMark };
}

describe('waiting marks written before the byWait index', () => {
  it("are found by releases, in their own order, once the scaler's pass gave them their place", async () => {
    const clock = new ManualClock();
    const { agents, oldMark } = await withOldMarks();
    const t0 = clock.now();
    await oldMark('old', t0);
    await agents.parkWaiting(ROLE, 'old', 'token-old');
    await agents.markWaiting(ROLE, 'new', t0 + 1_000);
    await agents.parkWaiting(ROLE, 'new', 'token-new');
    // A mark that waited later but whose lead (priority) puts it first.
    await oldMark('urgent', t0 + 2_000, 5_000);
    clock.advance(3_000);
    expect(await agents.claimWaiting(ROLE, clock.now(), 'new')).toBeUndefined();

    const result = await scaleAgents({ agents, catalog: oneRoleCatalog({ minAgents: 0 }), clock });

    expect(result.roles.find((r) => r.role === ROLE)?.ordered).toBe(2);
    expect(await agents.takeParked(ROLE)).toEqual({ token: 'token-old', key: 'old' });
    expect(await agents.claimWaiting(ROLE, clock.now())).toEqual({ key: 'urgent' });
  });

  it(`orders at most ${MAX_MARKS_ORDERED_PER_PASS} marks of a role a pass, the next pass the rest`, async () => {
    const clock = new ManualClock();
    const { agents, oldMark } = await withOldMarks();
    const count = MAX_MARKS_ORDERED_PER_PASS + 5;
    await Promise.all(Array.from({ length: count }, (_, i) => oldMark(`m${i}`, clock.now() + i)));
    clock.advance(count);
    const catalog = oneRoleCatalog({ minAgents: 0 });

    const first = await scaleAgents({ agents, catalog, clock });
    const second = await scaleAgents({ agents, catalog, clock });
    const third = await scaleAgents({ agents, catalog, clock });

    expect(first.roles[0]?.ordered).toBe(MAX_MARKS_ORDERED_PER_PASS);
    expect(second.roles[0]?.ordered).toBe(5);
    expect(third.roles[0]?.ordered).toBeUndefined();
  });
});
