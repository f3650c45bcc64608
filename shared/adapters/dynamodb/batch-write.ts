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

/** Chunks written at once: a 2,000-task batch is 80 chunks, which one after the other cost a submit ~0.5 s. */
export const BATCH_WRITE_PARALLELISM = 4;

/** Puts `items` in chunks of 25 (BATCH_WRITE_PARALLELISM at once), retrying what DynamoDB leaves unprocessed. */
export async function putAll(
  client: DynamoDBDocumentClient,
  tableName: string,
  items: readonly Record<string, unknown>[],
): Promise<void> {
  let next = 0;
  const writeChunks = async () => {
    for (let start = next; start < items.length; start = next) {
      next += BATCH_WRITE_CHUNK;
      await putChunk(client, tableName, items.slice(start, start + BATCH_WRITE_CHUNK));
    }
  };
  await Promise.all(Array.from({ length: BATCH_WRITE_PARALLELISM }, writeChunks));
}

async function putChunk(
  client: DynamoDBDocumentClient,
  tableName: string,
  chunk: readonly Record<string, unknown>[],
): Promise<void> {
  let requests = chunk.map((Item) => ({ PutRequest: { Item } }));
  for (let round = 0; requests.length > 0; round++) {
    if (round > MAX_UNPROCESSED_RETRIES) throw new UnprocessedItemsError(requests.length);
    if (round > 0) await sleep(BACKOFF_BASE_MS * 2 ** (round - 1));
    const result = await client.send(new BatchWriteCommand({ RequestItems: { [tableName]: requests } }));
    requests = (result.UnprocessedItems?.[tableName] ?? []).flatMap((r) =>
      r.PutRequest?.Item ? [{ PutRequest: { Item: r.PutRequest.Item } }] : [],
    );
  }
}
