// dynalite on its own thread (started by startDynalite in emulators.ts). The embedded runtime runs every
// handler, the SDK clients and the state machine interpreter on the main thread; DynamoDB emulation is
// about half of a batch's CPU, so serving it here lets it use a second core. Plain JavaScript: a worker
// thread does not inherit the TypeScript loader of its parent. Stopping terminates the thread, which
// closes the server and its connections.
import { EventEmitter } from 'node:events';
import { parentPort } from 'node:worker_threads';
import dynalite from 'dynalite';
import { installIteratorClose } from './dynalite-iterators.mjs';
import { installParseCache } from './dynalite-parse-cache.mjs';

// Expressions parsed once per shape (dynalite-parse-cache.mjs).
installParseCache();
// Its reads' iterators closed when their streams end (dynalite-iterators.mjs): open, they kept every key and
// value of their moment, and a long-running serve grew without bound.
installIteratorClose();

// The server is made on the start message (startDynalite), not when the thread starts: a thread preloaded by
// the CLI's entry point (dynalite-preload.mjs) loads these modules before its options are known.
let server;
let handleRequest;
function start({ host, backlog, keepAliveTimeout, path }) {
  if (server) return;
  // With a path, tables live in a LevelDB directory there (serve --data-dir); in memory otherwise.
  server = dynalite({
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
    ...(path ? { path } : {}),
  });
  // Idle keep-alive sockets stay open (see KEEP_ALIVE_TIMEOUT_MS in emulators.ts).
  server.keepAliveTimeout = keepAliveTimeout;
  server.once('error', (error) =>
    parentPort?.postMessage({ type: 'error', message: String(error?.stack ?? error) }),
  );
  server.listen(0, host, backlog, () => {
    parentPort?.postMessage({ type: 'listening', port: server.address().port });
  });
  handleRequest = server.listeners('request')[0];
}
// In-process requests (in-process-transport.ts): dynalite's own request handler answers a request that came
// over the MessagePort instead of a socket, through the same code path (body limits, validation, errors).
function serveMessage(message) {
  let answered = false;
  // The first answer only: dynalite ends a response once, and a throw after it changes nothing.
  const answer = (statusCode, headers, body) => {
    if (answered) return;
    answered = true;
    parentPort?.postMessage({ type: 'response', id: message.id, statusCode, headers, body });
  };
  const req = new EventEmitter();
  req.method = message.method;
  req.url = message.path;
  req.headers = message.headers;
  const headers = {};
  const res = {
    statusCode: 200,
    setHeader(name, value) {
      headers[String(name).toLowerCase()] = String(value);
    },
    end(body) {
      const text = body === undefined ? '' : Buffer.isBuffer(body) ? body.toString('utf8') : String(body);
      answer(res.statusCode, headers, text);
    },
  };
  try {
    handleRequest(req, res);
    if (message.body) req.emit('data', Buffer.from(message.body, 'utf8'));
    req.emit('end');
  } catch (error) {
    const text = JSON.stringify({
      __type: 'com.amazonaws.dynamodb.v20120810#InternalFailure',
      message: String(error?.message ?? error),
    });
    answer(500, { 'content-type': 'application/x-amz-json-1.0' }, text);
  }
}
// A LevelDB directory must be closed before another start opens it (its lock is held until then): on
// `stop`, the server closes its connections and its database, then says so.
parentPort?.on('message', (message) => {
  if (message?.type === 'start') return start(message);
  if (message?.type === 'request') return serveMessage(message);
  if (message?.type !== 'stop') return;
  if (!server) return parentPort?.postMessage({ type: 'stopped' });
  server.close(() => parentPort?.postMessage({ type: 'stopped' }));
  server.closeAllConnections();
});
