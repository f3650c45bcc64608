import { describe, expect, it } from 'vitest';
import {
  type CallLimiter,
  type CallTarget,
  callWithPolicy,
  DEFAULT_RETRY_POLICY,
  ExecutionTimeoutError,
  providerErrorFromStatus,
} from '../../../shared/adapters/executors';
import { recordingSleep } from './fake-provider';

/** A limiter that records what the policy tells it. */
function recordingLimiter(options: { holdSlotMs?: number } = {}) {
  const events: string[] = [];
  const limiter: CallLimiter = {
    acquire: async (target: CallTarget, signal: AbortSignal) => {
      events.push(`acquire ${target.provider}/${target.model ?? '*'}`);
      if (options.holdSlotMs !== undefined)
        await new Promise((resolve, reject) => {
          const timer = setTimeout(resolve, options.holdSlotMs);
          signal.addEventListener('abort', () => {
            clearTimeout(timer);
            reject(signal.reason);
          });
        });
      return {
        beforeRequest: async () => {
          events.push('request');
        },
        afterRequest: async (outcome) => {
          events.push(outcome.throttled ? 'throttled' : `tokens ${outcome.tokens}`);
        },
        release: async () => {
          events.push('release');
        },
      };
    },
  };
  return { limiter, events };
}

describe('callWithPolicy with a call limiter', () => {
  it('takes a request per try, tells the limiter about a 429 and the tokens of the answer, then releases', async () => {
    const { limiter, events } = recordingLimiter();
    const { sleep } = recordingSleep();
    let calls = 0;

    const answer = await callWithPolicy(
      { provider: 'anthropic', model: 'm' },
      {
        timeoutMs: 10_000,
        signal: new AbortController().signal,
        policy: { limiter, retry: DEFAULT_RETRY_POLICY, sleep, random: () => 0.5 },
        tokensOf: (a: { tokens: number }) => a.tokens,
      },
      async () => {
        calls += 1;
        if (calls === 1) throw providerErrorFromStatus('anthropic', 429, 'slow down');
        if (calls === 2) throw providerErrorFromStatus('anthropic', 529, 'overloaded');
        return { tokens: 42 };
      },
    );

    expect(answer).toEqual({ tokens: 42 });
    // A 529 is overload, not this account's rate: it is retried but does not lower the rate.
    expect(events).toEqual([
      'acquire anthropic/m',
      'request',
      'throttled',
      'request',
      'request',
      'tokens 42',
      'release',
    ]);
  });

  it('gives the slot back when the call fails', async () => {
    const { limiter, events } = recordingLimiter();
    const { sleep } = recordingSleep();

    await expect(
      callWithPolicy(
        'http',
        {
          timeoutMs: 10_000,
          signal: new AbortController().signal,
          policy: { limiter, retry: DEFAULT_RETRY_POLICY, sleep, random: () => 0.5 },
        },
        async () => {
          throw providerErrorFromStatus('http', 400, 'bad request');
        },
      ),
    ).rejects.toThrow(/HTTP 400/);
    expect(events).toEqual(['acquire http/*', 'request', 'release']);
  });

  it("waits for a slot no longer than the call's deadline, and then times out", async () => {
    const { limiter, events } = recordingLimiter({ holdSlotMs: 60_000 });
    const { sleep } = recordingSleep();

    await expect(
      callWithPolicy(
        'openai',
        {
          timeoutMs: 50,
          signal: new AbortController().signal,
          policy: { limiter, retry: DEFAULT_RETRY_POLICY, sleep, random: () => 0.5 },
        },
        async () => 'never called',
      ),
    ).rejects.toBeInstanceOf(ExecutionTimeoutError);
    expect(events).toEqual(['acquire openai/*']);
  });
});
