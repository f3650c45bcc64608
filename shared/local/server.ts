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
import { matchApiRoute, PROGRESS_TOKEN_PARAMETER, SECURITY_HEADERS } from '../api-routes';
import { EnvVar } from '../config';
import { MAX_REQUEST_BODY_BYTES, MAX_WEBSOCKET_MESSAGE_BYTES } from '../domain/limits';
import { decodeUtf8Strict, type InvalidUtf8, notUtf8Sentence } from '../domain/utf8';
import { API_KEY_HEADER, checkContentType, checkHostAndOrigin, hasApiKey } from './request-guard';
import { dashboardCsp, serveStatic } from './static-files';
import { EmbeddedSystem, type EmbeddedSystemOptions } from './system';

/** Loopback only: the local API has no TLS; requests must name this server and carry its key. */
export const LOCAL_HOST = '127.0.0.1';
/**
 * The id the server's one API key is known by in the requests it hands the API (API Gateway's apiKeyId; the
 * key itself is never passed on): a decision's record names it as its caller.
 */
export const SERVE_API_KEY_ID = 'serve';
export const DEFAULT_PORT = 3000;
/** Random bytes of a key generated at start (256 bits, base64url: 43 characters). */
const GENERATED_KEY_BYTES = 32;
/**
 * After answering 413, how long the rest of an oversized body is read and dropped before the connection is
 * cut: closing a socket with unread data resets it, and a reset can reach the client before the answer.
 */
export const OVERSIZE_DRAIN_MS = 5_000;

/**
 * Bytes of messages a WebSocket client may leave unread before the server drops it. `ws` queues every send in
 * memory once the socket's kernel buffer is full, so a client that never reads (or one that sends messages
 * and never reads the answers) would grow the server without bound. 1 MiB is thousands of progress messages
 * of backlog; API Gateway, too, disconnects a client that does not keep up.
 */
export const MAX_WEBSOCKET_BUFFERED_BYTES = 1024 * 1024;

/**
 * Sends a message unless the client has left too much unread: then the connection is cut (its subscriptions
 * go with its $disconnect) and false is answered.
 */
function sendOrDrop(socket: WebSocket, text: string): boolean {
  if (socket.bufferedAmount + Buffer.byteLength(text) > MAX_WEBSOCKET_BUFFERED_BYTES) {
    socket.terminate();
    return false;
  }
  socket.send(text);
  return true;
}

/** What a request sent while the server starts is told to wait before it tries again (503, Retry-After). */
export const STARTING_RETRY_AFTER_SECONDS = 1;

export interface LocalServerOptions {
  /** 0 picks a free port. */
  readonly port?: number;
  /**
   * The key every REST request must carry in `x-api-key` (and that progress tokens are minted with), like
   * the deployed API. Default: a random key generated at start (LocalServer.apiKey). `false` serves without
   * a key: only for a machine no one else uses and no browser on it visits untrusted pages.
   */
  readonly apiKey?: string | false;
  readonly system?: EmbeddedSystemOptions;
}

export interface LocalServer {
  readonly url: string;
  readonly wsUrl: string;
  /** The key requests need; undefined when the server runs without one. */
  readonly apiKey: string | undefined;
  /**
   * The address to open in a browser: the dashboard at `/` with the key in the fragment (`#key=`), which a
   * browser never sends to a server or writes to a log.
   */
  readonly openUrl: string;
  readonly system: EmbeddedSystem;
  close(): Promise<void>;
}

