import diagnostics from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
} from '@aws-sdk/client-dynamodb';
import { SendTaskSuccessCommand, SFNClient, TaskDoesNotExist } from '@aws-sdk/client-sfn';
import { QueueDoesNotExist, ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it } from 'vitest';
import { TASKS_TABLE } from '../../../shared/adapters/dynamodb/tables';
import {
  InProcessHttpHandler,
  InProcessSigner,
  inProcessClientConfig,
  inProcessConfigFromEnv,
  serveInProcess,
  whenQuiet,
  whenStoreQuiet,
} from '../../../shared/adapters/in-process-transport';
import { resolveRoles } from '../../../shared/domain/roles';
import type { Batch } from '../../../shared/domain/schemas';
import { type Emulators, LOCAL_CREDENTIALS, startEmulators } from '../../../shared/local/runtime/emulators';
import { startSfnEndpoint } from '../../../shared/local/runtime/sfn-endpoint';
import { SfnApiError } from '../../../shared/local/runtime/token-registry';
import { EmbeddedSystem } from '../../../shared/local/system';

/** Every HTTP request this process starts, by port, while `body` runs. */
async function httpRequestsDuring<T>(body: () => Promise<T>): Promise<{ result: T; ports: number[] }> {
  const ports: number[] = [];
  const seen = (message: unknown) => {
    const request = (message as { request: ClientRequest }).request;
    const host = String(request.getHeader('host') ?? '');
    ports.push(Number(host.split(':')[1]));
  };
  diagnostics.subscribe('http.client.request.start', seen);
  try {
    return { result: await body(), ports };
  } finally {
    diagnostics.unsubscribe('http.client.request.start', seen);
  }
}

/** A request with no query, headers or body. */
const PLAIN = { method: 'POST', protocol: 'http:', hostname: '127.0.0.1', path: '/', headers: {}, body: '' };

