/**
 * Structured outputs: a task's `outputSchema` is a JSON Schema (draft 2020-12, the dialect the providers
 * document) checked at submit with Ajv, a well-kept validator, and every answer is validated against it. Ajv
 * compiles a schema to a function once (cached by the schema's text); it does no I/O.
 */
import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import type { RegExpEngine, SchemaValidateFunction } from 'ajv/dist/types/index.js';
import addFormats from 'ajv-formats';
import { MAX_OUTPUT_BYTES, MAX_OUTPUT_SCHEMA_BYTES } from './limits';
import linearPattern from './linear-regexp';
import type { FieldPath } from './outputs';
import { formatFieldPath, OutputTooLargeError, serializeOutput } from './outputs';
import { utf8Length } from './utf8';

/** Validation errors quoted in a failed attempt's reason (the rest are counted). */
export const MAX_QUOTED_SCHEMA_ERRORS = 10;

/** Ajv's engine for `pattern`, `patternProperties` and `propertyNames`: linear-time (linear-regexp.ts). */
const linearRegExp: RegExpEngine = Object.assign((pattern: string) => linearPattern(pattern), {
  // What standalone code would call; this project never generates it.
  code: 'linearPattern',
});

/** The JSON of `value` with every object's keys sorted: two JSON values are equal when these are. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * `uniqueItems` in time linear in the array (each item's canonical JSON in a set). Ajv's compares every pair
 * of items that are not all strings or numbers: 16,000 small objects in an agent's answer took 35 s, and a
 * megabyte of them hours, inside the worker (all of `meta-agent serve`, whose workers share one thread).
 */
const distinctItems: SchemaValidateFunction = (schema: boolean, data: unknown[]) => {
  distinctItems.errors = [];
  if (!schema) return true;
  const seen = new Map<string, number>();
  for (let i = 0; i < data.length; i++) {
    const key = canonicalJson(data[i]);
    const j = seen.get(key);
    if (j !== undefined) {
      distinctItems.errors = [
        {
          keyword: 'uniqueItems',
          message: `must NOT have duplicate items (items ## ${j} and ${i} are identical)`,
          params: { i, j },
        },
      ];
      return false;
    }
    seen.set(key, i);
  }
  return true;
};

/**
 * Strict about keywords (an unknown keyword is a typo: refused with its name), not about type combinations
 * the standard allows. Formats (email, date-time, uuid, ...) are checked, through ajv-formats.
 */
function newAjv(): Ajv2020 {
  const ajv = new Ajv2020({
    code: { regExp: linearRegExp },
    allErrors: true,
    strict: true,
    strictTypes: false,
    strictTuples: false,
    strictRequired: false,
    validateFormats: true,
  });
  addFormats(ajv);
  ajv.removeKeyword('uniqueItems');
  ajv.addKeyword({
    keyword: 'uniqueItems',
    type: 'array',
    schemaType: 'boolean',
    errors: true,
    validate: distinctItems,
  });
  return ajv;
}

/**
 * Made at the first schema compiled, not at load: building Ajv with its formats compiles the draft's
 * meta-schemas (tens of milliseconds), which every process importing the domain paid at start, also the
 * many that never see an outputSchema (a CLI start, a Lambda cold start). The CLI's build also defers the
 * evaluation of Ajv's and ajv-formats' modules to that moment (scripts/build.mjs, DEFERRED_DEFAULT_IMPORTS).
 */
let ajv: Ajv2020 | undefined;
const compiled = new Map<string, ValidateFunction>();
/** Schemas compiled and kept at once; a batch has at most 2,000, a worker sees a handful. */
const MAX_COMPILED_SCHEMAS = 2_000;

function compile(schema: Record<string, unknown>): ValidateFunction {
  const key = JSON.stringify(schema);
  let validate = compiled.get(key);
  if (!validate) {
    if (compiled.size >= MAX_COMPILED_SCHEMAS) compiled.clear();
    ajv ??= newAjv();
    const instance = ajv;
    const known = new Set(Object.keys(instance.refs));
    try {
      validate = instance.compile(schema);
    } finally {
      // Each schema stands alone: the one Ajv of the process kept every schema it compiled (a memory leak in
      // a long-running serve) and registered its `$id`s, so another batch's schema with the same `$id` was
      // refused ("already exists") and one could `$ref` a schema of a batch it knows nothing of.
      instance.removeSchema(schema);
      for (const ref of Object.keys(instance.refs)) if (!known.has(ref)) delete instance.refs[ref];
    }
    compiled.set(key, validate);
  }
  return validate;
}

