/**
 * dynalite's expression parses kept by shape (shared/local/runtime/dynalite-parse-cache.mjs): every request is
 * validated twice, through dynalite's own validateExpressions, once with its parsers as they are and once with
 * the cached ones, and the two must agree on the error and on every parsed tree (updates, condition, key
 * condition, filter, projection).
 */
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  cachedParse,
  type DynaliteParse,
  PARSE_CACHE_ENTRIES,
  type ParseCacheStats,
} from '../../../shared/local/runtime/dynalite-parse-cache.mjs';

const require = createRequire(import.meta.url);
type Request = Record<string, unknown>;
const validations = require('dynalite/validations/index.js') as {
  validateExpressions(data: Request): string | undefined;
};
const parserModules = ['conditionParser', 'updateParser', 'projectionParser'].map(
  (name) => require(`dynalite/db/${name}.js`) as { parse: DynaliteParse },
);
const originals = parserModules.map((parser) => parser.parse);

afterEach(() => {
  parserModules.forEach((parser, i) => {
    parser.parse = originals[i] as DynaliteParse;
  });
});

/** One set of cached parsers, kept across the requests given to it. */
function cachedParsers(): { parses: DynaliteParse[]; stats: ParseCacheStats } {
  const stats = { hits: 0, misses: 0 };
  return { parses: originals.map((parse) => cachedParse(parse, stats)), stats };
}

const TREES = ['_updates', '_condition', '_keyCondition', '_filter', '_projection'] as const;

interface Outcome {
  error: string | undefined;
  trees: Partial<Record<(typeof TREES)[number], unknown>>;
  data: Request;
}

/** validateExpressions on a copy of `request`, with the given parse functions in dynalite's parser modules. */
function validate(request: Request, parses: readonly DynaliteParse[] = originals): Outcome {
  const data = structuredClone(request);
  parserModules.forEach((parser, i) => {
    parser.parse = parses[i] as DynaliteParse;
  });
  try {
    const error = validations.validateExpressions(data);
    const trees = Object.fromEntries(TREES.filter((t) => data[t] !== undefined).map((t) => [t, data[t]]));
    return { error, trees, data };
  } finally {
    parserModules.forEach((parser, i) => {
      parser.parse = originals[i] as DynaliteParse;
    });
  }
}

/** Validates with the cached parsers and checks the outcome against dynalite's own. */
function agree(request: Request, parses: readonly DynaliteParse[]): Outcome {
  const cached = validate(request, parses);
  const own = validate(request);
  expect(cached.error).toBe(own.error);
  expect(cached.trees).toEqual(own.trees);
  return cached;
}

// The agent release the orchestrator sends after each task (adapters/dynamodb/agent-registry.ts), whose lease
// name changes with every task.
function release(lease: string, at: number): Request {
  return {
    UpdateExpression:
      'SET lastActiveAt = :at, consecutiveFailures = :zero, #circuit = :closed ADD attempts :one, #reserved :minus REMOVE circuitOpenUntil, leases.#lease',
    ConditionExpression:
      'attribute_exists(agentId) AND attribute_exists(leases.#lease) AND #reserved > :zero',
    ExpressionAttributeNames: { '#circuit': 'circuit', '#reserved': 'reserved', '#lease': lease },
    ExpressionAttributeValues: {
      ':at': { N: String(at) },
      ':zero': { N: '0' },
      ':closed': { S: 'CLOSED' },
      ':one': { N: '1' },
      ':minus': { N: '-1' },
    },
  };
}

/** Whether `object` itself (not a copy) is reachable in `tree`. */
function holds(tree: unknown, object: unknown): boolean {
  if (tree === object) return true;
  if (tree === null || typeof tree !== 'object') return false;
  return Object.values(tree).some((child) => holds(child, object));
}

