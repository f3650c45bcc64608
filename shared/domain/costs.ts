/**
 * Cost control, the pure part (README "Cost control"): token usage arithmetic, the price table (USD per
 * million tokens per provider and model, built-in defaults for the default models, overridable in the config
 * file's `costs.prices`), the worst case of an attempt that a budget reserves, and the `costs` section of the
 * config file (prices, the deployment's default budget, fleet-wide provider limits).
 *
 * Money is counted in integer nano-dollars (1e-9 USD) wherever it is added up, stored or compared, so sums
 * over thousands of attempts are exact and DynamoDB conditions compare integers: a token at $0.10 per million
 * is 100 nano-dollars. USD figures are derived from nano-dollars only when shown.
 */
import { z } from 'zod';
import { DEFAULT_MODELS } from './models';
import { type Budget, BudgetSchema, type ExecutorConfig, ExecutorNameSchema, type Usage } from './schemas';

/** Nano-dollars per dollar. */
export const NANO_USD_PER_USD = 1_000_000_000;
/** Nano-dollars one token costs at a price of 1 USD per million tokens. */
const NANO_USD_PER_TOKEN_AT_ONE_USD_PER_MTOK = NANO_USD_PER_USD / 1_000_000;

/** USD, rounded to the nano-dollar it was counted in. */
export function nanoToUsd(nano: number): number {
  return Math.round(nano) / NANO_USD_PER_USD;
}

/** Nano-dollars of a USD amount (a budget, a price shown in USD). */
export function usdToNano(usd: number): number {
  return Math.round(usd * NANO_USD_PER_USD);
}

// ------------------------------------------------------------------------------------------------ usage

/** Every token of a usage record: input (uncached), output, cache reads and cache writes. */
export function totalTokens(usage: Usage): number {
  return (
    usage.inputTokens + usage.outputTokens + (usage.cacheReadTokens ?? 0) + (usage.cacheWriteTokens ?? 0)
  );
}

/**
 * The most tokens one provider call is believed to use: no model reads or writes a billion tokens in one call,
 * and below it every price in the table keeps a call's cost a safe integer of nano-dollars.
 */
export const MAX_CALL_TOKENS = 1_000_000_000;

/** A token count a provider reported, when it is one: a whole number from 0 to MAX_CALL_TOKENS. */
const tokenCount = (value: unknown): value is number =>
  typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_CALL_TOKENS;

/**
 * The usage record of a provider's answer, or undefined (unknown) when any count it reports is not a token
 * count: negative, fractional, a string, missing (input and output), NaN or beyond MAX_CALL_TOKENS. A provider's
 * answer is not trusted: a negative count would give spend back to a budget, and a count that is no number
 * would be stored on the attempt, the task and the batch. Unknown usage is priced null and a budget settles the
 * attempt at what it held. Cache counts may be absent (or null, or 0: not reported).
 */
export function reportedUsage(counts: {
  inputTokens: unknown;
  outputTokens: unknown;
  cacheReadTokens?: unknown;
  cacheWriteTokens?: unknown;
}): Usage | undefined {
  const { inputTokens, outputTokens } = counts;
  const cacheRead = counts.cacheReadTokens ?? 0;
  const cacheWrite = counts.cacheWriteTokens ?? 0;
  if (
    !tokenCount(inputTokens) ||
    !tokenCount(outputTokens) ||
    !tokenCount(cacheRead) ||
    !tokenCount(cacheWrite)
  )
    return undefined;
  return {
    inputTokens,
    outputTokens,
    ...(cacheRead > 0 ? { cacheReadTokens: cacheRead } : {}),
    ...(cacheWrite > 0 ? { cacheWriteTokens: cacheWrite } : {}),
  };
}

/** The field names of a provider's usage block (its API's spelling of each count). */
export type UsageFieldNames = Readonly<
  Record<'inputTokens' | 'outputTokens' | 'cacheReadTokens' | 'cacheWriteTokens', string>
>;

/** reportedUsage of a provider's usage block (any JSON: undefined unless an object) whose counts are named `names`. */
export function reportedUsageIn(block: unknown, names: UsageFieldNames): Usage | undefined {
  if (typeof block !== 'object' || block === null) return undefined;
  const field = (name: string) => (block as Record<string, unknown>)[name];
  return reportedUsage({
    inputTokens: field(names.inputTokens),
    outputTokens: field(names.outputTokens),
    cacheReadTokens: field(names.cacheReadTokens),
    cacheWriteTokens: field(names.cacheWriteTokens),
  });
}

