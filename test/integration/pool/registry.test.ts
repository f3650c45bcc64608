/** Leases, the half-open probe and waiting marks of DynamoAgentRegistry, against dynalite. */
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoAgentRegistry } from '../../../shared/adapters/dynamodb/agent-registry';
import { documentClient } from '../../../shared/adapters/dynamodb/client';
import { CIRCUIT_FAILURE_THRESHOLD, CIRCUIT_OPEN_MS } from '../../../shared/domain/pool';
import { countingClient, type LocalDynamo, startDynalite } from '../../support/dynalite';
import { agentOf, uniqueId } from '../../support/fixtures';

let dynamo: LocalDynamo;
let registry: DynamoAgentRegistry;
let doc: ReturnType<typeof documentClient>;

beforeAll(async () => {
  dynamo = await startDynalite();
  doc = documentClient(dynamo.client);
  registry = new DynamoAgentRegistry(dynamo.agentsTable, doc);
});

afterAll(async () => {
  await dynamo.stop();
});

const lease = (key: string, expiresAt = 1_000) => ({ key, expiresAt });

describe('reservation leases', () => {
  it('records one lease per reservation and releases each exactly once', async () => {
    const agent = agentOf('code_reviewer', uniqueId('agent'), { capacity: 3 });
    await registry.create(agent);
    await registry.reserve(agent.agentId, 10, lease('b#t1#1'));
    await registry.reserve(agent.agentId, 10, lease('b#t2#1'));

    await Promise.all([
      registry.release(agent.agentId, 11, 'b#t1#1'),
      registry.release(agent.agentId, 11, 'b#t1#1'),
      registry.release(agent.agentId, 11, 'b#t1#1'),
    ]);

    const after = await registry.get(agent.agentId);
    expect(after?.reserved).toBe(1);
    expect(after?.leases).toEqual({ 'b#t2#1': 1_000 });
  });

  it('hands a slot over by moving its lease, once, and never counts one lease key twice', async () => {
    const agent = agentOf('code_reviewer', uniqueId('agent'), { capacity: 1 });
    await registry.create(agent);
    await registry.reserve(agent.agentId, 10, lease('b#done#1'));

    const keys = ['b#parked#1', 'b#other#1'];
    const moved = await Promise.all(
      keys.map((key) => registry.transferLease(agent.agentId, 'b#done#1', lease(key, 2_000), 11)),
    );
    // Either release may win the race. The winner's own Route (after a crash before its dispatch started)
    // cannot take the key again, even with a slot free.
    const winner = keys[moved.indexOf(true)] as string;
    await registry.update(agent.agentId, { capacity: 2 });
    const twice = await registry.reserve(agent.agentId, 12, lease(winner));
    const after = await registry.get(agent.agentId);

    expect(moved.filter(Boolean)).toHaveLength(1);
    expect(twice).toBe(false);
    expect(after?.reserved).toBe(1);
    expect(Object.values(after?.leases ?? {})).toEqual([2_000]);
  });

  it('refuses a hand-off from a lease no longer held, or on an agent whose circuit is open', async () => {
    const gone = agentOf('code_reviewer', uniqueId('agent'), { capacity: 1 });
    const open = agentOf('code_reviewer', uniqueId('agent'), { capacity: 1 });
    for (const agent of [gone, open]) {
      await registry.create(agent);
      await registry.reserve(agent.agentId, 10, lease('b#done#1'));
    }
    await registry.release(gone.agentId, 11, 'b#done#1');
    await doc.send(
      new PutCommand({
        TableName: dynamo.agentsTable,
        Item: { ...open, reserved: 1, leases: { 'b#done#1': 1_000 }, circuit: 'open', circuitOpenUntil: 99 },
      }),
    );

    const fromGone = await registry.transferLease(gone.agentId, 'b#done#1', lease('b#next#1'), 12);
    const onOpen = await registry.transferLease(open.agentId, 'b#done#1', lease('b#next#1'), 12);

    expect([fromGone, onOpen]).toEqual([false, false]);
    expect(await registry.get(gone.agentId)).toMatchObject({ reserved: 0, leases: {} });
    expect(await registry.get(open.agentId)).toMatchObject({ reserved: 1, leases: { 'b#done#1': 1_000 } });
  });

  it('claims a waiting mark once, parked or not; a claimed mark refuses a park until dropped or waited on again', async () => {
    const role = `role_${uniqueId('c').replace(/-/g, '_')}`;
    await registry.markWaiting(role, 'b#old', 100);
    await registry.markWaiting(role, 'b#old', 200);
    await registry.markWaiting(role, 'b#new', 300);
    await registry.parkWaiting(role, 'b#new', 'tok-new');

    const claims = await Promise.all([registry.claimWaiting(role, 400), registry.claimWaiting(role, 400)]);
    const refused = await registry.parkWaiting(role, 'b#old', 'tok-old');
    await registry.dropClaim(role, 'b#old');
    const afterDrop = await registry.parkWaiting(role, 'b#old', 'tok-old');
    const third = await registry.claimWaiting(role, 500);
    // Both marks claimed ('b#new' with its token): nothing is left to claim until a new WAIT.
    const none = await registry.claimWaiting(role, 600);
    await registry.markWaiting(role, 'b#new', 700);
    const afterWait = await registry.claimWaiting(role, 800);

    // The longest waiting first (two WAITs), unparked: its mark is claimed; the other's token is taken.
    expect(claims).toEqual(expect.arrayContaining([{ key: 'b#old' }, { key: 'b#new', token: 'tok-new' }]));
    expect([refused, afterDrop]).toEqual([false, true]);
    expect(third).toEqual({ key: 'b#old', token: 'tok-old' });
    expect(none).toBeUndefined();
    expect(afterWait).toEqual({ key: 'b#new' });
  });

  it('takes waiters by when they began to wait less their lead: a lead moves a later waiter ahead, by no more than it', async () => {
    const role = `role_${uniqueId('l').replace(/-/g, '_')}`;
    await registry.markWaiting(role, 'b#plain', 100_000);
    // Began 30 s later, with a minute of lead: ahead of 'plain'.
    await registry.markWaiting(role, 'b#deep', 130_000, 60_000);
    // Began two minutes before 'plain': longer than the lead of 'deep'.
    await registry.markWaiting(role, 'b#old', -20_000);
    // Its lead counts from its first WAIT, and a later WAIT keeps both.
    await registry.markWaiting(role, 'b#urgent', 150_000, 600_000);
    await registry.markWaiting(role, 'b#urgent', 160_000, 600_000);

    const order = [];
    for (let i = 0; i < 4; i++) order.push((await registry.claimWaiting(role, 200_000))?.key);

    expect(order).toEqual(['b#urgent', 'b#old', 'b#deep', 'b#plain']);
  });

  it('finds the longest waiter among more than 50 marks, wherever its key sorts and however many are claimed', async () => {
    const role = `role_${uniqueId('many').replace(/-/g, '_')}`;
    const key = (i: number) => `b#k${String(i).padStart(2, '0')}`;
    // 55 marks first in the index's (key) order, all claimed by hand-offs under way.
    for (let i = 0; i < 55; i++) await registry.markWaiting(role, key(i), 200 + i);
    for (let i = 0; i < 55; i++) expect(await registry.claimWaiting(role, 400)).toEqual({ key: key(i) });
    // Five parked waiters after them; the last key's first WAIT is the earliest of all, and it waited again.
    for (let i = 55; i < 60; i++) await registry.markWaiting(role, key(i), i === 59 ? 100 : 300 + i);
    await registry.markWaiting(role, key(59), 500);
    for (let i = 55; i < 60; i++) await registry.parkWaiting(role, key(i), `tok-${i}`);

    const claimed = await registry.claimWaiting(role, 600);
    const taken = await registry.takeParked(role);

    expect(claimed).toEqual({ key: key(59), token: 'tok-59' });
    expect(taken).toEqual({ key: key(55), token: 'tok-55' });
  });

  it('reads a page of marks, not every mark, to find the longest waiter of a long backlog', async () => {
    const role = `role_${uniqueId('backlog').replace(/-/g, '_')}`;
    // Every mark a release reads, counted at the document client the registry sends through.
    let marksRead = 0;
    const counted = new DynamoAgentRegistry(dynamo.agentsTable, {
      send: async (command: Parameters<typeof doc.send>[0]) => {
        const answer = (await doc.send(command)) as { Items?: unknown[] };
        marksRead += answer.Items?.length ?? 0;
        return answer;
      },
    } as unknown as typeof doc);
    const key = (i: number) => `b#t${String(i).padStart(3, '0')}`;
    // 300 waiters, the longest one's key in the middle; every other one parked.
    for (let i = 0; i < 300; i++) await registry.markWaiting(role, key(i), i === 150 ? 500 : 1_000 + i);
    for (let i = 0; i < 300; i += 2) await registry.parkWaiting(role, key(i), `tok-${i}`);

    marksRead = 0;
    const claimed = await counted.claimWaiting(role, 5_000);
    const claimRead = marksRead;
    marksRead = 0;
    const taken = await counted.takeParked(role);

    expect(claimed).toEqual({ key: key(150), token: 'tok-150' });
    expect(taken).toEqual({ key: key(0), token: 'tok-0' });
    expect(claimRead).toBeLessThanOrEqual(25);
    expect(marksRead).toBeLessThanOrEqual(25);
  });

  it('reclaims an expired lease once, and a late release of it changes nothing', async () => {
    const agent = agentOf('code_reviewer', uniqueId('agent'), { capacity: 2 });
    await registry.create(agent);
    await registry.reserve(agent.agentId, 10, lease('b#crashed#1', 500));

    const reclaimed = await registry.reclaimLease(agent.agentId, 'b#crashed#1', 500);
    const again = await registry.reclaimLease(agent.agentId, 'b#crashed#1', 500);
    await registry.release(agent.agentId, 600, 'b#crashed#1');

    expect([reclaimed, again]).toEqual([true, false]);
    const after = await registry.get(agent.agentId);
    expect(after?.reserved).toBe(0);
    expect(after?.leases).toEqual({});
  });

  it('does not reclaim a lease that a heartbeat extended after the scan', async () => {
    const agent = agentOf('code_reviewer', uniqueId('agent'));
    await registry.create(agent);
    await registry.reserve(agent.agentId, 10, lease('b#long#1', 500));

    expect(await registry.extendLease(agent.agentId, 'b#long#1', 900)).toBe(true);
    expect(await registry.extendLease(agent.agentId, 'b#long#1', 800)).toBe(false);
    expect(await registry.reclaimLease(agent.agentId, 'b#long#1', 500)).toBe(false);
    expect((await registry.get(agent.agentId))?.reserved).toBe(1);
  });

  it('gives the slot back with the outcome in one write: once per lease, never for a reclaimed lease', async () => {
    const agent = agentOf('code_reviewer', uniqueId('agent'), { capacity: 4 });
    await registry.create(agent);
    for (const key of ['b#a#1', 'b#b#1', 'b#c#1']) await registry.reserve(agent.agentId, 10, lease(key));
    const outcome = { success: true, latencyMs: 50, at: 20 };

    // Concurrent outcomes on one agent race on its version; each lease is given back exactly once.
    await Promise.all([
      registry.recordOutcome(agent.agentId, outcome, { leaseKey: 'b#a#1' }),
      registry.recordOutcome(agent.agentId, outcome, { leaseKey: 'b#b#1' }),
    ]);
    expect(await registry.reclaimLease(agent.agentId, 'b#c#1', 1_000)).toBe(true);
    const reclaimed = await registry.recordOutcome(agent.agentId, outcome, { leaseKey: 'b#c#1' });
    const repeated = await registry.recordOutcome(agent.agentId, outcome, { leaseKey: 'b#a#1' });

    expect(reclaimed?.reserved).toBe(0);
    expect(repeated).toMatchObject({ reserved: 0, leases: {}, attempts: 4, successes: 4 });
  });

  it('adds the lease map to an agent written before leases existed', async () => {
    const agent = agentOf('code_reviewer', uniqueId('agent'));
    await doc.send(new PutCommand({ TableName: dynamo.agentsTable, Item: { ...agent } }));

    expect(await registry.reserve(agent.agentId, 10, lease('b#t#1'))).toBe(true);
    expect((await registry.get(agent.agentId))?.leases).toEqual({ 'b#t#1': 1_000 });
  });
});

