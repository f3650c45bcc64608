import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_REPORTED_CYCLES } from '../../shared/domain/dag';
import {
  MAX_DEPENDENCIES_PER_TASK,
  MAX_DESCRIPTION_CHARS,
  MAX_EXECUTION_INPUT_BYTES,
  MAX_INPUT_BYTES,
  MAX_INPUT_DEPTH,
  MAX_SIMULATED_VERDICTS,
  MAX_TASKS_PER_BATCH,
} from '../../shared/domain/limits';
import { BUILTIN_ROLE_NAMES } from '../../shared/domain/roles';
import {
  assertValidBatch,
  BatchValidationError,
  formatPath,
  MAX_REPORTED_ISSUES,
  parseBatchJson,
  type ValidationIssue,
  validateBatch,
} from '../../shared/domain/validation';
import { executionInputOf, storedTasksOf } from '../../shared/usecases/submit';

const ROLES: ReadonlySet<string> = new Set(BUILTIN_ROLE_NAMES);

/** Issues of a batch that must be invalid. */
function issuesOf(raw: unknown): ValidationIssue[] {
  const result = validateBatch(raw, ROLES);
  if (result.ok) throw new Error('expected the batch to be refused');
  return result.issues;
}

function issueAt(raw: unknown, path: string): ValidationIssue {
  const issue = issuesOf(raw).find((i) => i.path === path);
  if (!issue) throw new Error(`no issue at ${path}: ${JSON.stringify(issuesOf(raw))}`);
  return issue;
}

const task = (id: string, extra: Record<string, unknown> = {}) => ({ id, description: `do ${id}`, ...extra });

describe('validateBatch accepts', () => {
  it('a valid batch and returns it typed', () => {
    const raw = {
      batchId: 'b-1',
      tasks: [task('a'), task('b', { dependsOn: ['a'], role: 'test_generator', priority: 1 })],
      options: { maxAttempts: 2, failFast: true },
    };
    const result = validateBatch(raw, ROLES);
    expect(result).toEqual({ ok: true, batch: raw });
  });

  it('a task with input.simulate and a role added by configuration', () => {
    const raw = {
      tasks: [task('a', { role: 'rust_coder', input: { simulate: { durationMs: 5, failMode: 'crash' } } })],
    };
    expect(validateBatch(raw, new Set([...ROLES, 'rust_coder'])).ok).toBe(true);
  });
});

describe('parseBatchJson', () => {
  it('ignores a byte order mark before the JSON, and counts columns without it', () => {
    expect(parseBatchJson('\uFEFF{"tasks":[]}')).toEqual({ tasks: [] });
    expect(() => parseBatchJson('\uFEFF{"tasks": [')).toThrow(/line 1, column 12: expected a value/);
  });

  it('refuses a byte order mark anywhere else', () => {
    expect(() => parseBatchJson(' \uFEFF{}')).toThrow(/line 1, column 2/);
  });
});

