/**
 * Batch budgets on the embedded runtime (the deployed state machine and handlers), against a local stand-in
 * of Anthropic that answers every call with known usage (2,000 tokens in, 500 out): a token budget that
 * allows ten of a batch's twenty tasks stops dispatching there while routes run concurrently, the tasks left
 * end CANCELLED with the reason and their dependents SKIPPED, spend stays within the budget, and a redrive
 * with a raised budget finishes the rest. Bad budgets are refused with their JSON paths, nothing run.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attemptWorstCase } from '../../../shared/domain/budget';
import { PriceTable } from '../../../shared/domain/costs';
import { extractRequirements } from '../../../shared/domain/routing';
import type { BatchResult, ExecutorConfig, Task } from '../../../shared/domain/schemas';
import { ApiRequestError, EmbeddedSystem } from '../../../shared/local/system';
import { anthropicText } from '../../support/provider-replies';
import { type FakeProvider, startFakeProvider } from '../../unit/executors/fake-provider';

const ROLE = 'python_backend_coder';
const EXECUTOR: ExecutorConfig = { name: 'anthropic', model: 'claude-budget-test', maxOutputTokens: 500 };
/** What every call uses: 2,500 tokens. */
const USED = 2_500;
const roots: Task[] = Array.from({ length: 16 }, (_, i) => ({
  id: `r${String(i + 1).padStart(2, '0')}`,
  description: 'Write the endpoint',
  role: ROLE,
}));
const dependents: Task[] = Array.from({ length: 4 }, (_, i) => ({
  id: `d${i + 1}`,
  description: 'Review the endpoints',
  role: ROLE,
  dependsOn: roots.map((r) => r.id),
  context: 'none',
}));

let provider: FakeProvider;
let system: EmbeddedSystem;
let secretsDir: string;
let worst: number;
let maxTokens: number;
let stopped: BatchResult;
let callsWhenStopped: number;
let redriven: BatchResult;

beforeAll(async () => {
  provider = await startFakeProvider(() =>
    anthropicText('done', { input_tokens: 2_000, output_tokens: 500 }),
  );
  secretsDir = await mkdtemp(join(tmpdir(), 'meta-agent-budgets-'));
  const secrets = join(secretsDir, 'secrets.json');
  await writeFile(secrets, JSON.stringify({ anthropic: 'sk-ant-test' }), { mode: 0o600 });
  system = await EmbeddedSystem.start({
    scalerIntervalMs: 0,
    // A missed heartbeat on a loaded machine would time an attempt out, charging its worst case: the counts
    // below assume every attempt answers.
    heartbeatSeconds: 60,
    roles: [{ name: ROLE, defaults: { executor: EXECUTOR, capacity: 8, maxAgents: 4 } }],
    env: { ANTHROPIC_BASE_URL: provider.url, META_AGENT_SECRETS_FILE: secrets },
  });
  const role = system.catalog.get(ROLE);
  if (!role || !roots[0]) throw new Error('no role');
  worst = attemptWorstCase({
    role,
    task: roots[0],
    requirements: extractRequirements(roots[0], system.catalog),
    attempt: 1,
    executor: EXECUTOR,
    prices: new PriceTable(),
  }).tokens;
  // Ten calls and half a worst case: the tenth fits, an eleventh never does (its worst case is below 2 calls).
  maxTokens = 10 * USED + Math.floor(worst / 2);
  await system.submit({
    batchId: 'half',
    options: { budget: { maxTokens } },
    tasks: [...roots, ...dependents],
  });
  stopped = await system.waitForBatch('half');
  callsWhenStopped = provider.requests.length;
  const response = await system.request({
    method: 'POST',
    path: '/batches/half/redrive',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ budget: { maxTokens: 100_000 } }),
  });
  if (response.statusCode !== 202) throw new Error(`redrive: ${response.statusCode} ${response.body}`);
  redriven = await system.waitForBatch('half');
}, 180_000);

afterAll(async () => {
  await system?.stop();
  await provider?.close();
  await rm(secretsDir, { recursive: true, force: true });
});

const statuses = (result: BatchResult) => result.tasks.map((t) => t.status);

