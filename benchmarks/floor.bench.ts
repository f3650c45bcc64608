/**
 * What a dependency hop costs at its floor on this machine (not a test): `npm run bench:floor`.
 *
 * A hop on the embedded runtime is about nine DynamoDB calls in series to dynalite's thread, with the handlers'
 * code between them, run right after its task's idle wait. This times the two parts apart:
 * - the calls alone: FLOOR_CALLS (9) calls in series through an SDK client with InProcessSigner and fastConfig
 *   (the orchestrator's tunedClient also drops the user agent and takes the lean retry middleware, so its calls
 *   cost a little less) to the runtime's dynalite on its worker thread, an UpdateItem and a GetItem
 *   of a 1.5 KB item in turn; GROUPS groups back to back, then GROUPS groups each after FLOOR_IDLE_MS (150) of
 *   idle, as a hop comes after its task's wait. Medians in ms;
 * - small pieces of code after idle: `new Date()`, `toISOString`, a two-regex replace and `JSON.stringify` of a
 *   small object, each timed once after 50 ms of idle, against the same warm (10,000 runs). Medians in µs.
 * Fast-slow's goal (bench:compare) leaves about 7 ms a hop.
 *
 * Writes benchmarks/results/floor.json.
 */
import {
  type DynamoDBClient as Client,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { inProcessClientConfig, serveInProcess } from '../shared/adapters/in-process-transport';
import { fastConfig } from '../shared/adapters/sdk-client';
import {
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  startDynalite,
  tableDefinitions,
} from '../shared/local/runtime/emulators';
import { median, round, writeResult } from './lib';

/** A whole number of at least `min` from the environment variable `name`, else `fallback`. */
function count(name: string, fallback: number, min: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < min)
    throw new Error(`${name} must be a whole number >= ${min}, got ${process.env[name]}`);
  return value;
}

const CALLS = count('FLOOR_CALLS', 9, 1);
const IDLE_MS = count('FLOOR_IDLE_MS', 150, 0);
const GROUPS = count('BENCH_RUNS', 40, 1);
const WARM_UP_CALLS = 2_000;
const CODE_IDLE_MS = 50;
const CODE_WARM_RUNS = 10_000;
const TABLE = 'floor-tasks';
const KEY = { pk: { S: 'BATCH#floor' }, sk: { S: 'TASK#t' } };

const idle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function callsInSeries(client: Client, calls: number): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < calls; i++) {
    await client.send(
      i % 2 === 0
        ? new UpdateItemCommand({
            TableName: TABLE,
            Key: KEY,
            UpdateExpression: 'ADD n :one',
            ExpressionAttributeValues: { ':one': { N: '1' } },
            ReturnValues: 'ALL_NEW',
          })
        : new GetItemCommand({ TableName: TABLE, Key: KEY }),
    );
  }
  return performance.now() - started;
}

async function storeFloor() {
  const [tasks] = tableDefinitions(TABLE, 'floor-agents');
  const dynalite = await startDynalite(undefined, tasks ? [tasks] : []);
  const origin = `http://127.0.0.1:${dynalite.port}`;
  const stop = serveInProcess(origin, dynalite.serve);
  const config = inProcessClientConfig(origin, { service: 'dynamodb', region: LOCAL_REGION });
  const client = fastConfig(
    new DynamoDBClient({ region: LOCAL_REGION, endpoint: origin, credentials: LOCAL_CREDENTIALS, ...config }),
  );
  try {
    await client.send(
      new PutItemCommand({
        TableName: TABLE,
        Item: { ...KEY, n: { N: '0' }, body: { S: 'x'.repeat(1_500) } },
      }),
    );
    await callsInSeries(client, WARM_UP_CALLS);
    const warm: number[] = [];
    for (let g = 0; g < GROUPS; g++) warm.push(await callsInSeries(client, CALLS));
    const afterIdle: number[] = [];
    for (let g = 0; g < GROUPS; g++) {
      await idle(IDLE_MS);
      afterIdle.push(await callsInSeries(client, CALLS));
    }
    return { warmMs: round(median(warm)), afterIdleMs: round(median(afterIdle)) };
  } finally {
    client.destroy();
    stop();
    await dynalite.stop();
  }
}

async function codeAfterIdle() {
  const date = new Date();
  const iso = date.toISOString();
  const small = { taskId: 'fs-fast-6', attempt: 1, roles: ['python_backend_coder'] };
  const pieces: Record<string, () => unknown> = {
    newDate: () => new Date(),
    toISOString: () => date.toISOString(),
    regexReplace: () => iso.replace(/[-:]/g, '').replace(/\.\d{3}/, ''),
    jsonStringify: () => JSON.stringify(small),
  };
  const result: Record<string, { warmMicros: number; afterIdleMicros: number }> = {};
  for (const [name, piece] of Object.entries(pieces)) {
    const warmStart = performance.now();
    for (let i = 0; i < CODE_WARM_RUNS; i++) piece();
    const warmMicros = ((performance.now() - warmStart) * 1000) / CODE_WARM_RUNS;
    const cold: number[] = [];
    for (let i = 0; i < GROUPS; i++) {
      await idle(CODE_IDLE_MS);
      const started = performance.now();
      piece();
      cold.push((performance.now() - started) * 1000);
    }
    result[name] = { warmMicros: round(warmMicros, 2), afterIdleMicros: round(median(cold), 1) };
  }
  return result;
}

async function main(): Promise<void> {
  const store = await storeFloor();
  const code = await codeAfterIdle();
  const report = {
    benchmark: 'the floor of a dependency hop on the embedded runtime',
    date: new Date().toISOString(),
    node: process.version,
    groups: GROUPS,
    store: { calls: CALLS, idleMs: IDLE_MS, ...store },
    codeAfterIdle: { idleMs: CODE_IDLE_MS, ...code },
  };
  console.log(JSON.stringify(report));
  console.log(
    `${CALLS} store calls in series: ${store.warmMs} ms warm, ${store.afterIdleMs} ms after ${IDLE_MS} ms of idle`,
  );
  console.log(`wrote ${writeResult('floor.json', report)}`);
}

await main();
