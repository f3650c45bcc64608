/**
 * dynalite's expression parses kept as templates (shared/local/runtime/dynalite-expressions.mjs): every
 * cached parse answers what dynalite's own parser answers for the same request (result, the context's unused
 * names and values, errors), with the request's own value objects in it, and a repeat is not parsed again.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { cacheParses, type ExpressionParser } from '../../../shared/local/runtime/dynalite-expressions.mjs';

const require = createRequire(import.meta.url);
const PARSERS = {
  update: require('dynalite/db/updateParser') as ExpressionParser,
  condition: require('dynalite/db/conditionParser') as ExpressionParser,
  projection: require('dynalite/db/projectionParser') as ExpressionParser,
};
const { compare } = require('dynalite/db') as { compare: unknown };
type ParserName = keyof typeof PARSERS;
type Values = Record<string, Record<string, unknown>>;

const RESERVED = new Set(['STATUS', 'NAME', 'SIZE', 'ROLE']);

/** The context dynalite's validateExpressions builds for a request. */
function contextOf(
  names: Record<string, string> | undefined,
  values: Values | undefined,
  keyCondition = false,
) {
  return {
    attrNames: names,
    attrVals: values,
    unusedAttrNames: Object.fromEntries(Object.keys(names ?? {}).map((k) => [k, true])),
    unusedAttrVals: Object.fromEntries(Object.keys(values ?? {}).map((k) => [k, true])),
    isReserved: (name: string) => RESERVED.has(name.toUpperCase()),
    compare,
    ...(keyCondition ? { isKeyCondition: true } : {}),
  };
}

/** A cached copy of one of dynalite's parsers (its module left as it is), counting the real parses. */
function cachedParser(name: ParserName) {
  const original = PARSERS[name];
  const counted = {
    calls: 0,
    parse(expression: string, options: { context: Record<string, unknown> }) {
      counted.calls += 1;
      return original.parse(expression, options);
    },
  };
  return cacheParses(counted);
}

/** What a parser answers: its result or the error it throws, and what is left unused. */
function outcome(parser: ExpressionParser, expression: string, context: ReturnType<typeof contextOf>) {
  let result: unknown;
  try {
    result = parser.parse(expression, { context });
  } catch (error) {
    result = { thrown: String(error) };
  }
  return { result, unusedAttrNames: context.unusedAttrNames, unusedAttrVals: context.unusedAttrVals };
}

interface Case {
  name: string;
  parser: ParserName;
  expression: string;
  names?: Record<string, string>;
  /** Requests in turn, each with its own values. */
  requests: (Values | undefined)[];
  keyCondition?: boolean;
}

const CASES: Case[] = [
  {
    name: 'a Complete status write (SET, nested path, REMOVE, ADD)',
    parser: 'update',
    expression: 'SET #status = :s, finishedAt = :at, attempts[0].#status = :s REMOVE gateToken ADD #n :one',
    names: { '#status': 'status', '#n': 'count' },
    requests: [
      { ':s': { S: 'SUCCEEDED' }, ':at': { N: '1' }, ':one': { N: '1' } },
      { ':s': { S: 'FAILED' }, ':at': { N: '2' }, ':one': { N: '-1' } },
      { ':s': { S: 'SKIPPED' }, ':at': { N: '3' }, ':one': { N: '7' } },
    ],
  },
  {
    name: 'functions of values (list_append, if_not_exists, +)',
    parser: 'update',
    expression: 'SET #l = list_append(if_not_exists(#l, :empty), :items), total = total + :n',
    names: { '#l': 'log' },
    requests: [
      { ':empty': { L: [] }, ':items': { L: [{ S: 'a' }] }, ':n': { N: '1' } },
      { ':empty': { L: [] }, ':items': { L: [{ S: 'b' }, { N: '2' }] }, ':n': { N: '4' } },
    ],
  },
  {
    name: "an operand whose type changes between requests (refused the second time, as dynalite's own parse does)",
    parser: 'update',
    expression: 'ADD #n :v',
    names: { '#n': 'count' },
    requests: [{ ':v': { N: '1' } }, { ':v': { S: 'one' } }, { ':v': { N: '2' } }],
  },
  {
    name: 'a condition with functions, IN and comparisons',
    parser: 'condition',
    expression: 'attribute_exists(pk) AND #status IN (:a, :b) AND begins_with(#sk, :p) AND size(#l) < :max',
    names: { '#status': 'status', '#sk': 'sk', '#l': 'log' },
    requests: [
      { ':a': { S: 'RUNNING' }, ':b': { S: 'WAITING' }, ':p': { S: 'task#' }, ':max': { N: '10' } },
      { ':a': { S: 'PENDING' }, ':b': { S: 'READY' }, ':p': { S: 'agent#' }, ':max': { N: '3' } },
    ],
  },
  {
    name: 'BETWEEN, whose bounds the parse compares (never cached)',
    parser: 'condition',
    expression: '#n BETWEEN :lo AND :hi',
    names: { '#n': 'count' },
    requests: [
      { ':lo': { N: '1' }, ':hi': { N: '2' } },
      { ':lo': { N: '3' }, ':hi': { N: '2' } },
    ],
  },
  {
    name: 'attribute_type, whose type name the parse reads (never cached)',
    parser: 'condition',
    expression: 'attribute_type(#n, :t)',
    names: { '#n': 'count' },
    requests: [{ ':t': { S: 'N' } }, { ':t': { S: 'NUMBER' } }],
  },
  {
    name: 'a key condition',
    parser: 'condition',
    expression: 'pk = :pk AND begins_with(sk, :prefix)',
    requests: [
      { ':pk': { S: 'batch#1' }, ':prefix': { S: 'task#' } },
      { ':pk': { S: 'batch#2' }, ':prefix': { S: 'attempt#' } },
    ],
    keyCondition: true,
  },
  {
    name: 'a name left unused and a value left unused',
    parser: 'condition',
    expression: '#status = :s',
    names: { '#status': 'status', '#spare': 'spare' },
    requests: [
      { ':s': { S: 'A' }, ':spare': { S: 'x' } },
      { ':s': { S: 'B' }, ':spare': { S: 'y' } },
    ],
  },
  {
    name: 'a reserved word used directly (refused)',
    parser: 'condition',
    expression: 'status = :s',
    requests: [{ ':s': { S: 'A' } }, { ':s': { S: 'B' } }],
  },
  {
    name: 'a syntax error (thrown)',
    parser: 'update',
    expression: 'SET = :x',
    requests: [{ ':x': { S: 'a' } }, { ':x': { S: 'b' } }],
  },
  {
    name: 'a projection',
    parser: 'projection',
    expression: '#a0, #a1, attempts[0].#a2',
    names: { '#a0': 'status', '#a1': 'role', '#a2': 'startedAt' },
    requests: [undefined, undefined],
  },
];

