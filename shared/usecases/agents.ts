/** Agents API: the registry as operators see it (GET /agents) and its settings (PUT /agents/{id}). */
import { z } from 'zod';
import { nanoToUsd } from '../domain/costs';
import { ID_RULE, TASK_ID_PATTERN } from '../domain/limits';
import { checkModel, dayOf } from '../domain/models';
import { freeSlots } from '../domain/pool';
import type { RoleCatalog } from '../domain/roles';
import { newAgent } from '../domain/routing';
import {
  type Agent,
  AgentStatusSchema,
  type CircuitState,
  ExecutorConfigSchema,
  type Usage,
} from '../domain/schemas';
import type { AgentRegistry, Clock } from '../ports';
import { RequestValidationError } from './errors';

export interface AgentView {
  agentId: string;
  role: string;
  status: Agent['status'];
  reserved: number;
  capacity: number;
  specializations: string[];
  attempts: number;
  successes: number;
  failures: number;
  /** successes / attempts; undefined before the first attempt. */
  successRate?: number;
  ewmaLatencyMs?: number;
  circuit: CircuitState;
  circuitOpenUntil?: number;
  lastActiveAt: number;
  /** Tokens of every attempt the agent ran (failed ones too), once one reported usage. */
  usage?: Usage;
  /** What they cost in USD; null when some used a model without a price. */
  costUsd?: number | null;
}

/** The public view of an agent: load, success rate, latency and circuit. */
export function agentView(agent: Agent): AgentView {
  return {
    agentId: agent.agentId,
    role: agent.role,
    status: agent.status,
    reserved: agent.reserved,
    capacity: agent.capacity,
    specializations: agent.specializations,
    attempts: agent.attempts,
    successes: agent.successes,
    failures: agent.failures,
    ...(agent.attempts > 0 ? { successRate: agent.successes / agent.attempts } : {}),
    ...(agent.ewmaLatencyMs !== undefined ? { ewmaLatencyMs: agent.ewmaLatencyMs } : {}),
    circuit: agent.circuit,
    ...(agent.circuitOpenUntil !== undefined ? { circuitOpenUntil: agent.circuitOpenUntil } : {}),
    lastActiveAt: agent.lastActiveAt,
    ...agentSpend(agent),
  };
}

/** An agent's token and cost totals as the API shows them. */
function agentSpend(agent: Agent): Pick<AgentView, 'usage' | 'costUsd'> {
  if (agent.inputTokens === undefined && agent.outputTokens === undefined) return {};
  const usage: Usage = {
    inputTokens: agent.inputTokens ?? 0,
    outputTokens: agent.outputTokens ?? 0,
    ...(agent.cacheReadTokens ? { cacheReadTokens: agent.cacheReadTokens } : {}),
    ...(agent.cacheWriteTokens ? { cacheWriteTokens: agent.cacheWriteTokens } : {}),
  };
  return { usage, costUsd: (agent.unpricedAttempts ?? 0) > 0 ? null : nanoToUsd(agent.costNanoUsd ?? 0) };
}

/** Every agent (or one role's), as operators see it. */
export async function listAgents(deps: { agents: AgentRegistry }, role?: string): Promise<AgentView[]> {
  return (await deps.agents.list(role)).map(agentView);
}

/** Body of PUT /agents/{id}. `role` is required to create an agent and must not change on an update. */
export const AgentPutSchema = z
  .object({
    role: z.string().min(1).optional(),
    capacity: z.number().int().min(1).max(100).optional(),
    status: AgentStatusSchema.optional(),
    specializations: z.array(z.string().min(1).max(64)).max(64).optional(),
    executor: ExecutorConfigSchema.optional(),
  })
  .strict();
export type AgentPut = z.infer<typeof AgentPutSchema>;

export const AgentIdSchema = z.string().regex(TASK_ID_PATTERN, `agent id must be ${ID_RULE}`);

/**
 * Creates an agent of a catalog role, or updates an existing agent's settings (never its counters). The
 * slots a put adds (a new agent, a raised capacity, an agent made active again) wake as many tasks parked for
 * its role through `wake` (route.ts wakeForCapacity), so they start now rather than at their wait's timeout
 * (30 s and more); best effort, the put stands either way.
 */
export async function putAgent(
  deps: {
    agents: AgentRegistry;
    catalog: RoleCatalog;
    clock: Clock;
    /** Wakes up to `slots` tasks parked for `role`; answers how many it woke. */
    wake?: (role: string, slots: number) => Promise<number>;
  },
  agentId: string,
  body: AgentPut,
): Promise<{ created: boolean; agent: AgentView }> {
  const before = await deps.agents.get(agentId);
  const put = await putAgentSettings(deps, agentId, body, before);
  // An operator who sets an agent's executor has seen to its key: a credentials mark of its provider and url
  // goes (README "Executors"), and tasks route to that configuration again.
  if (body.executor) await deps.agents.clearCredentials({ name: body.executor.name, url: body.executor.url });
  const gained = freeSlots(put.after) - freeSlots(before);
  if (deps.wake && put.after && gained > 0) await deps.wake(put.after.role, gained).catch(() => 0);
  return { created: put.created, agent: agentView(put.after ?? put.written) };
}

async function putAgentSettings(
  deps: { agents: AgentRegistry; catalog: RoleCatalog; clock: Clock },
  agentId: string,
  body: AgentPut,
  existing: Agent | undefined,
): Promise<{ created: boolean; after: Agent | undefined; written: Agent }> {
  const { role: roleName, ...patch } = body;
  const finding = patch.executor ? checkModel(patch.executor, dayOf(deps.clock.now())) : undefined;
  if (finding?.level === 'error')
    throw new RequestValidationError([{ path: '$.executor.model', message: finding.message }]);
  if (existing) {
    if (roleName !== undefined && roleName !== existing.role) {
      throw new RequestValidationError([
        { path: '$.role', message: `agent ${agentId} has role "${existing.role}"; a role cannot change` },
      ]);
    }
    const updated = await deps.agents.update(agentId, patch);
    return { created: false, after: updated, written: updated ?? existing };
  }
  if (roleName === undefined) {
    throw new RequestValidationError([{ path: '$.role', message: 'role is required to create an agent' }]);
  }
  const role = deps.catalog.get(roleName);
  if (!role) throw new RequestValidationError([{ path: '$.role', message: `unknown role "${roleName}"` }]);
  const agent: Agent = { ...newAgent(role, agentId, deps.clock.now()), ...patch };
  if (!(await deps.agents.create(agent))) {
    // Created concurrently by someone else: apply this request as an update.
    const updated = await deps.agents.update(agentId, patch);
    return { created: false, after: updated, written: updated ?? agent };
  }
  return { created: true, after: agent, written: agent };
}
