#!/usr/bin/env node
// Entry point of `npx meta-agent`. The CLI is TypeScript, bundled once at install (`npm install` runs
// scripts/build.mjs as `prepare`) into dist/cli. That build runs when its manifest says it was made from the
// sources as they are; otherwise (no build yet, or a source edited since) the CLI runs from source through
// tsx, slower to start but never stale, and `npm run build` makes it fast again.
import { existsSync } from 'node:fs';
import * as nodeModule from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildState, CLI_BUILD_DIR, COMPILE_CACHE_DIR } from '../scripts/build-state.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [major] = process.versions.node.split('.').map(Number);
if (major < 22) await runOnPinnedNode();

/**
 * Started by an older Node (`./node_modules/.bin/meta-agent` on a machine whose own Node is 20): runs the CLI
 * again on the Node 22 the project pins (its `node` dev dependency), as npm scripts and npx do, and ends as
 * it ends. Signals sent to this process are passed on (a terminal's Ctrl-C reaches both; the CLI takes a
 * second SIGINT this soon as the same one, as it does behind npx). Without that Node, says what to run.
 */
async function runOnPinnedNode() {
  const pinned = join(root, 'node_modules', 'node', 'bin', 'node');
  if (process.env.META_AGENT_PINNED_NODE || !existsSync(pinned)) {
    process.stderr.write(
      `meta-agent needs Node.js >= 22 (found ${process.versions.node}). Run \`npm install\` in ${root} ` +
        'and then `npx meta-agent`, which runs on the Node 22 the project installs.\n',
    );
    process.exit(2);
  }
  const { spawn } = await import('node:child_process');
  const child = spawn(pinned, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, META_AGENT_PINNED_NODE: '1' },
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  const [code, signal] = await new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (...end) => resolve(end));
  });
  if (signal) {
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  }
  process.exit(code ?? 1);
}

// fauxqs keeps its queues in node:sqlite, which Node 22 flags as experimental on every start. The warning
// says nothing a user can act on, so only that one is dropped; every other warning is printed as usual.
const emitWarning = process.emitWarning;
process.emitWarning = (warning, ...rest) => {
  const type = typeof rest[0] === 'string' ? rest[0] : rest[0]?.type;
  if (type === 'ExperimentalWarning' && String(warning).includes('SQLite')) return;
  return emitWarning.call(process, warning, ...rest);
};
if (process.env.META_AGENT_DEBUG) process.setSourceMapsEnabled(true);

const args = process.argv.slice(2);
// A local run or serve starts dynalite's thread first, so it loads beside the CLI instead of after it
// (dynalite-preload.mjs); the runtime adopts it. Before the build's freshness check, which takes 8 to 12 ms: a
// build's worker if there is one. Should the build turn out stale, the CLI runs from source and asks for the
// source's worker; the runtime then ends this thread and starts that one (correct, only slower).
const preload = await import('../shared/local/runtime/dynalite-preload.mjs');
if (preload.startsLocalRuntime(args, process.env)) {
  const built = join(root, CLI_BUILD_DIR, 'dynalite-worker.mjs');
  const worker = existsSync(built) ? built : join(root, 'shared', 'local', 'runtime', 'dynalite-worker.mjs');
  preload.preloadDynalite(pathToFileURL(worker));
}
const state = buildState(root);
let main;
if (state.fresh) {
  // V8 keeps the bundles' compiled code beside them (Node's module compile cache, keyed on each file's
  // content): later starts load it instead of compiling megabytes of JavaScript again. A new build replaces
  // the directory, cache included; where the package cannot be written (a read-only install), Node just
  // compiles as before.
  nodeModule.enableCompileCache?.(join(root, CLI_BUILD_DIR, COMPILE_CACHE_DIR));
  ({ main } = await import(pathToFileURL(join(root, CLI_BUILD_DIR, 'main.mjs')).href));
} else {
  if (process.stderr.isTTY) {
    process.stderr.write(
      `meta-agent: running from source (${state.reason}); \`npm run build\` makes it start faster.\n`,
    );
  }
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../shared/local/cli/main.ts'));
}
const code = await main(args);
// The command has ended, and stopped everything it started. Left to the event loop, Node would now take the
// whole environment apart before exiting (every module, handle and heap page) for the operating system to
// reclaim anyway: process.exit skips that, 14 ms of the 45 between a run's printed result and its exit.
// Writes to a pipe are asynchronous on POSIX and process.exit would drop those still queued, so both streams
// are drained first (a write's callback runs once every earlier write is out). Node's compile cache is
// saved on either path.
await Promise.all(
  [process.stdout, process.stderr].map((stream) => new Promise((done) => stream.write('', done))),
);
process.exit(code);
