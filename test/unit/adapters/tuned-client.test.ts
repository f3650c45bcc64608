import { DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DocumentClient, documentClient } from '../../../shared/adapters/dynamodb/client';
import {
  type InProcessRequest,
  type InProcessResponse,
  inProcessClientConfig,
  serveInProcess,
} from '../../../shared/adapters/in-process-transport';
import { tunedClient } from '../../../shared/adapters/sdk-client';

/** Never listened on: served in process only. */
const ORIGIN = 'http://127.0.0.1:9';
const REGION = 'us-east-1';
const CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };

/**
 * A table of one item per pk, served in process: PutItem stores the item, GetItem answers the stored item of
 * the request's own key after a delay the key names (so calls overlap and end out of order).
 */
function serveTable(): { requests: InProcessRequest[]; stop: () => void } {
  const items = new Map<string, unknown>();
  const requests: InProcessRequest[] = [];
  const stop = serveInProcess(ORIGIN, async (request) => {
    requests.push(request);
    const body = JSON.parse(request.body) as { Key?: { pk: { S: string } }; Item?: { pk: { S: string } } };
    const target = request.headers['x-amz-target'] ?? '';
    if (target.endsWith('PutItem') && body.Item) items.set(body.Item.pk.S, body.Item);
    const key = body.Key?.pk.S;
    if (key !== undefined) await new Promise((resolve) => setTimeout(resolve, key.length % 3));
    const answer = key === undefined ? {} : { Item: items.get(key) };
    return {
      statusCode: 200,
      headers: { 'content-type': 'application/x-amz-json-1.0' },
      body: JSON.stringify(answer),
    };
  });
  return { requests, stop };
}

const inProcessDynamo = () =>
  tunedClient(
    new DynamoDBClient({
      region: REGION,
      endpoint: ORIGIN,
      credentials: CREDENTIALS,
      ...inProcessClientConfig(ORIGIN, { service: 'dynamodb', region: REGION }),
    }),
  );

const middlewareOf = (client: { middlewareStack: { identify(): string[] } }) =>
  client.middlewareStack.identify().map((entry) => entry.split(' ')[0]);

afterEach(() => {
  vi.restoreAllMocks();
});

describe('DocumentClient', () => {
  /** An in-process client with a middleware of its own (a tracer's), whose calls keep the SDK's stack. */
  const traced = () => {
    const client = inProcessDynamo();
    client.middlewareStack.add((next) => (args) => next(args), { step: 'build', name: 'tracer' });
    return client;
  };
  it.each([
    { client: 'with middleware of its own', make: traced, resolutions: 1 },
    // Its item calls go lean (in-process-calls.ts): no SDK stack resolved at all.
    { client: 'lean', make: inProcessDynamo, resolutions: 0 },
  ])(
    'resolves a command class once at most and still sends, marshals and answers each command as its own ($client)',
    async ({ make, resolutions }) => {
      const table = serveTable();
      try {
        const doc = documentClient(make());
        expect(doc).toBeInstanceOf(DocumentClient);
        const resolved = {
          get: vi.spyOn(GetItemCommand.prototype, 'resolveMiddleware'),
          put: vi.spyOn(PutItemCommand.prototype, 'resolveMiddleware'),
        };
        const ids = ['a', 'bb', 'ccc', 'dddd', 'eeeee', 'ffffff'];
        // Document values (numbers, lists, maps, an undefined field dropped) marshalled per command.
        for (const [i, pk] of ids.entries()) {
          await doc.send(
            new PutCommand({
              TableName: 't',
              Item: { pk, n: i, tags: [pk, i], nested: { at: i * 10 }, gone: undefined },
            }),
          );
        }
        // Sequential and overlapping reads, each of its own key, answered out of order.
        const first = await doc.send(new GetCommand({ TableName: 't', Key: { pk: 'bb' } }));
        const all = await Promise.all(
          [...ids].reverse().map((pk) => doc.send(new GetCommand({ TableName: 't', Key: { pk } }))),
        );
        expect(first.Item).toEqual({ pk: 'bb', n: 1, tags: ['bb', 1], nested: { at: 10 } });
        expect(all.map((r) => r.Item)).toEqual(
          [...ids].reverse().map((pk) => ({
            pk,
            n: ids.indexOf(pk),
            tags: [pk, ids.indexOf(pk)],
            nested: { at: ids.indexOf(pk) * 10 },
          })),
        );
        // Each request carried its own key, marshalled.
        const keys = table.requests
          .map((r) => JSON.parse(r.body) as { Key?: unknown })
          .flatMap((b) => (b.Key ? [b.Key] : []));
        expect(keys).toEqual([{ pk: { S: 'bb' } }, ...[...ids].reverse().map((pk) => ({ pk: { S: pk } }))]);
        // One resolution per command class, not one per call.
        expect(resolved.put).toHaveBeenCalledTimes(resolutions);
        expect(resolved.get).toHaveBeenCalledTimes(resolutions);
        // A call with options (an abort signal) is sent as lib-dynamodb sends it: resolved for itself.
        const aborted = await doc.send(new GetCommand({ TableName: 't', Key: { pk: 'a' } }), {
          abortSignal: new AbortController().signal,
        });
        expect(aborted.Item).toMatchObject({ pk: 'a', n: 0 });
        expect(resolved.get).toHaveBeenCalledTimes(resolutions + 1);
      } finally {
        table.stop();
      }
    },
  );

  it('fails a call as the SDK does (the service error, by name), and the next call of the class still works', async () => {
    const stop = serveInProcess(
      ORIGIN,
      async (request): Promise<InProcessResponse> =>
        request.body.includes('"missing"')
          ? {
              statusCode: 400,
              headers: { 'content-type': 'application/x-amz-json-1.0' },
              body: JSON.stringify({
                __type: 'com.amazonaws.dynamodb.v20120810#ResourceNotFoundException',
                message: 'Requested resource not found',
              }),
            }
          : { statusCode: 200, headers: {}, body: JSON.stringify({ Item: { pk: { S: 'x' } } }) },
    );
    try {
      const doc = documentClient(inProcessDynamo());
      await expect(
        doc.send(new GetCommand({ TableName: 'missing', Key: { pk: 'x' } })),
      ).rejects.toMatchObject({
        name: 'ResourceNotFoundException',
      });
      expect((await doc.send(new GetCommand({ TableName: 'there', Key: { pk: 'x' } }))).Item).toEqual({
        pk: 'x',
      });
    } finally {
      stop();
    }
  });
});

