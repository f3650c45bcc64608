/**
 * What the install-time build (scripts/build.mjs) was made from, and whether those files are unchanged.
 *
 * The build writes a manifest beside its output: every source file of the project esbuild read (from its
 * metafile), the lock file (which fixes the versions of the packages, bundled or left external) and the build
 * scripts themselves, each with its sha256. A build is fresh when every one of them still hashes the same: then its bundles and the
 * state machine definition synthesized with them are exactly what the sources give now. Content hashes, not
 * modification times, so a checkout or a copy that changes nothing keeps the build.
 *
 * Plain JavaScript: bin/meta-agent.js reads it before any TypeScript can be loaded.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Where the CLI build lives, relative to the package root (git-ignored). */
export const CLI_BUILD_DIR = join('dist', 'cli');
/** Node's compile cache of the bundles, in the build directory (bin/meta-agent.js); not an input or output. */
export const COMPILE_CACHE_DIR = '.compile-cache';
/** The manifest file in a build directory. */
export const MANIFEST_FILE = 'build.json';
/** The local state machine definition in the CLI build (read by shared/local/definition-cache.ts). */
export const DEFINITION_FILE = 'local-definition.json';
/** Bumped when the manifest's shape or the build's layout changes: an older build is then stale. */
export const MANIFEST_VERSION = 2;
/**
 * The handler modules of the CLI build, bundled in two sets (scripts/build.mjs), each a module whose `handlers`
 * maps handler names to handlers: every handler an embedded system runs, and those only `serve` adds (its
 * WebSocket progress). Two modules instead of one per handler: each bundle entry splits the shared code into
 * more chunks, and a start resolves, reads and links every module it loads (78 modules became 48 for a run).
 */
export const HANDLER_SETS = { local: 'functions/local.mjs', progress: 'functions/progress.mjs' };
/** The handlers of the progress set (functions/<name>.ts); every other handler is in the local set. */
export const PROGRESS_HANDLERS = ['websocket', 'notifier'];
/** Files every build depends on besides the sources esbuild reads. */
export const BUILD_INPUTS = ['package-lock.json', 'scripts/build.mjs', 'scripts/build-state.mjs'];

/**
 * sha256 of a file under `root`, or `'missing'` when it cannot be read (a file that appears or disappears
 * changes the hash all the same).
 * @param {string} root
 * @param {string} path relative to root
 */
export function hashInput(root, path) {
  try {
    return createHash('sha256')
      .update(readFileSync(join(root, path)))
      .digest('hex');
  } catch {
    return 'missing';
  }
}

/**
 * The manifest of a build made from `inputs` (paths relative to `root`).
 * @param {string} root
 * @param {readonly string[]} inputs
 * @returns {{ version: number, inputs: Record<string, string> }}
 */
export function manifestOf(root, inputs) {
  const sorted = [...new Set([...inputs, ...BUILD_INPUTS])].sort();
  return {
    version: MANIFEST_VERSION,
    inputs: Object.fromEntries(sorted.map((p) => [p, hashInput(root, p)])),
  };
}

/**
 * Whether the build in `dir` still matches the files under `root`: `{ fresh: true }`, or why not (no build,
 * an older manifest version, or the first input that changed).
 * @param {string} root the package root
 * @param {string} [dir] the build directory (default: root/dist/cli)
 * @returns {{ fresh: true } | { fresh: false, reason: string }}
 */
export function buildState(root, dir = join(root, CLI_BUILD_DIR)) {
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(join(dir, MANIFEST_FILE), 'utf8'));
  } catch {
    return { fresh: false, reason: 'no build' };
  }
  if (manifest?.version !== MANIFEST_VERSION || typeof manifest.inputs !== 'object') {
    return { fresh: false, reason: 'the build is from an older version of the build script' };
  }
  for (const [path, hash] of Object.entries(manifest.inputs)) {
    if (hashInput(root, path) !== hash) return { fresh: false, reason: `${path} changed since the build` };
  }
  return { fresh: true };
}
