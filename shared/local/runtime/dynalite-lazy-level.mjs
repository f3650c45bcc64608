// dynalite loads its on-disk store, `level` (classic-level, LevelDB through a native addon), when it loads,
// although only a data directory uses it (serve --data-dir): about 20 ms of its thread's 60 ms of loading,
// and that thread's start is what a `meta-agent run` waits on. Called before dynalite loads (dynalite-worker.mjs),
// deferLevel puts a stand-in for `level` in the module cache where dynalite's require finds it: its Level constructs
// the real one, loaded then. dynalite calls `new Level(path, options)` and nothing else of the package.
import Module, { createRequire } from 'node:module';
import { dirname } from 'node:path';

const require = createRequire(import.meta.url);

/**
 * Puts the stand-in for the `level` that dynalite resolves (unless that module is loaded already); answers
 * whether it did.
 * @returns {boolean}
 */
export function deferLevel() {
  const fromDynalite = createRequire(require.resolve('dynalite'));
  const path = fromDynalite.resolve('level');
  if (require.cache[path]) return false;
  let real;
  const load = () => {
    if (!real) {
      if (require.cache[path] === standIn) delete require.cache[path];
      real = fromDynalite('level');
    }
    return real;
  };
  const standIn = new Module(path);
  standIn.filename = path;
  standIn.paths = Module._nodeModulePaths(dirname(path));
  standIn.loaded = true;
  standIn.exports = {
    Level: function Level(...args) {
      return new (load().Level)(...args);
    },
  };
  require.cache[path] = standIn;
  return true;
}
