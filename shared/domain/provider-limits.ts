/**
 * The arithmetic of fleet-wide provider limits (README "Provider limits"), pure so it is tested without a
 * store: how many slots a limit grants now, the requests- and tokens-per-minute buckets, and the AIMD rate
 * that a provider's 429 lowers and time restores. The limiter (shared/adapters/executors/fleet-limiter.ts)
 * reads and writes these values in DynamoDB with conditional writes; every worker computes the same answer
 * from the same item.
 */
import {
  PROVIDER_BUCKET_BURST_SECONDS,
  PROVIDER_COOLDOWN_MS,
  PROVIDER_DECREASE_WINDOW_MS,
  PROVIDER_MIN_RATE_FACTOR,
  PROVIDER_RATE_DECREASE,
  PROVIDER_RECOVERY_INTERVAL_MS,
  PROVIDER_RECOVERY_STEP,
  PROVIDER_SLOT_LEASE_MS,
  PROVIDER_WAIT_BASE_MS,
  PROVIDER_WAIT_MAX_MS,
} from './limits';
import type { Usage } from './schemas';

/** The limiter's timings; the defaults are the named constants of limits.ts, tests shorten them. */
export interface LimiterTuning {
  leaseMs: number;
  waitBaseMs: number;
  waitMaxMs: number;
  burstSeconds: number;
  decrease: number;
  decreaseWindowMs: number;
  minFactor: number;
  cooldownMs: number;
  recoveryStep: number;
  recoveryIntervalMs: number;
}

export const DEFAULT_LIMITER_TUNING: Readonly<LimiterTuning> = {
  leaseMs: PROVIDER_SLOT_LEASE_MS,
  waitBaseMs: PROVIDER_WAIT_BASE_MS,
  waitMaxMs: PROVIDER_WAIT_MAX_MS,
  burstSeconds: PROVIDER_BUCKET_BURST_SECONDS,
  decrease: PROVIDER_RATE_DECREASE,
  decreaseWindowMs: PROVIDER_DECREASE_WINDOW_MS,
  minFactor: PROVIDER_MIN_RATE_FACTOR,
  cooldownMs: PROVIDER_COOLDOWN_MS,
  recoveryStep: PROVIDER_RECOVERY_STEP,
  recoveryIntervalMs: PROVIDER_RECOVERY_INTERVAL_MS,
};

/** The last decrease of a provider's rate: the factor it set, when, and until when it holds. */
export interface RateState {
  factor: number;
  at: number;
  cooldownUntil: number;
  /** 429s that lowered the rate, ever (for the operators' view). */
  throttles: number;
}

/** A token bucket as stored: its level at time `at` (negative when tokens were spent beyond it). */
export interface Bucket {
  level: number;
  at: number;
}

const MS_PER_MINUTE = 60_000;
const SECONDS_PER_MINUTE = 60;

/**
 * The fraction of the configured rate in force at `now`: 1 without a decrease; the decreased factor during
 * the cool-down; then one recovery step more per interval, up to 1.
 */
export function rateFactor(state: RateState | undefined, now: number, tuning: LimiterTuning): number {
  if (!state) return 1;
  if (now < state.cooldownUntil) return state.factor;
  const steps = Math.floor((now - state.cooldownUntil) / tuning.recoveryIntervalMs) + 1;
  return Math.min(1, state.factor + steps * tuning.recoveryStep);
}

/**
 * The rate after a 429 at `now`: the factor in force times the decrease (not below the minimum), held for
 * the cool-down. Undefined within the decrease window of the last decrease: that storm was counted already.
 */
export function loweredRate(
  state: RateState | undefined,
  now: number,
  tuning: LimiterTuning,
): RateState | undefined {
  if (state && now - state.at < tuning.decreaseWindowMs) return undefined;
  const factor = Math.max(tuning.minFactor, rateFactor(state, now, tuning) * tuning.decrease);
  return { factor, at: now, cooldownUntil: now + tuning.cooldownMs, throttles: (state?.throttles ?? 0) + 1 };
}

/** Calls a limit of `maxConcurrent` lets run at once under `factor`: never fewer than one. */
export function allowedConcurrency(maxConcurrent: number, factor: number): number {
  return Math.max(1, Math.floor(maxConcurrent * factor));
}

/** Most a bucket of `perMinute` holds: PROVIDER_BUCKET_BURST_SECONDS of the rate, at least one. */
export function bucketCapacity(perMinute: number, tuning: LimiterTuning): number {
  return Math.max(1, (perMinute * tuning.burstSeconds) / SECONDS_PER_MINUTE);
}

/** The bucket's level at `now`, refilled at `perMinute * factor` since it was stored; full when new. */
export function bucketLevel(
  bucket: Bucket | undefined,
  perMinute: number,
  factor: number,
  now: number,
  tuning: LimiterTuning,
): number {
  const capacity = bucketCapacity(perMinute, tuning);
  if (!bucket) return capacity;
  const refill = (Math.max(0, now - bucket.at) * perMinute * factor) / MS_PER_MINUTE;
  return Math.min(capacity, bucket.level + refill);
}

/** Milliseconds until a bucket at `level` holds `need`, refilling at `perMinute * factor`. */
export function bucketWaitMs(level: number, need: number, perMinute: number, factor: number): number {
  if (level >= need) return 0;
  return Math.ceil(((need - level) * MS_PER_MINUTE) / (perMinute * factor));
}

/** Full jitter of the wait before retry `tries` (0-based) for a slot: random() * min(max, base * 2^tries). */
export function waitJitterMs(tries: number, random: () => number, tuning: LimiterTuning): number {
  return Math.floor(random() * Math.min(tuning.waitMaxMs, tuning.waitBaseMs * 2 ** tries));
}

/** The tokens a call counts against a tokens-per-minute limit: input (cache reads and writes too) and output. */
export function usageTokens(usage: Usage | undefined): number | undefined {
  if (!usage) return undefined;
  return (
    usage.inputTokens + usage.outputTokens + (usage.cacheReadTokens ?? 0) + (usage.cacheWriteTokens ?? 0)
  );
}
