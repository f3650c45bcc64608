/**
 * The cache of model-assisted routing answers in the tasks table (`ADVICE#<key> / ADVICE`), shared by every
 * router container: the same description asked of the same model with the same candidates is answered
 * from here, without a call. Entries expire after ROUTING_ADVICE_TTL_MS (checked on read; `ttl` lets
 * DynamoDB's TTL sweep them on AWS, and dynalite has none).
 */
import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { type Usage, UsageSchema } from '../../domain/schemas';
import type { RoutingAdviceCache, RoutingAnswer } from '../../ports';
import { documentClient } from './client';
import { ADVICE_SK, advicePk, ItemType } from './keys';
import { TASKS_TABLE } from './tables';

/** How long a routing answer is reused: long enough to spare repeated batches, short enough to follow a model change. */
export const ROUTING_ADVICE_TTL_MS = 30 * 24 * 3600 * 1000;

export class DynamoRoutingAdviceCache implements RoutingAdviceCache {
  constructor(
    private readonly tableName: string,
    private readonly client: DynamoDBDocumentClient = documentClient(),
    private readonly ttlMs = ROUTING_ADVICE_TTL_MS,
  ) {}

  async get(key: string, now: number): Promise<RoutingAnswer | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: advicePk(key), sk: ADVICE_SK } }),
    );
    if (!Item || typeof Item.role !== 'string' || typeof Item.model !== 'string') return undefined;
    if (typeof Item.expiresAt !== 'number' || Item.expiresAt <= now) return undefined;
    const usage = UsageSchema.safeParse(Item.usage);
    return { role: Item.role, model: Item.model, ...(usage.success ? { usage: usage.data as Usage } : {}) };
  }

  async put(key: string, answer: RoutingAnswer, now: number): Promise<void> {
    const expiresAt = now + this.ttlMs;
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          pk: advicePk(key),
          sk: ADVICE_SK,
          type: ItemType.RoutingAdvice,
          role: answer.role,
          model: answer.model,
          ...(answer.usage ? { usage: answer.usage } : {}),
          at: now,
          expiresAt,
          [TASKS_TABLE.ttlAttribute]: Math.ceil(expiresAt / 1000),
        },
      }),
    );
  }
}
