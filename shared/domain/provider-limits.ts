/**
 * The arithmetic of fleet-wide provider limits (README "Provider limits"), pure so it is tested without a
 * store: how many slots a limit grants now, the requests- and tokens-per-minute windows (GCRA), and the AIMD rate
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

const MS_PER_MINUTE = 60_000;
const MS_PER_SECOND = 1000;

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

/**
 * A requests- or tokens-per-minute limit is a bucket kept as one number, its theoretical arrival time (TAT,
 * the generic cell rate algorithm): each request (or token) pushes it `costMs` later, and while it is less
 * than a burst ahead of now more may go. Pushing it is an atomic ADD, so workers taking requests at once
 * never race to rewrite a level; only an idle bucket's TAT (in the past) is reset to now, conditionally.
 */
export interface RateWindow {
  /** Milliseconds one request (or one token) moves the TAT at the rate in force. */
  costMs: number;
  /** How far ahead of now the TAT may be before a request must wait: the burst, at least one request. */
  toleranceMs: number;
}

/** The window of a limit of `perMinute` at `factor` of it: PROVIDER_BUCKET_BURST_SECONDS of burst. */
export function rateWindow(perMinute: number, factor: number, tuning: LimiterTuning): RateWindow {
  const costMs = MS_PER_MINUTE / (perMinute * factor);
  return { costMs, toleranceMs: Math.max(costMs, tuning.burstSeconds * MS_PER_SECOND) };
}

/** What is left of the bucket at `now`, in requests or tokens (negative: spent ahead, the next waits). */
export function windowAvailable(tat: number | undefined, now: number, window: RateWindow): number {
  const ahead = tat === undefined ? 0 : Math.max(0, tat - now);
  return (window.toleranceMs - ahead) / window.costMs;
}

/** Milliseconds until `need` requests (or tokens) may go, given the TAT read at `now`. */
export function windowWaitMs(tat: number | undefined, now: number, window: RateWindow, need: number): number {
  const ahead = tat === undefined ? 0 : Math.max(0, tat - now);
  return Math.max(0, Math.ceil(ahead + need * window.costMs - window.toleranceMs));
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
