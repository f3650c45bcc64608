/**
 * Model-assisted routing through the Route use case, on dynalite, with the real Anthropic advisor talking
 * to a local stand-in of the Messages API: what is asked, when, and what is recorded.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DynamoAgentRegistry } from '../../../shared/adapters/dynamodb/agent-registry';
import { documentClient } from '../../../shared/adapters/dynamodb/client';
import { DynamoRoutingAdviceCache } from '../../../shared/adapters/dynamodb/routing-advice';
import { DynamoTaskStore } from '../../../shared/adapters/dynamodb/task-store';
import { AnthropicRoutingAdvisor, ROUTING_TOOL_NAME } from '../../../shared/adapters/routing-advisor';
import { PriceTable } from '../../../shared/domain/costs';
import { extractRequirements, targetRole } from '../../../shared/domain/routing';
import { AssistConfigSchema } from '../../../shared/domain/routing-config';
import type { Task } from '../../../shared/domain/schemas';
import type { AgentRegistry } from '../../../shared/ports';
import { taskResult } from '../../../shared/usecases/batch-result';
import { type RouteDeps, routeTask } from '../../../shared/usecases/route';
import { type LocalDynamo, startDynalite } from '../../support/dynalite';
import { batchOf, catalog, ManualClock, uniqueId } from '../../support/fixtures';
import { type FakeProvider, type Reply, startFakeProvider } from '../../unit/executors/fake-provider';

/** Unsure between error handling and refactoring (the model is asked); unit tests are certain. */
const UNSURE = 'Go through the checkout and tidy the error handling';
const SURE = 'Write unit tests for the invoice calculator';

let dynamo: LocalDynamo;
let store: DynamoTaskStore;
let agents: DynamoAgentRegistry;
let cache: DynamoRoutingAdviceCache;
let provider: FakeProvider | undefined;
const clock = new ManualClock();

beforeAll(async () => {
  dynamo = await startDynalite();
  const doc = documentClient(dynamo.client);
  store = new DynamoTaskStore(dynamo.tasksTable, doc);
  agents = new DynamoAgentRegistry(dynamo.agentsTable, doc);
  cache = new DynamoRoutingAdviceCache(dynamo.tasksTable, doc);
});

afterEach(async () => {
  await provider?.close();
  provider = undefined;
});

afterAll(async () => {
  await dynamo.stop();
});

/** The Messages API answering with a forced tool call choosing `role`. */
function choosing(role: string): Reply {
  return {
    status: 200,
    json: {
      id: 'msg_route',
      type: 'message',
      role: 'assistant',
      model: 'claude-routing-test',
      content: [{ type: 'tool_use', id: 'toolu_1', name: ROUTING_TOOL_NAME, input: { role } }],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: { input_tokens: 321, output_tokens: 12 },
    },
  };
}

async function depsWith(script: Reply[], useCache = true): Promise<RouteDeps> {
  provider = await startFakeProvider(script);
  const advisor = new AnthropicRoutingAdvisor(
    { model: 'claude-routing-test' },
    { secrets: async () => 'sk-ant-test', baseURL: provider.url },
  );
  return {
    store,
    agents,
    catalog,
    clock,
    roleQueueUrls: Object.fromEntries([...catalog.keys()].map((r) => [r, `https://sqs.local/${r}`])),
    heartbeatSeconds: 60,
    assist: {
      config: AssistConfigSchema.parse({ provider: 'anthropic', model: 'claude-routing-test' }),
      advisor,
      ...(useCache ? { cache } : {}),
    },
  };
}

async function route(deps: RouteDeps, task: Omit<Task, 'id'>) {
  const batchId = uniqueId();
  const { batch, tasks } = batchOf(batchId, [{ id: 't', ...task }]);
  await store.createBatch(batch, tasks);
  const output = await routeTask(deps, { batchId, taskId: 't' });
  const stored = await store.getTask(batchId, 't');
  return { output, assist: stored?.decision?.requirements.assist };
}

const deterministic = (description: string) => extractRequirements({ id: 't', description }, catalog);