/** One Ajv error in a sentence: where in the answer, and what is wrong. */
function describe(error: ErrorObject): string {
  const where = error.instancePath === '' ? 'the output' : `the output at ${error.instancePath}`;
  const extra =
    error.keyword === 'additionalProperties'
      ? ` ("${String((error.params as { additionalProperty?: unknown }).additionalProperty)}")`
      : error.keyword === 'enum'
        ? ` (${JSON.stringify((error.params as { allowedValues?: unknown }).allowedValues)})`
        : '';
  return `${where} ${error.message ?? 'is invalid'}${extra}`;
}

/**
 * Why `schema` cannot be a task's outputSchema, or undefined when it can: too large, not a JSON object schema
 * at the top (providers take an object there: a tool's input, a response format), or not valid JSON Schema.
 */
export function outputSchemaProblem(schema: Record<string, unknown>): string | undefined {
  const bytes = utf8Length(JSON.stringify(schema));
  if (bytes > MAX_OUTPUT_SCHEMA_BYTES) {
    return `the outputSchema is ${bytes} bytes as JSON; at most ${MAX_OUTPUT_SCHEMA_BYTES} are allowed`;
  }
  if (schema.type !== 'object') {
    return 'an outputSchema must describe a JSON object at the top ("type": "object"): providers fill it as a tool\'s input or a response format';
  }
  if (schema.$schema !== undefined && schema.$schema !== 'https://json-schema.org/draft/2020-12/schema') {
    return `"$schema" must be https://json-schema.org/draft/2020-12/schema (or left out); got ${JSON.stringify(schema.$schema)}`;
  }
  const loop = schemaReferenceLoop(schema);
  if (loop !== undefined) {
    return (
      `the outputSchema's references loop without stepping into the output: ${loop} (a $ref, allOf, anyOf, ` +
      'oneOf, not, if/then/else or dependentSchemas that comes back to itself on the same value never ends; a ' +
      'recursive schema must go through properties, items or the like)'
    );
  }
  try {
    compile(schema);
    return undefined;
  } catch (error) {
    if (error instanceof RangeError) return TOO_DEEP_TO_COMPILE;
    return `the outputSchema is not a valid JSON Schema (draft 2020-12): ${(error as Error).message}`;
  }
}

/** What a schema that overflows the validator's stack while compiling is told (nesting too deep to compile). */
const TOO_DEEP_TO_COMPILE =
  'the outputSchema nests (or references itself) too deeply for the validator to compile it: flatten it';

/**
 * Every way `value` misfits `schema` (empty when it fits). The schema must have passed outputSchemaProblem.
 * Throws OutputTooLargeError for a value over MAX_OUTPUT_BYTES before validating it: validation costs CPU in
 * proportion to the answer, and an answer over the limit is refused whatever its shape, so a hostile 100 MB
 * answer was schema-checked (seconds on the worker's one thread) only to be refused for its size afterwards.
 */
export function outputMisfits(schema: Record<string, unknown>, value: unknown): string[] {
  const validate = compile(schema);
  try {
    const { bytes } = serializeOutput(value);
    if (bytes > MAX_OUTPUT_BYTES) throw new OutputTooLargeError(bytes);
    if (validate(value)) return [];
  } catch (error) {
    // An answer nested deeper than the stack (JSON.parse takes any depth; serializing and validating recurse),
    // or a schema stored before its reference loop was refused at submit: a misfit in words, not V8's "Maximum
    // call stack size exceeded".
    if (error instanceof RangeError) return [NESTED_TOO_DEEP_TO_VALIDATE];
    throw error;
  }
  return (validate.errors ?? []).map(describe);
}

const NESTED_TOO_DEEP_TO_VALIDATE =
  "the output could not be validated: it (or the outputSchema's references) nests deeper than the validator can follow";

