/**
 * The fetch every HTTP provider client uses (the anthropic and openai SDKs, the http executor, the routing
 * advisor), and its like for the AWS SDK's Bedrock client (boundedAnswerMiddleware): an answer's body is read through a counter that stops at MAX_PROVIDER_ANSWER_BYTES, so an endless or
 * enormous body fails the call instead of filling the process's memory (a worker, or `meta-agent serve` and
 * every batch in it), and redirects are not followed: the request carries the key and the task, and a provider's
 * API does not redirect (the 3xx is the call's answer, an error naming it).
 */
import type { DeserializeMiddleware, HttpResponse } from '@smithy/types';
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

/** The name boundedAnswerMiddleware is added under, to each Converse command. */
export const BOUNDED_ANSWER_MIDDLEWARE = 'boundedProviderAnswer';

/**
 * An AWS SDK middleware that reads an answer's body (a Node stream from the SDK's HTTP/1 or HTTP/2 handler)
 * through a counter before the SDK's deserializer collects it, which would read any length: past `limitBytes`
 * the stream is destroyed (the connection's answer dropped) and the call fails with answerTooLargeError. Added
 * at the deserialize step's low priority, so it sits between the deserializer and the transport. The SDK's Node
 * handlers follow no redirect: a 3xx is the call's answer.
 */
export function boundedAnswerMiddleware<Input extends object, Output extends object>(
  provider: ExecutorName,
  limitBytes: number = MAX_PROVIDER_ANSWER_BYTES,
): DeserializeMiddleware<Input, Output> {
  return (next) => async (args) => {
    const result = await next(args);
    const response = result.response as HttpResponse;
    response.body = await readBounded(response.body, provider, limitBytes, response.statusCode);
    return result;
  };
}

/** `body` (bytes, nothing, or an async iterable of chunks) read whole, failing past `limitBytes`. */
async function readBounded(
  body: unknown,
  provider: ExecutorName,
  limitBytes: number,
  status: number,
): Promise<Uint8Array> {
  if (body === undefined || body === null) return new Uint8Array();
  if (body instanceof Uint8Array) {
    if (body.byteLength > limitBytes) throw answerTooLargeError(provider, limitBytes, status);
    return body;
  }
  const chunks: Uint8Array[] = [];
  let read = 0;
  // Throwing inside the loop ends the iteration, which destroys a Node stream (and drops its connection).
  for await (const chunk of body as AsyncIterable<Uint8Array | string>) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    read += bytes.byteLength;
    if (read > limitBytes) throw answerTooLargeError(provider, limitBytes, status);
    chunks.push(bytes);
  }
  return Buffer.concat(chunks);
}
