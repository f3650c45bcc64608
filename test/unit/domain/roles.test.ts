import { describe, expect, it } from 'vitest';
import {
  BASE_ROLE_DEFAULTS,
  BUILTIN_ROLE_NAMES,
  BUILTIN_ROLES,
  PROMPT_PLACEHOLDERS,
  RoleConfigError,
  renderPrompt,
  resolveRoles,
  withDefaultExecutor,
} from '../../../shared/domain/roles';
import { extractRequirements } from '../../../shared/domain/routing';
import { type Role, RoleSchema } from '../../../shared/domain/schemas';

const ARCHITECTURE_ROLES = [
  'python_backend_coder',
  'typescript_frontend_agent',
  'api_integrator',
  'database_designer',
  'security_auditor',
  'test_generator',
  'code_reviewer',
  'quality_assurance',
  'integration_tester',
  'documentation_writer',
  'technical_writer',
  'devops_engineer',
  'deployment_coordinator',
  'monitoring_agent',
  'configuration_manager',
  'performance_optimizer',
  'refactoring_specialist',
  'error_handler',
  'ui_ux_designer',
  'system_architect',
  'data_analyst',
  'hrm_reasoning_agent',
];

function builtin(name: string): Role {
  const role = BUILTIN_ROLES.find((r) => r.name === name);
  if (!role) throw new Error(`no built-in role ${name}`);
  return role;
}

describe('built-in role catalog', () => {
  it('holds exactly the 22 roles of the architecture, in its order', () => {
    expect(BUILTIN_ROLE_NAMES).toEqual(ARCHITECTURE_ROLES);
  });

  it.each(ARCHITECTURE_ROLES)('gives %s a valid, complete definition', (name) => {
    const role = builtin(name);

    expect(RoleSchema.safeParse(role).success).toBe(true);
    expect(role.description.length).toBeGreaterThan(30);
    expect(role.keywords.length).toBeGreaterThanOrEqual(10);
    expect(role.specializations.skills.length).toBeGreaterThanOrEqual(3);
    for (const placeholder of PROMPT_PLACEHOLDERS)
      expect(role.promptTemplate).toContain(`{{${placeholder}}}`);
    expect(role.defaults.queueConcurrency).toBeGreaterThanOrEqual(2);
    expect(role.defaults.minAgents).toBeLessThanOrEqual(role.defaults.maxAgents);
    expect(role.defaults.executor.name).toBe('simulated');
  });

  it('gives every role its own prompt template', () => {
    const templates = new Set(BUILTIN_ROLES.map((r) => r.promptTemplate));

    expect(templates.size).toBe(BUILTIN_ROLES.length);
  });
});