describe('circuit breaker', () => {
  async function failTimes(agentId: string, times: number, at: number) {
    for (let i = 0; i < times; i++)
      await registry.recordOutcome(agentId, { success: false, latencyMs: 1, at });
  }

  it('opens after consecutive failures and admits exactly one probe when the cool-down ends', async () => {
    const agent = agentOf('code_reviewer', uniqueId('agent'), { capacity: 5 });
    await registry.create(agent);
    await failTimes(agent.agentId, CIRCUIT_FAILURE_THRESHOLD, 1_000);
    const reopenAt = 1_000 + CIRCUIT_OPEN_MS;

    const during = await registry.reserve(agent.agentId, reopenAt - 1, lease('b#early#1'));
    const probes = await Promise.all(
      Array.from({ length: 5 }, (_, i) => registry.reserve(agent.agentId, reopenAt, lease(`b#p${i}#1`))),
    );

    expect(during).toBe(false);
    expect(probes.filter(Boolean)).toHaveLength(1);
    expect(await registry.get(agent.agentId)).toMatchObject({ circuit: 'half_open', reserved: 1 });
  });

  it('closes the circuit when the probe succeeds', async () => {
    const agent = agentOf('code_reviewer', uniqueId('agent'));
    await registry.create(agent);
    await failTimes(agent.agentId, CIRCUIT_FAILURE_THRESHOLD, 1_000);
    await registry.reserve(agent.agentId, 1_000 + CIRCUIT_OPEN_MS, lease('b#probe#1'));

    const after = await registry.recordOutcome(agent.agentId, { success: true, latencyMs: 5, at: 40_000 });

    expect(after).toMatchObject({ circuit: 'closed', consecutiveFailures: 0 });
    expect(await registry.reserve(agent.agentId, 40_001, lease('b#next#1'))).toBe(true);
  });

  it('re-opens the circuit for another cool-down when the probe fails', async () => {
    const agent = agentOf('code_reviewer', uniqueId('agent'));
    await registry.create(agent);
    await failTimes(agent.agentId, CIRCUIT_FAILURE_THRESHOLD, 1_000);
    const probeAt = 1_000 + CIRCUIT_OPEN_MS;
    await registry.reserve(agent.agentId, probeAt, lease('b#probe#1'));

    const after = await registry.recordOutcome(agent.agentId, {
      success: false,
      latencyMs: 5,
      at: probeAt + 10,
    });

    expect(after).toMatchObject({ circuit: 'open', circuitOpenUntil: probeAt + 10 + CIRCUIT_OPEN_MS });
    expect(await registry.reserve(agent.agentId, probeAt + 20, lease('b#again#1'))).toBe(false);
  });
});

