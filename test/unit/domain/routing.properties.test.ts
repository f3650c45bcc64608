import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { resolveRoles } from '../../../shared/domain/roles';
import {
  decideRoute,
  extractRequirements,
  newAgent,
  ROUTING_WEIGHTS,
  SCORE_TIE_MARGIN,
  scoreAgent,
  spreadAfterLostRace,
} from '../../../shared/domain/routing';
import type { Agent, ExtractedRequirements, Role } from '../../../shared/domain/schemas';

const catalog = resolveRoles();
const ROLE_NAMES = [...catalog.keys()];
const TERMS = [
  'python',
  'typescript',
  'react',
  'django',
  'sql',
  'migration',
  'review',
  'docker',
  'retry',
  'ux',
];

function roleNamed(name: string): Role {
  const role = catalog.get(name);
  if (!role) throw new Error(`no role ${name}`);
  return role;
}

const agentArb: fc.Arbitrary<Agent> = fc
  .record({
    role: fc.constantFrom(...ROLE_NAMES),
    id: fc.string({ minLength: 1, maxLength: 8 }),
    capacity: fc.integer({ min: 1, max: 100 }),
    reservedShare: fc.double({ min: 0, max: 1.5, noNaN: true }),
    attempts: fc.integer({ min: 0, max: 10_000 }),
    successShare: fc.double({ min: 0, max: 1, noNaN: true }),
    latency: fc.option(fc.double({ min: 0, max: 1e8, noNaN: true }), { nil: undefined }),
    specializations: fc.subarray(TERMS),
  })
  .map((a) => {
    const successes = Math.floor(a.attempts * a.successShare);
    return {
      ...newAgent(roleNamed(a.role), a.id, 0),
      specializations: a.specializations,
      capacity: a.capacity,
      reserved: Math.floor(a.capacity * a.reservedShare),
      attempts: a.attempts,
      successes,
      failures: a.attempts - successes,
      ...(a.latency === undefined ? {} : { ewmaLatencyMs: a.latency }),
    };
  });

const requirementsArb: fc.Arbitrary<ExtractedRequirements> = fc.record({
  languages: fc.subarray(TERMS.slice(0, 5)),
  frameworks: fc.subarray(TERMS.slice(5)),
  skills: fc.subarray(['review', 'retry', 'ux']),
  complexity: fc.constantFrom('low' as const, 'medium' as const, 'high' as const),
  roleCandidates: fc.uniqueArray(
    fc.record({
      role: fc.constantFrom(...ROLE_NAMES),
      confidence: fc.double({ min: 0, max: 1, noNaN: true }),
    }),
    { selector: (c) => c.role, maxLength: 4 },
  ),
});

function scoreOf(agent: Agent, requirements: ExtractedRequirements) {
  return scoreAgent(agent, requirements, roleNamed(agent.role));
}

const inUnit = (x: number) => x >= 0 && x <= 1;

