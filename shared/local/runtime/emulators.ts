/**
 * The emulators of the embedded runtime, on 127.0.0.1 with ephemeral ports: fauxqs (SQS, and S3 on the same
 * port) and dynalite (DynamoDB, in memory). Tables and queues have the deployed shape: keys and the byRole
 * index from shared/adapters/dynamodb/tables.ts, one queue per role with a dead-letter queue
 * (maxReceiveCount 3); the artifacts bucket holds outputs too large for a task item.
 */

import { mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  type DynamoDBClient,
  ListTablesCommand,
} from '@aws-sdk/client-dynamodb';
import type { buildApp } from 'fauxqs';
import { AGENTS_TABLE, TASKS_TABLE } from '../../adapters/dynamodb/tables';
import type {
  InProcessRequest,
  InProcessResponse,
  InProcessServer,
} from '../../adapters/in-process-transport';
import { takePreloadedDynalite } from './dynalite-preload.mjs';
import {
  answerSqsDirectly,
  type FauxqsStores,
  fauxqsStores,
  type QueueSpec,
  queueArn,
  setUpResources,
} from './fauxqs-files';
import { closeServer } from './loopback-endpoint';
import { untilActive } from './table-active.mjs';

export const LOOPBACK = '127.0.0.1';
/**
 * Pending-connection queue of every loopback server of the runtime. One process runs every handler of a
 * batch, so thousands of requests may connect at once; Node's default backlog (511) resets the excess.
 */
export const LISTEN_BACKLOG = 4_096;
/**
 * Idle keep-alive timeout of every loopback server: 0, never. Node servers close a keep-alive socket after
 * 5 s idle, while the SDK's agents keep theirs forever; a burst after a lull (a handler's client unused for
 * a while, then 1,000 routes at once) picked up sockets the server had just closed, and "socket hang up"
 * errors beyond the SDK's retry quota failed tasks. The runtime closes every connection when it stops.
 */
export const KEEP_ALIVE_TIMEOUT_MS = 0;

/** Listens on 127.0.0.1 (ephemeral port, the runtime's backlog, idle sockets kept); resolves to the port. */
export async function listenOnLoopback(server: Server): Promise<number> {
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOOPBACK, LISTEN_BACKLOG, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

/** Receives before a message moves to the dead-letter queue (same as the CDK role queues). */
export const MAX_RECEIVE_COUNT = 3;
/** Dead-letter messages are kept the SQS maximum, 14 days. */
const DLQ_RETENTION_SECONDS = 14 * 24 * 3600;
/** Default visibility timeout of a role queue when the caller gives none (the SQS default). */
export const DEFAULT_VISIBILITY_TIMEOUT_SECONDS = 30;
/** Fake credentials: the emulators accept any, and real ones must never be needed. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;
export const LOCAL_REGION = 'us-east-1';

export interface RoleQueue {
  readonly role: string;
  readonly url: string;
  readonly arn: string;
  readonly dlqUrl: string;
  readonly dlqArn: string;
}

export interface EmulatorOptions {
  /** Role names: one queue (and dead-letter queue) each. */
  readonly roles: readonly string[];
  /** Visibility timeout per role queue (seconds); DEFAULT_VISIBILITY_TIMEOUT_SECONDS otherwise. */
  readonly visibilityTimeoutSeconds?: Readonly<Record<string, number>>;
  readonly maxReceiveCount?: number;
  readonly region?: string;
  /** Table names (generated when absent). */
  readonly tasksTableName?: string;
  readonly agentsTableName?: string;
  /** Artifacts bucket name (generated when absent). */
  readonly artifactsBucketName?: string;
  /**
   * Keep the tables (DynamoDB, dynalite's LevelDB under DIR/dynamodb) and the bucket's objects (files under
   * DIR/s3) in this directory across starts; queues stay in memory. Names are then fixed (DATA_DIR_NAMES)
   * and what exists is reused. Without it everything is in memory.
   */
  readonly dataDir?: string;
}

/**
 * A data directory whose store cannot be opened (a file truncated or damaged, a store written by something
 * else): bad input (exit code 2, the marker the CLI reads), naming the directory and what to do, rather than
 * an internal error quoting LevelDB.
 */
