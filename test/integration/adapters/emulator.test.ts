/**
 * The DynamoDB tests run on the emulator DYNAMODB_EMULATOR names (test/support/dynalite.ts): this shows which
 * one answered, so `npm run test:dynamodb-local` cannot pass on dynalite by mistake.
 */
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dynamoEmulator, type LocalDynamo, startDynalite } from '../../support/dynalite';

let dynamo: LocalDynamo;
beforeAll(async () => {
  dynamo = await startDynalite();
});
afterAll(async () => {
  await dynamo?.stop();
});

describe('DynamoDB emulator of the tests', () => {
  it('is the one DYNAMODB_EMULATOR names (DynamoDB Local puts its tables in region ddblocal)', async () => {
    const { Table } = await dynamo.client.send(new DescribeTableCommand({ TableName: dynamo.tasksTable }));
    const region = Table?.TableArn?.split(':')[3];
    expect(region).toBe(dynamoEmulator() === 'dynamodb-local' ? 'ddblocal' : 'us-east-1');
  });
});
