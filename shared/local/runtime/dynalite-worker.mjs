// dynalite on its own thread (started by startDynalite in emulators.ts). The embedded runtime runs every
// handler, the SDK clients and the state machine interpreter on the main thread; DynamoDB emulation is
// about half of a batch's CPU, so serving it here lets it use a second core. Plain JavaScript: a worker
// thread does not inherit the TypeScript loader of its parent. Stopping terminates the thread, which
// closes the server and its connections.
import { EventEmitter } from 'node:events';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { installIteratorClose } from './dynalite-iterators.mjs';
import { deferLevel } from './dynalite-lazy-level.mjs';
import { installParseCache } from './dynalite-parse-cache.mjs';
import { untilActive as untilActiveBy } from './table-active.mjs';

// How often a table's status is asked while it turns ACTIVE: a request answered in this thread costs no round trip.
const TABLE_ACTIVE_POLL_MS = 1;

// Its on-disk store loads when a data directory needs it (dynalite-lazy-level.mjs): before dynalite does, so
// dynalite is imported here, not with the modules above (a bundle evaluates its external imports first).
deferLevel();
const { default: dynalite } = await import('dynalite');

// Expressions parsed once per shape (dynalite-parse-cache.mjs).
installParseCache();
// Its reads' iterators closed when their streams end (dynalite-iterators.mjs): open, they kept every key and
// value of their moment, and a long-running serve grew without bound.
installIteratorClose();

// The server is made on the start message (startDynalite), not when the thread starts: a thread preloaded by
// the CLI's entry point (dynalite-preload.mjs) loads these modules before its options are known.
let server;
let handleRequest;
function start({ host, backlog, keepAliveTimeout, path, tables = [], tableActiveTimeoutMs }) {
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
  const failed = (error) =>
    parentPort?.postMessage({ type: 'error', message: String(error?.stack ?? error) });
  server.once('error', failed);
  handleRequest = server.listeners('request')[0];
  server.listen(0, host, backlog, () => {
    makeTables(tables, tableActiveTimeoutMs, path).then(
      () => parentPort?.postMessage({ type: 'listening', port: server.address().port }),
      // The error names the request, the table and dynalite's answer: its stack here would say nothing more.
      (error) => parentPort?.postMessage({ type: 'error', message: error.message }),
    );
  });
}

/**
 * Makes the tables of `tables` (CreateTable requests) that do not exist, through dynalite's own request
 * handler as an SDK call would reach it, and resolves once every one of them and its indexes is ACTIVE
 * (dynalite answers CreateTable with CREATING and turns a table ACTIVE on a timer, even at 0 ms).
 */
async function makeTables(tables, timeoutMs, path) {
  if (tables.length === 0) return;
  // In a data directory the tables of an earlier start are there already (with the same keys: same names).
  const { TableNames: existing = [] } = await call('ListTables', {});
  for (const table of tables) {
    const copy = path && `${path}.${table.TableName}.items.json`;
    if (copy && existsSync(copy)) await remake(table, copy, timeoutMs, existing.includes(table.TableName));
    else if (!existing.includes(table.TableName)) await call('CreateTable', table);
    else if (copy && (await lacksIndexes(table))) {
      // A table of an earlier version without an index this one has: dynalite's UpdateTable cannot add one,
      // so its items are copied to a file, the table made again, and the items put back from the copy. A
      // start that dies on the way finds the copy and does the rest (the copy goes once they are all back).
      const items = [];
      let ExclusiveStartKey;
      do {
        const page = await call('Scan', { TableName: table.TableName, ExclusiveStartKey });
        items.push(...(page.Items ?? []));
        ExclusiveStartKey = page.LastEvaluatedKey;
      } while (ExclusiveStartKey);
      writeFileSync(`${copy}.partial`, JSON.stringify(items));
      renameSync(`${copy}.partial`, copy);
      await remake(table, copy, timeoutMs, true);
    }
  }
  for (const { TableName } of tables) await untilActive(TableName, timeoutMs);
}

/** Whether an existing table misses an index of its definition `table`. */
async function lacksIndexes(table) {
  const { Table } = await call('DescribeTable', { TableName: table.TableName });
  const has = new Set((Table?.GlobalSecondaryIndexes ?? []).map((index) => index.IndexName));
  return (table.GlobalSecondaryIndexes ?? []).some((index) => !has.has(index.IndexName));
}