describe('dynalite expression parses kept as templates', () => {
  it.each(CASES)('answers what dynalite answers, request after request: $name', (c) => {
    const cached = cachedParser(c.parser);
    for (const values of c.requests) {
      const expected = outcome(PARSERS[c.parser], c.expression, contextOf(c.names, values, c.keyCondition));
      const actual = outcome(cached, c.expression, contextOf(c.names, values, c.keyCondition));
      expect(actual).toEqual(expected);
    }
  });

  it('parses a repeat with new values of the same types once, and puts the request’s own values in', () => {
    const cached = cachedParser('update');
    const expression = 'SET #status = :s, finishedAt = :at';
    const names = { '#status': 'status' };
    const first = { ':s': { S: 'RUNNING' }, ':at': { N: '1' } };
    const second = { ':s': { S: 'SUCCEEDED' }, ':at': { N: '2' } };
    cached.parse(expression, { context: contextOf(names, first) });
    const result = cached.parse(expression, { context: contextOf(names, second) }) as {
      sections: { val: unknown }[];
    };
    expect(cached.calls).toBe(1);
    expect(result.sections[0]?.val).toBe(second[':s']);
    expect(result.sections[1]?.val).toBe(second[':at']);
    // Another type is another parse.
    cached.parse(expression, { context: contextOf(names, { ':s': { N: '1' }, ':at': { N: '3' } }) });
    expect(cached.calls).toBe(2);
  });

  it('hands out a result of its own each time: what dynalite does to one does not reach the next', () => {
    const cached = cachedParser('update');
    const expression = 'SET attempts[0].#status = :s';
    const names = { '#status': 'status' };
    const first = cached.parse(expression, { context: contextOf(names, { ':s': { S: 'A' } }) }) as {
      sections: { path: unknown[] }[];
    };
    first.sections[0]?.path.push('changed');
    const second = cached.parse(expression, { context: contextOf(names, { ':s': { S: 'B' } }) });
    const third = cached.parse(expression, { context: contextOf(names, { ':s': { S: 'C' } }) }) as {
      sections: { path: unknown[] }[];
    };
    third.sections[0]?.path.push('again');
    expect(second).toEqual(
      PARSERS.update.parse(expression, { context: contextOf(names, { ':s': { S: 'B' } }) }),
    );
    expect(cached.calls).toBe(1);
  });

  it('keeps refusals out: a refused expression is parsed again each time', () => {
    const cached = cachedParser('condition');
    for (const s of ['A', 'B'])
      cached.parse('status = :s', { context: contextOf(undefined, { ':s': { S: s } }) });
    expect(cached.calls).toBe(2);
  });
});
