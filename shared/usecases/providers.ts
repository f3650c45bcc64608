/**
 * Fleet-wide provider limits as operators see them (GET /agents `providers`): per limit, the calls in flight
 * now against the slots allowed now, the configured values, and the rate after 429s (README "Provider limits").
 */
import { limitFor, type ProviderLimit, pricedModel, type ResolvedProviderLimit } from '../domain/costs';
import {
  allowedConcurrency,
  DEFAULT_LIMITER_TUNING,
  rateFactor,
  rateWindow,
  windowAvailable,
} from '../domain/provider-limits';
import type { RoleCatalog } from '../domain/roles';
import type { Clock, ProviderLimitStore } from '../ports';

export interface ProviderLimitView {
  /** `provider` or `provider/model`. */
  key: string;
  provider: ResolvedProviderLimit['provider'];
  model?: string;
  /** Calls holding a slot now (unexpired leases). */
  inUse: number;
  /** Slots allowed now: maxConcurrent times the rate factor (at least one). */
  limit: number;
  maxConcurrent: number;
  /** The share of the configured rate in force: 1, or less after a 429 until it recovers. */
  rateFactor: number;
  /** 429s that lowered the rate. */
  throttles: number;
  /** Until when the lowered rate holds, while it does. */
  coolingUntil?: number;
  requestsPerMinute?: number;
  /** Requests that may go at once now (what is left of the window's burst, whole). */
  requestsAvailable?: number;
  tokensPerMinute?: number;
  /** Tokens left in the window now (negative: spent ahead, the next request waits). */
  tokensAvailable?: number;
}

/**
 * The limits that apply to this deployment: each configured one, and the one each role's executor calls
 * fall under (a provider without an entry has the default concurrency). The simulated executor has none.
 */
export function limitsInForce(
  catalog: RoleCatalog,
  limits: readonly ProviderLimit[],
): ResolvedProviderLimit[] {
  const byKey = new Map<string, ResolvedProviderLimit>();
  for (const limit of limits) {
    const resolved = limitFor(limits, limit.provider, limit.model);
    byKey.set(resolved.key, resolved);
  }
  for (const role of catalog.values()) {
    const executor = role.defaults.executor;
    if (executor.name === 'simulated') continue;
    const resolved = limitFor(limits, executor.name, pricedModel(executor));
    if (!byKey.has(resolved.key)) byKey.set(resolved.key, resolved);
  }
  return [...byKey.values()].sort((a, b) => a.key.localeCompare(b.key));
}

/** Reads each limit's slots and state (one query each, in parallel). */
export async function providerLimitViews(
  deps: { store: ProviderLimitStore; clock: Clock },
  limits: readonly ResolvedProviderLimit[],
): Promise<ProviderLimitView[]> {
  const tuning = DEFAULT_LIMITER_TUNING;
  return Promise.all(
    limits.map(async (limit) => {
      const snapshot = await deps.store.read(limit.key);
      const now = deps.clock.now();
      const factor = rateFactor(snapshot.rate, now, tuning);
      const { requestsPerMinute: rpm, tokensPerMinute: tpm } = limit;
      return {
        key: limit.key,
        provider: limit.provider,
        ...(limit.model === undefined ? {} : { model: limit.model }),
        inUse: snapshot.slots.filter((s) => s.expiresAt > now).length,
        limit: allowedConcurrency(limit.maxConcurrent, factor),
        maxConcurrent: limit.maxConcurrent,
        rateFactor: factor,
        throttles: snapshot.rate?.throttles ?? 0,
        ...(snapshot.rate && snapshot.rate.cooldownUntil > now
          ? { coolingUntil: snapshot.rate.cooldownUntil }
          : {}),
        ...(rpm === undefined
          ? {}
          : {
              requestsPerMinute: rpm,
              requestsAvailable: Math.floor(
                windowAvailable(snapshot.requestsTat, now, rateWindow(rpm, factor, tuning)),
              ),
            }),
        ...(tpm === undefined
          ? {}
          : {
              tokensPerMinute: tpm,
              tokensAvailable: Math.floor(
                windowAvailable(snapshot.tokensTat, now, rateWindow(tpm, factor, tuning)),
              ),
            }),
      };
    }),
  );
}
