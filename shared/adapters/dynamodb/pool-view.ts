/**
 * The pool as this process last saw it, per agents table and role, for a process every agent write passes
 * through (the embedded runtime: see holdWhileEveryWriteIsHere). A route lists its role's agents (a Query of
 * the byRole index) before it reserves one; on a dependency hop of the embedded runtime that Query was about
 * 1.5 ms of the hop, on the one thread of its DynamoDB emulator. Held, a role's listing is kept after a Query
 * and kept exact by every agent write of the process: each answers the agent's item as written (ALL_NEW),
 * which takes its place in the listing. A list while a write of one of the role's agents is in flight waits for
 * it, as a Query sent then would be answered after it (on one thread); a route that saw the slot the write
 * takes would lose the race for it.
 *
 * Nothing here decides a reservation: the conditional write does, as on AWS, so a listing that was wrong
 * would cost a refused write, never a slot counted twice. Anything this process cannot account for drops every
 * listing, and the next route of each role queries again:
 * - a write that failed, whatever the reason (a refused condition included: the listing may be what misled
 *   it), or whose answer does not carry the item;
 * - two writes to one agent in flight at once (their answers may be handled in either order);
 * - a Query during which an agent write started or ended (it may show the pool before or after that write).
 *
 * Not held (AWS: many processes write the pool; or a process with no embedded runtime), nothing is kept and
 * every list queries.
 */
import { Holds } from '../../domain/holds';
import type { Agent } from '../../domain/schemas';

export class PoolView {
  /** Known listings: role -> agentId -> the agent as last written or read. */
  readonly #roles = new Map<string, Map<string, Agent>>();
  /** Agent writes in flight, per agent: each settles once the view has taken in its answer. */
  readonly #settled = new Map<string, Set<Promise<void>>>();
  /** The role of each agent seen in a listing or a write's answer. */
  readonly #roleOf = new Map<string, string>();
  /** Agents with two writes in flight at once since their writes were last all settled. */
  readonly #overlapped = new Set<string>();
  /** Bumped when an agent write starts or ends: a Query spanning no change may be kept. */
  #epoch = 0;
  /** The view forgets everything when the first holder takes it and when the last one lets go. */
  readonly #holds = new Holds(() => this.#forget());

  /** true while held: listings are kept and agent writes ask for their item. */
  get active(): boolean {
    return this.#holds.held;
  }

  /**
   * The agents of `role`: the kept listing, or `query`'s answer, kept when held and no agent write started or
   * ended while it ran. The agents answered are frozen (shared with later lists).
   */
  async list(role: string, query: () => Promise<Agent[]>): Promise<Agent[]> {
    // A write of one of the role's agents in flight (a reservation, most often) is waited for (see above).
    for (let round = 0; round < MAX_WAITS_FOR_WRITES && this.active && this.#roles.has(role); round++) {
      const writes = this.#writesOf(role);
      if (writes.length === 0) return sorted((this.#roles.get(role) as Map<string, Agent>).values());
      await Promise.all(writes);
    }
    const epoch = this.#epoch;
    const agents = await query();
    if (!this.active || epoch !== this.#epoch) return agents;
    const listing = new Map(agents.map((agent) => [agent.agentId, deepFreeze(agent)]));
    for (const agentId of listing.keys()) this.#roleOf.set(agentId, role);
    this.#roles.set(role, listing);
    return sorted(listing.values());
  }

  /** The writes in flight of `role`'s agents, and of agents whose role this view does not know. */
  #writesOf(role: string): Promise<void>[] {
    const writes: Promise<void>[] = [];
    for (const [agentId, settled] of this.#settled) {
      const of = this.#roleOf.get(agentId);
      if (of === undefined || of === role) writes.push(...settled);
    }
    return writes;
  }

  /**
   * Runs `write` (one write of agent `agentId`) and keeps the listings exact: `written` is the agent after it,
   * when its answer carries the item. Without a hold it only runs the write.
   */
  async write<T>(
    agentId: string,
    write: () => Promise<T>,
    written: (answer: T) => Agent | undefined,
  ): Promise<T> {
    if (!this.active) return write();
    const settled = this.#settled.get(agentId) ?? new Set<Promise<void>>();
    if (settled.size > 0) this.#overlapped.add(agentId);
    let settle = () => {};
    const done = new Promise<void>((resolve) => {
      settle = resolve;
    });
    settled.add(done);
    this.#settled.set(agentId, settled);
    this.#epoch += 1;
    let agent: Agent | undefined;
    try {
      const answer = await write();
      agent = written(answer);
      return answer;
    } finally {
      this.#epoch += 1;
      const overlapped = this.#overlapped.has(agentId);
      settled.delete(done);
      if (settled.size === 0) {
        this.#settled.delete(agentId);
        this.#overlapped.delete(agentId);
      }
      if (agent === undefined || overlapped || agent.agentId !== agentId) this.#roles.clear();
      else {
        this.#roleOf.set(agentId, agent.role);
        this.#roles.get(agent.role)?.set(agentId, deepFreeze(agent));
      }
      settle();
    }
  }

  /**
   * Every agent write of the tables this view serves passes through this process from now until the returned
   * function is called (once; later calls do nothing). Holders count, as for the parked-task hints; once every
   * holder let go, the view forgets everything.
   */
  holdWhileEveryWriteIsHere(): () => void {
    return this.#holds.take();
  }

  #forget(): void {
    this.#roles.clear();
    this.#roleOf.clear();
    this.#epoch += 1;
  }
}

/** How many times a list waits for the writes of its role's agents in flight before it queries instead. */
const MAX_WAITS_FOR_WRITES = 3;

const sorted = (agents: Iterable<Agent>) => [...agents].sort((a, b) => a.agentId.localeCompare(b.agentId));

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

/** On `globalThis`: handler modules loaded as their own copies share the process's views. */
const VIEWS = Symbol.for('meta-agent.pool-views');

/** This process's view of the agents table `tableName`. */
export function poolViewOf(tableName: string): PoolView {
  const global = globalThis as { [VIEWS]?: Map<string, PoolView> };
  global[VIEWS] ??= new Map();
  let view = global[VIEWS].get(tableName);
  if (!view) {
    view = new PoolView();
    global[VIEWS].set(tableName, view);
  }
  return view;
}
