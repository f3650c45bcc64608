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
import type { ExecutorConfig, ExtractedRequirements, RoutingAssist, Task, Usage } from '../domain/schemas';
import type { RoutingAdviceCache, RoutingAdvisor } from '../ports';

export interface AssistDeps {
  config: AssistConfig;
  advisor: RoutingAdvisor;
  cache?: RoutingAdviceCache;
  /** Prices the question (the costs config's over the built-in ones); built-in prices when absent. */
  prices?: PriceTable;
}

/** The built-in prices, for an assist given none. */
const BUILT_IN_PRICES = new PriceTable();

/** The cache key of a routing question: the same question to the same model gets the same answer. */
export function adviceKey(
  provider: string,
  model: string,
  candidates: readonly string[],
  description: string,
) {
  return createHash('sha256')
    .update(JSON.stringify([provider, model, candidates, description]))
    .digest('hex');
}

function reasonOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.length > 300 ? `${message.slice(0, 300)}...` : message;
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
  const key = adviceKey(advisor.provider, advisor.model, candidates, task.description);
  const cached = await cache?.get(key, now).catch(() => undefined);
  if (cached)
    return applyAssist(requirements, { ...base, model: cached.model, chosen: cached.role, cached: true });
  try {
    const answer = await advisor.choose(
      {
        taskId: task.id,
        description: task.description,
        candidates: candidates.map((role) => ({
          role,
          description: deps.catalog.get(role)?.description ?? '',
        })),
      },
      AbortSignal.timeout(config.timeoutMs),
    );
    const applied = applyAssist(requirements, {
      ...base,
      model: answer.model,
      chosen: answer.role,
      cached: false,
      ...(answer.usage ? { usage: answer.usage, costUsd: questionCost(assist, answer) } : {}),
    });
    // Only a usable answer is worth reusing.
    if (applied.assist?.chosen !== undefined) await cache?.put(key, answer, now).catch(() => undefined);
    return applied;
  } catch (error) {
    return applyAssist(requirements, {
      ...base,
      cached: false,
      note: `routing question to ${advisor.provider} failed (${reasonOf(error)}); kept the deterministic role ${base.fallback}`,
    });
  }
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
