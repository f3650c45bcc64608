/**
 * Router scoring:
 *   score = 0.40 specialization + 0.30 availability + 0.20 success + 0.10 speed, every term in [0, 1].
 *
 * - specialization = ROLE_FIT_SHARE x fit + COVERAGE_SHARE x coverage, where
 *     fit      = 1 when the agent's role is the task's explicit role, else the confidence of the agent's
 *                role among the inferred candidates (0 when it is not one);
 *     coverage = share of the requested languages, frameworks and skills found in the agent's
 *                specializations (case-insensitive); when nothing is requested, coverage = fit, so the
 *                term is then the role fit alone.
 * - availability = 1 - reserved / capacity (the "1 - load" term);
 * - success = (successes + 1) / (attempts + 2): a new agent starts at 0.5, neither trusted nor distrusted;
 * - speed = min(1, role target latency / EWMA latency), 1 while the latency is unknown.
 *
 * Candidate agents: with an explicit role, agents of that role only. With inferred roles, agents of every
 * candidate role whose confidence is within ROLE_MARGIN (relative) of the best, at most MAX_CANDIDATE_ROLES
 * of them: two roles the text cannot tell apart compete on their agents' merits, and the role fit still
 * favours the better-matching role. Agents at capacity, with an open circuit whose cool-down has not
 * ended, draining or terminated, or excluded after failing this task, are rejected with the reason.
 * Candidates are ranked on the score, then the agent id. The winner is the best, or an agent of its role
 * within SCORE_TIE_MARGIN of it chosen by a hash of the task and agent ids: deterministic for a task, and
 * spread over interchangeable agents across tasks.
 */
import { FALLBACK_ROLE } from './requirements';
import type { RoleCatalog } from './roles';
import type { RoutingWeights } from './routing-config';
import type {
  Agent,
  CandidateScore,
  ExtractedRequirements,
  Role,
  RoutingDecision,
  ScoreBreakdown,
  Task,
} from './schemas';

export {
  EVIDENCE_WEIGHTS,
  estimateComplexity,
  extractRequirements,
  FALLBACK_ROLE,
  stem,
  tokenize,
} from './requirements';

/** The score's weights unless the deployment configures others (`routing.weights`, see routing-config.ts). */
export const ROUTING_WEIGHTS: RoutingWeights = {
  specialization: 0.4,
  availability: 0.3,
  success: 0.2,
  speed: 0.1,
};

/** Share of the specialization term given to the role fit; the rest goes to requirement coverage. */
export const ROLE_FIT_SHARE = 0.6;
export const COVERAGE_SHARE = 1 - ROLE_FIT_SHARE;
/**
 * Agents of the winner's role scoring within this margin of it are tied (see pickWinner). It is below one
 * reserved slot of availability (0.30 / capacity) for any capacity below 30, so it never outweighs load.
 */
export const SCORE_TIE_MARGIN = 0.01;
/** Inferred roles within this relative margin of the best role's confidence also supply candidates. */
export const ROLE_MARGIN = 0.1;
/** At most this many inferred roles supply candidates. */
export const MAX_CANDIDATE_ROLES = 3;

/** Why an agent was left out (the `rejected[].reason` strings). */
export const REJECTION_REASONS = {
  excluded: 'failed this task before',
  draining: 'draining',
  terminated: 'terminated',
  circuitOpen: 'circuit open',
  atCapacity: 'at capacity',
  otherRole: 'not of the task role',
  notCandidateRole: 'not of a candidate role',
  unknownRole: 'role not in the catalog',
} as const;

type RequirementTerms = readonly string[];

function requestedTerms(requirements: ExtractedRequirements): RequirementTerms {
  const terms: string[] = [];
  for (const list of [requirements.languages, requirements.frameworks, requirements.skills]) {
    for (const term of list) {
      const t = term.toLowerCase();
      if (!terms.includes(t)) terms.push(t);
    }
  }
  return terms;
}

function roleFit(agentRole: string, requirements: ExtractedRequirements): number {
  if (requirements.explicitRole !== undefined) return agentRole === requirements.explicitRole ? 1 : 0;
  for (const c of requirements.roleCandidates) if (c.role === agentRole) return clamp01(c.confidence);
  return 0;
}

function clamp01(x: number): number {
  // NaN (a corrupt metric) counts as 0 rather than poisoning the score.
  if (!(x > 0)) return 0;
  return Math.min(x, 1);
}

function coverage(agent: Agent, terms: RequirementTerms): number {
  let covered = 0;
  const specs = agent.specializations;
  for (const term of terms) {
    for (let i = 0; i < specs.length; i++) {
      const s = specs[i] as string;
      if (s === term || (s.length === term.length && s.toLowerCase() === term)) {
        covered++;
        break;
      }
    }
  }
  return covered / terms.length;
}