describe('a batch budget', () => {
  it('holds worst cases that make the test meaningful (an attempt holds more than it uses, less than two calls)', () => {
    expect(worst).toBeGreaterThan(USED);
    expect(worst).toBeLessThan(2 * USED);
  });

  it('stops dispatching once the next attempt does not fit: ten tasks succeed, the rest do not run', () => {
    expect(statuses(stopped).filter((s) => s === 'SUCCEEDED')).toHaveLength(10);
    expect(callsWhenStopped).toBe(10);
    expect(stopped.status).toBe('PARTIAL');
  });

  it('cancels the tasks left with the reason and skips their dependents', () => {
    const reason = `budget exhausted: ${(10 * USED).toLocaleString('en-US')} of ${maxTokens.toLocaleString('en-US')} tokens spent`;
    const cancelled = stopped.tasks.filter((t) => t.status === 'CANCELLED');
    expect(cancelled.map((t) => t.id).every((id) => id.startsWith('r'))).toBe(true);
    expect(cancelled).toHaveLength(6);
    for (const task of cancelled) {
      expect(task.reason).toContain(reason);
      expect(task.attempts).toEqual([]);
    }
    for (const task of stopped.tasks.filter((t) => t.id.startsWith('d'))) {
      expect(task.status).toBe('SKIPPED');
      expect(task.reason).toMatch(/\(CANCELLED\)/);
    }
  });

  it('shows the budget in the result: spent within the limit, nothing held, why it stopped', () => {
    expect(stopped.budget).toEqual({
      maxTokens,
      spentTokens: 10 * USED,
      spentUsd: expect.any(Number),
      reservedTokens: 0,
      reservedUsd: 0,
      exhausted: expect.stringContaining('budget exhausted'),
    });
    expect(stopped.budget?.spentTokens).toBeLessThanOrEqual(maxTokens);
    expect(stopped.usage?.inputTokens).toBe(10 * 2_000);
  });

  it('finishes the rest after a redrive with a raised budget, running only what had not succeeded', () => {
    expect(statuses(redriven).every((s) => s === 'SUCCEEDED')).toBe(true);
    expect(provider.requests).toHaveLength(20);
    for (const task of redriven.tasks) expect(task.attempts).toHaveLength(1);
    expect(redriven.budget).toEqual({
      maxTokens: 100_000,
      spentTokens: 20 * USED,
      spentUsd: expect.any(Number),
      reservedTokens: 0,
      reservedUsd: 0,
    });
  });

  it('cancels an attempt on a model without a price under a cost cap, saying how to price it', async () => {
    const before = provider.requests.length;
    await system.submit({
      batchId: 'unpriced',
      options: { budget: { maxCostUsd: 5 } },
      tasks: [
        { id: 'a', description: 'Write the endpoint', role: ROLE },
        { id: 'b', description: 'Review it', role: ROLE, dependsOn: ['a'] },
      ],
    });
    const result = await system.waitForBatch('unpriced');

    expect(result.tasks.map((t) => t.status)).toEqual(['CANCELLED', 'SKIPPED']);
    expect(result.tasks[0]?.reason).toContain('claude-budget-test has no price');
    expect(result.tasks[0]?.reason).toContain('costs.prices');
    expect(provider.requests).toHaveLength(before);
  });

  it('refuses bad budgets with their JSON paths and runs nothing', async () => {
    const bad = [
      [{ maxCostUsd: -1 }, '$.options.budget.maxCostUsd'],
      [{ maxTokens: 0 }, '$.options.budget.maxTokens'],
      [{ maxTokens: 1.5 }, '$.options.budget.maxTokens'],
      [{ maxCostUsd: '5' }, '$.options.budget.maxCostUsd'],
      [{ maxCostUsd: 1e12 }, '$.options.budget.maxCostUsd'],
      [{}, '$.options.budget'],
      [{ maxUsd: 5 }, '$.options.budget'],
    ] as const;
    const before = provider.requests.length;
    for (const [budget, path] of bad) {
      const error = await system
        .submit({ options: { budget }, tasks: [{ id: 'a', description: 'Write the endpoint', role: ROLE }] })
        .catch((e: unknown) => e);
      expect(error, JSON.stringify(budget)).toBeInstanceOf(ApiRequestError);
      const { statusCode, body } = error as ApiRequestError;
      expect(statusCode).toBe(400);
      expect(JSON.stringify(body), JSON.stringify(budget)).toContain(path);
    }
    const redrive = await system.request({
      method: 'POST',
      path: '/batches/half/redrive',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ budget: { maxTokens: -5 } }),
    });
    expect(redrive.statusCode).toBe(400);
    expect(redrive.body).toContain('$.budget.maxTokens');
    expect(provider.requests).toHaveLength(before);
  });
});
