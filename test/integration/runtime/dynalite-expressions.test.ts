/**
 * dynalite on its thread with its expression parses kept as templates (dynalite-expressions.mjs): repeated
 * requests of one shape, with new values each time, act on their own values; conditions that hold once and
 * not the next time say so; unused values are still refused.
 */
import {
  CreateTableCommand,
  DynamoDBClient,
  GetItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LOCAL_CREDENTIALS,
  type LocalDynalite,
  startDynalite,
} from '../../../shared/local/runtime/emulators';

const TABLE = 'expressions';

describe('dynalite with cached expression parses', () => {
  let dynalite: LocalDynalite;
  let client: DynamoDBClient;
  beforeAll(async () => {
    dynalite = await startDynalite();
    client = new DynamoDBClient({
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${dynalite.port}`,
      credentials: LOCAL_CREDENTIALS,
    });
    await client.send(
      new CreateTableCommand({
        TableName: TABLE,
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
  });
  afterAll(async () => {
    client.destroy();
    await dynalite.stop();
  });

  /** A reservation as the pool writes it: one more slot taken while fewer than `capacity` are. */
  const reserve = (pk: string, capacity: number, at: number) =>
    client.send(
      new UpdateItemCommand({
        TableName: TABLE,
        Key: { pk: { S: pk } },
        UpdateExpression: 'ADD #reserved :one SET lastActiveAt = :at',
        ConditionExpression: 'attribute_not_exists(#reserved) OR #reserved < :capacity',
        ExpressionAttributeNames: { '#reserved': 'reserved' },
        ExpressionAttributeValues: {
          ':one': { N: '1' },
          ':at': { N: String(at) },
          ':capacity': { N: String(capacity) },
        },
        ReturnValues: 'ALL_NEW',
      }),
    );

  it('applies each request’s own values and evaluates its own condition', async () => {
    const first = await reserve('agent-1', 2, 100);
    const second = await reserve('agent-1', 2, 200);
    expect(first.Attributes).toMatchObject({ reserved: { N: '1' }, lastActiveAt: { N: '100' } });
    expect(second.Attributes).toMatchObject({ reserved: { N: '2' }, lastActiveAt: { N: '200' } });
    // The same request shape, now refused by its condition, then allowed by a larger capacity.
    await expect(reserve('agent-1', 2, 300)).rejects.toMatchObject({
      name: 'ConditionalCheckFailedException',
    });
    const third = await reserve('agent-1', 5, 400);
    expect(third.Attributes).toMatchObject({ reserved: { N: '3' }, lastActiveAt: { N: '400' } });
    const item = await client.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: 'agent-1' } } }));
    expect(item.Item).toMatchObject({ reserved: { N: '3' }, lastActiveAt: { N: '400' } });
  });

  it('still refuses a value of the wrong type and an unused value after the same expression passed', async () => {
    const update = (values: Record<string, { N: string } | { S: string }>) =>
      client.send(
        new UpdateItemCommand({
          TableName: TABLE,
          Key: { pk: { S: 'counter' } },
          UpdateExpression: 'ADD #n :v',
          ExpressionAttributeNames: { '#n': 'count' },
          ExpressionAttributeValues: values,
        }),
      );
    await update({ ':v': { N: '1' } });
    await expect(update({ ':v': { S: 'one' } })).rejects.toThrow(/Incorrect operand type/);
    await expect(update({ ':v': { N: '1' }, ':spare': { N: '2' } })).rejects.toThrow(
      /unused in expressions: keys: \{:spare\}/,
    );
    await update({ ':v': { N: '4' } });
    const item = await client.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: 'counter' } } }));
    expect(item.Item?.count).toEqual({ N: '5' });
  });
});
