/**
 * Delivers the tasks table's stream records to the notifier handler the way the deployed event source
 * mapping does: only task and batch items with a new image (the mapping's filter), in order, in batches, one
 * invocation at a time, a failed batch retried a bounded number of times and then dropped (the deployed
 * mapping sends it to its on-failure queue).
 */
import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { NOTIFIED_ITEM_TYPES, STREAM_BATCH_SIZE, STREAM_RETRY_ATTEMPTS } from '../deployment';

export class StreamDelivery {
  readonly #queue: DynamoDBRecord[] = [];
  #draining: Promise<void> | undefined;
  /** Batches given up after their retries. */
  dropped = 0;

  constructor(private readonly deliver: (event: DynamoDBStreamEvent) => Promise<unknown>) {}

  /** Queues the records of one write; delivery starts at once unless a batch is in flight. */
  push(records: readonly DynamoDBRecord[]): void {
    for (const record of records) {
      const type = record.dynamodb?.NewImage?.type?.S;
      if (type !== undefined && NOTIFIED_ITEM_TYPES.includes(type)) this.#queue.push(record);
    }
    this.#draining ??= this.#drain().finally(() => {
      this.#draining = undefined;
    });
  }

  /** Resolves when every queued record has been delivered (or dropped). */
  async idle(): Promise<void> {
    while (this.#draining) await this.#draining;
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const Records = this.#queue.splice(0, STREAM_BATCH_SIZE);
      for (let attempt = 0; ; attempt++) {
        try {
          await this.deliver({ Records });
          break;
        } catch {
          if (attempt >= STREAM_RETRY_ATTEMPTS) {
            this.dropped++;
            break;
          }
        }
      }
    }
  }
}
