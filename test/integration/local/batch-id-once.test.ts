/**
 * A batch id is written once (issue 12, problem 1): on the real adapters and emulators, through the deployed
 * submit handler, a second submission of an existing id never touches the batch: neither a finished one's
 * results nor a running one's tasks, and of concurrent submissions of one id exactly one is accepted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchResult } from '../../../shared/domain/schemas';
import type { LocalHttpResponse } from '../../../shared/local/api-gateway';
import { EmbeddedSystem } from '../../../shared/local/system';

let system: EmbeddedSystem;

beforeAll(async () => {
  system = await EmbeddedSystem.start({ scalerIntervalMs: 0 });
});

afterAll(async () => {
  await system?.stop();
});

function submit(batch: unknown, idempotencyKey?: string): Promise<LocalHttpResponse> {
  return system.request({
    method: 'POST',
    path: '/batches',
    headers: {
      'content-type': 'application/json',
      ...(idempotencyKey === undefined ? {} : { 'idempotency-key': idempotencyKey }),
    },
    body: JSON.stringify(batch),
  });
}

function batchOf(batchId: string, ids: string[], durationMs = 0) {
  return {
    batchId,
    tasks: ids.map((id) => ({
      id,
      description: `Write the Python FastAPI endpoint ${id}`,
      input: { simulate: { durationMs } },
    })),
  };
}

/** What must not change: statuses, attempts (agents, times), outputs, the batch's own status and times. */
function unchanged(result: BatchResult) {
  return {
    status: result.status,
    startedAt: result.startedAt,
    finishedAt: result.finishedAt,
    tasks: result.tasks.map((t) => ({ id: t.id, status: t.status, attempts: t.attempts, output: t.output })),
  };
}

describe('a second submission of an existing batch id', () => {
  it('is refused with 409 and leaves a finished batch and its results intact', async () => {
    const batchId = 'finished-then-resubmitted';
    const first = await submit(batchOf(batchId, ['a', 'b']), 'key-first');
    expect(first.statusCode, first.body).toBe(202);
    const finished = await system.waitForBatch(batchId);
    expect(finished.status).toBe('SUCCEEDED');

    const sameBodyNewKey = await submit(batchOf(batchId, ['a', 'b']), 'key-second');
    const otherBodyNewKey = await submit(batchOf(batchId, ['a', 'c']), 'key-third');
    const otherBodyNoKey = await submit(batchOf(batchId, ['b']));

    for (const response of [sameBodyNewKey, otherBodyNewKey, otherBodyNoKey]) {
      expect(response.statusCode, response.body).toBe(409);
      expect(JSON.parse(response.body).message).toContain(batchId);
    }
    const after = await system.result(batchId);
    expect(unchanged(after)).toEqual(unchanged(finished));
    expect(after.tasks.every((t) => t.attempts.length === 1 && t.output !== undefined)).toBe(true);
  });

  it('is refused with 409 while the batch runs, and the run ends as if it had never come', async () => {
    const batchId = 'running-then-resubmitted';
    const first = await submit(batchOf(batchId, ['slow-1', 'slow-2'], 1_500));
    expect(first.statusCode, first.body).toBe(202);
    await waitUntil(async () => (await system.result(batchId)).tasks.some((t) => t.status === 'RUNNING'));

    const again = await submit(batchOf(batchId, ['slow-1', 'slow-2'], 0), 'key-mid-run');

    expect(again.statusCode, again.body).toBe(409);
    const result = await system.waitForBatch(batchId);
    expect(result.status).toBe('SUCCEEDED');
    expect(result.tasks.map((t) => [t.id, t.status, t.attempts.length])).toEqual([
      ['slow-1', 'SUCCEEDED', 1],
      ['slow-2', 'SUCCEEDED', 1],
    ]);
  });

  it('accepts exactly one of eight concurrent submissions of one id, and the batch is the winner’s', async () => {
    const batchId = 'raced-id';
    const bodies = Array.from({ length: 8 }, (_, i) => batchOf(batchId, [`only-${i}`, `shared-${i % 2}`]));

    const responses = await Promise.all(bodies.map((body, i) => submit(body, `race-key-${i}`)));

    const accepted = responses.flatMap((r, i) => (r.statusCode === 202 ? [i] : []));
    expect(accepted).toHaveLength(1);
    expect(responses.filter((r) => r.statusCode === 409)).toHaveLength(7);
    const winner = bodies[accepted[0] as number];
    const result = await system.waitForBatch(batchId);
    expect(result.status).toBe('SUCCEEDED');
    expect(result.tasks.map((t) => t.id)).toEqual(winner?.tasks.map((t) => t.id));
    expect(result.tasks.every((t) => t.attempts.length === 1)).toBe(true);
  });

  it('answers the same request with its Idempotency-Key again with the batch it created (202)', async () => {
    const batch = batchOf('replayed-id', ['a']);
    const first = await submit(batch, 'replay-key');
    await system.waitForBatch('replayed-id');

    const again = await submit(batch, 'replay-key');

    expect(first.statusCode).toBe(202);
    expect(again.statusCode, again.body).toBe(202);
    expect(JSON.parse(again.body).batchId).toBe('replayed-id');
    expect((await system.result('replayed-id')).tasks[0]?.attempts).toHaveLength(1);
  });
});

async function waitUntil(condition: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
