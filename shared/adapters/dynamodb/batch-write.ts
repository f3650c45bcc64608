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

type WriteRequest =
  | { PutRequest: { Item: Record<string, unknown> } }
  | { DeleteRequest: { Key: Record<string, unknown> } };

/** Puts `items` in chunks of 25 (BATCH_WRITE_PARALLELISM at once), retrying what DynamoDB leaves unprocessed. */
export async function putAll(
  client: DynamoDBDocumentClient,
  tableName: string,
  items: readonly Record<string, unknown>[],
): Promise<void> {
  await writeAll(
    client,
    tableName,
    items.map((Item) => ({ PutRequest: { Item } })),
  );
}

/** Deletes the items of `keys` like putAll writes: chunks of 25, several at once, unprocessed ones retried. */
export async function deleteAll(
  client: DynamoDBDocumentClient,
  tableName: string,
  keys: readonly Record<string, unknown>[],
): Promise<void> {
  await writeAll(
    client,
    tableName,
    keys.map((Key) => ({ DeleteRequest: { Key } })),
  );
}

async function writeAll(
  client: DynamoDBDocumentClient,
  tableName: string,
  requests: readonly WriteRequest[],
): Promise<void> {
  let next = 0;
  const writeChunks = async () => {
    for (let start = next; start < requests.length; start = next) {
      next += BATCH_WRITE_CHUNK;
      await writeChunk(client, tableName, requests.slice(start, start + BATCH_WRITE_CHUNK));
    }
  };
  await Promise.all(Array.from({ length: BATCH_WRITE_PARALLELISM }, writeChunks));
}

async function writeChunk(
  client: DynamoDBDocumentClient,
  tableName: string,
  chunk: readonly WriteRequest[],
): Promise<void> {
  let requests = [...chunk];
  for (let round = 0; requests.length > 0; round++) {
    if (round > MAX_UNPROCESSED_RETRIES) throw new UnprocessedItemsError(requests.length);
    if (round > 0) await sleep(BACKOFF_BASE_MS * 2 ** (round - 1));
    const result = await client.send(new BatchWriteCommand({ RequestItems: { [tableName]: requests } }));
    requests = (result.UnprocessedItems?.[tableName] ?? []) as WriteRequest[];
  }
}