describe('reserve told the circuit it saw', () => {
  it('sends only the write that can apply: the slot for a closed circuit, the probe first for an open one', async () => {
    const { client, commands } = countingClient(dynamo);
    const counted = new DynamoAgentRegistry(dynamo.agentsTable, documentClient(client));
    const full = agentOf('code_reviewer', uniqueId('agent'), { capacity: 1 });
    await registry.create(full);
    await registry.reserve(full.agentId, 10, lease('b#first#1'));
    const tripped = agentOf('code_reviewer', uniqueId('agent'));
    await registry.create(tripped);
    for (let i = 0; i < CIRCUIT_FAILURE_THRESHOLD; i++)
      await registry.recordOutcome(tripped.agentId, { success: false, latencyMs: 1, at: 1_000 });
    const probeAt = 1_000 + CIRCUIT_OPEN_MS;

    const fullRefused = await counted.reserve(full.agentId, 20, lease('b#second#1'), 'closed');
    const writesForFull = commands.length;
    const probed = await counted.reserve(tripped.agentId, probeAt, lease('b#probe#1'), 'open');
    const writesForProbe = commands.length - writesForFull;
    client.destroy();

    expect(fullRefused).toBe(false);
    expect(writesForFull).toBe(1);
    expect(probed).toBe(true);
    expect(writesForProbe).toBe(1);
    expect(await registry.get(tripped.agentId)).toMatchObject({ circuit: 'half_open', reserved: 1 });
  });
});

