import { describe, expect, it } from 'vitest';
import { resolveRoles } from '../../../shared/domain/roles';
import type { ExtractedRequirements } from '../../../shared/domain/schemas';
import { rolesFor } from '../../../shared/usecases/route';

const catalog = resolveRoles();

function requirementsFor(...roles: string[]): ExtractedRequirements {
  return {
    languages: [],
    frameworks: [],
    skills: [],
    complexity: 'medium',
    roleCandidates: roles.map((role) => ({ role, confidence: 0.8 })),
  };
}

// Route and RecordAttempt (whether an agent could escape a permanent failure) both ask rolesFor.
describe('rolesFor: the roles whose agents may take a task, and the role a spawn for it comes from', () => {
  const task = { id: 'review', description: 'Review the TypeScript PR for the checkout page' };

  it('takes the requirements stored with the task over what its text says', () => {
    const stored = requirementsFor('documentation_writer', 'test_generator');

    const roles = rolesFor(catalog, { task, requirements: stored });

    expect(roles.roleNames).toEqual(['documentation_writer', 'test_generator']);
    expect(roles.spawnRole?.name).toBe('documentation_writer');
  });

  it('extracts the requirements from the task when none are stored', () => {
    const roles = rolesFor(catalog, { task: { ...task, role: 'security_auditor' } });

    expect(roles.roleNames).toEqual(['security_auditor']);
    expect(roles.spawnRole?.name).toBe('security_auditor');
  });

  it('takes the requirements it is given (Route: possibly chosen by a model) over the stored ones', () => {
    const roles = rolesFor(
      catalog,
      { task, requirements: requirementsFor('test_generator') },
      {
        ...requirementsFor('test_generator'),
        explicitRole: 'code_reviewer',
      },
    );

    expect(roles.roleNames).toEqual(['code_reviewer']);
    expect(roles.spawnRole?.name).toBe('code_reviewer');
  });

  it('has no spawn role when the best role is not in the catalog', () => {
    const roles = rolesFor(catalog, { task, requirements: requirementsFor('not_a_role') });

    expect(roles.roleNames).toEqual(['not_a_role']);
    expect(roles.spawnRole).toBeUndefined();
  });
});
