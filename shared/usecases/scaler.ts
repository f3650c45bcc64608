/**
 * Scaler (minimal, on a schedule): terminates agents that have held no reservation for longer than their
 * role's idleTtlSeconds, keeping at least minAgents live agents per role. It does not spawn (the router
 * spawns on demand), does not touch queue concurrency, and reclaims no reservations (none are leased:
 * every reservation is released by Complete, RecordAttempt or Cancel). The full agent-pool lifecycle
 * comes later.
 */
import type { RoleCatalog } from '../domain/roles';
import type { AgentRegistry, Clock } from '../ports';

export interface ScaleResult {
  terminated: string[];
}

const MS_PER_SECOND = 1000;

/** One scaling pass; returns the agents it terminated. */
export async function scaleAgents(deps: {
  agents: AgentRegistry;
  catalog: RoleCatalog;
  clock: Clock;
}): Promise<ScaleResult> {
  const now = deps.clock.now();
  const terminated: string[] = [];
  const all = await deps.agents.list();
  for (const role of deps.catalog.values()) {
    const live = all.filter((a) => a.role === role.name && a.status !== 'terminated');
    const idleBefore = now - role.defaults.idleTtlSeconds * MS_PER_SECOND;
    let surplus = live.length - role.defaults.minAgents;
    const idle = live
      .filter((a) => a.reserved === 0 && a.lastActiveAt < idleBefore)
      .sort((a, b) => a.lastActiveAt - b.lastActiveAt || b.agentId.localeCompare(a.agentId));
    for (const agent of idle) {
      if (surplus <= 0) break;
      // Conditional: an agent reserved since the scan keeps running.
      if (await deps.agents.terminateIfIdle(agent.agentId, idleBefore)) {
        terminated.push(agent.agentId);
        surplus--;
      }
    }
  }
  return { terminated };
}
