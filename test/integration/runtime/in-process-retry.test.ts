import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { ConfiguredRetryStrategy } from '@smithy/core/retry';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type InProcessRequest,
  type InProcessResponse,
  inProcessClientConfig,
  serveInProcess,
} from '../../../shared/adapters/in-process-transport';
import { tunedClient } from '../../../shared/adapters/sdk-client';
import { LOCAL_CREDENTIALS } from '../../../shared/local/runtime/emulators';

const ORIGIN = 'http://127.0.0.1:3';
const SCOPE = { service: 'dynamodb', region: 'us-east-1' };
const JSON_TYPE = { 'content-type': 'application/x-amz-json-1.0' };

const failure = (statusCode: number, type: string): InProcessResponse => ({
  statusCode,
  headers: JSON_TYPE,
  body: JSON.stringify({ __type: `com.amazonaws.dynamodb.v20120810#${type}`, message: type }),
});
const found: InProcessResponse = { statusCode: 200, headers: JSON_TYPE, body: '{"Item":{"pk":{"S":"a"}}}' };

/**
 * A DynamoDB client served in process by `answers` in turn (the last one repeats), tuned as the orchestrator's,
 * its own retry strategy three attempts `delayMs` apart.
 */
function clientAnswering(answers: readonly InProcessResponse[], delayMs = 1) {
  const requests: InProcessRequest[] = [];
  const end = serveInProcess(ORIGIN, async (request) => {
    requests.push(request);
    return answers[Math.min(requests.length, answers.length) - 1] as InProcessResponse;
  });
  const client = tunedClient(
    new DynamoDBClient({
      region: SCOPE.region,
      endpoint: ORIGIN,
      credentials: LOCAL_CREDENTIALS,
      retryStrategy: new ConfiguredRetryStrategy(3, () => delayMs),
      ...inProcessClientConfig(ORIGIN, SCOPE),
    }),
  );
  return { client, requests, end };
}

const getItem = new GetItemCommand({ TableName: 't', Key: { pk: { S: 'a' } } });

describe('the retry middleware of a client served in process', () => {
  const ends: (() => void)[] = [];
  afterEach(() => {
    for (const end of ends.splice(0)) end();
  });

  it("takes the SDK's place and retries what the SDK retries, with the client's strategy", async () => {
    const { client, requests, end } = clientAnswering([
      failure(500, 'InternalServerError'),
      failure(400, 'ThrottlingException'),
      found,
    ]);
    ends.push(end, () => client.destroy());
    expect(
      client.middlewareStack.identify().filter((name) => name.startsWith('retryMiddleware')),
    ).toHaveLength(1);
    const answer = await client.send(getItem);
    expect(answer.Item).toEqual({ pk: { S: 'a' } });
    expect(requests).toHaveLength(3);
    expect(answer.$metadata.attempts).toBe(3);
    // The delays the strategy waited before each retry, 1 ms each.
    expect(answer.$metadata.totalRetryDelay).toBe(2);
    // Still signed (the signer is placed relative to the retry middleware), without the per-call headers.
    for (const request of requests) {
      expect(request.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 /);
      expect(request.headers['amz-sdk-invocation-id']).toBeUndefined();
      expect(request.headers['amz-sdk-request']).toBeUndefined();
    }
  });

  it('answers a client error at once, and a server error after the last attempt, naming the attempts', async () => {
    const refused = clientAnswering([failure(400, 'ValidationException')]);
    ends.push(refused.end, () => refused.client.destroy());
    const validation = await refused.client.send(getItem).catch((error: unknown) => error);
    expect(validation).toMatchObject({ name: 'ValidationException', $metadata: { attempts: 1 } });
    expect(refused.requests).toHaveLength(1);
    refused.end();

    const failing = clientAnswering([failure(500, 'InternalServerError')]);
    ends.push(failing.end, () => failing.client.destroy());
    const internal = await failing.client.send(getItem).catch((error: unknown) => error);
    expect(internal).toMatchObject({ name: 'InternalServerError', $metadata: { attempts: 3 } });
    expect(failing.requests).toHaveLength(3);
  });

  it('stops retrying once the call is aborted', async () => {
    const { client, requests, end } = clientAnswering([failure(500, 'InternalServerError')]);
    ends.push(end, () => client.destroy());
    const controller = new AbortController();
    controller.abort();
    const error = await client.send(getItem, { abortSignal: controller.signal }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(requests.length).toBeLessThanOrEqual(1);
  });

  it('ends a call aborted during its delay at once, with the abort error the SDK gives', async () => {
    // A delay no test waits out: only the abort can end it.
    const { client, requests, end } = clientAnswering([failure(500, 'InternalServerError')], 60_000);
    ends.push(end, () => client.destroy());
    const controller = new AbortController();
    const sent = client.send(getItem, { abortSignal: controller.signal }).catch((e: unknown) => e);
    await vi.waitFor(() => expect(requests).toHaveLength(1));
    controller.abort();
    expect(await sent).toMatchObject({ name: 'AbortError', message: 'Request aborted' });
    expect(requests).toHaveLength(1);
  });
});
