import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CreateTableCommandInput,
  DescribeTableCommand,
  DynamoDBClient,
  PutItemCommand,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it } from 'vitest';
import { AGENTS_TABLE, TASKS_TABLE } from '../../../shared/adapters/dynamodb/tables';
import { resolveRoles } from '../../../shared/domain/roles';
import {
  type Emulators,
  LOCAL_CREDENTIALS,
  listenOnLoopback,
  MAX_RECEIVE_COUNT,
  startDynalite,
  startEmulators,
  tableDefinitions,
} from '../../../shared/local/runtime/emulators';
import { acceptsConnections, listeningServers, sleep } from './helpers';

describe('local emulators', () => {
  let emulators: Emulators | undefined;
  afterEach(async () => {
    await emulators?.stop();
    emulators = undefined;
  });

  it('creates the deployed tables, with the byRole and byWait indexes, on a loopback dynalite', async () => {
    emulators = await startEmulators({ roles: ['code_reviewer'] });
    const client = new DynamoDBClient({
      region: emulators.region,
      endpoint: emulators.dynamodbEndpoint,
      credentials: LOCAL_CREDENTIALS,
    });

    const tasks = await client.send(new DescribeTableCommand({ TableName: emulators.tasksTableName }));
    const agents = await client.send(new DescribeTableCommand({ TableName: emulators.agentsTableName }));
    client.destroy();

    expect(emulators.dynamodbEndpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(tasks.Table?.TableStatus).toBe('ACTIVE');
    expect(tasks.Table?.KeySchema).toEqual([
      { AttributeName: TASKS_TABLE.partitionKey, KeyType: 'HASH' },
      { AttributeName: TASKS_TABLE.sortKey, KeyType: 'RANGE' },
    ]);
    expect(agents.Table?.KeySchema).toEqual([{ AttributeName: AGENTS_TABLE.partitionKey, KeyType: 'HASH' }]);
    const indexes = agents.Table?.GlobalSecondaryIndexes ?? [];
    expect(indexes.map((index) => [index.IndexName, index.KeySchema])).toEqual(
      [AGENTS_TABLE.byRoleIndex, AGENTS_TABLE.byWaitIndex].map((index) => [
        index.name,
        [
          { AttributeName: index.partitionKey, KeyType: 'HASH' },
          { AttributeName: index.sortKey, KeyType: 'RANGE' },
        ],
      ]),
    );
  });

  it("adds an index a data directory's table lacks, keeping its items, and finishes a copy a start left behind", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dynalite-dir-'));
    const [, agents] = tableDefinitions('dir-tasks', 'dir-agents') as CreateTableCommandInput[];
    const current = agents as CreateTableCommandInput;
    // The agents table as an earlier version made it: the byRole index alone.
    const earlier = { ...current, GlobalSecondaryIndexes: current.GlobalSecondaryIndexes?.slice(0, 1) };
    const items = Array.from({ length: 60 }, (_, i) => ({
      agentId: { S: `agent-${i}` },
      role: { S: 'code_reviewer' },
      ...(i % 3 === 0 ? { waitOrder: { S: `0000${i}` } } : {}),
    }));
    const names = async (dynalite: { port: number }) => {
      const client = new DynamoDBClient({
        region: 'us-east-1',
        endpoint: `http://127.0.0.1:${dynalite.port}`,
        credentials: LOCAL_CREDENTIALS,
      });
      try {
        const table = await client.send(new DescribeTableCommand({ TableName: 'dir-agents' }));
        const scan = await client.send(new ScanCommand({ TableName: 'dir-agents' }));
        return {
          indexes: table.Table?.GlobalSecondaryIndexes?.map((index) => index.IndexName),
          ids: (scan.Items ?? []).map((item) => item.agentId?.S).sort(),
        };
      } finally {
        client.destroy();
      }
    };
    const ids = items.map((item) => item.agentId.S).sort();
    try {
      const first = await startDynalite(dir, [earlier]);
      const client = new DynamoDBClient({
        region: 'us-east-1',
        endpoint: `http://127.0.0.1:${first.port}`,
        credentials: LOCAL_CREDENTIALS,
      });
      for (const Item of items) await client.send(new PutItemCommand({ TableName: 'dir-agents', Item }));
      client.destroy();
      await first.stop();

      const second = await startDynalite(dir, [current]);
      const migrated = await names(second);
      await second.stop();
      // A start that died after copying the items out (the copy is there, the table as it was).
      await writeFile(join(`${dir}.dir-agents.items.json`), JSON.stringify(items.slice(0, 7)));
      const third = await startDynalite(dir, [current]);
      const resumed = await names(third);
      await third.stop();

      expect(migrated).toEqual({ indexes: ['byRole', 'byWait'], ids });
      expect(resumed).toEqual({
        indexes: ['byRole', 'byWait'],
        ids: items
          .slice(0, 7)
          .map((item) => item.agentId.S)
          .sort(),
      });
      expect(existsSync(`${dir}.dir-agents.items.json`)).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
      await rm(`${dir}.dir-agents.items.json`, { force: true });
    }
  });

  it("has dynalite's thread make the tables it is given, ACTIVE once it answers, and name one it cannot make", async () => {
    const [tasks, agents] = tableDefinitions('made-tasks', 'made-agents');
    const dynalite = await startDynalite(undefined, [
      tasks as CreateTableCommandInput,
      agents as CreateTableCommandInput,
    ]);
    const client = new DynamoDBClient({
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${dynalite.port}`,
      credentials: LOCAL_CREDENTIALS,
    });
    try {
      const made = await client.send(new DescribeTableCommand({ TableName: 'made-tasks' }));
      expect(made.Table?.TableStatus).toBe('ACTIVE');
      expect(made.Table?.GlobalSecondaryIndexes?.map((i) => i.IndexStatus)).toEqual(['ACTIVE', 'ACTIVE']);
      const other = await client.send(new DescribeTableCommand({ TableName: 'made-agents' }));
      expect(other.Table?.KeySchema).toEqual(agents?.KeySchema);
    } finally {
      client.destroy();
      await dynalite.stop();
    }

    // A key attribute with no definition: dynalite refuses the table, and the start says which and why.
    const broken = {
      ...tasks,
      TableName: 'broken',
      AttributeDefinitions: tasks?.AttributeDefinitions?.slice(1),
    };
    await expect(startDynalite(undefined, [broken as CreateTableCommandInput])).rejects.toThrow(
      /^dynalite did not start: CreateTable broken: ValidationException: One or more parameter values were invalid/,
    );
  });

  it('releases a data directory when its tables cannot be made, so that a later start opens it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dynalite-dir-'));
    try {
      const [tasks] = tableDefinitions('dir-tasks', 'dir-agents');
      const broken = {
        ...tasks,
        TableName: 'broken',
        AttributeDefinitions: tasks?.AttributeDefinitions?.slice(1),
      };
      await expect(startDynalite(dir, [broken as CreateTableCommandInput])).rejects.toThrow(
        /CreateTable broken/,
      );

      const again = await startDynalite(dir, [tasks as CreateTableCommandInput]);
      await again.stop();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('creates one queue per catalog role, each redriving to its own dead-letter queue', async () => {
    const roles = [...resolveRoles().keys()];
    emulators = await startEmulators({ roles, visibilityTimeoutSeconds: { code_reviewer: 7 } });
    const client = new SQSClient({
      region: emulators.region,
      endpoint: emulators.sqsEndpoint,
      credentials: LOCAL_CREDENTIALS,
    });

    const queue = emulators.queues.get('code_reviewer');
    const attributes = await client.send(
      new GetQueueAttributesCommand({ QueueUrl: queue?.url, AttributeNames: ['All'] }),
    );
    const dlqAttributes = await client.send(
      new GetQueueAttributesCommand({ QueueUrl: queue?.dlqUrl, AttributeNames: ['QueueArn'] }),
    );
    client.destroy();

    expect([...emulators.queues.keys()]).toEqual(roles);
    expect(queue?.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\d+\/code_reviewer$/);
    expect(attributes.Attributes?.VisibilityTimeout).toBe('7');
    expect(JSON.parse(attributes.Attributes?.RedrivePolicy ?? '{}')).toEqual({
      deadLetterTargetArn: queue?.dlqArn,
      maxReceiveCount: MAX_RECEIVE_COUNT,
    });
    // The ARNs the emulators publish (derived from the URLs) are the ones fauxqs gave the queues.
    expect(queue?.arn).toBe(attributes.Attributes?.QueueArn);
    expect(queue?.dlqArn).toBe(dlqAttributes.Attributes?.QueueArn);
    expect(queue?.dlqArn).toMatch(/:code_reviewer-dlq$/);
  });

  it('leaves no listening port after stop', async () => {
    const started = await startEmulators({ roles: ['code_reviewer'] });
    // A client with a kept-alive socket must not hold the servers open.
    const client = new SQSClient({
      region: started.region,
      endpoint: started.sqsEndpoint,
      credentials: LOCAL_CREDENTIALS,
    });
    await client.send(new GetQueueAttributesCommand({ QueueUrl: started.queues.get('code_reviewer')?.url }));
    expect(await acceptsConnections(started.sqsPort)).toBe(true);
    expect(await acceptsConnections(started.dynamodbPort)).toBe(true);

    await started.stop();
    client.destroy();

    expect(await acceptsConnections(started.sqsPort)).toBe(false);
    expect(await acceptsConnections(started.dynamodbPort)).toBe(false);
  });

  it('closes the emulator that started when the other one cannot make its resources', async () => {
    const before = await listeningServers();

    // SQS allows visibility timeouts up to 12 hours: fauxqs refuses this queue while dynalite makes tables.
    const start = startEmulators({
      roles: ['code_reviewer'],
      visibilityTimeoutSeconds: { code_reviewer: 50_000 },
    });

    await expect(start).rejects.toThrow(/queue code_reviewer: .*VisibilityTimeout.*between 0 and 43200/);
    expect(await listeningServers()).toBe(before);
  });

  it('keeps idle keep-alive connections open past the 5 s a Node server allows by default', async () => {
    const started = await startEmulators({ roles: ['code_reviewer'] });
    emulators = started;
    const plain = createServer((_, response) => response.end('ok'));
    const plainPort = await listenOnLoopback(plain);
    const agent = new Agent({ keepAlive: true });
    const closed: number[] = [];
    // One request per server on a kept-alive socket (the status does not matter), then a lull.
    const ports = [started.dynamodbPort, started.sqsPort, plainPort];
    await Promise.all(
      ports.map(
        (port) =>
          new Promise<void>((resolve, reject) => {
            const req = request({ host: '127.0.0.1', port, path: '/', method: 'POST', agent }, (res) => {
              res.resume();
              res.once('end', resolve);
            });
            req.once('socket', (socket) => socket.once('close', () => closed.push(port)));
            req.once('error', reject);
            req.end('{}');
          }),
      ),
    );
    try {
      // Node closes idle sockets about 6 s after the last response (keepAliveTimeout 5 s plus a grace).
      await sleep(7_000);

      expect(closed).toEqual([]);
    } finally {
      agent.destroy();
      plain.closeAllConnections();
      plain.close();
    }
  });
});
