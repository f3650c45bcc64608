/**
 * The CLI's client of a running API (`--url`) and a server that answers 503 while it starts: `meta-agent serve`
 * prints its address before its system is up, so a `run --url` sent at once used to exit 2 on "starting".
 * And a server that fails (5xx): a GET is tried again a few times, then the command exits 1 saying the
 * server failed (it used to exit 2, which says the user's input or configuration is wrong).
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../../../shared/local/cli/io';
import { main } from '../../../shared/local/cli/main';
import {
  MIN_RETRY_WAIT_MS,
  RemoteApi,
  RemoteServerError,
  SERVER_ERROR_BACKOFF_MS,
  type Wait,
} from '../../../shared/local/cli/remote';
import { fakeIO } from '../../support/fake-io';

/** Tries of a GET answered 5xx, as the README says. */
const SERVER_ERROR_TRIES = 3;

let server: Server | undefined;

let dir: string | undefined;

afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

/** A wait that records what it was asked to wait and returns at once (the real one is the Retry-After 0 test's). */
function recordedWaits(): { wait: Wait; waits: number[] } {
  const waits: number[] = [];
  return { wait: async (ms) => void waits.push(ms), waits };
}

/**
 * A server answering `answers` in turn (the last one from then on), recording each request's body. `drop`
 * closes the connection without an answer (a network failure); `body` is the answer's text.
 */