describe('in-process transport', () => {
  let emulators: Emulators | undefined;
  const ends: (() => void)[] = [];
  afterEach(async () => {
    for (const end of ends.splice(0)) end();
    await emulators?.stop();
    emulators = undefined;
  });

  it('serves a registered origin in process and leaves others to the SDK HTTP handler', async () => {
    const origin = 'http://127.0.0.1:1';
    const scope = { service: 'states', region: 'us-east-1' };
    expect(inProcessClientConfig(origin, scope)).toEqual({});
    const end = serveInProcess(`${origin}/`, async () => ({ statusCode: 200, headers: {}, body: '' }));
    ends.push(end);
    expect(inProcessClientConfig(origin, scope).requestHandler).toBeInstanceOf(InProcessHttpHandler);
    expect(inProcessClientConfig(origin, scope).signer).toBeInstanceOf(InProcessSigner);
    expect(inProcessConfigFromEnv('SFN', { AWS_ENDPOINT_URL_SFN: origin }).requestHandler).toBeDefined();
    // The service variable wins over the general one, as in the SDK.
    expect(
      inProcessConfigFromEnv('SFN', { AWS_ENDPOINT_URL_SFN: 'http://127.0.0.1:2', AWS_ENDPOINT_URL: origin }),
    ).toEqual({});
    expect(inProcessConfigFromEnv('DYNAMODB', { AWS_ENDPOINT_URL: origin }).requestHandler).toBeDefined();
    // Signed for the service named and the environment's region.
    const fromEnv = inProcessConfigFromEnv('SQS', {
      AWS_ENDPOINT_URL_SQS: origin,
      AWS_REGION: 'eu-central-1',
    });
    const signed = await fromEnv.signer?.sign(
      { headers: {} },
      { signingDate: new Date('2026-01-02T03:04:05Z') },
    );
    const signedAt = async (iso: string) =>
      (await fromEnv.signer?.sign({ headers: {} }, { signingDate: new Date(iso) }))?.headers;
    const headersOf = (date: string) => ({
      'x-amz-date': date,
      authorization: `AWS4-HMAC-SHA256 Credential=in-process/${date.slice(0, 8)}/eu-central-1/sqs/aws4_request, SignedHeaders=host;x-amz-date, Signature=${'0'.repeat(64)}`,
    });
    expect(signed?.headers).toEqual(headersOf('20260102T030405Z'));
    // The headers are kept for the second signed in: the same within it, the new second's after it (or before).
    expect(await signedAt('2026-01-02T03:04:05.999Z')).toEqual(headersOf('20260102T030405Z'));
    expect(await signedAt('2026-01-02T03:04:06.000Z')).toEqual(headersOf('20260102T030406Z'));
    expect(await signedAt('2025-12-31T23:59:59.500Z')).toEqual(headersOf('20251231T235959Z'));
    const unsigned: { headers: Record<string, string> } = { headers: {} };
    const now = (await fromEnv.signer?.sign(unsigned))?.headers['x-amz-date'] ?? '';
    expect(
      Math.abs(
        Date.parse(now.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z')) -
          Date.now(),
      ),
    ).toBeLessThan(5_000);
    expect(inProcessClientConfig('not a url', scope)).toEqual({});
    end();
    expect(inProcessClientConfig(origin, scope)).toEqual({});
  });

  it('passes the method, the path with its query, lower-case headers and the body', async () => {
    const origin = 'http://127.0.0.1:3';
    const seen: unknown[] = [];
    ends.push(
      serveInProcess(origin, async (request) => {
        seen.push(request);
        return { statusCode: 201, headers: { 'x-answer': 'yes' }, body: 'done' };
      }),
    );
    const handler = new InProcessHttpHandler(origin);
    const { response } = await handler.handle({
      method: 'POST',
      protocol: 'http:',
      hostname: '127.0.0.1',
      port: 3,
      path: '/a',
      query: { b: 'c d', e: ['1', '2'], f: null },
      headers: { 'X-Amz-Target': 'Svc.Op' },
      body: new TextEncoder().encode('{"k":1}'),
    });
    expect(seen).toEqual([
      { method: 'POST', path: '/a?b=c+d&e=1&e=2&f=', headers: { 'x-amz-target': 'Svc.Op' }, body: '{"k":1}' },
    ]);
    expect(response.statusCode).toBe(201);
    expect(response.headers).toEqual({ 'x-answer': 'yes' });
    expect(new TextDecoder().decode(response.body as Uint8Array)).toBe('done');
    // Without a query, the path as it is; with `asText`, the answer's text as it came.
    const { response: text } = await handler.handle({ ...PLAIN, query: {} }, { asText: true });
    expect(text.body).toBe('done');
    await handler.handle(PLAIN);
    expect(seen.slice(1).map((request) => (request as { path: string }).path)).toEqual(['/', '/']);
  });

  it('writes the headers of a SigV4-signed request without computing the signature', async () => {
    const origin = 'http://127.0.0.1:5';
    const headers: Record<string, string>[] = [];
    ends.push(
      serveInProcess(origin, async (request) => {
        headers.push({ ...request.headers });
        return { statusCode: 200, headers: { 'content-type': 'application/x-amz-json-1.0' }, body: '{}' };
      }),
    );
    const client = new DynamoDBClient({
      region: 'eu-west-1',
      endpoint: origin,
      credentials: LOCAL_CREDENTIALS,
      ...inProcessClientConfig(origin, { service: 'dynamodb', region: 'eu-west-1' }),
    });
    await client.send(new GetItemCommand({ TableName: 't', Key: { pk: { S: 'a' } } }));
    client.destroy();
    const [sent] = headers;
    const date = sent?.['x-amz-date'] ?? '';
    expect(date).toMatch(/^\d{8}T\d{6}Z$/);
    expect(sent?.authorization).toBe(
      `AWS4-HMAC-SHA256 Credential=in-process/${date.slice(0, 8)}/eu-west-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=${'0'.repeat(64)}`,
    );
  });

  it('tells when an origin served in process has had no call in flight for a while, at most after a bound', async () => {
    const origin = 'http://127.0.0.1:3';
    const answers: (() => void)[] = [];
    ends.push(
      serveInProcess(
        origin,
        () =>
          new Promise((resolve) => answers.push(() => resolve({ statusCode: 200, headers: {}, body: '' }))),
      ),
    );
    const handler = new InProcessHttpHandler(origin);
    const call = () => handler.handle(PLAIN);
    const settledWithin = async (promise: Promise<unknown>, ms: number) =>
      Promise.race([
        promise.then(() => true),
        new Promise((resolve) => setTimeout(() => resolve(false), ms)),
      ]);

    // Not served here (AWS): nothing to wait for.
    expect(await settledWithin(whenQuiet('http://127.0.0.1:4', 60_000, 60_000), 0)).toBe(true);
    const calling = call();
    const quiet = whenQuiet(origin, 5, 60_000);
    // A call in flight: not quiet, however long it takes.
    expect(await settledWithin(quiet, 50)).toBe(false);
    answers.shift()?.();
    await calling;
    expect(await settledWithin(quiet, 1_000)).toBe(true);
    // A call kept in flight: quiet at the bound anyway.
    const kept = call();
    expect(await settledWithin(whenQuiet(origin, 5, 30), 1_000)).toBe(true);
    // The store of an environment: its DynamoDB endpoint, else its general one; none, nothing to wait for.
    expect(await settledWithin(whenStoreQuiet({ AWS_ENDPOINT_URL_DYNAMODB: origin }), 0)).toBe(false);
    expect(await settledWithin(whenStoreQuiet({ AWS_ENDPOINT_URL: origin }), 0)).toBe(false);
    expect(await settledWithin(whenStoreQuiet({ AWS_ENDPOINT_URL_DYNAMODB: origin }), 1_000)).toBe(true);
    expect(await settledWithin(whenStoreQuiet({}), 0)).toBe(true);
    answers.shift()?.();
    await kept;
  });

  it('refuses a request once its origin is no longer served, as a closed port would', async () => {
    const origin = 'http://127.0.0.1:4';
    const end = serveInProcess(origin, async () => ({ statusCode: 200, headers: {}, body: '' }));
    const handler = new InProcessHttpHandler(origin);
    end();
    await expect(
      handler.handle({ method: 'GET', protocol: 'http:', hostname: '127.0.0.1', path: '/', headers: {} }),
    ).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('answers DynamoDB calls from dynalite with its items and its named errors, without a socket', async () => {
    emulators = await startEmulators({ roles: ['code_reviewer'] });
    ends.push(serveInProcess(emulators.dynamodbEndpoint, emulators.serveDynamodb));
    const client = new DynamoDBClient({
      region: emulators.region,
      endpoint: emulators.dynamodbEndpoint,
      credentials: LOCAL_CREDENTIALS,
      ...inProcessClientConfig(emulators.dynamodbEndpoint, { service: 'dynamodb', region: emulators.region }),
    });
    const table = emulators.tasksTableName;
    const item = {
      [TASKS_TABLE.partitionKey]: { S: 'BATCH#b' },
      [TASKS_TABLE.sortKey]: { S: 'TASK#t' },
      text: { S: 'é'.repeat(40_000) },
    };
    const { result, ports } = await httpRequestsDuring(async () => {
      await client.send(new PutItemCommand({ TableName: table, Item: item }));
      const got = await client.send(
        new GetItemCommand({ TableName: table, Key: { pk: item.pk, sk: item.sk } }),
      );
      const refused = await client
        .send(
          new PutItemCommand({
            TableName: table,
            Item: item,
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        )
        .catch((error: unknown) => error);
      const queried = await client.send(
        new QueryCommand({
          TableName: table,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': item.pk },
        }),
      );
      return { got, refused, queried };
    });
    expect(ports).toEqual([]);
    expect(result.got.Item?.text?.S).toBe(item.text.S);
    expect(result.refused).toBeInstanceOf(ConditionalCheckFailedException);
    expect(result.queried.Count).toBe(1);

    await emulators.stop();
    emulators = undefined;
    await expect(
      client.send(new GetItemCommand({ TableName: table, Key: { pk: item.pk, sk: item.sk } })),
    ).rejects.toMatchObject({ message: expect.stringContaining('ECONNREFUSED') });
    client.destroy();
  });

  it('answers Step Functions calls with the named error the HTTP endpoint gives', async () => {
    const endpoint = await startSfnEndpoint({
      SendTaskSuccess: () => {
        throw new SfnApiError('TaskDoesNotExist', 'Task does not exist anymore');
      },
      SendTaskFailure: () => ({}),
      SendTaskHeartbeat: () => ({}),
      StartExecution: () => ({}),
      DescribeExecution: () => ({}),
      StopExecution: () => ({}),
    });
    try {
      const config = { region: 'us-east-1', endpoint: endpoint.url, credentials: LOCAL_CREDENTIALS };
      const overHttp = new SFNClient(config);
      ends.push(serveInProcess(endpoint.url, endpoint.serve));
      const inProcess = new SFNClient({
        ...config,
        ...inProcessClientConfig(endpoint.url, { service: 'states', region: 'us-east-1' }),
      });
      const send = (client: SFNClient) =>
        client.send(new SendTaskSuccessCommand({ taskToken: 'x', output: '{}' })).catch((e: unknown) => e);
      const { result, ports } = await httpRequestsDuring(() => send(inProcess));
      expect(ports).toEqual([]);
      expect(result).toBeInstanceOf(TaskDoesNotExist);
      const viaHttp = await send(overHttp);
      expect(viaHttp).toBeInstanceOf(TaskDoesNotExist);
      expect((result as Error).message).toBe((viaHttp as Error).message);
      overHttp.destroy();
      inProcess.destroy();
    } finally {
      await endpoint.close();
    }
  });

  it.each([
    { inProcessTransport: true, overHttp: [] as string[] },
    { inProcessTransport: false, overHttp: ['dynamodb', 'lambda', 'sfn', 'sqs'] },
  ])(
    'runs a batch of `meta-agent run`, in process: $inProcessTransport',
    async ({ inProcessTransport, overHttp }) => {
      const roles = [...resolveRoles().keys()];
      const system = await EmbeddedSystem.start({
        scalerIntervalMs: 0,
        concurrency: 2,
        inProcessTransport,
      });
      try {
        const batch: Batch = {
          tasks: [
            { id: 'a', description: 'Write the schema', role: roles[0] as string },
            { id: 'b', description: 'Review the schema', role: roles[1] as string, dependsOn: ['a'] },
          ],
        };
        const { ports, result } = await httpRequestsDuring(async () => {
          const { batchId } = await system.submit(batch);
          const ended = await system.waitForBatch(batchId, undefined, 20);
          // A scaler pass: its SQS and Lambda calls go through the handler's own clients.
          await system.runScaler();
          return ended;
        });
        expect(result.tasks.map((t) => t.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
        const { emulators, sfnEndpoint, lambdaEndpoint } = system.runtime;
        const byPort = new Map([
          [emulators.dynamodbPort, 'dynamodb'],
          [sfnEndpoint.port, 'sfn'],
          [emulators.sqsPort, 'sqs'],
          [lambdaEndpoint.port, 'lambda'],
        ]);
        const services = new Set(ports.flatMap((port) => byPort.get(port) ?? []));
        expect([...services].sort()).toEqual(overHttp);
      } finally {
        await system.stop();
      }
    },
  );

  it('answers SQS calls from fauxqs, a long poll included, and an aborted poll returns at once', async () => {
    emulators = await startEmulators({ roles: ['code_reviewer'] });
    ends.push(serveInProcess(emulators.sqsEndpoint, emulators.serveSqs));
    const client = new SQSClient({
      region: emulators.region,
      endpoint: emulators.sqsEndpoint,
      credentials: LOCAL_CREDENTIALS,
      ...inProcessClientConfig(emulators.sqsEndpoint, { service: 'sqs', region: emulators.region }),
    });
    const queueUrl = emulators.queues.get('code_reviewer')?.url as string;
    const { result, ports } = await httpRequestsDuring(async () => {
      const polling = client.send(
        new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 5, MessageAttributeNames: ['All'] }),
      );
      await client.send(
        new SendMessageCommand({
          QueueUrl: queueUrl,
          MessageBody: '{"taskId":"t"}',
          MessageAttributes: { kind: { DataType: 'String', StringValue: 'dispatch' } },
        }),
      );
      const received = await polling;
      const missing = await client
        .send(new SendMessageCommand({ QueueUrl: `${queueUrl}-none`, MessageBody: 'x' }))
        .catch((error: unknown) => error);
      return { received, missing };
    });
    expect(ports).toEqual([]);
    expect(result.received.Messages?.map((m) => m.Body)).toEqual(['{"taskId":"t"}']);
    expect(result.received.Messages?.[0]?.MessageAttributes?.kind?.StringValue).toBe('dispatch');
    expect(result.missing).toBeInstanceOf(QueueDoesNotExist);

    const abort = new AbortController();
    const began = performance.now();
    const poll = client
      .send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 5 }), {
        abortSignal: abort.signal,
      })
      .catch((error: unknown) => error);
    setTimeout(() => abort.abort(), 50);
    expect(await poll).toMatchObject({ name: 'AbortError' });
    // Well under the 5 s long poll (the bound is loose: this is not a timing test).
    expect(performance.now() - began).toBeLessThan(4_000);
    client.destroy();
  });
});
