/**
 * The SDK's own cost per call in the embedded runtime (not a test): `npm run bench:sdk-call`.
 *
 * One DynamoDB GetItem, the size of the orchestrator's reads, sent through a client whose endpoint is served in
 * process (in-process-transport.ts) to an answer made at once, so only the SDK's work is timed: its middleware,
 * serialization, parsing and signing. Three clients side by side, in turn, after a warm-up: the SDK's SigV4
 * signer; InProcessSigner (the embedded runtime's, which writes the signed request's headers without
 * computing a signature); and InProcessSigner with the client's config in fast-properties mode (fastConfig,
 * sdk-client.ts, as the orchestrator builds its clients). Median microseconds per call over ROUNDS rounds of
 * CALLS calls each.
 *
 * Writes benchmarks/results/sdk-call.json.
 */
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { inProcessClientConfig, serveInProcess } from '../shared/adapters/in-process-transport';
import { fastConfig } from '../shared/adapters/sdk-client';
import { LOCAL_CREDENTIALS } from '../shared/local/runtime/emulators';
import { median, round, writeResult } from './lib';

const ROUNDS = Number(process.env.BENCH_RUNS ?? 7);
const CALLS = 5_000;
const WARM_UP_CALLS = 3_000;
/** Never listened on: the endpoint is served in process only. */
const ORIGIN = 'http://127.0.0.1:9';
const REGION = 'us-east-1';

const ITEM =
  '{"Item":{"pk":{"S":"BATCH#b"},"sk":{"S":"TASK#t"},"status":{"S":"RUNNING"},"attempt":{"N":"1"}}}';
const command = () =>
  new GetItemCommand({
    TableName: 'meta-agent-tasks',
    Key: { pk: { S: 'BATCH#b' }, sk: { S: 'TASK#t' } },
    ProjectionExpression: '#s, attempt',
    ExpressionAttributeNames: { '#s': 'status' },
  });

async function microsPerCall(client: DynamoDBClient, calls: number): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < calls; i++) await client.send(command());
  return ((performance.now() - started) / calls) * 1000;
}

async function main(): Promise<void> {
  const stop = serveInProcess(ORIGIN, async () => ({
    statusCode: 200,
    headers: { 'content-type': 'application/x-amz-json-1.0' },
    body: ITEM,
  }));
  const { requestHandler, signer } = inProcessClientConfig(ORIGIN, { service: 'dynamodb', region: REGION });
  const base = { region: REGION, endpoint: ORIGIN, credentials: LOCAL_CREDENTIALS, requestHandler };
  const clients = {
    sigV4: new DynamoDBClient(base),
    inProcessSigner: new DynamoDBClient({ ...base, signer }),
    inProcessSignerFastConfig: fastConfig(new DynamoDBClient({ ...base, signer })),
  };
  type Variant = keyof typeof clients;
  const variants = Object.keys(clients) as Variant[];
  const samples = Object.fromEntries(variants.map((v) => [v, [] as number[]])) as Record<Variant, number[]>;
  const each = <T>(value: (variant: Variant) => T) =>
    Object.fromEntries(variants.map((v) => [v, value(v)])) as Record<Variant, T>;
  try {
    for (const client of Object.values(clients)) await microsPerCall(client, WARM_UP_CALLS);
    for (let r = 0; r < ROUNDS; r++) {
      for (const v of variants) samples[v].push(await microsPerCall(clients[v], CALLS));
    }
  } finally {
    for (const client of Object.values(clients)) client.destroy();
    stop();
  }
  const report = {
    benchmark: 'SDK cost per DynamoDB call served in process (GetItem)',
    date: new Date().toISOString(),
    node: process.version,
    rounds: ROUNDS,
    callsPerRound: CALLS,
    medianMicrosPerCall: each((v) => round(median(samples[v]), 1)),
    perRound: each((v) => samples[v].map((s) => round(s, 1))),
  };
  console.log(JSON.stringify(report));
  console.log(`wrote ${writeResult('sdk-call.json', report)}`);
}

await main();
