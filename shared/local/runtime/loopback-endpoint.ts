/**
 * An endpoint the runtime serves itself (the Step Functions and Lambda endpoints), reached two ways with the
 * same answers: over a socket on 127.0.0.1, and in process (in-process-transport.ts). The endpoint supplies
 * one `answer` function; the body limit is enforced here for both ways (while reading the socket, or on the
 * whole text in process), by the error the endpoint names.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { InProcessResponse, InProcessServer } from '../../adapters/in-process-transport';
import { listenOnLoopback } from './emulators';

/** A request as the endpoint's answer sees it, whichever way it came. */
export interface EndpointRequest {
  readonly method: string | undefined;
  /** Path and query string. */
  readonly path: string | undefined;
  /** The X-Amz-Target header, when the request has one. */
  readonly target: string | undefined;
  /** The body as text; throws the endpoint's too-large error past its limit. */
  readBody(): Promise<string>;
}

export interface BodyLimit {
  readonly maxBytes: number;
  /** The error a body over the limit throws (the endpoint's own, so its answer maps it). */
  readonly tooLarge: () => Error;
}

export interface LoopbackEndpoint {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** The same answers in process (in-process-transport.ts), beside the port. */
  readonly serve: InProcessServer;
  close(): Promise<void>;
}

/** A JSON answer, with the error type the SDK maps to its named exception when there is one. */
export function jsonResponse(
  statusCode: number,
  contentType: string,
  body: unknown,
  errorType?: string,
): InProcessResponse {
  return {
    statusCode,
    headers: {
      'content-type': contentType,
      ...(errorType === undefined ? {} : { 'x-amzn-errortype': errorType }),
    },
    body: JSON.stringify(body),
  };
}

async function readSocketBody(req: IncomingMessage, limit: BodyLimit): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > limit.maxBytes) throw limit.tooLarge();
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Starts the endpoint on 127.0.0.1 with an ephemeral port. */
export async function startLoopbackEndpoint(
  answer: (request: EndpointRequest) => Promise<InProcessResponse>,
  limit: BodyLimit,
): Promise<LoopbackEndpoint> {
  const server: Server = createServer((req, res) => {
    const target = req.headers['x-amz-target'];
    void answer({
      method: req.method,
      path: req.url,
      target: typeof target === 'string' ? target : undefined,
      readBody: () => readSocketBody(req, limit),
    }).then((reply) => {
      res.writeHead(reply.statusCode, { ...reply.headers, 'content-length': Buffer.byteLength(reply.body) });
      res.end(reply.body);
    });
  });
  const port = await listenOnLoopback(server);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    serve: (request) =>
      answer({
        method: request.method,
        path: request.path,
        target: request.headers['x-amz-target'],
        readBody: async () => {
          if (Buffer.byteLength(request.body) > limit.maxBytes) throw limit.tooLarge();
          return request.body;
        },
      }),
    close: () => closeServer(server),
  };
}

/** Closes a server and every connection still open to it (SDK clients keep sockets alive). */
export function closeServer(server: Server): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.close((error) => (error ? reject(error) : resolve()));
    server.closeAllConnections();
  });
}
