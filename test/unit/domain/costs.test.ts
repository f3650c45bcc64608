import { describe, expect, it } from 'vitest';
import {
  addUsage,
  BUILT_IN_PRICES,
  CostsConfigError,
  DEFAULT_PROVIDER_MAX_CONCURRENT,
  effectiveBudget,
  limitFor,
  nanoToUsd,
  PriceTable,
  parseCostsConfig,
  REQUEST_OVERHEAD_TOKENS,
  sumCosts,
  sumUsage,
  worstCaseUsage,
} from '../../../shared/domain/costs';
import { DEFAULT_MODELS } from '../../../shared/domain/models';

describe('prices', () => {
  it('prices the default model of every provider, and the simulated executor at nothing', () => {
    const table = new PriceTable();

    for (const provider of ['anthropic', 'openai', 'bedrock'] as const) {
      expect(table.priceOf({ name: provider })?.model).toBe(DEFAULT_MODELS[provider]);
    }
    expect(table.costOf({ name: 'simulated' }, [{ inputTokens: 1000, outputTokens: 1000 }])).toBe(0);
  });

  it('reports a model without a price as unknown instead of guessing', () => {
    const table = new PriceTable();

    expect(
      table.costOf({ name: 'anthropic', model: 'claude-unpriced' }, [{ inputTokens: 1, outputTokens: 1 }]),
    ).toBeNull();
    expect(table.costOf({ name: 'http' }, [{ inputTokens: 1, outputTokens: 1 }])).toBeNull();
  });

  it('charges input, output, cache reads and cache writes at their own rates, in whole nano-dollars', () => {
    const table = new PriceTable();
    // Sonnet 5.5: $2 in, $10 out, $0.20 cache read, $2.50 cache write per million tokens.
    const nano = table.costOf({ name: 'anthropic' }, [
      { inputTokens: 1_234, outputTokens: 567, cacheReadTokens: 10_000, cacheWriteTokens: 300 },
    ]);

    expect(nano).toBe(1_234 * 2_000 + 567 * 10_000 + 10_000 * 200 + 300 * 2_500);
    expect(nanoToUsd(nano ?? 0)).toBe(0.010888);
  });

  it('lets the config override a built-in price and price a whole provider', () => {
    const table = new PriceTable([
      { provider: 'anthropic', model: DEFAULT_MODELS.anthropic, inputUsdPerMTok: 1, outputUsdPerMTok: 1 },
      { provider: 'http', inputUsdPerMTok: 3, outputUsdPerMTok: 4 },
    ]);

    expect(table.costOf({ name: 'anthropic' }, [{ inputTokens: 1_000_000, outputTokens: 0 }])).toBe(1e9);
    expect(table.costOf({ name: 'http' }, [{ inputTokens: 1_000_000, outputTokens: 1_000_000 }])).toBe(7e9);
  });

  it('is unknown when the usage has cache reads and the price has no cache rate', () => {
    const table = new PriceTable([{ provider: 'http', inputUsdPerMTok: 3, outputUsdPerMTok: 4 }]);

    expect(
      table.costOf({ name: 'http' }, [{ inputTokens: 1, outputTokens: 1, cacheReadTokens: 5 }]),
    ).toBeNull();
  });

  it('applies a long-context rate to each request above its threshold alone', () => {
    const table = new PriceTable();
    const openai = BUILT_IN_PRICES.find((p) => p.provider === 'openai');
    const threshold = openai?.longContext?.aboveInputTokens ?? 0;
    const short = { inputTokens: threshold, outputTokens: 0 };
    const long = { inputTokens: threshold + 1, outputTokens: 0 };

    // Two short calls together are above the threshold, but each is priced at the standard rate.
    expect(table.costOf({ name: 'openai' }, [short, short])).toBe(2 * threshold * 2_000);
    expect(table.costOf({ name: 'openai' }, [long])).toBe((threshold + 1) * 4_000);
  });
});

