/**
 * The call policy every provider executor shares, so it is written and tested once:
 * - a deadline of `request.timeoutMs` over the whole call (waiting for a slot, every attempt, every backoff),
 *   which aborts the in-flight HTTP request when it passes, as does the caller's AbortSignal;
 * - a limit on calls per provider (and model): fleet-wide in the deployed and embedded systems (FleetLimiter,
 *   leased slots and rate buckets in DynamoDB), a per-process semaphore when nothing else is given; a 429
 *   tells the limiter, which slows the provider's rate down for every worker;
 * - retries: throttling (429) and overload (503, 529) back off with full jitter and honour the provider's wait
 *   (`retry-after-ms`, else `Retry-After`), other 5xx, 408 and network failures are retried a bounded number of
 *   times, other 4xx fail at once, as does a 429 the provider says is final (a spent quota or spend limit).
 * The SDKs' own retries are disabled (maxRetries 0 / maxAttempts 1) so this is the only policy in force.
 */
import { carriedUsage } from '../../domain/costs';
import { usageTokens } from '../../domain/provider-limits';
import type { ExecutorName } from '../../domain/schemas';
import { ExecutionAbortedError, ExecutionTimeoutError, ProviderError } from './errors';

/** First backoff ceiling; doubles each retry (AWS "exponential backoff and jitter"). */
export const RETRY_BASE_DELAY_MS = 500;
/** Highest backoff ceiling: beyond ~20 s the task timeout, not the backoff, should decide. */
export const RETRY_MAX_DELAY_MS = 20_000;
/** Retries after throttling or overload answers (429, 503, 529). */
export const MAX_THROTTLE_RETRIES = 5;
/** Retries after other 5xx answers and network failures: few, because these rarely heal within seconds. */
export const MAX_SERVER_ERROR_RETRIES = 2;
/** A Retry-After longer than this is capped, so one odd header cannot park a worker for minutes. */
export const MAX_RETRY_AFTER_MS = 60_000;
/** Calls in flight per provider in one process (Lambda container or local runtime) by default. */
export const DEFAULT_PROVIDER_CONCURRENCY = 4;
/** Statuses meaning "slow down": Too Many Requests, Service Unavailable, Anthropic's Overloaded. */
export const THROTTLE_STATUSES: ReadonlySet<number> = new Set([429, 503, 529]);

/** The first status that is no answer to use: a redirect (not followed) and above are the call's failure. */
export const HTTP_REDIRECT_MIN = 300;
const HTTP_CLIENT_ERROR_MIN = 400;
/** The answer that lowers a provider's rate fleet-wide (FleetLimiter): the provider said "too many". */
export const HTTP_TOO_MANY_REQUESTS = 429;
const HTTP_SERVER_ERROR_MIN = 500;
const HTTP_SERVER_ERROR_MAX = 599;
const MS_PER_SECOND = 1000;

/** Waits `ms`, rejecting with the signal's reason when it aborts first. Injected so tests need not wait. */
export type Sleep = (ms: number, signal: AbortSignal) => Promise<void>;
/** A number in [0, 1): injected so the jitter is deterministic under test. */
export type Random = () => number;

export interface RetryPolicy {
  baseDelayMs: number;
  maxDelayMs: number;
  maxThrottleRetries: number;
  maxServerErrorRetries: number;
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = {
  baseDelayMs: RETRY_BASE_DELAY_MS,
  maxDelayMs: RETRY_MAX_DELAY_MS,
  maxThrottleRetries: MAX_THROTTLE_RETRIES,
  maxServerErrorRetries: MAX_SERVER_ERROR_RETRIES,
  maxRetryAfterMs: MAX_RETRY_AFTER_MS,
};

/** The real sleep: a timer that is cleared when `signal` aborts. */
export const abortableSleep: Sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });

/**
 * Backoff before retry number `retry` (0-based): full jitter, `random() * min(cap, base * 2^retry)`,
 * but never shorter than the provider's Retry-After (itself capped at `maxRetryAfterMs`).
 */
export function backoffDelay(
  policy: RetryPolicy,
  retry: number,
  random: Random,
  retryAfterMs?: number,
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retry);
  const jittered = Math.floor(random() * ceiling);
  if (retryAfterMs === undefined) return jittered;
  return Math.max(jittered, Math.min(retryAfterMs, policy.maxRetryAfterMs));
}

