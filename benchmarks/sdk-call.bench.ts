/**
 * The SDK's own cost per call in the embedded runtime (not a test): `npm run bench:sdk-call`.
 *
 * One DynamoDB GetItem, the size of the orchestrator's reads, sent through a client whose endpoint is served in
 * process (in-process-transport.ts) to an answer made at once, so only the SDK's work is timed: its middleware,
 * serialization, parsing and signing. Two clients side by side, in turn, after a warm-up: the SDK's SigV4
 * signer, and InProcessSigner (the embedded runtime's, which writes the signed request's headers without
 * computing a signature). Median microseconds per call over ROUNDS rounds of CALLS calls each.
 *
 * Writes benchmarks/results/sdk-call.json.
 */
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { inProcessClientConfig, serveInProcess } from '../shared/adapters/in-process-transport';
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
  };
  const samples = { sigV4: [] as number[], inProcessSigner: [] as number[] };
  try {
    for (const client of Object.values(clients)) await microsPerCall(client, WARM_UP_CALLS);
    for (let r = 0; r < ROUNDS; r++) {
      samples.sigV4.push(await microsPerCall(clients.sigV4, CALLS));
      samples.inProcessSigner.push(await microsPerCall(clients.inProcessSigner, CALLS));
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
    medianMicrosPerCall: {
      sigV4: round(median(samples.sigV4), 1),
      inProcessSigner: round(median(samples.inProcessSigner), 1),
    },
    perRound: {
      sigV4: samples.sigV4.map((s) => round(s, 1)),
      inProcessSigner: samples.inProcessSigner.map((s) => round(s, 1)),
    },
  };
  console.log(JSON.stringify(report));
  console.log(`wrote ${writeResult('sdk-call.json', report)}`);
}

await main();
