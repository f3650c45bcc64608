import { describe, expect, it } from 'vitest';
import { MAX_OUTPUT_SCHEMA_BYTES } from '../../../shared/domain/limits';
import {
  OutputSchemaError,
  outputMisfits,
  outputSchemaProblem,
  schemaFieldProblem,
  strictCompatible,
} from '../../../shared/domain/output-schema';
import { OutputTooLargeError } from '../../../shared/domain/outputs';

const PLAN = {
  type: 'object',
  properties: {
    steps: {
      type: 'array',
      items: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
    },
    owner: { type: 'string', format: 'email' },
  },
  required: ['steps'],
  additionalProperties: false,
};

describe('an outputSchema', () => {
  it('is a valid JSON Schema of an object, within its size', () => {
    expect(outputSchemaProblem(PLAN)).toBeUndefined();
    expect(outputSchemaProblem({ type: 'array' })).toContain('must describe a JSON object at the top');
    expect(outputSchemaProblem({ type: 'object', properties: { a: { tipe: 'string' } } })).toContain(
      'unknown keyword: "tipe"',
    );
    expect(outputSchemaProblem({ type: 'object', properties: 5 })).toContain('not a valid JSON Schema');
    expect(
      outputSchemaProblem({ type: 'object', $schema: 'http://json-schema.org/draft-07/schema#' }),
    ).toContain('2020-12');
    const big = { type: 'object', description: 'x'.repeat(MAX_OUTPUT_SCHEMA_BYTES) };
    expect(outputSchemaProblem(big)).toContain(`at most ${MAX_OUTPUT_SCHEMA_BYTES} are allowed`);
  });

  it('names every way an answer misfits, with where', () => {
    expect(outputMisfits(PLAN, { steps: [{ name: 'a' }] })).toEqual([]);
    expect(outputMisfits(PLAN, { steps: [{}], owner: 'nobody', extra: 1 })).toEqual([
      'the output must NOT have additional properties ("extra")',
      "the output at /steps/0 must have required property 'name'",
      'the output at /owner must match format "email"',
    ]);
    expect(new OutputSchemaError(['a', 'b']).message).toBe(
      "the output does not fit the task's outputSchema: a; b",
    );
  });

  it('matches its patterns in time linear in the answer, and says which patterns it cannot take', () => {
    // With a backtracking engine, 28 `a`s and a `b` take seconds; every `a` more doubles it.
    const nested = { type: 'object', properties: { name: { type: 'string', pattern: '^(a+)+$' } } };
    const keys = { type: 'object', patternProperties: { '^(a|aa)+$': { type: 'number' } } };
    const hostile = `${'a'.repeat(28)}b`;
    const started = performance.now();

    expect(outputMisfits(nested, { name: hostile })).toEqual([
      'the output at /name must match pattern "^(a+)+$"',
    ]);
    expect(outputMisfits(keys, { [hostile]: 'x', aaa: 1 })).toEqual([]);
    expect(performance.now() - started).toBeLessThan(500);
    // What schemas use every day still matches as in JavaScript (the `u` flag's classes too).
    const everyday = {
      type: 'object',
      properties: {
        day: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$' },
        word: { type: 'string', pattern: '^(?<w>\\p{L}+)$' },
        path: { type: 'string', pattern: '^\\/api\\/[a-z-]+$' },
      },
    };
    expect(outputMisfits(everyday, { day: '2026-12-07', word: 'Größe', path: '/api/log-in' })).toEqual([]);
    expect(outputMisfits(everyday, { day: '2026-1-07', word: 'a b', path: 'api' })).toHaveLength(3);
    expect(
      outputSchemaProblem({ type: 'object', properties: { a: { type: 'string', pattern: '^(?!x)' } } }),
    ).toContain('the pattern "^(?!x)" cannot be matched in linear time');
  });

  it('checks uniqueItems in time linear in the array, with JSON equality', () => {
    // Compared pair by pair, 16,000 distinct objects take tens of seconds.
    const schema = { type: 'object', properties: { xs: { type: 'array', uniqueItems: true } } };
    const distinct = Array.from({ length: 16_000 }, (_, i) => ({ i, tags: [i % 7] }));
    const started = performance.now();

    expect(outputMisfits(schema, { xs: distinct })).toEqual([]);
    expect(performance.now() - started).toBeLessThan(1_000);
    // Equal as JSON values whatever the order of their keys; 1 and 1.0 are one number.
    expect(outputMisfits(schema, { xs: [{ a: 1, b: [2] }, 'x', { b: [2], a: 1.0 }] })).toEqual([
      'the output at /xs must NOT have duplicate items (items ## 0 and 2 are identical)',
    ]);
    expect(outputMisfits(schema, { xs: [{ a: 1 }, { a: '1' }, [1], ['1'], null, 0, false] })).toEqual([]);
    expect(
      outputMisfits(
        { type: 'object', properties: { xs: { type: 'array', uniqueItems: false } } },
        { xs: [1, 1] },
      ),
    ).toEqual([]);
  });

  it('stands alone: another schema with the same $id is its own, and no schema reaches another by its $id', () => {
    const id = 'https://example.test/answer';
    const words = { $id: id, type: 'object', properties: { n: { type: 'string' }, next: { $ref: id } } };
    const numbers = {
      $id: id,
      type: 'object',
      properties: { n: { type: 'number' } },
      $defs: { part: { $id: `${id}/part`, type: 'string' } },
    };
    const borrower = { type: 'object', properties: { other: { $ref: id } } };
    const partBorrower = { type: 'object', properties: { other: { $ref: `${id}/part` } } };
    const part = { $id: `${id}/part`, type: 'object' };

    expect(outputSchemaProblem(words)).toBeUndefined();
    expect(outputSchemaProblem(numbers)).toBeUndefined();
    expect(outputSchemaProblem(borrower)).toContain(`can't resolve reference ${id}`);
    expect(outputSchemaProblem(partBorrower)).toContain(`can't resolve reference ${id}/part`);
    expect(outputSchemaProblem(part)).toBeUndefined();
    expect(outputMisfits(words, { n: 'one', next: { n: 'two' } })).toEqual([]);
    expect(outputMisfits(words, { n: 'one', next: { n: 2 } })).toEqual([
      'the output at /next/n must be string',
    ]);
    expect(outputMisfits(numbers, { n: 1 })).toEqual([]);
  });

  it('refuses references that loop on the same value, naming the loop, and keeps recursion that steps in', () => {
    const viaDefs = {
      type: 'object',
      $defs: { a: { $ref: '#/$defs/b' }, b: { anyOf: [{ type: 'string' }, { $ref: '#/$defs/a' }] } },
      properties: { x: { $ref: '#/$defs/a' } },
    };
    const viaRoot = { type: 'object', allOf: [{ $ref: '#' }] };
    const viaAnchor = {
      type: 'object',
      // (Parsed: an object literal with a `then` is taken for a promise by linters.)
      properties: { x: JSON.parse('{"$anchor":"node","if":{"type":"string"},"then":{"$ref":"#node"}}') },
    };
    const viaId = {
      $id: 'https://example.test/tree',
      type: 'object',
      $defs: { leaf: { $id: 'leaf', not: { $ref: 'tree' } } },
      allOf: [{ $ref: 'leaf' }],
    };
    // The same references under a property step into the value: a recursive schema, not a loop.
    const steppingIn = { ...viaId, allOf: undefined, properties: { x: { $ref: 'leaf' } } };
    const recursive = {
      type: 'object',
      $defs: {
        node: {
          type: 'object',
          properties: { children: { type: 'array', items: { $ref: '#/$defs/node' } } },
        },
      },
      properties: { root: { $ref: '#/$defs/node' }, self: { $ref: '#' } },
    };
    const loopOf = (schema: Record<string, unknown>) =>
      /references loop without stepping into the output: (.*) \(/.exec(
        outputSchemaProblem(schema) ?? '',
      )?.[1];

    expect(loopOf(viaDefs)).toBe('#/$defs/b -> #/$defs/b/anyOf/1 -> #/$defs/a -> #/$defs/b');
    expect(loopOf(viaRoot)).toBe('# -> #/allOf/0 -> #');
    expect(loopOf(viaAnchor)).toBe('#/properties/x -> #/properties/x/then -> #/properties/x');
    expect(loopOf(viaId)).toBe('# -> #/allOf/0 -> #/$defs/leaf -> #/$defs/leaf/not -> #');
    expect(outputSchemaProblem(JSON.parse(JSON.stringify(steppingIn)))).toBeUndefined();
    expect(outputSchemaProblem(recursive)).toBeUndefined();
    expect(outputMisfits(recursive, { root: { children: [{ children: [] }] }, self: {} })).toEqual([]);
  });

  it('tells a value the validator cannot follow to its end as a misfit, not as a stack overflow', () => {
    // A schema stored before its loop was refused at submit, and an answer nested far deeper than any schema.
    const looping = { type: 'object', allOf: [{ $ref: '#' }] };
    const lists = {
      type: 'object',
      properties: { x: { $ref: '#/$defs/list' } },
      $defs: { list: { type: 'array', items: { $ref: '#/$defs/list' } } },
    };
    let deep: unknown[] = [];
    for (let i = 0; i < 100_000; i++) deep = [deep];

    expect(outputMisfits(looping, {})[0]).toContain('nests deeper than the validator can follow');
    expect(outputMisfits(lists, { x: [[[]]] })).toEqual([]);
    expect(outputMisfits(lists, { x: deep })[0]).toContain('nests deeper than the validator can follow');
  });

  it('refuses an answer over MAX_OUTPUT_BYTES for its size before validating it', () => {
    const schema = { type: 'object', properties: { items: { type: 'array', items: { type: 'string' } } } };
    const huge = { items: Array.from({ length: 2_000_000 }, (_, i) => i) };

    expect(() => outputMisfits(schema, huge)).toThrow(OutputTooLargeError);
    expect(outputMisfits(schema, { items: [1] })).toEqual(['the output at /items/0 must be string']);
  });

  it('tells which field paths outputs fitting it can have', () => {
    expect(schemaFieldProblem(PLAN, ['steps', 0, 'name'])).toBeUndefined();
    expect(schemaFieldProblem(PLAN, ['stepz'])).toBe(
      'the outputSchema declares no field "stepz" in the output (its fields: steps, owner)',
    );
    expect(schemaFieldProblem(PLAN, ['owner', 0])).toBe('owner is not an array in the outputSchema');
    // Undeclared on an object that declares its properties: refused (most often a typo).
    expect(schemaFieldProblem(PLAN, ['steps', 0, 'other'])).toBe(
      'the outputSchema declares no field "other" in steps[0] (its fields: name)',
    );
    // An object open to more fields, a reference or a combinator: decided at run time.
    expect(schemaFieldProblem({ type: 'object', additionalProperties: true }, ['x'])).toBeUndefined();
    expect(schemaFieldProblem({ type: 'object' }, ['x'])).toBeUndefined();
    expect(schemaFieldProblem({ type: 'object', anyOf: [] }, ['x'])).toBeUndefined();
  });

  it('is strict for OpenAI only when every object closes and requires all its properties', () => {
    expect(strictCompatible(PLAN)).toBe(false);
    expect(
      strictCompatible({
        type: 'object',
        properties: { a: { type: 'string' } },
        required: ['a'],
        additionalProperties: false,
      }),
    ).toBe(true);
  });
});
