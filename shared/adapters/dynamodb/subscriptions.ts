/**
 * WebSocket subscriptions in the tasks table: `BATCH#<id> / SUB#<connectionId>` lists a batch's
 * subscribers for the notifier; the reverse item `CONNECTION#<id> / SUB#<batchId>` lets $disconnect find them.
 */
import {
  BatchWriteCommand,
  type DynamoDBDocumentClient,
  PutCommand,
  QueryCommand,
} from '@aws-sdk/lib-dynamodb';
import type { SubscriptionStore } from '../../ports';
import { documentClient } from './client';
import { batchPk, connectionPk, ItemType, SUB_SK_PREFIX, subSk } from './keys';

export class DynamoSubscriptionStore implements SubscriptionStore {
  constructor(
    private readonly tableName: string,
    private readonly client: DynamoDBDocumentClient = documentClient(),
  ) {}

  async subscribe(connectionId: string, batchId: string, at: number): Promise<void> {
    const common = { type: ItemType.Subscription, connectionId, batchId, createdAt: at };
    // Reverse item first: a crash in between leaves a harmless extra reverse item, never an orphan subscription.
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { pk: connectionPk(connectionId), sk: subSk(batchId), ...common },
      }),
    );
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { pk: batchPk(batchId), sk: subSk(connectionId), ...common },
      }),
    );
  }

  async subscribers(batchId: string): Promise<string[]> {
    return (await this.queryPrefix(batchPk(batchId))).map((item) => String(item.connectionId));
  }

  async unsubscribe(connectionId: string, batchId: string): Promise<void> {
    await this.deleteKeys([
      { pk: batchPk(batchId), sk: subSk(connectionId) },
      { pk: connectionPk(connectionId), sk: subSk(batchId) },
    ]);
  }

  async unsubscribeAll(connectionId: string): Promise<void> {
    const batches = (await this.queryPrefix(connectionPk(connectionId))).map((item) => String(item.batchId));
    await this.deleteKeys([
      ...batches.map((batchId) => ({ pk: batchPk(batchId), sk: subSk(connectionId) })),
      ...batches.map((batchId) => ({ pk: connectionPk(connectionId), sk: subSk(batchId) })),
    ]);
  }

  private async queryPrefix(pk: string): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': pk, ':prefix': SUB_SK_PREFIX },
          ExclusiveStartKey,
        }),
      );
      items.push(...(page.Items ?? []));
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    return items;
  }

  private async deleteKeys(keys: { pk: string; sk: string }[]): Promise<void> {
    const DELETE_CHUNK = 25;
    for (let i = 0; i < keys.length; i += DELETE_CHUNK) {
      let requests: { DeleteRequest: { Key: Record<string, unknown> } }[] = keys
        .slice(i, i + DELETE_CHUNK)
        .map((Key) => ({ DeleteRequest: { Key } }));
      // Deletes are idempotent; retry what DynamoDB leaves unprocessed a few times.
      for (let round = 0; requests.length > 0 && round < 5; round++) {
        const result = await this.client.send(
          new BatchWriteCommand({ RequestItems: { [this.tableName]: requests } }),
        );
        requests = (result.UnprocessedItems?.[this.tableName] ?? []).flatMap((r) =>
          r.DeleteRequest?.Key ? [{ DeleteRequest: { Key: r.DeleteRequest.Key } }] : [],
        );
      }
    }
  }
}
