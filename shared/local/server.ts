/**
 * `meta-agent serve`: the REST API of the deployed stack and its WebSocket progress stream on 127.0.0.1,
 * backed by the embedded system. Requests go through the deployed handlers (API Gateway proxy events),
 * WebSocket connections through the deployed `websocket` handler ($connect, subscribe, $disconnect), and
 * progress through the deployed `notifier` handler, fed by the tasks table's stream (produced by a proxy in
 * front of dynalite, which has none) and posting through the stock API Gateway management client to a
 * loopback management endpoint.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { PROGRESS_TOKEN_PARAMETER } from '../api-routes';
import { EnvVar } from '../config';
import { MAX_REQUEST_BODY_BYTES } from '../domain/limits';
import { EmbeddedSystem, type EmbeddedSystemOptions } from './system';

/** Loopback only: the local API has no TLS and, unless --api-key is given, no authentication. */
export const LOCAL_HOST = '127.0.0.1';
export const DEFAULT_PORT = 3000;

export interface LocalServerOptions {
  /** 0 picks a free port. */
  readonly port?: number;
  /** When set, REST requests and WebSocket connects need this `x-api-key` header, like the deployed API. */
  readonly apiKey?: string;
  readonly system?: EmbeddedSystemOptions;
}

export interface LocalServer {
  readonly url: string;
  readonly wsUrl: string;
  readonly system: EmbeddedSystem;
  close(): Promise<void>;
}