async function serveAnswers(
  answers: { status: number; headers?: Record<string, string>; drop?: boolean; body?: string }[],
): Promise<{ url: string; bodies: string[]; methods: string[]; paths: string[] }> {
  const bodies: string[] = [];
  const methods: string[] = [];
  const paths: string[] = [];
  const listening = createServer((request: IncomingMessage, response) => {
    let body = '';
    request.on('data', (chunk) => {
      body += chunk;
    });
    request.on('end', () => {
      bodies.push(body);
      methods.push(request.method ?? '');
      paths.push(request.url ?? '');
      const answer = answers[Math.min(bodies.length - 1, answers.length - 1)] ?? { status: 500 };
      if (answer.drop) {
        request.socket.destroy();
        return;
      }
      if (answer.body !== undefined) {
        response.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
        return;
      }
      response.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
      const message = answer.status === 503 ? 'starting' : answer.status >= 500 ? 'internal error' : 'ok';
      response.end(JSON.stringify({ message }));
    });
  });
  server = listening;
  await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(listening.address() as AddressInfo).port}`, bodies, methods, paths };
}

describe('RemoteApi and a 503', () => {
  it('sends the request again after the Retry-After of a server still starting, and answers what follows', async () => {
    const { url, bodies } = await serveAnswers([
      { status: 503, headers: { 'retry-after': '1' } },
      { status: 503, headers: { 'retry-after': '1' } },
      { status: 202 },
    ]);
    const { wait, waits } = recordedWaits();

    const answer = await new RemoteApi(url, undefined, wait).request('POST', '/batches', {
      body: { tasks: [] },
    });

    expect(answer.status).toBe(202);
    expect(bodies).toEqual(Array(3).fill('{"tasks":[]}'));
    expect(waits).toEqual([1_000, 1_000]);
  });

  it("reads a Retry-After given as an HTTP date, as the providers' is read", async () => {
    // Ten seconds ahead: an HTTP date has whole seconds, so the wait is at most 10 s and a little over 9.
    const at = new Date(Date.now() + 10_000).toUTCString();
    const { url, bodies } = await serveAnswers([
      { status: 503, headers: { 'retry-after': at } },
      { status: 202 },
    ]);
    const { wait, waits } = recordedWaits();

    const answer = await new RemoteApi(url, undefined, wait).request('POST', '/batches', {
      body: { tasks: [] },
    });

    expect(answer.status).toBe(202);
    expect(bodies).toHaveLength(2);
    expect(waits).toHaveLength(1);
    expect(waits[0]).toBeGreaterThan(8_000);
    expect(waits[0]).toBeLessThanOrEqual(10_000);
  });

  it('waits at least MIN_RETRY_WAIT_MS before sending again after a Retry-After of 0', async () => {
    const { url, bodies } = await serveAnswers([
      { status: 503, headers: { 'retry-after': '0' } },
      { status: 503, headers: { 'retry-after': '0' } },
      { status: 202 },
    ]);
    const began = performance.now();

    const answer = await new RemoteApi(url).request('POST', '/batches', { body: { tasks: [] } });

    expect(answer.status).toBe(202);
    expect(bodies).toHaveLength(3);
    expect(performance.now() - began).toBeGreaterThanOrEqual(2 * MIN_RETRY_WAIT_MS - 5);
  });

  it('answers a 503 without Retry-After to a POST as it is, sent once', async () => {
    const { url, bodies } = await serveAnswers([{ status: 503 }, { status: 202 }]);

    const answer = await new RemoteApi(url).request('POST', '/batches', { body: { tasks: [] } });

    expect(answer.status).toBe(503);
    expect(bodies).toHaveLength(1);
  });

  it('does not wait past a Retry-After longer than its whole wait', async () => {
    const { url, bodies } = await serveAnswers([{ status: 503, headers: { 'retry-after': '3600' } }]);

    const answer = await new RemoteApi(url).request('GET', '/batches');

    expect(answer.status).toBe(503);
    expect(bodies).toHaveLength(1);
  });
});

describe('RemoteApi and a server error', () => {
  it('sends a GET again after a 5xx, waiting its Retry-After, and answers what follows', async () => {
    const { url, bodies } = await serveAnswers([
      { status: 500 },
      { status: 502, headers: { 'retry-after': '1' } },
      { status: 200 },
    ]);
    const { wait, waits } = recordedWaits();

    const answer = await new RemoteApi(url, undefined, wait).request('GET', '/batches/b');

    expect(answer.status).toBe(200);
    expect(bodies).toHaveLength(3);
    // The first 5xx had no Retry-After: the backoff's first wait; the second's Retry-After.
    expect(waits).toEqual([SERVER_ERROR_BACKOFF_MS, 1_000]);
  });

  it(`gives up on a GET after ${SERVER_ERROR_TRIES} tries, and never sends a POST or a DELETE again`, async () => {
    const { url, methods } = await serveAnswers([{ status: 500 }]);
    const { wait, waits } = recordedWaits();
    const api = new RemoteApi(url, undefined, wait);

    const answers = [
      await api.request('GET', '/batches/b'),
      await api.request('POST', '/batches', { body: { tasks: [] } }),
      await api.request('DELETE', '/batches/b'),
    ];

    expect(answers.map((a) => a.status)).toEqual([500, 500, 500]);
    expect(methods).toEqual([...Array(SERVER_ERROR_TRIES).fill('GET'), 'POST', 'DELETE']);
    // Doubling between the tries of the GET, none after the last.
    expect(waits).toEqual([SERVER_ERROR_BACKOFF_MS, 2 * SERVER_ERROR_BACKOFF_MS]);
  });
});

describe('RemoteApi.output and a failure that may pass', () => {
  const output = '{"text":"done"}';

  it('reads the output again after a dropped connection and a 5xx, and answers it', async () => {
    const { url, paths } = await serveAnswers([
      { status: 0, drop: true },
      { status: 502 },
      { status: 200, body: output },
    ]);

    const { wait, waits } = recordedWaits();

    expect(await new RemoteApi(url, undefined, wait).output('b-1', 'step:1')).toBe(output);
    expect(paths).toEqual(Array(SERVER_ERROR_TRIES).fill('/batches/b-1/tasks/step%3A1/output'));
    expect(waits).toEqual([SERVER_ERROR_BACKOFF_MS, SERVER_ERROR_BACKOFF_MS * 2]);
  });

  it("waits a 429's Retry-After before reading again", async () => {
    const { url, paths } = await serveAnswers([
      { status: 429, headers: { 'retry-after': '1' } },
      { status: 200, body: output },
    ]);
    const { wait, waits } = recordedWaits();

    expect(await new RemoteApi(url, undefined, wait).output('b-1', 'a')).toBe(output);
    expect(paths).toHaveLength(2);
    expect(waits).toEqual([1000]);
  });

  it(`gives up after ${SERVER_ERROR_TRIES} tries, naming the task, the URL and the tries`, async () => {
    const { url, paths } = await serveAnswers([{ status: 500 }]);

    const { wait, waits } = recordedWaits();
    const failure = await new RemoteApi(url, undefined, wait).output('b-1', 'api').catch((e: unknown) => e);

    expect(paths).toHaveLength(SERVER_ERROR_TRIES);
    expect(waits).toHaveLength(SERVER_ERROR_TRIES - 1);
    expect(failure).toBeInstanceOf(RemoteServerError);
    expect((failure as Error).message).toBe(
      `GET ${url}/batches/b-1/tasks/api/output answered 500 (a failure of the API, not of the request; its logs say more): the output of api: {"message":"internal error"} (tried ${SERVER_ERROR_TRIES} times)`,
    );
  });

  it('does not read again after an answer that would be the same (404)', async () => {
    const { url, paths } = await serveAnswers([{ status: 404 }, { status: 200, body: output }]);

    await expect(new RemoteApi(url).output('b-1', 'api')).rejects.toThrow(/answered 404/);
    expect(paths).toHaveLength(1);
  });
});

describe('meta-agent run --url --out and an output the API keeps failing', () => {
  it('writes the other outputs, names the missing one on stderr and exits 1 though every task succeeded', async () => {
    dir = await mkdtemp(join(tmpdir(), 'meta-agent-out-'));
    const file = join(dir, 'batch.json');
    await writeFile(
      file,
      JSON.stringify({
        tasks: [
          { id: 'x', description: 'a' },
          { id: 'y', description: 'b' },
        ],
      }),
    );
    const task = (id: string) => ({ id, status: 'SUCCEEDED', attempts: [], output: { text: `from ${id}` } });
    const result = {
      batchId: 'b-out',
      status: 'SUCCEEDED',
      startedAt: 1,
      finishedAt: 2,
      tasks: [task('x'), task('y')],
    };
    const reads: string[] = [];
    const api = createServer((request, response) => {
      request.resume();
      const path = request.url ?? '';
      reads.push(`${request.method} ${path}`);
      const send = (status: number, body: unknown) =>
        response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      if (path === '/batches') return send(202, { batchId: 'b-out' });
      if (path === '/progress-tokens') return send(201, {});
      if (path === '/batches/b-out') return send(200, result);
      if (path === '/batches/b-out/tasks/x/output') return send(200, task('x').output);
      return send(500, { message: 'internal error' });
    });
    server = api;
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
    const out = join(dir, 'out');
    const { wait, waits } = recordedWaits();
    const io = Object.assign(fakeIO(), { wait });

    const code = await main(['run', file, '--url', url, '--out', out], io);

    expect(code).toBe(ExitCode.TasksFailed);
    expect(reads.filter((r) => r === 'GET /batches/b-out/tasks/y/output')).toHaveLength(SERVER_ERROR_TRIES);
    // The backoff's waits between the tries, recorded instead of waited out.
    expect(waits).toEqual([SERVER_ERROR_BACKOFF_MS, 2 * SERVER_ERROR_BACKOFF_MS]);
    expect(io.err).toContain(
      `meta-agent: could not fetch the output of task y, not written: GET ${url}/batches/b-out/tasks/y/output answered 500`,
    );
    expect((await readdir(out)).sort()).toEqual([
      'index.json',
      'result.json',
      'x.output.json',
      'x.output.txt',
    ]);
    expect(JSON.parse(await readFile(join(out, 'x.output.json'), 'utf8'))).toEqual({ text: 'from x' });
  });
});

describe('meta-agent status and cancel against a failing server', () => {
  it('exit 1 saying the server failed, not 2 (bad input), after trying the GET again', async () => {
    const { url, methods } = await serveAnswers([{ status: 500 }]);
    const { wait, waits } = recordedWaits();
    const status = Object.assign(fakeIO(), { wait });
    const cancel = Object.assign(fakeIO(), { wait });

    const codes = [
      await main(['status', 'b-1', '--url', url], status),
      await main(['cancel', 'b-1', '--url', url], cancel),
    ];

    expect(codes).toEqual([ExitCode.TasksFailed, ExitCode.TasksFailed]);
    expect(methods).toEqual([...Array(SERVER_ERROR_TRIES).fill('GET'), 'DELETE']);
    expect(waits).toEqual([SERVER_ERROR_BACKOFF_MS, 2 * SERVER_ERROR_BACKOFF_MS]);
    expect(status.err).toBe(
      `meta-agent: GET ${url}/batches/b-1 answered 500 (a failure of the API, not of the request; its logs say more) ${SERVER_ERROR_TRIES} times: internal error\n`,
    );
    expect(cancel.err).toContain(`DELETE ${url}/batches/b-1 answered 500 (a failure of the API`);
    expect(cancel.err).not.toContain('times');
  });

  it("exit 2 for a 4xx that is the request's fault (an unknown batch), as before", async () => {
    const { url } = await serveAnswers([{ status: 404 }]);
    const io = fakeIO();

    expect(await main(['status', 'nope', '--url', url], io)).toBe(ExitCode.BadInput);
    expect(io.err).toContain('answered 404');
  });
});
