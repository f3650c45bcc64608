import { describe, expect, it } from 'vitest';
import {
  backoffDelay,
  type CallLimiter,
  callWithPolicy,
  DEFAULT_RETRY_POLICY,
  ExecutionTimeoutError,
  MAX_RETRY_AFTER_MS,
  MAX_THROTTLE_RETRIES,
  ProviderError,
  ProviderLimiter,
  parseRetryAfter,
  providerErrorFromStatus,
  RETRY_BASE_DELAY_MS,
  RETRY_MAX_DELAY_MS,
  retryAfterFromHeaders,
  statusHint,
} from '../../../shared/adapters/executors';
import { attachUsage } from '../../../shared/domain/costs';
import { recordingSleep } from './fake-provider';

describe('backoffDelay', () => {
  it('draws uniformly below an exponentially growing ceiling (full jitter)', () => {
    expect(backoffDelay(DEFAULT_RETRY_POLICY, 0, () => 0.999)).toBe(Math.floor(0.999 * RETRY_BASE_DELAY_MS));
    expect(backoffDelay(DEFAULT_RETRY_POLICY, 3, () => 0.5)).toBe(RETRY_BASE_DELAY_MS * 4);
    expect(backoffDelay(DEFAULT_RETRY_POLICY, 0, () => 0)).toBe(0);
  });

  it('never exceeds the cap however many retries', () => {
    expect(backoffDelay(DEFAULT_RETRY_POLICY, 30, () => 0.999)).toBeLessThan(RETRY_MAX_DELAY_MS);
  });

  it('waits at least the Retry-After, itself capped', () => {
    expect(backoffDelay(DEFAULT_RETRY_POLICY, 0, () => 0.5, 3000)).toBe(3000);
    expect(backoffDelay(DEFAULT_RETRY_POLICY, 0, () => 0.5, 10 * MAX_RETRY_AFTER_MS)).toBe(
      MAX_RETRY_AFTER_MS,
    );
  });
});

describe('parseRetryAfter', () => {
  it('reads delta-seconds and HTTP dates', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('7', now)).toBe(7000);
    expect(parseRetryAfter('0.5', now)).toBe(500);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:04 GMT', now)).toBe(4000);
  });

  it('ignores absent or malformed values', () => {
    expect(parseRetryAfter(undefined)).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
  });
});

describe('retryAfterFromHeaders', () => {
  const headers = (values: Record<string, string>) => (name: string) => values[name];

  it('prefers retry-after-ms, in milliseconds, over Retry-After', () => {
    expect(retryAfterFromHeaders(headers({ 'retry-after-ms': '1500', 'retry-after': '9' }))).toBe(1500);
    expect(retryAfterFromHeaders(headers({ 'retry-after-ms': '20.4' }))).toBe(20);
  });

  it('falls back to Retry-After when retry-after-ms is absent or malformed', () => {
    expect(retryAfterFromHeaders(headers({ 'retry-after': '2' }))).toBe(2000);
    expect(retryAfterFromHeaders(headers({ 'retry-after-ms': 'soon', 'retry-after': '3' }))).toBe(3000);
    expect(retryAfterFromHeaders(headers({}))).toBeUndefined();
  });
});

describe('providerErrorFromStatus', () => {
  it('names the provider and the model, and what to check for statuses retrying cannot fix', () => {
    const error = providerErrorFromStatus('anthropic', 404, 'not_found_error: model: claude-nope', {
      model: 'claude-nope',
    });
    expect(error.message).toBe(
      `anthropic (model claude-nope) rejected the call with HTTP 404: not_found_error: model: claude-nope (${statusHint('anthropic', 404)})`,
    );
    expect(statusHint('openai', 401)).toContain('"openai" entry of the provider secret');
    expect(statusHint('bedrock', 403)).toContain('bedrock:InvokeModel');
    expect(statusHint('http', 404)).toContain('executor.url');
  });

  it("takes the provider's word on retrying over the status's", () => {
    expect(providerErrorFromStatus('openai', 429, 'insufficient_quota', { retry: false }).retryable).toBe(
      false,
    );
    expect(providerErrorFromStatus('anthropic', 409, 'conflict_error', { retry: true }).retryable).toBe(true);
    expect(providerErrorFromStatus('anthropic', 409, 'conflict_error').retryable).toBe(false);
  });

  it('retries 408 Request Timeout like a server error', () => {
    expect(providerErrorFromStatus('bedrock', 408, 'ModelTimeoutException').retryable).toBe(true);
  });

  it('marks throttling, overload and 5xx retryable and other 4xx not', () => {
    expect(providerErrorFromStatus('openai', 429, 'x').retryable).toBe(true);
    expect(providerErrorFromStatus('anthropic', 529, 'x').retryable).toBe(true);
    expect(providerErrorFromStatus('bedrock', 503, 'x').retryable).toBe(true);
    expect(providerErrorFromStatus('http', 502, 'x').retryable).toBe(true);
    expect(providerErrorFromStatus('http', 401, 'x').retryable).toBe(false);
    expect(providerErrorFromStatus('http', 404, 'x').retryable).toBe(false);
  });
});

