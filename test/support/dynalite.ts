/**
 * An in-memory dynalite on 127.0.0.1 (random port) with the tasks and agents tables created from the
 * shared key definitions, for adapter tests. Start in beforeAll, stop in afterAll.
 */
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { AGENTS_TABLE, TASKS_TABLE } from '../../shared/adapters/dynamodb/tables';

export interface LocalDynamo {
  /** http://127.0.0.1:<port>, for AWS_ENDPOINT_URL_DYNAMODB. */
  endpoint: string;
  client: DynamoDBClient;
  tasksTable: string;
  agentsTable: string;
  stop(): Promise<void>;
}

// dynalite ships no types; loaded through require so no ambient module declaration is needed here.
const dynalite = createRequire(import.meta.url)('dynalite') as (options: {
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
}) => Server;

export async function startDynalite(): Promise<LocalDynamo> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const tasksTable = 'tasks';
  const agentsTable = 'agents';
  await client.send(
    new CreateTableCommand({
      TableName: tasksTable,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: TASKS_TABLE.partitionKey, AttributeType: 'S' },
        { AttributeName: TASKS_TABLE.sortKey, AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: TASKS_TABLE.partitionKey, KeyType: 'HASH' },
        { AttributeName: TASKS_TABLE.sortKey, KeyType: 'RANGE' },
      ],
    }),
  );
  const index = AGENTS_TABLE.byRoleIndex;
  await client.send(
    new CreateTableCommand({
      TableName: agentsTable,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: AGENTS_TABLE.partitionKey, AttributeType: 'S' },
        { AttributeName: index.partitionKey, AttributeType: 'S' },
      ],
      KeySchema: [{ AttributeName: AGENTS_TABLE.partitionKey, KeyType: 'HASH' }],
      GlobalSecondaryIndexes: [
        {
          IndexName: index.name,
          KeySchema: [
            { AttributeName: index.partitionKey, KeyType: 'HASH' },
            { AttributeName: index.sortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    }),
  );
  return {
    endpoint,
    client,
    tasksTable,
    agentsTable,
    stop: async () => {
      client.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
