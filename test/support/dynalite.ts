/**
 * An in-memory dynalite on 127.0.0.1 (random port) with the tasks and agents tables created from the
 * shared key definitions (the embedded runtime's own helpers), for adapter tests. Start in beforeAll,
 * stop in afterAll.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
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

export async function startDynalite(): Promise<LocalDynamo> {
  const server = await startServer();
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