export class DataDirUnreadableError extends Error {
  /** ExitCode.BadInput of the CLI: what the user gave cannot be used; nothing was run. */
  readonly exitCode = 2;
  constructor(
    readonly path: string,
    cause: unknown,
  ) {
    super(
      `cannot open the store in ${path} (${cause instanceof Error ? cause.message : String(cause)}): it is damaged or was not written by meta-agent serve; move the directory away to start with an empty one, or restore it from a copy`,
      { cause },
    );
    this.name = 'DataDirUnreadableError';
  }
}

/** Table and bucket names in a data directory: fixed, so a later start finds them. */
export const DATA_DIR_NAMES = {
  tasksTable: 'meta-agent-tasks',
  agentsTable: 'meta-agent-agents',
  artifactsBucket: 'meta-agent-artifacts',
} as const;

export interface Emulators {
  readonly region: string;
  readonly sqsEndpoint: string;
  readonly dynamodbEndpoint: string;
  readonly sqsPort: number;
  readonly dynamodbPort: number;
  /** dynalite's answer to a request made in process (in-process-transport.ts), beside its port. */
  readonly serveDynamodb: InProcessServer;
  /** fauxqs' answer to an SQS or S3 request made in process (serveFauxqs), beside its port. */
  readonly serveSqs: InProcessServer;
  readonly tasksTableName: string;
  readonly agentsTableName: string;
  /** The S3 endpoint (fauxqs serves S3 on its SQS port; path-style URLs). */
  readonly s3Endpoint: string;
  readonly artifactsBucketName: string;
  /** Role name -> its queues. */
  readonly queues: ReadonlyMap<string, RoleQueue>;
  /** Closes both emulators and every connection to them. */
  stop(): Promise<void>;
}

export interface LocalDynalite {
  readonly port: number;
  /** Its worker thread's id (a preloaded thread adopted keeps the id it was started with). */
  readonly threadId: number;
  /** Answers a request in process, over the thread's MessagePort (in-process-transport.ts). */
  readonly serve: InProcessServer;
  /** Ends its thread, which closes the server and every connection to it. */
  stop(): Promise<void>;
}

/**
 * Starts dynalite in memory on 127.0.0.1 (ephemeral port, instant table state changes) on a worker thread
 * (dynalite-worker.mjs), so DynamoDB emulation runs beside the handlers instead of between them. With
 * `tables` (CreateTable requests, as tableDefinitions gives them), the thread makes those that do not exist
 * through its own request handler, and answers once they are ACTIVE: no SDK client on this thread, whose CPU
 * a start is bound by.
 */
export async function startDynalite(
  path?: string,
  tables: readonly CreateTableCommandInput[] = [],
): Promise<LocalDynalite> {
  const url = new URL('./dynalite-worker.mjs', import.meta.url);
  // The thread the CLI's entry point started before loading the CLI, if any (dynalite-preload.mjs).
  const worker = takePreloadedDynalite(url) ?? new Worker(url);
  worker.postMessage({
    type: 'start',
    host: LOOPBACK,
    backlog: LISTEN_BACKLOG,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    path,
    tables,
    tableActiveTimeoutMs: TABLE_ACTIVE_TIMEOUT_MS,
  });
  type Started = { type: 'listening'; port: number } | { type: 'error'; message: string };
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('error', reject);
    worker.once('message', (message: Started) =>
      message.type === 'listening'
        ? resolve(message.port)
        : reject(new Error(`dynalite did not start: ${message.message}`)),
    );
  }).catch(async (error: unknown) => {
    await worker.terminate();
    throw error;
  });
  // In-process requests waiting for their answer; a thread that ends answers none of them.
  const waiting = new Map<
    number,
    { resolve: (answer: InProcessResponse) => void; reject: (e: Error) => void }
  >();
  let nextId = 0;
  let ended: Error | undefined;
  const stopped = () => new Error('connect ECONNREFUSED: dynalite has stopped');
  const endAll = (error: Error) => {
    ended ??= error;
    for (const request of waiting.values()) request.reject(ended);
    waiting.clear();
  };
  type Answer = InProcessResponse & { type: 'response'; id: number };
  worker.on('message', (message: Answer | { type: string }) => {
    if (message.type !== 'response') return;
    const answer = message as Answer;
    const request = waiting.get(answer.id);
    waiting.delete(answer.id);
    request?.resolve({ statusCode: answer.statusCode, headers: answer.headers, body: answer.body });
  });
  worker.on('exit', () => endAll(stopped()));
  worker.on('error', (error) => endAll(error));
  const serve: InProcessServer = (request) =>
    new Promise((resolve, reject) => {
      if (ended) {
        reject(ended);
        return;
      }
      const id = nextId++;
      waiting.set(id, { resolve, reject });
      worker.postMessage({ type: 'request', id, ...request });
    });
  return {
    port,
    threadId: worker.threadId,
    serve,
    stop: async () => {
      endAll(stopped());
      if (path !== undefined) {
        // Close the database first; a thread ended mid-write would leave its directory locked.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, DYNALITE_CLOSE_TIMEOUT_MS);
          worker.on('message', (message: { type?: string }) => {
            if (message.type !== 'stopped') return;
            clearTimeout(timer);
            resolve();
          });
          worker.postMessage({ type: 'stop' });
        });
      }
      await worker.terminate();
    },
  };
}