/** Parses a Retry-After header (delta-seconds or an HTTP date) into milliseconds from `now`. */
export function parseRetryAfter(
  value: string | null | undefined,
  now: number = Date.now(),
): number | undefined {
  if (value === null || value === undefined || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * MS_PER_SECOND);
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/**
 * The wait a provider asked for, in milliseconds: `retry-after-ms` (OpenAI, Azure OpenAI and the official SDKs
 * read it first, as it is the more precise) or else `Retry-After`.
 */
export function retryAfterFromHeaders(
  get: (name: string) => string | null | undefined,
  now: number = Date.now(),
): number | undefined {
  const ms = get('retry-after-ms')?.trim();
  if (ms !== undefined && /^\d+(\.\d+)?$/.test(ms)) return Math.round(Number(ms));
  return parseRetryAfter(get('retry-after'), now);
}

/** Statuses retried like a 5xx besides the 5xx themselves: 408 Request Timeout (the official SDKs retry it too). */
export const TRANSIENT_CLIENT_STATUSES: ReadonlySet<number> = new Set([408]);

/** What a user should check after a status that will not heal by retrying (undefined: nothing to add). */
export function statusHint(provider: ExecutorName, status: number): string | undefined {
  const bedrock = provider === 'bedrock';
  switch (status) {
    case 401:
      return bedrock
        ? 'check the AWS credentials the function or process runs with'
        : `check the "${provider}" entry of the provider secret (PROVIDER_SECRET_ID, PROVIDER_SSM_PREFIX or META_AGENT_SECRETS_FILE)`;
    case 403:
      return bedrock
        ? 'check that the IAM role may call bedrock:InvokeModel on this model and that model access is granted in this region'
        : `check that the "${provider}" key may call this ${provider === 'http' ? 'service' : 'model'}`;
    case 404:
      return provider === 'http'
        ? 'check executor.url: the service has no such endpoint'
        : 'check executor.model (and executor.url): the provider knows no such model there';
    case 413:
      return 'the request is too large: shorten the task or the context it takes from other tasks';
    default:
      return status >= HTTP_REDIRECT_MIN && status < HTTP_CLIENT_ERROR_MIN
        ? `a redirect is not followed, since the request carries the key and the task: set ${provider === 'bedrock' ? 'the endpoint' : 'executor.url'} to the address it answers`
        : undefined;
  }
}

/** What a call was, for its error messages: the model and where it went. */
export interface CallDescription {
  model?: string | undefined;
  /** What to check besides the status's own hint (a quota, a spend limit), or why it is final. */
  hint?: string | undefined;
  /**
   * The provider's own word on retrying, over the status's: false when the answer will not change (a spent
   * quota, `x-should-retry: false`), true when it will (`x-should-retry: true`, a 409 lock timeout).
   */
  retry?: boolean | undefined;
}

/** `anthropic (model claude-x)`: the provider and, when known, the model a message is about. */
export function callName(provider: ExecutorName, model: string | undefined): string {
  return model === undefined ? provider : `${provider} (model ${model})`;
}

/**
 * Final 4xx statuses that are about the key, not the request: 401, and a 429 the provider says is final (a
 * quota or spend limit used up; a retryable 429 is never permanent).
 */
const CREDENTIAL_STATUSES: ReadonlySet<number> = new Set([401, HTTP_TOO_MANY_REQUESTS]);

/** Builds the ProviderError for an HTTP error status, deciding whether it is worth retrying. */
export function providerErrorFromStatus(
  provider: ExecutorName,
  status: number,
  detail: string,
  options: {
    retryAfter?: string | null | undefined;
    retryAfterMs?: number | undefined;
    cause?: unknown;
  } & CallDescription = {},
): ProviderError {
  const retryable =
    options.retry ??
    (THROTTLE_STATUSES.has(status) ||
      TRANSIENT_CLIENT_STATUSES.has(status) ||
      (status >= HTTP_SERVER_ERROR_MIN && status <= HTTP_SERVER_ERROR_MAX));
  const retryAfterMs = options.retryAfterMs ?? parseRetryAfter(options.retryAfter);
  const clientError = status >= HTTP_CLIENT_ERROR_MIN && status < HTTP_SERVER_ERROR_MIN;
  const kind = clientError ? 'rejected' : 'failed';
  const hint = options.hint ?? statusHint(provider, status);
  return new ProviderError(
    provider,
    `${callName(provider, options.model)} ${kind} the call with HTTP ${status}: ${detail}${hint ? ` (${hint})` : ''}`,
    {
      status,
      retryable,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      // A 4xx the provider will answer again: the key (401, a spent quota's 429), else the request as sent.
      ...(clientError ? { permanent: CREDENTIAL_STATUSES.has(status) ? 'credentials' : 'request' } : {}),
      cause: options.cause,
    },
  );
}

/** A provider could not be reached (connection refused, reset, DNS): retried like a 5xx. */
export function networkError(provider: ExecutorName, cause: unknown, model?: string): ProviderError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new ProviderError(provider, `${callName(provider, model)} could not be reached: ${detail}`, {
    retryable: true,
    cause,
  });
}

/**
 * A provider answered 2xx with a body that is not its API's answer (an HTML page from a proxy, a body cut
 * short, an error object): not a network failure. Retried like a 5xx only when `retryable` (a body that did
 * not parse may be a transfer cut short); a well-formed body of the wrong shape will be the same next time.
 */
