/**
 * What the install-time build (scripts/build.mjs) was made from, and whether those files are unchanged.
 *
 * The build writes a manifest beside its output: every source file of the project esbuild read (from its
 * metafile), the lock file (which fixes the versions of the packages, bundled or left external) and the build
 * scripts themselves, each with its sha256. A build is fresh when every one of them still hashes the same: then its bundles and the
 * state machine definition synthesized with them are exactly what the sources give now. Content hashes, not
 * modification times, so a checkout or a copy that changes nothing keeps the build. A file whose stat still
 * matches the one recorded beside its hash (size, inode, and modification and change times, as git's index
 * compares them) is not read again: any write changes its change time, which no tool sets back.
 * A file whose times fall within RACY_MS of the manifest's gets no stat recorded, and is read at every check
 * (a file system with coarse times could hide a write made in the same tick).
 *
 * Plain JavaScript: bin/meta-agent.js reads it before any TypeScript can be loaded.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
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
export const MANIFEST_VERSION = 3;
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
 * What buildState compares before reading a file: its size, inode, and modification and change times (ms,
 * with the fraction a double keeps: under a microsecond), or undefined when it cannot be stat'ed.
 * @param {string} root
 * @param {string} path relative to root
 * @returns {{ size: number, ino: number, mtimeMs: number, ctimeMs: number } | undefined}
 */
export function statInput(root, path) {
  try {
    // Concatenated, not path.join: join normalizes its result character by character, and its 182 calls ran in
    // V8's interpreter at every start (the check took 8.9 to 12.2 ms with it, 6.4 to 9.7 without, 4 runs each).
    // The inputs are relative paths as the build records them (no `..`); fs takes a forward slash on every system.
    const stat = statSync(`${root}/${path}`, { throwIfNoEntry: false });
    return stat && { size: stat.size, ino: stat.ino, mtimeMs: stat.mtimeMs, ctimeMs: stat.ctimeMs };
  } catch {
    // Not stat'able in another way than being gone (a link loop, no permission): it is hashed, which
    // answers 'missing'.
    return undefined;
  }
}

/** A recorded stat whose times are this close to its manifest's (or later) is read again (see the top). */
export const RACY_MS = 2_000;

/**
 * The manifest of a build made from `inputs` (paths relative to `root`) at `madeAt`: each input's sha256, and
 * its stat when it did not change while it was hashed and is not racy.
 * @param {string} root
 * @param {readonly string[]} inputs
 * @param {number} [madeAt] ms since the epoch (now)
 * @returns {{ version: number, madeAt: number, inputs: Record<string, { sha256: string, stat?: ReturnType<typeof statInput> }> }}
 */
export function manifestOf(root, inputs, madeAt = Date.now()) {
  const sorted = [...new Set([...inputs, ...BUILD_INPUTS])].sort();
  const record = (path) => {
    const before = statInput(root, path);
    const sha256 = hashInput(root, path);
    const after = statInput(root, path);
    const trusted = before && after && sameStat(before, after) && !racy(after, madeAt);
    return trusted ? { sha256, stat: after } : { sha256 };
  };
  return { version: MANIFEST_VERSION, madeAt, inputs: Object.fromEntries(sorted.map((p) => [p, record(p)])) };
}

/** @param {NonNullable<ReturnType<typeof statInput>>} a @param {NonNullable<ReturnType<typeof statInput>>} b */
function sameStat(a, b) {
  return a.size === b.size && a.ino === b.ino && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;
}

/**
 * A stat whose times are within RACY_MS of the manifest's time (or later): not recorded, so the file is hashed
 * at every check.
 * @param {NonNullable<ReturnType<typeof statInput>>} stat
 * @param {number} madeAt
 */
function racy(stat, madeAt) {
  return Math.max(stat.mtimeMs, stat.ctimeMs) >= madeAt - RACY_MS;
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
  for (const [path, input] of Object.entries(manifest.inputs)) {
    const recorded = input?.stat;
    if (recorded) {
      const now = statInput(root, path);
      if (now && sameStat(now, recorded)) continue;
    }
    if (hashInput(root, path) !== input?.sha256)
      return { fresh: false, reason: `${path} changed since the build` };
  }
  return { fresh: true };
}