/** Makes `table` again from its definition (deleting it first when `exists`) and puts back the items of `copy`. */
async function remake(table, copy, timeoutMs, exists) {
  const items = JSON.parse(readFileSync(copy, 'utf8'));
  if (exists) {
    await call('DeleteTable', { TableName: table.TableName });
    // dynalite deletes on a timer, even at 0 ms: the name is free once DescribeTable no longer finds it.
    const deadline = Date.now() + timeoutMs;
    while (
      await call('DescribeTable', { TableName: table.TableName }).then(
        () => true,
        () => false,
      )
    ) {
      if (Date.now() > deadline)
        throw new Error(`table ${table.TableName} is still there after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }
  await call('CreateTable', table);
  await untilActive(table.TableName, timeoutMs);
  for (let at = 0; at < items.length; at += 25) {
    let requests = items.slice(at, at + 25).map((Item) => ({ PutRequest: { Item } }));
    while (requests.length > 0) {
      const { UnprocessedItems } = await call('BatchWriteItem', {
        RequestItems: { [table.TableName]: requests },
      });
      requests = UnprocessedItems?.[table.TableName] ?? [];
    }
  }
  rmSync(copy);
}

/** Resolves once `TableName` and its indexes are ACTIVE (table-active.mjs), asking this thread's dynalite. */
const untilActive = (TableName, timeoutMs) =>
  untilActiveBy((table) => call('DescribeTable', { TableName: table }), TableName, {
    timeoutMs,
    pollMs: TABLE_ACTIVE_POLL_MS,
  });

/** One DynamoDB request answered by this thread's dynalite: its answer, or an error naming its type. */
function call(action, body) {
  const request = {
    method: 'POST',
    path: '/',
    headers: {
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': `DynamoDB_20120810.${action}`,
      'x-amz-date': new Date().toISOString().replace(/[-:]|\.\d{3}/g, ''),
      // dynalite checks that a request is signed, not the signature.
      authorization: `AWS4-HMAC-SHA256 Credential=local/${new Date().toISOString().slice(0, 10).replace(/-/g, '')}/local/dynamodb/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: JSON.stringify(body),
  };
  return new Promise((resolve, reject) =>
    answerInProcess(request, (statusCode, _headers, text) => {
      const answer = text ? JSON.parse(text) : {};
      if (statusCode === 200) resolve(answer);
      else
        reject(
          new Error(
            `${action} ${body.TableName ?? ''}: ${String(answer.__type ?? statusCode)
              .split('#')
              .pop()}: ${answer.message ?? ''}`,
          ),
        );
    }),
  );
}

// In-process requests (in-process-transport.ts): dynalite's own request handler answers a request that came
// over the MessagePort instead of a socket, through the same code path (body limits, validation, errors).
function serveMessage(message) {
  answerInProcess(message, (statusCode, headers, body) =>
    parentPort?.postMessage({ type: 'response', id: message.id, statusCode, headers, body }),
  );
}

/**
 * dynalite's request handler answers `request` ({ method, path, headers, body }) through a stand-in request
 * and response; `answer(statusCode, headers, body)` is called once, a throw in the handler answering a 500.
 */
function answerInProcess(request, answer) {
  let answered = false;
  // The first answer only: dynalite ends a response once, and a throw after it changes nothing.
  const once = (statusCode, headers, body) => {
    if (answered) return;
    answered = true;
    answer(statusCode, headers, body);
  };
  const req = new EventEmitter();
  req.method = request.method;
  req.url = request.path;
  req.headers = request.headers;
  const headers = {};
  const res = {
    statusCode: 200,
    setHeader(name, value) {
      headers[String(name).toLowerCase()] = String(value);
    },
    end(body) {
      const text = body === undefined ? '' : Buffer.isBuffer(body) ? body.toString('utf8') : String(body);
      once(res.statusCode, headers, text);
    },
  };
  try {
    handleRequest(req, res);
    if (request.body) req.emit('data', Buffer.from(request.body, 'utf8'));
    req.emit('end');
  } catch (error) {
    const text = JSON.stringify({
      __type: 'com.amazonaws.dynamodb.v20120810#InternalFailure',
      message: String(error?.message ?? error),
    });
    once(500, { 'content-type': 'application/x-amz-json-1.0' }, text);
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
