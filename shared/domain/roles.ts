/**
 * The built-in role catalog (22 roles). Users add or override roles from a config file; see resolveRoles.
 * Vocabularies feed requirement inference and the specialization term of the routing score.
 */
import { z } from 'zod';
import { type Role, type RoleDefaults, RoleSchema } from './schemas';

/** Defaults shared by most roles; a role overrides what differs. */
export const BASE_ROLE_DEFAULTS: RoleDefaults = {
  capacity: 2,
  minAgents: 1,
  maxAgents: 5,
  queueConcurrency: 5,
  timeoutSeconds: 300,
  targetLatencyMs: 30_000,
  idleTtlSeconds: 900,
  executor: { name: 'simulated' },
};

const PROMPT =
  'You are a {{role}} agent ({{roleDescription}}).\nTask {{taskId}}: {{description}}\n' +
  'Requirements: {{requirements}}\nAnswer with the work product only.';

function role(
  name: string,
  description: string,
  specializations: Role['specializations'],
  keywords: string[],
  defaults: Partial<RoleDefaults> = {},
): Role {
  return {
    name,
    description,
    specializations,
    keywords,
    promptTemplate: PROMPT,
    defaults: { ...BASE_ROLE_DEFAULTS, ...defaults },
  };
}

export const BUILTIN_ROLES: readonly Role[] = [
  role(
    'python_backend_coder',
    'Writes Python back-end services and APIs',
    {
      languages: ['python'],
      frameworks: ['fastapi', 'django', 'flask'],
      skills: ['backend', 'api', 'endpoint'],
    },
    ['python', 'endpoint', 'backend'],
  ),
  role(
    'typescript_frontend_agent',
    'Builds TypeScript front-end UI',
    {
      languages: ['typescript', 'javascript'],
      frameworks: ['react', 'vue', 'angular', 'nextjs'],
      skills: ['frontend', 'ui', 'component'],
    },
    ['frontend', 'react', 'form', 'component'],
  ),
  role(
    'api_integrator',
    'Integrates third-party APIs and webhooks',
    { languages: [], frameworks: ['rest', 'graphql', 'grpc'], skills: ['integration', 'webhook', 'oauth'] },
    ['integrate', 'webhook', 'third-party'],
  ),
  role(
    'database_designer',
    'Designs schemas, migrations and queries',
    {
      languages: ['sql'],
      frameworks: ['postgresql', 'mysql', 'dynamodb'],
      skills: ['schema', 'migration', 'index'],
    },
    ['schema', 'table', 'migration', 'sql'],
  ),
  role(
    'security_auditor',
    'Audits code and flows for vulnerabilities',
    { languages: [], frameworks: ['owasp'], skills: ['security', 'audit', 'vulnerability'] },
    ['security', 'audit', 'vulnerability'],
  ),
  role(
    'test_generator',
    'Writes unit tests',
    { languages: [], frameworks: ['pytest', 'jest', 'vitest'], skills: ['unit-test', 'coverage'] },
    ['unit test', 'tests', 'coverage'],
  ),
  role('code_reviewer', 'Reviews pull requests', { languages: [], frameworks: [], skills: ['review'] }, [
    'review',
    'pull request',
  ]),
  role(
    'quality_assurance',
    'Plans and runs QA',
    { languages: [], frameworks: [], skills: ['qa', 'test-plan'] },
    ['qa', 'acceptance', 'regression'],
  ),
  role(
    'integration_tester',
    'Writes integration and end-to-end tests',
    { languages: [], frameworks: ['playwright', 'cypress'], skills: ['integration-test', 'e2e'] },
    ['integration test', 'end-to-end'],
  ),
  role(
    'documentation_writer',
    'Writes developer documentation',
    { languages: ['markdown'], frameworks: [], skills: ['docs', 'readme'] },
    ['document', 'readme', 'docs'],
  ),
  role(
    'technical_writer',
    'Writes user guides and release notes',
    { languages: [], frameworks: [], skills: ['guide', 'release-notes'] },
    ['guide', 'tutorial', 'release notes'],
  ),
  role(
    'devops_engineer',
    'Builds CI/CD and infrastructure',
    {
      languages: ['yaml', 'bash'],
      frameworks: ['terraform', 'docker', 'kubernetes'],
      skills: ['ci', 'infrastructure'],
    },
    ['pipeline', 'ci', 'docker', 'terraform'],
  ),
  role(
    'deployment_coordinator',
    'Coordinates releases and rollouts',
    { languages: [], frameworks: [], skills: ['release', 'rollout'] },
    ['deploy', 'release', 'rollout'],
  ),
  role(
    'monitoring_agent',
    'Sets up monitoring, alerts and dashboards',
    {
      languages: [],
      frameworks: ['prometheus', 'grafana', 'cloudwatch'],
      skills: ['monitoring', 'alerting'],
    },
    ['monitor', 'alert', 'dashboard'],
  ),
  role(
    'configuration_manager',
    'Manages configuration and feature flags',
    { languages: ['yaml', 'json'], frameworks: [], skills: ['configuration', 'feature-flags'] },
    ['config', 'feature flag', 'environment variable'],
  ),
  role(
    'performance_optimizer',
    'Profiles and optimizes performance',
    { languages: [], frameworks: [], skills: ['performance', 'profiling'] },
    ['performance', 'latency', 'optimize'],
  ),
  role(
    'refactoring_specialist',
    'Refactors code without changing behaviour',
    { languages: [], frameworks: [], skills: ['refactoring'] },
    ['refactor', 'clean up', 'legacy'],
  ),
  role(
    'error_handler',
    'Adds error handling, retries and resilience',
    { languages: [], frameworks: [], skills: ['error-handling', 'retry'] },
    ['error handling', 'retry', 'exception'],
  ),
  role(
    'ui_ux_designer',
    'Designs user experience and interfaces',
    { languages: [], frameworks: ['figma'], skills: ['ux', 'wireframe', 'accessibility'] },
    ['ux', 'wireframe', 'design'],
  ),
  role(
    'system_architect',
    'Designs system architecture',
    { languages: [], frameworks: [], skills: ['architecture', 'design'] },
    ['architecture', 'design', 'scalability'],
  ),
  role(
    'data_analyst',
    'Analyses data and builds reports',
    { languages: ['python', 'sql'], frameworks: ['pandas'], skills: ['analysis', 'report'] },
    ['analyze', 'data', 'report', 'metrics'],
  ),
  role(
    'hrm_reasoning_agent',
    'Hierarchical reasoning for complex multi-step problems',
    { languages: [], frameworks: [], skills: ['reasoning', 'planning'] },
    ['reason', 'plan', 'decompose'],
    { capacity: 1 },
  ),
];

