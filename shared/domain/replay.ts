/**
 * Routing replay: re-scores a batch's stored decisions under other score weights, or another role catalog,
 * and says which tasks would have gone elsewhere and to whom. A safe way to try a weight change before
 * configuring it (`routing.weights`). Pure.
 *
 * Each decision keeps every candidate's four terms as they were when the task was routed (the agents'
 * load, success rate and speed at that moment), so a weights replay re-weighs exactly the choice the
 * router faced: same candidates, same terms, the same ranking and near-tie rule (rankCandidates, or for a
 * decision made after a lost reservation race, the spread over near-best agents, rankAfterLostRace). Replayed
 * with the weights it was decided under, every decision comes out unchanged. A decision over more than
 * MAX_DECISION_AGENTS_LISTED candidates keeps (and so replays among) its best ones only (`unlistedCandidates`).
 *
 * With another catalog the requirements are extracted again from the description, and the specialization
 * term is recomputed for the new candidate roles: role fit from the new extraction, coverage against the
 * role's vocabulary in the new catalog (what a spawned agent of the role is specialised in). Load, success
 * and speed come from the stored candidate of that role (its best-scoring agent); a role that had no
 * candidate then is scored as a fresh agent would be (idle, success 0.5, speed 1) and says so.
 */
import { extractRequirements } from './requirements';
import type { RoleCatalog } from './roles';
import {
  candidateRoles,
  newAgent,
  ROUTING_WEIGHTS,
  rankAfterLostRace,
  rankCandidates,
  scoreAgent,
  weightedScore,
} from './routing';
import type { RoutingWeights } from './routing-config';
import type { CandidateScore, ExtractedRequirements, StoredDecision } from './schemas';

/** Where a decision sent its task. */
export interface ReplayChoice {
  agentId: string;
  role: string;
  score: number;
  specialization: number;
}

/** A task that would have gone elsewhere. */
export interface ReplayChange {
  taskId: string;
  stored: ReplayChoice;
  replayed: ReplayChoice;
  /** The replayed winner is a role that had no candidate at the time, scored as a fresh agent. */
  hypothetical: boolean;
}

export interface ReplayReport {
  /** The weights replayed (summing to 1). */
  weights: RoutingWeights;
  /** True when another role catalog was given (requirements extracted again). */
  recatalogued: boolean;
  /** Decisions replayed. */
  replayed: number;
  changes: ReplayChange[];
  /** Tasks with nothing to replay, and why. */
  skipped: { taskId: string; reason: string }[];
  /** How many tasks move from one role to another ("from -> to"), for a role-level summary. */
  roleMoves: Record<string, number>;
}

export interface ReplayOptions {
  /** Normalised weights; default ROUTING_WEIGHTS. */
  weights?: RoutingWeights;
  /** Another role catalog: requirements are extracted again with it. */
  catalog?: RoleCatalog;
}

const choiceOf = (c: CandidateScore): ReplayChoice => ({
  agentId: c.agentId,
  role: c.role,
  score: c.score,
  specialization: c.breakdown.specialization,
});

/** Candidates re-weighed with `weights`, same terms. */
function reweighed(candidates: readonly CandidateScore[], weights: RoutingWeights): CandidateScore[] {
  return candidates.map((c) => ({ ...c, score: weightedScore(c.breakdown, weights) }));
}

/** The fresh-agent terms of a role that had no candidate when the task was routed. */
const FRESH_TERMS = { availability: 1, success: 0.5, speed: 1 } as const;

/** Candidates under another catalog (see the module comment); the set of roles that had none before. */
function recatalogued(
  entry: StoredDecision,
  stored: readonly CandidateScore[],
  catalog: RoleCatalog,
  weights: RoutingWeights,
): { candidates: CandidateScore[]; fresh: Set<string> } {
  const task = {
    id: entry.taskId,
    description: entry.description,
    ...(entry.role !== undefined ? { role: entry.role } : {}),
    ...(entry.requirements !== undefined ? { requirements: entry.requirements } : {}),
  };
  let requirements: ExtractedRequirements = extractRequirements(task, catalog);
  // A model's earlier choice still holds when its role exists in the new catalog.
  const assist = entry.decision?.requirements.assist;
  if (assist?.chosen !== undefined && catalog.has(assist.chosen) && requirements.explicitRole === undefined) {
    requirements = { ...requirements, assist };
  }
  const candidates: CandidateScore[] = [];
  const fresh = new Set<string>();
  for (const roleName of candidateRoles(requirements)) {
    const role = catalog.get(roleName);
    if (!role) continue;
    const specialization = scoreAgent(newAgent(role, `${roleName}-replay`, 0), requirements, role, weights)
      .breakdown.specialization;
    const ofRole = stored.filter((c) => c.role === roleName);
    if (ofRole.length === 0) fresh.add(roleName);
    const agents = ofRole.length > 0 ? ofRole : [{ agentId: `${roleName}-1`, breakdown: FRESH_TERMS }];
    for (const a of agents) {
      const breakdown = { ...a.breakdown, specialization };
      candidates.push({
        agentId: a.agentId,
        role: roleName,
        breakdown,
        score: weightedScore(breakdown, weights),
      });
    }
  }
  return { candidates, fresh };
}

/** Replays every stored decision (see the module comment). */
export function replayDecisions(
  entries: readonly StoredDecision[],
  options: ReplayOptions = {},
): ReplayReport {
  const weights = options.weights ?? ROUTING_WEIGHTS;
  const report: ReplayReport = {
    weights,
    recatalogued: options.catalog !== undefined,
    replayed: 0,
    changes: [],
    skipped: [],
    roleMoves: {},
  };
  for (const entry of entries) {
    const decision = entry.decision;
    if (!decision) {
      report.skipped.push({ taskId: entry.taskId, reason: `no routing decision (task ${entry.status})` });
      continue;
    }
    const stored = decision.candidates;
    const { candidates, fresh } = options.catalog
      ? recatalogued(entry, stored, options.catalog, weights)
      : { candidates: reweighed(stored, weights), fresh: new Set<string>() };
    // A decision made after a lost race spread over the near-best agents (routing.ts spreadAfterLostRace),
    // with the availability weight as its margin: replayed the same way, under the replayed weights.
    const winner = (
      decision.afterLostRace === true
        ? rankAfterLostRace(candidates, entry.taskId, weights.availability)
        : rankCandidates(candidates, entry.taskId)
    )[0];
    if (!winner) {
      report.skipped.push({ taskId: entry.taskId, reason: 'no candidate role exists in the catalog' });
      continue;
    }
    report.replayed++;
    if (winner.agentId === decision.agentId && winner.role === decision.role) continue;
    const storedWinner = stored.find((c) => c.agentId === decision.agentId);
    report.changes.push({
      taskId: entry.taskId,
      stored: storedWinner
        ? choiceOf(storedWinner)
        : {
            agentId: decision.agentId,
            role: decision.role,
            score: decision.score,
            specialization: decision.breakdown.specialization,
          },
      replayed: choiceOf(winner),
      hypothetical: fresh.has(winner.role),
    });
    if (winner.role !== decision.role) {
      const key = `${decision.role} -> ${winner.role}`;
      report.roleMoves[key] = (report.roleMoves[key] ?? 0) + 1;
    }
  }
  return report;
}
