/**
 * Answers a broken or hostile provider may send, against each HTTP provider (the anthropic and openai SDKs, the
 * http executor, and Bedrock's SDK client over cleartext HTTP/2 as its default handler speaks) on loopback servers: a body far over the limit (or one that never ends) is cut at MAX_PROVIDER_ANSWER_BYTES (the call
 * fails, not the process's memory), and a redirect to another host is not followed (the request carries the
 * key and the task). boundedFetch's and boundedAnswerMiddleware's limits hold exactly at their value.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { createServer as createHttp2Server, type Http2Session } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { afterEach, describe, expect, it } from 'vitest';
import { createExecutor, ProviderError, ProviderLimiter } from '../../../shared/adapters/executors';
import { boundedAnswerMiddleware, boundedFetch } from '../../../shared/adapters/executors/bounded-fetch';
import { MAX_PROVIDER_ANSWER_BYTES } from '../../../shared/domain/limits';
import type { AgentExecutor } from '../../../shared/ports';
import { recordingSleep } from './fake-provider';
import { HALF, makeRequest } from './provider-contract';

const KEY = 'sk-hostile-test-key';

/** What the tests use of an HTTP/1.1 or an HTTP/2 (compatibility API) request and response. */
interface Request {
  readonly headers: IncomingHttpHeaders;
  readonly url?: string | undefined;
  resume(): unknown;
  on(event: 'end', listener: () => void): unknown;
}
interface Answer {
  writeHead(status: number, headers?: Record<string, string>): Answer;
  write(chunk: Buffer): boolean;
  end(): unknown;
  end(chunk: string): unknown;
  once(event: 'drain', listener: () => void): unknown;
  on(event: 'close', listener: () => void): unknown;
  readonly destroyed: boolean;
  readonly writableEnded: boolean;
}

interface Server {
  url: string;
  /** Every request's headers, in order. */
  requests: Request['headers'][];
  /** Body bytes written before the client went away. */
  written: number;
  clientLeft: boolean;
  close(): void;
}

const servers: Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

/** A loopback server answering with `answer`: HTTP/1.1, or cleartext HTTP/2 (prior knowledge) with `http2`. */
async function serve(
  answer: (req: Request, res: Answer, server: Server) => void,
  options: { http2?: boolean } = {},
): Promise<Server> {
  const handle = (req: Request, res: Answer) => {
    server.requests.push(req.headers);
    req.resume();
    req.on('end', () => answer(req, res, server));
    res.on('close', () => {
      if (!res.writableEnded) server.clientLeft = true;
    });
  };
  const sessions = new Set<Http2Session>();
  const http = options.http2 ? createHttp2Server(handle) : createServer(handle);
  http.on('session', (session: Http2Session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const server: Server = {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
    requests: [],
    written: 0,
    clientLeft: false,
    close: () => {
      if ('closeAllConnections' in http) http.closeAllConnections();
      for (const session of sessions) session.destroy();
      http.close();
    },
  };
  servers.push(server);
  return server;
}

/** Bytes of the oversized answer: past the limit by more than any socket buffers, so reading it all shows. */
const OVERSIZED_BYTES = MAX_PROVIDER_ANSWER_BYTES + 16 * 1024 * 1024;

/** A 200 JSON answer (`{}` after spaces) over the limit, written as fast as the client reads it. */
function oversized(_req: Request, res: Answer, server: Server): void {
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

interface Provider {
  make: (url: string) => AgentExecutor;
  http2?: boolean;
}

const providers: Array<[string, Provider]> = [
  ['anthropic', { make: (url) => create({ name: 'anthropic', url }) }],
  ['openai', { make: (url) => create({ name: 'openai', url: `${url}/v1` }) }],
  ['http', { make: (url) => create({ name: 'http', url: `${url}/tasks` }) }],
  // Bedrock Runtime's Converse, through the SDK client (its deserializer would read any length).
  ['bedrock', { make: (url) => create({ name: 'bedrock' }, bedrockClient(url)), http2: true }],
];

function create(config: Parameters<typeof createExecutor>[0], bedrock?: BedrockRuntimeClient): AgentExecutor {
  return createExecutor(config, {
    limiter: new ProviderLimiter(),
    sleep: recordingSleep().sleep,
    random: HALF,
    secrets: async () => KEY,
    ...(bedrock ? { bedrockClient: bedrock } : {}),
  });
}

function bedrockClient(url: string): BedrockRuntimeClient {
  return new BedrockRuntimeClient({
    endpoint: url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDFAKEFORTESTS', secretAccessKey: 'fake-secret' },
    maxAttempts: 1,
  });
}

describe('hostile provider answers', () => {
  it.each(providers)(
    '%s: a body over MAX_PROVIDER_ANSWER_BYTES fails the call there, not retried, its connection dropped',
    async (_name, { make, http2 }) => {
      const server = await serve(oversized, { http2 });

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
    '%s: a redirect to another host is not followed nor retried; the key and the task stay home',
    async (_name, { make, http2 }) => {
      const elsewhere = await serve((_req, res) => res.writeHead(200).end('{}'), { http2 });
      const server = await serve(
        (req, res) =>
          res
            .writeHead(307, { location: `${elsewhere.url.replace('127.0.0.1', 'localhost')}${req.url}` })
            .end(),
        { http2 },
      );

      const failure = await make(server.url)
        .execute(makeRequest(), new AbortController().signal)
        .catch((e) => e);

      expect(failure).toBeInstanceOf(ProviderError);
      expect(failure).toMatchObject({ retryable: false, status: 307 });
      expect((failure as Error).message).toMatch(/redirect is not followed.*(executor\.url|the endpoint)/);
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

describe('boundedAnswerMiddleware', () => {
  const LIMIT = 1000;
  async function* streamOf(bytes: number) {
    yield new Uint8Array(bytes - 1);
    yield new Uint8Array(1);
  }
  const through = (body: unknown) =>
    boundedAnswerMiddleware('bedrock', LIMIT)(
      async () => ({ response: { statusCode: 200, headers: {}, body }, output: {} }),
      {},
    )({ input: {}, request: {} });

  it('reads a streamed body of exactly the limit', async () => {
    const result = await through(streamOf(LIMIT));
    expect((result.response as { body: Uint8Array }).body.byteLength).toBe(LIMIT);
  });

  it('fails a streamed body one byte over the limit with the provider, the status and the limit', async () => {
    const failure = await through(streamOf(LIMIT + 1)).catch((e) => e);
    expect(failure).toBeInstanceOf(ProviderError);
    expect(failure).toMatchObject({ provider: 'bedrock', status: 200, retryable: false });
    expect((failure as Error).message).toContain('over 1000 bytes');
  });

  it('holds a body given whole to the same limit', async () => {
    await expect(through(new Uint8Array(LIMIT))).resolves.toBeDefined();
    await expect(through(new Uint8Array(LIMIT + 1))).rejects.toThrow(/over 1000 bytes/);
  });
});
