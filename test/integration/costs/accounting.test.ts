/**
 * Token and cost accounting on the embedded runtime, with the Anthropic executor pointed at a local stand-in
 * that answers every request with usage it chooses and remembers: the batch's, every task's and every
 * attempt's totals are exactly the sums of what the stand-in reported, failed attempts included (a
 * structured answer that misfits twice, an answer cut at max_tokens, a refused request that used nothing), and
 * the agents' totals
 * (GET /agents) add up to the same.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callCostNano, nanoToUsd, type Price, sumUsage } from '../../../shared/domain/costs';
import type { BatchResult, Usage } from '../../../shared/domain/schemas';
import { EmbeddedSystem } from '../../../shared/local/system';
import type { AgentView } from '../../../shared/usecases/agents';
import { type AnthropicUsage, anthropicText, anthropicToolUse, taskOf } from '../../support/provider-replies';
import {
  type FakeProvider,
  type RecordedRequest,
  type Reply,
  startFakeProvider,
} from '../../unit/executors/fake-provider';

const MODEL = 'claude-accounting-test';
const PRICE: Price = {
  provider: 'anthropic',
  model: MODEL,
  inputUsdPerMTok: 3,
  outputUsdPerMTok: 15,
  cacheReadUsdPerMTok: 0.3,
  cacheWriteUsdPerMTok: 3.75,
};
const SCHEMA = {
  type: 'object',
  properties: { steps: { type: 'array', items: { type: 'string' } } },
  required: ['steps'],
};

/** Every usage the stand-in answered with, by task, in order. */
const answered = new Map<string, Usage[]>();
const requestsOf = new Map<string, number>();

function reply(index: number, request: RecordedRequest): Reply {
  const task = taskOf(request);
  const n = (requestsOf.get(task) ?? 0) + 1;
  requestsOf.set(task, n);
  // A refused request: an attempt that used nothing (a 400 is not retried within the attempt).
  if (task === 'refused' && n === 1)
    return { status: 400, json: { type: 'error', error: { type: 'invalid_request_error', message: 'no' } } };
  const usage: AnthropicUsage = {
    input_tokens: 1_000 + 37 * index,
    output_tokens: 100 + 11 * index,
    ...(task === 'cached' ? { cache_read_input_tokens: 5_000, cache_creation_input_tokens: 700 } : {}),
  };
  answered.set(task, [
    ...(answered.get(task) ?? []),
    {
      inputTokens: usage.input_tokens,
      outputTokens: usage.output_tokens,
      ...(usage.cache_read_input_tokens ? { cacheReadTokens: usage.cache_read_input_tokens } : {}),
      ...(usage.cache_creation_input_tokens ? { cacheWriteTokens: usage.cache_creation_input_tokens } : {}),
    },
  ]);
  if (task === 'structured') {
    // The first attempt misfits twice (the answer and its re-ask): it fails having used two calls.
    const steps = n <= 2 ? 'not a list' : ['design', 'build'];
    return anthropicToolUse('submit_output', { steps }, `toolu_${n}`, usage);
  }
  // An answer cut at max_tokens: billed, but no deliverable, so its attempt fails having used one call.
  if (task === 'truncated' && n === 1) return anthropicText('def handler(', usage, 'max_tokens');
  return anthropicText(`work of ${task}`, usage);
}

let provider: FakeProvider;
let system: EmbeddedSystem;
let secretsDir: string;
let result: BatchResult;