describe('dynalite expression parses kept by shape', () => {
  it('parses a request of a known shape once, and gives the next its own names and values', () => {
    const { parses, stats } = cachedParsers();
    agree(release('batch-1#t1#1', 1000), parses);
    expect(stats).toEqual({ hits: 0, misses: 2 });
    const second = release('batch-1#t2#1', 2000);
    const outcome = agree(second, parses);
    expect(stats).toEqual({ hits: 2, misses: 2 });
    // The trees hold this request's lease name and its own value objects, as dynalite's parse would.
    expect(JSON.stringify(outcome.trees)).toContain('batch-1#t2#1');
    expect(JSON.stringify(outcome.trees)).not.toContain('batch-1#t1#1');
    const values = (outcome.data.ExpressionAttributeValues ?? {}) as Record<string, unknown>;
    expect(holds(outcome.trees._condition, values[':zero'])).toBe(true);
    expect(holds(outcome.trees._updates, values[':at'])).toBe(true);
  });

  it('parses again when names that differed become one (paths then overlap)', () => {
    const { parses, stats } = cachedParsers();
    const update = (a: string, b: string) => ({
      UpdateExpression: 'SET #a = :x, #b = :y',
      ExpressionAttributeNames: { '#a': a, '#b': b },
      ExpressionAttributeValues: { ':x': { S: 'x' }, ':y': { S: 'y' } },
    });
    expect(agree(update('p', 'q'), parses).error).toBeUndefined();
    expect(agree(update('r', 'r'), parses).error).toMatch(/Two document paths overlap/);
    expect(agree(update('s', 't'), parses).error).toBeUndefined();
    expect(stats.hits).toBe(1);
  });

  it('parses again when a name equals a word of the expression (reserved or overlapping)', () => {
    const { parses } = cachedParsers();
    const update = (name: string) => ({
      UpdateExpression: 'SET #a = :x, qty = :y',
      ExpressionAttributeNames: { '#a': name },
      ExpressionAttributeValues: { ':x': { S: 'x' }, ':y': { S: 'y' } },
    });
    expect(agree(update('mine'), parses).error).toBeUndefined();
    expect(agree(update('qty'), parses).error).toMatch(/Two document paths overlap/);
    expect(agree(update('mine'), parses).error).toBeUndefined();
  });

  it('parses again when a value of another type comes', () => {
    const { parses, stats } = cachedParsers();
    const add = (value: Record<string, unknown>) => ({
      UpdateExpression: 'SET #n = #n + :v',
      ExpressionAttributeNames: { '#n': 'count' },
      ExpressionAttributeValues: { ':v': value },
    });
    expect(agree(add({ N: '1' }), parses).error).toBeUndefined();
    expect(agree(add({ S: '1' }), parses).error).toMatch(/Incorrect operand type/);
    expect(agree(add({ N: '2' }), parses).error).toBeUndefined();
    expect(stats.hits).toBe(1);
  });

  it('keeps nothing of BETWEEN and attribute_type, whose checks read the values', () => {
    const { parses, stats } = cachedParsers();
    const between = (lo: string, hi: string) => ({
      ConditionExpression: '#n BETWEEN :lo AND :hi',
      ExpressionAttributeNames: { '#n': 'n' },
      ExpressionAttributeValues: { ':lo': { N: lo }, ':hi': { N: hi } },
    });
    expect(agree(between('1', '2'), parses).error).toBeUndefined();
    expect(agree(between('3', '2'), parses).error).toMatch(/upper bound to be greater/);
    const typed = (type: string) => ({
      ConditionExpression: 'attribute_type(#n, :t)',
      ExpressionAttributeNames: { '#n': 'n' },
      ExpressionAttributeValues: { ':t': { S: type } },
    });
    expect(agree(typed('S'), parses).error).toBeUndefined();
    expect(agree(typed('STRING'), parses).error).toMatch(/Invalid attribute type name/);
    expect(stats).toEqual({ hits: 0, misses: 0 });
  });

  it('still reports a name or value left unused, and one not defined, on a kept shape', () => {
    const { parses, stats } = cachedParsers();
    const condition = (extra: Record<string, unknown>, values: Record<string, unknown>) => ({
      ConditionExpression: '#s = :s',
      ExpressionAttributeNames: { '#s': 'status', ...extra },
      ExpressionAttributeValues: values,
    });
    expect(agree(condition({}, { ':s': { S: 'A' } }), parses).error).toBeUndefined();
    // Answered from the cache: the name and value it uses are marked used (else they would be reported unused).
    expect(agree(condition({}, { ':s': { S: 'Z' } }), parses).error).toBeUndefined();
    expect(stats.hits).toBe(1);
    expect(agree(condition({}, { ':s': { S: 'B' }, ':u': { S: 'C' } }), parses).error).toMatch(
      /ExpressionAttributeValues unused/,
    );
    expect(agree(condition({ '#u': 'unused' }, { ':s': { S: 'B' } }), parses).error).toMatch(
      /ExpressionAttributeNames unused/,
    );
    expect(agree(condition({}, { ':t': { S: 'B' } }), parses).error).toMatch(/not defined/);
  });

  it('marks a name used by a kept shape even when an earlier expression of its first request used it first', () => {
    const { parses, stats } = cachedParsers();
    const names = { ExpressionAttributeNames: { '#n1': 'a' } };
    // The filter is parsed before the projection and uses #n1 first: the projection's own parse finds it used
    // already. A random request sequence found the cache then kept the projection as using no name.
    expect(
      agree(
        {
          FilterExpression: '#n1 = :v1',
          ProjectionExpression: '#n1',
          ...names,
          ExpressionAttributeValues: { ':v1': { S: 'x' } },
        },
        parses,
      ).error,
    ).toBeUndefined();
    // The projection alone, of the same shape: answered from the cache, #n1 is used (only :v1 is unused).
    expect(
      agree(
        { ProjectionExpression: '#n1', ...names, ExpressionAttributeValues: { ':v1': { S: 'y' } } },
        parses,
      ).error,
    ).toBe('Value provided in ExpressionAttributeValues unused in expressions: keys: {:v1}');
    expect(stats.hits).toBe(1);
  });

  it(`keeps the last ${PARSE_CACHE_ENTRIES} shapes of each parser`, () => {
    const { parses, stats } = cachedParsers();
    const projection = (i: number) => ({ ProjectionExpression: `a${i}, b` });
    for (let i = 0; i <= PARSE_CACHE_ENTRIES; i++) validate(projection(i), parses);
    expect(stats).toEqual({ hits: 0, misses: PARSE_CACHE_ENTRIES + 1 });
    validate(projection(PARSE_CACHE_ENTRIES), parses);
    expect(stats.hits).toBe(1);
    validate(projection(0), parses);
    expect(stats.misses).toBe(PARSE_CACHE_ENTRIES + 2);
  });
});