describe('waiting marks', () => {
  it('keeps one mark per waiting task, clears it, and stays out of the agent list', async () => {
    const role = `role_${uniqueId('w').replace(/-/g, '_')}`;

    await registry.markWaiting(role, 'b#t1', 100);
    await registry.markWaiting(role, 'b#t1', 200);
    await registry.markWaiting(role, 'b#t2', 150);
    await registry.clearWaiting(role, ['b#t2', 'b#never']);

    expect(await registry.waitingMarks(role)).toEqual({ 'b#t1': { at: 200, waitingFor: 'capacity' } });
    expect((await registry.list()).some((a) => a.agentId.includes(role))).toBe(false);
    expect(await registry.list(role)).toEqual([]);
  });

  it('keeps what a task waits for as its latest WAIT says: budget, then capacity', async () => {
    const role = `role_${uniqueId('w').replace(/-/g, '_')}`;

    await registry.markWaiting(role, 'b#t1', 100, 0, 'budget');
    await registry.markWaiting(role, 'b#t2', 110);
    expect(await registry.waitingMarks(role)).toEqual({
      'b#t1': { at: 100, waitingFor: 'budget' },
      'b#t2': { at: 110, waitingFor: 'capacity' },
    });

    // Its budget fits now, but no slot is free: the next WAIT is for capacity.
    expect(await registry.markWaiting(role, 'b#t1', 120, 0, 'capacity')).toBe(2);
    expect((await registry.waitingMarks(role))['b#t1']).toEqual({ at: 120, waitingFor: 'capacity' });
  });

  it('counts consecutive waits of a task, starting again after its mark is cleared', async () => {
    const role = `role_${uniqueId('n').replace(/-/g, '_')}`;

    const counts = [
      await registry.markWaiting(role, 'b#t1', 100),
      await registry.markWaiting(role, 'b#t1', 200),
      await registry.markWaiting(role, 'b#t1', 300),
    ];
    await registry.clearWaiting(role, ['b#t1']);
    const afterClear = await registry.markWaiting(role, 'b#t1', 400);

    expect(counts).toEqual([1, 2, 3]);
    expect(afterClear).toBe(1);
  });

  it('takes a mark with the token parked on it, if any, so the task that started can answer it', async () => {
    const role = `role_${uniqueId('t').replace(/-/g, '_')}`;
    await registry.markWaiting(role, 'b#parked', 100);
    await registry.markWaiting(role, 'b#unparked', 100);
    expect(await registry.parkWaiting(role, 'b#parked', 'tok')).toBe(true);

    const taken = [
      await registry.takeWaiting(role, 'b#parked'),
      await registry.takeWaiting(role, 'b#unparked'),
      await registry.takeWaiting(role, 'b#never'),
    ];

    expect(taken).toEqual(['tok', undefined, undefined]);
    expect(await registry.waitingMarks(role)).toEqual({});
    // A park after the take finds no mark: its task reads the attempt instead (parkTask).
    expect(await registry.parkWaiting(role, 'b#parked', 'late')).toBe(false);
  });

  it('prunes only marks still stale, keeping one refreshed and parked since the scaler read it', async () => {
    const role = `role_${uniqueId('p').replace(/-/g, '_')}`;
    await registry.markWaiting(role, 'b#gone', 100);
    await registry.markWaiting(role, 'b#back', 100);
    const seenStale = Object.keys(await registry.waitingMarks(role));
    // Between the scaler's read and its delete, 'back' waits again and parks its token.
    await registry.markWaiting(role, 'b#back', 20_000);
    expect(await registry.parkWaiting(role, 'b#back', 'tok')).toBe(true);

    await registry.clearWaiting(role, seenStale, 10_000);

    expect(await registry.waitingMarks(role)).toEqual({ 'b#back': { at: 20_000, waitingFor: 'capacity' } });
    expect(await registry.takeParked(role)).toEqual({ token: 'tok', key: 'b#back' });
  });
});
