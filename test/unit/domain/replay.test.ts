import { describe, expect, it } from 'vitest';
import { replayDecisions } from '../../../shared/domain/replay';
import { resolveRoles } from '../../../shared/domain/roles';
import {
  decideRoute,
  extractRequirements,
  newAgent,
  ROUTING_WEIGHTS,
  spreadAfterLostRace,
} from '../../../shared/domain/routing';
import type { Agent, StoredDecision } from '../../../shared/domain/schemas';

const catalog = resolveRoles();
const SPECIALIZATION_ONLY = { specialization: 1, availability: 0, success: 0, speed: 0 };

function agent(role: string, n: number, metrics: Partial<Agent> = {}): Agent {
  const template = catalog.get(role);
  if (!template) throw new Error(role);
  return { ...newAgent(template, `${role}-${n}`, 0), status: 'active', ...metrics };
}

/** Routes `description` against `agents` as the router does and stores the decision as the API returns it. */
function stored(taskId: string, description: string, agents: Agent[]): StoredDecision {
  const task = { id: taskId, description };
  const requirements = extractRequirements(task, catalog);
  const result = decideRoute({ task, requirements, agents, catalog, exclude: new Set(), now: 0 });
  if (result.kind !== 'route') throw new Error(`${taskId} did not route`);
  return { taskId, description, status: 'SUCCEEDED', decision: result.decision };
}

/** A small batch whose agents differ in load, success and speed. */
function batch(): StoredDecision[] {
  const pool = [
    // Two roles the text cannot tell apart: the lesser fit is idle and reliable, the better one busy and failing.
    agent('test_generator', 1, {
      reserved: 2,
      capacity: 3,
      attempts: 10,
      successes: 4,
      ewmaLatencyMs: 90_000,
    }),
    agent('documentation_writer', 1, { attempts: 10, successes: 10, ewmaLatencyMs: 5_000 }),
    agent('documentation_writer', 2, { reserved: 1, attempts: 2, successes: 1 }),
    agent('code_reviewer', 1, { reserved: 1, attempts: 6, successes: 6 }),
    agent('code_reviewer', 2, { attempts: 6, successes: 2, ewmaLatencyMs: 60_000 }),
  ];
  return [
    stored('tests-and-docs', 'Add tests and docs', pool),
    stored('review', 'Review the deployment pipeline', pool),
    stored('docs', 'Document and review the changes', pool),
    { taskId: 'never-routed', description: 'Write the release notes', status: 'SKIPPED' },
  ];
}

describe('replayDecisions', () => {
  it('changes nothing under the weights the decisions were made with', () => {
    const report = replayDecisions(batch(), { weights: ROUTING_WEIGHTS });

    expect(report.replayed).toBe(3);
    expect(report.changes).toEqual([]);
  });

  it('changes nothing for decisions made after a lost reservation race, which spread over near-best agents', () => {
    // Four agents of one role with different loads: after a lost race a router picks among those within the
    // availability weight of the best, by a hash of the task id, so for some tasks not the best one.
    const pool = [0, 1, 2, 3].map((n) => agent('test_generator', n + 1, { reserved: n, capacity: 5 }));
    const spread: StoredDecision[] = [];
    for (let i = 0; spread.length < 3 && i < 200; i++) {
      const entry = stored(`t-${i}`, 'Write unit tests for the parser', pool);
      const decision = entry.decision;
      if (!decision) continue;
      const after = spreadAfterLostRace(decision, ROUTING_WEIGHTS.availability);
      if (after.agentId !== decision.agentId) spread.push({ ...entry, decision: after });
    }

    const report = replayDecisions(spread);

    expect(spread).toHaveLength(3);
    expect(report.replayed).toBe(3);
    expect(report.changes).toEqual([]);
  });

  it('with weights 1,0,0,0 sends every task to a candidate of the highest specialization, listing the moves', () => {
    const decisions = batch();

    const report = replayDecisions(decisions, { weights: SPECIALIZATION_ONLY });

    for (const entry of decisions) {
      if (!entry.decision) continue;
      const best = Math.max(...entry.decision.candidates.map((c) => c.breakdown.specialization));
      const change = report.changes.find((c) => c.taskId === entry.taskId);
      const winner = change?.replayed.specialization ?? entry.decision.breakdown.specialization;
      expect(winner, entry.taskId).toBe(best);
    }
    // The busy, failing test generator fits "Add tests and docs" best: it lost on load, it wins on fit alone.
    expect(report.changes).toContainEqual(
      expect.objectContaining({
        taskId: 'tests-and-docs',
        stored: expect.objectContaining({ role: 'documentation_writer' }),
        replayed: expect.objectContaining({ role: 'test_generator', agentId: 'test_generator-1' }),
        hypothetical: false,
      }),
    );
    expect(report.roleMoves).toEqual({ 'documentation_writer -> test_generator': 1 });
    expect(report.skipped).toEqual([
      { taskId: 'never-routed', reason: 'no routing decision (task SKIPPED)' },
    ]);
  });

  it('replays under another role catalog from the descriptions, scoring a role without agents as a fresh one', () => {
    const renamed = resolveRoles([
      { name: 'code_reviewer', keywords: ['critique'] },
      {
        name: 'pipeline_reviewer',
        description: 'Reviews CI/CD pipelines',
        specializations: { languages: [], frameworks: [], skills: ['pipeline review'] },
        keywords: ['review the deployment pipeline', 'pipeline'],
        promptTemplate: '{{description}}',
      },
    ]);

    const report = replayDecisions(batch(), { catalog: renamed });

    expect(report.recatalogued).toBe(true);
    expect(report.changes).toContainEqual(
      expect.objectContaining({
        taskId: 'review',
        stored: expect.objectContaining({ role: 'code_reviewer' }),
        replayed: expect.objectContaining({ role: 'pipeline_reviewer', agentId: 'pipeline_reviewer-1' }),
        hypothetical: true,
      }),
    );
  });
});
