/**
 * Fleet-wide provider limits (README "Provider limits"): the same algorithm for every worker, on AWS and on
 * the embedded runtime, over the shared store (DynamoDB, ProviderLimitStore):
 * - a call takes one of the limit's leased slots (a conditional write), waiting with jittered backoff while
 *   none is free, and renews its lease while it runs; a holder that dies frees it when the lease lapses;
 * - each request takes one of the requests-per-minute window and waits while the tokens-per-minute window
 *   is spent; an answer's tokens are charged afterwards (the window may be spent ahead, and then the next
 *   requests wait until it comes back); both are GCRA windows moved by atomic ADDs (domain/provider-limits.ts);
 * - a 429 lowers the limit's rate (its slots and requests per minute) for a cool-down, after which it
 *   recovers step by step (AIMD, domain/provider-limits.ts).
 * Waiting is bounded by the call's signal (the attempt's deadline), never a failure of its own.
 */
import { randomUUID } from 'node:crypto';
import { limitFor, type ProviderLimit, type ResolvedProviderLimit } from '../../domain/costs';
import { PROVIDER_SLOT_RENEWALS_PER_LEASE } from '../../domain/limits';
import {
  allowedConcurrency,
  DEFAULT_LIMITER_TUNING,
  type LimiterTuning,
  loweredRate,
  type RateState,
  rateFactor,
  rateWindow,
  waitJitterMs,
  windowWaitMs,
} from '../../domain/provider-limits';
import type { Clock, ProviderLimitSnapshot, ProviderLimitStore } from '../../ports';
import {
  abortableSleep,
  type CallLimiter,
  type CallPermit,
  type CallTarget,
  type Random,
  type Sleep,
} from './policy';

/** Conditional writes that may lose to other workers before the loser reads the item again. */
const MAX_WRITE_RACES = 8;

export interface FleetLimiterOptions {
  store: ProviderLimitStore;
  /** The costs config's providerLimits (a provider without one gets DEFAULT_PROVIDER_MAX_CONCURRENT). */
  limits: readonly ProviderLimit[];
  clock?: Clock;
  sleep?: Sleep;
  random?: Random;
  tuning?: Partial<LimiterTuning>;
  /** Reports a lease renewal that failed (the call goes on). */
  onWarning?: (message: string, error: unknown) => void;
}

export class FleetLimiter implements CallLimiter {
  readonly #store: ProviderLimitStore;
  readonly #limits: readonly ProviderLimit[];
  readonly #clock: Clock;
  readonly #sleep: Sleep;
  readonly #random: Random;
  readonly #tuning: LimiterTuning;
  readonly #onWarning: ((message: string, error: unknown) => void) | undefined;
  /** Callers of this process waiting for a slot of a key: a release here wakes the first at once. */
  readonly #waiters = new Map<string, Array<() => void>>();

  constructor(options: FleetLimiterOptions) {
    this.#store = options.store;
    this.#limits = options.limits;
    this.#clock = options.clock ?? { now: () => Date.now() };
    this.#sleep = options.sleep ?? abortableSleep;
    this.#random = options.random ?? Math.random;
    this.#tuning = { ...DEFAULT_LIMITER_TUNING, ...options.tuning };
    this.#onWarning = options.onWarning;
  }