// Random requests: expressions over a few placeholders and words, each validated with several sets of names
// and values (same shape, other content; equal names; other types; names or values missing or left over).
const WORDS = ['a', 'qty', 'price', 'status', 'pk', 'note'];
const NAME_POOL = ['a', 'qty', 'status', 'lease#1', 'lease#2', 'x.y', 'AND', 'size', 'n'];
const placeholder = fc.constantFrom('#n0', '#n1', '#n2');
const valueName = fc.constantFrom(':v0', ':v1', ':v2');
const pathExpr = fc
  .tuple(
    fc.oneof(fc.constantFrom(...WORDS), placeholder),
    fc.array(
      fc.oneof(
        fc.constantFrom(...WORDS).map((w) => `.${w}`),
        placeholder.map((p) => `.${p}`),
        fc.nat(3).map((i) => `[${i}]`),
      ),
      {
        maxLength: 2,
      },
    ),
  )
  .map(([head, tail]) => head + tail.join(''));
const operand = fc.oneof(
  pathExpr,
  valueName,
  pathExpr.map((p) => `size(${p})`),
);
const comparison = fc
  .tuple(operand, fc.constantFrom('=', '<>', '<', '<=', '>', '>='), operand)
  .map(([x, c, y]) => `${x} ${c} ${y}`);
const func = fc.oneof(
  pathExpr.map((p) => `attribute_exists(${p})`),
  pathExpr.map((p) => `attribute_not_exists(${p})`),
  fc.tuple(pathExpr, valueName).map(([p, v]) => `begins_with(${p}, ${v})`),
  fc.tuple(pathExpr, operand).map(([p, v]) => `contains(${p}, ${v})`),
  fc.tuple(pathExpr, valueName).map(([p, v]) => `attribute_type(${p}, ${v})`),
  fc.tuple(operand, valueName, valueName).map(([p, lo, hi]) => `${p} BETWEEN ${lo} AND ${hi}`),
  fc
    .tuple(operand, fc.array(valueName, { minLength: 1, maxLength: 3 }))
    .map(([p, vs]) => `${p} IN (${vs.join(', ')})`),
);
const { condition } = fc.letrec((tie) => ({
  condition: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    comparison,
    func,
    fc
      .tuple(tie('condition'), fc.constantFrom('AND', 'OR'), tie('condition'))
      .map(([x, op, y]) => `${x} ${op} ${y}`),
    tie('condition').map((c) => `NOT (${c})`),
  ),
}));
const setValue = fc.oneof(
  valueName,
  pathExpr,
  fc.tuple(pathExpr, fc.constantFrom('+', '-'), valueName).map(([p, op, v]) => `${p} ${op} ${v}`),
  fc.tuple(pathExpr, valueName).map(([p, v]) => `if_not_exists(${p}, ${v})`),
  fc.tuple(pathExpr, valueName).map(([p, v]) => `list_append(${p}, ${v})`),
);
const update = fc
  .record({
    set: fc.array(
      fc.tuple(pathExpr, setValue).map(([p, v]) => `${p} = ${v}`),
      { maxLength: 2 },
    ),
    remove: fc.array(pathExpr, { maxLength: 2 }),
    add: fc.array(
      fc.tuple(pathExpr, valueName).map(([p, v]) => `${p} ${v}`),
      { maxLength: 1 },
    ),
    del: fc.array(
      fc.tuple(pathExpr, valueName).map(([p, v]) => `${p} ${v}`),
      { maxLength: 1 },
    ),
  })
  .map(({ set, remove, add, del }) =>
    [
      set.length ? `SET ${set.join(', ')}` : '',
      remove.length ? `REMOVE ${remove.join(', ')}` : '',
      add.length ? `ADD ${add.join(', ')}` : '',
      del.length ? `DELETE ${del.join(', ')}` : '',
    ]
      .filter(Boolean)
      .join(' '),
  )
  .filter((text) => text !== '');
