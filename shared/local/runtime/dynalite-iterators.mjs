// dynalite's Query and Scan iterators closed when their stream ends (installed by dynalite-worker.mjs). Plain
// JavaScript: the worker thread does not inherit the TypeScript loader of its parent.
//
// Why: dynalite 4 reads a table or an index through a Readable over an abstract-level iterator
// (db/index.js, createKeyStream and createValueStream), and its stream's destroy, which runs when the stream
// ends or a read stops early, closes the iterator through `iterator.return()`: the method of an async
// generator, which abstract-level's iterators do not have (they have `close()`). So no iterator was ever
// closed. abstract-level keeps every open iterator among its database's resources until it is closed, and a
// memory-level iterator holds a snapshot of the whole tree as it was when the iterator opened: every key and
// value of that moment, deleted ones included, stayed reachable. `meta-agent serve` ran about ten such reads a
// batch, and its resident memory grew by about 43 KB a task for as long as it ran (6,000 tasks: 261 to 519
// MB), finished batches deleted or not, while the JavaScript heaps stayed flat (the trees' keys and values
// are Buffers, outside them). test/integration/local/dynalite-iterators.test.ts counts the iterators left
// open by reads of every kind.
//
// The fix gives abstract-level's iterators the method dynalite calls: `return()` closes the iterator and
// answers as an async generator's would, `{ done: true, value: undefined }`.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** The packages through which dynalite reaches abstract-level: in memory, and on disk (serve --data-dir). */
const STORES = ['memory-level', 'level', 'classic-level'];

/**
 * Every copy of abstract-level that dynalite's stores load (usually one), by the path it resolves to.
 * @returns {string[]}
 */
function abstractLevelPaths() {
  const dynalite = createRequire(require.resolve('dynalite'));
  const paths = new Set();
  for (const store of STORES) {
    try {
      paths.add(createRequire(dynalite.resolve(store)).resolve('abstract-level'));
    } catch {
      // Not installed (classic-level comes with level): nothing of it to fix.
    }
  }
  return [...paths];
}

/**
 * Gives the iterators of one abstract-level module a `return()` that closes them (see above); a prototype
 * that has one already is left as it is. Answers whether it added one.
 * @param {{ AbstractIterator: { prototype: object } }} abstractLevel
 * @returns {boolean}
 */
export function closeOnReturn(abstractLevel) {
  // The base class of the entry, key and value iterators (abstract-level's CommonIterator), not exported.
  const common = Object.getPrototypeOf(abstractLevel.AbstractIterator.prototype);
  if (typeof common.return === 'function') return false;
  Object.defineProperty(common, 'return', {
    configurable: true,
    writable: true,
    async value() {
      await this.close();
      return { done: true, value: undefined };
    },
  });
  return true;
}

/** Installs closeOnReturn in every abstract-level dynalite uses (once per thread); answers how many it fixed. */
export function installIteratorClose() {
  return abstractLevelPaths().filter((path) => closeOnReturn(require(path))).length;
}