describe('tunedClient', () => {
  it('caches the middleware of SQS, Step Functions and Lambda-style clients, never of DynamoDB or S3', () => {
    const sqs = tunedClient(new SQSClient({ region: REGION, credentials: CREDENTIALS }));
    const sfn = tunedClient(new SFNClient({ region: REGION, credentials: CREDENTIALS }));
    const s3 = tunedClient(new S3Client({ region: REGION, credentials: CREDENTIALS }));
    const dynamodb = tunedClient(new DynamoDBClient({ region: REGION, credentials: CREDENTIALS }));
    expect((sqs.config as { cacheMiddleware?: boolean }).cacheMiddleware).toBe(true);
    expect((sfn.config as { cacheMiddleware?: boolean }).cacheMiddleware).toBe(true);
    // S3's endpoint is a bucket's, written in the context the calls of a cached stack share.
    expect((s3.config as { cacheMiddleware?: boolean }).cacheMiddleware).toBeUndefined();
    // lib-dynamodb refuses a low-level client with the option; the document client wraps this one.
    expect((dynamodb.config as { cacheMiddleware?: boolean }).cacheMiddleware).toBeUndefined();
    expect(() => documentClient(dynamodb)).not.toThrow();
  });

  it('drops the user agent of a client served in process only', () => {
    const stop = serveInProcess(ORIGIN, async () => ({ statusCode: 200, headers: {}, body: '{}' }));
    try {
      const served = tunedClient(
        new SQSClient({
          region: REGION,
          endpoint: ORIGIN,
          credentials: CREDENTIALS,
          ...inProcessClientConfig(ORIGIN, { service: 'sqs', region: REGION }),
        }),
      );
      const overHttp = tunedClient(new SQSClient({ region: REGION, endpoint: 'http://127.0.0.1:10' }));
      expect(middlewareOf(served)).not.toContain('getUserAgentMiddleware');
      expect(middlewareOf(overHttp)).toContain('getUserAgentMiddleware');
      // Nothing else goes: the two stacks differ by the user agent, and by the shortcut of the lean calls
      // (in-process-calls.ts) in front of the one served in process.
      expect(middlewareOf(served)[0]).toBe('inProcessShortcut');
      expect(middlewareOf(overHttp).filter((name) => name !== 'getUserAgentMiddleware')).toEqual(
        middlewareOf(served).filter((name) => name !== 'inProcessShortcut'),
      );
    } finally {
      stop();
    }
  });
});