const projection = fc.array(pathExpr, { minLength: 1, maxLength: 3 }).map((paths) => paths.join(', '));
const expressions = fc.oneof(
  fc.record({ UpdateExpression: update, ConditionExpression: fc.option(condition, { nil: undefined }) }),
  fc.record({ ConditionExpression: condition }),
  fc.record({
    KeyConditionExpression: condition,
    FilterExpression: fc.option(condition, { nil: undefined }),
    ProjectionExpression: fc.option(projection, { nil: undefined }),
  }),
  fc.record({ ProjectionExpression: projection }),
);
const attributeValue: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  fc.constantFrom('x', 'y', 'S', 'N', 'ab').map((S) => ({ S })),
  fc.integer({ min: -5, max: 5 }).map((n) => ({ N: String(n) })),
  fc.constant({ B: 'AQI=' }),
  fc.constant({ NULL: true }),
  fc.boolean().map((BOOL) => ({ BOOL })),
  fc.constant({ SS: ['x', 'y'] }),
  fc.constant({ NS: ['1', '2'] }),
  fc.constant({ L: [{ S: 'x' }] }),
  fc.constant({ M: { k: { N: '1' } } }),
);
/** Names and values for one request: each placeholder written in the expressions, sometimes one left out or one extra. */
const contents = (text: string) => {
  const names = [...new Set(text.match(/#n\d/g) ?? [])];
  const values = [...new Set(text.match(/:v\d/g) ?? [])];
  return fc
    .record({
      names: fc.tuple(...names.map(() => fc.constantFrom(...NAME_POOL))),
      values: fc.tuple(...values.map(() => attributeValue)),
      drop: fc.nat(20),
      extra: fc.nat(9).map((n) => n === 0),
    })
    .map(({ names: n, values: v, drop, extra }) => {
      const ExpressionAttributeNames: Record<string, string> = Object.fromEntries(
        names.map((p, i) => [p, n[i] as string]),
      );
      const ExpressionAttributeValues: Record<string, unknown> = Object.fromEntries(
        values.map((p, i) => [p, v[i]]),
      );
      if (drop === 0 && names.length > 0) delete ExpressionAttributeNames[names[0] as string];
      if (drop === 1 && values.length > 0) delete ExpressionAttributeValues[values[0] as string];
      if (extra) ExpressionAttributeValues[':extra'] = { S: 'e' };
      return {
        ...(Object.keys(ExpressionAttributeNames).length > 0 ? { ExpressionAttributeNames } : {}),
        ...(Object.keys(ExpressionAttributeValues).length > 0 ? { ExpressionAttributeValues } : {}),
      };
    });
};
const requests = expressions.chain((exprs) => {
  const defined = Object.fromEntries(Object.entries(exprs).filter(([, v]) => v !== undefined)) as Record<
    string,
    string
  >;
  const text = Object.values(defined).join(' ');
  return fc
    .array(contents(text), { minLength: 2, maxLength: 4 })
    .map((variants) => variants.map((content) => ({ ...defined, ...content })));
});

describe('dynalite expression parses kept by shape: random requests', () => {
  it("agree with dynalite's own parses, request after request through one cache", () => {
    const { parses, stats } = cachedParsers();
    fc.assert(
      fc.property(requests, (variants) => {
        for (const request of variants) agree(request, parses);
      }),
      { numRuns: 400 },
    );
    // Shapes came back with other content, and were answered from the cache.
    expect(stats.hits).toBeGreaterThan(50);
  });
});
