// dynalite on its own thread (started by startDynalite in emulators.ts). The embedded runtime runs every
// handler, the SDK clients and the state machine interpreter on the main thread; DynamoDB emulation is
// about half of a batch's CPU, so serving it here lets it use a second core. Plain JavaScript: a worker
// thread does not inherit the TypeScript loader of its parent. Stopping terminates the thread, which
// closes the server and its connections.
import { parentPort, workerData } from 'node:worker_threads';
import dynalite from 'dynalite';

// With a path, tables live in a LevelDB directory there (serve --data-dir); in memory otherwise.
const server = dynalite({
  createTableMs: 0,
  deleteTableMs: 0,
  updateTableMs: 0,
  ...(workerData.path ? { path: workerData.path } : {}),
});
// Idle keep-alive sockets stay open (see KEEP_ALIVE_TIMEOUT_MS in emulators.ts).
server.keepAliveTimeout = workerData.keepAliveTimeout;
server.once('error', (error) =>
  parentPort?.postMessage({ type: 'error', message: String(error?.stack ?? error) }),
);
server.listen(0, workerData.host, workerData.backlog, () => {
  parentPort?.postMessage({ type: 'listening', port: server.address().port });
});
// A LevelDB directory must be closed before another start opens it (its lock is held until then): on
// `stop`, the server closes its connections and its database, then says so.
parentPort?.on('message', (message) => {
  if (message?.type !== 'stop') return;
  server.close(() => parentPort?.postMessage({ type: 'stopped' }));
  server.closeAllConnections();
});
