/** The DynamoDB task store and agent registry on a dynalite started before the file's tests, stopped after. */
import { afterAll, beforeAll } from 'vitest';
import { DynamoAgentRegistry } from '../../shared/adapters/dynamodb/agent-registry';
import { documentClient } from '../../shared/adapters/dynamodb/client';
import { DynamoTaskStore } from '../../shared/adapters/dynamodb/task-store';
import { type LocalDynamo, startDynalite } from './dynalite';

export interface DynamoStores {
  store: DynamoTaskStore;
  agents: DynamoAgentRegistry;
}

/** Registers the hooks; the stores are set once beforeAll has run. */
export function useDynamoStores(): DynamoStores {
  const stores = {} as DynamoStores;
  let dynamo: LocalDynamo | undefined;
  beforeAll(async () => {
    dynamo = await startDynalite();
    const doc = documentClient(dynamo.client);
    stores.store = new DynamoTaskStore(dynamo.tasksTable, doc);
    stores.agents = new DynamoAgentRegistry(dynamo.agentsTable, doc);
  });
  afterAll(async () => {
    await dynamo?.stop();
  });
  return stores;
}
