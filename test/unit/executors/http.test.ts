import { afterEach, describe, expect, it } from 'vitest';
import {
  createExecutor,
  ExecutorConfigError,
  ProviderError,
  ProviderLimiter,
} from '../../../shared/adapters/executors';
import { SecretNotFoundError, type SecretResolver } from '../../../shared/adapters/secrets';
import { MAX_CALL_TOKENS } from '../../../shared/domain/costs';
import { MAX_OUTPUT_DEPTH } from '../../../shared/domain/limits';
import { type FakeProvider, type Reply, startFakeProvider } from './fake-provider';
import { describeProviderContract, makeRequest } from './provider-contract';

const TOKEN = 'agent-service-token';
const withToken: SecretResolver = async () => TOKEN;
const withoutToken: SecretResolver = async (provider) => {
  throw new SecretNotFoundError(provider, 'test resolver has none');
};

const success: Reply = { status: 200, json: { files: ['app/health.py'], summary: 'added /health' } };
const error = (status: number, headers?: Record<string, string>): Reply => ({
  status,
  json: { error: 'nope' },
  ...(headers ? { headers } : {}),
});

describeProviderContract({
  name: 'http',
  success,
  error,
  create: (server, deps) =>
    createExecutor({ name: 'http', url: `${server.url}/tasks` }, { ...deps, secrets: withToken }),
});

describe('http executor', () => {
  let server: FakeProvider | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('posts the task as JSON with a bearer token and returns the JSON answer as output', async () => {
    server = await startFakeProvider([success]);
    const executor = createExecutor(
      { name: 'http', url: `${server.url}/tasks` },
      {
        secrets: withToken,
        limiter: new ProviderLimiter(),
      },
    );
    const request = makeRequest({ attempt: 2 });

    const outcome = await executor.execute(request, new AbortController().signal);

    const received = server.requests[0];
    expect(received?.method).toBe('POST');
    expect(received?.url).toBe('/tasks');
    expect(received?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(received?.headers['content-type']).toBe('application/json');
    expect(JSON.parse(received?.body ?? '{}')).toEqual({
      batchId: request.batchId,
      taskId: request.taskId,
      agentId: request.agentId,
      role: request.role,
      attempt: 2,
      task: request.task,
      prompt: request.prompt,
    });
    expect(outcome).toEqual({
      executor: 'http',
      simulated: false,
      output: { files: ['app/health.py'], summary: 'added /health' },
    });
  });

  it('reads the usage an agent service reports in its headers', async () => {
    server = await startFakeProvider([
      {
        ...success,
        headers: {
          'x-usage-input-tokens': '1200',
          'x-usage-output-tokens': '340',
          'x-usage-cache-read-tokens': '50',
        },
      },
    ]);
    const executor = createExecutor(
      { name: 'http', url: server.url },
      { secrets: withToken, limiter: new ProviderLimiter() },
    );

    const outcome = await executor.execute(makeRequest(), new AbortController().signal);

    expect(outcome.usage).toEqual({ inputTokens: 1200, outputTokens: 340, cacheReadTokens: 50 });
  });

  it.each([
    ['a fractional count', '12.5'],
    ['a count beyond any call (MAX_CALL_TOKENS + 1)', String(MAX_CALL_TOKENS + 1)],
  ])('reports no usage when the service sends %s', async (_what, count) => {
    server = await startFakeProvider([
      { ...success, headers: { 'x-usage-input-tokens': count, 'x-usage-output-tokens': '3' } },
    ]);
    const executor = createExecutor(
      { name: 'http', url: server.url },
      { secrets: withToken, limiter: new ProviderLimiter() },
    );

    const outcome = await executor.execute(makeRequest(), new AbortController().signal);

    expect(outcome.usage).toBeUndefined();
  });

  it('sends the work of the dependencies as data when the task takes any', async () => {
    server = await startFakeProvider([success]);
    const executor = createExecutor(
      { name: 'http', url: `${server.url}/tasks` },
      { secrets: withToken, limiter: new ProviderLimiter() },
    );
    const context = {
      budgetBytes: 1_000,
      usedBytes: 50,
      items: [
        {
          taskId: 'schema',
          kind: 'passed' as const,
          output: { tables: ['users'] },
          cut: false,
          bytes: 20,
          totalBytes: 20,
        },
      ],
    };

    await executor.execute(makeRequest({ context }), new AbortController().signal);

    expect(JSON.parse(server.requests[0]?.body ?? '{}').context).toEqual(context);
  });

  it('sends no Authorization header when no http token is configured', async () => {
    server = await startFakeProvider([success]);
    const executor = createExecutor(
      { name: 'http', url: server.url },
      {
        secrets: withoutToken,
        limiter: new ProviderLimiter(),
      },
    );

    await executor.execute(makeRequest(), new AbortController().signal);

    expect(server.requests[0]?.headers.authorization).toBeUndefined();
  });

  it('rejects a 2xx answer that is not JSON without retrying', async () => {
    server = await startFakeProvider([{ status: 200, text: 'done!' }]);
    const executor = createExecutor(
      { name: 'http', url: server.url },
      {
        secrets: withoutToken,
        limiter: new ProviderLimiter(),
      },
    );

    const failure = await executor.execute(makeRequest(), new AbortController().signal).catch((e) => e);

    expect(failure).toBeInstanceOf(ProviderError);
    expect(failure).toMatchObject({ status: 200, retryable: false });
    expect(server.requests).toHaveLength(1);
  });

  it('fails an answer nested deeper than MAX_OUTPUT_DEPTH without retrying or overflowing the stack', async () => {
    const depth = 200_000;
    server = await startFakeProvider([{ status: 200, text: `${'['.repeat(depth)}${']'.repeat(depth)}` }]);
    const executor = createExecutor(
      { name: 'http', url: server.url },
      { secrets: withoutToken, limiter: new ProviderLimiter() },
    );

    const failure = await executor.execute(makeRequest(), new AbortController().signal).catch((e) => e);

    expect(failure).toBeInstanceOf(ProviderError);
    expect(failure).toMatchObject({ retryable: false });
    expect((failure as Error).message).toContain(`deeper than ${MAX_OUTPUT_DEPTH} levels`);
    expect(server.requests).toHaveLength(1);
  });

  it('refuses a config without url', () => {
    expect(() => createExecutor({ name: 'http' }, { secrets: withoutToken })).toThrow(ExecutorConfigError);
  });
});
