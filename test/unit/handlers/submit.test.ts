import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { BatchWriteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { DocumentClient } from '../../../shared/adapters/dynamodb/client';
import { MAX_DESCRIPTION_CHARS } from '../../../shared/domain/limits';
import { apiEvent, HANDLER_ENV } from '../../support/api-events';

// The handlers' document clients (shared/adapters/dynamodb/client.ts), whose send this replaces.
const ddb = mockClient(DocumentClient);
const sfn = mockClient(SFNClient);
let handler: (event: ReturnType<typeof apiEvent>) => Promise<APIGatewayProxyResult>;

/**
 * A tiny table behind the mocked client: conditional puts, gets, and the batch patch form of updates
 * (`#fN` names set from `:vN`, removed without one), with the creation owner condition.
 */
function fakeTable() {
  const items = new Map<string, Record<string, unknown>>();
  const keyOf = (key: Record<string, unknown>) => `${key.pk}|${key.sk}`;
  ddb.on(PutCommand).callsFake((input) => {
    const key = keyOf(input.Item);
    if (input.ConditionExpression && items.has(key)) {
      throw new ConditionalCheckFailedException({ message: 'condition failed', $metadata: {} });
    }
    items.set(key, structuredClone(input.Item));
    return {};
  });
  ddb.on(BatchWriteCommand).callsFake((input) => {
    for (const request of Object.values(input.RequestItems ?? {}).flat() as {
      PutRequest?: { Item: Record<string, unknown> };
    }[]) {
      if (request.PutRequest) items.set(keyOf(request.PutRequest.Item), request.PutRequest.Item);
    }
    return { UnprocessedItems: {} };
  });
  ddb.on(GetCommand).callsFake((input) => ({ Item: items.get(keyOf(input.Key)) }));
  ddb.on(UpdateCommand).callsFake((input) => {
    const item = items.get(keyOf(input.Key));
    const owner = input.ExpressionAttributeValues?.[':owner'];
    const creation = item?.creation as { owner?: unknown } | undefined;
    if (!item || (owner !== undefined && creation?.owner !== owner)) {
      throw new ConditionalCheckFailedException({ message: 'condition failed', $metadata: {} });
    }
    for (const [alias, field] of Object.entries(input.ExpressionAttributeNames ?? {}) as [string, string][]) {
      if (alias.startsWith('#f')) item[field] = input.ExpressionAttributeValues?.[`:v${alias.slice(2)}`];
    }
    return {};
  });
  return items;
}

const body = (value: unknown) => JSON.stringify(value);
const parse = (response: APIGatewayProxyResult) => JSON.parse(response.body);

beforeAll(async () => {
  for (const [name, value] of Object.entries(HANDLER_ENV)) vi.stubEnv(name, value);
  ({ handler } = await import('../../../functions/submit'));
});

afterAll(() => {
  vi.unstubAllEnvs();
});

beforeEach(() => {
  ddb.reset();
  sfn.reset();
  sfn.on(StartExecutionCommand).callsFake((input) => ({
    executionArn: `arn:aws:states:us-east-1:123456789012:execution:orchestrator:${input.name}`,
    startDate: new Date(0),
  }));
});

describe('submit handler refuses bad input without writing or starting anything', () => {
  const cases: { name: string; body: string; path: RegExp }[] = [
    { name: 'malformed JSON', body: '{"tasks": [', path: /^\$$/ },
    {
      name: 'a dependency cycle',
      body: body({
        tasks: [
          { id: 'a', description: 'x', dependsOn: ['b'] },
          { id: 'b', description: 'y', dependsOn: ['a'] },
        ],
      }),
      path: /^\$\.tasks\[\d\]\.dependsOn/,
    },
    {
      name: 'an unknown dependency',
      body: body({ tasks: [{ id: 'a', description: 'x', dependsOn: ['ghost'] }] }),
      path: /^\$\.tasks\[0\]\.dependsOn\[0\]$/,
    },
    {
      name: 'a duplicate task id',
      body: body({
        tasks: [
          { id: 'a', description: 'x' },
          { id: 'a', description: 'y' },
        ],
      }),
      path: /^\$\.tasks\[1\]\.id$/,
    },
    {
      name: 'an unknown role',
      body: body({ tasks: [{ id: 'a', description: 'x', role: 'wizard' }] }),
      path: /^\$\.tasks\[0\]\.role$/,
    },
    {
      name: 'an oversize description',
      body: body({ tasks: [{ id: 'a', description: 'x'.repeat(MAX_DESCRIPTION_CHARS + 1) }] }),
      path: /^\$\.tasks\[0\]\.description$/,
    },
  ];

  for (const bad of cases) {
    it(`answers 400 with the path for ${bad.name}`, async () => {
      fakeTable();

      const response = await handler(apiEvent({ body: bad.body }));

      expect(response.statusCode).toBe(400);
      const payload = parse(response);
      expect(payload.issues.some((i: { path: string }) => bad.path.test(i.path))).toBe(true);
      expect(ddb.calls()).toHaveLength(0);
      expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
    });
  }
});

describe('submit handler reads a base64-encoded body (a binary media type)', () => {
  const text = body({ tasks: [{ id: 'a', description: 'Café' }] });

  it('as the UTF-8 text it encodes', async () => {
    fakeTable();

    const response = await handler({
      ...apiEvent(),
      body: Buffer.from(text, 'utf8').toString('base64'),
      isBase64Encoded: true,
    });

    expect(response.statusCode, response.body).toBe(202);
  });

  it('refusing one that is not UTF-8 with 400 naming the byte, without writing or starting anything', async () => {
    fakeTable();

    const response = await handler({
      ...apiEvent(),
      body: Buffer.from(text, 'latin1').toString('base64'),
      isBase64Encoded: true,
    });

    expect(response.statusCode).toBe(400);
    expect(parse(response).issues).toEqual([
      { path: '$', message: expect.stringContaining(`not UTF-8 text: byte ${text.indexOf('é')} (line 1)`) },
    ]);
    expect(ddb.calls()).toHaveLength(0);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });
});

describe('submit handler reads the charset its Content-Type names', () => {
  const text = body({ tasks: [{ id: 'a', description: 'Café' }] });

  it('refusing a body in another charset than UTF-8 with 415 naming it, without writing or starting anything', async () => {
    fakeTable();

    const response = await handler(
      apiEvent({
        body: Buffer.from(text, 'latin1').toString('latin1'),
        headers: { 'Content-Type': 'application/json; charset=latin1' },
      }),
    );

    expect(response.statusCode).toBe(415);
    expect(parse(response)).toEqual({
      error: 'UnsupportedMediaType',
      message: expect.stringContaining('names charset "latin1"'),
    });
    expect(ddb.calls()).toHaveLength(0);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it('taking charset=utf-8 (any case, quoted) as the UTF-8 it is', async () => {
    fakeTable();

    const response = await handler(
      apiEvent({ body: text, headers: { 'content-type': 'application/json; charset="UTF-8"' } }),
    );

    expect(response.statusCode, response.body).toBe(202);
  });
});

describe('submit handler', () => {
  const valid = body({
    tasks: [
      {
        id: 'api',
        description: 'write the FastAPI endpoint',
        role: 'python_backend_coder',
        dependsOn: ['schema'],
      },
      { id: 'schema', description: 'design the SQL schema', role: 'database_designer' },
    ],
  });

  it('claims the batch id before writing any task and starts one execution named after the batch', async () => {
    const items = fakeTable();

    const response = await handler(apiEvent({ body: valid }));

    expect(response.statusCode).toBe(202);
    const { batchId, statusUrl } = parse(response);
    expect(statusUrl).toBe(`https://abc123.execute-api.us-east-1.amazonaws.com/prod/batches/${batchId}`);
    expect([...items.keys()]).toEqual(
      expect.arrayContaining([
        `BATCH#${batchId}|TASK#api`,
        `BATCH#${batchId}|TASK#schema`,
        `BATCH#${batchId}|BATCH`,
      ]),
    );
    const calls = ddb.calls().map((c) => c.args[0].constructor.name);
    expect(calls.indexOf('PutCommand')).toBeLessThan(calls.indexOf('BatchWriteCommand'));
    const claim = ddb.commandCalls(PutCommand)[0]?.args[0].input;
    expect(claim?.Item).toMatchObject({ sk: 'BATCH', creation: { owner: expect.any(String) } });
    expect(claim?.ConditionExpression).toBe('attribute_not_exists(pk)');
    const stored = items.get(`BATCH#${batchId}|BATCH`);
    expect(stored?.creation).toBeUndefined();
    expect(stored?.executionArn).toContain(batchId);
    const starts = sfn.commandCalls(StartExecutionCommand);
    expect(starts).toHaveLength(1);
    expect(starts[0]?.args[0].input.name).toBe(batchId);
    expect(JSON.parse(starts[0]?.args[0].input.input ?? '{}')).toEqual({
      batchId,
      items: [
        { taskId: 'schema', hasDeps: false },
        { taskId: 'api', hasDeps: true },
      ],
      concurrency: 2,
    });
    expect(items.get(`BATCH#${batchId}|TASK#api`)).toMatchObject({ pendingDeps: 1, status: 'PENDING' });
    expect(items.get(`BATCH#${batchId}|TASK#schema`)).toMatchObject({ dependents: ['api'], pendingDeps: 0 });
  });

  it('builds statusUrl from the API domain, never from the Host or X-Forwarded-Proto the client sent', async () => {
    fakeTable();

    const response = await handler(
      apiEvent({ body: valid, headers: { host: 'evil.example', 'x-forwarded-proto': 'javascript' } }),
    );

    const { batchId, statusUrl } = parse(response);
    expect(statusUrl).toBe(`https://abc123.execute-api.us-east-1.amazonaws.com/prod/batches/${batchId}`);
  });

  it('returns the same batch id for a repeated Idempotency-Key and starts nothing the second time', async () => {
    fakeTable();
    const headers = { 'Idempotency-Key': 'order-42' };

    const first = await handler(apiEvent({ body: valid, headers }));
    const second = await handler(apiEvent({ body: valid, headers }));

    expect(first.statusCode).toBe(202);
    expect(second.statusCode).toBe(202);
    expect(parse(second).batchId).toBe(parse(first).batchId);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(1);
  });

  it('refuses a different body under an Idempotency-Key already used with 409', async () => {
    fakeTable();
    const headers = { 'idempotency-key': 'order-43' };
    await handler(apiEvent({ body: valid, headers }));

    const response = await handler(
      apiEvent({ body: body({ tasks: [{ id: 'other', description: 'x' }] }), headers }),
    );

    expect(response.statusCode).toBe(409);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(1);
  });

  it('answers 500 without internals when DynamoDB fails', async () => {
    ddb.on(BatchWriteCommand).rejects(new Error('socket hang up at 10.0.0.1'));

    const response = await handler(apiEvent({ body: valid }));

    expect(response.statusCode).toBe(500);
    expect(response.body).not.toContain('10.0.0.1');
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });
});
