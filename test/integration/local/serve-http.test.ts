/**
 * `meta-agent serve` as an HTTP server: HEAD, request targets that are not plain paths, and connections that
 * send nothing or send slowly, answered as HTTP says and as the deployed API Gateway routes do.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalServer, startLocalServer } from '../../../shared/local/server';
import { rawRequest } from '../../support/raw-http';

const KEY = 'a-key-of-some-length-0123456789ab';
let server: LocalServer;
let port: number;

beforeAll(async () => {
  server = await startLocalServer({ port: 0, apiKey: KEY, system: { scalerIntervalMs: 0 } });
  port = Number(new URL(server.url).port);
});

afterAll(async () => {
  await server?.close();
});

/** One request with this exact target (fetch would resolve `//` and dot segments first), with the key. */
const raw = (method: string, path: string, body?: string) =>
  rawRequest(
    port,
    method,
    path,
    { 'x-api-key': KEY, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body,
  );

/** The headers that say something about the answer (not its date or framing). */
function meaningful(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const { date: _date, 'transfer-encoding': _te, connection: _c, 'keep-alive': _k, ...rest } = headers;
  return rest;
}

describe('meta-agent serve answers HEAD', () => {
  it('on every kind of GET route with the GET answer status and headers, and no body', async () => {
    const submitted = await raw(
      'POST',
      '/batches',
      JSON.stringify({ batchId: 'head-me', tasks: [{ id: 'a', description: 'Write the endpoint' }] }),
    );
    expect(submitted.status, submitted.body).toBe(202);

    for (const path of [
      '/batches',
      '/batches/head-me',
      '/batches/head-me/tasks/a',
      '/agents',
      '/batches/none',
    ]) {
      const get = await raw('GET', path);
      const head = await raw('HEAD', path);

      expect(head.status, path).toBe(get.status);
      expect(meaningful(head.headers), path).toEqual(meaningful(get.headers));
      expect(head.body, path).toBe('');
    }
  });

  it('among the methods a 405 allows on a GET route', async () => {
    const answer = await raw('PATCH', '/batches');

    expect(answer.status).toBe(405);
    expect(answer.headers.allow?.split(', ').sort()).toEqual(['GET', 'HEAD', 'POST']);
  });
});
