import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TASKS_TABLE } from '../../../shared/adapters/dynamodb/tables';
import {
  type DynamoStreamProxy,
  startDynamoStreamProxy,
} from '../../../shared/local/runtime/dynamodb-stream';
import { type LocalDynamo, startDynalite } from '../../support/dynalite';

let dynamo: LocalDynamo;
let proxy: DynamoStreamProxy;
let client: DynamoDBDocumentClient;
const records: DynamoDBRecord[] = [];

beforeAll(async () => {
  dynamo = await startDynalite();
  proxy = await startDynamoStreamProxy({
    target: dynamo.endpoint,
    tableName: dynamo.tasksTable,
    keyAttributes: [TASKS_TABLE.partitionKey, TASKS_TABLE.sortKey],
    onRecords: (batch) => records.push(...batch),
  });
  client = DynamoDBDocumentClient.from(
    new DynamoDBClient({
      endpoint: proxy.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'l', secretAccessKey: 'l' },
    }),
  );
});

afterAll(async () => {
  client?.destroy();
  await proxy?.close();
  await dynamo?.stop();
});

const image = (value: unknown) => (value ? unmarshall(value as Parameters<typeof unmarshall>[0]) : undefined);

describe('the DynamoDB stream proxy in front of dynalite', () => {
  it('emits every write of an item in order with its old and new images, however fast they come', async () => {
    records.length = 0;
    const Key = { pk: 'BATCH#b', sk: 'TASK#t' };

    await client.send(new PutCommand({ TableName: dynamo.tasksTable, Item: { ...Key, status: 'PENDING' } }));
    const running = await client.send(
      new UpdateCommand({
        TableName: dynamo.tasksTable,
        Key,
        UpdateExpression: 'SET #s = :s',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: { ':s': 'RUNNING' },
      }),
    );
    await client.send(
      new UpdateCommand({
        TableName: dynamo.tasksTable,
        Key,
        UpdateExpression: 'SET #s = :s',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: { ':s': 'SUCCEEDED' },
        ReturnValues: 'UPDATED_OLD',
      }),
    );

    expect(records.map((r) => r.eventName)).toEqual(['INSERT', 'MODIFY', 'MODIFY']);
    expect(records.map((r) => image(r.dynamodb?.NewImage)?.status)).toEqual([
      'PENDING',
      'RUNNING',
      'SUCCEEDED',
    ]);
    expect(records.map((r) => image(r.dynamodb?.OldImage)?.status)).toEqual([
      undefined,
      'PENDING',
      'RUNNING',
    ]);
    // The client asked for no return values and gets none, although the proxy asked for ALL_NEW.
    expect(running.Attributes).toBeUndefined();
  });

  it('emits nothing for a write whose condition fails', async () => {
    records.length = 0;

    await expect(
      client.send(
        new PutCommand({
          TableName: dynamo.tasksTable,
          Item: { pk: 'BATCH#b', sk: 'TASK#t' },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      ),
    ).rejects.toThrow(/conditional/i);

    expect(records).toEqual([]);
  });
});
