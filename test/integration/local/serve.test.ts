/**
 * `meta-agent serve` on the real emulators: REST through the deployed handlers, progress over the
 * WebSocket through the deployed notifier, and the same result JSON as `meta-agent run --json`.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  BatchGraphSchema,
  BatchListSchema,
  type BatchResult,
  BatchResultSchema,
  type BatchSummary,
  TaskDetailSchema,
} from '../../../shared/domain/schemas';
import { type LocalServer, startLocalServer } from '../../../shared/local/server';
import { example, reportShape } from '../../support/batch-checks';
import { ROOT } from '../../support/fake-io';

const API_KEY = 'local-test-key';
const FINISH_WITHIN_MS = 30_000;

let server: LocalServer;

beforeAll(async () => {
  server = await startLocalServer({ port: 0, apiKey: API_KEY, system: { scalerIntervalMs: 0 } });
});

afterAll(async () => {
  await server?.close();
});

function api(path: string, init: RequestInit = {}) {
  return fetch(`${server.url}${path}`, {
    ...init,
    headers: { 'content-type': 'application/json', 'x-api-key': API_KEY, ...init.headers },
  });
}

interface Progress {
  type: 'task' | 'batch';
  taskId?: string;
  status: string;
}

/** The WebSocket URL with a fresh progress token, as the dashboard opens it. */
async function tokenUrl(): Promise<string> {
  const response = await api('/progress-tokens', { method: 'POST' });
  const { token, websocketUrl } = (await response.json()) as { token: string; websocketUrl: string };
  return `${websocketUrl}?token=${encodeURIComponent(token)}`;
}

/** Resolves true when the server refuses the handshake, false when it opens. */
function refuses(url: string, headers: Record<string, string> = {}): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const socket = new WebSocket(url, { headers });
    socket.on('open', () => {
      socket.close();
      resolve(false);
    });
    socket.on('error', () => resolve(true));
  });
}

/** Subscribes to a batch and collects its messages until the batch message says it is over. */
async function follow(batchId: string): Promise<Progress[]> {
  const url = await tokenUrl();
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    const messages: Progress[] = [];
    const timer = setTimeout(
      () => reject(new Error(`no final message: ${JSON.stringify(messages)}`)),
      FINISH_WITHIN_MS,
    );
    socket.on('open', () => socket.send(JSON.stringify({ action: 'subscribe', batchId })));
    socket.on('message', (data) => {
      const message = JSON.parse(data.toString()) as Progress;
      messages.push(message);
      if (message.type === 'batch' && message.status !== 'RUNNING') {
        clearTimeout(timer);
        socket.close();
        resolve(messages);
      }
    });
    socket.on('error', reject);
  });
}