/** How long stop() waits for dynalite to close a data directory's database before ending its thread. */
const DYNALITE_CLOSE_TIMEOUT_MS = 10_000;

type FauxqsApp = ReturnType<typeof buildApp>;

/** A started fauxqs: its stores, the loopback server on its port, and its fastify app once something needed it. */
interface StartedFauxqs {
  url: string;
  port: number;
  stores: FauxqsStores;
  /** fauxqs' fastify app, loaded, built and ready at its first call (see startFauxqs). */
  app: () => Promise<FauxqsApp>;
  close: () => Promise<void>;
}

/**
 * fauxqs on 127.0.0.1 (its own startFauxqs listens on 0.0.0.0). Queue URLs are built from the request's Host
 * header (127.0.0.1:<port>), so the stock SQSClient resolves them.
 *
 * Its fastify app (fastify with its router, schema compilers and plugin system, and fauxqs' SQS, SNS and S3
 * routes) is loaded and built at the first request that needs it, not at start: a run's SQS traffic is the
 * actions answered in process without it (answerSqsDirectly), and most runs send it nothing else (S3 only
 * holds outputs and artifacts too large for a task item). The port listens from the start, on a plain server
 * that hands each request to the app's own request handler once the app is ready; its queue store and S3
 * store are made here and given to the app, so the app sees what was made or sent before it existed.
 */
async function startFauxqs(s3Dir?: string): Promise<StartedFauxqs> {
  const stores = fauxqsStores(s3Dir);
  let made: Promise<FauxqsApp> | undefined;
  const app = () => {
    made ??= import('fauxqs').then(async ({ buildApp }) => {
      const built = buildApp({ logger: false, stores });
      await built.ready();
      return built;
    });
    return made;
  };
  const server = createServer((req, res) => {
    app().then(
      (ready) => ready.server.emit('request', req, res),
      (error: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`fauxqs could not start: ${(error as Error).message}`);
      },
    );
  });
  const port = await listenOnLoopback(server);
  const close = async () => {
    await closeServer(server);
    // The app's close ends the queues' long polls (its preClose hook); without an app, that is done here.
    if (made) await (await made.catch(() => undefined))?.close();
    stores.sqsStore.shutdown();
  };
  return { url: `http://${LOOPBACK}:${port}`, port, stores, app, close };
}

/**
 * fauxqs' answer to a request made in process: the hot SQS actions directly (answerSqsDirectly), the rest
 * through its app (made at the first of them).
 */
function serveFauxqs(fauxqs: StartedFauxqs): InProcessServer {
  return async (request) =>
    (await answerSqsDirectly(fauxqs.stores, request)) ?? injectInto(await fauxqs.app(), request);
}

/**
 * A fastify app's answer to a request made in process: fastify's own `inject` (light-my-request) runs the
 * app's routing, parsers and handlers on a simulated request, without a socket.
 */