describe('callWithPolicy', () => {
  const throttled = () => new ProviderError('openai', 'slow down', { status: 429, retryable: true });

  it('gives up after MAX_THROTTLE_RETRIES throttled retries', async () => {
    const { delays, sleep } = recordingSleep();
    let calls = 0;

    const failure = await callWithPolicy(
      'openai',
      {
        timeoutMs: 60_000,
        signal: new AbortController().signal,
        policy: { limiter: new ProviderLimiter(), retry: DEFAULT_RETRY_POLICY, sleep, random: () => 0.5 },
      },
      async () => {
        calls += 1;
        throw throttled();
      },
    ).catch((e) => e);

    expect(failure).toBeInstanceOf(ProviderError);
    expect(calls).toBe(1 + MAX_THROTTLE_RETRIES);
    expect(delays).toEqual([250, 500, 1000, 2000, 4000]);
  });

  it('stops retrying when the backoff would outlast the deadline, reporting the provider error', async () => {
    const { delays, sleep } = recordingSleep();
    let calls = 0;

    const failure = await callWithPolicy(
      'openai',
      {
        timeoutMs: 1_000,
        signal: new AbortController().signal,
        policy: { limiter: new ProviderLimiter(), retry: DEFAULT_RETRY_POLICY, sleep, random: () => 0.5 },
      },
      async () => {
        calls += 1;
        throw new ProviderError('openai', 'slow down', {
          status: 429,
          retryable: true,
          retryAfterMs: 30_000,
        });
      },
    ).catch((e) => e);

    expect(failure).toMatchObject({ status: 429 });
    expect(calls).toBe(1);
    expect(delays).toEqual([]);
  });

  it('charges the tokens of a billed answer that failed to the limit, as it does for one that succeeded', async () => {
    const { sleep } = recordingSleep();
    const charged: number[] = [];
    const limiter: CallLimiter = {
      acquire: async () => ({
        beforeRequest: async () => {},
        afterRequest: async ({ tokens }) => {
          if (tokens !== undefined) charged.push(tokens);
        },
        release: async () => {},
      }),
    };
    const cutShort = attachUsage(new ProviderError('anthropic', 'cut at max_tokens', { retryable: false }), [
      { inputTokens: 100, outputTokens: 40, cacheReadTokens: 10 },
    ]);

    const failure = await callWithPolicy(
      'anthropic',
      {
        timeoutMs: 1_000,
        signal: new AbortController().signal,
        policy: { limiter, retry: DEFAULT_RETRY_POLICY, sleep, random: () => 0.5 },
      },
      async () => {
        throw cutShort;
      },
    ).catch((e) => e);

    expect(failure).toBe(cutShort);
    expect(charged).toEqual([150]);
  });

  it('rethrows errors that are not provider answers without retrying', async () => {
    const { sleep } = recordingSleep();
    let calls = 0;

    const failure = await callWithPolicy(
      'anthropic',
      {
        timeoutMs: 60_000,
        signal: new AbortController().signal,
        policy: { limiter: new ProviderLimiter(), retry: DEFAULT_RETRY_POLICY, sleep, random: () => 0.5 },
      },
      async () => {
        calls += 1;
        throw new TypeError('bug');
      },
    ).catch((e) => e);

    expect(failure).toBeInstanceOf(TypeError);
    expect(calls).toBe(1);
  });

  it('keeps its deadline even when the call ignores the abort signal', async () => {
    const { sleep } = recordingSleep();
    const startedAt = Date.now();

    const failure = await callWithPolicy(
      'http',
      {
        timeoutMs: 100,
        signal: new AbortController().signal,
        policy: { limiter: new ProviderLimiter(), retry: DEFAULT_RETRY_POLICY, sleep, random: () => 0.5 },
      },
      () => new Promise<never>(() => {}),
    ).catch((e) => e);

    expect(failure).toBeInstanceOf(ExecutionTimeoutError);
    expect(Date.now() - startedAt).toBeLessThan(1_000);
  });

  it('says how many retries it spent when it gives up', async () => {
    const { sleep } = recordingSleep();

    const failure = await callWithPolicy(
      'bedrock',
      {
        timeoutMs: 60_000,
        signal: new AbortController().signal,
        policy: { limiter: new ProviderLimiter(), retry: DEFAULT_RETRY_POLICY, sleep, random: () => 0.5 },
      },
      async () => {
        throw new ProviderError('bedrock', 'bedrock failed the call with HTTP 500', {
          status: 500,
          retryable: true,
        });
      },
    ).catch((e) => e);

    expect(failure.message).toContain('gave up after 2 retries');
  });
});
