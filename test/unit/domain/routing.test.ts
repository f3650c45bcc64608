import { describe, expect, it } from 'vitest';
import { resolveRoles } from '../../../shared/domain/roles';
import {
  COVERAGE_SHARE,
  candidateRoles,
  decideRoute,
  defaultAgentPool,
  extractRequirements,
  newAgent,
  REJECTION_REASONS,
  ROLE_FIT_SHARE,
  ROUTING_WEIGHTS,
  type RouteRequest,
  scoreAgent,
} from '../../../shared/domain/routing';
import {
  type Agent,
  type ExtractedRequirements,
  type Role,
  RoutingDecisionSchema,
} from '../../../shared/domain/schemas';

const catalog = resolveRoles();
const NOW = 1_000_000;

function roleNamed(name: string): Role {
  const role = catalog.get(name);
  if (!role) throw new Error(`no role ${name}`);
  return role;
}

function agent(role: string, id: string, patch: Partial<Agent> = {}): Agent {
  return { ...newAgent(roleNamed(role), id, 0), ...patch };
}

function requirementsFor(role: string, patch: Partial<ExtractedRequirements> = {}): ExtractedRequirements {
  return {
    languages: [],
    frameworks: [],
    skills: [],
    complexity: 'medium',
    roleCandidates: [{ role, confidence: 0.8 }],
    ...patch,
  };
}

function request(
  agents: Agent[],
  requirements: ExtractedRequirements,
  patch: Partial<RouteRequest> = {},
): RouteRequest {
  return {
    task: { id: 'task-1', description: 'x' },
    requirements,
    agents,
    catalog,
    exclude: new Set(),
    now: NOW,
    ...patch,
  };
}

function decision(result: ReturnType<typeof decideRoute>) {
  if (result.kind !== 'route') throw new Error(`expected a route, got none for ${result.role}`);
  return result.decision;
}

describe('scoreAgent terms', () => {
  const backend = roleNamed('python_backend_coder');

  it('weights the four terms 0.40 / 0.30 / 0.20 / 0.10', () => {
    expect(ROUTING_WEIGHTS).toEqual({ specialization: 0.4, availability: 0.3, success: 0.2, speed: 0.1 });
  });

  it('scores a fresh, idle agent of the only candidate role from its fit alone when nothing is requested', () => {
    const { score, breakdown } = scoreAgent(
      agent('python_backend_coder', 'a'),
      requirementsFor('python_backend_coder'),
      backend,
    );

    expect(breakdown).toEqual({ specialization: 0.8, availability: 1, success: 0.5, speed: 1 });
    expect(score).toBeCloseTo(0.4 * 0.8 + 0.3 + 0.2 * 0.5 + 0.1, 12);
  });

  it('measures availability as 1 - reserved / capacity', () => {
    const { breakdown } = scoreAgent(
      agent('python_backend_coder', 'a', { capacity: 4, reserved: 1 }),
      requirementsFor('python_backend_coder'),
      backend,
    );

    expect(breakdown.availability).toBeCloseTo(0.75, 12);
  });

  it('smooths the success rate as (successes + 1) / (attempts + 2)', () => {
    const { breakdown } = scoreAgent(
      agent('python_backend_coder', 'a', { attempts: 8, successes: 6, failures: 2 }),
      requirementsFor('python_backend_coder'),
      backend,
    );

    expect(breakdown.success).toBeCloseTo(7 / 10, 12);
  });

  it('measures speed against the role target latency, capped at 1', () => {
    const target = backend.defaults.targetLatencyMs;
    const slow = scoreAgent(
      agent('python_backend_coder', 'a', { ewmaLatencyMs: target * 4 }),
      requirementsFor('python_backend_coder'),
      backend,
    );
    const fast = scoreAgent(
      agent('python_backend_coder', 'a', { ewmaLatencyMs: target / 2 }),
      requirementsFor('python_backend_coder'),
      backend,
    );

    expect(slow.breakdown.speed).toBeCloseTo(0.25, 12);
    expect(fast.breakdown.speed).toBe(1);
  });

  it('splits specialization between role fit and coverage of the requested terms', () => {
    const requirements = requirementsFor('python_backend_coder', {
      languages: ['python'],
      frameworks: ['django', 'litestar'],
    });
    const { breakdown } = scoreAgent(agent('python_backend_coder', 'a'), requirements, backend);

    expect(breakdown.specialization).toBeCloseTo(ROLE_FIT_SHARE * 0.8 + COVERAGE_SHARE * (2 / 3), 12);
  });

  it('prefers the agent whose specializations cover the requested framework', () => {
    const requirements = requirementsFor('python_backend_coder', { frameworks: ['django'] });
    const djangoAgent = agent('python_backend_coder', 'b-django', { specializations: ['python', 'django'] });
    const flaskAgent = agent('python_backend_coder', 'a-flask', { specializations: ['python', 'flask'] });

    const result = decision(decideRoute(request([flaskAgent, djangoAgent], requirements)));

    expect(result.agentId).toBe('b-django');
  });

  it('gives full fit to the agent of an explicit role', () => {
    const requirements = requirementsFor('code_reviewer', {
      explicitRole: 'code_reviewer',
      roleCandidates: [{ role: 'code_reviewer', confidence: 1 }],
    });

    const { breakdown } = scoreAgent(agent('code_reviewer', 'r'), requirements, roleNamed('code_reviewer'));

    expect(breakdown.specialization).toBe(1);
  });
});

