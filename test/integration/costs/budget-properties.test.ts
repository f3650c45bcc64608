/**
 * Budgets under concurrent routes on the embedded runtime (dynalite, the deployed state machine and handlers):
 * for DAG shapes, durations, failing attempts and cost budgets that fast-check generates, with the simulated
 * executor priced in the config, every batch ends with nothing held, spend within the budget and equal to the
 * batch's cost (each attempt settled once, failed ones included), every task not run CANCELLED with the reason
 * and every task downstream of one SKIPPED.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attemptWorstCase } from '../../../shared/domain/budget';
import { nanoToUsd, type Price, PriceTable, usdToNano } from '../../../shared/domain/costs';
import { extractRequirements } from '../../../shared/domain/routing';
import type { ExecutorConfig, Task } from '../../../shared/domain/schemas';
import { EmbeddedSystem } from '../../../shared/local/system';

const ROLE = 'python_backend_coder';
const EXECUTOR: ExecutorConfig = { name: 'simulated', maxOutputTokens: 256 };
const PRICE: Price = { provider: 'simulated', inputUsdPerMTok: 3, outputUsdPerMTok: 15 };

let system: EmbeddedSystem;
let worstUsd: number;
let runs = 0;

beforeAll(async () => {
  system = await EmbeddedSystem.start({
    scalerIntervalMs: 0,
    heartbeatSeconds: 60,
    roles: [{ name: ROLE, defaults: { executor: EXECUTOR, capacity: 4, maxAgents: 3 } }],
    costs: { prices: [PRICE] },
  });
  const role = system.catalog.get(ROLE);
  const sample: Task = { id: 't00', description: 'Write the endpoint', role: ROLE };
  if (!role) throw new Error('no role');
  const worst = attemptWorstCase({
    role,
    task: sample,
    requirements: extractRequirements(sample, system.catalog),
    attempt: 1,
    executor: EXECUTOR,
    prices: new PriceTable([PRICE]),
  });
  worstUsd = nanoToUsd(worst.nanoUsd ?? 0);
}, 60_000);

afterAll(async () => {
  await system?.stop();
});

/** A DAG of 3 to 10 tasks, each depending on up to two earlier ones, some failing their first attempt. */
const dagArbitrary = fc
  .array(
    fc.record({
      deps: fc.uniqueArray(fc.nat(), { maxLength: 2 }),
      durationMs: fc.integer({ min: 0, max: 60 }),
      failsFirst: fc.boolean(),
    }),
    { minLength: 3, maxLength: 10 },
  )
  .map((specs) =>
    specs.map((spec, i): Task => {
      const dependsOn =
        i === 0 ? [] : [...new Set(spec.deps.map((d) => `t${String(d % i).padStart(2, '0')}`))];
      return {
        id: `t${String(i).padStart(2, '0')}`,
        description: 'Write the endpoint',
        role: ROLE,
        ...(dependsOn.length > 0 ? { dependsOn, context: 'none' as const } : {}),
        input: { simulate: { durationMs: spec.durationMs, ...(spec.failsFirst ? { failAttempts: 1 } : {}) } },
      };
    }),
  );

const task = (id: string, dependsOn: string[], failsFirst = false): Task => ({
  id,
  description: 'Write the endpoint',
  role: ROLE,
  ...(dependsOn.length > 0 ? { dependsOn, context: 'none' as const } : {}),
  input: { simulate: { durationMs: 20, ...(failsFirst ? { failAttempts: 1 } : {}) } },
});
const chain = [task('t00', [], true), task('t01', ['t00']), task('t02', ['t01']), task('t03', ['t02'])];
const diamond = [
  task('t00', []),
  task('t01', ['t00'], true),
  task('t02', ['t00']),
  task('t03', ['t01', 't02']),
];

describe('budgets under concurrent routes', () => {
  it('never spends past the budget, settles every attempt once, and cancels or skips what it did not run', async () => {
    const seen = new Set<string>();
    await fc.assert(
      fc.asyncProperty(dagArbitrary, fc.double({ min: 0.5, max: 12, noNaN: true }), async (tasks, share) => {
        const batchId = `budget-property-${++runs}`;
        const maxCostUsd = Number((share * worstUsd).toFixed(9));
        await system.submit({ batchId, options: { budget: { maxCostUsd }, maxAttempts: 3 }, tasks });
        const result = await system.waitForBatch(batchId);
        const budget = result.budget;
        expect(budget).toBeDefined();
        if (!budget) return;

        expect([budget.reservedUsd, budget.reservedTokens]).toEqual([0, 0]);
        expect(usdToNano(budget.spentUsd)).toBeLessThanOrEqual(usdToNano(maxCostUsd));
        // Every attempt reported its usage: the ledger's spend is the batch's cost exactly.
        expect(usdToNano(budget.spentUsd)).toBe(usdToNano(result.costUsd ?? 0));
        const byId = new Map(result.tasks.map((t) => [t.id, t]));
        const cancelled = result.tasks.filter((t) => t.status === 'CANCELLED');
        seen.add(cancelled.length > 0 ? 'stopped' : 'finished');
        for (const task of cancelled) expect(task.reason).toMatch(/^budget exhausted: \$/);
        if (cancelled.length > 0) expect(budget.exhausted).toMatch(/^budget exhausted: \$/);
        for (const task of result.tasks) {
          expect(['SUCCEEDED', 'CANCELLED', 'SKIPPED'], `${task.id}: ${task.reason}`).toContain(task.status);
          if (task.status !== 'SKIPPED') continue;
          const deps = tasks.find((t) => t.id === task.id)?.dependsOn ?? [];
          expect(deps.some((d) => byId.get(d)?.status !== 'SUCCEEDED')).toBe(true);
        }
      }),
      {
        numRuns: 6,
        // Always among the runs: a chain whose budget stops it part-way (one attempt fails first and is paid
        // for), and a diamond the budget lets finish.
        examples: [
          [chain, 1.2],
          [diamond, 12],
        ],
      },
    );
    expect([...seen].sort()).toEqual(['finished', 'stopped']);
  }, 300_000);
});
