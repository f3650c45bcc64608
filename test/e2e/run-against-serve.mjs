#!/usr/bin/env node
/**
 * Runs the e2e suite against `meta-agent serve` (what CI runs; no Docker, no AWS):
 *   1. picks a free loopback port and a random API key, starts `node bin/meta-agent.js serve --port N
 *      --api-key KEY` in its own process group;
 *   2. waits for its line `meta-agent serve: listening on http://127.0.0.1:N (websocket ws://127.0.0.1:N/)`;
 *   3. runs `vitest run --config vitest.e2e.config.ts` with META_AGENT_API_URL / _WS_URL / _API_KEY set;
 *   4. stops the server's whole process group, always (also on failure or Ctrl-C), and exits with the
 *      suite's code (2 when the server never came up).
 *
 * Usage: node test/e2e/run-against-serve.mjs [vitest args...] [-- server command...]
 * A server command after `--` replaces `node bin/meta-agent.js serve` (it still gets --port and --api-key).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Synthesizing the state machine and starting the emulators takes seconds; a cold tsx cache a few more. */
const STARTUP_TIMEOUT_MS = Number(process.env.META_AGENT_SERVE_STARTUP_MS) || 90_000;
/** After SIGTERM, how long the server may take to stop its emulators before the group gets SIGKILL. */
const STOP_GRACE_MS = 5_000;
/** Server output kept for the failure report (the tail is what explains a crash). */
const KEPT_OUTPUT_CHARS = 20_000;
const LISTENING = /meta-agent serve: listening on (http:\/\/\S+) \(websocket (wss?:\/\/\S+)\)/;
const EXIT_NOT_STARTED = 2;
/** A small simulated batch finishes in seconds on the local server: a hang fails within a minute, not three. */
const LOCAL_BATCH_TIMEOUT_MS = '60000';

/** A port the kernel just gave out on loopback; released before the server binds it. */
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

function splitArgs(argv) {
  const separator = argv.indexOf('--');
  if (separator < 0) return { vitestArgs: argv, serverCommand: undefined };
  return { vitestArgs: argv.slice(0, separator), serverCommand: argv.slice(separator + 1) };
}

const { vitestArgs, serverCommand } = splitArgs(process.argv.slice(2));
const port = await freePort();
const apiKey = `e2e-${randomBytes(12).toString('hex')}`;
const [command, ...commandArgs] = serverCommand?.length
  ? serverCommand
  : [process.execPath, join(ROOT, 'bin', 'meta-agent.js'), 'serve'];

let output = '';
const keep = (chunk) => {
  output = (output + chunk.toString()).slice(-KEPT_OUTPUT_CHARS);
};

const server = spawn(command, [...commandArgs, '--port', String(port), '--api-key', apiKey], {
  cwd: ROOT,
  // Its own process group: the server may start helpers (emulators, tsx workers); stop them all at once.
  detached: true,
  stdio: ['ignore', 'pipe', 'pipe'],
  env: { ...process.env, NO_COLOR: '1' },
});
let serverExited = false;
const serverExit = new Promise((resolve) => {
  server.once('exit', (code, signal) => {
    serverExited = true;
    resolve({ code, signal });
  });
});
server.stdout.on('data', keep);
server.stderr.on('data', keep);

function signalGroup(signal) {
  try {
    process.kill(-server.pid, signal);
  } catch {
    // The group is already gone.
  }
}

let stopping;
/** Stops the server's process group: SIGTERM, then SIGKILL after STOP_GRACE_MS. Safe to call twice. */
function stopServer() {
  stopping ??= (async () => {
    if (server.pid === undefined) return;
    signalGroup('SIGTERM');
    const timer = setTimeout(() => signalGroup('SIGKILL'), STOP_GRACE_MS);
    if (!serverExited) await serverExit;
    clearTimeout(timer);
    // Children that ignored SIGTERM outlive the leader: make sure none is left.
    signalGroup('SIGKILL');
  })();
  return stopping;
}

function reportServerOutput(reason) {
  process.stderr.write(`\nrun-against-serve: ${reason}\n--- server output (tail) ---\n${output}\n---\n`);
}

let suite;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    suite?.kill(signal);
    await stopServer();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  });
}

/** Resolves with the URLs from the listening line; rejects when the server exits or takes too long. */
function waitForListening() {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no "listening" line within ${STARTUP_TIMEOUT_MS} ms`)),
      STARTUP_TIMEOUT_MS,
    );
    let seen = '';
    server.stdout.on('data', (chunk) => {
      seen += chunk.toString();
      const match = LISTENING.exec(seen);
      if (match) {
        clearTimeout(timer);
        resolve({ apiUrl: match[1], wsUrl: match[2] });
      }
    });
    server.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    serverExit.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`the server exited before listening (code ${code}, signal ${signal})`));
    });
  });
}

let exitCode = EXIT_NOT_STARTED;
try {
  const { apiUrl, wsUrl } = await waitForListening();
  process.stderr.write(`run-against-serve: server on ${apiUrl} (websocket ${wsUrl}), pid ${server.pid}\n`);
  suite = spawn(
    process.execPath,
    [
      join(ROOT, 'node_modules', 'vitest', 'vitest.mjs'),
      'run',
      '--config',
      'vitest.e2e.config.ts',
      ...vitestArgs,
    ],
    {
      cwd: ROOT,
      stdio: 'inherit',
      env: {
        ...process.env,
        META_AGENT_API_URL: apiUrl,
        META_AGENT_WS_URL: wsUrl,
        META_AGENT_API_KEY: apiKey,
        META_AGENT_E2E_TIMEOUT_MS: process.env.META_AGENT_E2E_TIMEOUT_MS ?? LOCAL_BATCH_TIMEOUT_MS,
      },
    },
  );
  exitCode = await new Promise((resolve) => {
    suite.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
    suite.once('error', (error) => {
      process.stderr.write(`run-against-serve: cannot start vitest: ${error.message}\n`);
      resolve(1);
    });
  });
  if (exitCode !== 0) reportServerOutput(`the suite failed (exit ${exitCode})`);
  if (serverExited) {
    reportServerOutput('the server exited while the suite ran');
    exitCode ||= 1;
  }
} catch (error) {
  reportServerOutput(`the server did not start: ${error.message}`);
} finally {
  await stopServer();
}
process.exit(exitCode);
