import { describe, expect, it } from 'vitest';
import {
  backoffDelay,
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
} from '../../../shared/adapters/executors';
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

describe('providerErrorFromStatus', () => {
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
