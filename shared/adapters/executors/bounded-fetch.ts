/**
 * The fetch every HTTP provider client uses (the anthropic and openai SDKs, the http executor, the routing
 * advisor): an answer's body is read through a counter that stops at MAX_PROVIDER_ANSWER_BYTES, so an endless or
 * enormous body fails the call instead of filling the process's memory (a worker, or `meta-agent serve` and
 * every batch in it), and redirects are not followed: the request carries the key and the task, and a provider's
 * API does not redirect (the 3xx is the call's answer, an error naming it).
 */
import { MAX_PROVIDER_ANSWER_BYTES } from '../../domain/limits';
import type { ExecutorName } from '../../domain/schemas';
import { ProviderError } from './errors';

/** The error of a body over the limit: the same call would answer as much again, so it is not retried. */
export function answerTooLargeError(
  provider: ExecutorName,
  limitBytes: number,
  status: number,
): ProviderError {
  return new ProviderError(
    provider,
    `${provider} answered HTTP ${status} with a body over ${limitBytes} bytes (MAX_PROVIDER_ANSWER_BYTES): it was cut off there and the call failed`,
    { status, retryable: false, permanent: 'request' },
  );
}

/** `response` with its body counted: the body errors with answerTooLargeError past `limitBytes`. */
function counted(response: Response, provider: ExecutorName, limitBytes: number): Response {
  const body = response.body;
  if (body === null) return response;
  let read = 0;
  const counter = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      read += chunk.byteLength;
      if (read > limitBytes) controller.error(answerTooLargeError(provider, limitBytes, response.status));
      else controller.enqueue(chunk);
    },
  });
  const bounded = new Response(body.pipeThrough(counter), {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
  Object.defineProperty(bounded, 'url', { value: response.url });
  return bounded;
}

/** `inner` (the global fetch by default) with its answers' bodies bounded and redirects not followed. */
export function boundedFetch(
  provider: ExecutorName,
  inner: typeof fetch = fetch,
  limitBytes: number = MAX_PROVIDER_ANSWER_BYTES,
): typeof fetch {
  return async (input, init) =>
    counted(await inner(input, { ...init, redirect: 'manual' }), provider, limitBytes);
}