/** An answer that does not fit the task's outputSchema. Retryable: another attempt (another agent) may fit. */
export class OutputSchemaError extends Error {
  constructor(readonly misfits: readonly string[]) {
    const quoted = misfits.slice(0, MAX_QUOTED_SCHEMA_ERRORS);
    const more = misfits.length - quoted.length;
    super(
      `the output does not fit the task's outputSchema: ${quoted.join('; ')}${more > 0 ? `; and ${more} more` : ''}`,
    );
    this.name = 'OutputSchemaError';
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Why `path` cannot address a field of outputs fitting `schema` (a placeholder `{{deps.x.output.<path>}}`),
 * or undefined when it can or the schema cannot tell (combinators, references, objects without declared
 * properties or explicitly open to more: resolved at run time, where a missing field becomes a marker). A
 * field an object does not declare is refused when the object declares properties, unless it says
 * `additionalProperties` (a schema) or has `patternProperties`: a typo is far likelier than a field the
 * schema leaves unnamed. So is an index into something that is not an array.
 */
export function schemaFieldProblem(schema: Record<string, unknown>, path: FieldPath): string | undefined {
  let node: unknown = schema;
  for (let i = 0; i < path.length; i++) {
    const step = path[i] as string | number;
    if (!isRecord(node)) return undefined;
    const schemaNode = node;
    if (['$ref', 'anyOf', 'oneOf', 'allOf', 'if', 'not'].some((k) => k in schemaNode)) return undefined;
    const here = formatFieldPath(path.slice(0, i)) || 'the output';
    if (typeof step === 'number') {
      if (node.type !== undefined && node.type !== 'array')
        return `${here} is not an array in the outputSchema`;
      node = node.items;
      continue;
    }
    if (node.type !== undefined && node.type !== 'object')
      return `${here} is not an object in the outputSchema`;
    const properties = isRecord(node.properties) ? node.properties : undefined;
    if (properties && Object.hasOwn(properties, step)) {
      node = properties[step];
      continue;
    }
    const open =
      node.additionalProperties !== false && (node.additionalProperties !== undefined || !properties);
    if (open || node.patternProperties !== undefined) return undefined;
    const known = properties ? Object.keys(properties).join(', ') : 'none';
    return `the outputSchema declares no field "${step}" in ${here} (its fields: ${known})`;
  }
  return undefined;
}

/**
 * Whether OpenAI's strict structured outputs can take `schema` as it is: every object closes its properties
 * (additionalProperties false) and requires all of them. Otherwise the schema is sent non-strict and the
 * answer is validated here all the same.
 */
export function strictCompatible(schema: unknown): boolean {
  if (Array.isArray(schema)) return schema.every(strictCompatible);
  if (!isRecord(schema)) return true;
  if (schema.type === 'object' || isRecord(schema.properties)) {
    const properties = isRecord(schema.properties) ? Object.keys(schema.properties) : [];
    const required = Array.isArray(schema.required) ? schema.required : [];
    if (schema.additionalProperties !== false) return false;
    if (!properties.every((p) => required.includes(p))) return false;
  }
  return Object.values(schema).every(strictCompatible);
}

// ------------------------------------------------------------------------------ reference cycles

/** Keywords whose value is one subschema applied to a part of the value (an item, a property, a key). */
const CONSUMING_ONE = [
  'items',
  'additionalProperties',
  'contains',
  'propertyNames',
  'unevaluatedItems',
  'unevaluatedProperties',
  'contentSchema',
] as const;
/** Keywords whose value is a list of subschemas applied to parts of the value. */
const CONSUMING_LIST = ['prefixItems'] as const;
/** Keywords whose value maps names to subschemas applied to parts of the value (or not applied: `$defs`). */
const CONSUMING_MAP = ['properties', 'patternProperties', '$defs', 'definitions'] as const;
/** Keywords whose subschemas apply to the same value: a loop through only these never ends. */
const SAME_VALUE_ONE = ['not', 'if', 'then', 'else'] as const;
const SAME_VALUE_LIST = ['allOf', 'anyOf', 'oneOf'] as const;
const SAME_VALUE_MAP = ['dependentSchemas'] as const;

/** A stand-in base for a schema without an `$id` of its own (relative references resolve against it). */
const DEFAULT_BASE = 'https://output-schema.invalid/root.json';

/** A JSON pointer's escaping of one step (RFC 6901). */
const pointerStep = (step: string | number) => String(step).replaceAll('~', '~0').replaceAll('/', '~1');

interface SchemaNode {
  readonly node: Record<string, unknown>;
  /** Its JSON pointer in the outputSchema (`#/properties/a`). */
  readonly pointer: string;
  /** The base URI its own references resolve against. */
  readonly base: string;
}

function resolveUri(ref: string, base: string): string | undefined {
  try {
    return new URL(ref, base).href;
  } catch {
    return undefined;
  }
}

/** The value at a JSON pointer fragment (`/a/b~1c`, percent-encoded as in a URI) under `root`. */
function atPointer(root: unknown, fragment: string): unknown {
  let node = root;
  for (const raw of fragment.split('/').slice(1)) {
    let step: string;
    try {
      step = decodeURIComponent(raw).replaceAll('~1', '/').replaceAll('~0', '~');
    } catch {
      return undefined;
    }
    if (Array.isArray(node)) node = node[Number(step)];
    else if (isRecord(node) && Object.hasOwn(node, step)) node = node[step];
    else return undefined;
  }
  return node;
}

/**
 * A loop of references (and same-value applicators: allOf, anyOf, oneOf, not, if/then/else,
 * dependentSchemas) that comes back to a subschema without stepping into a part of the value, as JSON
 * pointers (`#/$defs/a -> #/$defs/b -> #/$defs/a`), or undefined when there is none. Such a loop never ends
 * on any value that reaches it: Ajv overflowed the stack compiling it, or later validating an answer, and the
 * user read "Maximum call stack size exceeded". A loop through `properties`, `items` and the like is a
 * recursive schema and ends with the value. Walked without recursion (a schema may nest deeply).
 */
export function schemaReferenceLoop(schema: Record<string, unknown>): string | undefined {
  const nodes = new Map<Record<string, unknown>, SchemaNode>();
  /** Resource URI (no fragment) -> its root, and `uri#anchor` -> the anchored subschema. */
  const resources = new Map<string, Record<string, unknown>>();
  const anchors = new Map<string, Record<string, unknown>>();
  const stack: { value: unknown; pointer: string; base: string }[] = [
    { value: schema, pointer: '#', base: DEFAULT_BASE },
  ];
  const rootResource = DEFAULT_BASE;
  resources.set(rootResource, schema);
  while (stack.length > 0) {
    const { value, pointer, base: parentBase } = stack.pop() as (typeof stack)[number];
    if (!isRecord(value) || nodes.has(value)) continue;
    const id = typeof value.$id === 'string' ? resolveUri(value.$id, parentBase) : undefined;
    const base = id?.split('#')[0] ?? parentBase;
    if (id) resources.set(base, value);
    for (const key of ['$anchor', '$dynamicAnchor'])
      if (typeof value[key] === 'string') anchors.set(`${base}#${value[key]}`, value);
    nodes.set(value, { node: value, pointer, base });
    const push = (child: unknown, ...steps: (string | number)[]) => {
      stack.push({ value: child, pointer: `${pointer}/${steps.map(pointerStep).join('/')}`, base });
    };
    for (const key of [...CONSUMING_ONE, ...SAME_VALUE_ONE]) if (key in value) push(value[key], key);
    for (const key of [...CONSUMING_LIST, ...SAME_VALUE_LIST]) {
      const list = value[key];
      if (Array.isArray(list)) for (let i = 0; i < list.length; i++) push(list[i], key, i);
    }
    for (const key of [...CONSUMING_MAP, ...SAME_VALUE_MAP]) {
      const map = value[key];
      if (isRecord(map)) for (const [name, child] of Object.entries(map)) push(child, key, name);
    }
  }
  const target = (from: SchemaNode, ref: unknown): Record<string, unknown> | undefined => {
    if (typeof ref !== 'string') return undefined;
    const uri = resolveUri(ref, from.base);
    if (!uri) return undefined;
    const hash = uri.indexOf('#');
    const resource = hash === -1 ? uri : uri.slice(0, hash);
    const fragment = hash === -1 ? '' : uri.slice(hash + 1);
    const root = resources.get(resource);
    if (!root) return undefined;
    const found = fragment.startsWith('/') || fragment === '' ? atPointer(root, fragment) : anchors.get(uri);
    return isRecord(found) ? found : undefined;
  };
  /** The subschemas applied to the same value as `from`. */
  const sameValue = (from: SchemaNode): Record<string, unknown>[] => {
    const node = from.node;
    const out: unknown[] = [target(from, node.$ref), target(from, node.$dynamicRef)];
    for (const key of SAME_VALUE_ONE) out.push(node[key]);
    for (const key of SAME_VALUE_LIST) if (Array.isArray(node[key])) out.push(...(node[key] as unknown[]));
    for (const key of SAME_VALUE_MAP) if (isRecord(node[key])) out.push(...Object.values(node[key]));
    return out.filter((child): child is Record<string, unknown> => isRecord(child) && nodes.has(child));
  };
  // Depth-first search for a back edge, iteratively: `path` is the chain of subschemas being explored.
  const done = new Set<Record<string, unknown>>();
  for (const start of nodes.values()) {
    if (done.has(start.node)) continue;
    const path: { node: SchemaNode; next: Record<string, unknown>[] }[] = [
      { node: start, next: sameValue(start) },
    ];
    const onPath = new Set([start.node]);
    while (path.length > 0) {
      const top = path[path.length - 1] as (typeof path)[number];
      const child = top.next.pop();
      if (child === undefined) {
        path.pop();
        onPath.delete(top.node.node);
        done.add(top.node.node);
        continue;
      }
      if (done.has(child)) continue;
      const childNode = nodes.get(child) as SchemaNode;
      if (onPath.has(child)) {
        const from = path.findIndex((p) => p.node.node === child);
        return [...path.slice(from).map((p) => p.node.pointer), childNode.pointer].join(' -> ');
      }
      onPath.add(child);
      path.push({ node: childNode, next: sameValue(childNode) });
    }
  }
  return undefined;
}
