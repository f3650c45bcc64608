// dynalite's thread, started before the CLI has loaded. Its modules take about 200 ms to load on their own
// thread, and the embedded runtime starts that thread only once its own modules are loaded and evaluated:
// its main thread then sat idle for about 100 ms waiting for the thread to listen. `meta-agent run` and
// `serve` start the thread first (bin/meta-agent.js), so dynalite loads on the second core while the CLI
// loads on this one, and startDynalite (emulators.ts) adopts it. Plain JavaScript with no imports of the
// project, so the entry point can load it before the CLI; the bundled copy in the CLI build and this one
// share the slot through the global symbol registry.
import { Worker } from 'node:worker_threads';

const SLOT = Symbol.for('meta-agent.dynalite-preload');

/**
 * Whether the command line `args` (after `meta-agent`) starts the embedded runtime: `run` and `serve`, but
 * not a run against a running API (--url, or META_AGENT_API_URL as remote.ts reads it) nor a command's help.
 */
export function startsLocalRuntime(args, env) {
  const [command, ...rest] = args;
  if (command !== 'run' && command !== 'serve') return false;
  if (rest.some((a) => a === '--help' || a === '-h')) return false;
  if (rest.some((a) => a === '--url' || a.startsWith('--url='))) return false;
  return command === 'serve' || !env.META_AGENT_API_URL?.trim();
}

/**
 * Starts dynalite's worker thread (`url`, dynalite-worker.mjs) ahead of startDynalite, which adopts it. The
 * thread loads its modules and waits for its start message; until adopted it does not keep the process
 * alive. A second call while one waits does nothing.
 */
export function preloadDynalite(url) {
  if (globalThis[SLOT]) return;
  const worker = new Worker(url);
  const entry = { href: String(url), worker, ended: false };
  // A thread that failed to load is not adopted: startDynalite starts another, which reports the failure.
  worker.once('error', () => {
    entry.ended = true;
  });
  worker.once('exit', () => {
    entry.ended = true;
  });
  worker.unref();
  globalThis[SLOT] = entry;
}

/**
 * The preloaded thread for `url`, taken out of the slot (so adopted once) and keeping the process alive again;
 * undefined when none was started, it ended, or it runs another file (which is ended).
 */
export function takePreloadedDynalite(url) {
  const entry = globalThis[SLOT];
  if (!entry) return undefined;
  delete globalThis[SLOT];
  if (entry.ended || entry.href !== String(url)) {
    void entry.worker.terminate();
    return undefined;
  }
  entry.worker.ref();
  return entry.worker;
}