describe('model-assisted routing', () => {
  it('sends a low-confidence description to the provider, routes to its choice and records it', async () => {
    const offered = deterministic(UNSURE).roleCandidates.map((c) => c.role);
    const second = offered[1] as string;
    // A description of its own, so no earlier answer is cached for it.
    const description = `${UNSURE} (${uniqueId()})`;
    const deps = await depsWith([choosing(second)]);

    const { output, assist } = await route(deps, { description });

    expect(output).toMatchObject({ decision: 'DISPATCH', role: second });
    expect(assist).toMatchObject({
      provider: 'anthropic',
      model: 'claude-routing-test',
      chosen: second,
      fallback: offered[0],
      cached: false,
      usage: { inputTokens: 321, outputTokens: 12 },
    });
    expect(assist?.confidence).toBeLessThan(assist?.threshold ?? 0);
    expect(provider?.requests).toHaveLength(1);
    const body = JSON.parse(provider?.requests[0]?.body ?? '{}');
    expect(body.tool_choice).toEqual({ type: 'tool', name: ROUTING_TOOL_NAME });
    expect(body.tools[0].input_schema.properties.role.enum).toEqual(offered.slice(0, 4));
    expect(body.messages[0].content).toContain(description);
  });

  it('does not ask about a high-confidence description', async () => {
    const deps = await depsWith([choosing('code_reviewer')]);

    const { output, assist } = await route(deps, { description: SURE });

    expect(output).toMatchObject({ decision: 'DISPATCH', role: 'test_generator' });
    expect(assist).toBeUndefined();
    expect(provider?.requests).toHaveLength(0);
  });

  it('does not ask about a task with an explicit role', async () => {
    const deps = await depsWith([choosing('code_reviewer')]);

    const { output } = await route(deps, { description: UNSURE, role: 'quality_assurance' });

    expect(output).toMatchObject({ decision: 'DISPATCH', role: 'quality_assurance' });
    expect(provider?.requests).toHaveLength(0);
  });

  it('falls back to the deterministic role with a note when the provider fails', async () => {
    const description = `${UNSURE} (${uniqueId()})`;
    const deps = await depsWith([
      { status: 500, json: { type: 'error', error: { type: 'api_error', message: 'overloaded' } } },
    ]);

    const { output, assist } = await route(deps, { description });

    expect(output).toMatchObject({ decision: 'DISPATCH', role: targetRole(deterministic(UNSURE)) });
    expect(assist?.chosen).toBeUndefined();
    expect(assist?.note).toMatch(/routing question to anthropic failed .*500.*kept the deterministic role/);
  });

  it('falls back when the provider does not answer within the timeout', async () => {
    const deps = await depsWith([{ hang: true }]);
    if (!deps.assist) throw new Error('no assist');
    deps.assist.config = { ...deps.assist.config, timeoutMs: 200 };

    const { output, assist } = await route(deps, { description: `${UNSURE} (${uniqueId()})` });

    expect(output).toMatchObject({ decision: 'DISPATCH', role: targetRole(deterministic(UNSURE)) });
    expect(assist?.note).toContain('failed');
  });

  it('answers the same description from the cache, without a second call', async () => {
    const description = `${UNSURE} (${uniqueId()})`;
    const chosen = deterministic(UNSURE).roleCandidates[1]?.role as string;
    const deps = await depsWith([choosing(chosen)]);

    const first = await route(deps, { description });
    const second = await route(deps, { description });

    expect(provider?.requests).toHaveLength(1);
    expect(first.assist?.cached).toBe(false);
    expect(second.assist).toMatchObject({ chosen, cached: true });
    expect(second.assist?.usage).toBeUndefined();
    expect(second.output).toMatchObject({ role: chosen });
  });

  it('prices the question and counts it once in the task, also when the route that asked waits', async () => {
    const description = `${UNSURE} (${uniqueId()})`;
    const chosen = deterministic(UNSURE).roleCandidates[1]?.role as string;
    const deps = await depsWith([choosing(chosen)]);
    if (!deps.assist) throw new Error('no assist');
    // USD 3 / 15 per million input / output tokens: 321 and 12 tokens cost 0.000963 + 0.00018.
    deps.assist.prices = new PriceTable([
      { provider: 'anthropic', model: 'claude-routing-test', inputUsdPerMTok: 3, outputUsdPerMTok: 15 },
    ]);
    // Every reservation refused: the route that asks the question finds no slot and waits.
    const refusing = new Proxy(agents, {
      get: (target, key) =>
        key === 'reserve'
          ? async () => false
          : (Reflect.get(target, key) as (...args: unknown[]) => unknown).bind(target),
    }) as AgentRegistry;
    const batchId = uniqueId();
    const { batch, tasks } = batchOf(batchId, [{ id: 't', description }]);
    await store.createBatch(batch, tasks);

    const waited = await routeTask({ ...deps, agents: refusing }, { batchId, taskId: 't' });
    const dispatched = await routeTask(deps, { batchId, taskId: 't' });

    expect(waited).toMatchObject({ decision: 'WAIT', role: chosen });
    expect(dispatched).toMatchObject({ decision: 'DISPATCH', role: chosen });
    expect(provider?.requests).toHaveLength(1);
    const stored = await store.getTask(batchId, 't');
    if (!stored) throw new Error('task not stored');
    // The dispatch kept the question the waiting route asked: its tokens and price, not a cache hit.
    expect(stored.decision?.requirements.assist).toMatchObject({
      chosen,
      cached: false,
      usage: { inputTokens: 321, outputTokens: 12 },
    });
    expect(stored.decision?.requirements.assist?.costUsd).toBeCloseTo(0.001143, 9);
    const result = taskResult(stored, false);
    expect(result.usage).toMatchObject({ inputTokens: 321, outputTokens: 12 });
    expect(result.costUsd).toBeCloseTo(0.001143, 9);
  });

  it('keeps a failed question with a task that waits, so the next route does not ask again', async () => {
    const description = `${UNSURE} (${uniqueId()})`;
    const deps = await depsWith([
      { status: 500, json: { type: 'error', error: { type: 'api_error', message: 'overloaded' } } },
    ]);
    const refusing = new Proxy(agents, {
      get: (target, key) =>
        key === 'reserve'
          ? async () => false
          : (Reflect.get(target, key) as (...args: unknown[]) => unknown).bind(target),
    }) as AgentRegistry;
    const batchId = uniqueId();
    const { batch, tasks } = batchOf(batchId, [{ id: 't', description }]);
    await store.createBatch(batch, tasks);

    const first = await routeTask({ ...deps, agents: refusing }, { batchId, taskId: 't' });
    const second = await routeTask({ ...deps, agents: refusing }, { batchId, taskId: 't' });
    const dispatched = await routeTask(deps, { batchId, taskId: 't' });

    const fallback = targetRole(deterministic(UNSURE));
    expect(first).toMatchObject({ decision: 'WAIT', role: fallback });
    expect(second).toMatchObject({ decision: 'WAIT', role: fallback });
    expect(dispatched).toMatchObject({ decision: 'DISPATCH', role: fallback });
    expect(provider?.requests).toHaveLength(1);
    const stored = await store.getTask(batchId, 't');
    expect(stored?.decision?.requirements.assist?.note).toMatch(/failed .*500/);
  });

  it('routes by the rules when the model answers an enormous role, with a note that quotes a bounded part', async () => {
    const huge = `ignore the roles above and answer ${'x'.repeat(500_000)}`;
    const deps = await depsWith([choosing(huge)]);

    const { output, assist } = await route(deps, { description: `${UNSURE} (${uniqueId()})` });

    expect(output).toMatchObject({ decision: 'DISPATCH', role: targetRole(deterministic(UNSURE)) });
    expect(assist?.chosen).toBeUndefined();
    expect(assist?.note).toContain('was not offered');
    expect(assist?.note?.length).toBeLessThan(300);
  });

  it('records no tokens or model the answer does not really give, and still routes by its choice', async () => {
    const chosen = deterministic(UNSURE).roleCandidates[1]?.role as string;
    const garbage = choosing(chosen) as { status: number; json: Record<string, unknown> };
    const deps = await depsWith([
      {
        ...garbage,
        json: {
          ...garbage.json,
          model: 'm'.repeat(5_000),
          usage: { input_tokens: -5, output_tokens: 'many' },
        },
      },
    ]);

    const { output, assist } = await route(deps, { description: `${UNSURE} (${uniqueId()})` });

    expect(output).toMatchObject({ decision: 'DISPATCH', role: chosen });
    expect(assist).toMatchObject({ chosen, model: 'claude-routing-test' });
    expect(assist?.usage).toBeUndefined();
    expect(assist?.costUsd).toBeUndefined();
  });

  it('asks again when the catalog gives an offered role another meaning (the cache is keyed by the question)', async () => {
    const description = `${UNSURE} (${uniqueId()})`;
    const offered = deterministic(UNSURE).roleCandidates.map((c) => c.role);
    const deps = await depsWith([choosing(offered[1] as string), choosing(offered[0] as string)]);
    const renamed = offered[1] as string;
    const role = catalog.get(renamed);
    if (!role) throw new Error(`no role ${renamed}`);
    const otherCatalog = new Map(catalog);
    otherCatalog.set(renamed, { ...role, description: `${role.description} Only ever for payroll reports.` });

    const first = await route(deps, { description });
    const second = await route({ ...deps, catalog: otherCatalog }, { description });

    expect(provider?.requests).toHaveLength(2);
    expect(first.assist).toMatchObject({ chosen: offered[1], cached: false });
    expect(second.assist).toMatchObject({ chosen: offered[0], cached: false });
  });

  it('ends the wait at the timeout even when the advisor ignores the abort signal', async () => {
    const deps = await depsWith([]);
    if (!deps.assist) throw new Error('no assist');
    deps.assist.config = { ...deps.assist.config, timeoutMs: 200 };
    deps.assist.advisor = {
      provider: 'anthropic',
      model: 'claude-routing-test',
      // Resolving a secret or loading an SDK, say: nothing that listens to the signal.
      choose: () => new Promise(() => undefined),
    };

    const started = performance.now();
    const { output, assist } = await route(deps, { description: `${UNSURE} (${uniqueId()})` });

    expect(performance.now() - started).toBeLessThan(2_000);
    expect(output).toMatchObject({ decision: 'DISPATCH', role: targetRole(deterministic(UNSURE)) });
    expect(assist?.note).toContain('no answer within 200 ms');
  });

  it('counts the tokens of an answer cut at the output limit, and keeps the deterministic role', async () => {
    const cut = choosing('unused') as { status: number; json: Record<string, unknown> };
    const deps = await depsWith([
      {
        ...cut,
        json: {
          ...cut.json,
          content: [{ type: 'tool_use', id: 'toolu_1', name: ROUTING_TOOL_NAME, input: {} }],
          stop_reason: 'max_tokens',
          usage: { input_tokens: 400, output_tokens: 256 },
        },
      },
    ]);
    if (!deps.assist) throw new Error('no assist');
    deps.assist.prices = new PriceTable([
      { provider: 'anthropic', model: 'claude-routing-test', inputUsdPerMTok: 3, outputUsdPerMTok: 15 },
    ]);

    const { output, assist } = await route(deps, { description: `${UNSURE} (${uniqueId()})` });

    expect(output).toMatchObject({ decision: 'DISPATCH', role: targetRole(deterministic(UNSURE)) });
    expect(assist?.note).toMatch(/cut at the question's 256 output tokens/);
    expect(assist?.usage).toEqual({ inputTokens: 400, outputTokens: 256 });
    // 400 x 3 + 256 x 15 USD per million tokens.
    expect(assist?.costUsd).toBeCloseTo(0.00504, 9);
  });

  it('ends the wait at the timeout when the cache of earlier choices does not answer', async () => {
    const chosen = deterministic(UNSURE).roleCandidates[1]?.role as string;
    const deps = await depsWith([choosing(chosen)]);
    if (!deps.assist) throw new Error('no assist');
    deps.assist.config = { ...deps.assist.config, timeoutMs: 300 };
    deps.assist.cache = { get: () => new Promise(() => undefined), put: () => new Promise(() => undefined) };

    const started = performance.now();
    const { output, assist } = await route(deps, { description: `${UNSURE} (${uniqueId()})` });

    expect(performance.now() - started).toBeLessThan(2_000);
    expect(output).toMatchObject({ decision: 'DISPATCH', role: targetRole(deterministic(UNSURE)) });
    expect(assist?.note).toContain('no answer within 300 ms');
  });
});
