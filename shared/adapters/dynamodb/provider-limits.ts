/**
 * Fleet-wide provider limits in the tasks table (keys.ts): one item per leased call slot
 * (`LIMIT#<key> / SLOT#<i>`, holder and expiresAt) and one state item (`LIMIT#<key> / STATE`) holding the
 * rate decrease (a map written with a condition on its own `at`) and the theoretical arrival times of the
 * request and token windows (`requestsTat`, `tokensTat`: moved by atomic ADDs, so concurrent takers never
 * race). One strongly consistent query reads them all. Slot and state items carry no `type` the progress notifier listens to, so they never reach it.
 */
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { RateState } from '../../domain/provider-limits';
import type { ProviderLimitSnapshot, ProviderLimitStore, ProviderSlot } from '../../ports';
import { documentClient, isConditionFailed, sendConditional } from './client';
import { ItemType, LIMIT_SLOT_SK_PREFIX, LIMIT_STATE_SK, limitPk, limitSlotSk } from './keys';

/** Charges that lose both their ADD and their reset to other writers before giving up (each loss means progress elsewhere). */
const MAX_CHARGE_RACES = 8;

const isNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

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
          if (rate) snapshot.rate = rate;
          if (isNumber(item.requestsTat)) snapshot.requestsTat = item.requestsTat;
          if (isNumber(item.tokensTat)) snapshot.tokensTat = item.tokensTat;
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

  async takeWindow(
    key: string,
    window: 'requests' | 'tokens',
    costMs: number,
    toleranceMs: number,
    now: number,
  ): Promise<boolean> {
    // Busy window: push its TAT while it stays within the tolerance (one atomic ADD, no read).
    if (
      await this.#updateTat(
        key,
        window,
        'ADD #tat :cost SET #type = :type',
        '#tat >= :now AND #tat <= :latest',
        { ':cost': costMs, ':now': now, ':latest': now + toleranceMs - costMs },
      )
    )
      return true;
    return this.#resetTat(key, window, costMs, now);
  }

  async chargeWindow(key: string, window: 'requests' | 'tokens', costMs: number, now: number): Promise<void> {
    for (let race = 0; race < MAX_CHARGE_RACES; race++) {
      if (
        await this.#updateTat(key, window, 'ADD #tat :cost SET #type = :type', '#tat >= :now', {
          ':cost': costMs,
          ':now': now,
        })
      )
        return;
      if (await this.#resetTat(key, window, costMs, now)) return;
    }
    throw new Error(`provider limit ${key}: ${window} not charged after ${MAX_CHARGE_RACES} write races`);
  }

  /** An idle (or new) window's TAT is in the past: it starts again at `now + costMs`. */
  #resetTat(key: string, window: 'requests' | 'tokens', costMs: number, now: number): Promise<boolean> {
    return this.#updateTat(
      key,
      window,
      'SET #tat = :next, #type = :type',
      'attribute_not_exists(#tat) OR #tat < :now',
      {
        ':next': now + costMs,
        ':now': now,
      },
    );
  }

  async #updateTat(
    key: string,
    window: 'requests' | 'tokens',
    update: string,
    condition: string,
    values: Record<string, number>,
  ): Promise<boolean> {
    const applied = await sendConditional(
      this.client,
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: limitPk(key), sk: LIMIT_STATE_SK },
        UpdateExpression: update,
        ConditionExpression: condition,
        ExpressionAttributeNames: { '#tat': `${window}Tat`, '#type': 'type' },
        ExpressionAttributeValues: { ...values, ':type': ItemType.ProviderLimit },
      }),
    );
    return applied !== undefined;
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
