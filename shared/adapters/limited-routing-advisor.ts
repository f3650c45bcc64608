/**
 * The routing advisor's question under the fleet-wide provider limits (costs.providerLimits): the router's
 * call to a provider takes a slot and a rate token like any worker's call, so a limit of 5 concurrent calls to
 * a provider holds for the fleet's agents and its routers together, and a 429 to the router slows every
 * caller of that provider down.
 */
import { totalTokens } from '../domain/costs';
import { UsageSchema } from '../domain/schemas';
import type { RoutingAdvisor } from '../ports';
import { ProviderError } from './executors/errors';
import {
  type CallLimiter,
  type CallTarget,
  HTTP_TOO_MANY_REQUESTS,
  reportingFailure,
} from './executors/policy';

/** The HTTP status an SDK error carries: `status` (Anthropic, OpenAI) or `$metadata.httpStatusCode` (AWS). */
function httpStatusOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { status, $metadata } = error as { status?: unknown; $metadata?: { httpStatusCode?: unknown } };
  if (typeof status === 'number') return status;
  return typeof $metadata?.httpStatusCode === 'number' ? $metadata.httpStatusCode : undefined;
}

/**
 * A 429 that is the provider slowing callers down. A 429 the provider says will not heal by waiting (a spent
 * quota or spend limit: a ProviderError that is not retryable) is no throttle: it lowers no one's rate, as in
 * the executors' policy.
 */
function isThrottle(error: unknown): boolean {
  if (httpStatusOf(error) !== HTTP_TOO_MANY_REQUESTS) return false;
  return !(error instanceof ProviderError) || error.retryable;
}

/** The tokens a failed question was billed for (an answer cut short or refused carries its usage). */
function billedTokens(error: unknown): number {
  const usage = UsageSchema.safeParse((error as { usage?: unknown } | null)?.usage);
  return usage.success ? totalTokens(usage.data) : 0;
}

/**
 * `advisor` whose every question holds a call slot of `limiter` from before the request to after the answer.
 * Limiter trouble after the slot was granted (a lost write) is reported to `onWarning`, never fails the question.
 */
export function limitedRoutingAdvisor(
  advisor: RoutingAdvisor,
  limiter: () => CallLimiter,
  onWarning: (message: string, error: unknown) => void,
): RoutingAdvisor {
  const target = { provider: advisor.provider, model: advisor.model } as CallTarget;
  const quietly = (what: string, work: () => Promise<void>) => reportingFailure(onWarning, what, work);
  return {
    provider: advisor.provider,
    model: advisor.model,
    choose: async (question, signal) => {
      const permit = await limiter().acquire(target, signal);
      try {
        await permit.beforeRequest(signal);
        try {
          const answer = await advisor.choose(question, signal);
          const tokens = answer.usage ? totalTokens(answer.usage) : 0;
          if (tokens > 0)
            await quietly('provider limit: tokens not counted', () => permit.afterRequest({ tokens }));
          return answer;
        } catch (error) {
          const billed = billedTokens(error);
          if (billed > 0)
            await quietly('provider limit: tokens not counted', () =>
              permit.afterRequest({ tokens: billed }),
            );
          if (isThrottle(error))
            await quietly('provider limit: throttle not recorded', () =>
              permit.afterRequest({ throttled: true }),
            );
          throw error;
        }
      } finally {
        await quietly('provider limit: slot not released', () => permit.release());
      }
    },
  };
}
