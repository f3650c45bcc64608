// dynalite parses every expression of every request (UpdateExpression, ConditionExpression,
// KeyConditionExpression, FilterExpression, ProjectionExpression) with a PEG parser, and that parsing was about
// 60% of its thread's work in a batch: the orchestrator sends the same few expressions over and over, with new
// values. This keeps each parse's result as a template and builds the next request's result from it, with
// that request's values in place. Plain JavaScript, loaded by dynalite-worker.mjs.
//
// Why a template is exact. The parsers are pure functions of the expression and of their context: the
// attribute names (resolved into the result as strings), the attribute values and the `isKeyCondition`
// flag. A value enters the result only as the very object of ExpressionAttributeValues (`resolveAttrVal`
// answers `attrVals[name]`), and the parse's checks read values only for their type (`attrType`, operand
// types), except BETWEEN (compares its bounds) and attribute_type (reads its type name): expressions naming
// either are never cached. So a result is keyed on the parser, the expression, the flag, the names and the
// type of each value, and a template keeps a marker where the parse put a value object. A parse also
// strikes the names and values it used off the context's `unused*` lists (dynalite refuses a request with
// unused ones): the template records which, and a reuse strikes the same. A parse that fails (a syntax error
// thrown, a refusal answered as a string) is not kept, so every error comes from dynalite's own parse.

/** Expressions kept per parser: past this the cache starts again (the orchestrator uses a few dozen). */
export const MAX_TEMPLATES = 1000;
/** Expressions whose parse reads values beyond their type. */
const READS_VALUES = /between|attribute_type/i;
const TYPES = ['S', 'N', 'B', 'NULL', 'BOOL', 'SS', 'NS', 'BS', 'L', 'M'];

/** Where the parse put the value of ExpressionAttributeValues[key]. */
class ValueSlot {
  constructor(key) {
    this.key = key;
  }
}

/** The type a parser sees of a value (its getImmediateType). */
function typeOf(value) {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return '';
  for (const type of TYPES) if (value[type] != null) return type;
  return '';
}

function keyOf(expression, context) {
  const names = context.attrNames ? JSON.stringify(context.attrNames) : '';
  const values = context.attrVals
    ? Object.keys(context.attrVals)
        .map((k) => `${k}:${typeOf(context.attrVals[k])}`)
        .join(',')
    : '';
  return `${context.isKeyCondition ? 1 : 0}\u0000${expression}\u0000${names}\u0000${values}`;
}

/** A copy of `node` in which every object `swap` answers is replaced by its answer. */
function copy(node, swap) {
  if (node === null || typeof node !== 'object') return node;
  const swapped = swap(node);
  if (swapped !== undefined) return swapped;
  if (Array.isArray(node)) return node.map((item) => copy(item, swap));
  const out = Object.getPrototypeOf(node) === null ? Object.create(null) : {};
  for (const key of Object.keys(node)) out[key] = copy(node[key], swap);
  return out;
}

/** The names of `map` (an object or undefined) as an object of `true`s, as dynalite builds its unused lists. */
function allOf(map) {
  const all = {};
  for (const key of Object.keys(map ?? {})) all[key] = true;
  return all;
}

/**
 * Wraps `parser.parse` (a dynalite PEG parser module, shared with dynalite through the module cache) so that
 * a parse of an expression already seen with the same names and value types reuses its template.
 */
export function cacheParses(parser) {
  const parse = parser.parse;
  let templates = new Map();
  parser.parse = function cachedParse(expression, options) {
    const context = options?.context;
    if (typeof expression !== 'string' || !context || READS_VALUES.test(expression)) {
      return parse.call(this, expression, options);
    }
    const values = context.attrVals ?? {};
    const key = keyOf(expression, context);
    const template = templates.get(key);
    if (template === undefined) {
      // Parsed against full unused lists, so the names and values it strikes are all the ones it uses.
      const probe = {
        ...context,
        unusedAttrNames: allOf(context.attrNames),
        unusedAttrVals: allOf(context.attrVals),
      };
      const result = parse.call(this, expression, { ...options, context: probe });
      const used = {
        names: Object.keys(context.attrNames ?? {}).filter((k) => !(k in probe.unusedAttrNames)),
        values: Object.keys(values).filter((k) => !(k in probe.unusedAttrVals)),
      };
      strike(context, used);
      // A refusal is answered as a string (dynalite reports it): not kept.
      if (result === null || typeof result !== 'object') return result;
      const slots = new Map(Object.keys(values).map((k) => [values[k], new ValueSlot(k)]));
      if (templates.size >= MAX_TEMPLATES) templates = new Map();
      templates.set(key, { ...used, result: copy(result, (node) => slots.get(node)) });
      return result;
    }
    strike(context, template);
    return copy(template.result, (node) => (node instanceof ValueSlot ? values[node.key] : undefined));
  };
  return parser;
}

/** Strikes the names and values a parse used off the context's unused lists, as the parse itself does. */
function strike(context, used) {
  for (const name of used.names) delete context.unusedAttrNames?.[name];
  for (const value of used.values) delete context.unusedAttrVals?.[value];
}
