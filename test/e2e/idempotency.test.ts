/**
 * Idempotency-Key: a retried submission returns the batch of the first one instead of starting another.
 */
import { describe, expect, it } from 'vitest';
import { singleTaskBatch } from './support/batches';
import { ApiClient, uniqueBatchId } from './support/client';
import { readE2eConfig } from './support/env';

const api = new ApiClient(readE2eConfig());

function batchIdOf(body: unknown): string {
  const id = (body as { batchId?: unknown } | undefined)?.batchId;
  if (typeof id !== 'string') throw new Error(`no batchId in ${JSON.stringify(body)}`);
  return id;
}

describe('a submission with an Idempotency-Key', () => {
  it('returns the same batch when repeated, and runs it once', async () => {
    const key = uniqueBatchId('idempotency');
    const batch = singleTaskBatch(key);

    const first = await api.submit(batch, key);
    const repeat = await api.submit(batch, key);

    expect(first.status, JSON.stringify(first.body)).toBe(202);
    expect(repeat.status, JSON.stringify(repeat.body)).toBe(202);
    expect(batchIdOf(repeat.body)).toBe(batchIdOf(first.body));
    const result = await api.waitForTerminal(batchIdOf(first.body));
    expect(result.status).toBe('SUCCEEDED');
    expect(result.tasks.map((t) => t.attempts.length)).toEqual([1]);
  });

  it('refuses the same key for a different request with 409', async () => {
    const key = uniqueBatchId('idempotency-conflict');
    const first = await api.submit(singleTaskBatch('first'), key);

    const other = await api.submit(singleTaskBatch('a different body'), key);

    expect(first.status, JSON.stringify(first.body)).toBe(202);
    expect(other.status, JSON.stringify(other.body)).toBe(409);
    await api.waitForTerminal(batchIdOf(first.body));
  });

  it('starts a new batch for each submission without a key', async () => {
    const batch = singleTaskBatch('no key');

    const first = await api.submit(batch);
    const second = await api.submit(batch);

    expect(first.status, JSON.stringify(first.body)).toBe(202);
    expect(second.status, JSON.stringify(second.body)).toBe(202);
    expect(batchIdOf(second.body)).not.toBe(batchIdOf(first.body));
    await Promise.all([
      api.waitForTerminal(batchIdOf(first.body)),
      api.waitForTerminal(batchIdOf(second.body)),
    ]);
  });
});

describe('a batch id', () => {
  it('is written once: another submission of a finished batch id is a 409 and its results stay', async () => {
    const batchId = uniqueBatchId('written-once');
    const first = await api.submit({ ...singleTaskBatch('first'), batchId }, `${batchId}-a`);
    expect(first.status, JSON.stringify(first.body)).toBe(202);
    const finished = await api.waitForTerminal(batchId);

    const again = await api.submit({ ...singleTaskBatch('second'), batchId }, `${batchId}-b`);
    const sameBody = await api.submit({ ...singleTaskBatch('first'), batchId }, `${batchId}-c`);

    expect(again.status, JSON.stringify(again.body)).toBe(409);
    expect(sameBody.status, JSON.stringify(sameBody.body)).toBe(409);
    expect(await api.result(batchId)).toEqual(finished);
  });
});