describe('score properties', () => {
  it('keeps the score and every term in [0, 1] for arbitrary agents and metrics', () => {
    fc.assert(
      fc.property(agentArb, requirementsArb, (agent, requirements) => {
        const { score, breakdown } = scoreOf(agent, requirements);
        expect(inUnit(score)).toBe(true);
        for (const term of Object.values(breakdown)) expect(inUnit(term)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('raises the score strictly when the load drops', () => {
    fc.assert(
      fc.property(
        agentArb.filter((a) => a.reserved >= 1 && a.reserved <= a.capacity),
        requirementsArb,
        (agent, requirements) => {
          const lighter = { ...agent, reserved: agent.reserved - 1 };
          expect(scoreOf(lighter, requirements).score).toBeGreaterThan(scoreOf(agent, requirements).score);
        },
      ),
    );
  });

  it('raises the score strictly with one more success among the same attempts', () => {
    fc.assert(
      fc.property(
        agentArb.filter((a) => a.successes < a.attempts),
        requirementsArb,
        (agent, requirements) => {
          const better = { ...agent, successes: agent.successes + 1, failures: agent.failures - 1 };
          expect(scoreOf(better, requirements).score).toBeGreaterThan(scoreOf(agent, requirements).score);
        },
      ),
    );
  });

  it('raises the score strictly with one more successful attempt', () => {
    fc.assert(
      fc.property(agentArb, requirementsArb, (agent, requirements) => {
        const better = { ...agent, attempts: agent.attempts + 1, successes: agent.successes + 1 };
        expect(scoreOf(better, requirements).score).toBeGreaterThan(scoreOf(agent, requirements).score);
      }),
    );
  });

  it('never lowers the score when the latency drops, and raises it while slower than the target', () => {
    fc.assert(
      fc.property(
        agentArb.filter((a) => a.ewmaLatencyMs !== undefined && a.ewmaLatencyMs > 1),
        requirementsArb,
        fc.double({ min: 0.01, max: 0.99, noNaN: true }),
        (agent, requirements, factor) => {
          const latency = agent.ewmaLatencyMs ?? 0;
          const faster = { ...agent, ewmaLatencyMs: latency * factor };
          const before = scoreOf(agent, requirements).score;
          const after = scoreOf(faster, requirements).score;
          expect(after).toBeGreaterThanOrEqual(before);
          if (latency > roleNamed(agent.role).defaults.targetLatencyMs) expect(after).toBeGreaterThan(before);
        },
      ),
    );
  });

  it('raises the score strictly when the agent covers one more requested term', () => {
    fc.assert(
      fc.property(agentArb, requirementsArb, (agent, requirements) => {
        const requested = [...requirements.languages, ...requirements.frameworks, ...requirements.skills];
        const missing = requested.find((t) => !agent.specializations.includes(t));
        fc.pre(missing !== undefined);
        const better = { ...agent, specializations: [...agent.specializations, missing as string] };
        expect(scoreOf(better, requirements).score).toBeGreaterThan(scoreOf(agent, requirements).score);
      }),
    );
  });

  it('raises the score strictly when the role fits better', () => {
    fc.assert(
      fc.property(
        agentArb,
        requirementsArb,
        fc.double({ min: 0, max: 0.99, noNaN: true }),
        (agent, base, fit) => {
          const others = base.roleCandidates.filter((c) => c.role !== agent.role);
          const low = { ...base, roleCandidates: [{ role: agent.role, confidence: fit }, ...others] };
          const high = { ...base, roleCandidates: [{ role: agent.role, confidence: fit + 0.01 }, ...others] };
          expect(scoreOf(agent, high).score).toBeGreaterThan(scoreOf(agent, low).score);
        },
      ),
    );
  });

  it('routes every task to one of the candidates, the best one or a near-tie of its role, whatever the agent order', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(agentArb, { selector: (a) => a.agentId, maxLength: 30 }),
        requirementsArb,
        (agents, requirements) => {
          const request = {
            task: { id: 't', description: 'x' },
            requirements,
            catalog,
            exclude: new Set<string>(),
            now: 0,
          };
          const forward = decideRoute({ ...request, agents });
          const backward = decideRoute({ ...request, agents: [...agents].reverse() });
          expect(backward).toEqual(
            forward.kind === 'route'
              ? { kind: 'route', decision: { ...forward.decision, rejected: expect.any(Array) } }
              : { ...forward, rejected: expect.any(Array) },
          );
          if (forward.kind === 'route') {
            const { decision } = forward;
            expect(decision.candidates.length + decision.rejected.length).toBe(agents.length);
            // The best, or a near-tie of the best's role (the tie-break spreads tasks over such agents).
            for (const c of decision.candidates) {
              if (c.score <= decision.score) continue;
              expect(c.score - decision.score).toBeLessThanOrEqual(SCORE_TIE_MARGIN + 1e-12);
              expect(c.role).toBe(decision.role);
            }
          }
        },
      ),
    );
  });
});

describe('spreadAfterLostRace', () => {
  const role = roleNamed('python_backend_coder');
  /** Five interchangeable agents of one role, the first one the emptiest: decideRoute picks it for every task. */
  const pool = [0, 1, 1, 1, 1].map((reserved, i) => ({
    ...newAgent(role, `${role.name}-${i + 1}`, 0),
    capacity: 2,
    reserved,
  }));
  const routeOf = (taskId: string) => {
    const task = { id: taskId, description: 'write a FastAPI endpoint', role: role.name };
    const result = decideRoute({
      task,
      requirements: extractRequirements(task, catalog),
      agents: pool,
      catalog,
      exclude: new Set(),
      now: 0,
    });
    if (result.kind !== 'route') throw new Error('no route');
    return result.decision;
  };

  it('spreads the routers that lost a race over the free agents of the role, not only the emptiest', () => {
    const ids = Array.from({ length: 200 }, (_, i) => `task-${i}`);
    const first = new Set(ids.map((id) => routeOf(id).agentId));
    const spread = ids.map((id) => spreadAfterLostRace(routeOf(id), ROUTING_WEIGHTS.availability).agentId);

    expect([...first]).toEqual([`${role.name}-1`]);
    expect(new Set(spread).size).toBe(pool.length);
    // Deterministic for a task, so a repeated route of it makes the same choice.
    expect(spreadAfterLostRace(routeOf('task-7'), ROUTING_WEIGHTS.availability)).toEqual(
      spreadAfterLostRace(routeOf('task-7'), ROUTING_WEIGHTS.availability),
    );
  });

  it('keeps to candidates of the best role within the margin, and to the decision within the tie margin', () => {
    fc.assert(
      fc.property(
        fc.array(agentArb, { maxLength: 12 }),
        requirementsArb,
        fc.string(),
        (agents, requirements, id) => {
          const result = decideRoute({
            task: { id: id || 't', description: 'x' },
            requirements,
            agents,
            catalog,
            exclude: new Set<string>(),
            now: 0,
          });
          if (result.kind !== 'route') return;
          const best = Math.max(...result.decision.candidates.map((c) => c.score));
          const spread = spreadAfterLostRace(result.decision, ROUTING_WEIGHTS.availability);
          expect(spread.role).toBe(result.decision.role);
          expect(best - spread.score).toBeLessThanOrEqual(ROUTING_WEIGHTS.availability + 1e-12);
          expect(spread.candidates[0]?.agentId).toBe(spread.agentId);
          expect(spreadAfterLostRace(result.decision, SCORE_TIE_MARGIN).agentId).toBe(
            result.decision.agentId,
          );
        },
      ),
    );
  });
});
