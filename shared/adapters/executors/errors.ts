/**
 * Errors every executor raises, so the agent worker can tell a provider's refusal from a timeout, a
 * cancellation or a configuration mistake without parsing messages.
 */
import type { ExecutorName } from '../../domain/schemas';

/** A provider answered with an error (or could not be reached). `status` is the HTTP status when known. */
export class ProviderError extends Error {
  readonly provider: ExecutorName;
  readonly status: number | undefined;
  /** True when the same call may succeed later (throttling, overload, 5xx, network). */
  readonly retryable: boolean;
  /** The provider's `Retry-After`, in milliseconds, when it sent one. */
  readonly retryAfterMs: number | undefined;

  constructor(
    provider: ExecutorName,
    message: string,
    options: { status?: number; retryable: boolean; retryAfterMs?: number; cause?: unknown },
  ) {
    super(message, { cause: options.cause });
    this.name = 'ProviderError';
    this.provider = provider;
    this.status = options.status;
    this.retryable = options.retryable;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** The executor config cannot work (unknown executor, `http` without a url, malformed model or url). */
export class ExecutorConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExecutorConfigError';
  }
}

/** The call did not finish within `request.timeoutMs` (waiting for a provider slot, attempts and backoff included). */
export class ExecutionTimeoutError extends Error {
  readonly timeoutMs: number;
  constructor(provider: ExecutorName, timeoutMs: number, cause?: unknown) {
    super(`${provider} executor did not answer within ${timeoutMs} ms`, { cause });
    this.name = 'ExecutionTimeoutError';
    this.timeoutMs = timeoutMs;
  }
}

/** The caller's AbortSignal fired (cancellation, heartbeat lost). `cause` is the signal's reason. */
export class ExecutionAbortedError extends Error {
  constructor(provider: ExecutorName, reason: unknown) {
    super(`${provider} executor call was aborted`, { cause: reason });
    this.name = 'ExecutionAbortedError';
  }
}
