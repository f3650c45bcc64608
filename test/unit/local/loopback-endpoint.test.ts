/** The endpoint both ways: over its socket and in process, one answer function and one body limit. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InProcessResponse } from '../../../shared/adapters/in-process-transport';
import {
  jsonResponse,
  type LoopbackEndpoint,
  startLoopbackEndpoint,
} from '../../../shared/local/runtime/loopback-endpoint';

class TooLarge extends Error {}

let endpoint: LoopbackEndpoint;

beforeAll(async () => {
  endpoint = await startLoopbackEndpoint(
    async (request) => {
      try {
        const body = await request.readBody();
        return jsonResponse(200, 'application/json', {
          method: request.method,
          path: request.path,
          target: request.target,
          body,
        });
      } catch (error) {
        if (error instanceof TooLarge)
          return jsonResponse(413, 'application/json', { message: 'too large' }, 'TooLarge');
        throw error;
      }
    },
    { maxBytes: 10, tooLarge: () => new TooLarge() },
  );
});

afterAll(async () => {
  await endpoint?.close();
});

async function overHttp(body: string): Promise<InProcessResponse> {
  const response = await fetch(`${endpoint.url}/a?b=1`, {
    method: 'POST',
    headers: { 'x-amz-target': 'Svc.Op' },
    body,
  });
  return {
    statusCode: response.status,
    headers: { 'x-amzn-errortype': response.headers.get('x-amzn-errortype') ?? '' },
    body: await response.text(),
  };
}

const inProcess = (body: string) =>
  endpoint.serve({ method: 'POST', path: '/a?b=1', headers: { 'x-amz-target': 'Svc.Op' }, body });

describe('a loopback endpoint', () => {
  it.each([
    ['over its socket', overHttp],
    ['in process', inProcess],
  ])('answers %s with the request it saw', async (_, send) => {
    const reply = await send('é1234');
    expect(reply.statusCode).toBe(200);
    expect(JSON.parse(reply.body)).toEqual({
      method: 'POST',
      path: '/a?b=1',
      target: 'Svc.Op',
      body: 'é1234',
    });
  });

  it.each([
    ['over its socket', overHttp],
    ['in process', inProcess],
  ])("refuses a body over its limit %s with the endpoint's own error, counted in bytes", async (_, send) => {
    // 6 characters, 11 bytes: five two-byte é and an x.
    const reply = await send('éééééx');
    expect(reply.statusCode).toBe(413);
    expect(reply.headers['x-amzn-errortype']).toBe('TooLarge');
    expect(JSON.parse(reply.body)).toEqual({ message: 'too large' });
  });
});
