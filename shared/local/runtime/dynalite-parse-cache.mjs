// Expression parses of dynalite kept for reuse (installed by dynalite-worker.mjs). Plain JavaScript: the worker
// thread does not inherit the TypeScript loader of its parent.
//
// Why: dynalite parses every expression of every request (update, condition, key condition, filter,
// projection) with PEG.js parsers. In a chain of tasks on the embedded runtime those parses were 29% of
// dynalite's thread (175 of 611 ms), and a dependency hop is about ten DynamoDB calls in a row, each
// waiting for the one before. The orchestrator sends the same few dozen expressions again and again, with
// other values and, for leases, other attribute names.
//
// What a parse reads (dynalite 4's parsers, db/*Parser.js):
// - the expression;
// - of the attribute names, which placeholders resolve to the same name (paths that overlap or conflict,
//   operands that must differ are compared by name), and whether a name equals a word written in the
//   expression itself (reserved words are checked on those words only); the names themselves only end up
//   in the tree (its paths and the keys of nestedPaths and pathHeads) and in error messages;
// - of each attribute value, whether it is present and its type (the first of S, N, B, NULL, BOOL, SS, NS,
//   BS, L, M it holds, as their getImmediateType reads it); only BETWEEN (its bounds are compared) and
//   attribute_type (its type name is checked) read a value's content.
// A parse also marks the names and values it used (deleting them from the context's unused sets) and returns
// a tree that holds the request's value objects themselves.
//
// So a successful parse is kept as a template under the expression, the names' pattern of equality and the
// values' types: the expression parsed once more with each distinct name replaced by a sentinel (a string
// starting with NUL, as no word of an expression can), and each value object replaced by its placeholder. A later request of
// the same shape gets a fresh copy of the template with its own names and value objects in their places,
// and the same names and values marked used. Never kept: errors (parsed again, with their own messages),
// expressions with BETWEEN or attribute_type (any spelling), and names that are empty or equal a word of
// the expression. test/unit/local/dynalite-parse-cache.test.ts checks the kept parses against dynalite's
// own (through its validateExpressions): an agent release as the orchestrator sends it, each case above,
// and random requests sent again with other names and values.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** The parsers validations/index.js requires, by module path (the same module instances it calls). */
const PARSERS = [
  'dynalite/db/conditionParser.js',
  'dynalite/db/updateParser.js',
  'dynalite/db/projectionParser.js',
];
/** Templates kept per parser; the oldest is dropped beyond this. */
export const PARSE_CACHE_ENTRIES = 1000;
/** The types getImmediateType tries, in its order. */
const VALUE_TYPES = ['S', 'N', 'B', 'NULL', 'BOOL', 'SS', 'NS', 'BS', 'L', 'M'];
/** Expressions whose parse reads values' content: never kept. */
const READS_CONTENT = /between|attribute_type/i;
const PLACEHOLDER = Symbol('dynalite-parse-cache.value');

function immediateType(value) {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return '?';
  for (const type of VALUE_TYPES) if (value[type] != null) return type;
  return '?';
}