describe('meta-agent serve', () => {
  it('runs a batch POSTed over HTTP, streams its progress over the WebSocket and returns the result', async () => {
    const batch = { ...example('auth-feature.json'), batchId: 'served-auth' };
    // A subscription needs the batch to exist, so it starts after the POST: slow every root task so it is
    // in place before any root finishes and before any dependent starts.
    const roots = batch.tasks.filter((t) => (t.dependsOn ?? []).length === 0);
    for (const root of roots) root.input = { simulate: { durationMs: 1_000 } };

    const submitted = await api('/batches', { method: 'POST', body: JSON.stringify(batch) });
    expect(submitted.status).toBe(202);
    const messages = await follow('served-auth');
    const response = await api('/batches/served-auth');
    const result = BatchResultSchema.parse(await response.json());

    expect(result.status).toBe('SUCCEEDED');
    expect(result.tasks.map((t) => t.id)).toEqual(batch.tasks.map((t) => t.id));
    const succeeded = messages
      .filter((m) => m.type === 'task' && m.status === 'SUCCEEDED')
      .map((m) => m.taskId);
    expect(new Set(succeeded)).toEqual(new Set(batch.tasks.map((t) => t.id)));
    // Every dependent is seen RUNNING, and only after each of its dependencies SUCCEEDED.
    const at = (taskId: string, status: string) =>
      messages.findIndex((m) => m.taskId === taskId && m.status === status);
    const dependents = batch.tasks.filter((t) => (t.dependsOn ?? []).length > 0);
    for (const task of dependents) {
      expect(at(task.id, 'RUNNING')).toBeGreaterThanOrEqual(0);
      for (const dep of task.dependsOn ?? [])
        expect(at(dep, 'SUCCEEDED')).toBeLessThan(at(task.id, 'RUNNING'));
    }
  });

  it("answers a subscription with the batch's status, so a client knows an ended batch sends nothing more", async () => {
    const batch = {
      batchId: 'served-ended',
      tasks: [{ id: 'only', description: 'Write the FastAPI login endpoint' }],
    };
    expect((await api('/batches', { method: 'POST', body: JSON.stringify(batch) })).status).toBe(202);
    const deadline = Date.now() + FINISH_WITHIN_MS;
    let status: string | undefined;
    do {
      await new Promise((r) => setTimeout(r, 100));
      status = ((await (await api('/batches/served-ended')).json()) as { status?: string }).status;
    } while (status === 'RUNNING' && Date.now() < deadline);
    expect(status).toBe('SUCCEEDED');

    const url = await tokenUrl();
    const answer = await new Promise<unknown>((resolve, reject) => {
      const socket = new WebSocket(url);
      socket.on('open', () => socket.send(JSON.stringify({ action: 'subscribe', batchId: 'served-ended' })));
      socket.on('message', (data) => {
        socket.close();
        resolve(JSON.parse(data.toString()));
      });
      socket.on('error', reject);
    });

    expect(answer).toEqual({ subscribed: 'served-ended', status: 'SUCCEEDED' });
  });

  it('lists batches with their progress and answers one task in full, routing decision included', async () => {
    const batch = {
      batchId: 'served-read',
      tasks: [
        { id: 'schema', description: 'Design the PostgreSQL users schema' },
        { id: 'api', description: 'Write the FastAPI login endpoint', dependsOn: ['schema'] },
      ],
    };
    expect((await api('/batches', { method: 'POST', body: JSON.stringify(batch) })).status).toBe(202);
    const deadline = Date.now() + FINISH_WITHIN_MS;
    let listed: BatchSummary | undefined;
    do {
      await new Promise((r) => setTimeout(r, 100));
      const list = BatchListSchema.parse(await (await api('/batches?limit=100')).json());
      listed = list.batches.find((b) => b.batchId === 'served-read');
    } while (listed?.status === 'RUNNING' && Date.now() < deadline);
    const detail = TaskDetailSchema.parse(await (await api('/batches/served-read/tasks/api')).json());
    const graph = BatchGraphSchema.parse(await (await api('/batches/served-read/graph')).json());
    const badLimit = await api('/batches?limit=0');
    // Not decimal digits: JavaScript's Number() would read these as 16, 10 and 5.
    const oddLimits = await Promise.all(['0x10', '1e1', '%205'].map((l) => api(`/batches?limit=${l}`)));
    const unknownTask = await api('/batches/served-read/tasks/nope');

    expect(listed).toMatchObject({ status: 'SUCCEEDED', tasks: { total: 2, done: 2, succeeded: 2 } });
    expect(detail).toMatchObject({ id: 'api', status: 'SUCCEEDED', spec: { dependsOn: ['schema'] } });
    expect(detail.decision?.candidates.length).toBeGreaterThan(0);
    expect(detail.decision?.candidates[0]?.breakdown).toHaveProperty('specialization');
    expect(graph.tasks.map((t) => [t.id, t.dependsOn])).toEqual([
      ['schema', []],
      ['api', ['schema']],
    ]);
    expect(badLimit.status).toBe(400);
    expect(((await badLimit.json()) as { issues: { path: string }[] }).issues[0]?.path).toBe('$.query.limit');
    expect(oddLimits.map((r) => r.status)).toEqual([400, 400, 400]);
    expect(unknownTask.status).toBe(404);
  });

  it('answers bad input with 400 and the JSON path of every problem, and starts nothing', async () => {
    const response = await api('/batches', {
      method: 'POST',
      body: JSON.stringify({
        batchId: 'served-bad',
        tasks: [
          { id: 'a', description: 'x', dependsOn: ['b'] },
          { id: 'b', description: 'y', dependsOn: ['a'] },
          { id: 'c', description: 'z', dependsOn: ['nope'] },
        ],
      }),
    });
    const body = (await response.json()) as { issues: { path: string; message: string }[] };

    expect(response.status).toBe(400);
    expect(body.issues.map((i) => i.path)).toContain('$.tasks[2].dependsOn[0]');
    expect(
      body.issues.some((i) => i.message.includes('a -> b -> a') || i.message.includes('b -> a -> b')),
    ).toBe(true);
    expect((await api('/batches/served-bad')).status).toBe(404);
  });

  it('refuses requests without the API key, and WebSocket connects without a fresh progress token', async () => {
    const response = await fetch(`${server.url}/agents`);
    const unminted = await fetch(`${server.url}/progress-tokens`, { method: 'POST' });
    const url = await tokenUrl();

    expect(response.status).toBe(403);
    expect(unminted.status).toBe(403);
    expect(await refuses(server.wsUrl)).toBe(true);
    // The API key itself does not open a socket: a browser could not send it, so nothing relies on it.
    expect(await refuses(server.wsUrl, { 'x-api-key': API_KEY })).toBe(true);
    expect(await refuses(`${server.wsUrl}?token=forged`)).toBe(true);
    expect(await refuses(url)).toBe(false);
    // Single use: the same token does not open a second socket.
    expect(await refuses(url)).toBe(true);
  });

  it('returns the same result JSON as `meta-agent run --json`', async () => {
    const batch = example('auth-feature.json');
    await api('/batches', { method: 'POST', body: JSON.stringify({ ...batch, batchId: 'served-same' }) });
    const cli = promisify(execFile)(
      process.execPath,
      ['bin/meta-agent.js', 'run', 'examples/auth-feature.json', '--json'],
      {
        cwd: ROOT,
      },
    );
    let served: BatchResult;
    const deadline = Date.now() + FINISH_WITHIN_MS;
    do {
      await new Promise((r) => setTimeout(r, 100));
      served = BatchResultSchema.parse(await (await api('/batches/served-same')).json());
    } while (served.status === 'RUNNING' && Date.now() < deadline);
    const ran = BatchResultSchema.parse(JSON.parse((await cli).stdout));

    expect(reportShape(served)).toEqual(reportShape(ran));
  });
});