describe('parseBatchJson refuses malformed JSON', () => {
  it('with the line and column of the mistake', () => {
    const text = '{\n  "tasks": [\n    { "id": "a" "description": "x" }\n  ]\n}';
    const error = (() => {
      try {
        parseBatchJson(text);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(BatchValidationError);
    expect((error as BatchValidationError).issues).toEqual([
      { path: '$', message: `malformed JSON at line 3, column 17: expected ',' or '}', found "\\""` },
    ]);
  });

  it('at the end of a truncated file', () => {
    expect(() => parseBatchJson('{"tasks": [')).toThrow(/line 1, column 12: expected a value, found the end/);
  });

  it('with a trailing comma', () => {
    expect(() => parseBatchJson('{"tasks": [1,]}')).toThrow(/line 1, column 14/);
  });
});

describe('validateBatch refuses', () => {
  it('a value that is not an object', () => {
    for (const raw of [[], null, 'tasks', 42]) {
      expect(issuesOf(raw)).toEqual([
        { path: '$', message: expect.stringContaining('a batch must be a JSON object with a "tasks" array') },
      ]);
    }
  });

  it('a batch without tasks', () => {
    expect(issueAt({}, '$.tasks').message).toMatch(/missing required field "tasks"/);
  });

  it('an empty batch', () => {
    expect(issuesOf({ tasks: [] })).toEqual([
      { path: '$.tasks', message: 'the batch has no tasks: give at least one task' },
    ]);
  });

  it('too many tasks, with the count and the limit', () => {
    const tasks = Array.from({ length: MAX_TASKS_PER_BATCH + 1 }, (_, i) => task(`t${i}`));
    const issues = issuesOf({ tasks, extra: true });
    expect(issues[0]).toEqual({
      path: '$.tasks',
      message: expect.stringContaining(
        `has ${MAX_TASKS_PER_BATCH + 1} tasks; at most ${MAX_TASKS_PER_BATCH}`,
      ),
    });
    expect(issues.map((i) => i.path)).toContain('$.extra');
  });

  it('task ids too long together for the Step Functions execution input, with the sizes and what to do', () => {
    // 2,000 ids of the full 128 characters: each id alone is valid, the Map item list is not.
    const tasks = Array.from({ length: MAX_TASKS_PER_BATCH }, (_, i) => task(`${i}-`.padEnd(128, 'x')));
    const issues = issuesOf({ tasks });
    expect(issues).toEqual([
      {
        path: '$.tasks',
        message: expect.stringMatching(
          new RegExp(
            `the 2000 task ids \\(256000 characters together\\) make a \\d+-byte Step Functions execution input; at most ${MAX_EXECUTION_INPUT_BYTES} bytes are allowed: use shorter task ids or split the batch`,
          ),
        ),
      },
    ]);
  });

  it('every accepted batch has an execution input Step Functions takes, whatever its batch id becomes', () => {
    // Ids as long as the limit allows for 2,000 tasks: grow them until the batch is refused.
    let length = 64;
    const batchOf = (n: number) => ({
      tasks: Array.from({ length: MAX_TASKS_PER_BATCH }, (_, i) =>
        task(`${i}-`.padEnd(n, 'y'), i > 0 ? { dependsOn: [`${i - 1}-`.padEnd(n, 'y')] } : {}),
      ),
    });
    while (validateBatch(batchOf(length + 1), ROLES).ok) length++;
    expect(length).toBeGreaterThanOrEqual(90);
    const batch = assertValidBatch(batchOf(length), ROLES);
    const generatedId = `batch-${'0'.repeat(36)}`;
    for (const batchId of [generatedId, 'x'.repeat(128)]) {
      const input = executionInputOf(batchId, storedTasksOf(batchId, batch, 3));
      expect(Buffer.byteLength(JSON.stringify(input))).toBeLessThanOrEqual(MAX_EXECUTION_INPUT_BYTES);
    }
    expect(validateBatch(batchOf(length + 1), ROLES).ok).toBe(false);
  });

  it('a duplicate id, naming the id and both positions', () => {
    const issue = issueAt({ tasks: [task('a'), task('b'), task('a')] }, '$.tasks[2].id');
    expect(issue.message).toContain('duplicate task id "a"');
    expect(issue.message).toContain('$.tasks[0]');
  });

  it('an unknown dependency, naming it and suggesting a close id', () => {
    const issue = issueAt(
      { tasks: [task('login-api'), task('b', { dependsOn: ['login-apy'] })] },
      '$.tasks[1].dependsOn[0]',
    );
    expect(issue.message).toContain('unknown dependency "login-apy"');
    expect(issue.message).toContain('Did you mean "login-api"?');
  });

  it('a self-dependency', () => {
    const issue = issueAt({ tasks: [task('a', { dependsOn: ['a'] })] }, '$.tasks[0].dependsOn[0]');
    expect(issue.message).toContain('task "a" depends on itself');
  });

  it('a dependency listed twice', () => {
    const issue = issueAt(
      { tasks: [task('a'), task('b', { dependsOn: ['a', 'a'] })] },
      '$.tasks[1].dependsOn[1]',
    );
    expect(issue.message).toContain('"a" is already listed at dependsOn[0]');
  });

  it('a cycle, naming its ids in order at the first edge of the cycle', () => {
    const raw = {
      tasks: [
        task('a', { dependsOn: ['b'] }),
        task('b', { dependsOn: ['c'] }),
        task('c', { dependsOn: ['a'] }),
      ],
    };
    const issue = issueAt(raw, '$.tasks[0].dependsOn[0]');
    expect(issue.message).toContain('dependency cycle: a -> b -> c -> a');
  });

  it('every independent cycle, one issue each', () => {
    const raw = {
      tasks: [
        task('a', { dependsOn: ['b'] }),
        task('b', { dependsOn: ['a'] }),
        task('x', { dependsOn: ['free', 'y'] }),
        task('y', { dependsOn: ['x'] }),
        task('free'),
      ],
    };
    const cycles = issuesOf(raw).filter((i) => i.message.startsWith('dependency cycle'));
    expect(cycles).toEqual([
      { path: '$.tasks[0].dependsOn[0]', message: expect.stringContaining('a -> b -> a') },
      { path: '$.tasks[2].dependsOn[1]', message: expect.stringContaining('x -> y -> x') },
    ]);
  });

  it('an unknown role, listing close role names', () => {
    const issue = issueAt({ tasks: [task('a', { role: 'python_coder' })] }, '$.tasks[0].role');
    expect(issue.message).toContain('unknown role "python_coder"');
    expect(issue.message).toContain('python_backend_coder');
  });

  it('an unknown role with no close name, saying how to proceed', () => {
    const issue = issueAt({ tasks: [task('a', { role: 'zzzzzzzzzzzz' })] }, '$.tasks[0].role');
    expect(issue.message).toContain('omit "role" to let routing choose');
  });

  it('an oversize description, with its length and the limit', () => {
    const issue = issueAt(
      { tasks: [{ id: 'a', description: 'x'.repeat(MAX_DESCRIPTION_CHARS + 1) }] },
      '$.tasks[0].description',
    );
    expect(issue.message).toContain(`1 to ${MAX_DESCRIPTION_CHARS} characters`);
    expect(issue.message).toContain(`got ${MAX_DESCRIPTION_CHARS + 1} characters`);
  });

  it('an oversize description of characters outside the BMP, counted in characters as the limit counts them', () => {
    // Each emoji is one character and two UTF-16 units: the limit allows MAX_DESCRIPTION_CHARS of them.
    const emoji = '\u{1F600}';
    expect(
      validateBatch({ tasks: [{ id: 'a', description: emoji.repeat(MAX_DESCRIPTION_CHARS) }] }, ROLES).ok,
    ).toBe(true);
    const issue = issueAt(
      { tasks: [{ id: 'a', description: emoji.repeat(MAX_DESCRIPTION_CHARS + 1) }] },
      '$.tasks[0].description',
    );
    expect(issue.message).toContain(`got ${MAX_DESCRIPTION_CHARS + 1} characters`);
  });

  it('a description of whitespace alone, which describes no work', () => {
    const issue = issueAt({ tasks: [{ id: 'a', description: ' \t\n  ' }] }, '$.tasks[0].description');
    expect(issue.message).toContain('not only whitespace');
    expect(validateBatch({ tasks: [{ id: 'a', description: '  fix the login form ' }] }, ROLES).ok).toBe(
      true,
    );
  });

  it('an input over the byte limit counted in UTF-8, not characters', () => {
    // Each "é" is one character but two UTF-8 bytes: under the limit in characters, over it in bytes.
    const text = 'é'.repeat(MAX_INPUT_BYTES / 2 + 10);
    expect(text.length).toBeLessThan(MAX_INPUT_BYTES);
    const issue = issueAt({ tasks: [task('a', { input: { text } })] }, '$.tasks[0].input');
    expect(issue.message).toMatch(
      new RegExp(`input is \\d+ bytes as JSON \\(UTF-8\\); at most ${MAX_INPUT_BYTES}`),
    );
  });

  it('too many dependencies', () => {
    const deps = Array.from({ length: MAX_DEPENDENCIES_PER_TASK + 1 }, (_, i) => `d${i}`);
    const tasks = [...deps.map((id) => task(id)), task('a', { dependsOn: deps })];
    const issue = issueAt({ tasks }, `$.tasks[${deps.length}].dependsOn`);
    expect(issue.message).toContain(
      `at most ${MAX_DEPENDENCIES_PER_TASK} task ids; got ${deps.length} entries`,
    );
  });

  it('an id outside the grammar, quoting it', () => {
    const issue = issueAt({ tasks: [task('bad id!')] }, '$.tasks[0].id');
    expect(issue.message).toContain('got "bad id!"');
    expect(issue.message).toContain('1-128 characters');
  });

  it('a priority other than 1, 2 or 3', () => {
    expect(issueAt({ tasks: [task('a', { priority: 0 })] }, '$.tasks[0].priority').message).toBe(
      'priority must be 1, 2 or 3 (1 is highest, 2 the default); got 0',
    );
  });

  it('a timeout that is not a whole number of seconds in range', () => {
    for (const timeoutSeconds of [0, 1.5, 100_000, 'ten']) {
      expect(
        issueAt({ tasks: [task('a', { timeoutSeconds })] }, '$.tasks[0].timeoutSeconds').message,
      ).toContain('timeoutSeconds must be a whole number from 1 to 870');
    }
  });

  it('unknown fields, suggesting the intended one and listing the allowed ones', () => {
    const issues = issuesOf({ tasks: [task('a', { dependson: [] })], option: {} });
    expect(issues).toEqual([
      {
        path: '$.tasks[0].dependson',
        message: expect.stringMatching(
          /unknown field "dependson" \(did you mean "dependsOn"\?\); a task accepts id, /,
        ),
      },
      {
        path: '$.option',
        message: expect.stringContaining(
          '(did you mean "options"?); a batch accepts batchId, tasks, options',
        ),
      },
    ]);
  });

  it('invalid options', () => {
    const issues = issuesOf({ tasks: [task('a')], options: { maxAttempts: 11, failFast: 'yes', retry: 1 } });
    expect(issues.map((i) => i.path)).toEqual([
      '$.options.maxAttempts',
      '$.options.failFast',
      '$.options.retry',
    ]);
    expect(issues[0]?.message).toContain('maxAttempts must be a whole number from 1 to 10; got 11');
  });

  it('a number past both the safe integers and the maximum, said once', () => {
    expect(issuesOf({ tasks: [task('a')], options: { maxAttempts: 1e308 } })).toEqual([
      { path: '$.options.maxAttempts', message: expect.stringContaining('from 1 to 10; got 1e+308') },
    ]);
  });

  it.each([0, -1, 1e-10, 1e-300, 5e-324, 1_000_001, '5'])(
    'a budget of %s dollars, naming its bounds',
    (usd) => {
      expect(issuesOf({ tasks: [task('a')], options: { budget: { maxCostUsd: usd } } })).toEqual([
        {
          path: '$.options.budget.maxCostUsd',
          message: expect.stringContaining(
            'maxCostUsd must be a number of US dollars from 0.000000001 to 1000000',
          ),
        },
      ]);
    },
  );

  it('a budget of a nano-dollar is the smallest there is', () => {
    expect(validateBatch({ tasks: [task('a')], options: { budget: { maxCostUsd: 1e-9 } } }, ROLES).ok).toBe(
      true,
    );
  });

  it('an empty budget and an unknown budget field', () => {
    expect(issuesOf({ tasks: [task('a')], options: { budget: {} } })).toEqual([
      { path: '$.options.budget', message: expect.stringContaining('maxCostUsd, maxTokens or both') },
    ]);
    expect(issuesOf({ tasks: [task('a')], options: { budget: { maxTokens: 1.5, maxCostUSD: 1 } } })).toEqual([
      { path: '$.options.budget.maxTokens', message: expect.stringContaining('a whole number from 1 to') },
      {
        path: '$.options.budget.maxCostUSD',
        message: expect.stringContaining(
          '(did you mean "maxCostUsd"?); a budget accepts maxCostUsd, maxTokens',
        ),
      },
    ]);
  });

  it('more simulated verdicts than the limit, naming it', () => {
    const verdicts = Array.from({ length: MAX_SIMULATED_VERDICTS + 1 }, () => ({ accept: true }));
    const issues = issuesOf({
      tasks: [
        task('a', { approval: { after: true, by: 'code_reviewer' }, input: { simulate: { verdicts } } }),
      ],
    });

    expect(issues).toEqual([
      {
        path: '$.tasks[0].input.simulate.verdicts',
        message: expect.stringContaining(
          `verdicts must be a list of at most ${MAX_SIMULATED_VERDICTS} simulated reviews`,
        ),
      },
    ]);
  });

  it('an invalid input.simulate', () => {
    const issues = issuesOf({
      tasks: [task('a', { input: { simulate: { durationMs: -5, failMode: 'explode' } } })],
    });
    expect(issues).toEqual([
      { path: '$.tasks[0].input.simulate.durationMs', message: expect.stringContaining('got -5') },
      {
        path: '$.tasks[0].input.simulate.failMode',
        message: expect.stringContaining('"error", "crash" or "timeout"'),
      },
    ]);
  });

  it('an input that is not an object', () => {
    expect(issueAt({ tasks: [task('a', { input: [1, 2] })] }, '$.tasks[0].input').message).toBe(
      'input must be a JSON object; got a list of 2',
    );
  });

  it('invalid requirements, naming the list', () => {
    const issue = issueAt(
      { tasks: [task('a', { requirements: { languages: 'python' } })] },
      '$.tasks[0].requirements.languages',
    );
    expect(issue.message).toContain('requirements.languages must be a list');
  });

  it('tasks that are not a list', () => {
    expect(issueAt({ tasks: { a: 1 } }, '$.tasks').message).toBe(
      'tasks must be a list of 1 to 2000 tasks; got an object',
    );
  });

  it('a missing description, naming the field', () => {
    expect(issueAt({ tasks: [{ id: 'a' }] }, '$.tasks[0].description').message).toContain(
      'missing required field "description"',
    );
  });
});

describe('validateBatch reports', () => {
  it('every problem at once, structural and cross-task, sorted by where it appears', () => {
    const raw = {
      tasks: [
        task('a', { priority: 9, dependsOn: ['ghost'] }),
        { id: 'b', dependsOn: ['a', 'b'] },
        task('a', { role: 'wizard' }),
      ],
      options: { failFast: 1 },
    };
    expect(issuesOf(raw).map((i) => i.path)).toEqual([
      '$.tasks[0].priority',
      '$.tasks[0].dependsOn[0]',
      '$.tasks[1].dependsOn[1]',
      '$.tasks[1].description',
      '$.tasks[2].id',
      '$.tasks[2].role',
      '$.options.failFast',
    ]);
  });

  it('a cycle even when a task on it has another error', () => {
    const raw = { tasks: [task('a', { dependsOn: ['b'], priority: 7 }), { id: 'b', dependsOn: ['a'] }] };
    expect(issuesOf(raw).some((i) => i.message.includes('a -> b -> a'))).toBe(true);
  });

  it('issues sorted by position of the task for any set of bad priorities', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { minLength: 1, maxLength: 30 }), (bad) => {
        const raw = { tasks: bad.map((isBad, i) => task(`t${i}`, isBad ? { priority: 4 } : {})) };
        const result = validateBatch(raw, ROLES);
        const expected = bad.flatMap((isBad, i) => (isBad ? [`$.tasks[${i}].priority`] : []));
        expect(result.ok ? [] : result.issues.map((i) => i.path)).toEqual(expected);
      }),
    );
  });
});

