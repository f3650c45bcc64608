import { describe, expect, it } from 'vitest';
import { BUILTIN_ROLE_NAMES } from '../../../shared/domain/roles';
import { type ValidationIssue, validateBatch } from '../../../shared/domain/validation';

const ROLES: ReadonlySet<string> = new Set(BUILTIN_ROLE_NAMES);
const task = (id: string, extra: Record<string, unknown> = {}) => ({ id, description: `do ${id}`, ...extra });

function issuesOf(raw: unknown): ValidationIssue[] {
  const result = validateBatch(raw, ROLES);
  if (result.ok) throw new Error('expected the batch to be refused');
  return result.issues;
}

describe('trigger rules at submission', () => {
  it('accepts every rule on a task with dependencies', () => {
    for (const trigger of ['all_success', 'all_done', 'one_success', 'none_failed_min_one_success'])
      expect(validateBatch({ tasks: [task('a'), task('b', { dependsOn: ['a'], trigger })] }, ROLES).ok).toBe(
        true,
      );
  });

  it('refuses an unknown rule, listing the rules', () => {
    expect(issuesOf({ tasks: [task('a'), task('b', { dependsOn: ['a'], trigger: 'any' })] })).toEqual([
      {
        path: '$.tasks[1].trigger',
        message:
          'trigger must be "all_success" (the default), "all_done", "one_success" or "none_failed_min_one_success"; got "any"',
      },
    ]);
  });

  it('refuses a rule on a task without dependencies, which it could never apply to', () => {
    expect(issuesOf({ tasks: [task('a', { trigger: 'all_done' })] })).toEqual([
      { path: '$.tasks[0].trigger', message: expect.stringContaining('this task has no dependsOn') },
    ]);
    expect(validateBatch({ tasks: [task('a', { trigger: 'all_success' })] }, ROLES).ok).toBe(true);
  });
});

describe('approvals at submission', () => {
  it('accepts an approval before, after, or both, with a timeout', () => {
    const raw = {
      tasks: [task('a', { approval: { before: true, after: true, timeoutSeconds: 3600 } })],
    };
    expect(validateBatch(raw, ROLES)).toEqual({ ok: true, batch: raw });
  });

  it('refuses an approval that asks for nothing, a timeout over a year, and an unknown field', () => {
    expect(
      issuesOf({
        tasks: [
          task('a', { approval: { before: false } }),
          task('b', { approval: { before: true, timeoutSeconds: 400 * 24 * 3600 } }),
          task('c', { approval: { after: true, reviewer: 'me' } }),
        ],
      }),
    ).toEqual([
      { path: '$.tasks[0].approval', message: expect.stringContaining('approval asks for nothing') },
      {
        path: '$.tasks[1].approval.timeoutSeconds',
        message: expect.stringContaining('from 1 to 31536000 (a year; default 86400)'),
      },
      { path: '$.tasks[2].approval.reviewer', message: expect.stringContaining('unknown field "reviewer"') },
    ]);
  });

  it('refuses "by" without "after": a validator reviews an output', () => {
    expect(
      issuesOf({ tasks: [task('a', { approval: { before: true, by: 'code_reviewer' } })] }),
    ).toContainEqual({
      path: '$.tasks[0].approval.by',
      message: '"by" names the validator role that reviews the output: it needs "after": true',
    });
  });

  it('accepts a known validator role in "by" with "after"', () => {
    expect(
      validateBatch({ tasks: [task('a', { approval: { after: true, by: 'code_reviewer' } })] }, ROLES).ok,
    ).toBe(true);
  });

  it('refuses an unknown validator role, naming the path and close role names', () => {
    expect(
      issuesOf({ tasks: [task('a'), task('b', { approval: { after: true, by: 'code_reviewr' } })] }),
    ).toEqual([
      {
        path: '$.tasks[1].approval.by',
        message: 'unknown validator role "code_reviewr"; close role names: code_reviewer',
      },
    ]);
  });

  it('accepts simulated verdicts and refuses a malformed one with its path', () => {
    const verdicts = [{ accept: false, comments: 'add tests' }, { fail: 'invalid' }, { accept: true }];
    expect(
      validateBatch(
        {
          tasks: [
            task('a', { approval: { after: true, by: 'code_reviewer' }, input: { simulate: { verdicts } } }),
          ],
        },
        ROLES,
      ).ok,
    ).toBe(true);
    const issues = issuesOf({
      tasks: [
        task('a', {
          approval: { after: true, by: 'code_reviewer' },
          input: { simulate: { verdicts: [{ accept: 'yes' }] } },
        }),
      ],
    });
    expect(issues).toEqual([
      expect.objectContaining({ path: expect.stringContaining('$.tasks[0].input.simulate') }),
    ]);
  });
});