function score(
  agent: Agent,
  fit: number,
  terms: RequirementTerms,
  role: Role,
  weights: RoutingWeights,
): { score: number; breakdown: ScoreBreakdown } {
  const specialization =
    terms.length === 0 ? fit : ROLE_FIT_SHARE * fit + COVERAGE_SHARE * coverage(agent, terms);
  const availability = agent.capacity > 0 ? 1 - clamp01(agent.reserved / agent.capacity) : 0;
  const attempts = Math.max(agent.attempts, agent.successes);
  const success = clamp01((agent.successes + 1) / (attempts + 2));
  const latency = agent.ewmaLatencyMs;
  const speed = latency === undefined || latency <= 0 ? 1 : clamp01(role.defaults.targetLatencyMs / latency);
  const breakdown = { specialization, availability, success, speed };
  return { score: weightedScore(breakdown, weights), breakdown };
}

/** The weighted sum of a breakdown's terms, in [0, 1] for weights that sum to 1. */
export function weightedScore(breakdown: ScoreBreakdown, weights: RoutingWeights = ROUTING_WEIGHTS): number {
  return clamp01(
    weights.specialization * breakdown.specialization +
      weights.availability * breakdown.availability +
      weights.success * breakdown.success +
      weights.speed * breakdown.speed,
  );
}

/** One candidate's terms and weighted score (see the module comment for each term). */
export function scoreAgent(
  agent: Agent,
  requirements: ExtractedRequirements,
  role: Role,
  weights: RoutingWeights = ROUTING_WEIGHTS,
): { score: number; breakdown: ScoreBreakdown } {
  return score(agent, roleFit(agent.role, requirements), requestedTerms(requirements), role, weights);
}

export interface RouteRequest {
  task: Task;
  requirements: ExtractedRequirements;
  agents: readonly Agent[];
  catalog: RoleCatalog;
  /** Agents that already failed this task. */
  exclude: ReadonlySet<string>;
  now: number;
  /** The score's weights (default ROUTING_WEIGHTS); they should sum to 1 (normaliseWeights). */
  weights?: RoutingWeights;
}

export type RouteResult =
  | { kind: 'route'; decision: RoutingDecision }
  /** No eligible agent: `role` is the role to spawn for (the caller spawns or waits). */
  | { kind: 'none'; role: string; rejected: RoutingDecision['rejected'] };

/**
 * The role the task should go to: the explicit role, else the role a model chose (model-assisted routing),
 * else the best inferred candidate, else the fallback.
 */
export function targetRole(requirements: ExtractedRequirements, fallbackRole = FALLBACK_ROLE): string {
  return (
    requirements.explicitRole ??
    requirements.assist?.chosen ??
    requirements.roleCandidates[0]?.role ??
    fallbackRole
  );
}

/**
 * The roles whose agents compete for the task: the explicit role; else the role a model chose; else the
 * best inferred role and those within ROLE_MARGIN of it (at most MAX_CANDIDATE_ROLES); else the fallback.
 */
export function candidateRoles(requirements: ExtractedRequirements, fallbackRole = FALLBACK_ROLE): string[] {
  if (requirements.explicitRole !== undefined) return [requirements.explicitRole];
  if (requirements.assist?.chosen !== undefined) return [requirements.assist.chosen];
  const best = requirements.roleCandidates[0];
  if (!best) return [fallbackRole];
  const roles = [best.role];
  const floor = best.confidence * (1 - ROLE_MARGIN);
  for (let i = 1; i < requirements.roleCandidates.length && roles.length < MAX_CANDIDATE_ROLES; i++) {
    const c = requirements.roleCandidates[i];
    if (!c || c.confidence < floor) break;
    roles.push(c.role);
  }
  return roles;
}

function rejectionReason(agent: Agent, request: RouteRequest): string | undefined {
  if (request.exclude.has(agent.agentId)) return REJECTION_REASONS.excluded;
  if (agent.status === 'terminated') return REJECTION_REASONS.terminated;
  if (agent.status === 'draining') return REJECTION_REASONS.draining;
  if (agent.circuit === 'open' && (agent.circuitOpenUntil ?? Number.POSITIVE_INFINITY) > request.now)
    return REJECTION_REASONS.circuitOpen;
  if (agent.reserved >= agent.capacity) return REJECTION_REASONS.atCapacity;
  return undefined;
}

/**
 * Filters the agents, scores the candidates and picks the best (near-ties: see pickWinner); the winner
 * is the first candidate.
 * The decision keeps every candidate's breakdown, every rejection with its reason, and the requirements.
 * Returns `none` with the role to spawn for when no agent is eligible.
 */