describe('resolveRoles', () => {
  it('returns the built-in catalog when there are no overrides', () => {
    const catalog = resolveRoles();

    expect([...catalog.keys()]).toEqual(ARCHITECTURE_ROLES);
  });

  it('overrides one default of a built-in role and keeps every other field', () => {
    const catalog = resolveRoles([{ name: 'code_reviewer', defaults: { capacity: 7 } }]);

    const reviewer = catalog.get('code_reviewer');
    expect(reviewer?.defaults.capacity).toBe(7);
    expect(reviewer?.defaults.timeoutSeconds).toBe(builtin('code_reviewer').defaults.timeoutSeconds);
    expect(reviewer?.keywords).toEqual(builtin('code_reviewer').keywords);
  });

  it('overrides one specialization list of a built-in role and keeps the others', () => {
    const catalog = resolveRoles([
      { name: 'python_backend_coder', specializations: { frameworks: ['litestar'] } },
    ]);

    const coder = catalog.get('python_backend_coder');
    expect(coder?.specializations.frameworks).toEqual(['litestar']);
    expect(coder?.specializations.languages).toEqual(['python']);
  });

  it('adds a complete new role, with base defaults where it gives none, and routes to it', () => {
    const newRole = {
      name: 'rust_systems_coder',
      description: 'Writes Rust systems code',
      specializations: { languages: ['rust'], frameworks: ['tokio'], skills: ['systems programming'] },
      keywords: ['rust crate', 'borrow checker'],
      promptTemplate: 'You are {{role}}. {{description}}',
      defaults: { maxAgents: 2 },
    };

    const catalog = resolveRoles([newRole]);

    expect(catalog.size).toBe(23);
    expect(catalog.get('rust_systems_coder')?.defaults).toEqual({ ...BASE_ROLE_DEFAULTS, maxAgents: 2 });
    const requirements = extractRequirements(
      { id: 't1', description: 'Fix the borrow checker errors in the Rust crate using tokio' },
      catalog,
    );
    expect(requirements.roleCandidates[0]?.role).toBe('rust_systems_coder');
  });

  it('refuses an incomplete new role and names the missing fields by path', () => {
    const act = () => resolveRoles([{ name: 'code_reviewer' }, { name: 'half_done', description: 'x' }]);

    expect(act).toThrow(RoleConfigError);
    try {
      act();
    } catch (error) {
      const paths = (error as RoleConfigError).issues.map((i) => i.path);
      expect(paths).toContain('$.roles[1].specializations');
      expect(paths).toContain('$.roles[1].keywords');
      expect(paths).toContain('$.roles[1].promptTemplate');
      expect((error as Error).message).toContain('new role "half_done" needs it');
    }
  });

  it('refuses minAgents above maxAgents with the path of the field', () => {
    try {
      resolveRoles([{ name: 'devops_engineer', defaults: { minAgents: 9, maxAgents: 3 } }]);
      expect.unreachable('resolveRoles should have thrown');
    } catch (error) {
      expect(error).toBeInstanceOf(RoleConfigError);
      expect((error as RoleConfigError).issues).toEqual([
        { path: '$.roles[0].defaults.minAgents', message: 'minAgents (9) must not exceed maxAgents (3)' },
      ]);
    }
  });

  it('refuses a queue concurrency below 2 and an unknown field, with their paths', () => {
    try {
      resolveRoles([{ name: 'data_analyst', defaults: { queueConcurrency: 1 }, colour: 'red' }]);
      expect.unreachable('resolveRoles should have thrown');
    } catch (error) {
      const paths = (error as RoleConfigError).issues.map((i) => i.path);
      expect(paths).toEqual(expect.arrayContaining(['$.roles[0].defaults.queueConcurrency', '$.roles[0]']));
    }
  });

  it('refuses a role configured twice', () => {
    expect(() => resolveRoles([{ name: 'data_analyst' }, { name: 'data_analyst' }])).toThrow(
      /\$\.roles\[1\]\.name: role "data_analyst" is configured twice/,
    );
  });

  it('refuses a list that is not an array', () => {
    expect(() => resolveRoles({ name: 'x' })).toThrow(RoleConfigError);
  });
});

describe('renderPrompt', () => {
  it('fills every placeholder from the role, the task and its requirements', () => {
    const role = builtin('database_designer');
    const task = { id: 'db-7', description: 'Add an index on orders.created_at', input: { table: 'orders' } };
    const requirements = extractRequirements(task, resolveRoles());

    const prompt = renderPrompt(role, task, requirements);

    expect(prompt).toContain('You are the database_designer agent');
    expect(prompt).toContain(role.description);
    expect(prompt).toContain('Task db-7:');
    expect(prompt).toContain('Add an index on orders.created_at');
    expect(prompt).toContain('skills: index');
    expect(prompt).toContain('complexity: ');
    expect(prompt).toContain('Input: {"table":"orders"}');
    expect(prompt).not.toMatch(/\{\{\w+\}\}/);
  });

  it('does not expand placeholders that appear inside the task description', () => {
    const role = builtin('code_reviewer');
    const task = { id: 'r1', description: 'Review the template that prints {{role}} literally' };

    const prompt = renderPrompt(role, task, extractRequirements(task, resolveRoles()));

    expect(prompt).toContain('prints {{role}} literally');
    expect(prompt).toContain('Input: none');
  });
});

describe('withDefaultExecutor', () => {
  it('gives every role on the built-in simulated executor the deployment default, and leaves configured roles alone', () => {
    const catalog = resolveRoles([
      {
        name: 'code_reviewer',
        defaults: { executor: { name: 'http', url: 'https://agents.example/review' } },
      },
    ]);

    const result = withDefaultExecutor(catalog, 'bedrock');

    expect(result.get('python_backend_coder')?.defaults.executor.name).toBe('bedrock');
    expect(result.get('code_reviewer')?.defaults.executor).toEqual({
      name: 'http',
      url: 'https://agents.example/review',
    });
    expect(catalog.get('python_backend_coder')?.defaults.executor.name).toBe('simulated');
  });
});
