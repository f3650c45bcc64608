/**
 * dynalite's reads close their iterators (shared/local/runtime/dynalite-iterators.mjs). dynalite 4 closes an
 * iterator through `return()`, which abstract-level's iterators lacked, so every Query and Scan left one open,
 * holding a snapshot of the whole store, and a long-running `meta-agent serve` grew without bound. Here
 * dynalite runs in this process, in memory and on disk (serve --data-dir), and abstract-level's open iterators
 * are counted while every kind of read the orchestrator sends runs many times.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BatchGetItemCommand,
  CreateTableCommand,
  DeleteItemCommand,
  DescribeTableCommand,
  DynamoDBClient,
  PutItemCommand,
  QueryCommand,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeOnReturn, installIteratorClose } from '../../../shared/local/runtime/dynalite-iterators.mjs';
import { LOCAL_CREDENTIALS } from '../../../shared/local/runtime/emulators';

interface Resource {
  constructor: { name: string };
}
interface AbstractLevelModule {
  AbstractLevel: { prototype: { attachResource(r: Resource): void; detachResource(r: Resource): void } };
  AbstractIterator: { prototype: object };
}

/** The abstract-level that dynalite's in-memory store loads. */
function dynalitesAbstractLevel(): AbstractLevelModule {
  const fromDynalite = createRequire(createRequire(import.meta.url).resolve('dynalite'));
  const memoryLevel = createRequire(fromDynalite.resolve('memory-level'));
  return memoryLevel('abstract-level') as AbstractLevelModule;
}

const abstractLevel = dynalitesAbstractLevel();
/** Iterators abstract-level holds open now (attached to their database, not yet closed). */
const openIterators = new Set<Resource>();
const { attachResource, detachResource } = abstractLevel.AbstractLevel.prototype;

beforeAll(() => {
  abstractLevel.AbstractLevel.prototype.attachResource = function (resource) {
    if (/Iterator$/.test(resource.constructor.name)) openIterators.add(resource);
    attachResource.call(this, resource);
  };
  abstractLevel.AbstractLevel.prototype.detachResource = function (resource) {
    openIterators.delete(resource);
    detachResource.call(this, resource);
  };
  installIteratorClose();
});

afterAll(() => {
  abstractLevel.AbstractLevel.prototype.attachResource = attachResource;
  abstractLevel.AbstractLevel.prototype.detachResource = detachResource;
});

const TABLE = 'items';
const ROUNDS = 20;

/** dynalite on 127.0.0.1 (in memory, or in a LevelDB directory), a client for it, and how to stop both. */
async function startDynalite(path?: string) {
  const server: Server = dynalite({
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
    ...(path ? { path } : {}),
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const client = new DynamoDBClient({
    region: 'us-east-1',
    endpoint: `http://127.0.0.1:${port}`,
    credentials: LOCAL_CREDENTIALS,
  });
  const stop = async () => {
    client.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return { client, stop };
}

/** The table the reads run on: a partition of items, and an index by another attribute. */
async function createTable(client: DynamoDBClient): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: TABLE,
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
        { AttributeName: 'role', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: 'byRole',
          KeySchema: [{ AttributeName: 'role', KeyType: 'HASH' }],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  // Created at once in memory; on disk dynalite opens the table's store first.
  for (let i = 0; i < 100; i++) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: TABLE }));
    if (Table?.TableStatus === 'ACTIVE') break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  for (let i = 0; i < 12; i++) {
    await client.send(
      new PutItemCommand({
        TableName: TABLE,
        Item: { pk: { S: 'batch' }, sk: { S: `task-${i}` }, role: { S: i % 2 ? 'a' : 'b' } },
      }),
    );
  }
}

/** Every kind of read the orchestrator sends: whole and limited Queries, of the table and its index, and Scans. */
async function readEveryWay(client: DynamoDBClient, round: number): Promise<void> {
  const partition = { ':pk': { S: 'batch' } };
  await client.send(
    new QueryCommand({
      TableName: TABLE,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: partition,
    }),
  );
  await client.send(
    new QueryCommand({
      TableName: TABLE,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: partition,
      Limit: 3,
    }),
  );
  await client.send(
    new QueryCommand({
      TableName: TABLE,
      IndexName: 'byRole',
      KeyConditionExpression: '#r = :r',
      ExpressionAttributeNames: { '#r': 'role' },
      ExpressionAttributeValues: { ':r': { S: 'a' } },
      Limit: 2,
    }),
  );
  await client.send(new ScanCommand({ TableName: TABLE }));
  await client.send(new ScanCommand({ TableName: TABLE, Limit: 4 }));
  await client.send(
    new BatchGetItemCommand({
      RequestItems: { [TABLE]: { Keys: [{ pk: { S: 'batch' }, sk: { S: 'task-1' } }] } },
    }),
  );
  // Items come and go, as a batch's do: an open iterator would keep the deleted ones.
  const item = { pk: { S: 'batch' }, sk: { S: `gone-${round}` }, role: { S: 'a' } };
  await client.send(new PutItemCommand({ TableName: TABLE, Item: item }));
  await client.send(new DeleteItemCommand({ TableName: TABLE, Key: { pk: item.pk, sk: item.sk } }));
}

/** Open iterators once the reads' streams have had time to end and close them (a few event loop turns). */
async function settledOpenIterators(): Promise<number> {
  for (let i = 0; i < 200 && openIterators.size > 0; i++) await new Promise((r) => setTimeout(r, 5));
  return openIterators.size;
}

describe("dynalite's iterators", () => {
  it.each([
    ['in memory', false],
    ['on disk (serve --data-dir)', true],
  ])('are all closed after every kind of read, %s', async (_, onDisk) => {
    const dir = onDisk ? await mkdtemp(join(tmpdir(), 'meta-agent-dynalite-')) : undefined;
    const { client, stop } = await startDynalite(dir);
    try {
      await createTable(client);
      for (let round = 0; round < ROUNDS; round++) await readEveryWay(client, round);

      // Before the fix: every Query and Scan (5 a round, 100 in all) left its iterator open.
      expect(await settledOpenIterators()).toBe(0);
    } finally {
      await stop();
      if (dir) await rm(dir, { recursive: true, force: true });
    }
  });

  it('answers return() as an async generator does, after closing, and leaves a return() of its own alone', async () => {
    const closed: string[] = [];
    class Common {
      async close() {
        closed.push('closed');
      }
    }
    class Iterator extends Common {}
    const module = { AbstractIterator: Iterator };

    expect(closeOnReturn(module)).toBe(true);
    const iterator = new Iterator() as Iterator & { return(): Promise<unknown> };
    expect(await iterator.return()).toEqual({ done: true, value: undefined });
    expect(closed).toEqual(['closed']);
    // Installed once: a second install (or a release of abstract-level with its own) changes nothing.
    expect(closeOnReturn(module)).toBe(false);
  });
});