  /** The limit a call to `target` counts against. */
  limitOf(target: CallTarget): ResolvedProviderLimit | undefined {
    if (target.provider === 'simulated') return undefined;
    return limitFor(this.#limits, target.provider, target.model);
  }

  async acquire(target: CallTarget, signal: AbortSignal): Promise<CallPermit> {
    const limit = this.limitOf(target);
    if (!limit) return UNLIMITED;
    const holder = randomUUID();
    for (let tries = 0; ; tries++) {
      signal.throwIfAborted();
      const snapshot = await this.#store.read(limit.key);
      const now = this.#clock.now();
      const allowed = allowedConcurrency(limit.maxConcurrent, rateFactor(snapshot.rate, now, this.#tuning));
      const busy = new Set(snapshot.slots.filter((s) => s.expiresAt > now).map((s) => s.index));
      const free = this.#shuffled(Array.from({ length: allowed }, (_, i) => i).filter((i) => !busy.has(i)));
      for (const index of free.slice(0, MAX_WRITE_RACES)) {
        if (await this.#store.takeSlot(limit.key, index, holder, now + this.#tuning.leaseMs, now))
          return this.#permit(limit, index, holder, snapshot);
      }
      await this.#waitForSlot(limit.key, waitJitterMs(tries, this.#random, this.#tuning), signal);
    }
  }

  #permit(
    limit: ResolvedProviderLimit,
    index: number,
    holder: string,
    snapshot: ProviderLimitSnapshot,
  ): CallPermit {
    const { key } = limit;
    const renew = setInterval(() => {
      this.#store
        .renewSlot(key, index, holder, this.#clock.now() + this.#tuning.leaseMs)
        .then((held) => {
          if (!held) this.#onWarning?.(`provider limit ${key}: slot ${index} was lost`, undefined);
        })
        .catch((error: unknown) => this.#onWarning?.(`provider limit ${key}: lease not renewed`, error));
    }, this.#tuning.leaseMs / PROVIDER_SLOT_RENEWALS_PER_LEASE);
    renew.unref?.();
    let released = false;
    // The first request goes on what acquire read; later ones (retries) read again.
    let acquired: ProviderLimitSnapshot | undefined = snapshot;
    return {
      beforeRequest: (signal) => {
        const known = acquired;
        acquired = undefined;
        return this.#takeRequest(limit, signal, known);
      },
      afterRequest: async (outcome) => {
        if (outcome.throttled) await this.#lowerRate(key);
        if (outcome.tokens !== undefined && limit.tokensPerMinute !== undefined)
          await this.#spendTokens(limit, outcome.tokens, snapshot.rate);
      },
      release: async () => {
        if (released) return;
        released = true;
        clearInterval(renew);
        try {
          await this.#store.releaseSlot(key, index, holder);
        } finally {
          this.#waiters.get(key)?.shift()?.();
        }
      },
    };
  }

  /**
   * Waits for the request and token windows of `limit` (when it has them) and takes one request. The first
   * try uses what acquire read; a request that does not fit reads the windows again to know how long to wait.
   */
  async #takeRequest(
    limit: ResolvedProviderLimit,
    signal: AbortSignal,
    acquired: ProviderLimitSnapshot | undefined,
  ): Promise<void> {
    const { requestsPerMinute: rpm, tokensPerMinute: tpm } = limit;
    if (rpm === undefined && tpm === undefined) return;
    let known = acquired;
    for (let races = 0; ; ) {
      signal.throwIfAborted();
      const snapshot = known ?? (await this.#store.read(limit.key));
      known = undefined;
      const now = this.#clock.now();
      const factor = rateFactor(snapshot.rate, now, this.#tuning);
      let waitMs = 0;
      // Any tokens left let a request go; what it uses is charged when it answers.
      if (tpm !== undefined)
        waitMs = windowWaitMs(snapshot.tokensTat, now, rateWindow(tpm, factor, this.#tuning), 1);
      if (waitMs === 0) {
        if (rpm === undefined) return;
        const window = rateWindow(rpm, factor, this.#tuning);
        if (await this.#store.takeWindow(limit.key, 'requests', window.costMs, window.toleranceMs, now))
          return;
        waitMs = windowWaitMs(snapshot.requestsTat, now, window, 1);
        // What was read said it fits, yet the take failed: others took it first, or the read was old.
        if (waitMs === 0 && ++races > MAX_WRITE_RACES)
          waitMs = waitJitterMs(races, this.#random, this.#tuning);
      }
      if (waitMs > 0) await this.#sleep(waitMs + waitJitterMs(0, this.#random, this.#tuning), signal);
    }
  }

  /** Charges `tokens` to the tokens-per-minute window (an atomic ADD), at the rate in force when acquired. */
  async #spendTokens(
    limit: ResolvedProviderLimit,
    tokens: number,
    rate: RateState | undefined,
  ): Promise<void> {
    const tpm = limit.tokensPerMinute;
    if (tpm === undefined) return;
    const now = this.#clock.now();
    const window = rateWindow(tpm, rateFactor(rate, now, this.#tuning), this.#tuning);
    await this.#store.chargeWindow(limit.key, 'tokens', tokens * window.costMs, now);
  }

  /** A 429: lowers the rate once per decrease window (later 429s of the same storm find it lowered). */
  async #lowerRate(key: string): Promise<void> {
    for (let races = 0; races < MAX_WRITE_RACES; races++) {
      const snapshot: ProviderLimitSnapshot = await this.#store.read(key);
      const next = loweredRate(snapshot.rate, this.#clock.now(), this.#tuning);
      if (!next) return;
      if (await this.#store.setRate(key, next, snapshot.rate?.at)) return;
    }
  }

  /** Sleeps `ms`, or less when a slot of `key` is released in this process. */
  async #waitForSlot(key: string, ms: number, signal: AbortSignal): Promise<void> {
    const wake = new AbortController();
    const queue = this.#waiters.get(key) ?? [];
    this.#waiters.set(key, queue);
    const waiter = () => wake.abort();
    queue.push(waiter);
    try {
      await this.#sleep(ms, AbortSignal.any([signal, wake.signal]));
    } catch (error) {
      if (signal.aborted || !wake.signal.aborted) throw error;
    } finally {
      const at = queue.indexOf(waiter);
      if (at >= 0) queue.splice(at, 1);
      if (queue.length === 0 && this.#waiters.get(key) === queue) this.#waiters.delete(key);
    }
  }

  #shuffled(list: number[]): number[] {
    for (let i = list.length - 1; i > 0; i--) {
      const j = Math.floor(this.#random() * (i + 1));
      [list[i], list[j]] = [list[j] as number, list[i] as number];
    }
    return list;
  }
}

/** The permit of a call no limit covers (the simulated executor). */
const UNLIMITED: CallPermit = {
  beforeRequest: async () => {},
  afterRequest: async () => {},
  release: async () => {},
};