export function malformedAnswerError(
  provider: ExecutorName,
  what: string,
  options: { model?: string | undefined; url?: string | undefined; retryable: boolean; cause?: unknown },
): ProviderError {
  const at = options.url === undefined ? '' : ` at ${options.url}`;
  return new ProviderError(provider, `${callName(provider, options.model)}${at} answered ${what}`, {
    retryable: options.retryable,
    permanent: 'request',
    cause: options.cause,
  });
}

/** A counting semaphore whose waiters leave the queue when their signal aborts. */
export class Semaphore {
  readonly limit: number;
  #inFlight = 0;
  readonly #waiters: Array<() => void> = [];

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) {
      throw new RangeError(`concurrency limit must be a positive integer, got ${limit}`);
    }
    this.limit = limit;
  }

  /** Calls holding a slot now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Calls waiting for a slot now. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /** Takes a slot, waiting if none is free. Resolves to the function that gives it back (call it once). */
  acquire(signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) return Promise.reject(signal.reason);
    if (this.#inFlight < this.limit) {
      this.#inFlight += 1;
      return Promise.resolve(this.#releaser());
    }
    return new Promise((resolve, reject) => {
      const grant = () => {
        signal.removeEventListener('abort', onAbort);
        // The releasing call handed its slot over, so #inFlight is unchanged.
        resolve(this.#releaser());
      };
      const onAbort = () => {
        const index = this.#waiters.indexOf(grant);
        if (index >= 0) this.#waiters.splice(index, 1);
        reject(signal.reason);
      };
      this.#waiters.push(grant);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiters.shift();
      if (next) next();
      else this.#inFlight -= 1;
    };
  }
}

/** What a call is limited as: its provider and the model it calls (undefined: the provider's limit). */
export interface CallTarget {
  provider: ExecutorName;
  model?: string | undefined;
}

/** A slot to call a provider, held from before the first request to after the last retry. */
export interface CallPermit {
  /** Waits until one more request may be sent (requests and tokens per minute); rejects when `signal` aborts. */
  beforeRequest(signal: AbortSignal): Promise<void>;
  /** What a request came to: the tokens it used, or that the provider throttled it (HTTP 429). */
  afterRequest(outcome: { tokens?: number; throttled?: boolean }): Promise<void>;
  /** Gives the slot back (call it once). */
  release(): Promise<void>;
}

/** Grants call slots: waits for one (bounded by `signal`) rather than failing. */
export interface CallLimiter {
  acquire(target: CallTarget, signal: AbortSignal): Promise<CallPermit>;
}

/**
 * One semaphore per provider name, in this process only. Executors built by `createExecutor` share the process-wide
 * `sharedProviderLimiter` by default, because many executor instances (one per agent) in one Lambda
 * container or local runtime call the same provider; tests pass their own.
 */
export class ProviderLimiter implements CallLimiter {
  readonly #limits: number | Partial<Record<ExecutorName, number>>;
  readonly #semaphores = new Map<ExecutorName, Semaphore>();

  /** `limits`: one number for every provider, or a number per provider (others get the default). */
  constructor(limits: number | Partial<Record<ExecutorName, number>> = DEFAULT_PROVIDER_CONCURRENCY) {
    this.#limits = limits;
  }

  /** The semaphore of `provider`, created with its limit on first use. */
  for(provider: ExecutorName): Semaphore {
    let semaphore = this.#semaphores.get(provider);
    if (!semaphore) {
      const limit =
        typeof this.#limits === 'number'
          ? this.#limits
          : (this.#limits[provider] ?? DEFAULT_PROVIDER_CONCURRENCY);
      semaphore = new Semaphore(limit);
      this.#semaphores.set(provider, semaphore);
    }
    return semaphore;
  }

  async acquire(target: CallTarget, signal: AbortSignal): Promise<CallPermit> {
    const release = await this.for(target.provider).acquire(signal);
    return {
      beforeRequest: async () => {},
      afterRequest: async () => {},
      release: async () => release(),
    };
  }
}

/** Process-wide limiter (see ProviderLimiter). Its limit per provider is fixed by the first use. */
export const sharedProviderLimiter = new ProviderLimiter();

/**
 * Settles with `work`, or rejects as soon as `signal` aborts: the deadline holds even when a client
 * (or the secret lookup before it) does not honour the signal.
 */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    // The work started anyway: its own rejection (the aborted request) is expected, not unhandled.
    work.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** The last provider error, saying how many retries were spent on it. */
function gaveUp(error: ProviderError, retries: number): ProviderError {
  if (retries === 0) return error;
  return new ProviderError(error.provider, `${error.message} (gave up after ${retries} retries)`, {
    retryable: error.retryable,
    ...(error.status === undefined ? {} : { status: error.status }),
    ...(error.retryAfterMs === undefined ? {} : { retryAfterMs: error.retryAfterMs }),
    permanent: error.permanent,
    cause: error.cause,
  });
}

/** What the policy needs besides the call itself; all injectable. */
export interface CallPolicy {
  limiter: CallLimiter;
  /** Reports limiter trouble (a write that failed) without failing the call. */
  onWarning?: (message: string, error: unknown) => void;
  retry: RetryPolicy;
  sleep: Sleep;
  random: Random;
}

/**
 * Runs limiter bookkeeping after a slot was granted (count tokens, record a throttle, release): its trouble (a
 * lost write) never fails the call it belongs to, it is reported to `onWarning` as `what`.
 */
export async function reportingFailure(
  onWarning: ((message: string, error: unknown) => void) | undefined,
  what: string,
  work: () => Promise<void>,
): Promise<void> {
  try {
    await work();
  } catch (error) {
    onWarning?.(what, error);
  }
}

/**
 * Runs `call` under the policy: slot, deadline, retries. `call` receives the signal it must pass to its
 * HTTP client and must throw a ProviderError for provider answers (anything else is rethrown as is).
 * Rejects with ExecutionTimeoutError past `timeoutMs`, ExecutionAbortedError when `signal` aborts, or the
 * last ProviderError when it is not retryable or the retries are spent.
 */
export async function callWithPolicy<T>(
  target: ExecutorName | CallTarget,
  options: {
    timeoutMs: number;
    signal: AbortSignal;
    policy: CallPolicy;
    /** Tokens an answer used, charged to the limit's tokens per minute. */
    tokensOf?: (answer: T) => number | undefined;
  },
  call: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const { timeoutMs, signal, policy } = options;
  const limited: CallTarget = typeof target === 'string' ? { provider: target } : target;
  const provider = limited.provider;
  const startedAt = Date.now();
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(new ExecutionTimeoutError(provider, timeoutMs)), timeoutMs);
  const combined = AbortSignal.any([signal, deadline.signal]);
  // Which of the two signals stopped the call decides the error class the caller sees.
  const stopped = (cause: unknown): Error =>
    signal.aborted
      ? new ExecutionAbortedError(provider, signal.reason)
      : new ExecutionTimeoutError(provider, timeoutMs, cause);

  const quietly = (what: string, work: () => Promise<void>) => reportingFailure(policy.onWarning, what, work);
  let permit: CallPermit | undefined;
  try {
    try {
      permit = await policy.limiter.acquire(limited, combined);
    } catch (error) {
      throw combined.aborted ? stopped(error) : error;
    }
    const held = permit;
    // The slot is held through backoff on purpose: a throttled provider should see fewer calls, not the
    // same number arriving from other tasks while this one waits.
    let throttleRetries = 0;
    let serverRetries = 0;
    for (;;) {
      try {
        await held.beforeRequest(combined);
        const answer = await untilAborted(call(combined), combined);
        const tokens = options.tokensOf?.(answer);
        if (tokens !== undefined && tokens > 0)
          await quietly('provider limit: tokens not counted', () => held.afterRequest({ tokens }));
        return answer;
      } catch (error) {
        if (combined.aborted) throw stopped(error);
        // An answer the provider billed but that is no deliverable (cut short, refused) used tokens all the same.
        const billed = (carriedUsage(error) ?? []).reduce((sum, usage) => sum + (usageTokens(usage) ?? 0), 0);
        if (billed > 0)
          await quietly('provider limit: tokens not counted', () => held.afterRequest({ tokens: billed }));
        if (!(error instanceof ProviderError) || !error.retryable) throw error;
        if (error.status === HTTP_TOO_MANY_REQUESTS)
          await quietly('provider limit: throttle not recorded', () =>
            held.afterRequest({ throttled: true }),
          );
        const throttled = error.status !== undefined && THROTTLE_STATUSES.has(error.status);
        const retry = throttled ? throttleRetries : serverRetries;
        const budget = throttled ? policy.retry.maxThrottleRetries : policy.retry.maxServerErrorRetries;
        if (retry >= budget) throw gaveUp(error, throttleRetries + serverRetries);
        if (throttled) throttleRetries += 1;
        else serverRetries += 1;
        const delay = backoffDelay(policy.retry, retry, policy.random, error.retryAfterMs);
        // Sleeping past the deadline cannot help: report the provider's answer, which says more than a timeout.
        if (Date.now() - startedAt + delay >= timeoutMs) throw error;
        try {
          await policy.sleep(delay, combined);
        } catch (sleepError) {
          throw combined.aborted ? stopped(sleepError) : sleepError;
        }
      }
    }
  } finally {
    clearTimeout(timer);
    const held = permit;
    if (held) await quietly('provider limit: slot not released', () => held.release());
  }
}
