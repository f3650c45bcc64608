/**
 * A scripted HTTP server on 127.0.0.1 that plays a provider in the executor tests: it records every
 * request, answers from a script, counts calls in flight, and notices when a client drops a connection.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import {
  createServer as createHttp2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type Http2Session,
} from 'node:http2';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** Path and query, as received (not decoded). */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One scripted answer. `hang` never answers; `delayMs` answers late. */
export type Reply =
  | { status: number; json?: unknown; text?: string; headers?: Record<string, string>; delayMs?: number }
  | { hang: true };

export interface FakeProvider {
  /** `http://127.0.0.1:PORT` */
  url: string;
  requests: RecordedRequest[];
  /** Most requests ever being handled at the same time. */
  maxInFlight: number;
  /** Requests being handled when each request arrived, itself included (one entry per request, in order). */
  inFlightAtArrival: number[];
  /** When each request arrived and when its handling ended (performance.now(), by request index). */
  arrivedAt: number[];
  finishedAt: number[];
  /** Requests whose client went away before the answer was written. */
  droppedByClient: number;
  close(): Promise<void>;
}

/**
 * Starts the server. `script` gives the reply for the n-th request (0-based); a list repeats its last
 * entry once exhausted. `http2: true` serves cleartext HTTP/2 (prior knowledge), which is what the
 * Bedrock Runtime client's default handler speaks.
 */
export async function startFakeProvider(
  script: Reply[] | ((index: number, request: RecordedRequest) => Reply),
  options: { http2?: boolean } = {},
): Promise<FakeProvider> {
  let inFlight = 0;
  const state: FakeProvider = {
    url: '',
    requests: [],
    maxInFlight: 0,
    inFlightAtArrival: [],
    arrivedAt: [],
    finishedAt: [],
    droppedByClient: 0,
    close: async () => {},
  };
  const replyFor = (index: number, request: RecordedRequest): Reply => {
    if (typeof script === 'function') return script(index, request);
    const reply = script[Math.min(index, script.length - 1)];
    if (!reply) throw new Error('empty script');
    return reply;
  };

  const handle = (
    req: IncomingMessage | Http2ServerRequest,
    res: ServerResponse | Http2ServerResponse,
  ): void => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const recorded: RecordedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      const index = state.requests.length;
      state.requests.push(recorded);
      inFlight += 1;
      state.inFlightAtArrival.push(inFlight);
      state.arrivedAt[index] = performance.now();
      state.maxInFlight = Math.max(state.maxInFlight, inFlight);
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        inFlight -= 1;
        state.finishedAt[index] = performance.now();
      };
      res.on('close', () => {
        if (!res.writableEnded) state.droppedByClient += 1;
        finish();
      });
      const reply = replyFor(index, recorded);
      if ('hang' in reply) return;
      const send = () => {
        if (done) return;
        const body = reply.text ?? (reply.json === undefined ? '' : JSON.stringify(reply.json));
        res.statusCode = reply.status;
        const headers = {
          'content-type': reply.text === undefined ? 'application/json' : 'text/plain',
          ...reply.headers,
        };
        for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
        res.end(body, finish);
      };
      if (reply.delayMs) setTimeout(send, reply.delayMs);
      else send();
    });
  };

  if (options.http2) {
    const server = createHttp2Server(handle);
    const sessions = new Set<Http2Session>();
    server.on('session', (session) => {
      sessions.add(session);
      session.on('close', () => sessions.delete(session));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    state.close = () =>
      new Promise<void>((resolve, reject) => {
        for (const session of sessions) session.destroy();
        server.close((error) => (error ? reject(error) : resolve()));
      });
    return state;
  }
  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () =>
    new Promise<void>((resolve, reject) => {
      server.closeAllConnections();
      server.close((error) => (error ? reject(error) : resolve()));
    });
  return state;
}

/** A sleep that returns at once but records each requested delay (and still honours abort). */
export function recordingSleep(): {
  delays: number[];
  sleep: (ms: number, signal: AbortSignal) => Promise<void>;
} {
  const delays: number[] = [];
  return {
    delays,
    sleep: (ms, signal) => {
      delays.push(ms);
      return signal.aborted ? Promise.reject(signal.reason) : Promise.resolve();
    },
  };
}
