/**
 * The lean calls of clients served in process (in-process-calls.ts) answer as the SDK does. DynamoDB's document
 * client: every item operation's output, unmarshalled, and every error, compared with lib-dynamodb's own client
 * sending the same command to the same dynalite; retried with the client's strategy; used only where its
 * conditions hold. SQS and Step Functions: the same requests and the same answers and errors as the SDK's stack,
 * for the same answers of a server; a long poll aborted.
 */
import { createHash } from 'node:crypto';
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
  TaskTimedOut,
} from '@aws-sdk/client-sfn';
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageBatchCommand,
  QueueDoesNotExist,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import {
  BatchGetCommand,
  BatchWriteCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { ConfiguredRetryStrategy } from '@smithy/core/retry';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { documentClient } from '../../../shared/adapters/dynamodb/client';
import { type LeanConfig, leanHandler, servedLean } from '../../../shared/adapters/in-process-calls';
import {
  type InProcessRequest,
  type InProcessResponse,
  inProcessClientConfig,
  serveInProcess,
} from '../../../shared/adapters/in-process-transport';
import { tunedClient } from '../../../shared/adapters/sdk-client';
import {
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  type LocalDynalite,
  startDynalite,
  tableDefinitions,
} from '../../../shared/local/runtime/emulators';

const TABLE = 'lean-tasks';
const SCOPE = { service: 'dynamodb', region: LOCAL_REGION };

let dynalite: LocalDynalite;
let origin: string;
let unserve: () => void;
let low: DynamoDBClient;
/** The orchestrator's document client: lean. */
let lean: DynamoDBDocumentClient;
/** lib-dynamodb's own, over a client of the same endpoint: the SDK's whole stack. */
let sdk: DynamoDBDocumentClient;
const translateConfig = {
  marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
  unmarshallOptions: { wrapNumbers: false },
};

function inProcessClient(extra: Partial<ConstructorParameters<typeof DynamoDBClient>[0]> = {}) {
  return tunedClient(
    new DynamoDBClient({
      region: LOCAL_REGION,
      endpoint: origin,
      credentials: LOCAL_CREDENTIALS,
      ...inProcessClientConfig(origin, SCOPE),
      ...extra,
    }),
  );
}

beforeAll(async () => {
  const [tasks] = tableDefinitions(TABLE, 'lean-agents');
  dynalite = await startDynalite(undefined, tasks ? [tasks] : []);
  origin = `http://127.0.0.1:${dynalite.port}`;
  unserve = serveInProcess(origin, dynalite.serve);
  low = inProcessClient();
  lean = documentClient(low);
  sdk = DynamoDBDocumentClient.from(inProcessClient(), translateConfig);
});

afterAll(async () => {
  unserve();
  low.destroy();
  sdk.destroy();
  await dynalite.stop();
});

/** An output without what differs between two calls: the request id, BatchGetItem's order of items. */
function comparable(output: unknown): unknown {
  const { $metadata, ...rest } = output as { $metadata: Record<string, unknown>; Responses?: object };
  const { requestId, ...metadata } = $metadata;
  expect(typeof requestId).toBe('string');
  const responses = rest.Responses as Record<string, { sk: string }[]> | undefined;
  if (responses) for (const items of Object.values(responses)) items.sort((a, b) => a.sk.localeCompare(b.sk));
  return { ...rest, $metadata: metadata };
}

/**
 * Sends `make()` through both clients (the SDK's first, each after `reset`, for a write) and expects the same
 * answer; returns the lean one.
 */
async function same<T>(
  make: () => object,
  reset: () => Promise<unknown> = async () => undefined,
): Promise<T> {
  await reset();
  const expected = await sdk.send(make() as never);
  await reset();
  const actual = await lean.send(make() as never);
  expect(comparable(actual)).toEqual(comparable(expected));
  return actual as T;
}

/** Sends `make()` through both clients and expects the same error; returns the lean one's. */
async function sameError(make: () => object) {
  const expected = await sdk.send(make() as never).then(
    () => expect.unreachable('the SDK answered'),
    (error: unknown) => error as Error & Record<string, unknown>,
  );
  const actual = await lean.send(make() as never).then(
    () => expect.unreachable('the lean call answered'),
    (error: unknown) => error as Error & Record<string, unknown>,
  );
  expect(actual.constructor).toBe(expected.constructor);
  // The raw answer, hidden on the error as the SDK hides it.
  expect(actual.$response).toMatchObject({
    statusCode: (expected.$response as { statusCode: number }).statusCode,
  });
  expect(Object.keys(actual)).not.toContain('$response');
  expect({ ...actual, message: actual.message, name: actual.name }).toEqual({
    ...expected,
    message: expected.message,
    name: expected.name,
    $metadata: {
      ...(expected.$metadata as object),
      requestId: (actual.$metadata as { requestId: string }).requestId,
    },
  });
  return actual;
}

const key = (sk: string) => ({ pk: 'BATCH#lean', sk });
const item = (sk: string) => ({
  ...key(sk),
  listPk: 'BATCHES',
  listSk: sk,
  text: 'a "quoted" \\ text with "B": in it, and unicode: é ✓',
  count: 7,
  ratio: 0.25,
  big: 12345678901234,
  negative: -3,
  yes: true,
  nothing: null,
  list: [1, 'two', { three: [3] }, []],
  map: { nested: { deeper: 'x' }, empty: {} },
  strings: new Set(['a', 'b']),
  numbers: new Set([1, 2.5]),
});

describe('lean item calls of a DocumentClient served in process', () => {
  it('is used for tunedClient in-process DynamoDB clients only', () => {
    expect(servedLean(low.config as unknown as LeanConfig, low.middlewareStack)).toBe(true);
    // A middleware of its own (a tracer's): the SDK's stack, which runs it.
    const traced = inProcessClient();
    traced.middlewareStack.add((next) => (args) => next(args), { step: 'build', name: 'tracer' });
    expect(servedLean(traced.config as unknown as LeanConfig, traced.middlewareStack)).toBe(false);
    traced.destroy();
    // Not served in process (AWS, LocalStack): the SDK's.
    const remote = tunedClient(
      new DynamoDBClient({ region: LOCAL_REGION, endpoint: origin, credentials: LOCAL_CREDENTIALS }),
    );
    expect(servedLean(remote.config as unknown as LeanConfig, remote.middlewareStack)).toBe(false);
    remote.destroy();
    // An operation outside the item calls: none.
    expect(
      leanHandler(
        low.config as unknown as LeanConfig,
        { schema: [9, 'x', 'DescribeTable', 0, 0, 0] },
        undefined,
      ),
    ).toBe(undefined);
  });

  it('never asks the SDK to serialize, and answers each item operation as the SDK does', async () => {
    const serialize = vi.spyOn(
      low.config.protocol as unknown as { serializeRequest: () => unknown },
      'serializeRequest',
    );
    await same(() => new PutCommand({ TableName: TABLE, Item: item('t1') }));
    await same(() => new PutCommand({ TableName: TABLE, Item: item('t1'), ReturnValues: 'ALL_OLD' }));
    await same(() => new PutCommand({ TableName: TABLE, Item: item('t2'), ReturnConsumedCapacity: 'TOTAL' }));
    const got = await same<{ Item: unknown }>(() => new GetCommand({ TableName: TABLE, Key: key('t1') }));
    expect(got.Item).toEqual(item('t1'));
    await same(() => new GetCommand({ TableName: TABLE, Key: key('missing') }));
    await same(
      () =>
        new GetCommand({
          TableName: TABLE,
          Key: key('t1'),
          ProjectionExpression: '#t, #l[2].three, #m.nested',
          ExpressionAttributeNames: { '#t': 'text', '#l': 'list', '#m': 'map' },
          ConsistentRead: true,
        }),
    );
    for (const ReturnValues of ['ALL_NEW', 'UPDATED_OLD', 'NONE'] as const) {
      await same(
        () =>
          new UpdateCommand({
            TableName: TABLE,
            Key: key('t1'),
            UpdateExpression: 'ADD #c :one SET #y = :no',
            ExpressionAttributeNames: { '#c': 'count', '#y': 'yes' },
            ExpressionAttributeValues: { ':one': 1, ':no': false },
            ReturnValues,
          }),
        () => sdk.send(new PutCommand({ TableName: TABLE, Item: item('t1') })),
      );
    }
    await same(
      () =>
        new QueryCommand({
          TableName: TABLE,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :t)',
          ExpressionAttributeValues: { ':pk': 'BATCH#lean', ':t': 't' },
          Limit: 1,
          ReturnConsumedCapacity: 'TOTAL',
        }),
    );
    await same(
      () =>
        new QueryCommand({
          TableName: TABLE,
          IndexName: 'byCreatedAt',
          KeyConditionExpression: 'listPk = :b',
          ExpressionAttributeValues: { ':b': 'BATCHES' },
          ScanIndexForward: false,
        }),
    );
    await same(
      () =>
        new ScanCommand({
          TableName: TABLE,
          FilterExpression: '#c > :n',
          ExpressionAttributeNames: { '#c': 'count' },
          ExpressionAttributeValues: { ':n': 7 },
        }),
    );
    await same(
      () =>
        new BatchWriteCommand({
          RequestItems: {
            [TABLE]: [{ PutRequest: { Item: item('t3') } }, { DeleteRequest: { Key: key('t2') } }],
          },
        }),
    );
    await same(
      () =>
        new BatchGetCommand({ RequestItems: { [TABLE]: { Keys: [key('t1'), key('t3'), key('missing')] } } }),
    );
    await same(
      () => new DeleteCommand({ TableName: TABLE, Key: key('t3'), ReturnValues: 'ALL_OLD' }),
      () => sdk.send(new PutCommand({ TableName: TABLE, Item: item('t3') })),
    );
    expect(serialize).not.toHaveBeenCalled();
    serialize.mockRestore();
  });

  it('answers binary values as the SDK does, both ways', async () => {
    const binary = () =>
      new PutCommand({
        TableName: TABLE,
        Item: {
          ...key('bin'),
          one: new Uint8Array([0, 1, 254, 255]),
          set: new Set([new Uint8Array([7])]),
          // A Buffer (whose toJSON would write it as { type, data }) and a view into a larger buffer.
          buffer: Buffer.from([9, 8, 7]),
          view: new Uint8Array([1, 2, 3, 4, 5]).subarray(1, 3),
        },
      });
    await same(binary);
    const got = await same<{ Item: Record<string, unknown> }>(
      () => new GetCommand({ TableName: TABLE, Key: key('bin') }),
    );
    expect(got.Item.one).toEqual(new Uint8Array([0, 1, 254, 255]));
    expect(got.Item.buffer).toEqual(new Uint8Array([9, 8, 7]));
    expect(got.Item.view).toEqual(new Uint8Array([2, 3]));
  });

  it("throws the SDK's own errors", async () => {
    await lean.send(new PutCommand({ TableName: TABLE, Item: item('t4') }));
    const failed = await sameError(
      () =>
        new PutCommand({
          TableName: TABLE,
          Item: key('t4'),
          ConditionExpression: 'attribute_not_exists(pk)',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
    );
    expect(failed).toBeInstanceOf(ConditionalCheckFailedException);
    expect(failed.$fault).toBe('client');
    await sameError(
      () => new UpdateCommand({ TableName: TABLE, Key: key('t4'), UpdateExpression: 'SET #a = ' }),
    );
    await sameError(() => new GetCommand({ TableName: 'no-such-table', Key: key('t4') }));
  });
});

describe('lean item calls against a server answering in turn', () => {
  const ORIGIN = 'http://127.0.0.1:4';
  const JSON_TYPE = { 'content-type': 'application/x-amz-json-1.0' };

  it("retry with the client's strategy and send the wire format the SDK sends", async () => {
    const requests: InProcessRequest[] = [];
    const answers: InProcessResponse[] = [
      {
        statusCode: 500,
        headers: JSON_TYPE,
        body: JSON.stringify({
          __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError',
          message: 'x',
        }),
      },
      { statusCode: 200, headers: JSON_TYPE, body: '{"Item":{"pk":{"S":"a"},"n":{"N":"2"}}}' },
    ];
    const end = serveInProcess(ORIGIN, async (request) => {
      requests.push(request);
      return answers[requests.length - 1] as InProcessResponse;
    });
    const client = tunedClient(
      new DynamoDBClient({
        region: LOCAL_REGION,
        endpoint: ORIGIN,
        credentials: LOCAL_CREDENTIALS,
        retryStrategy: new ConfiguredRetryStrategy(3, () => 1),
        ...inProcessClientConfig(ORIGIN, SCOPE),
      }),
    );
    try {
      const got = await documentClient(client).send(new GetCommand({ TableName: 't', Key: { pk: 'a' } }));
      expect(got.Item).toEqual({ pk: 'a', n: 2 });
      expect(got.$metadata).toMatchObject({ httpStatusCode: 200, attempts: 2 });
      expect(requests).toHaveLength(2);
      for (const request of requests) {
        expect(request).toMatchObject({ method: 'POST', path: '/' });
        expect(JSON.parse(request.body)).toEqual({ TableName: 't', Key: { pk: { S: 'a' } } });
        expect(request.headers).toMatchObject({
          'content-type': 'application/x-amz-json-1.0',
          'x-amz-target': 'DynamoDB_20120810.GetItem',
        });
        expect(request.headers.authorization).toMatch(
          /^AWS4-HMAC-SHA256 Credential=.+\/us-east-1\/dynamodb\//,
        );
        expect(request.headers['x-amz-date']).toMatch(/^\d{8}T\d{6}Z$/);
      }
    } finally {
      end();
      client.destroy();
    }
  });
});

describe('lean SQS and Step Functions calls of clients served in process', () => {
  const ORIGIN = 'http://127.0.0.1:6';
  const QUEUE = `${ORIGIN}/000000000000/q`;
  const JSON_TYPE = { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': 'req-1' };
  const ok = (body: object): InProcessResponse => ({
    statusCode: 200,
    headers: JSON_TYPE,
    body: JSON.stringify(body),
  });

  /** A client of `make` served in process by `answer`; with `traced`, a middleware of its own (the SDK's stack). */
  function served<C extends SQSClient | SFNClient>(
    make: (config: object) => C,
    service: string,
    traced: boolean,
  ): C {
    const client = tunedClient(
      make({
        region: LOCAL_REGION,
        endpoint: ORIGIN,
        credentials: LOCAL_CREDENTIALS,
        retryStrategy: new ConfiguredRetryStrategy(3, () => 1),
        ...inProcessClientConfig(ORIGIN, { service, region: LOCAL_REGION }),
      }),
    );
    if (traced)
      (client.middlewareStack as unknown as { add(middleware: unknown, options: object): void }).add(
        (next: (args: unknown) => unknown) => (args: unknown) => next(args),
        { step: 'build', name: 'tracer' },
      );
    return client;
  }

  /** What differs between two sends of one request: its date and signature. */
  const comparableRequest = ({ headers, ...rest }: InProcessRequest) => {
    const { 'x-amz-date': date, authorization, ...others } = headers;
    expect(date).toMatch(/^\d{8}T\d{6}Z$/);
    expect(authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=/);
    return { ...rest, headers: others };
  };

  /**
   * Sends `command()` through an SDK-stack client and a lean one of `make`, the server answering `answer` to
   * each, and expects the same requests and the same answer or error; returns the lean answer or error.
   */
  async function sameCall(
    make: (config: object) => {
      send(command: never): Promise<unknown>;
      destroy(): void;
      middlewareStack: never;
    },
    service: string,
    command: () => object,
    answer: InProcessResponse,
  ): Promise<{ output?: Record<string, unknown>; error?: Error & Record<string, unknown> }> {
    const results: {
      requests: InProcessRequest[];
      output?: unknown;
      error?: Error & Record<string, unknown>;
    }[] = [];
    for (const traced of [true, false]) {
      const requests: InProcessRequest[] = [];
      const end = serveInProcess(ORIGIN, async (request) => {
        requests.push(request);
        return answer;
      });
      const client = served(make as never, service, traced) as unknown as {
        send(command: never): Promise<unknown>;
        destroy(): void;
        config: { protocol: { serializeRequest: () => unknown } };
      };
      const serialize = vi.spyOn(client.config.protocol, 'serializeRequest');
      try {
        const output = await client.send(command() as never);
        results.push({ requests, output });
      } catch (error) {
        results.push({ requests, error: error as Error & Record<string, unknown> });
      } finally {
        // The SDK's stack serializes; the lean call does not.
        expect(serialize.mock.calls.length > 0).toBe(traced);
        end();
        client.destroy();
      }
    }
    const [sdk, lean] = results as [(typeof results)[0], (typeof results)[0]];
    expect(lean.requests.map(comparableRequest)).toEqual(sdk.requests.map(comparableRequest));
    if (sdk.error) {
      expect(lean.error?.constructor).toBe(sdk.error.constructor);
      expect({ ...lean.error, message: lean.error?.message }).toEqual({
        ...sdk.error,
        message: sdk.error.message,
      });
      return { error: lean.error };
    }
    expect(lean.output).toEqual(sdk.output);
    return { output: lean.output as Record<string, unknown> };
  }

  const md5 = (text: string) => createHash('md5').update(text).digest('hex');
  const sqs = (config: object) => new SQSClient(config);
  const sfn = (config: object) => new SFNClient(config);

  it('send and parse as the SDK does, binary message attributes included', async () => {
    const sent = await sameCall(
      sqs as never,
      'sqs',
      () =>
        new SendMessageCommand({
          QueueUrl: QUEUE,
          MessageBody: '{"task":"t1"}',
          DelaySeconds: 0,
          MessageAttributes: {
            kind: { DataType: 'String', StringValue: 'dispatch' },
            blob: { DataType: 'Binary', BinaryValue: new Uint8Array([1, 2, 255]) },
          },
        }),
      ok({ MessageId: 'm-1', MD5OfMessageBody: md5('{"task":"t1"}') }),
    );
    expect(sent.output).toMatchObject({ MessageId: 'm-1', $metadata: { requestId: 'req-1', attempts: 1 } });
    const message = {
      MessageId: 'm-1',
      ReceiptHandle: 'r-1',
      Body: '{"task":"t1"}',
      MD5OfBody: md5('{"task":"t1"}'),
      Attributes: { ApproximateReceiveCount: '1' },
    };
    await sameCall(
      sqs as never,
      'sqs',
      () => new ReceiveMessageCommand({ QueueUrl: QUEUE, WaitTimeSeconds: 0 }),
      ok({ Messages: [message] }),
    );
    // A binary attribute in the answer: the SDK's parser reads it (bytes), the same either way.
    const received = await sameCall(
      sqs as never,
      'sqs',
      () => new ReceiveMessageCommand({ QueueUrl: QUEUE, MessageAttributeNames: ['All'] }),
      ok({
        Messages: [{ ...message, MessageAttributes: { blob: { DataType: 'Binary', BinaryValue: 'AQL/' } } }],
      }),
    );
    expect(
      (received.output as { Messages: { MessageAttributes: { blob: { BinaryValue: unknown } } }[] })
        .Messages[0]?.MessageAttributes.blob.BinaryValue,
    ).toEqual(new Uint8Array([1, 2, 255]));
    await sameCall(
      sqs as never,
      'sqs',
      () => new DeleteMessageBatchCommand({ QueueUrl: QUEUE, Entries: [{ Id: '0', ReceiptHandle: 'r-1' }] }),
      ok({ Successful: [{ Id: '0' }], Failed: [] }),
    );
    await sameCall(
      sqs as never,
      'sqs',
      () =>
        new ChangeMessageVisibilityCommand({ QueueUrl: QUEUE, ReceiptHandle: 'r-1', VisibilityTimeout: 5 }),
      ok({}),
    );
    await sameCall(
      sfn as never,
      'states',
      () => new SendTaskSuccessCommand({ taskToken: 'token-1', output: '{"decision":"DISPATCH"}' }),
      ok({}),
    );
    await sameCall(
      sfn as never,
      'states',
      () => new SendTaskHeartbeatCommand({ taskToken: 'token-1' }),
      ok({}),
    );
  });

  it("throw the SDK's own errors (SQS's query-compatible codes too)", async () => {
    const missing = await sameCall(
      sqs as never,
      'sqs',
      () => new SendMessageCommand({ QueueUrl: QUEUE, MessageBody: 'b' }),
      {
        statusCode: 400,
        headers: { ...JSON_TYPE, 'x-amzn-query-error': 'AWS.SimpleQueueService.NonExistentQueue;Sender' },
        body: JSON.stringify({ __type: 'com.amazonaws.sqs#QueueDoesNotExist', message: 'no queue' }),
      },
    );
    expect(missing.error).toBeInstanceOf(QueueDoesNotExist);
    const timedOut = await sameCall(
      sfn as never,
      'states',
      () => new SendTaskFailureCommand({ taskToken: 'token-1', error: 'E', cause: 'c' }),
      {
        statusCode: 400,
        headers: JSON_TYPE,
        body: JSON.stringify({ __type: 'com.amazonaws.sfn#TaskTimedOut', message: 'timed out' }),
      },
    );
    expect(timedOut.error).toBeInstanceOf(TaskTimedOut);
    expect(timedOut.error?.$metadata).toMatchObject({ httpStatusCode: 400, attempts: 1 });
  });

  it('end a long poll at once when its call is aborted', async () => {
    const end = serveInProcess(ORIGIN, () => new Promise<never>(() => undefined));
    const client = served(sqs, 'sqs', false);
    try {
      const abort = new AbortController();
      const polling = client.send(new ReceiveMessageCommand({ QueueUrl: QUEUE, WaitTimeSeconds: 20 }), {
        abortSignal: abort.signal,
      });
      abort.abort();
      await expect(polling).rejects.toMatchObject({ name: 'AbortError' });
    } finally {
      end();
      client.destroy();
    }
  });
});