class BodyTooLargeError extends Error {
  constructor() {
    super(`the request body exceeds ${MAX_REQUEST_BODY_BYTES} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

/** A request body that is not UTF-8 text: answered 400 like the handlers' validation errors. */
class BodyNotUtf8Error extends Error {
  constructor(readonly invalid: InvalidUtf8) {
    super(`${notUtf8Sentence('the request body', invalid)}; send it encoded as UTF-8`);
    this.name = 'BodyNotUtf8Error';
  }
}

/**
 * The body as text; BodyTooLargeError (the rest left unread) as soon as it is known to exceed the limit,
 * BodyNotUtf8Error when it is not UTF-8 (decoded leniently, each bad byte would become U+FFFD and the damaged
 * text would be stored as if it had been sent).
 */
function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    if (Number(request.headers['content-length'] ?? 0) > MAX_REQUEST_BODY_BYTES) {
      reject(new BodyTooLargeError());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_REQUEST_BODY_BYTES) {
        request.off('data', onData);
        reject(new BodyTooLargeError());
        return;
      }
      chunks.push(chunk);
    };
    request.on('data', onData);
    request.on('end', () => {
      const decoded = decodeUtf8Strict(Buffer.concat(chunks));
      if ('text' in decoded) resolve(decoded.text);
      else reject(new BodyNotUtf8Error(decoded.invalid));
    });
    request.on('error', reject);
  });
}

/**
 * Answers 413 and closes the connection once the answer is out: the rest of the body is read and dropped
 * meanwhile (up to OVERSIZE_DRAIN_MS), so the client gets the answer rather than a reset connection.
 */
function refuseOversized(request: IncomingMessage, response: ServerResponse): void {
  send(response, 413, { message: new BodyTooLargeError().message }, { connection: 'close' });
  request.resume();
  const cut = setTimeout(() => request.socket.destroy(), OVERSIZE_DRAIN_MS);
  cut.unref();
  request.socket.once('close', () => clearTimeout(cut));
}

function send(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', ...SECURITY_HEADERS, ...headers });
  response.end(text);
}

/**
 * The path and query of a request target in origin-form (`/batches?limit=5`), dot segments resolved as a
 * client resolves them; undefined for any other form. A target read relative to a base URL would take
 * `//batches` for a host named `batches` and path `/` (the dashboard's page instead of a 404), and
 * `//any/batches` for `/batches`. An empty segment stays: no route has one, so `//batches` is a 404 as it is
 * for any path no route names.
 */
function requestTarget(target: string | undefined): URL | undefined {
  return target?.startsWith('/') ? new URL(`http://${LOCAL_HOST}${target}`) : undefined;
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
    // A client that does not read its messages is gone for the notifier, as API Gateway answers for one it cut.
    if (!sendOrDrop(socket, body)) {
      return send(response, 410, { message: 'Gone' }, { 'x-amzn-errortype': 'GoneException' });
    }
    return send(response, 200, '');
  };

  /** Set once listening: the checks need the port. */
  let port = 0;
  const apiKey =
    options.apiKey === false
      ? undefined
      : (options.apiKey ?? randomBytes(GENERATED_KEY_BYTES).toString('base64url'));

  const staticHeaders: Record<string, string> = { ...SECURITY_HEADERS };
  const server = createServer((request, response) => {
    void (async () => {
      const url = requestTarget(request.url);
      try {
        const refused = checkHostAndOrigin(request.headers, port);
        if (refused) return send(response, refused.status, { message: refused.message });
        if (!url) {
          return send(response, 400, {
            message: `the request target must be a path (such as /batches), not ${JSON.stringify(request.url)}`,
          });
        }
        if (url.pathname.startsWith(managementPath)) {
          return await handleManagement(request, response, url.pathname.slice(managementPath.length));
        }
        // The dashboard's files carry no data and no key: the page asks for the key, then calls the API.
        if ((request.method === 'GET' || request.method === 'HEAD') && !matchApiRoute('GET', url.pathname)) {
          if (await serveStatic(response, url.pathname, staticHeaders)) return;
          return send(response, 404, { message: `no file or route ${url.pathname}` });
        }
        const unsupported = checkContentType(request.headers);
        if (unsupported) return send(response, unsupported.status, { message: unsupported.message });
        if (apiKey !== undefined && !hasApiKey(request.headers, apiKey)) {
          return send(response, 403, {
            message: `Forbidden: send the server's API key in ${API_KEY_HEADER}`,
          });
        }
        const system = state.system;
        // A client may send as soon as the address is printed, before the system is up: try again shortly.
        if (!system) {
          return send(
            response,
            503,
            { message: 'starting: the server is not ready yet; try again in a moment' },
            { 'retry-after': String(STARTING_RETRY_AFTER_SECONDS) },
          );
        }
        const body = ['GET', 'HEAD', 'DELETE'].includes(request.method ?? '')
          ? null
          : await readBody(request);
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
            ...(apiKey === undefined ? {} : { apiKeyId: SERVE_API_KEY_ID }),
          },
          // The server's own name, never the request's Host: answers (statusUrl) must not echo it.
          `${LOCAL_HOST}:${port}`,
        );
        response.writeHead(result.statusCode, result.headers);
        response.end(result.body);
      } catch (error) {
        if (error instanceof BodyTooLargeError) return refuseOversized(request, response);
        if (error instanceof BodyNotUtf8Error) {
          return send(response, 400, {
            error: 'ValidationError',
            message: 'the request is invalid',
            issues: [{ path: '$', message: error.message }],
          });
        }
        send(response, 500, { message: 'internal error' });
      }
    })();
  });
  // A client that asks before sending a large body (Expect: 100-continue) learns of the limit first.
  server.on('checkContinue', (request: IncomingMessage, response: ServerResponse) => {
    if (Number(request.headers['content-length'] ?? 0) > MAX_REQUEST_BODY_BYTES) {
      return send(response, 413, { message: new BodyTooLargeError().message }, { connection: 'close' });
    }
    response.writeContinue();
    server.emit('request', request, response);
  });

  // As on AWS, a connect carries a progress token (POST /progress-tokens), redeemed by the deployed
  // authorizer: browsers cannot send the x-api-key header on a WebSocket handshake.
  const wss = new WebSocketServer({
    server,
    path: '/',
    maxPayload: MAX_WEBSOCKET_MESSAGE_BYTES,
    verifyClient: (info: { req: IncomingMessage }, accept: (admitted: boolean, code?: number) => void) => {
      const refused = checkHostAndOrigin(info.req.headers, port);
      if (refused) return accept(false, refused.status);
      const system = state.system;
      if (apiKey === undefined) return accept(true);
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
  // ws forwards every error of the HTTP server (EADDRINUSE at listen) as its own 'error' event: unheard, that
  // event ends the process with a stack trace. The listen below rejects with the same error.
  wss.on('error', () => undefined);
  wss.on('connection', (socket) => {
    const system = state.system;
    if (!system) {
      socket.close(1013, 'starting');
      return;
    }
    const connectionId = randomBytes(12).toString('base64url');
    const connectedAt = Date.now();
    connections.set(connectionId, socket);
    // A protocol error (a message over maxPayload: 1009) closes the socket; unheard, it would end the process.
    socket.on('error', () => socket.terminate());
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
          sendOrDrop(
            socket,
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
        // The deployed subscribe route returns its answer ({"subscribed": ...} or the error) to the client.
        if (socket.readyState === WebSocket.OPEN) sendOrDrop(socket, result.body);
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
  port = (server.address() as AddressInfo).port;
  const url = `http://${LOCAL_HOST}:${port}`;
  staticHeaders['content-security-policy'] = dashboardCsp([`ws://${LOCAL_HOST}:${port}`]);

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
    apiKey,
    openUrl: apiKey === undefined ? `${url}/` : `${url}/#key=${encodeURIComponent(apiKey)}`,
    system,
    close: async () => {
      await closeServer();
      await system.stop();
    },
  };
}