beforeAll(async () => {
  provider = await startFakeProvider(reply);
  secretsDir = await mkdtemp(join(tmpdir(), 'meta-agent-costs-'));
  const secrets = join(secretsDir, 'secrets.json');
  await writeFile(secrets, JSON.stringify({ anthropic: 'sk-ant-test' }), { mode: 0o600 });
  system = await EmbeddedSystem.start({
    scalerIntervalMs: 0,
    roles: ['python_backend_coder', 'test_generator'].map((name) => ({
      name,
      defaults: { executor: { name: 'anthropic', model: MODEL } },
    })),
    costs: { prices: [PRICE] },
    env: { ANTHROPIC_BASE_URL: provider.url, META_AGENT_SECRETS_FILE: secrets },
  });
  await system.submit({
    batchId: 'accounting',
    tasks: [
      { id: 'plain', description: 'Write the health endpoint', role: 'python_backend_coder' },
      { id: 'structured', description: 'Plan the work', role: 'python_backend_coder', outputSchema: SCHEMA },
      { id: 'refused', description: 'Write the tests', role: 'test_generator' },
      { id: 'truncated', description: 'Write the export job', role: 'python_backend_coder' },
      {
        id: 'cached',
        description: 'Write the login endpoint',
        role: 'python_backend_coder',
        dependsOn: ['plain'],
      },
    ],
  });
  result = await system.waitForBatch('accounting');
}, 120_000);

afterAll(async () => {
  await system?.stop();
  await provider?.close();
  await rm(secretsDir, { recursive: true, force: true });
});

const costOf = (calls: readonly Usage[]) =>
  nanoToUsd(calls.reduce((sum, c) => sum + (callCostNano(PRICE, c) ?? 0), 0));

describe('token and cost accounting', () => {
  it('retries the misfitting answer, and fails at once the refused request and the cut answer (permanent for their only executor)', () => {
    expect(result.tasks.map((t) => [t.id, t.status, t.attempts.length])).toEqual([
      ['plain', 'SUCCEEDED', 1],
      ['structured', 'SUCCEEDED', 2],
      ['refused', 'FAILED', 1],
      ['truncated', 'FAILED', 1],
      ['cached', 'SUCCEEDED', 1],
    ]);
  });

  it("sums each task's usage and cost exactly over its attempts, the failed ones included", () => {
    for (const task of result.tasks) {
      const calls = answered.get(task.id) ?? [];
      expect(task.usage, task.id).toEqual(sumUsage(calls));
      // A task whose only attempt used nothing (the refused request) has no usage and no cost to sum.
      expect(task.costUsd, task.id).toBe(calls.length === 0 ? undefined : costOf(calls));
    }
    const [misfit, fitted] = result.tasks.find((t) => t.id === 'structured')?.attempts ?? [];
    const structured = answered.get('structured') ?? [];
    expect(misfit).toMatchObject({ status: 'FAILED', usage: sumUsage(structured.slice(0, 2)) });
    expect(misfit?.costUsd).toBe(costOf(structured.slice(0, 2)));
    expect(fitted).toMatchObject({ status: 'SUCCEEDED', usage: structured[2] });
    const [cut] = result.tasks.find((t) => t.id === 'truncated')?.attempts ?? [];
    const truncated = answered.get('truncated') ?? [];
    expect(cut).toMatchObject({ status: 'FAILED', usage: truncated[0] });
    expect(cut?.costUsd).toBe(costOf(truncated.slice(0, 1)));
    // The refused request used nothing: its attempt has no usage and costs nothing.
    expect(result.tasks.find((t) => t.id === 'refused')?.attempts[0]).not.toHaveProperty('usage');
  });

  it("gives the batch's totals as the sums of every call the provider answered", () => {
    const all = [...answered.values()].flat();

    expect(result.usage).toEqual(sumUsage(all));
    expect(result.costUsd).toBe(costOf(all));
    expect(result.usage?.cacheReadTokens).toBe(5_000);
  });

  it("adds every attempt to its agent's totals, so the agents' sums are the batch's", async () => {
    const response = await system.request({ method: 'GET', path: '/agents' });
    const agents = (JSON.parse(response.body) as { agents: AgentView[] }).agents;

    expect(sumUsage(agents.map((a) => a.usage))).toEqual(result.usage);
    const cost = agents.reduce((sum, a) => sum + (a.costUsd ?? 0), 0);
    expect(cost).toBeCloseTo(result.costUsd ?? -1, 9);
  });
});
