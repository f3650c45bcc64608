import { BatchGetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { MAX_UNPROCESSED_RETRIES, UnprocessedItemsError } from './batch-write';

/** BatchGetItem accepts at most 100 keys per call. */
export const BATCH_GET_CHUNK = 100;
const BACKOFF_BASE_MS = 25;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Reads the items of `keys` (strongly consistent; chunks of 100 read at once), retrying the keys DynamoDB
 * leaves unprocessed. Items that do not exist are absent from the answer; the order is not the keys'.
 */
export async function getAll(
  client: DynamoDBDocumentClient,
  tableName: string,
  keys: readonly Record<string, unknown>[],
  projection?: { expression: string; names: Record<string, string> },
): Promise<Record<string, unknown>[]> {
  const chunks: Record<string, unknown>[][] = [];
  for (let i = 0; i < keys.length; i += BATCH_GET_CHUNK) chunks.push(keys.slice(i, i + BATCH_GET_CHUNK));
  const pages = await Promise.all(chunks.map((chunk) => getChunk(client, tableName, chunk, projection)));
  return pages.flat();
}

async function getChunk(
  client: DynamoDBDocumentClient,
  tableName: string,
  chunk: readonly Record<string, unknown>[],
  projection?: { expression: string; names: Record<string, string> },
): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let pending = [...chunk];
  for (let round = 0; pending.length > 0; round++) {
    if (round > MAX_UNPROCESSED_RETRIES) throw new UnprocessedItemsError(pending.length);
    if (round > 0) await sleep(BACKOFF_BASE_MS * 2 ** (round - 1));
    const result = await client.send(
      new BatchGetCommand({
        RequestItems: {
          [tableName]: {
            Keys: pending,
            ConsistentRead: true,
            ...(projection
              ? { ProjectionExpression: projection.expression, ExpressionAttributeNames: projection.names }
              : {}),
          },
        },
      }),
    );
    for (const item of result.Responses?.[tableName] ?? []) items.push(item);
    pending = [...(result.UnprocessedKeys?.[tableName]?.Keys ?? [])];
  }
  return items;
}
