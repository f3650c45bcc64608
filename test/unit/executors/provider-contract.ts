/**
 * The behaviour every real provider executor shares (retries, timeout, abort), run against each
 * provider's own API shape on a loopback server. Each provider's test file calls it and adds its own cases.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ExecutionAbortedError,
  ExecutionTimeoutError,
  MAX_SERVER_ERROR_RETRIES,
  ProviderError,
  ProviderLimiter,
  type Random,
  type Sleep,
} from '../../../shared/adapters/executors';
import type { AgentExecutor, ExecutionRequest } from '../../../shared/ports';
import { type FakeProvider, type Reply, recordingSleep, startFakeProvider } from './fake-provider';

/** Fixed jitter: half of each backoff ceiling. */
export const HALF: Random = () => 0.5;

export function makeRequest(overrides: Partial<ExecutionRequest> = {}): ExecutionRequest {
  return {
    batchId: 'batch-1',
    taskId: 'task-api',
    agentId: 'agent-python-1',
    role: 'python_backend_coder',
    attempt: 1,
    task: { id: 'task-api', description: 'Write the FastAPI endpoint for /health' },
    prompt: 'You are a Python backend coder. Task: Write the FastAPI endpoint for /health',
    executor: { name: 'simulated' },
    timeoutMs: 10_000,
    ...overrides,
  };
}

export interface PolicyDeps {
  limiter: ProviderLimiter;
  sleep: Sleep;
  random: Random;
}

export interface ProviderSpec {
  name: 'bedrock' | 'anthropic' | 'openai' | 'http';
  /** A successful answer in the provider's shape. */
  success: Reply;
  /** An error answer with `status` in the provider's shape. */
  error(status: number, headers?: Record<string, string>): Reply;
  create(server: FakeProvider, deps: PolicyDeps): AgentExecutor;
  /** The model `create` configures (the http executor has none). */
  model?: string;
  /** Serve HTTP/2 (Bedrock's default handler). */
  http2?: boolean;
}

/** Time a hung call may take beyond its timeout before the test calls it a failure (slow CI). */
const TIMEOUT_SLACK_MS = 1500;
const SHORT_TIMEOUT_MS = 300;

