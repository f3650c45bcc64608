/**
 * Cancel stops a running batch for good; redrive runs again only what did not succeed.
 */
import { describe, expect, it } from 'vitest';
import { flakyBatch, longBatch } from './support/batches';
import { ApiClient, isTerminalBatchStatus, sleep, uniqueBatchId } from './support/client';
import { readE2eConfig } from './support/env';

const config = readE2eConfig();
const api = new ApiClient(config);

/**
 * After a cancel, how long to watch that nothing comes back to life (an aborted worker writing its
 * outcome, a dependent released late).
 */
const SETTLE_MS = 3_000;

describe('cancelling a running batch', () => {
  it('cancels every unfinished task, stops the running one and gives its agent slot back', async () => {
    const batch = longBatch(uniqueBatchId('cancel'));
    const submitted = await api.submit(batch);
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
    const running = await api.waitForResult(
      batch.batchId,
      (r) => r.tasks.find((t) => t.id === 'long')?.status === 'RUNNING',
      'running its long task',
    );
    const agentId = running.tasks.find((t) => t.id === 'long')?.agentId;

    const cancelled = await api.cancel(batch.batchId);

    expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(200);
    expect(cancelled.body).toMatchObject({ batchId: batch.batchId, status: 'CANCELLED' });
    await sleep(SETTLE_MS);
    const settled = await api.waitForResult(batch.batchId, (r) => r.status === 'CANCELLED', 'CANCELLED');
    expect(settled.tasks.map((t) => [t.id, t.status])).toEqual([
      ['long', 'CANCELLED'],
      ['after', 'CANCELLED'],
    ]);
    const attempts = settled.tasks.flatMap((t) => t.attempts);
    expect(attempts.filter((a) => a.status === 'RUNNING')).toEqual([]);
    expect(settled.tasks[0]?.attempts.at(-1)?.status).toBe('CANCELLED');
    expect(settled.tasks[1]?.attempts).toEqual([]);
    const agents = await api.request('GET', '/agents');
    const agent = (agents.body as { agents: { agentId: string; reserved: number }[] }).agents.find(
      (a) => a.agentId === agentId,
    );
    expect(agent, `agent ${agentId} in ${JSON.stringify(agents.body)}`).toMatchObject({ reserved: 0 });
    expect((await api.cancel(batch.batchId)).status).toBe(409);
  });
});

describe('redriving a batch after a failure', () => {
  it('re-runs only the failed and skipped tasks, keeping the history of attempts', async () => {
    const batch = flakyBatch(uniqueBatchId('redrive'));
    const submitted = await api.submit(batch);
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
    const failed = await api.waitForTerminal(batch.batchId);
    expect(failed.status).toBe('PARTIAL');
    expect(failed.tasks.map((t) => [t.id, t.status])).toEqual([
      ['flaky', 'FAILED'],
      ['solid', 'SUCCEEDED'],
      ['after', 'SKIPPED'],
    ]);
    expect(failed.tasks[0]?.attempts).toMatchObject([{ status: 'FAILED', error: expect.any(String) }]);

    const redriven = await api.redrive(batch.batchId);

    expect(redriven.status, JSON.stringify(redriven.body)).toBe(202);
    const taskIds = (redriven.body as { taskIds?: string[] }).taskIds ?? [];
    expect([...taskIds].sort()).toEqual(['after', 'flaky']);
    // A read that predates the redrive still shows PARTIAL: wait for the second attempt as well.
    const final = await api.waitForResult(
      batch.batchId,
      (r) =>
        isTerminalBatchStatus(r.status) && (r.tasks.find((t) => t.id === 'flaky')?.attempts.length ?? 0) >= 2,
      'finished after the redrive',
    );
    expect(final.status).toBe('SUCCEEDED');
    expect(final.tasks.map((t) => [t.id, t.status, t.attempts.map((a) => a.status)])).toEqual([
      ['flaky', 'SUCCEEDED', ['FAILED', 'SUCCEEDED']],
      ['solid', 'SUCCEEDED', ['SUCCEEDED']],
      ['after', 'SUCCEEDED', ['SUCCEEDED']],
    ]);
  });
});
