/**
 * `meta-agent replay` against `meta-agent serve` (the embedded runtime's store, through the same API a
 * deployed stack serves): a real batch's stored decisions re-scored under other weights.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BatchDecisions, BatchDecisionsSchema, BatchResultSchema } from '../../../shared/domain/schemas';
import { main } from '../../../shared/local/cli/main';
import { type LocalServer, startLocalServer } from '../../../shared/local/server';
import { fakeIO } from '../../support/fake-io';

const API_KEY = 'replay-test-key';
const FINISH_WITHIN_MS = 60_000;

let server: LocalServer;
let batchId: string;
let stored: BatchDecisions;

async function api(path: string, init: RequestInit = {}) {
  return fetch(`${server.url}${path}`, {
    ...init,
    headers: { 'content-type': 'application/json', 'x-api-key': API_KEY, ...init.headers },
  });
}

beforeAll(async () => {
  server = await startLocalServer({ port: 0, apiKey: API_KEY, system: { scalerIntervalMs: 0 } });
  // Several tasks of a role at once (agents spawn and fill up, so candidates differ in load) and tasks
  // whose description two roles fit, so their agents compete.
  const tasks = [
    ...Array.from({ length: 6 }, (_, i) => ({
      id: `tests-${i}`,
      description: `Write unit tests for the parser module ${i}`,
      input: { simulate: { durationMs: 300 } },
    })),
    ...Array.from({ length: 4 }, (_, i) => ({
      id: `mixed-${i}`,
      description: 'Add tests and docs for the billing client',
      input: { simulate: { durationMs: 200 } },
    })),
    { id: 'docs', description: 'Document the public API of the SDK', dependsOn: ['tests-0'] },
  ];
  const response = await api('/batches', { method: 'POST', body: JSON.stringify({ tasks }) });
  batchId = ((await response.json()) as { batchId: string }).batchId;
  const deadline = Date.now() + FINISH_WITHIN_MS;
  for (;;) {
    const result = BatchResultSchema.parse(await (await api(`/batches/${batchId}`)).json());
    if (result.status !== 'RUNNING') break;
    if (Date.now() > deadline) throw new Error(`batch ${batchId} still running`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  stored = BatchDecisionsSchema.parse(await (await api(`/batches/${batchId}/decisions`)).json());
}, FINISH_WITHIN_MS + 30_000);

afterAll(async () => {
  await server?.close();
});

async function replay(...args: string[]) {
  const io = fakeIO();
  const code = await main(['replay', batchId, '--url', server.url, '--api-key', API_KEY, ...args], io);
  return { code, io };
}

describe('GET /batches/{id}/decisions', () => {
  it('answers every task with its description and stored decision, in submission order', () => {
    expect(stored.decisions.map((d) => d.taskId)).toEqual([
      ...Array.from({ length: 6 }, (_, i) => `tests-${i}`),
      ...Array.from({ length: 4 }, (_, i) => `mixed-${i}`),
      'docs',
    ]);
    for (const d of stored.decisions) expect(d.decision?.candidates.length, d.taskId).toBeGreaterThan(0);
  });
});

describe('meta-agent replay', () => {
  it('reproduces every decision under the weights they were made with', async () => {
    const { code, io } = await replay('--weights', '0.4,0.3,0.2,0.1', '--json');

    expect(code).toBe(0);
    const report = JSON.parse(io.out);
    expect(report.replayed).toBe(stored.decisions.length);
    expect(report.changes).toEqual([]);
  });

  it('with weights 1,0,0,0 follows specialization only, and lists exactly the tasks that move', async () => {
    const { code, io } = await replay('--weights', '1,0,0,0', '--json');

    expect(code).toBe(0);
    const report = JSON.parse(io.out) as {
      weights: Record<string, number>;
      changes: {
        taskId: string;
        stored: { agentId: string };
        replayed: { agentId: string; specialization: number };
      }[];
    };
    expect(report.weights).toEqual({ specialization: 1, availability: 0, success: 0, speed: 0 });
    for (const entry of stored.decisions) {
      const decision = entry.decision;
      if (!decision) throw new Error(`${entry.taskId} has no decision`);
      const best = Math.max(...decision.candidates.map((c) => c.breakdown.specialization));
      const change = report.changes.find((c) => c.taskId === entry.taskId);
      if (change) {
        expect(change.stored.agentId).toBe(decision.agentId);
        expect(change.replayed.agentId).not.toBe(decision.agentId);
        expect(change.replayed.specialization, entry.taskId).toBe(best);
      } else {
        expect(decision.breakdown.specialization, entry.taskId).toBe(best);
      }
    }
  });

  it('prints the report as a table', async () => {
    const { code, io } = await replay('--weights', '1,0,0,0');

    expect(code).toBe(0);
    expect(io.out).toMatch(
      new RegExp(`^replay of batch ${batchId}: 11 decisions under weights specialization 1\\.00`),
    );
    expect(io.out).toMatch(/no task would have gone elsewhere|would have gone elsewhere:\ntask +was/);
  });

  it('refuses bad weights, an unknown batch and a missing URL with exit code 2', async () => {
    const bad = await replay('--weights', '1,0,0');
    const unknown = fakeIO();
    const unknownCode = await main(
      ['replay', 'no-such-batch', '--url', server.url, '--api-key', API_KEY],
      unknown,
    );
    const noUrl = fakeIO();
    const noUrlCode = await main(['replay', batchId], noUrl);

    expect(bad.code).toBe(2);
    expect(bad.io.err).toContain('--weights must be four numbers');
    expect(unknownCode).toBe(2);
    expect(unknown.err).toContain('no batch "no-such-batch"');
    expect(noUrlCode).toBe(2);
    expect(noUrl.err).toContain('--url');
  });
});