/** A word of an expression that is not a placeholder: a name equal to one is never templated. */
const WORD = /(?<![#:A-Za-z0-9_])[A-Za-z_][A-Za-z0-9_]*/g;
/** Sentinel names start with NUL; no word of an expression (nor any other string of a tree) can. */
const SENTINEL = '\u0000';

/**
 * The cache key of a parse, the sentinel for each name placeholder, and the request's names by sentinel;
 * undefined when the parse must not be kept (see above).
 */
function shapeOf(expression, context) {
  if (READS_CONTENT.test(expression)) return undefined;
  const attrNames = context.attrNames ?? {};
  const words = new Set(expression.match(WORD));
  const index = new Map();
  const sentinels = {};
  const names = new Map();
  const pattern = [];
  for (const placeholder of Object.keys(attrNames)) {
    const name = attrNames[placeholder];
    if (typeof name !== 'string' || name === '' || words.has(name)) return undefined;
    let i = index.get(name);
    if (i === undefined) {
      i = index.size;
      index.set(name, i);
      names.set(`${SENTINEL}${i}`, name);
    }
    sentinels[placeholder] = `${SENTINEL}${i}`;
    pattern.push(`${placeholder}=${i}`);
  }
  const values = context.attrVals ?? {};
  const types = Object.keys(values).map((name) => `${name}=${immediateType(values[name])}`);
  return { key: JSON.stringify([expression, pattern, types]), sentinels, names };
}

/**
 * A copy of a parse tree: a node `replace` answers for (anything but undefined) is replaced by its answer,
 * any other object or array is copied with its keys passed through `rename`. A node reached twice (updateParser
 * lists each path in its section and in `paths`) is copied once, so the copy shares as the tree did.
 */
function copyTree(tree, replace, rename, copies = new Map()) {
  const replaced = replace(tree);
  if (replaced !== undefined) return replaced;
  if (tree === null || typeof tree !== 'object') return tree;
  const done = copies.get(tree);
  if (done) return done;
  const copy = Array.isArray(tree) ? [] : Object.getPrototypeOf(tree) === null ? Object.create(null) : {};
  copies.set(tree, copy);
  for (const key of Object.keys(tree)) copy[rename(key)] = copyTree(tree[key], replace, rename, copies);
  return copy;
}

/** The tree with each value object of `valueNames` replaced by a placeholder naming it. */
function templateOf(tree, valueNames) {
  return copyTree(
    tree,
    (node) => {
      const name = valueNames.get(node);
      return name === undefined ? undefined : { [PLACEHOLDER]: name };
    },
    (key) => key,
  );
}

/**
 * A fresh tree from a template: the request's value objects and names (`names`, by sentinel) where their
 * placeholders are.
 */
function instantiate(template, values, names) {
  const named = (text) => (text.startsWith(SENTINEL) ? names.get(text) : text);
  return copyTree(
    template,
    (node) => {
      if (typeof node === 'string') return named(node);
      const name = node?.[PLACEHOLDER];
      return name === undefined ? undefined : values[name];
    },
    named,
  );
}

/** Every key of `record` marked unused, as validateExpressions starts a request's context. */
function allUnused(record) {
  return Object.fromEntries(Object.keys(record ?? {}).map((key) => [key, true]));
}

/**
 * The template of a parse that succeeded: the same expression parsed with sentinel names, and the names and
 * values the expression uses. Those are read from this parse, which starts with every name and value unused,
 * not from the request's own parse: an earlier expression of the same request (a filter before a projection)
 * may have used a name first, and a later request whose only use of it is this expression must still mark it
 * used.
 */
function templateFor(parse, input, options, context, sentinels) {
  const scratch = {
    ...context,
    attrNames: Object.keys(sentinels).length > 0 ? sentinels : context.attrNames,
    unusedAttrNames: allUnused(context.attrNames),
    unusedAttrVals: allUnused(context.attrVals),
  };
  let tree;
  try {
    tree = parse(input, { ...options, context: scratch });
  } catch {
    return undefined;
  }
  if (typeof tree !== 'object' || tree === null) return undefined;
  const values = context.attrVals ?? {};
  return {
    template: templateOf(tree, new Map(Object.keys(values).map((name) => [values[name], name]))),
    usedNames: Object.keys(context.attrNames ?? {}).filter((name) => !(name in scratch.unusedAttrNames)),
    usedValues: Object.keys(values).filter((name) => !(name in scratch.unusedAttrVals)),
  };
}

/**
 * `parse` of a dynalite parser module, with successful parses kept as above. `stats` counts hits and misses
 * (tests and benchmarks read it).
 */
export function cachedParse(parse, stats = { hits: 0, misses: 0 }) {
  const cache = new Map();
  return function parseWithCache(input, options) {
    const context = options?.context;
    const shape = typeof input === 'string' && context ? shapeOf(input, context) : undefined;
    if (!shape) return parse(input, options);
    const kept = cache.get(shape.key);
    if (kept) {
      stats.hits += 1;
      const unusedNames = context.unusedAttrNames ?? {};
      const unusedValues = context.unusedAttrVals ?? {};
      for (const name of kept.usedNames) delete unusedNames[name];
      for (const name of kept.usedValues) delete unusedValues[name];
      return instantiate(kept.template, context.attrVals ?? {}, shape.names);
    }
    stats.misses += 1;

    const result = parse(input, options);
    // An error is a string in the tree's place (checkErrors) or a throw (a syntax error): neither is kept.
    if (typeof result !== 'object' || result === null) return result;
    const entry = templateFor(parse, input, options, context, shape.sentinels);
    if (entry === undefined) return result;
    if (cache.size >= PARSE_CACHE_ENTRIES) cache.delete(cache.keys().next().value);
    cache.set(shape.key, entry);
    return result;
  };
}

/** Keeps the parses of the dynalite this module resolves (once per thread); returns the hit and miss counts. */
export function installParseCache() {
  const installed = require(PARSERS[0]).parse.parseCacheStats;
  if (installed) return installed;
  const stats = { hits: 0, misses: 0 };
  for (const path of PARSERS) {
    const parser = require(path);
    const parse = cachedParse(parser.parse, stats);
    parse.parseCacheStats = stats;
    parser.parse = parse;
  }
  return stats;
}
