/** putAll: chunks of 25, a few at once, unprocessed items retried (mocked at the SDK seam). */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  BATCH_WRITE_CHUNK,
  BATCH_WRITE_PARALLELISM,
  MAX_UNPROCESSED_RETRIES,
  putAll,
  UnprocessedItemsError,
} from '../../../shared/adapters/dynamodb/batch-write';

const ddb = mockClient(DynamoDBDocumentClient);
const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
const TABLE = 'tasks';

type Request = { PutRequest: { Item: { id: number } } };
const requestsOf = (input: unknown) =>
  (input as { RequestItems: Record<string, Request[]> }).RequestItems[TABLE] ?? [];
const items = (n: number) => Array.from({ length: n }, (_, id) => ({ id }));

afterEach(() => {
  ddb.reset();
});

describe('putAll', () => {
  it('writes every item once, in chunks of 25, never more than BATCH_WRITE_PARALLELISM chunks at once', async () => {
    const written: number[] = [];
    let inFlight = 0;
    let peak = 0;
    ddb.on(BatchWriteCommand).callsFake(async (input) => {
      inFlight += 1;
      peak = Math.max(peak, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5));
      const requests = requestsOf(input);
      expect(requests.length).toBeLessThanOrEqual(BATCH_WRITE_CHUNK);
      written.push(...requests.map((r) => r.PutRequest.Item.id));
      inFlight -= 1;
      return {};
    });

    await putAll(client, TABLE, items(260));

    expect(written.sort((a, b) => a - b)).toEqual(items(260).map((i) => i.id));
    expect(ddb.commandCalls(BatchWriteCommand)).toHaveLength(11);
    expect(peak).toBe(BATCH_WRITE_PARALLELISM);
  });

  it('retries what DynamoDB leaves unprocessed, and gives up with the count after the last round', async () => {
    let calls = 0;
    ddb.on(BatchWriteCommand).callsFake(async (input) => {
      calls += 1;
      const requests = requestsOf(input);
      // The first answer leaves two items unprocessed; the retry takes them.
      return calls === 1 ? { UnprocessedItems: { [TABLE]: requests.slice(0, 2) } } : {};
    });
    await putAll(client, TABLE, items(10));
    expect(requestsOf(ddb.commandCalls(BatchWriteCommand)[1]?.args[0].input)).toHaveLength(2);

    ddb.reset();
    ddb
      .on(BatchWriteCommand)
      .callsFake(async (input) => ({ UnprocessedItems: { [TABLE]: requestsOf(input) } }));
    // The backoff between the rounds (6.4 s in all) on a fake clock, run through instead of waited for.
    vi.useFakeTimers();
    try {
      const gaveUp = expect(putAll(client, TABLE, items(3))).rejects.toBeInstanceOf(UnprocessedItemsError);
      await vi.runAllTimersAsync();
      await gaveUp;
    } finally {
      vi.useRealTimers();
    }
    expect(ddb.commandCalls(BatchWriteCommand)).toHaveLength(MAX_UNPROCESSED_RETRIES + 1);
  });
});
