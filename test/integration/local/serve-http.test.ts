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

/** Submits a batch of one task, `a`. */
const submitOneTask = (batchId: string) =>
  raw(
    'POST',
    '/batches',
    JSON.stringify({ batchId, tasks: [{ id: 'a', description: 'Write the endpoint' }] }),
  );

/** The headers that say something about the answer (not its date or framing). */
function meaningful(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const { date: _date, 'transfer-encoding': _te, connection: _c, 'keep-alive': _k, ...rest } = headers;
  return rest;
}

describe('meta-agent serve answers HEAD', () => {
  it('on every kind of GET route with the GET answer status and headers, and no body', async () => {
    const submitted = await submitOneTask('head-me');
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

describe('meta-agent serve matches the path as sent', () => {
  it('answers a path with an empty segment 404, never the dashboard page or another route', async () => {
    for (const [method, path] of [
      ['GET', '//batches'],
      ['GET', '///batches'],
      ['GET', '//other-host/batches'],
      ['GET', '/batches//head-me'],
      ['POST', '//batches'],
    ] as const) {
      const answer = await raw(method, path, method === 'POST' ? '{"tasks":[]}' : undefined);

      expect(answer.status, `${method} ${path}`).toBe(404);
      expect(answer.headers['content-type'], `${method} ${path}`).toBe('application/json');
    }
  });

  it('resolves dot segments as a client does before it sends a path', async () => {
    for (const path of ['/./batches', '/agents/../batches', '/%2e/batches']) {
      const answer = await raw('GET', path);

      expect(answer.status, path).toBe(200);
      expect(JSON.parse(answer.body), path).toHaveProperty('batches');
    }
  });

  it('refuses a target that is not a path (absolute or asterisk form) with a 400', async () => {
    for (const [method, target] of [
      ['GET', `http://127.0.0.1:${port}/batches`],
      ['OPTIONS', '*'],
    ] as const) {
      const answer = await raw(method, target);

      expect(answer.status, target).toBe(400);
      expect(JSON.parse(answer.body).message, target).toContain('must be a path');
    }
  });
});

describe('meta-agent serve sends the security headers on every answer', () => {
  const SECURITY = {
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
  };

  it("on the handlers' answers (as API Gateway returns them on AWS), the routing's and the server's own", async () => {
    const submitted = await submitOneTask('headers');
    expect(submitted.status, submitted.body).toBe(202);
    await server.system.waitForBatch('headers');

    const answers = {
      'submit 202': submitted,
      'list 200': await raw('GET', '/batches'),
      'status 404': await raw('GET', '/batches/none'),
      'list 400': await raw('GET', '/batches?limit=0'),
      'output 200': await raw('GET', '/batches/headers/tasks/a/output'),
      'agents 200': await raw('GET', '/agents'),
      'route 405': await raw('PATCH', '/batches'),
      'route 404': await raw('POST', '/nothing', '{}'),
      'server 403': await rawRequest(port, 'GET', '/batches'),
      'server 400': await raw('OPTIONS', '*'),
      'dashboard 200': await rawRequest(port, 'GET', '/'),
    };

    for (const [name, answer] of Object.entries(answers)) {
      expect(answer.status, name).toBe(Number(name.split(' ')[1]));
      expect(answer.headers, name).toMatchObject(SECURITY);
    }
  });
});
