/** The process's view of the pool (pool-view.ts) through DynamoAgentRegistry, against dynalite. */
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DynamoAgentRegistry } from '../../../shared/adapters/dynamodb/agent-registry';
import { documentClient } from '../../../shared/adapters/dynamodb/client';
import { poolViewOf } from '../../../shared/adapters/dynamodb/pool-view';
import type { Agent } from '../../../shared/domain/schemas';
import { countingClient, type LocalDynamo, startDynalite } from '../../support/dynalite';
import { agentOf, uniqueId } from '../../support/fixtures';

let dynamo: LocalDynamo;
let counting: ReturnType<typeof countingClient>;
/** Every agent write of these tests passes through it, as on the embedded runtime. */
let registry: DynamoAgentRegistry;
let letGo: (() => void) | undefined;

beforeAll(async () => {
  dynamo = await startDynalite();
  counting = countingClient(dynamo);
  registry = new DynamoAgentRegistry(dynamo.agentsTable, documentClient(counting.client));
});

afterEach(() => {
  letGo?.();
  letGo = undefined;
});

afterAll(async () => {
  counting.client.destroy();
  await dynamo.stop();
});

const hold = () => {
  letGo = poolViewOf(dynamo.agentsTable).holdWhileEveryWriteIsHere();
};
/** Queries sent so far. */
const queries = () => counting.commands.filter((c) => c === 'QueryCommand').length;
const lease = (key: string) => ({ key, expiresAt: 1_000_000 });

/** A role of its own and its agents, created. */
async function pool(...capacities: number[]): Promise<{ role: string; agents: Agent[] }> {
  const role = `code_reviewer_${uniqueId('r').replace(/-/g, '_')}`;
  const agents = capacities.map((capacity, i) =>
    agentOf('code_reviewer', `${role}-${i}`, { role, capacity, specializations: ['review'] }),
  );
  for (const agent of agents) await registry.create(agent);
  return { role, agents };
}

/** The agents of `role` as the table has them (GetItem, never the view). */
async function fromTable(agents: readonly Agent[]): Promise<(Agent | undefined)[]> {
  return Promise.all(agents.map((a) => registry.get(a.agentId)));
}

describe('the pool view, held', () => {
  it('lists a role from one Query, kept exact by every agent write of the process', async () => {
    hold();
    const { role, agents } = await pool(2, 1);
    const before = queries();
    const [first, second] = agents as [Agent, Agent];

    expect(await registry.list(role)).toEqual(await fromTable(agents));
    await registry.reserve(first.agentId, 10, lease('b#t1#1'));
    await registry.reserve(second.agentId, 10, lease('b#t2#1'));
    expect(await registry.list(role)).toMatchObject([{ reserved: 1 }, { reserved: 1 }]);
    await registry.release(first.agentId, 20, 'b#t1#1');
    await registry.recordOutcome(
      second.agentId,
      { success: true, latencyMs: 50, at: 30 },
      { leaseKey: 'b#t2#1' },
    );
    await registry.update(first.agentId, { capacity: 3 });
    const spawned = agentOf('code_reviewer', `${role}-2`, { role });
    await registry.create(spawned);
    await registry.setStatus(spawned.agentId, 'draining');
    const listed = await registry.list(role);

    expect(listed).toEqual(await fromTable([...agents, spawned]));
    expect(listed).toMatchObject([
      { reserved: 0, capacity: 3 },
      { reserved: 0, successes: 1 },
      { status: 'draining' },
    ]);
    // One Query: the first list.
    expect(queries() - before).toBe(1);
    // Shared with later lists, so nobody may change them.
    expect(() => {
      (listed[0] as { reserved: number }).reserved = 5;
    }).toThrow(TypeError);
  });

  it('queries again after a write it cannot account for: refused, overlapping, or not answering the item', async () => {
    hold();
    const { role, agents } = await pool(1);
    const [agent] = agents as [Agent];
    await registry.reserve(agent.agentId, 10, lease('b#t1#1'));
    await registry.list(role);
    const looks: number[] = [];
    const queriesAfter = async (write: () => Promise<unknown>) => {
      const before = queries();
      await write();
      await registry.list(role);
      await registry.list(role);
      looks.push(queries() - before);
    };

    // Refused: the agent is full.
    await queriesAfter(() => registry.reserve(agent.agentId, 20, lease('b#t2#1'), 'closed'));
    // Two writes of one agent in flight at once: their answers may be handled in either order.
    await queriesAfter(() =>
      Promise.all([
        registry.extendLease(agent.agentId, 'b#t1#1', 2_000_000),
        registry.release(agent.agentId, 30),
      ]),
    );
    // A waiting mark is not an agent: the listing stays.
    await queriesAfter(() => registry.markWaiting(role, 'b#t3', 40));
    // A write that asks for something else than the item.
    await queriesAfter(() =>
      (registry as unknown as { client: DynamoDBDocumentClient }).client.send(
        new UpdateCommand({
          TableName: dynamo.agentsTable,
          Key: { agentId: agent.agentId },
          UpdateExpression: 'SET lastActiveAt = :at',
          ExpressionAttributeValues: { ':at': 50 },
          ReturnValues: 'UPDATED_OLD',
        }),
      ),
    );

    expect(looks).toEqual([1, 1, 0, 1]);
    expect(await registry.list(role)).toEqual(await fromTable(agents));
  });

  it("waits for a write of the role's agents in flight, and answers the pool after it without a Query", async () => {
    hold();
    const { role, agents } = await pool(1, 1);
    const [first, second] = agents as [Agent, Agent];
    await registry.list(role);
    const before = queries();

    const reserving = registry.reserve(first.agentId, 10, lease('b#t1#1'));
    const listed = await registry.list(role);
    await reserving;
    // A write of another role's agent is not waited for.
    const other = await pool(1);
    await registry.list(other.role);
    let released = false;
    const releasing = registry.release(first.agentId, 20, 'b#t1#1').then(() => {
      released = true;
    });
    const otherListed = await registry.list(other.role);
    const releasedFirst = released;
    await releasing;

    expect(listed).toMatchObject([
      { agentId: first.agentId, reserved: 1 },
      { agentId: second.agentId, reserved: 0 },
    ]);
    expect(otherListed).toMatchObject([{ reserved: 0 }]);
    expect(releasedFirst).toBe(false);
    expect(queries() - before).toBe(1);
  });

  it('does not keep a Query during which an agent write ended', async () => {
    hold();
    const { role, agents } = await pool(1);
    const [agent] = agents as [Agent];
    const before = queries();

    const [listed] = await Promise.all([registry.list(role), registry.reserve(agent.agentId, 10)]);
    await registry.list(role);

    expect(listed).toHaveLength(1);
    expect(queries() - before).toBe(2);
    expect(await registry.list(role)).toMatchObject([{ reserved: 1 }]);
  });
});

describe('the pool view, not held', () => {
  it('keeps nothing: every list queries, and a hold starts from nothing', async () => {
    const { role } = await pool(1);
    const before = queries();
    await registry.list(role);
    await registry.list(role);
    expect(queries() - before).toBe(2);

    hold();
    await registry.list(role);
    await registry.list(role);
    letGo?.();
    letGo = undefined;
    await registry.list(role);

    expect(queries() - before).toBe(4);
  });
});
