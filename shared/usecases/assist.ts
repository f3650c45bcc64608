/**
 * Model-assisted routing (README "Model-assisted routing"): when the deterministic extraction is unsure
 * (routingConfidence below the configured threshold), one call asks a model to choose among the best
 * candidate roles, and its choice decides the route. Answers are cached by a hash of the description,
 * provider, model and offered roles. A failed or unusable answer keeps the deterministic role, with a note;
 * routing never fails because of the model. The record (what was offered, what was chosen, the tokens
 * used) is stored in the requirements, so it is part of every routing decision of the task and no later
 * attempt asks again.
 */
import { createHash } from 'node:crypto';
import { nanoToUsd, PriceTable } from '../domain/costs';
import type { RoleCatalog } from '../domain/roles';
import { targetRole } from '../domain/routing';
import {
  type AssistConfig,
  applyAssist,
  assistCandidates,
  needsAssist,
  routingConfidence,
} from '../domain/routing-config';
import {
  type ExecutorConfig,
  type ExtractedRequirements,
  type RoutingAssist,
  type Task,
  type Usage,
  UsageSchema,
} from '../domain/schemas';
import type { RoutingAdviceCache, RoutingAdvisor, RoutingAnswer } from '../ports';

export interface AssistDeps {
  config: AssistConfig;
  advisor: RoutingAdvisor;
  cache?: RoutingAdviceCache;
  /** Prices the question (the costs config's over the built-in ones); built-in prices when absent. */
  prices?: PriceTable;
}

/** The built-in prices, for an assist given none. */
const BUILT_IN_PRICES = new PriceTable();

/**
 * The cache key of a routing question: the same question to the same model gets the same answer. The
 * question is the description and the offered roles with what each does: a catalog (another config, another
 * run sharing the table) that gives a role name another meaning asks again rather than reuse an answer
 * given about the other role.
 */
export function adviceKey(
  provider: string,
  model: string,
  candidates: readonly { role: string; description: string }[],
  description: string,
) {
  return createHash('sha256')
    .update(JSON.stringify([provider, model, candidates.map((c) => [c.role, c.description]), description]))
    .digest('hex');
}

/** The longest model name kept from an answer (a longer one is not a model id: the configured one is kept). */
const MAX_MODEL_NAME_CHARS = 200;