export function describeProviderContract(spec: ProviderSpec): void {
  describe(`${spec.name} executor call policy`, () => {
    let server: FakeProvider | undefined;
    afterEach(async () => {
      await server?.close();
      server = undefined;
    });

    const start = async (script: Reply[]) => {
      server = await startFakeProvider(script, { http2: spec.http2 ?? false });
      return server;
    };

    it('retries after a 429 and waits at least its Retry-After', async () => {
      const provider = await start([spec.error(429, { 'retry-after': '2' }), spec.success]);
      const { delays, sleep } = recordingSleep();
      const executor = spec.create(provider, { limiter: new ProviderLimiter(), sleep, random: HALF });

      const outcome = await executor.execute(makeRequest(), new AbortController().signal);

      expect(outcome.simulated).toBe(false);
      expect(outcome.executor).toBe(spec.name);
      expect(provider.requests).toHaveLength(2);
      expect(delays).toEqual([2000]);
    });

    it('waits the retry-after-ms of a 429 (OpenAI and the official SDKs read it before Retry-After)', async () => {
      const provider = await start([
        spec.error(429, { 'retry-after-ms': '1500', 'retry-after': '1' }),
        spec.success,
      ]);
      const { delays, sleep } = recordingSleep();
      const executor = spec.create(provider, { limiter: new ProviderLimiter(), sleep, random: HALF });

      await executor.execute(makeRequest(), new AbortController().signal);

      expect(provider.requests).toHaveLength(2);
      expect(delays).toEqual([1500]);
    });

    it('retries a 408 Request Timeout like a server error', async () => {
      const provider = await start([spec.error(408), spec.success]);
      const { delays, sleep } = recordingSleep();
      const executor = spec.create(provider, { limiter: new ProviderLimiter(), sleep, random: HALF });

      const outcome = await executor.execute(makeRequest(), new AbortController().signal);

      expect(outcome.executor).toBe(spec.name);
      expect(provider.requests).toHaveLength(2);
      expect(delays).toEqual([250]);
    });

    it.each([
      [401, /check the/],
      [403, /check that the/],
      [404, /check executor\.(model|url)/],
    ])('fails at once on a %i naming the provider, the model and what to check', async (status, hint) => {
      const provider = await start([spec.error(status), spec.success]);
      const { sleep } = recordingSleep();
      const executor = spec.create(provider, { limiter: new ProviderLimiter(), sleep, random: HALF });

      const failure = await executor.execute(makeRequest(), new AbortController().signal).catch((e) => e);

      expect(failure).toBeInstanceOf(ProviderError);
      expect(failure).toMatchObject({ provider: spec.name, status, retryable: false });
      expect(provider.requests).toHaveLength(1);
      const message = (failure as Error).message;
      expect(message).toMatch(new RegExp(`^${spec.name}\\b`));
      expect(message).toContain(`HTTP ${status}`);
      if (spec.model !== undefined) expect(message).toContain(`model ${spec.model}`);
      expect(message).toMatch(hint);
    });

    it('backs off with full jitter after a 429 without Retry-After', async () => {
      const provider = await start([spec.error(429), spec.error(429), spec.success]);
      const { delays, sleep } = recordingSleep();
      const executor = spec.create(provider, { limiter: new ProviderLimiter(), sleep, random: HALF });

      await executor.execute(makeRequest(), new AbortController().signal);

      // random 0.5 of ceilings 500 then 1000 ms
      expect(delays).toEqual([250, 500]);
      expect(provider.requests).toHaveLength(3);
    });

    it('gives up on a persistent 500 after a bounded number of retries with a ProviderError', async () => {
      const provider = await start([spec.error(500)]);
      const { delays, sleep } = recordingSleep();
      const executor = spec.create(provider, { limiter: new ProviderLimiter(), sleep, random: HALF });

      const failure = await executor.execute(makeRequest(), new AbortController().signal).catch((e) => e);

      expect(failure).toBeInstanceOf(ProviderError);
      expect(failure).toMatchObject({ provider: spec.name, status: 500, retryable: true });
      expect(provider.requests).toHaveLength(1 + MAX_SERVER_ERROR_RETRIES);
      expect(delays).toHaveLength(MAX_SERVER_ERROR_RETRIES);
    });

    it('fails at once on a 400 without retrying', async () => {
      const provider = await start([spec.error(400), spec.success]);
      const { delays, sleep } = recordingSleep();
      const executor = spec.create(provider, { limiter: new ProviderLimiter(), sleep, random: HALF });

      const failure = await executor.execute(makeRequest(), new AbortController().signal).catch((e) => e);

      expect(failure).toBeInstanceOf(ProviderError);
      expect(failure).toMatchObject({ status: 400, retryable: false });
      expect(provider.requests).toHaveLength(1);
      expect(delays).toEqual([]);
    });

    it('times out a call the provider never answers and drops the connection', async () => {
      const provider = await start([{ hang: true }]);
      const { sleep } = recordingSleep();
      const executor = spec.create(provider, { limiter: new ProviderLimiter(), sleep, random: HALF });
      const startedAt = Date.now();

      const failure = await executor
        .execute(makeRequest({ timeoutMs: SHORT_TIMEOUT_MS }), new AbortController().signal)
        .catch((e) => e);

      const elapsed = Date.now() - startedAt;
      expect(failure).toBeInstanceOf(ExecutionTimeoutError);
      expect(elapsed).toBeGreaterThanOrEqual(SHORT_TIMEOUT_MS - 20);
      expect(elapsed).toBeLessThan(SHORT_TIMEOUT_MS + TIMEOUT_SLACK_MS);
      expect(provider.requests).toHaveLength(1);
      await vi.waitFor(() => expect(provider.droppedByClient).toBe(1));
    });

    it('aborts an in-flight call when the signal fires and drops the connection', async () => {
      const provider = await start([{ hang: true }]);
      const { sleep } = recordingSleep();
      const executor = spec.create(provider, { limiter: new ProviderLimiter(), sleep, random: HALF });
      const controller = new AbortController();

      const pending = executor.execute(makeRequest(), controller.signal).catch((e) => e);
      await vi.waitFor(() => expect(provider.requests).toHaveLength(1));
      controller.abort(new Error('batch cancelled'));
      const failure = await pending;

      expect(failure).toBeInstanceOf(ExecutionAbortedError);
      expect((failure as Error).cause).toEqual(new Error('batch cancelled'));
      await vi.waitFor(() => expect(provider.droppedByClient).toBe(1));
    });
  });
}