export async function injectInto(app: FauxqsApp, request: InProcessRequest): Promise<InProcessResponse> {
  const answer = await app.inject({
    method: request.method as 'POST',
    url: request.path,
    headers: request.headers,
    payload: request.body,
  });
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(answer.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  return { statusCode: answer.statusCode, headers, body: answer.body };
}

/** The tasks and agents tables with the keys and indexes the stack defines, as CreateTable requests. */
export function tableDefinitions(tasks: string, agents: string): CreateTableCommandInput[] {
  const list = TASKS_TABLE.batchListIndex;
  const running = TASKS_TABLE.runningIndex;
  const index = AGENTS_TABLE.byRoleIndex;
  const byWait = AGENTS_TABLE.byWaitIndex;
  return [
    {
      TableName: tasks,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: TASKS_TABLE.partitionKey, AttributeType: 'S' },
        { AttributeName: TASKS_TABLE.sortKey, AttributeType: 'S' },
        { AttributeName: list.partitionKey, AttributeType: 'S' },
        { AttributeName: list.sortKey, AttributeType: 'S' },
        { AttributeName: running.partitionKey, AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: TASKS_TABLE.partitionKey, KeyType: 'HASH' },
        { AttributeName: TASKS_TABLE.sortKey, KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [list, running].map((gsi) => ({
        IndexName: gsi.name,
        KeySchema: [
          { AttributeName: gsi.partitionKey, KeyType: 'HASH' },
          { AttributeName: gsi.sortKey, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: [...gsi.nonKeyAttributes] },
      })),
      StreamSpecification: { StreamEnabled: true, StreamViewType: TASKS_TABLE.streamViewType },
    },
    {
      TableName: agents,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: AGENTS_TABLE.partitionKey, AttributeType: 'S' },
        { AttributeName: index.partitionKey, AttributeType: 'S' },
        { AttributeName: byWait.sortKey, AttributeType: 'S' },
      ],
      KeySchema: [{ AttributeName: AGENTS_TABLE.partitionKey, KeyType: 'HASH' }],
      GlobalSecondaryIndexes: [index, byWait].map((gsi) => ({
        IndexName: gsi.name,
        KeySchema: [
          { AttributeName: gsi.partitionKey, KeyType: 'HASH' },
          { AttributeName: gsi.sortKey, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      })),
    },
  ];
}

/**
 * Creates the tasks and agents tables (tableDefinitions) through `client`, those that do not exist, and waits
 * until they are ACTIVE. startEmulators has dynalite's thread make them instead (startDynalite's `tables`).
 */
export async function createTables(client: DynamoDBClient, tasks: string, agents: string): Promise<void> {
  // In a data directory the tables of an earlier start are there already (with the same keys: same names).
  const existing = new Set((await client.send(new ListTablesCommand({}))).TableNames ?? []);
  for (const table of tableDefinitions(tasks, agents)) {
    if (!existing.has(table.TableName ?? '')) await client.send(new CreateTableCommand(table));
  }
  // dynalite answers CreateTable with CREATING and turns the table ACTIVE on a timer, even at 0 ms: a write
  // sent at once can meet ResourceNotFoundException (seen in CI on a loaded machine).
  const describe = (table: string) => client.send(new DescribeTableCommand({ TableName: table }));
  await Promise.all(
    [tasks, agents].map((table) =>
      untilActive(describe, table, { timeoutMs: TABLE_ACTIVE_TIMEOUT_MS, pollMs: TABLE_ACTIVE_POLL_MS }),
    ),
  );
}

/** How long a start waits for a table to turn ACTIVE (createTables, dynalite's thread), and how often createTables looks. */
const TABLE_ACTIVE_TIMEOUT_MS = 10_000;
const TABLE_ACTIVE_POLL_MS = 5;

/** A role's queue and its dead-letter queue, as the stack defines them: the DLQ first, as the queue names it. */
function roleQueueSpecs(
  role: string,
  region: string,
  visibilityTimeoutSeconds: number,
  maxReceiveCount: number,
): QueueSpec[] {
  const dlqArn = queueArn(`${role}-dlq`, region);
  return [
    { name: `${role}-dlq`, attributes: { MessageRetentionPeriod: String(DLQ_RETENTION_SECONDS) } },
    {
      name: role,
      attributes: {
        VisibilityTimeout: String(visibilityTimeoutSeconds),
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount }),
      },
    },
  ];
}

/**
 * Starts fauxqs and dynalite on the loopback and creates the tables and role queues.
 * Call `stop()` when done: it leaves no listening port and no open socket.
 */
