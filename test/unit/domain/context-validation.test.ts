import { describe, expect, it } from 'vitest';
import { MAX_PLACEHOLDERS_PER_TASK } from '../../../shared/domain/limits';
import { resolveRoles } from '../../../shared/domain/roles';
import { validateBatch } from '../../../shared/domain/validation';

const roles = new Set(resolveRoles().keys());
const issuesOf = (tasks: unknown[]) => {
  const result = validateBatch({ tasks }, roles);
  return result.ok ? [] : result.issues;
};

const chain = [
  { id: 'schema', description: 'Design the users table' },
  { id: 'api', description: 'Write the login endpoint', dependsOn: ['schema'] },
  { id: 'other', description: 'Unrelated work' },
];

describe('the work a task takes from others', () => {
  it('accepts a context list of dependencies and ancestors, "dependencies", "none" and a budget', () => {
    const result = validateBatch(
      {
        tasks: [
          ...chain,
          {
            id: 'tests',
            description: 'Test it',
            dependsOn: ['api'],
            context: ['schema', 'api'],
            contextBudgetBytes: 20_000,
          },
          { id: 'docs', description: 'Document it', dependsOn: ['api'], context: 'none' },
          { id: 'notes', description: 'Notes', dependsOn: ['api'], context: 'dependencies' },
        ],
      },
      roles,
    );

    expect(result.ok).toBe(true);
  });

  it('refuses a context id that is not a dependency or an ancestor, with its path', () => {
    const issues = issuesOf([
      ...chain,
      { id: 'tests', description: 'Test it', dependsOn: ['api'], context: ['api', 'other', 'nope', 'tests'] },
    ]);

    expect(issues).toEqual([
      {
        path: '$.tasks[3].context[1]',
        message: expect.stringContaining(
          'context names "other", which is not a dependency or an ancestor of task "tests"',
        ),
      },
      {
        path: '$.tasks[3].context[2]',
        message: 'context names "nope", but no task in this batch has that id',
      },
      {
        path: '$.tasks[3].context[3]',
        message: 'context names the task itself; a task cannot take its own output',
      },
    ]);
  });

  it('refuses a placeholder naming a task that is not a dependency or an ancestor, in the description or the input', () => {
    const issues = issuesOf([
      ...chain,
      {
        id: 'tests',
        description: 'Test {{deps.api.output}} and {{deps.other.output}}',
        dependsOn: ['api'],
        input: { files: [{ spec: 'see {{deps.schema.output}}' }, '{{deps.missing.output}}'] },
      },
    ]);

    expect(issues.map((i) => i.path)).toEqual(['$.tasks[3].description', '$.tasks[3].input.files[1]']);
    expect(issues[0]?.message).toContain(
      'the placeholder {{deps.other.output}} names "other", which is not a dependency',
    );
    expect(issues[1]?.message).toContain(
      '{{deps.missing.output}} names "missing", but no task in this batch has that id',
    );
  });

  it('names placeholder-like text that is not a placeholder, and a field path into an output without a schema', () => {
    const issues = issuesOf([
      ...chain,
      { id: 'tests', description: 'Use {{deps.api}} and {{deps.api.output.routes[0]}}', dependsOn: ['api'] },
    ]);

    expect(issues.map((i) => i.message)).toEqual([
      '"{{deps.api}}" is not a placeholder: write {{deps.<task id>.output}} or {{deps.<task id>.output.<field>}}',
      expect.stringContaining(
        '{{deps.api.output.routes[0]}} reads the field routes[0], but task "api" has no outputSchema',
      ),
    ]);
  });

  it('scans a description of 32 KiB that starts like a placeholder without backtracking over it', () => {
    // Every `.output` of the run was a place the id might end, each tried against the rest of it: seconds.
    const description = `{{deps.${'.output'.repeat(4_600)}`;
    const started = performance.now();

    const issues = issuesOf([...chain, { id: 'tests', description, dependsOn: ['api'] }]);

    expect(performance.now() - started).toBeLessThan(500);
    expect(issues.map((i) => i.message)).toEqual([expect.stringContaining('is not a placeholder')]);
  });

  it('refuses more than MAX_PLACEHOLDERS_PER_TASK placeholders in a task, counting its description and input', () => {
    const placeholders = (n: number) => Array.from({ length: n }, () => '{{deps.api.output}}');
    const holding = (inDescription: number, inInput: number) => ({
      id: 'tests',
      description: `Test ${placeholders(inDescription).join(' ')}`,
      dependsOn: ['api'],
      input: { examples: placeholders(inInput) },
    });

    expect(issuesOf([...chain, holding(40, MAX_PLACEHOLDERS_PER_TASK - 40)])).toEqual([]);
    expect(issuesOf([...chain, holding(40, MAX_PLACEHOLDERS_PER_TASK - 39)])).toEqual([
      {
        path: '$.tasks[3]',
        message: expect.stringContaining(
          `the task holds ${MAX_PLACEHOLDERS_PER_TASK + 1} placeholders in its description and input; at most ${MAX_PLACEHOLDERS_PER_TASK}`,
        ),
      },
    ]);
  });

  it('refuses a context budget outside its bounds and a context that is not a list or a keyword', () => {
    const issues = issuesOf([
      { id: 'a', description: 'x', contextBudgetBytes: 10 },
      { id: 'b', description: 'y', context: 'all' },
    ]);

    expect(issues.map((i) => i.path)).toEqual(['$.tasks[0].contextBudgetBytes', '$.tasks[1].context']);
    expect(issues[0]?.message).toContain(
      'contextBudgetBytes must be a whole number of bytes from 1024 to 1000000',
    );
  });

  it('refuses an invalid outputSchema, a field its schema does not have, and outputBytes with a schema', () => {
    const schema = {
      type: 'object',
      properties: { routes: { type: 'array', items: { type: 'string' } } },
      required: ['routes'],
      additionalProperties: false,
    };
    const issues = issuesOf([
      {
        id: 'schema',
        description: 'x',
        outputSchema: { type: 'object', properties: { a: { type: 'strin' } } },
      },
      { id: 'api', description: 'y', outputSchema: schema },
      {
        id: 'tests',
        description: 'Test {{deps.api.output.routes[0]}} and {{deps.api.output.route}}',
        dependsOn: ['api'],
      },
      { id: 'gen', description: 'z', outputSchema: schema, input: { simulate: { outputBytes: 100 } } },
    ]);

    expect(issues.map((i) => [i.path, i.message])).toEqual([
      ['$.tasks[0].outputSchema', expect.stringContaining('not a valid JSON Schema')],
      [
        '$.tasks[2].description',
        '{{deps.api.output.route}} cannot be read: the outputSchema declares no field "route" in the output (its fields: routes)',
      ],
      ['$.tasks[3].input.simulate.outputBytes', expect.stringContaining('outputBytes makes a text answer')],
    ]);
  });
  it('refuses at submit an outputSchema whose references loop on the same value, naming the loop', () => {
    const looping = {
      type: 'object',
      properties: { plan: { $ref: '#/$defs/step' } },
      $defs: {
        step: { oneOf: [{ type: 'string' }, { $ref: '#/$defs/steps' }] },
        steps: { $ref: '#/$defs/step' },
      },
    };

    expect(issuesOf([{ id: 'plan', description: 'Plan it', outputSchema: looping }])).toEqual([
      {
        path: '$.tasks[0].outputSchema',
        message: expect.stringContaining(
          'references loop without stepping into the output: #/$defs/steps -> #/$defs/step -> #/$defs/step/oneOf/1 -> #/$defs/steps',
        ),
      },
    ]);
  });
});
