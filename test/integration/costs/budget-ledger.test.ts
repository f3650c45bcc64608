/**
 * The budget ledger on dynalite: concurrent holds never exceed a limit, each attempt settles once however
 * often its end is delivered, and the spend stays within the documented bound (the budget, plus only what
 * attempts used beyond the worst case they held) under every interleaving fast-check tries.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoAgentRegistry } from '../../../shared/adapters/dynamodb/agent-registry';
import { DynamoBudgetLedger } from '../../../shared/adapters/dynamodb/budget-ledger';
import { documentClient } from '../../../shared/adapters/dynamodb/client';
import { DynamoTaskStore } from '../../../shared/adapters/dynamodb/task-store';
import type { BudgetAmount, LedgerState } from '../../../shared/domain/budget';
import type { Attempt } from '../../../shared/domain/schemas';
import type { Callbacks, Orchestrator, StoredTask } from '../../../shared/ports';
import { completeTask } from '../../../shared/usecases/complete';
import { redriveBatch } from '../../../shared/usecases/redrive';
import { submitBatch } from '../../../shared/usecases/submit';
import { type LocalDynamo, startDynalite } from '../../support/dynalite';
import { batchOf, catalog } from '../../support/fixtures';

let dynamo: LocalDynamo;
let ledger: DynamoBudgetLedger;
let batches = 0;

beforeAll(async () => {
  dynamo = await startDynalite();
  ledger = new DynamoBudgetLedger(dynamo.tasksTable, documentClient(dynamo.client));
});

afterAll(async () => {
  await dynamo?.stop();
});

const nextBatch = () => `ledger-${++batches}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the budget ledger', () => {
  it('holds what fits, refuses what does not, and shows both', async () => {
    const batchId = nextBatch();
    await ledger.open(batchId, { maxNanoUsd: 1_000, maxTokens: 100 });

    expect(await ledger.reserve(batchId, 'a#1', { nanoUsd: 600, tokens: 10 })).toEqual({
      held: { nanoUsd: 600, tokens: 10 },
    });
    const refused = await ledger.reserve(batchId, 'b#1', { nanoUsd: 500, tokens: 10 });

    expect(refused).toEqual({
      held: false,
      state: {
        maxNanoUsd: 1_000,
        maxTokens: 100,
        spent: { nanoUsd: 0, tokens: 0 },
        reserved: { nanoUsd: 600, tokens: 10 },
      },
    });
  });

  it('answers a repeated hold of the same attempt with the hold taken first, holding it once', async () => {
    const batchId = nextBatch();
    await ledger.open(batchId, { maxTokens: 100 });
    await ledger.reserve(batchId, 'a#1', { nanoUsd: 0, tokens: 60 });

    expect(await ledger.reserve(batchId, 'a#1', { nanoUsd: 0, tokens: 70 })).toEqual({
      held: { nanoUsd: 0, tokens: 60 },
    });
    expect((await ledger.get(batchId))?.reserved.tokens).toBe(60);
  });

  it('settles an attempt once: a redelivered end changes nothing', async () => {
    const batchId = nextBatch();
    await ledger.open(batchId, { maxNanoUsd: 1_000 });
    const held = { nanoUsd: 800, tokens: 50 };
    await ledger.reserve(batchId, 'a#1', held);

    const first = await ledger.settle(batchId, 'a#1', held, { nanoUsd: 300, tokens: 20 });
    const again = await ledger.settle(batchId, 'a#1', held, { nanoUsd: 300, tokens: 20 });

    expect([first, again]).toEqual([true, false]);
    expect(await ledger.get(batchId)).toMatchObject({
      spent: { nanoUsd: 300, tokens: 20 },
      reserved: { nanoUsd: 0, tokens: 0 },
    });
    // What the settle gave back is left: 700 more fit.
    expect((await ledger.reserve(batchId, 'b#1', { nanoUsd: 700, tokens: 0 })).held).toBeTruthy();
  });

  it('refuses every hold once exhausted, and keeps the first reason', async () => {
    const batchId = nextBatch();
    await ledger.open(batchId, { maxTokens: 100 });

    expect(await ledger.exhaust(batchId, 'first')).toBe('first');
    expect(await ledger.exhaust(batchId, 'second')).toBe('first');
    expect(await ledger.reserve(batchId, 'a#1', { nanoUsd: 0, tokens: 1 })).toMatchObject({
      held: false,
      state: { exhausted: 'first' },
    });
  });

  it('takes new limits for a redrive: what is left follows, the exhausted mark goes, the spend stays', async () => {
    const batchId = nextBatch();
    await ledger.open(batchId, { maxTokens: 100 });
    const held = { nanoUsd: 0, tokens: 90 };
    await ledger.reserve(batchId, 'a#1', held);
    await ledger.settle(batchId, 'a#1', held, { nanoUsd: 0, tokens: 90 });
    await ledger.exhaust(batchId, 'budget exhausted');

    await ledger.setLimits(batchId, { maxTokens: 300, maxNanoUsd: 5 }, { nanoUsd: 0, tokens: 0 });

    expect(await ledger.get(batchId)).toEqual({
      maxNanoUsd: 5,
      maxTokens: 300,
      spent: { nanoUsd: 0, tokens: 90 },
      reserved: { nanoUsd: 0, tokens: 0 },
    });
    expect((await ledger.reserve(batchId, 'b#1', { nanoUsd: 5, tokens: 210 })).held).toBeTruthy();
    expect((await ledger.reserve(batchId, 'c#1', { nanoUsd: 0, tokens: 1 })).held).toBe(false);
  });

  it('keeps spend within the budget plus what attempts used beyond their holds, under concurrent holds and redelivered ends', async () => {
    const attempt = fc.record({
      worst: fc.record({
        nanoUsd: fc.integer({ min: 0, max: 5_000 }),
        tokens: fc.integer({ min: 1, max: 3_000 }),
      }),
      // Real usage as a share of the worst case; above 1: a provider that ignored max_tokens.
      used: fc.oneof(
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 1, max: 1.5, noNaN: true }),
      ),
      reported: fc.boolean(),
      redelivered: fc.boolean(),
      delayMs: fc.integer({ min: 0, max: 5 }),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          maxNanoUsd: fc.option(fc.integer({ min: 1, max: 40_000 }), { nil: undefined }),
          maxTokens: fc.option(fc.integer({ min: 1, max: 20_000 }), { nil: undefined }),
        }),
        fc.array(attempt, { minLength: 1, maxLength: 24 }),
        async (limits, attempts) => {
          const batchId = nextBatch();
          await ledger.open(batchId, {
            ...(limits.maxNanoUsd !== undefined ? { maxNanoUsd: limits.maxNanoUsd } : {}),
            ...(limits.maxTokens !== undefined ? { maxTokens: limits.maxTokens } : {}),
          });
          const samples: LedgerState[] = [];
          let excess: BudgetAmount = { nanoUsd: 0, tokens: 0 };
          let charged: BudgetAmount = { nanoUsd: 0, tokens: 0 };
          let running = true;
          const sampler = (async () => {
            while (running) {
              const state = await ledger.get(batchId);
              if (state) samples.push(state);
            }
          })();
          await Promise.all(
            attempts.map(async (a, i) => {
              const key = `t${i}#1`;
              const result = await ledger.reserve(batchId, key, a.worst);
              if (!result.held) return;
              await sleep(a.delayMs);
              const charge = a.reported
                ? {
                    nanoUsd: Math.round(a.worst.nanoUsd * a.used),
                    tokens: Math.round(a.worst.tokens * a.used),
                  }
                : a.worst;
              const ends = await Promise.all(
                Array.from({ length: a.redelivered ? 2 : 1 }, () =>
                  ledger.settle(batchId, key, result.held, charge),
                ),
              );
              expect(ends.filter(Boolean)).toHaveLength(1);
              charged = { nanoUsd: charged.nanoUsd + charge.nanoUsd, tokens: charged.tokens + charge.tokens };
              excess = {
                nanoUsd: excess.nanoUsd + Math.max(0, charge.nanoUsd - a.worst.nanoUsd),
                tokens: excess.tokens + Math.max(0, charge.tokens - a.worst.tokens),
              };
            }),
          );
          running = false;
          await sampler;
          const final = await ledger.get(batchId);
          expect(final?.reserved).toEqual({ nanoUsd: 0, tokens: 0 });
          expect(final?.spent).toEqual(charged);
          // The bound: spent plus held never passes a limit by more than the excess of the attempts settled.
          for (const state of [...samples, final as LedgerState]) {
            if (limits.maxNanoUsd !== undefined)
              expect(state.spent.nanoUsd + state.reserved.nanoUsd).toBeLessThanOrEqual(
                limits.maxNanoUsd + excess.nanoUsd,
              );
            if (limits.maxTokens !== undefined)
              expect(state.spent.tokens + state.reserved.tokens).toBeLessThanOrEqual(
                limits.maxTokens + excess.tokens,
              );
          }
        },
      ),
      { numRuns: 40 },
    );
  }, 120_000);
});

describe('a budget at submission', () => {
  const orchestrator: Orchestrator = {
    start: async (name) => ({ executionArn: `arn:aws:states:us-east-1:1:execution:sm:${name}` }),
    stop: async () => {},
    executionArnOf: (name) => `arn:aws:states:us-east-1:1:execution:sm:${name}`,
  };
  const submit = (batch: unknown) =>
    submitBatch(
      {
        store: new DynamoTaskStore(dynamo.tasksTable, documentClient(dynamo.client)),
        orchestrator,
        catalog,
        clock: { now: () => 1 },
        ids: { next: (prefix = '') => `${prefix}${++batches}` },
        ledger,
        defaultBudget: { maxCostUsd: 2, maxTokens: 1_000 },
      },
      { body: JSON.stringify(batch) },
    );
  const tasks = [{ id: 'a', description: 'Write the endpoint' }];

  it("takes the deployment's default for the fields a batch leaves out, and opens the batch's ledger", async () => {
    const { batchId } = await submit({ tasks, options: { budget: { maxTokens: 50_000 } } });

    expect(await ledger.get(batchId)).toEqual({
      maxNanoUsd: 2_000_000_000,
      maxTokens: 50_000,
      spent: { nanoUsd: 0, tokens: 0 },
      reserved: { nanoUsd: 0, tokens: 0 },
    });
  });

  it("gives a batch without a budget the deployment's default", async () => {
    const { batchId } = await submit({ tasks });

    expect(await ledger.get(batchId)).toMatchObject({ maxNanoUsd: 2_000_000_000, maxTokens: 1_000 });
  });
});

describe('a hold no attempt will settle', () => {
  it('goes back unspent when the task fails on the error of the Route that held it', async () => {
    const store = new DynamoTaskStore(dynamo.tasksTable, documentClient(dynamo.client));
    const agents = new DynamoAgentRegistry(dynamo.agentsTable, documentClient(dynamo.client));
    const callbacks: Callbacks = {
      succeed: async () => true,
      fail: async () => true,
      heartbeat: async () => true,
    };
    const batchId = nextBatch();
    const seeded = batchOf(batchId, [{ id: 'a', description: 'Write the endpoint' }]);
    await store.createBatch({ ...seeded.batch, budget: { maxTokens: 100 } }, seeded.tasks);
    await ledger.open(batchId, { maxTokens: 100 });
    // Route held attempt 1's worst case, then failed before starting it.
    await ledger.reserve(batchId, 'a#1', { nanoUsd: 0, tokens: 80 });

    await completeTask(
      { store, agents, callbacks, clock: { now: () => 1 }, ledger },
      { batchId, taskId: 'a', outcome: 'FAILED', error: { Error: 'Error', Cause: 'the store refused' } },
    );

    expect(await ledger.get(batchId)).toMatchObject({
      spent: { nanoUsd: 0, tokens: 0 },
      reserved: { nanoUsd: 0, tokens: 0 },
    });
    expect(await ledger.dropHold(batchId, 'a#1')).toBe(false);
  });
});

describe('a redrive that gives a batch its first budget', () => {
  it('starts the ledger with the cost of the priced attempts, even when another attempt had no price', async () => {
    const store = new DynamoTaskStore(dynamo.tasksTable, documentClient(dynamo.client));
    const orchestrator: Orchestrator = {
      start: async (name) => ({ executionArn: `arn:aws:states:us-east-1:1:execution:sm:${name}` }),
      stop: async () => {},
      executionArnOf: (name) => `arn:aws:states:us-east-1:1:execution:sm:${name}`,
    };
    const batchId = nextBatch();
    const seeded = batchOf(batchId, [
      { id: 'priced', description: 'Write the endpoint' },
      { id: 'unpriced', description: 'Write the endpoint' },
      { id: 'died', description: 'Write the endpoint' },
    ]);
    const ran = (task: StoredTask, attempt: Attempt, status: StoredTask['status']): StoredTask => ({
      ...task,
      status,
      attemptCount: 1,
      attempts: [attempt],
    });
    const [priced, unpriced, died] = seeded.tasks as [StoredTask, StoredTask, StoredTask];
    const base = { agentId: 'python_backend_coder-1', startedAt: 1, finishedAt: 2 };
    await store.createBatch({ ...seeded.batch, status: 'PARTIAL' }, [
      ran(
        priced,
        { ...base, status: 'SUCCEEDED', usage: { inputTokens: 1_000, outputTokens: 500 }, costUsd: 0.007 },
        'SUCCEEDED',
      ),
      ran(
        unpriced,
        { ...base, status: 'FAILED', usage: { inputTokens: 300, outputTokens: 20 }, costUsd: null },
        'FAILED',
      ),
      ran(died, { ...base, status: 'FAILED' }, 'FAILED'),
    ]);

    await redriveBatch({ store, orchestrator, ledger }, batchId, { budget: { maxCostUsd: 1 } });

    expect(await ledger.get(batchId)).toEqual({
      maxNanoUsd: 1_000_000_000,
      spent: { nanoUsd: 7_000_000, tokens: 1_820 },
      reserved: { nanoUsd: 0, tokens: 0 },
    });
  });
});