/** The sum of two usage records; `simulated` when either is. Undefined when both are. */
export function addUsage(a: Usage | undefined, b: Usage | undefined): Usage | undefined {
  if (!a) return b;
  if (!b) return a;
  const cacheRead = (a.cacheReadTokens ?? 0) + (b.cacheReadTokens ?? 0);
  const cacheWrite = (a.cacheWriteTokens ?? 0) + (b.cacheWriteTokens ?? 0);
  return {
    inputTokens: a.inputTokens + b.inputTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    ...(a.cacheReadTokens !== undefined || b.cacheReadTokens !== undefined
      ? { cacheReadTokens: cacheRead }
      : {}),
    ...(a.cacheWriteTokens !== undefined || b.cacheWriteTokens !== undefined
      ? { cacheWriteTokens: cacheWrite }
      : {}),
    ...(a.simulated || b.simulated ? { simulated: true } : {}),
  };
}

/** The sum of many usage records (undefined when none has one). */
export function sumUsage(records: readonly (Usage | undefined)[]): Usage | undefined {
  return records.reduce<Usage | undefined>((sum, usage) => addUsage(sum, usage), undefined);
}

/**
 * The sum of costs in USD, each null when its price was unknown: null when any is (a total that leaves a
 * priced-unknown part out would look complete), undefined when there is none at all.
 */
export function sumCosts(costs: readonly (number | null | undefined)[]): number | null | undefined {
  let nano = 0;
  let any = false;
  for (const cost of costs) {
    if (cost === undefined) continue;
    if (cost === null) return null;
    nano += usdToNano(cost);
    any = true;
  }
  return any ? nanoToUsd(nano) : undefined;
}

// ------------------------------------------------------------------------------------------------ prices

/** Highest rate a price may give, in USD per million tokens (far above any model's; catches a unit slip). */
export const MAX_USD_PER_MTOK = 10_000;
const Rate = z.number().finite().min(0).max(MAX_USD_PER_MTOK);

const RatesShape = {
  /** Uncached input tokens. */
  inputUsdPerMTok: Rate,
  outputUsdPerMTok: Rate,
  /** Input tokens read from the provider's prompt cache; usage with cache reads and no rate is unpriced. */
  cacheReadUsdPerMTok: Rate.optional(),
  /** Input tokens written to the prompt cache. */
  cacheWriteUsdPerMTok: Rate.optional(),
};

/**
 * One price: USD per million tokens for a provider's model (`model` absent: every model of the provider that
 * has no price of its own). `longContext`: other rates for a request whose input (cache included) is above
 * `aboveInputTokens` tokens, the whole request at those rates (OpenAI's long-context pricing).
 */
export const PriceSchema = z
  .object({
    provider: ExecutorNameSchema,
    model: z.string().min(1).max(256).optional(),
    ...RatesShape,
    longContext: z
      .object({ aboveInputTokens: z.number().int().min(1), ...RatesShape })
      .strict()
      .optional(),
  })
  .strict();
export type Price = z.infer<typeof PriceSchema>;

/**
 * Built-in prices of the default models (shared/domain/models.ts), list prices as of 2026-12-03 (Anthropic's
 * model pages, OpenAI's gpt-6.1-sol page, Amazon Bedrock's pricing of Claude on global cross-Region
 * inference profiles). The simulated executor costs nothing; price it in the config to rehearse a budget.
 * Any other model has no price until the config gives one: its cost is reported as unknown, never guessed.
 */
export const BUILT_IN_PRICES: readonly Price[] = [
  {
    provider: 'anthropic',
    model: DEFAULT_MODELS.anthropic,
    inputUsdPerMTok: 2,
    outputUsdPerMTok: 10,
    cacheReadUsdPerMTok: 0.2,
    // The 5-minute cache write (the executors send no cache_control, so no 1-hour writes happen).
    cacheWriteUsdPerMTok: 2.5,
  },
  {
    provider: 'openai',
    model: DEFAULT_MODELS.openai,
    inputUsdPerMTok: 2,
    outputUsdPerMTok: 10,
    cacheReadUsdPerMTok: 0.1,
    longContext: {
      aboveInputTokens: 272_000,
      inputUsdPerMTok: 4,
      outputUsdPerMTok: 15,
      cacheReadUsdPerMTok: 0.2,
    },
  },
  {
    provider: 'bedrock',
    model: DEFAULT_MODELS.bedrock,
    inputUsdPerMTok: 3,
    outputUsdPerMTok: 15,
    cacheReadUsdPerMTok: 0.3,
    cacheWriteUsdPerMTok: 3.75,
  },
  { provider: 'simulated', inputUsdPerMTok: 0, outputUsdPerMTok: 0, cacheReadUsdPerMTok: 0 },
];

