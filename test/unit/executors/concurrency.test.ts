import { afterEach, describe, expect, it } from 'vitest';
import {
  createExecutor,
  ExecutionAbortedError,
  ExecutionTimeoutError,
  ProviderLimiter,
  Semaphore,
} from '../../../shared/adapters/executors';
import type { SecretResolver } from '../../../shared/adapters/secrets';
import { type FakeProvider, startFakeProvider } from './fake-provider';
import { makeRequest } from './provider-contract';

const noToken: SecretResolver = async () => 'token';
const SLOW_REPLY_MS = 150;

describe('per-provider concurrency cap', () => {
  let server: FakeProvider | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('never has more than the cap in flight at the provider when a burst arrives', async () => {
    const cap = 2;
    server = await startFakeProvider([{ status: 200, json: { ok: true }, delayMs: SLOW_REPLY_MS }]);
    const limiter = new ProviderLimiter(cap);
    // Separate executor instances (one per agent) must still share the provider's cap.
    const executors = Array.from({ length: cap + 3 }, (_, i) =>
      createExecutor({ name: 'http', url: `${server?.url}/agent-${i}` }, { secrets: noToken, limiter }),
    );

    const outcomes = await Promise.all(
      executors.map((executor, i) =>
        executor.execute(makeRequest({ taskId: `t${i}` }), new AbortController().signal),
      ),
    );

    expect(outcomes).toHaveLength(cap + 3);
    expect(server.requests).toHaveLength(cap + 3);
    expect(server.maxInFlight).toBe(cap);
  });

  it('keeps separate caps for separate providers', () => {
    const limiter = new ProviderLimiter({ anthropic: 1, openai: 3 });

    expect(limiter.for('anthropic').limit).toBe(1);
    expect(limiter.for('openai').limit).toBe(3);
    expect(limiter.for('http')).toBe(limiter.for('http'));
  });

  it('counts the wait for a slot against the task timeout', async () => {
    server = await startFakeProvider([{ hang: true }]);
    const limiter = new ProviderLimiter(1);
    const executor = createExecutor({ name: 'http', url: server.url }, { secrets: noToken, limiter });
    const holder = new AbortController();
    const holding = executor.execute(makeRequest({ timeoutMs: 5_000 }), holder.signal).catch((e) => e);

    const queued = await executor
      .execute(makeRequest({ timeoutMs: 200 }), new AbortController().signal)
      .catch((e) => e);
    holder.abort();

    expect(queued).toBeInstanceOf(ExecutionTimeoutError);
    expect(await holding).toBeInstanceOf(ExecutionAbortedError);
    expect(server.requests).toHaveLength(1);
    expect(limiter.for('http').inFlight).toBe(0);
  });
});

describe('Semaphore', () => {
  it('hands a released slot to the next waiter in order', async () => {
    const semaphore = new Semaphore(1);
    const signal = new AbortController().signal;
    const order: string[] = [];
    const release = await semaphore.acquire(signal);

    const second = semaphore.acquire(signal).then((r) => {
      order.push('second');
      return r;
    });
    const third = semaphore.acquire(signal).then((r) => {
      order.push('third');
      return r;
    });
    release();
    (await second)();
    (await third)();

    expect(order).toEqual(['second', 'third']);
    expect(semaphore.inFlight).toBe(0);
  });

  it('removes an aborted waiter from the queue without taking a slot', async () => {
    const semaphore = new Semaphore(1);
    const release = await semaphore.acquire(new AbortController().signal);
    const controller = new AbortController();

    const waiting = semaphore.acquire(controller.signal).catch((e) => e);
    controller.abort(new Error('gone'));

    expect(await waiting).toEqual(new Error('gone'));
    expect(semaphore.waiting).toBe(0);
    release();
    expect(semaphore.inFlight).toBe(0);
  });

  it('refuses a limit below one', () => {
    expect(() => new Semaphore(0)).toThrow(RangeError);
  });
});