export async function startEmulators(options: EmulatorOptions): Promise<Emulators> {
  const region = options.region ?? LOCAL_REGION;
  const dataDir = options.dataDir;
  if (dataDir !== undefined) {
    await Promise.all(
      [join(dataDir, 'dynamodb'), join(dataDir, 's3')].map((d) => mkdir(d, { recursive: true })),
    );
  }
  const suffix = Date.now().toString(36);
  const names = dataDir === undefined ? undefined : DATA_DIR_NAMES;
  const tasksTableName = options.tasksTableName ?? names?.tasksTable ?? `meta-agent-tasks-${suffix}`;
  const agentsTableName = options.agentsTableName ?? names?.agentsTable ?? `meta-agent-agents-${suffix}`;
  const artifactsBucketName =
    options.artifactsBucketName ?? names?.artifactsBucket ?? `meta-agent-artifacts-${suffix}`;
  // Side by side: dynalite's thread makes the tables while fauxqs starts on this one and its queues and bucket
  // are made in its stores. Each emulator makes its resources with its own code, with no SDK call.
  const dynamoStart = startDynalite(
    dataDir === undefined ? undefined : join(dataDir, 'dynamodb'),
    tableDefinitions(tasksTableName, agentsTableName),
  );
  const sqsStart = startFauxqs(dataDir === undefined ? undefined : join(dataDir, 's3'));
  // dynalite's start includes its tables; fauxqs' queues are a step after its start, which must be closed if they
  // fail.
  const [dynamoStarted, sqsStarted, queuesMade] = await Promise.allSettled([
    dynamoStart,
    sqsStart,
    sqsStart.then(({ url, port, stores }) =>
      makeQueuesAndBucket(stores, url, port, region, artifactsBucketName, options),
    ),
  ]);
  const stop = async () => {
    await Promise.all([
      sqsStarted.status === 'fulfilled' ? sqsStarted.value.close() : undefined,
      dynamoStarted.status === 'fulfilled' ? dynamoStarted.value.stop() : undefined,
    ]);
  };
  if (dynamoStarted.status === 'rejected' || queuesMade.status === 'rejected') {
    await stop();
    if (dynamoStarted.status === 'rejected' && dataDir !== undefined) {
      throw new DataDirUnreadableError(join(dataDir, 'dynamodb'), dynamoStarted.reason);
    }
    throw dynamoStarted.status === 'rejected'
      ? dynamoStarted.reason
      : (queuesMade as PromiseRejectedResult).reason;
  }
  // Both settled as fulfilled: their resources were made.
  const dynamo = (dynamoStarted as PromiseFulfilledResult<LocalDynalite>).value;
  const sqs = (sqsStarted as PromiseFulfilledResult<Awaited<typeof sqsStart>>).value;
  return {
    region,
    sqsEndpoint: sqs.url,
    dynamodbEndpoint: `http://${LOOPBACK}:${dynamo.port}`,
    sqsPort: sqs.port,
    dynamodbPort: dynamo.port,
    serveDynamodb: dynamo.serve,
    serveSqs: serveFauxqs(sqs),
    tasksTableName,
    agentsTableName,
    s3Endpoint: sqs.url,
    artifactsBucketName,
    queues: queuesMade.value,
    stop,
  };
}

/**
 * The artifacts bucket and every role's queue and dead-letter queue, made in the stores of the fauxqs at
 * `endpoint` (fauxqs-files.ts: setUpResources), with the attributes the stack's queues have.
 */
function makeQueuesAndBucket(
  stores: FauxqsStores,
  endpoint: string,
  port: number,
  region: string,
  bucket: string,
  options: EmulatorOptions,
): Map<string, RoleQueue> {
  const specs = options.roles.flatMap((role) =>
    roleQueueSpecs(
      role,
      region,
      options.visibilityTimeoutSeconds?.[role] ?? DEFAULT_VISIBILITY_TIMEOUT_SECONDS,
      options.maxReceiveCount ?? MAX_RECEIVE_COUNT,
    ),
  );
  const made = setUpResources(stores, { port, region }, specs, bucket);
  // fauxqs' URLs name 127.0.0.1:<port>, or sqs.<region>.localhost when its host is set: keep their path only.
  const local = (name: string) => {
    const queue = made.get(name);
    if (!queue) throw new Error(`fauxqs made no queue ${name}`);
    return { url: `${endpoint}${new URL(queue.url).pathname}`, arn: queue.arn };
  };
  return new Map(
    options.roles.map((role) => {
      const queue = local(role);
      const dlq = local(`${role}-dlq`);
      return [role, { role, url: queue.url, arn: queue.arn, dlqUrl: dlq.url, dlqArn: dlq.arn }];
    }),
  );
}