describe('decideRoute filtering', () => {
  it('rejects agents at capacity, with an open circuit, draining, terminated or excluded, with reasons', () => {
    const agents = [
      agent('test_generator', 'full', { reserved: 3, capacity: 3 }),
      agent('test_generator', 'open', { circuit: 'open', circuitOpenUntil: NOW + 1 }),
      agent('test_generator', 'drain', { status: 'draining' }),
      agent('test_generator', 'gone', { status: 'terminated' }),
      agent('test_generator', 'failed'),
      agent('code_reviewer', 'reviewer'),
      agent('test_generator', 'ok'),
    ];

    const result = decision(
      decideRoute(request(agents, requirementsFor('test_generator'), { exclude: new Set(['failed']) })),
    );

    expect(result.agentId).toBe('ok');
    expect(result.candidates.map((c) => c.agentId)).toEqual(['ok']);
    expect(result.rejected).toEqual([
      { agentId: 'full', reason: REJECTION_REASONS.atCapacity },
      { agentId: 'open', reason: REJECTION_REASONS.circuitOpen },
      { agentId: 'drain', reason: REJECTION_REASONS.draining },
      { agentId: 'gone', reason: REJECTION_REASONS.terminated },
      { agentId: 'failed', reason: REJECTION_REASONS.excluded },
      { agentId: 'reviewer', reason: REJECTION_REASONS.notCandidateRole },
    ]);
  });

  it('accepts an agent whose circuit cool-down has ended, and a half-open one', () => {
    const agents = [
      agent('test_generator', 'cooled', { circuit: 'open', circuitOpenUntil: NOW }),
      agent('test_generator', 'half', { circuit: 'half_open' }),
    ];

    const result = decision(decideRoute(request(agents, requirementsFor('test_generator'))));

    expect(result.candidates.map((c) => c.agentId).sort()).toEqual(['cooled', 'half']);
  });

  it('keeps agents of other roles out when the task has a hard role', () => {
    const requirements = requirementsFor('code_reviewer', {
      explicitRole: 'code_reviewer',
      roleCandidates: [{ role: 'code_reviewer', confidence: 1 }],
    });
    const agents = [agent('test_generator', 'tester'), agent('code_reviewer', 'reviewer')];

    const result = decision(decideRoute(request(agents, requirements)));

    expect(result.agentId).toBe('reviewer');
    expect(result.rejected).toEqual([{ agentId: 'tester', reason: REJECTION_REASONS.otherRole }]);
  });

  it('answers none with the role to spawn when every agent is rejected', () => {
    const agents = [agent('test_generator', 'full', { reserved: 3, capacity: 3 })];

    const result = decideRoute(request(agents, requirementsFor('test_generator')));

    expect(result).toEqual({
      kind: 'none',
      role: 'test_generator',
      rejected: [{ agentId: 'full', reason: REJECTION_REASONS.atCapacity }],
    });
  });
});

describe('candidate roles', () => {
  it('lets roles within the margin of the best compete, and the better agent win', () => {
    const requirements = requirementsFor('test_generator', {
      roleCandidates: [
        { role: 'test_generator', confidence: 0.6 },
        { role: 'integration_tester', confidence: 0.58 },
        { role: 'code_reviewer', confidence: 0.2 },
      ],
    });
    const busyTester = agent('test_generator', 'unit', { capacity: 4, reserved: 3 });
    const idleIntegration = agent('integration_tester', 'integ');

    const result = decision(
      decideRoute(request([busyTester, idleIntegration, agent('code_reviewer', 'rev')], requirements)),
    );

    expect(candidateRoles(requirements)).toEqual(['test_generator', 'integration_tester']);
    expect(result.agentId).toBe('integ');
    expect(result.rejected).toEqual([{ agentId: 'rev', reason: REJECTION_REASONS.notCandidateRole }]);
  });

  it('prefers the better-fitting role between equal agents', () => {
    const requirements = requirementsFor('test_generator', {
      roleCandidates: [
        { role: 'test_generator', confidence: 0.6 },
        { role: 'integration_tester', confidence: 0.58 },
      ],
    });

    const result = decision(
      decideRoute(request([agent('integration_tester', 'a'), agent('test_generator', 'b')], requirements)),
    );

    expect(result.agentId).toBe('b');
  });

  it('falls back to the reasoning agent role when there is no candidate role', () => {
    expect(candidateRoles(requirementsFor('x', { roleCandidates: [] }))).toEqual(['hrm_reasoning_agent']);
  });
});

