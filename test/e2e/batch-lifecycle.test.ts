/**
 * A batch with dependencies from submission to result, followed live over the WebSocket API.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchResult } from '../../shared/domain/schemas';
import { diamondBatch } from './support/batches';
import { ApiClient, type ApiResponse, isTerminalBatchStatus, uniqueBatchId } from './support/client';
import { readE2eConfig, requireWsUrl } from './support/env';
import { type ProgressMessage, ProgressSocket } from './support/progress-socket';

const config = readE2eConfig();
const api = new ApiClient(config);
const batch = diamondBatch(uniqueBatchId('diamond'));
const dependencies = new Map(batch.tasks.map((t) => [t.id, t.dependsOn ?? []]));

let submitted: ApiResponse;
let finished: BatchResult | undefined;
let socket: ProgressSocket | undefined;
/** Why the socket could not be opened, reported by the progress case (the REST cases do not need it). */
let socketError: unknown;

beforeAll(async () => {
  try {
    socket = await ProgressSocket.connect(requireWsUrl(config), api);
  } catch (error) {
    socketError = error;
  }
  submitted = await api.submit(batch);
  if (submitted.status !== 202) return;
  socket?.subscribe(batch.batchId);
  finished = await api.waitForTerminal(batch.batchId);
});

/** The finished batch, or a failure that says why there is none. */
function result(): BatchResult {
  if (finished === undefined) {
    throw new Error(
      `no result: POST /batches answered ${submitted.status} ${JSON.stringify(submitted.body)}`,
    );
  }
  return finished;
}

afterAll(async () => {
  await socket?.close();
});

/** Position of the first message of `taskId` with `status`, or -1. */
function positionOf(messages: readonly ProgressMessage[], taskId: string, status: string): number {
  return messages.findIndex((m) => m.type === 'task' && m.taskId === taskId && m.status === status);
}

describe('a batch with dependencies', () => {
  it('is accepted with 202, its id and the URL of its status', () => {
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
    expect(submitted.body).toMatchObject({
      batchId: batch.batchId,
      statusUrl: expect.stringContaining(`/batches/${batch.batchId}`),
    });
  });

  it('reports every task over the WebSocket, each dependent starting only after its dependencies succeeded', async () => {
    if (socketError !== undefined) throw socketError;
    if (socket === undefined) throw new Error('the WebSocket was not opened');
    const live = socket;

    const last = await live.waitFor(
      (m) => m.type === 'batch' && isTerminalBatchStatus(m.status),
      `terminal batch message for ${batch.batchId}`,
      config.batchTimeoutMs,
    );

    expect(last).toMatchObject({ type: 'batch', batchId: batch.batchId, status: 'SUCCEEDED' });
    const messages = live.messages;
    expect(messages.every((m) => m.batchId === batch.batchId)).toBe(true);
    for (const [taskId, deps] of dependencies) {
      const succeeded = positionOf(messages, taskId, 'SUCCEEDED');
      expect(succeeded, `SUCCEEDED of ${taskId} in ${live.describe()}`).toBeGreaterThanOrEqual(0);
      if (deps.length === 0) continue;
      // Dependents start after the root's long run, well after the subscription: their RUNNING is never missed.
      const running = positionOf(messages, taskId, 'RUNNING');
      expect(running, `RUNNING of ${taskId} in ${live.describe()}`).toBeGreaterThanOrEqual(0);
      expect(running).toBeLessThan(succeeded);
      for (const dep of deps) {
        expect(
          positionOf(messages, dep, 'SUCCEEDED'),
          `${dep} SUCCEEDED before ${taskId} RUNNING in ${live.describe()}`,
        ).toBeLessThan(running);
      }
    }
  });

  it('ends SUCCEEDED with its tasks in submission order', () => {
    const final = result();
    expect(final.batchId).toBe(batch.batchId);
    expect(final.status).toBe('SUCCEEDED');
    expect(final.tasks.map((t) => t.id)).toEqual(batch.tasks.map((t) => t.id));
    expect(final.tasks.map((t) => t.status)).toEqual(batch.tasks.map(() => 'SUCCEEDED'));
    expect(final.finishedAt).toBeGreaterThanOrEqual(final.startedAt);
    expect(final.makespanMs).toBeGreaterThan(0);
  });

  it('records the attempt of every task on the agent of the requested role', () => {
    for (const task of result().tasks) {
      const requested = batch.tasks.find((t) => t.id === task.id);
      const lastAttempt = task.attempts.at(-1);
      expect(task.role, task.id).toBe(requested?.role);
      expect(task.agentId, task.id).toBeTruthy();
      expect(lastAttempt, task.id).toMatchObject({ agentId: task.agentId, status: 'SUCCEEDED' });
      expect(lastAttempt?.finishedAt ?? -1).toBeGreaterThanOrEqual(lastAttempt?.startedAt ?? 0);
    }
  });

  it('labels every output as simulated', () => {
    for (const task of result().tasks) {
      expect(task.output, task.id).toMatchObject({ simulated: true });
    }
  });
});
