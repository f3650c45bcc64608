/**
 * Requirement extraction and router scoring:
 *   score = 0.40 specialization + 0.30 (1 - load) + 0.20 success + 0.10 speed, every term in [0, 1].
 * FIRST CUT: signatures are the contract; the foundation work completes and tests them.
 */
import type { RoleCatalog } from './roles';
import type { Agent, ExtractedRequirements, Role, RoutingDecision, ScoreBreakdown, Task } from './schemas';

export const ROUTING_WEIGHTS = { specialization: 0.4, availability: 0.3, success: 0.2, speed: 0.1 } as const;

/** Explicit role / requirements win; otherwise infer from the description. Pure and deterministic. */
export function extractRequirements(task: Task, catalog: RoleCatalog): ExtractedRequirements {
  const text = task.description.toLowerCase();
  const candidates = [...catalog.values()]
    .map((r) => ({ role: r.name, hits: r.keywords.filter((k) => text.includes(k)).length }))
    .filter((c) => c.hits > 0)
    .sort((a, b) => b.hits - a.hits || a.role.localeCompare(b.role))
    .map((c) => ({ role: c.role, confidence: Math.min(1, c.hits / 3) }));
  return {
    ...(task.role === undefined ? {} : { explicitRole: task.role }),
    languages: task.requirements?.languages ?? [],
    frameworks: task.requirements?.frameworks ?? [],
    skills: task.requirements?.skills ?? [],
    complexity: 'medium',
    roleCandidates: task.role ? [{ role: task.role, confidence: 1 }] : candidates,
  };
}

/** One candidate's terms and weighted score. */
export function scoreAgent(
  agent: Agent,
  requirements: ExtractedRequirements,
  role: Role,
): { score: number; breakdown: ScoreBreakdown } {
  const fit = requirements.roleCandidates.find((c) => c.role === agent.role)?.confidence ?? 0;
  const breakdown: ScoreBreakdown = {
    specialization: fit,
    availability: 1 - Math.min(1, agent.reserved / agent.capacity),
    success: (agent.successes + 1) / (agent.attempts + 2),
    speed:
      agent.ewmaLatencyMs === undefined
        ? 1
        : Math.min(1, role.defaults.targetLatencyMs / Math.max(1, agent.ewmaLatencyMs)),
  };
  const score =
    ROUTING_WEIGHTS.specialization * breakdown.specialization +
    ROUTING_WEIGHTS.availability * breakdown.availability +
    ROUTING_WEIGHTS.success * breakdown.success +
    ROUTING_WEIGHTS.speed * breakdown.speed;
  return { score, breakdown };
}

export interface RouteRequest {
  task: Task;
  requirements: ExtractedRequirements;
  agents: readonly Agent[];
  catalog: RoleCatalog;
  /** Agents that already failed this task. */
  exclude: ReadonlySet<string>;
  now: number;
}

export type RouteResult =
  | { kind: 'route'; decision: RoutingDecision }
  /** No eligible agent: `role` is the role to spawn for (the caller spawns or waits). */
  | { kind: 'none'; role: string; rejected: RoutingDecision['rejected'] };

/** The role the task should go to: the explicit role, else the best inferred candidate. */
export function targetRole(
  requirements: ExtractedRequirements,
  fallbackRole = 'hrm_reasoning_agent',
): string {
  return requirements.explicitRole ?? requirements.roleCandidates[0]?.role ?? fallbackRole;
}

/** Filters, scores and picks; ties break on agent id. */
export function decideRoute(request: RouteRequest): RouteResult {
  const role = targetRole(request.requirements);
  const rejected: RoutingDecision['rejected'] = [];
  const scored = [];
  for (const agent of request.agents) {
    const agentRole = request.catalog.get(agent.role);
    if (!agentRole || agent.role !== role) continue;
    if (request.exclude.has(agent.agentId))
      rejected.push({ agentId: agent.agentId, reason: 'failed this task before' });
    else if (agent.status === 'terminated' || agent.status === 'draining')
      rejected.push({ agentId: agent.agentId, reason: agent.status });
    else if (agent.circuit === 'open' && (agent.circuitOpenUntil ?? 0) > request.now)
      rejected.push({ agentId: agent.agentId, reason: 'circuit open' });
    else if (agent.reserved >= agent.capacity)
      rejected.push({ agentId: agent.agentId, reason: 'at capacity' });
    else
      scored.push({
        agentId: agent.agentId,
        role: agent.role,
        ...scoreAgent(agent, request.requirements, agentRole),
      });
  }
  scored.sort((a, b) => b.score - a.score || a.agentId.localeCompare(b.agentId));
  const best = scored[0];
  if (!best) return { kind: 'none', role, rejected };
  return {
    kind: 'route',
    decision: {
      taskId: request.task.id,
      agentId: best.agentId,
      role: best.role,
      score: best.score,
      breakdown: best.breakdown,
      candidates: scored,
      rejected,
      requirements: request.requirements,
      spawned: false,
      decidedAt: request.now,
    },
  };
}

/** A fresh logical agent of `role`. */
export function newAgent(role: Role, agentId: string, now: number): Agent {
  return {
    agentId,
    role: role.name,
    specializations: [
      ...role.specializations.languages,
      ...role.specializations.frameworks,
      ...role.specializations.skills,
    ],
    capacity: role.defaults.capacity,
    executor: role.defaults.executor,
    status: 'idle',
    reserved: 0,
    attempts: 0,
    successes: 0,
    failures: 0,
    consecutiveFailures: 0,
    lastActiveAt: now,
    createdAt: now,
    circuit: 'closed',
  };
}

/** The default pool: one agent per role, fresh metrics (ids `<role>-1`). */
export function defaultAgentPool(catalog: RoleCatalog, now: number): Agent[] {
  return [...catalog.values()].map((r) => newAgent(r, `${r.name}-1`, now));
}
