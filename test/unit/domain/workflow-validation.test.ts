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