class BodyTooLargeError extends Error {
  constructor() {
    super(`request body exceeds ${MAX_REQUEST_BODY_BYTES} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_REQUEST_BODY_BYTES) {
        reject(new BodyTooLargeError());
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

function send(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(text);
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function websocketEvent(routeKey: string, connectionId: string, connectedAt: number, body?: string) {
  const eventType =
    routeKey === '$connect' ? 'CONNECT' : routeKey === '$disconnect' ? 'DISCONNECT' : 'MESSAGE';
  return {
    requestContext: {
      routeKey,
      eventType,
      connectionId,
      connectedAt,
      messageId: randomUUID(),
      extendedRequestId: randomUUID(),
      requestId: randomUUID(),
      requestTime: new Date().toISOString(),
      requestTimeEpoch: Date.now(),
      messageDirection: 'IN',
      stage: 'local',
      domainName: LOCAL_HOST,
      apiId: 'local-ws',
    },
    ...(body === undefined ? {} : { body }),
    isBase64Encoded: false,
  };
}

/** The request authorizer event API Gateway sends for a WebSocket $connect. */
function authorizerEvent(token: string | null) {
  return {
    type: 'REQUEST',
    methodArn: 'arn:aws:execute-api:local:000000000000:local-ws/local/$connect',
    queryStringParameters: token === null ? {} : { [PROGRESS_TOKEN_PARAMETER]: token },
    headers: {},
    requestContext: { routeKey: '$connect', eventType: 'CONNECT', apiId: 'local-ws', stage: 'local' },
  };
}

/** Whether an authorizer's policy allows the connect. */
function isAllowed(result: unknown): boolean {
  const statements = (result as { policyDocument?: { Statement?: { Effect?: string }[] } }).policyDocument
    ?.Statement;
  return Array.isArray(statements) && statements.length > 0 && statements.every((s) => s.Effect === 'Allow');
}

/** Starts the server and the embedded system behind it. */
export async function startLocalServer(options: LocalServerOptions = {}): Promise<LocalServer> {
  const connections = new Map<string, WebSocket>();
  // The management endpoint is reachable on loopback only, under a path no client can guess.
  const managementPath = `/_management/${randomBytes(16).toString('hex')}`;
  const state: { system?: EmbeddedSystem } = {};

  const handleManagement = async (request: IncomingMessage, response: ServerResponse, rest: string) => {
    const match = /^\/@connections\/([^/]+)$/.exec(rest);
    const socket = match?.[1] ? connections.get(decodeURIComponent(match[1])) : undefined;
    if (!match) return send(response, 404, { message: 'Not Found' });
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      return send(response, 410, { message: 'Gone' }, { 'x-amzn-errortype': 'GoneException' });
    }
    if (request.method === 'DELETE') {
      socket.close(1000, 'closed by the API');
      return send(response, 204, '');
    }
    const body = await readBody(request);
    socket.send(body);
    return send(response, 200, '');
  };

  const server = createServer((request, response) => {
    void (async () => {
      const url = new URL(request.url ?? '/', `http://${LOCAL_HOST}`);
      try {
        if (url.pathname.startsWith(managementPath)) {
          return await handleManagement(request, response, url.pathname.slice(managementPath.length));
        }
        if (options.apiKey !== undefined && headerValue(request.headers['x-api-key']) !== options.apiKey) {
          return send(response, 403, { message: 'Forbidden' });
        }
        const system = state.system;
        if (!system) return send(response, 503, { message: 'starting' });
        const body = request.method === 'GET' || request.method === 'DELETE' ? null : await readBody(request);
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(request.headers)) {
          const v = headerValue(value);
          if (v !== undefined) headers[name] = v;
        }
        const result = await system.request(
          {
            method: request.method ?? 'GET',
            path: url.pathname,
            headers,
            body,
            query: Object.fromEntries(url.searchParams),
          },
          request.headers.host ?? LOCAL_HOST,
        );
        response.writeHead(result.statusCode, result.headers);
        response.end(result.body);
      } catch (error) {
        if (error instanceof BodyTooLargeError) return send(response, 413, { error: error.message });
        send(response, 500, { error: 'internal error' });
      }
    })();
  });

  // As on AWS, a connect carries a progress token (POST /progress-tokens), redeemed by the deployed
  // authorizer: browsers cannot send the x-api-key header on a WebSocket handshake.
  const wss = new WebSocketServer({
    server,
    path: '/',
    verifyClient: (info: { req: IncomingMessage }, accept: (admitted: boolean, code?: number) => void) => {
      const system = state.system;
      if (options.apiKey === undefined) return accept(true);
      if (!system) return accept(false, 503);
      const token = new URL(info.req.url ?? '/', `http://${LOCAL_HOST}`).searchParams.get(
        PROGRESS_TOKEN_PARAMETER,
      );
      system
        .invoke('progress-token', authorizerEvent(token))
        .then((result) => accept(isAllowed(result), 403))
        .catch(() => accept(false, 500));
    },
  });
  wss.on('connection', (socket) => {
    const system = state.system;
    if (!system) {
      socket.close(1013, 'starting');
      return;
    }
    const connectionId = randomBytes(12).toString('base64url');
    const connectedAt = Date.now();
    connections.set(connectionId, socket);
    void system.invoke('websocket', websocketEvent('$connect', connectionId, connectedAt));
    socket.on('message', (data) => {
      void (async () => {
        const text = data.toString();
        let action: unknown;
        try {
          action = (JSON.parse(text) as { action?: unknown }).action;
        } catch {
          action = undefined;
        }
        // The deployed API selects routes by $request.body.action and has only `subscribe`.
        if (action !== 'subscribe') {
          socket.send(
            JSON.stringify({
              message: 'Forbidden',
              error: 'unknown action: send {"action":"subscribe","batchId":"..."}',
            }),
          );
          return;
        }
        const result = (await system.invoke(
          'websocket',
          websocketEvent('subscribe', connectionId, connectedAt, text),
        )) as {
          statusCode: number;
          body: string;
        };
        if (result.statusCode !== 200) socket.send(result.body);
      })();
    });
    socket.on('close', () => {
      connections.delete(connectionId);
      void system
        .invoke('websocket', websocketEvent('$disconnect', connectionId, connectedAt))
        .catch(() => undefined);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? DEFAULT_PORT, LOCAL_HOST, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${LOCAL_HOST}:${port}`;

  const closeServer = async () => {
    for (const socket of connections.values()) socket.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };

  try {
    const system = await EmbeddedSystem.start({
      ...options.system,
      websocketEndpoint: `${url}${managementPath}`,
      env: { ...options.system?.env, [EnvVar.ProgressWebSocketUrl]: `ws://${LOCAL_HOST}:${port}/` },
    });
    state.system = system;
  } catch (error) {
    await closeServer();
    throw error;
  }
  const system = state.system;
  return {
    url,
    wsUrl: `ws://${LOCAL_HOST}:${port}/`,
    system,
    close: async () => {
      await closeServer();
      await system.stop();
    },
  };
}
