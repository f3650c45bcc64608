/**
 * Fleet-wide provider limits in the tasks table (keys.ts): one item per leased call slot
 * (`LIMIT#<key> / SLOT#<i>`, holder and expiresAt) and one state item (`LIMIT#<key> / STATE`) holding the
 * rate decrease and the request and token buckets, each a map written with a condition on its own `at`, so
 * concurrent writers of different maps never overwrite each other. One strongly consistent query reads them
 * all. Slot and state items carry no `type` the progress notifier listens to, so they never reach it.
 */
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Bucket, RateState } from '../../domain/provider-limits';
import type { ProviderLimitSnapshot, ProviderLimitStore, ProviderSlot } from '../../ports';
import { documentClient, isConditionFailed, sendConditional } from './client';
import { ItemType, LIMIT_SLOT_SK_PREFIX, LIMIT_STATE_SK, limitPk, limitSlotSk } from './keys';

const isNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

function bucketOf(value: unknown): Bucket | undefined {
  const map = value as Partial<Bucket> | undefined;
  return map && isNumber(map.level) && isNumber(map.at) ? { level: map.level, at: map.at } : undefined;
}

function rateOf(value: unknown): RateState | undefined {
  const map = value as Partial<RateState> | undefined;
  if (!map || !isNumber(map.factor) || !isNumber(map.at) || !isNumber(map.cooldownUntil)) return undefined;
  return {
    factor: map.factor,
    at: map.at,
    cooldownUntil: map.cooldownUntil,
    throttles: isNumber(map.throttles) ? map.throttles : 0,
  };
}

export class DynamoProviderLimitStore implements ProviderLimitStore {
  constructor(
    private readonly tableName: string,
    private readonly client: DynamoDBDocumentClient = documentClient(),
  ) {}

  async read(key: string): Promise<ProviderLimitSnapshot> {
    const snapshot: ProviderLimitSnapshot = { slots: [] };
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': limitPk(key) },
          ConsistentRead: true,
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      for (const item of page.Items ?? []) {
        const sk = String(item.sk);
        if (sk === LIMIT_STATE_SK) {
          const rate = rateOf(item.rate);
          const requests = bucketOf(item.requests);
          const tokens = bucketOf(item.tokens);
          if (rate) snapshot.rate = rate;
          if (requests) snapshot.requests = requests;
          if (tokens) snapshot.tokens = tokens;
        } else if (sk.startsWith(LIMIT_SLOT_SK_PREFIX) && isNumber(item.expiresAt)) {
          const slot: ProviderSlot = {
            index: Number(sk.slice(LIMIT_SLOT_SK_PREFIX.length)),
            holder: String(item.holder),
            expiresAt: item.expiresAt,
          };
          snapshot.slots.push(slot);
        }
      }
      start = page.LastEvaluatedKey;
    } while (start);
    return snapshot;
  }

  async takeSlot(
    key: string,
    index: number,
    holder: string,
    expiresAt: number,
    now: number,
  ): Promise<boolean> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk: limitPk(key), sk: limitSlotSk(index), type: ItemType.ProviderLimit, holder, expiresAt },
          ConditionExpression: 'attribute_not_exists(pk) OR expiresAt <= :now',
          ExpressionAttributeValues: { ':now': now },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailed(error)) return false;
      throw error;
    }
  }

  async renewSlot(key: string, index: number, holder: string, expiresAt: number): Promise<boolean> {
    const applied = await sendConditional(
      this.client,
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: limitPk(key), sk: limitSlotSk(index) },
        UpdateExpression: 'SET expiresAt = :expiresAt',
        ConditionExpression: 'holder = :holder',
        ExpressionAttributeValues: { ':holder': holder, ':expiresAt': expiresAt },
      }),
    );
    return applied !== undefined;
  }

  async releaseSlot(key: string, index: number, holder: string): Promise<void> {
    try {
      await this.client.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { pk: limitPk(key), sk: limitSlotSk(index) },
          ConditionExpression: 'holder = :holder',
          ExpressionAttributeValues: { ':holder': holder },
        }),
      );
    } catch (error) {
      // Taken over after the lease lapsed: the slot is someone else's now, nothing to free.
      if (!isConditionFailed(error)) throw error;
    }
  }

  setBucket(
    key: string,
    bucket: 'requests' | 'tokens',
    next: Bucket,
    previousAt: number | undefined,
  ): Promise<boolean> {
    return this.#setMap(key, bucket, next, previousAt);
  }

  setRate(key: string, next: RateState, previousAt: number | undefined): Promise<boolean> {
    return this.#setMap(key, 'rate', next, previousAt);
  }

  /** Sets one map of the state item when its `at` is still `previousAt` (absent when undefined). */
  async #setMap(key: string, name: string, value: object, previousAt: number | undefined): Promise<boolean> {
    const applied = await sendConditional(
      this.client,
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: limitPk(key), sk: LIMIT_STATE_SK },
        UpdateExpression: 'SET #map = :value, #type = :type',
        ConditionExpression:
          previousAt === undefined ? 'attribute_not_exists(#map.#at)' : '#map.#at = :previousAt',
        ExpressionAttributeNames: { '#map': name, '#at': 'at', '#type': 'type' },
        ExpressionAttributeValues: {
          ':value': value,
          ':type': ItemType.ProviderLimit,
          ...(previousAt === undefined ? {} : { ':previousAt': previousAt }),
        },
      }),
    );
    return applied !== undefined;
  }
}