/** The tokens an answer or a failed question reports, when they are token counts at all (else unknown). */
function usageOf(value: unknown): Usage | undefined {
  const parsed = UsageSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

/** The answer's model when it names one plausibly, else the configured one. */
function modelOf(answer: { model?: unknown }, configured: string): string {
  const model = answer.model;
  return typeof model === 'string' && model.length > 0 && model.length <= MAX_MODEL_NAME_CHARS
    ? model
    : configured;
}

/**
 * The bound of one routing question (`timeoutMs`), over the cache look-up, the question and the cache write:
 * its signal tells the advisor to stop, and `bound` ends a wait at the deadline even when what it waits for
 * does not listen (secrets, an SDK load, a limiter, a slow cache), so a route is never held longer than the
 * documented timeout by model-assisted routing.
 */
class Deadline {
  readonly #controller = new AbortController();
  readonly #expired: Promise<never>;
  readonly #timer: ReturnType<typeof setTimeout>;

  constructor(timeoutMs: number) {
    this.#expired = new Promise<never>((_, reject) => {
      const error = new Error(`no answer within ${timeoutMs} ms`);
      error.name = 'TimeoutError';
      this.#controller.signal.addEventListener('abort', () => reject(error), { once: true });
    });
    this.#expired.catch(() => undefined);
    this.#timer = setTimeout(() => this.#controller.abort(), timeoutMs);
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** `work`, or a TimeoutError at the deadline (`work` may go on; its late failure is ignored). */
  bound<T>(work: Promise<T>): Promise<T> {
    work.catch(() => undefined);
    return Promise.race([work, this.#expired]);
  }

  clear(): void {
    clearTimeout(this.#timer);
  }
}

/** The most of a failure's message a note keeps (room for the status, the provider's words and the hint). */
const MAX_REASON_CHARS = 500;

function reasonOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.length > MAX_REASON_CHARS ? `${message.slice(0, MAX_REASON_CHARS)}...` : message;
}

/**
 * The requirements, with a model's choice applied when the extraction is unsure (see the module comment).
 * Never rejects: a provider or cache error keeps the deterministic choice.
 */
export async function assistRouting(
  deps: { assist?: AssistDeps; catalog: RoleCatalog },
  task: Task,
  requirements: ExtractedRequirements,
  now: number,
): Promise<ExtractedRequirements> {
  const assist = deps.assist;
  if (!assist || !needsAssist(requirements, assist.config)) return requirements;
  const { config, advisor, cache } = assist;
  const candidates = assistCandidates(requirements, deps.catalog, config.candidates);
  const base: Omit<RoutingAssist, 'cached'> = {
    provider: advisor.provider,
    model: advisor.model,
    confidence: routingConfidence(requirements),
    threshold: config.threshold,
    candidates,
    fallback: targetRole(requirements),
    at: now,
  };
  const offered = candidates.map((role) => ({
    role,
    description: deps.catalog.get(role)?.description ?? '',
  }));
  const key = adviceKey(advisor.provider, advisor.model, offered, task.description);
  const pricing: AssistDeps = assist;
  const deadline = new Deadline(config.timeoutMs);
  try {
    return await ask(deadline);
  } finally {
    deadline.clear();
  }

  async function ask(deadline: Deadline): Promise<ExtractedRequirements> {
    const cached = cache && (await deadline.bound(cache.get(key, now)).catch(() => undefined));
    if (cached && typeof cached.role === 'string')
      return applyAssist(requirements, {
        ...base,
        model: modelOf(cached, advisor.model),
        chosen: cached.role,
        cached: true,
      });
    try {
      const raw = await deadline.bound(
        advisor.choose(
          { taskId: task.id, description: task.description, candidates: offered },
          deadline.signal,
        ),
      );
      if (typeof raw?.role !== 'string') throw new Error('the answer names no role');
      const model = modelOf(raw, advisor.model);
      const usage = usageOf(raw.usage);
      const answer: RoutingAnswer = { role: raw.role, model, ...(usage ? { usage } : {}) };
      const applied = applyAssist(requirements, {
        ...base,
        model,
        chosen: answer.role,
        cached: false,
        ...spent(pricing, model, usage),
      });
      // Only a usable answer is worth reusing.
      if (applied.assist?.chosen !== undefined)
        await deadline.bound(cache?.put(key, answer, now) ?? Promise.resolve()).catch(() => undefined);
      return applied;
    } catch (error) {
      // An unusable answer (cut short, refused) still cost its tokens.
      const usage = usageOf((error as { usage?: unknown } | null)?.usage);
      return applyAssist(requirements, {
        ...base,
        cached: false,
        ...spent(pricing, advisor.model, usage),
        note: `routing question to ${advisor.provider} failed (${reasonOf(error)}); kept the deterministic role ${base.fallback}`,
      });
    }
  }
}

/** The usage and price fields of a question that used `usage` (none when its tokens are unknown). */
function spent(assist: AssistDeps, model: string, usage: Usage | undefined) {
  return usage ? { usage, costUsd: questionCost(assist, { model, usage }) } : {};
}

/** USD of one routing question, priced like an executor call to the same provider and model. */
function questionCost(assist: AssistDeps, answer: { model: string; usage?: Usage }): number | null {
  if (!answer.usage) return null;
  const nano = (assist.prices ?? BUILT_IN_PRICES).costOf(
    { name: assist.advisor.provider as ExecutorConfig['name'], model: answer.model },
    [answer.usage],
  );
  return nano === null ? null : nanoToUsd(nano);
}
