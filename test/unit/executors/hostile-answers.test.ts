/**
 * Answers a broken or hostile provider may send, against each HTTP provider (the anthropic and openai SDKs, the
 * http executor) on loopback servers: a body far over the limit (or one that never ends) is cut at MAX_PROVIDER_ANSWER_BYTES (the call
 * fails, not the process's memory), and a redirect to another host is not followed (the request carries the
 * key and the task). boundedFetch's limit holds exactly at its value.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createExecutor, ProviderError, ProviderLimiter } from '../../../shared/adapters/executors';
import { boundedFetch } from '../../../shared/adapters/executors/bounded-fetch';
import { MAX_PROVIDER_ANSWER_BYTES } from '../../../shared/domain/limits';
import type { AgentExecutor } from '../../../shared/ports';
import { recordingSleep } from './fake-provider';
import { HALF, makeRequest } from './provider-contract';

const KEY = 'sk-hostile-test-key';

interface Server {
  url: string;
  /** Every request's headers, in order. */
  requests: IncomingMessage['headers'][];
  /** Body bytes written before the client went away. */
  written: number;
  clientLeft: boolean;
  close(): void;
}

const servers: Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

async function serve(
  answer: (req: IncomingMessage, res: ServerResponse, server: Server) => void,
): Promise<Server> {
  const http = createServer((req, res) => {
    server.requests.push(req.headers);
    req.resume();
    req.on('end', () => answer(req, res, server));
    res.on('close', () => {
      if (!res.writableEnded) server.clientLeft = true;
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const server: Server = {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
    requests: [],
    written: 0,
    clientLeft: false,
    close: () => {
      http.closeAllConnections();
      http.close();
    },
  };
  servers.push(server);
  return server;
}

/** Bytes of the oversized answer: past the limit by more than any socket buffers, so reading it all shows. */
const OVERSIZED_BYTES = MAX_PROVIDER_ANSWER_BYTES + 16 * 1024 * 1024;

/** A 200 JSON answer (`{}` after spaces) over the limit, written as fast as the client reads it. */
function oversized(_req: IncomingMessage, res: ServerResponse, server: Server): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  const chunk = Buffer.alloc(1024 * 1024, 0x20);
  const pump = () => {
    while (!res.destroyed && server.written < OVERSIZED_BYTES) {
      server.written += chunk.length;
      if (!res.write(chunk)) {
        res.once('drain', pump);
        return;
      }
    }
    if (!res.destroyed) res.end('{}');
  };
  pump();
}

const providers: Array<[string, (url: string) => AgentExecutor]> = [
  ['anthropic', (url) => create({ name: 'anthropic', url })],
  ['openai', (url) => create({ name: 'openai', url: `${url}/v1` })],
  ['http', (url) => create({ name: 'http', url: `${url}/tasks` })],
];

function create(config: Parameters<typeof createExecutor>[0]): AgentExecutor {
  return createExecutor(config, {
    limiter: new ProviderLimiter(),
    sleep: recordingSleep().sleep,
    random: HALF,
    secrets: async () => KEY,
  });
}

describe('hostile provider answers', () => {
  it.each(providers)(
    '%s: a body over MAX_PROVIDER_ANSWER_BYTES fails the call there, not retried, its connection dropped',
    async (_name, make) => {
      const server = await serve(oversized);

      const failure = await make(server.url)
        .execute(makeRequest({ timeoutMs: 120_000 }), new AbortController().signal)
        .catch((e) => e);

      expect(failure).toBeInstanceOf(ProviderError);
      expect(failure).toMatchObject({ retryable: false, status: 200 });
      expect((failure as Error).message).toMatch(/over 31457280 bytes \(MAX_PROVIDER_ANSWER_BYTES\)/);
      expect(server.requests).toHaveLength(1);
      await expect.poll(() => server.clientLeft).toBe(true);
      // Read up to the limit, then the connection was dropped: socket buffers hold a few MiB at most.
      expect(server.written).toBeLessThan(OVERSIZED_BYTES);
    },
    120_000,
  );

  it.each(providers)(
    '%s: a redirect to another host is not followed; the key and the task stay home',
    async (_name, make) => {
      const elsewhere = await serve((_req, res) => res.writeHead(200).end('{}'));
      const server = await serve((req, res) =>
        res
          .writeHead(307, { location: `${elsewhere.url.replace('127.0.0.1', 'localhost')}${req.url}` })
          .end(),
      );

      const failure = await make(server.url)
        .execute(makeRequest(), new AbortController().signal)
        .catch((e) => e);

      expect(failure).toBeInstanceOf(ProviderError);
      expect(failure).toMatchObject({ retryable: false, status: 307 });
      expect((failure as Error).message).toMatch(/redirect is not followed.*executor\.url/);
      expect(server.requests).toHaveLength(1);
      expect(elsewhere.requests).toHaveLength(0);
    },
  );
});

describe('boundedFetch', () => {
  const LIMIT = 1000;
  const bodyOf = (bytes: number) => async () => new Response('x'.repeat(bytes), { status: 200 });

  it('reads a body of exactly the limit', async () => {
    const response = await boundedFetch('http', bodyOf(LIMIT) as typeof fetch, LIMIT)('http://127.0.0.1/');
    expect(await response.text()).toHaveLength(LIMIT);
  });

  it('fails a body one byte over the limit with the provider, the status and the limit', async () => {
    const response = await boundedFetch(
      'http',
      bodyOf(LIMIT + 1) as typeof fetch,
      LIMIT,
    )('http://127.0.0.1/');
    const failure = await response.text().catch((e) => e);
    expect(failure).toBeInstanceOf(ProviderError);
    expect(failure).toMatchObject({ provider: 'http', status: 200, retryable: false });
    expect((failure as Error).message).toContain('over 1000 bytes');
  });

  it('asks the client not to follow redirects', async () => {
    let asked: RequestInit | undefined;
    const inner = (async (_input: unknown, init?: RequestInit) => {
      asked = init;
      return new Response(null, { status: 204 });
    }) as typeof fetch;
    await boundedFetch('anthropic', inner)('http://127.0.0.1/', { method: 'POST', redirect: 'follow' });
    expect(asked).toMatchObject({ method: 'POST', redirect: 'manual' });
  });
});