/** Names of the built-in roles, in catalog order. */
export const BUILTIN_ROLE_NAMES: readonly string[] = BUILTIN_ROLES.map((r) => r.name);

/** A role catalog keyed by name. */
export type RoleCatalog = ReadonlyMap<string, Role>;

export class RoleConfigError extends Error {
  constructor(readonly issues: { path: string; message: string }[]) {
    super(`Invalid role configuration: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
    this.name = 'RoleConfigError';
  }
}

/** A role override: the name plus any fields to change; a new role must give every field. */
const RoleOverrideSchema = RoleSchema.partial().extend({
  name: RoleSchema.shape.name,
  defaults: RoleSchema.shape.defaults.partial().optional(),
});

/**
 * The catalog: built-in roles with user overrides merged over them (by name), and new roles added.
 * Throws RoleConfigError naming the path of every problem.
 */
export function resolveRoles(overrides: unknown = []): RoleCatalog {
  const catalog = new Map(BUILTIN_ROLES.map((r) => [r.name, r] as const));
  const parsed = z.array(RoleOverrideSchema).safeParse(overrides);
  if (!parsed.success) {
    throw new RoleConfigError(
      parsed.error.issues.map((i) => ({
        path: `$.roles${i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('')}`,
        message: i.message,
      })),
    );
  }
  const issues: { path: string; message: string }[] = [];
  parsed.data.forEach((override, index) => {
    const base = catalog.get(override.name);
    const merged = {
      ...base,
      ...override,
      defaults: { ...(base?.defaults ?? BASE_ROLE_DEFAULTS), ...override.defaults },
    };
    const result = RoleSchema.safeParse(merged);
    if (!result.success) {
      for (const issue of result.error.issues) {
        issues.push({
          path: `$.roles[${index}].${issue.path.join('.')}`,
          message: base ? issue.message : `new role "${override.name}" needs it: ${issue.message}`,
        });
      }
      return;
    }
    if (result.data.defaults.minAgents > result.data.defaults.maxAgents) {
      issues.push({
        path: `$.roles[${index}].defaults.minAgents`,
        message: 'minAgents must not exceed maxAgents',
      });
      return;
    }
    catalog.set(result.data.name, result.data);
  });
  if (issues.length > 0) throw new RoleConfigError(issues);
  return catalog;
}
