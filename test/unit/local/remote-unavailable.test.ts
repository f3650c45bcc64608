/**
 * The CLI's client of a running API (`--url`) and a server that answers 503 while it starts: `meta-agent serve`
 * prints its address before its system is up, so a `run --url` sent at once used to exit 2 on "starting".
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { RemoteApi } from '../../../shared/local/cli/remote';

let server: Server | undefined;

afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** A server answering `answers` in turn (the last one from then on), recording each request's body. */
async function serveAnswers(
  answers: { status: number; headers?: Record<string, string> }[],
): Promise<{ url: string; bodies: string[] }> {
  const bodies: string[] = [];
  const listening = createServer((request: IncomingMessage, response) => {
    let body = '';
    request.on('data', (chunk) => {
      body += chunk;
    });
    request.on('end', () => {
      bodies.push(body);
      const answer = answers[Math.min(bodies.length - 1, answers.length - 1)] ?? { status: 500 };
      response.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
      response.end(JSON.stringify({ message: answer.status === 503 ? 'starting' : 'ok' }));
    });
  });
  server = listening;
  await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(listening.address() as AddressInfo).port}`, bodies };
}

describe('RemoteApi and a 503', () => {
  it('sends the request again after the Retry-After of a server still starting, and answers what follows', async () => {
    const { url, bodies } = await serveAnswers([
      { status: 503, headers: { 'retry-after': '1' } },
      { status: 503, headers: { 'retry-after': '1' } },
      { status: 202 },
    ]);
    const began = Date.now();

    const answer = await new RemoteApi(url).request('POST', '/batches', { body: { tasks: [] } });

    expect(answer.status).toBe(202);
    expect(bodies).toEqual(Array(3).fill('{"tasks":[]}'));
    expect(Date.now() - began).toBeGreaterThanOrEqual(1900);
  });

  it('answers a 503 without Retry-After as it is, sent once', async () => {
    const { url, bodies } = await serveAnswers([{ status: 503 }, { status: 202 }]);

    const answer = await new RemoteApi(url).request('GET', '/batches');

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
