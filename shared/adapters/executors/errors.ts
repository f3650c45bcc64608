/**
 * Errors every executor raises, so the agent worker can tell a provider's refusal from a timeout, a
 * cancellation or a configuration mistake without parsing messages.
 */
import type { ExecutorName, PermanentCause } from '../../domain/schemas';
import { SecretFormatError, SecretNotFoundError } from '../secrets';

/** A provider answered with an error (or could not be reached). `status` is the HTTP status when known. */
export class ProviderError extends Error {
  readonly provider: ExecutorName;
  readonly status: number | undefined;
  /** True when the same call may succeed later (throttling, overload, 5xx, network). */
  readonly retryable: boolean;
  /** The provider's `Retry-After`, in milliseconds, when it sent one. */
  readonly retryAfterMs: number | undefined;
  /**
   * Set when the same executor configuration will fail the same way (a bad key, an unknown model, an answer cut
   * at the output limit): what it depends on, so the task is retried only on an agent that differs in it.
   */
  readonly permanent: PermanentCause | undefined;

  constructor(
    provider: ExecutorName,
    message: string,
    options: {
      status?: number;
      retryable: boolean;
      retryAfterMs?: number;
      permanent?: PermanentCause | undefined;
      cause?: unknown;
    },
  ) {
    super(message, { cause: options.cause });
    this.name = 'ProviderError';
    this.provider = provider;
    this.status = options.status;
    this.retryable = options.retryable;
    this.retryAfterMs = options.retryAfterMs;
    this.permanent = options.retryable ? undefined : options.permanent;
  }
}

/** The executor config cannot work (unknown executor, `http` without a url, malformed model or url). */
export class ExecutorConfigError extends Error {
  /** The same configuration fails the same way (see ProviderError.permanent). */
  readonly permanent: PermanentCause = 'request';
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

/**
 * What a failed execution's error says about retrying it with the same executor configuration: the cause when it
 * will fail the same way (ProviderError.permanent, a config that cannot work, no usable key in the provider
 * secret), undefined when another try may succeed (throttling, 5xx, network, timeouts, a misfitting answer).
 */
export function permanentCauseOf(error: unknown): PermanentCause | undefined {
  if (error instanceof ProviderError || error instanceof ExecutorConfigError) return error.permanent;
  if (error instanceof SecretNotFoundError || error instanceof SecretFormatError) return 'credentials';
  return undefined;
}