/** The model an executor config is priced as: its model, the provider's default model, or none (http). */
export function pricedModel(config: Pick<ExecutorConfig, 'name' | 'model'>): string | undefined {
  if (config.model !== undefined) return config.model;
  return config.name === 'anthropic' || config.name === 'openai' || config.name === 'bedrock'
    ? DEFAULT_MODELS[config.name]
    : undefined;
}

/** Prices by provider and model: the config's over the built-in ones, a model's own over its provider's. */
export class PriceTable {
  readonly #exact = new Map<string, Price>();
  readonly #provider = new Map<string, Price>();

  /** `overrides` (the config's `costs.prices`) replace built-in prices of the same provider and model. */
  constructor(overrides: readonly Price[] = [], builtIn: readonly Price[] = BUILT_IN_PRICES) {
    for (const price of [...builtIn, ...overrides]) {
      if (price.model === undefined) this.#provider.set(price.provider, price);
      else this.#exact.set(`${price.provider}\u0000${price.model}`, price);
    }
  }

  /** The price of what `config` calls, or undefined when none is known. */
  priceOf(config: Pick<ExecutorConfig, 'name' | 'model'>): Price | undefined {
    const model = pricedModel(config);
    return (
      (model === undefined ? undefined : this.#exact.get(`${config.name}\u0000${model}`)) ??
      this.#provider.get(config.name)
    );
  }

  /**
   * What the calls of one attempt cost, in nano-dollars, each call priced alone (a long-context rate
   * applies per request); null when the price, or a rate the usage needs, is unknown.
   */
  costOf(config: Pick<ExecutorConfig, 'name' | 'model'>, calls: readonly Usage[]): number | null {
    const price = this.priceOf(config);
    if (!price) return null;
    let nano = 0;
    for (const call of calls) {
      const cost = callCostNano(price, call);
      if (cost === null) return null;
      nano += cost;
    }
    return nano;
  }
}

/** Nano-dollars of one request at `price`; null when a rate its usage needs is missing. */
export function callCostNano(price: Price, usage: Usage): number | null {
  const input = usage.inputTokens + (usage.cacheReadTokens ?? 0) + (usage.cacheWriteTokens ?? 0);
  const rates = price.longContext && input > price.longContext.aboveInputTokens ? price.longContext : price;
  const read = usage.cacheReadTokens ?? 0;
  const write = usage.cacheWriteTokens ?? 0;
  if (
    (read > 0 && rates.cacheReadUsdPerMTok === undefined) ||
    (write > 0 && rates.cacheWriteUsdPerMTok === undefined)
  )
    return null;
  const usdPerMTokTimesTokens =
    usage.inputTokens * rates.inputUsdPerMTok +
    usage.outputTokens * rates.outputUsdPerMTok +
    read * (rates.cacheReadUsdPerMTok ?? 0) +
    write * (rates.cacheWriteUsdPerMTok ?? 0);
  return Math.round(usdPerMTokTimesTokens * NANO_USD_PER_TOKEN_AT_ONE_USD_PER_MTOK);
}

// ------------------------------------------------------------------------------------------- worst case

/**
 * Tokens of an LLM request beyond the bytes of its prompt and output schema: the system prompt (about 400
 * bytes with the agent's id), the provider's message framing and, with a forced tool, the tool-use system
 * prompt the provider adds (Anthropic documents about 350 tokens). Generous on purpose: it is a bound.
 */
export const REQUEST_OVERHEAD_TOKENS = 2_048;
/** Output tokens asked of a provider when the role's executor does not say (`executor.maxOutputTokens`). */
export const DEFAULT_MAX_OUTPUT_TOKENS = 4_096;
/** Bytes of the correction a structured-output re-ask adds (the misfits are quoted, at most a few). */
export const REASK_CORRECTION_BYTES = 4_096;

/**
 * The most an attempt can use, which a budget reserves before it is dispatched. Every provider here
 * tokenizes UTF-8 bytes with byte-level BPE (each token stands for at least one byte), so a request's input
 * tokens are at most its bytes plus the framing (REQUEST_OVERHEAD_TOKENS); output is capped by the request's
 * max_tokens. A task with an outputSchema may be re-asked once (STRUCTURED_OUTPUT_REASKS): the second call
 * sends the prompt again with the first answer and the correction. `promptBytes` must bound the whole prompt
 * (the role's template filled with the task, plus the context budget when the task takes other tasks' work,
 * plus the output schema).
 */
export function worstCaseUsage(input: { promptBytes: number; maxOutputTokens: number; reasks: number }): {
  calls: Usage[];
  total: Usage;
} {
  const first: Usage = {
    inputTokens: input.promptBytes + REQUEST_OVERHEAD_TOKENS,
    outputTokens: input.maxOutputTokens,
  };
  const reask: Usage = {
    inputTokens: first.inputTokens + input.maxOutputTokens + REASK_CORRECTION_BYTES,
    outputTokens: input.maxOutputTokens,
  };
  const calls = [first, ...Array.from({ length: input.reasks }, () => reask)];
  return { calls, total: sumUsage(calls) ?? first };
}

// ------------------------------------------------------------------------------------- provider limits

/**
 * Fleet-wide concurrent calls to one provider when the config sets no limit for it: a safe start for a new
 * account (Anthropic's first tier allows 50 requests a minute; eight calls of 30 s each make 16).
 */
export const DEFAULT_PROVIDER_MAX_CONCURRENT = 8;
export const MAX_PROVIDER_CONCURRENT = 10_000;
export const MAX_REQUESTS_PER_MINUTE = 1_000_000;
export const MAX_TOKENS_PER_MINUTE = 1_000_000_000;

/**
 * A fleet-wide limit on calls to a provider (`model` absent: every model of it without its own limit): calls
 * in flight at once, requests per minute, tokens per minute (input and output together). Enforced across
 * every worker through DynamoDB (README "Provider limits").
 */
export const ProviderLimitSchema = z
  .object({
    provider: ExecutorNameSchema.exclude(['simulated']),
    model: z.string().min(1).max(256).optional(),
    maxConcurrent: z.number().int().min(1).max(MAX_PROVIDER_CONCURRENT).optional(),
    requestsPerMinute: z.number().finite().positive().max(MAX_REQUESTS_PER_MINUTE).optional(),
    tokensPerMinute: z.number().int().min(1).max(MAX_TOKENS_PER_MINUTE).optional(),
  })
  .strict();
export type ProviderLimit = z.infer<typeof ProviderLimitSchema>;

/** A limit as enforced: the concurrency always set (the default when the config gives none). */
export interface ResolvedProviderLimit {
  /** Which calls it covers: `provider` or `provider/model`; the id of its limiter item. */
  readonly key: string;
  readonly provider: ProviderLimit['provider'];
  readonly model?: string;
  readonly maxConcurrent: number;
  readonly requestsPerMinute?: number;
  readonly tokensPerMinute?: number;
}

/** The limit of calls to `provider`'s `model`: the model's own, else the provider's, else the default. */
export function limitFor(
  limits: readonly ProviderLimit[],
  provider: ProviderLimit['provider'],
  model: string | undefined,
): ResolvedProviderLimit {
  const own =
    model === undefined ? undefined : limits.find((l) => l.provider === provider && l.model === model);
  const entry = own ?? limits.find((l) => l.provider === provider && l.model === undefined);
  return {
    key: own ? `${provider}/${model}` : provider,
    provider,
    ...(own ? { model } : {}),
    maxConcurrent: entry?.maxConcurrent ?? DEFAULT_PROVIDER_MAX_CONCURRENT,
    ...(entry?.requestsPerMinute !== undefined ? { requestsPerMinute: entry.requestsPerMinute } : {}),
    ...(entry?.tokensPerMinute !== undefined ? { tokensPerMinute: entry.tokensPerMinute } : {}),
  };
}

// ------------------------------------------------------------------------------------------ config file

/** Prices and provider limits one config may list. */
export const MAX_CONFIG_PRICES = 200;
export const MAX_CONFIG_PROVIDER_LIMITS = 100;

/**
 * The `costs` section of the config file (COSTS_CONFIG for the handlers): prices over the built-in ones, the
 * budget of a batch that sets none (`options.budget` fields it leaves out come from here), and fleet-wide
 * provider limits.
 */
export const CostsConfigSchema = z
  .object({
    prices: z.array(PriceSchema).max(MAX_CONFIG_PRICES).optional(),
    budget: BudgetSchema.optional(),
    providerLimits: z.array(ProviderLimitSchema).max(MAX_CONFIG_PROVIDER_LIMITS).optional(),
  })
  .strict();
export type CostsConfig = z.infer<typeof CostsConfigSchema>;

/** Problems in a `costs` section, each with its JSON path (`$.costs.prices[2].inputUsdPerMTok`). */
export class CostsConfigError extends Error {
  constructor(readonly issues: { path: string; message: string }[]) {
    super(`Invalid costs configuration: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
    this.name = 'CostsConfigError';
  }
}

const pathOf = (prefix: string, path: readonly PropertyKey[]) =>
  `${prefix}${path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('')}`;

/** Fields of the section whose behaviour is not built yet: refused rather than silently ignored. */
const UNSUPPORTED_COSTS_FIELDS: readonly (keyof CostsConfig)[] = [];

/** Parses the `costs` section (undefined: defaults). Throws CostsConfigError naming each path. */
export function parseCostsConfig(raw: unknown, prefix = '$.costs'): CostsConfig {
  if (raw === undefined) return {};
  const parsed = CostsConfigSchema.safeParse(raw);
  if (!parsed.success) {
    throw new CostsConfigError(
      parsed.error.issues.map((i) => ({ path: pathOf(prefix, i.path), message: i.message })),
    );
  }
  const issues: { path: string; message: string }[] = [];
  for (const field of UNSUPPORTED_COSTS_FIELDS)
    if (parsed.data[field] !== undefined)
      issues.push({
        path: pathOf(prefix, [field]),
        message: `"${field}" is not supported by this version yet`,
      });
  const duplicates = (list: readonly { provider: string; model?: string | undefined }[], field: string) => {
    const seen = new Map<string, number>();
    list.forEach((entry, index) => {
      const key = `${entry.provider}/${entry.model ?? '*'}`;
      const first = seen.get(key);
      if (first === undefined) seen.set(key, index);
      else
        issues.push({
          path: pathOf(prefix, [field, index]),
          message: `${entry.provider}${entry.model ? ` model ${entry.model}` : ''} is listed twice (first at ${pathOf(prefix, [field, first])})`,
        });
    });
  };
  duplicates(parsed.data.prices ?? [], 'prices');
  duplicates(parsed.data.providerLimits ?? [], 'providerLimits');
  parsed.data.providerLimits?.forEach((limit, index) => {
    if (
      limit.maxConcurrent === undefined &&
      limit.requestsPerMinute === undefined &&
      limit.tokensPerMinute === undefined
    )
      issues.push({
        path: pathOf(prefix, ['providerLimits', index]),
        message: 'give at least one of maxConcurrent, requestsPerMinute, tokensPerMinute',
      });
  });
  if (issues.length > 0) throw new CostsConfigError(issues);
  return parsed.data;
}

/** A batch's budget: its own fields over the deployment's default; undefined when neither sets one. */
export function effectiveBudget(
  own: Budget | undefined,
  deploymentDefault: Budget | undefined,
): Budget | undefined {
  const merged: Budget = { ...deploymentDefault, ...own };
  return merged.maxCostUsd === undefined && merged.maxTokens === undefined ? undefined : merged;
}

// ------------------------------------------------------------------------------- usage of a failure

/** What an error thrown after some provider calls carries: their usage, call by call (a failure costs too). */
interface UsageCarrier {
  usageCalls?: Usage[];
}

/** Attaches the usage of the calls made before `error` was thrown (kept with any earlier ones); returns it. */
export function attachUsage<E>(error: E, calls: readonly Usage[]): E {
  if (calls.length > 0 && typeof error === 'object' && error !== null) {
    const carrier = error as UsageCarrier;
    carrier.usageCalls = [...(carrier.usageCalls ?? []), ...calls];
  }
  return error;
}

/** The calls' usage an error carries (attachUsage), or undefined. */
export function carriedUsage(error: unknown): Usage[] | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const calls = (error as UsageCarrier).usageCalls;
  return Array.isArray(calls) && calls.length > 0 ? calls : undefined;
}
