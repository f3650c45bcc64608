/**
 * A local stand-in for the tasks table's DynamoDB stream, which dynalite does not have: it polls the items
 * of watched batches, turns every changed item into a stream record (NEW_AND_OLD_IMAGES, the deployed
 * view type) and hands the records to the deployed notifier handler, exactly as the stream's event source
 * mapping would. Only batches someone watches are polled.
 */
import { type AttributeValue, DynamoDBClient, QueryCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { batchPk } from '../adapters/dynamodb/keys';
import { TASKS_TABLE } from '../adapters/dynamodb/tables';

/** How often watched batches are polled; the deployed stream delivers within about a second too. */
export const CHANGE_FEED_INTERVAL_MS = 200;

type Item = Record<string, AttributeValue>;

/** The latest time an item records (start, finish, any attempt's start or finish): its last change. */
export function changedAt(image: Item | undefined): number {
  if (!image) return 0;
  const item = unmarshall(image) as {
    startedAt?: unknown;
    finishedAt?: unknown;
    createdAt?: unknown;
    attempts?: { startedAt?: unknown; finishedAt?: unknown }[];
  };
  const times = [item.createdAt, item.startedAt, item.finishedAt];
  for (const attempt of Array.isArray(item.attempts) ? item.attempts : [])
    times.push(attempt.startedAt, attempt.finishedAt);
  return Math.max(0, ...times.filter((t): t is number => typeof t === 'number'));
}

export class ChangeFeed {
  readonly #previous = new Map<string, Map<string, string>>();
  readonly #images = new Map<string, Map<string, Item>>();
  readonly #client: DynamoDBClient;
  #timer: NodeJS.Timeout | undefined;
  #polling = false;
  #sequence = 0;

  constructor(
    private readonly tableName: string,
    private readonly deliver: (event: DynamoDBStreamEvent) => Promise<unknown>,
    client?: DynamoDBClient,
  ) {
    this.#client = client ?? new DynamoDBClient({});
  }

  /** Starts following a batch; its current items count as already seen, so only changes are sent. */
  async watch(batchId: string): Promise<void> {
    const pk = batchPk(batchId);
    if (this.#previous.has(pk)) return;
    const items = await this.#query(pk);
    this.#previous.set(pk, new Map(items.map((item) => [this.#key(item), JSON.stringify(item)])));
    this.#images.set(pk, new Map(items.map((item) => [this.#key(item), item])));
  }

  start(): void {
    this.#timer = setInterval(() => void this.poll(), CHANGE_FEED_INTERVAL_MS);
    this.#timer.unref();
  }

  /** One polling pass over every watched batch (also called by tests). */
  async poll(): Promise<void> {
    if (this.#polling) return;
    this.#polling = true;
    try {
      for (const pk of this.#previous.keys()) {
        const records = await this.#diff(pk);
        if (records.length > 0) await this.deliver({ Records: records });
      }
    } catch {
      // A failed pass is retried on the next tick, like a stream batch that failed.
    } finally {
      this.#polling = false;
    }
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#client.destroy();
  }

  #key(item: Item): string {
    return item[TASKS_TABLE.sortKey]?.S ?? '';
  }

  async #query(pk: string): Promise<Item[]> {
    const items: Item[] = [];
    let start: Item | undefined;
    do {
      const page = await this.#client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: '#pk = :pk',
          ExpressionAttributeNames: { '#pk': TASKS_TABLE.partitionKey },
          ExpressionAttributeValues: { ':pk': { S: pk } },
          ExclusiveStartKey: start,
          ConsistentRead: true,
        }),
      );
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
    return items;
  }

  async #diff(pk: string): Promise<DynamoDBRecord[]> {
    const seen = this.#previous.get(pk) ?? new Map<string, string>();
    const images = this.#images.get(pk) ?? new Map<string, Item>();
    const records: DynamoDBRecord[] = [];
    for (const item of await this.#query(pk)) {
      const key = this.#key(item);
      const text = JSON.stringify(item);
      if (seen.get(key) === text) continue;
      const old = images.get(key);
      records.push({
        eventID: String(++this.#sequence),
        eventName: old ? 'MODIFY' : 'INSERT',
        eventSource: 'aws:dynamodb',
        eventVersion: '1.1',
        awsRegion: process.env.AWS_REGION ?? 'local',
        dynamodb: {
          Keys: { pk: { S: pk }, sk: { S: key } },
          NewImage: item as NonNullable<DynamoDBRecord['dynamodb']>['NewImage'],
          ...(old ? { OldImage: old as NonNullable<DynamoDBRecord['dynamodb']>['OldImage'] } : {}),
          SequenceNumber: String(this.#sequence),
          StreamViewType: TASKS_TABLE.streamViewType,
        },
      });
      seen.set(key, text);
      images.set(key, item);
    }
    // DynamoDB streams keep the write order of items sharing a partition key (a batch and its tasks do);
    // one poll may see several writes at once, so they are ordered by the times the items record.
    return records
      .map((record, index) => ({
        record,
        index,
        at: changedAt(record.dynamodb?.NewImage as Item | undefined),
      }))
      .sort((a, b) => a.at - b.at || a.index - b.index)
      .map(({ record }) => record);
  }
}
