import { BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** BatchWriteItem accepts at most 25 requests per call. */
export const BATCH_WRITE_CHUNK = 25;
/** Rounds of retrying UnprocessedItems before giving up (with exponential backoff). */
export const MAX_UNPROCESSED_RETRIES = 8;
const BACKOFF_BASE_MS = 25;

export class UnprocessedItemsError extends Error {
  constructor(readonly count: number) {
    super(`DynamoDB left ${count} items unprocessed after ${MAX_UNPROCESSED_RETRIES} retries`);
    this.name = 'UnprocessedItemsError';
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Puts `items` in chunks of 25, retrying what DynamoDB leaves unprocessed (throttling). */
export async function putAll(
  client: DynamoDBDocumentClient,
  tableName: string,
  items: readonly Record<string, unknown>[],
): Promise<void> {
  for (let start = 0; start < items.length; start += BATCH_WRITE_CHUNK) {
    let requests = items.slice(start, start + BATCH_WRITE_CHUNK).map((Item) => ({ PutRequest: { Item } }));
    for (let round = 0; requests.length > 0; round++) {
      if (round > MAX_UNPROCESSED_RETRIES) throw new UnprocessedItemsError(requests.length);
      if (round > 0) await sleep(BACKOFF_BASE_MS * 2 ** (round - 1));
      const result = await client.send(new BatchWriteCommand({ RequestItems: { [tableName]: requests } }));
      requests = (result.UnprocessedItems?.[tableName] ?? []).flatMap((r) =>
        r.PutRequest?.Item ? [{ PutRequest: { Item: r.PutRequest.Item } }] : [],
      );
    }
  }
}
