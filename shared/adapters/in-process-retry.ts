/**
 * The SDK's retry middleware for clients served in process (the embedded runtime's emulators), without its
 * per-call costs: the same retry strategy (the client's own, with its retry quota, backoff and maxAttempts),
 * the same error classes and the same refusal to retry a streamed body or an aborted call, but
 * - no `Error` made before the first attempt (the SDK's `let lastError = new Error()` captures a stack on
 *   every call, error or not);
 * - no `amz-sdk-invocation-id` (a UUID a call) nor `amz-sdk-request` header, which only a network service
 *   reads;
 * - no Retry-After hint (the emulators send none).
 * Together these were about 5% of the main thread's busy time in a CPU profile of the embedded runtime, where a
 * call's middleware runs cold after each task's idle wait. A client on AWS keeps the SDK's middleware.
 */
import { Readable } from 'node:stream';
import {
  isServerError,
  isThrottlingError,
  isTransientError,
  retryMiddlewareOptions,
} from '@smithy/core/retry';

interface RetryToken {
  getRetryCount(): number;
  getRetryDelay(): number;
  /** The delay the strategy waited itself before handing the token over (the SDK's standard strategy does). */
  $retryLog?: { acquisitionDelay?: number };
}

export type RetryErrorType = 'THROTTLING' | 'TRANSIENT' | 'SERVER_ERROR' | 'CLIENT_ERROR';

/** The SDK's retry strategy (its "V2" interface, which standard and adaptive modes implement). */
interface RetryStrategy {
  acquireInitialRetryToken(scope: string): Promise<RetryToken>;
  refreshRetryTokenForRetry(
    token: RetryToken,
    info: { error: Error; errorType: RetryErrorType },
  ): Promise<RetryToken>;
  recordSuccess(token: RetryToken): void;
}

/** A strategy of the SDK's older interface, which the middleware hands the call to as the SDK does. */
interface LegacyRetryStrategy {
  retry(next: Handler, args: HandlerArgs): Promise<HandlerOutput>;
}

/** What the middleware reads of a client's resolved config. */
export interface RetryConfig {
  retryStrategy: () => Promise<RetryStrategy | LegacyRetryStrategy>;
}

interface HandlerArgs {
  request: unknown;
}

interface HandlerOutput {
  output: { $metadata: { attempts?: number; totalRetryDelay?: number } };
}

type Handler = (args: HandlerArgs) => Promise<HandlerOutput>;

/** The SDK's key of its own context in a call's handler context (`@smithy/types` SMITHY_CONTEXT_KEY). */
export const SMITHY_CONTEXT_KEY = '__smithy_context';

type Context = {
  [SMITHY_CONTEXT_KEY]?: { abortSignal?: AbortSignal };
  partition_id?: string;
  /** Set by the SDK for a long poll (SQS ReceiveMessage), whose retries it counts apart. */
  __retryLongPoll?: boolean;
};

const isV2 = (strategy: RetryStrategy | LegacyRetryStrategy): strategy is RetryStrategy =>
  'acquireInitialRetryToken' in strategy &&
  'refreshRetryTokenForRetry' in strategy &&
  'recordSuccess' in strategy;

/** As the SDK classifies an error for its retry strategy (its classifiers read `$metadata`, `$retryable`, names). */
export function errorTypeOf(error: Error): RetryErrorType {
  const sdkError = error as Parameters<typeof isServerError>[0];
  if (isThrottlingError(sdkError)) return 'THROTTLING';
  if (isTransientError(sdkError)) return 'TRANSIENT';
  if (isServerError(sdkError)) return 'SERVER_ERROR';
  return 'CLIENT_ERROR';
}

/**
 * Whether a service answered `error` and sending the same call again cannot cure it: the service blamed the
 * call (`$fault: 'client'`: a permission, a validation) and the SDK's classifiers see neither throttling nor a
 * transient failure in it. An error no service answered (a network failure, anything unclassified) is not.
 */
export function isPermanentServiceError(error: unknown): error is Error {
  return (
    error instanceof Error &&
    (error as { $fault?: unknown }).$fault === 'client' &&
    errorTypeOf(error) === 'CLIENT_ERROR'
  );
}

/** A body the SDK would not send twice (Node's `isStreamingPayload`). */
const isStreaming = (request: unknown): boolean => {
  const body = (request as { body?: unknown } | undefined)?.body;
  return (
    body instanceof Readable || (typeof ReadableStream !== 'undefined' && body instanceof ReadableStream)
  );
};

const asError = (error: unknown): Error => (error instanceof Error ? error : new Error(String(error)));

/** The SDK's error for a call aborted while it waits to retry (`@smithy/core`'s createAbortError). */
function abortErrorOf(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error)
    return Object.assign(new Error('Request aborted'), { name: 'AbortError', cause: reason });
  return Object.assign(new Error(reason ? String(reason) : 'Request aborted'), { name: 'AbortError' });
}

/** `promise`, unless `signal` aborts first: then the SDK's abort error (its `race`). */
function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  let stop = () => {};
  const aborted = new Promise<never>((_, reject) => {
    const onAbort = () => reject(abortErrorOf(signal));
    if (signal.aborted) onAbort();
    else {
      signal.addEventListener('abort', onAbort, { once: true });
      stop = () => signal.removeEventListener('abort', onAbort);
    }
  });
  return Promise.race([promise, aborted]).finally(stop);
}

/** The lean retry middleware of a client whose resolved config is `config`. */
export function inProcessRetryMiddleware(config: RetryConfig) {
  return (next: Handler, context: Context): Handler =>
    async (args) => {
      const strategy = await config.retryStrategy();
      if (!isV2(strategy)) return strategy.retry(next, args);
      const signal = context[SMITHY_CONTEXT_KEY]?.abortSignal;
      // The token's scope as the SDK names it: the partition, and long polls apart.
      const scope = (context.partition_id ?? '') + (context.__retryLongPoll ? ':longpoll' : '');
      let token = await strategy.acquireInitialRetryToken(scope);
      let totalRetryDelay = 0;
      for (;;) {
        try {
          const answer = await next(args);
          strategy.recordSuccess(token);
          answer.output.$metadata.attempts = token.getRetryCount() + 1;
          answer.output.$metadata.totalRetryDelay = totalRetryDelay;
          return answer;
        } catch (thrown) {
          const error = asError(thrown) as Error & { $metadata?: HandlerOutput['output']['$metadata'] };
          const attempts = token.getRetryCount() + 1;
          try {
            if (isStreaming(args.request) || signal?.aborted) throw error;
            // The standard strategy waits out the backoff itself here: an abort ends that wait too.
            token = await unlessAborted(
              strategy.refreshRetryTokenForRetry(token, { error, errorType: errorTypeOf(error) }),
              signal,
            );
          } catch (refused) {
            if (refused !== error && signal?.aborted && (refused as Error).name === 'AbortError')
              throw refused;
            error.$metadata = { ...error.$metadata, attempts, totalRetryDelay };
            throw error;
          }
          const delay = token.getRetryDelay();
          totalRetryDelay += (token.$retryLog?.acquisitionDelay ?? 0) + delay;
          if (delay > 0) await unlessAborted(new Promise((resolve) => setTimeout(resolve, delay)), signal);
        }
      }
    };
}

/** Where the SDK's own retry middleware sits; the lean one takes its place (and its name, which others refer to). */
export const inProcessRetryOptions = { ...retryMiddlewareOptions, override: true } as const;
