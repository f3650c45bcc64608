import { describe, expect, it } from 'vitest';
import { CostsConfigError, parseCostsConfig } from '../../../shared/domain/costs';
import {
  allowedConcurrency,
  DEFAULT_LIMITER_TUNING,
  loweredRate,
  rateFactor,
  rateWindow,
  usageTokens,
  windowAvailable,
  windowWaitMs,
} from '../../../shared/domain/provider-limits';

const tuning = DEFAULT_LIMITER_TUNING;

describe('the AIMD rate of a provider limit', () => {
  it('halves the rate on a 429 and holds it through the cool-down', () => {
    const lowered = loweredRate(undefined, 1_000, tuning);

    expect(lowered).toEqual({
      factor: 0.5,
      at: 1_000,
      cooldownUntil: 1_000 + tuning.cooldownMs,
      throttles: 1,
    });
    expect(rateFactor(lowered, 1_000 + tuning.cooldownMs - 1, tuning)).toBe(0.5);
    expect(allowedConcurrency(5, rateFactor(lowered, 1_001, tuning))).toBe(2);
  });

  it('counts the 429s of one storm once: none lowers it again within the decrease window', () => {
    const first = loweredRate(undefined, 0, tuning);

    expect(loweredRate(first, tuning.decreaseWindowMs - 1, tuning)).toBeUndefined();
    expect(loweredRate(first, tuning.decreaseWindowMs, tuning)?.factor).toBe(0.25);
  });

  it('recovers one step per interval after the cool-down, up to the configured rate', () => {
    const state = { factor: 0.5, at: 0, cooldownUntil: 30_000, throttles: 1 };
    const steps = [30_000, 40_000, 50_000, 60_000, 70_000, 80_000, 1_000_000].map((t) =>
      Number(rateFactor(state, t, tuning).toFixed(2)),
    );

    expect(steps).toEqual([0.6, 0.7, 0.8, 0.9, 1, 1, 1]);
  });

  it('never goes below the minimum factor, nor below one call at a time', () => {
    let state = loweredRate(undefined, 0, tuning);
    for (let t = 1; t < 20; t++) state = loweredRate(state, t * tuning.decreaseWindowMs, tuning) ?? state;

    expect(state?.factor).toBe(tuning.minFactor);
    expect(allowedConcurrency(5, tuning.minFactor)).toBe(1);
  });
});

describe('request and token windows (GCRA)', () => {
  it('let ten seconds of the rate go at once, at least one request, and slow with the factor', () => {
    expect(rateWindow(60, 1, tuning)).toEqual({ costMs: 1_000, toleranceMs: 10_000 });
    expect(rateWindow(3, 1, tuning)).toEqual({ costMs: 20_000, toleranceMs: 20_000 });
    expect(rateWindow(60, 0.5, tuning).costMs).toBe(2_000);
  });

  it('count what is left from how far ahead the theoretical arrival time is', () => {
    const window = rateWindow(60, 1, tuning);

    expect(windowAvailable(undefined, 0, window)).toBe(10);
    // Idle: a TAT in the past is a full window.
    expect(windowAvailable(500, 5_000, window)).toBe(10);
    expect(windowAvailable(8_000, 0, window)).toBe(2);
    // Spent ahead (tokens charged after an answer): negative.
    expect(windowAvailable(15_000, 0, window)).toBe(-5);
  });

  it('wait until what is needed fits', () => {
    const window = rateWindow(60, 1, tuning);

    expect(windowWaitMs(undefined, 0, window, 1)).toBe(0);
    expect(windowWaitMs(9_000, 0, window, 1)).toBe(0);
    expect(windowWaitMs(10_000, 0, window, 1)).toBe(1_000);
    expect(windowWaitMs(15_000, 0, window, 1)).toBe(6_000);
  });

  it('count every token of a call against tokens per minute', () => {
    expect(usageTokens({ inputTokens: 10, outputTokens: 5, cacheReadTokens: 100, cacheWriteTokens: 7 })).toBe(
      122,
    );
    expect(usageTokens(undefined)).toBeUndefined();
  });
});

describe("the costs config's providerLimits", () => {
  const issuesOf = (raw: unknown) => {
    try {
      parseCostsConfig(raw);
    } catch (error) {
      if (error instanceof CostsConfigError) return error.issues.map((i) => i.path);
      throw error;
    }
    return [];
  };

  it('accepts limits per provider and per model', () => {
    const config = {
      providerLimits: [
        { provider: 'anthropic', maxConcurrent: 5, requestsPerMinute: 50, tokensPerMinute: 40_000 },
        { provider: 'anthropic', model: 'claude-opus-x', maxConcurrent: 1 },
        { provider: 'http', requestsPerMinute: 0.5 },
      ],
    };

    expect(parseCostsConfig(config)).toEqual(config);
  });

  it('refuses negative, zero, fractional and malformed limits, naming each path', () => {
    expect(
      issuesOf({
        providerLimits: [
          { provider: 'anthropic', maxConcurrent: -1 },
          { provider: 'openai', maxConcurrent: 0 },
          { provider: 'bedrock', maxConcurrent: 2.5 },
          { provider: 'http', maxConcurrent: '5' },
          { provider: 'anthropic', model: 'm', requestsPerMinute: -3, tokensPerMinute: 1.5 },
        ],
      }),
    ).toEqual([
      '$.costs.providerLimits[0].maxConcurrent',
      '$.costs.providerLimits[1].maxConcurrent',
      '$.costs.providerLimits[2].maxConcurrent',
      '$.costs.providerLimits[3].maxConcurrent',
      '$.costs.providerLimits[4].requestsPerMinute',
      '$.costs.providerLimits[4].tokensPerMinute',
    ]);
  });

  it('refuses a limit of the simulated executor, an unknown field, an empty limit and a duplicate', () => {
    expect(
      issuesOf({
        providerLimits: [
          { provider: 'simulated', maxConcurrent: 1 },
          { provider: 'openai', maxConcurrency: 3 },
          { provider: 'anthropic' },
          { provider: 'http', maxConcurrent: 1 },
          { provider: 'http', maxConcurrent: 2 },
        ],
      }),
    ).toEqual(['$.costs.providerLimits[0].provider', '$.costs.providerLimits[1]']);
    expect(
      issuesOf({
        providerLimits: [
          { provider: 'anthropic' },
          { provider: 'http', maxConcurrent: 1 },
          { provider: 'http', maxConcurrent: 2 },
        ],
      }),
    ).toEqual(['$.costs.providerLimits[2]', '$.costs.providerLimits[0]']);
  });
});
