/**
 * The routing advisor's question under the fleet-wide provider limits (costs.providerLimits): the router's
 * call to a provider takes a slot and a rate token like any worker's call, so a limit of 5 concurrent calls to
 * a provider holds for the fleet's agents and its routers together, and a 429 to the router slows every
 * caller of that provider down.
 */
import { totalTokens } from '../domain/costs';
import type { RoutingAdvisor } from '../ports';
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
          if (httpStatusOf(error) === HTTP_TOO_MANY_REQUESTS)
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