describe('decideRoute tie-break and content', () => {
  it('breaks a tie the same way for the same task, whatever the order of the agents', () => {
    const agents = [agent('test_generator', 'b'), agent('test_generator', 'c'), agent('test_generator', 'a')];

    const forward = decision(decideRoute(request(agents, requirementsFor('test_generator'))));
    const backward = decision(decideRoute(request([...agents].reverse(), requirementsFor('test_generator'))));

    expect(backward.agentId).toBe(forward.agentId);
    expect(forward.candidates[0]?.agentId).toBe(forward.agentId);
    expect(forward.candidates.map((c) => c.agentId).sort()).toEqual(['a', 'b', 'c']);
  });

  it('spreads tasks over agents that score within the tie margin', () => {
    // Identical but for a success record differing by one task: far below the tie margin.
    const agents = Array.from({ length: 5 }, (_, i) =>
      agent('test_generator', `tg-${i + 1}`, { attempts: 40 + i, successes: 40 + i }),
    );
    const wins = new Map<string, number>();
    for (let t = 0; t < 200; t++) {
      const d = decision(
        decideRoute(
          request(agents, requirementsFor('test_generator'), { task: { id: `t-${t}`, description: 'x' } }),
        ),
      );
      wins.set(d.agentId, (wins.get(d.agentId) ?? 0) + 1);
    }

    expect([...wins.keys()].sort()).toEqual(['tg-1', 'tg-2', 'tg-3', 'tg-4', 'tg-5']);
    for (const count of wins.values()) expect(count).toBeGreaterThan(15);
  });

  it('never lets the tie-break outweigh one reserved slot or another role', () => {
    const free = agent('test_generator', 'z-free');
    const busier = agent('test_generator', 'a-busier', { reserved: 1, capacity: 29 });
    const otherRole = agent('code_reviewer', 'a-other');
    const requirements = requirementsFor('test_generator', {
      roleCandidates: [
        { role: 'test_generator', confidence: 0.8 },
        { role: 'code_reviewer', confidence: 0.79 },
      ],
    });
    for (let t = 0; t < 50; t++) {
      const d = decision(
        decideRoute(
          request([busier, otherRole, free], requirements, { task: { id: `t-${t}`, description: 'x' } }),
        ),
      );

      expect(d.agentId).toBe('z-free');
    }
  });

  it('gives the same decision whatever the order of the agents', () => {
    const agents = [
      agent('test_generator', 'x', { attempts: 5, successes: 5 }),
      agent('test_generator', 'y', { reserved: 1 }),
      agent('test_generator', 'z', { ewmaLatencyMs: 90_000 }),
    ];

    const forward = decision(decideRoute(request(agents, requirementsFor('test_generator'))));
    const backward = decision(decideRoute(request([...agents].reverse(), requirementsFor('test_generator'))));

    expect(backward.candidates).toEqual(forward.candidates);
    expect(forward.agentId).toBe('x');
  });

  it('keeps the winner, every candidate breakdown and the requirements, valid against the schema', () => {
    const task = { id: 'checkout-review', description: 'Review the TypeScript PR for the checkout page' };
    const requirements = extractRequirements(task, catalog);
    const agents = [
      ...defaultAgentPool(catalog, 0),
      agent('code_reviewer', 'code_reviewer-2', { reserved: 1 }),
    ];

    const result = decision(
      decideRoute({ task, requirements, agents, catalog, exclude: new Set(), now: NOW }),
    );

    expect(RoutingDecisionSchema.safeParse(result).success).toBe(true);
    expect(result).toMatchObject({
      taskId: 'checkout-review',
      agentId: 'code_reviewer-1',
      role: 'code_reviewer',
    });
    expect(result.requirements).toBe(requirements);
    expect(result.decidedAt).toBe(NOW);
    expect(result.spawned).toBe(false);
    expect(result.candidates.map((c) => c.agentId)).toEqual(['code_reviewer-1', 'code_reviewer-2']);
    expect(result.score).toBe(result.candidates[0]?.score);
    expect(result.breakdown).toEqual(result.candidates[0]?.breakdown);
    expect(result.candidates.length + result.rejected.length).toBe(agents.length);
  });
});

describe('agent pool', () => {
  it('creates one fresh idle agent per role', () => {
    const pool = defaultAgentPool(catalog, 42);

    expect(pool).toHaveLength(22);
    expect(pool[0]).toMatchObject({
      agentId: 'python_backend_coder-1',
      status: 'idle',
      reserved: 0,
      attempts: 0,
      circuit: 'closed',
      createdAt: 42,
    });
    expect(pool[0]?.specializations).toContain('fastapi');
  });
});