describe('usage sums', () => {
  it('adds every kind of token and keeps the simulated label', () => {
    expect(
      addUsage(
        { inputTokens: 1, outputTokens: 2, cacheReadTokens: 3 },
        { inputTokens: 10, outputTokens: 20, simulated: true },
      ),
    ).toEqual({ inputTokens: 11, outputTokens: 22, cacheReadTokens: 3, simulated: true });
    expect(sumUsage([undefined, undefined])).toBeUndefined();
  });

  it('makes a cost total unknown when one part is, and exact in nano-dollars otherwise', () => {
    expect(sumCosts([0.1, 0.2, undefined])).toBe(0.3);
    expect(sumCosts([0.1, null, 0.2])).toBeNull();
    expect(sumCosts([undefined])).toBeUndefined();
  });
});

describe('worst case of an attempt', () => {
  it('bounds the input by the prompt bytes plus framing, the output by max tokens, per call', () => {
    const { calls, total } = worstCaseUsage({ promptBytes: 10_000, maxOutputTokens: 1_000, reasks: 1 });

    expect(calls).toHaveLength(2);
    expect(calls[0]).toEqual({ inputTokens: 10_000 + REQUEST_OVERHEAD_TOKENS, outputTokens: 1_000 });
    // The re-ask sends the prompt again with the first answer and the correction.
    expect(calls[1]?.inputTokens).toBeGreaterThan((calls[0]?.inputTokens ?? 0) + 1_000);
    expect(total.outputTokens).toBe(2_000);
  });
});

describe('the costs section of the config file', () => {
  it('refuses negative, malformed and duplicate entries, naming each path', () => {
    const attempt = () =>
      parseCostsConfig({
        prices: [
          { provider: 'anthropic', model: 'm', inputUsdPerMTok: -1, outputUsdPerMTok: 1 },
          { provider: 'openai', model: 'x', inputUsdPerMTok: 1, outputUsdPerMTok: '2' },
        ],
        budget: { maxCostUsd: 0 },
        providerLimits: [{ provider: 'anthropic', maxConcurrent: 0 }],
      });

    expect(attempt).toThrow(CostsConfigError);
    try {
      attempt();
    } catch (error) {
      const paths = (error as CostsConfigError).issues.map((i) => i.path);
      expect(paths).toEqual(
        expect.arrayContaining([
          '$.costs.prices[0].inputUsdPerMTok',
          '$.costs.prices[1].outputUsdPerMTok',
          '$.costs.budget.maxCostUsd',
          '$.costs.providerLimits[0].maxConcurrent',
        ]),
      );
    }
  });

  it('refuses a provider priced twice', () => {
    try {
      parseCostsConfig({
        prices: [
          { provider: 'http', inputUsdPerMTok: 1, outputUsdPerMTok: 1 },
          { provider: 'http', inputUsdPerMTok: 2, outputUsdPerMTok: 2 },
        ],
      });
      expect.unreachable();
    } catch (error) {
      expect((error as CostsConfigError).issues).toEqual([
        { path: '$.costs.prices[1]', message: expect.stringContaining('listed twice') },
      ]);
    }
  });

  it('takes the fields a batch budget leaves out from the deployment default', () => {
    expect(effectiveBudget({ maxTokens: 10 }, { maxCostUsd: 5, maxTokens: 99 })).toEqual({
      maxCostUsd: 5,
      maxTokens: 10,
    });
    expect(effectiveBudget(undefined, undefined)).toBeUndefined();
  });
});

describe('provider limits', () => {
  it("uses a model's own limit, else its provider's, else the default concurrency", () => {
    const limits = [
      { provider: 'anthropic' as const, maxConcurrent: 5 },
      { provider: 'anthropic' as const, model: 'big', maxConcurrent: 1, tokensPerMinute: 1000 },
    ];

    expect(limitFor(limits, 'anthropic', 'big')).toMatchObject({ key: 'anthropic/big', maxConcurrent: 1 });
    expect(limitFor(limits, 'anthropic', 'small')).toMatchObject({ key: 'anthropic', maxConcurrent: 5 });
    expect(limitFor(limits, 'openai', undefined)).toEqual({
      key: 'openai',
      provider: 'openai',
      maxConcurrent: DEFAULT_PROVIDER_MAX_CONCURRENT,
    });
  });
});