export function decideRoute(request: RouteRequest): RouteResult {
  const { requirements } = request;
  const roles = candidateRoles(requirements);
  const role = roles[0] as string;
  const wrongRole =
    requirements.explicitRole === undefined
      ? REJECTION_REASONS.notCandidateRole
      : REJECTION_REASONS.otherRole;
  const terms = requestedTerms(requirements);
  const rejected: RoutingDecision['rejected'] = [];
  const candidates: CandidateScore[] = [];
  for (const agent of request.agents) {
    if (!roles.includes(agent.role)) {
      rejected.push({ agentId: agent.agentId, reason: wrongRole });
      continue;
    }
    const agentRole = request.catalog.get(agent.role);
    const reason = agentRole ? rejectionReason(agent, request) : REJECTION_REASONS.unknownRole;
    if (reason !== undefined || !agentRole) {
      rejected.push({ agentId: agent.agentId, reason: reason ?? REJECTION_REASONS.unknownRole });
      continue;
    }
    const scored = score(
      agent,
      roleFit(agent.role, requirements),
      terms,
      agentRole,
      request.weights ?? ROUTING_WEIGHTS,
    );
    candidates.push({
      agentId: agent.agentId,
      role: agent.role,
      score: scored.score,
      breakdown: scored.breakdown,
    });
  }
  const ranked = rankCandidates(candidates, request.task.id);
  const best = ranked[0];
  if (!best) return { kind: 'none', role, rejected };
  return {
    kind: 'route',
    decision: {
      taskId: request.task.id,
      agentId: best.agentId,
      role: best.role,
      score: best.score,
      breakdown: best.breakdown,
      candidates: ranked,
      rejected,
      requirements,
      spawned: false,
      decidedAt: request.now,
    },
  };
}

/**
 * The candidates best first (score, then agent id), the winner moved to the front (see pickWinner).
 * decideRoute ranks with it, and a replay of a stored decision under other weights ranks the same way.
 */
export function rankCandidates(candidates: readonly CandidateScore[], taskId: string): CandidateScore[] {
  const sorted = [...candidates].sort(compareCandidates);
  const best = pickWinner(sorted, taskId);
  if (!best || best === sorted[0]) return sorted;
  return [best, ...sorted.filter((c) => c !== best)];
}

/**
 * The winner: among the best candidate and the agents of its role scoring within SCORE_TIE_MARGIN of it,
 * the one ranked first by a hash of (task id, agent id). Agents with the same metrics score the same, so
 * breaking their ties on the agent id alone sent every concurrent router to the same agent, where all but
 * its free slots lost the reservation race and routed again (a burst of 1,000 tasks lost 3,600 races).
 * Hashing spreads concurrent tasks over interchangeable agents and keeps the decision deterministic.
 */
function pickWinner(
  sorted: readonly CandidateScore[],
  taskId: string,
  margin = SCORE_TIE_MARGIN,
): CandidateScore | undefined {
  const best = sorted[0];
  if (!best) return undefined;
  let winner = best;
  let winnerRank = tieRank(taskId, best.agentId);
  for (let i = 1; i < sorted.length; i++) {
    const c = sorted[i] as CandidateScore;
    if (best.score - c.score > margin) break;
    if (c.role !== best.role) continue;
    const rank = tieRank(taskId, c.agentId);
    if (rank > winnerRank) {
      winner = c;
      winnerRank = rank;
    }
  }
  return winner;
}

/**
 * The decision of a router that has lost a reservation race: its winner picked again, by the same hash, among
 * the agents of the best's role scoring within `margin` of the best (the availability term's weight: agents
 * that differ by their load, which a stale listing gets wrong anyway). Routers that lost together then
 * spread over the role's free agents instead of all retrying the emptiest one, which most of them lose
 * again. Only a router that lost a race uses it: uncontended routing keeps decideRoute's winner.
 */
export function spreadAfterLostRace(decision: RoutingDecision, margin: number): RoutingDecision {
  const [winner, ...rest] = rankAfterLostRace(decision.candidates, decision.taskId, margin);
  if (!winner || winner.agentId === decision.agentId) return { ...decision, afterLostRace: true };
  return {
    ...decision,
    agentId: winner.agentId,
    role: winner.role,
    score: winner.score,
    breakdown: winner.breakdown,
    candidates: [winner, ...rest],
    afterLostRace: true,
  };
}

/** The candidates as a router that lost a race ranks them (spreadAfterLostRace): its winner first. */
export function rankAfterLostRace(
  candidates: readonly CandidateScore[],
  taskId: string,
  margin: number,
): CandidateScore[] {
  const sorted = [...candidates].sort(compareCandidates);
  const winner = pickWinner(sorted, taskId, margin);
  if (!winner || winner === sorted[0]) return sorted;
  return [winner, ...sorted.filter((c) => c !== winner)];
}

/** A stable pseudo-random rank of an agent for one task. */
function tieRank(taskId: string, agentId: string): number {
  return stableHash(`${taskId}\u0000${agentId}`);
}

/** FNV-1a (32 bits): a cheap, stable spread of strings, for tie-breaks and slot choices. */
export function stableHash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function compareCandidates(a: CandidateScore, b: CandidateScore): number {
  if (b.score !== a.score) return b.score - a.score;
  return a.agentId < b.agentId ? -1 : a.agentId > b.agentId ? 1 : 0;
}

/** A fresh logical agent of `role`, specialised in the role's whole vocabulary (lower-cased). */
export function newAgent(role: Role, agentId: string, now: number): Agent {
  return {
    agentId,
    role: role.name,
    specializations: [
      ...role.specializations.languages,
      ...role.specializations.frameworks,
      ...role.specializations.skills,
    ].map((s) => s.toLowerCase()),
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