describe('validateBatch on pathological input', () => {
  it('lists the first MAX_REPORTED_ISSUES problems and counts the rest', () => {
    const ids = Array.from({ length: MAX_TASKS_PER_BATCH }, (_, i) => `a-rather-long-task-identifier-${i}`);
    const tasks = ids.map((id, i) =>
      task(id, {
        dependsOn: Array.from(
          { length: MAX_DEPENDENCIES_PER_TASK },
          (_, j) => `missing-dependency-${i}-${j}`,
        ),
      }),
    );
    const issues = issuesOf({ tasks });

    expect(issues).toHaveLength(MAX_REPORTED_ISSUES + 1);
    expect(issues[0]?.path).toBe('$.tasks[0].dependsOn[0]');
    expect(issues.at(-1)).toEqual({
      path: '$',
      message: `${MAX_TASKS_PER_BATCH * MAX_DEPENDENCIES_PER_TASK - MAX_REPORTED_ISSUES} more problems not listed; fix the ones above first`,
    });
  });
});

describe('validateBatch on hostile input', () => {
  /** `levels` nested objects: `{"a":{"a":...{}}}`, the outermost one being level 1. */
  const nested = (levels: number): Record<string, unknown> => {
    let value: Record<string, unknown> = {};
    for (let i = 1; i < levels; i++) value = { a: value };
    return value;
  };

  it.each(['.', '..'])('refuses %j as a batch id, task id or dependency (a URL path removes it)', (id) => {
    const issues = issuesOf({ batchId: id, tasks: [task(id), task('b', { dependsOn: [id] })] });

    expect(issues.map((i) => i.path)).toEqual(['$.batchId', '$.tasks[0].id', '$.tasks[1].dependsOn[0]']);
    expect(issues[0]?.message).toContain('not "." or ".."');
  });

  it(`lists ${MAX_REPORTED_CYCLES} dependency cycles and says that there are more`, () => {
    // 30 separate two-task cycles: t0 <-> t1, t2 <-> t3, ...
    const tasks = Array.from({ length: 60 }, (_, i) => task(`t${i}`, { dependsOn: [`t${i ^ 1}`] }));

    const issues = issuesOf({ tasks });

    expect(issues.filter((i) => i.message.startsWith('dependency cycle:'))).toHaveLength(MAX_REPORTED_CYCLES);
    expect(issues).toContainEqual({
      path: '$.tasks',
      message: expect.stringContaining(`more dependency cycles than the ${MAX_REPORTED_CYCLES} listed`),
    });
    expect(issuesOf({ tasks: tasks.slice(0, 2 * MAX_REPORTED_CYCLES) }).map((i) => i.path)).not.toContain(
      '$.tasks',
    );
  });

  it('accepts ids made of dots that a URL keeps', () => {
    expect(validateBatch({ batchId: '...', tasks: [task('...'), task('.a'), task('a..')] }, ROLES).ok).toBe(
      true,
    );
  });

  it(`accepts an input nested ${MAX_INPUT_DEPTH} levels and refuses one more, naming where`, () => {
    expect(validateBatch({ tasks: [task('a', { input: nested(MAX_INPUT_DEPTH) })] }, ROLES).ok).toBe(true);

    const [issue, ...rest] = issuesOf({ tasks: [task('a', { input: nested(MAX_INPUT_DEPTH + 1) })] });

    expect(rest).toEqual([]);
    expect(issue?.path).toBe(`$.tasks[0].input${'.a'.repeat(MAX_INPUT_DEPTH)}`);
    expect(issue?.message).toContain(`at most ${MAX_INPUT_DEPTH} levels`);
  });

  it('names the field that nests too deep: an outputSchema as such, another field without blaming the input', () => {
    const [schema] = issuesOf({ tasks: [task('a', { outputSchema: { type: 'object', x: nested(40) } })] });
    const [options] = issuesOf({ tasks: [task('a')], options: { budget: nested(40) } });

    expect(schema?.message).toBe(
      `nested too deep: a task's outputSchema may nest at most ${MAX_INPUT_DEPTH} levels of objects and lists`,
    );
    expect(options?.path).toMatch(/^\$\.options\.budget(\.a)+$/);
    expect(options?.message).toContain('no field of a batch nests this far');
  });

  it('refuses JSON text nested a million levels deep without overflowing the stack', () => {
    const depth = 1_000_000;
    const text = `{"tasks":[{"id":"a","description":"x","input":${'['.repeat(depth)}${']'.repeat(depth)}}]}`;

    const issues = issuesOf(parseBatchJson(text));

    expect(issues).toHaveLength(1);
    expect(issues[0]?.path).toBe(`$.tasks[0].input${'[0]'.repeat(MAX_INPUT_DEPTH)}`);
  });

  it('refuses a number beyond a 64-bit float in an input, naming each, instead of storing null', () => {
    const text =
      '{"tasks":[{"id":"a","description":"x","input":{"n":[1,1e400],"ok":1.7976931348623157e308,"m":{"k":-2e308}}},' +
      '{"id":"b","description":"y","timeoutSeconds":1e400,"input":{"simulate":{"durationMs":1e400}}}]}';

    const issues = issuesOf(parseBatchJson(text));

    expect(issues.map((i) => i.path)).toEqual([
      '$.tasks[0].input.n[1]',
      '$.tasks[0].input.m.k',
      '$.tasks[1].timeoutSeconds',
      '$.tasks[1].input.simulate.durationMs',
    ]);
    expect(issues[0]?.message).toMatch(/beyond what JSON numbers hold.*kept as null; write it as a string/);
    expect(issues[3]?.message).toContain('durationMs must be');
  });

  it('refuses a duplicate key with its path instead of keeping only the last one', () => {
    const refusal = (text: string) => {
      try {
        parseBatchJson(text);
      } catch (error) {
        if (error instanceof BatchValidationError) return error.issues;
        throw error;
      }
      throw new Error('expected the text to be refused');
    };
    const twoLists = '{"tasks":[{"id":"a","description":"x"}],\n"tasks":[{"id":"b","description":"y"}]}';
    const inInput =
      '{"tasks":[{"id":"a","description":"say \\"k\\", \\\\","input":{"l":[{"k":1},{"k":2,"\\u006b":3}]}}]}';

    expect(refusal(twoLists)).toEqual([
      {
        path: '$.tasks',
        message:
          'duplicate key "tasks" (line 2): the object already has it, and JSON would keep only the last one; give each key once',
      },
    ]);
    expect(refusal(inInput).map((i) => i.path)).toEqual(['$.tasks[0].input.l[1].k']);
    expect(
      parseBatchJson(
        '{"tasks":[{"id":"a","description":"x","input":{"a":{"k":1},"b":{"k":1},"c":[{"k":1},{"k":2}]}}]}',
      ),
    ).toMatchObject({ tasks: [{ input: { a: { k: 1 }, b: { k: 1 } } }] });
  });

  it('keeps prototype-named keys of an input as plain data', () => {
    const text =
      '{"tasks":[{"id":"a","description":"x","input":{"__proto__":{"polluted":true},"constructor":{"name":"Buffer"},' +
      '"toString":1,"hasOwnProperty":"no","nested":{"__proto__":[1],"valueOf":null}}}]}';

    const batch = assertValidBatch(parseBatchJson(text), ROLES);

    expect(JSON.stringify(batch.tasks[0]?.input)).toBe(JSON.stringify(JSON.parse(text).tasks[0].input));
    expect(Object.keys(batch.tasks[0]?.input ?? {})).toEqual([
      '__proto__',
      'constructor',
      'toString',
      'hasOwnProperty',
      'nested',
    ]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it.each(['__proto__', 'constructor', 'toString'])(
    'answers a %s key where no field is allowed with an unknown-field issue, not a crash',
    (key) => {
      const text = `{"tasks":[{"id":"a","description":"x","${key}":1}],"${key}":{"${key}":2},"options":{"${key}":3}}`;

      const paths = issuesOf(parseBatchJson(text)).map((i) => i.path);

      expect(paths).toEqual(expect.arrayContaining([`$.${key}`, `$.tasks[0].${key}`, `$.options.${key}`]));
    },
  );
});

describe('assertValidBatch', () => {
  it('throws a BatchValidationError carrying every issue', () => {
    expect(() => assertValidBatch({ tasks: [task('a', { dependsOn: ['x', 'y'] })] }, ROLES)).toThrow(
      BatchValidationError,
    );
    try {
      assertValidBatch({ tasks: [task('a', { dependsOn: ['x', 'y'] })] }, ROLES);
    } catch (error) {
      expect((error as BatchValidationError).issues.map((i) => i.path)).toEqual([
        '$.tasks[0].dependsOn[0]',
        '$.tasks[0].dependsOn[1]',
      ]);
      expect((error as Error).message).toContain('$.tasks[0].dependsOn[1]: unknown dependency "y"');
    }
  });
});

describe('formatPath', () => {
  it('writes indexes in brackets and quotes keys that are not identifiers', () => {
    expect(formatPath(['tasks', 3, 'dependsOn', 0])).toBe('$.tasks[3].dependsOn[0]');
    expect(formatPath(['tasks', 0, 'input', 'a key'])).toBe('$.tasks[0].input["a key"]');
    expect(formatPath([])).toBe('$');
  });
});

describe('executionInputOf', () => {
  it('lists the tasks ready at once first, the most urgent first, then the rest in topological order', () => {
    const batch = assertValidBatch(
      {
        tasks: [
          task('short', { input: { simulate: { durationMs: 100 } } }),
          task('after-short', { dependsOn: ['short'], input: { simulate: { durationMs: 100 } } }),
          task('long', { input: { simulate: { durationMs: 100 } } }),
          task('long-2', { dependsOn: ['long'], input: { simulate: { durationMs: 900 } } }),
          task('long-3', { dependsOn: ['long-2'], input: { simulate: { durationMs: 900 } } }),
          task('urgent', { priority: 1, input: { simulate: { durationMs: 50 } } }),
        ],
      },
      ROLES,
    );
    const { items } = executionInputOf('b-1', storedTasksOf('b-1', batch, 3));
    // priority 1 first, then the most work ahead (long: 1,900 ms on its chain, short: 200 ms).
    expect(items.slice(0, 3)).toEqual([
      { taskId: 'urgent', hasDeps: false },
      { taskId: 'long', hasDeps: false },
      { taskId: 'short', hasDeps: false },
    ]);
    const rest = items.slice(3).map((item) => item.taskId);
    expect(items.slice(3).every((item) => item.hasDeps)).toBe(true);
    expect(rest.indexOf('long-2')).toBeLessThan(rest.indexOf('long-3'));
    expect([...rest].sort()).toEqual(['after-short', 'long-2', 'long-3']);
  });
});
