/**
 * AgentRegistry on DynamoDB (agents table, keys in tables.ts). Reservations are single conditional ADDs, so
 * concurrent routers can never push `reserved` past `capacity` or below zero; each carries a lease in the
 * agent's `leases` map (no TTL, no transactions: the scaler reclaims expired leases). Metrics are one read
 * and one unconditioned write of additions (outcomeUpdate), so outcomes on a busy agent never conflict.
 *
 * Circuit: closed -> (CIRCUIT_FAILURE_THRESHOLD consecutive failures) -> open until circuitOpenUntil ->
 * the first reserve after that moves it to half_open in the same conditional write (one probe only) ->
 * the probe's success closes it, its failure re-opens it for another cool-down.
 *
 * Waiting marks (tasks that asked for capacity and WAITed) are one small item per task,
 * `agentId = WAITING#<role>#<batchId>#<taskId>`, `role = WAITING#<role>`: the scaler counts them with one
 * Query on the byRole index, list(role) never meets them (no role name has a '#'), list() skips them.
 */
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import {
  type CredentialFingerprints,
  type CredentialsMark,
  credentialsMarkKey,
  markInForce,
  sameCredentials,
  standingMarks,
} from '../../domain/permanent-failure';
import {
  CIRCUIT_FAILURE_THRESHOLD,
  CIRCUIT_OPEN_MS,
  type CircuitPolicy,
  DEFAULT_CIRCUIT_POLICY,
} from '../../domain/pool';
import { type Agent, AgentSchema } from '../../domain/schemas';
import {
  type AgentRegistry,
  type AgentSpend,
  type ParkedTask,
  type ReservationLease,
  StaleWriteError,
  type WaitingClaim,
  type WaitingFor,
  type WaitingMark,
} from '../../ports';
import { documentClient, isConditionFailed, sendConditional } from './client';
import { AGENTS_TABLE } from './tables';

/** Weight of the newest latency in the moving average: reacts within a few tasks, smooths one outlier. */
export const EWMA_ALPHA = 0.3;
export { CIRCUIT_FAILURE_THRESHOLD, CIRCUIT_OPEN_MS };
/** Key prefix of the per-role pool items (waiting marks); never an agent id (ids have no '#'). */
export const WAITING_ITEM_PREFIX = 'WAITING#';
/** The byRole partition of a role's waiting marks ('#' never appears in a role name). */
const waitingPartition = (role: string) => `${WAITING_ITEM_PREFIX}${role}`;
const waitingItemId = (role: string, key: string) => `${WAITING_ITEM_PREFIX}${role}#${key}`;
/**
 * `waitOrder` holds a wait's start plus this offset, in WAIT_ORDER_DIGITS digits zero-padded, so that the
 * index's string order is the numeric one for every start from -10^15 ms (a lead may reach before the epoch)
 * to about 9.9 * 10^16 ms (the year 3 million).
 */
const WAIT_ORDER_OFFSET = 1e15;
const WAIT_ORDER_DIGITS = 17;
const WAIT_ORDER_MAX = 10 ** WAIT_ORDER_DIGITS - 1;
/**
 * A waiting mark's sort key in the byWait index: when its wait started less its lead (the order longestWaiting
 * serves), then its key for ties.
 */
export function waitOrderOf(at: number, leadMs: number, key: string): string {
  const start = Math.min(WAIT_ORDER_MAX, Math.max(0, Math.round(at - leadMs) + WAIT_ORDER_OFFSET));
  return `${String(start).padStart(WAIT_ORDER_DIGITS, '0')}#${key}`;
}
/**
 * Marks a release reads of the byWait index at a time. The first claimable one is nearly always on the first
 * page: the marks before it are only those another release claimed a moment ago (or, for a wake, unparked).
 */
const WAIT_PAGE = 25;
/**
 * Writes recordOutcome tries. Only a lease or an agent that went between its read and its write makes one
 * fail (concurrent outcomes on one agent never conflict), so a second round is already rare.
 */
export const MAX_OUTCOME_ROUNDS = 5;
/** The attributes a wake or a hand-off reads of each waiting mark (see longestWaiting). */
const WAITING_PROJECTION = 'agentId, waitingKey, parkedToken, waits, since, leadMs, #at';
/** Attribute names that are DynamoDB reserved words, aliased in every expression that uses them. */
const NAMES = {
  '#status': 'status',
  '#reserved': 'reserved',
  '#capacity': 'capacity',
  '#circuit': 'circuit',
};

interface OutcomeUpdate {
  sets: string[];
  adds: string[];
  removes: string[];
  conditions: string[];
  names: Record<string, string>;
  values: Record<string, unknown>;
}

/**
 * The write of one outcome, from `agent` as read just before: no version condition, so concurrent outcomes on
 * one agent all apply at once (a versioned write made 2,000 outcomes on a few busy agents take 6,000 rounds).
 * - counters: ADD, exact under any concurrency;
 * - EWMA latency: the step from the value read. Outcomes that read the same value each write their own step,
 *   so under contention some latencies do not count (the counters always do), and the average always stays
 *   between the latencies seen and its previous value. Adding steps instead would count every latency but
 *   overshoot: four concurrent steps of 0.3 from one read move it past the new latency;
 * - circuit: a success closes it and zeroes the consecutive failures; a failure ADDs one and opens the
 *   circuit when it was not closed (a failed probe) or the count it read reaches the threshold. Concurrent
 *   failures that reach it together are caught after the write (recordOutcome's openCircuit).
 */
function outcomeUpdate(
  agent: Agent,
  outcome: { success: boolean; latencyMs: number; at: number; spent?: AgentSpend },
  policy: CircuitPolicy,
): OutcomeUpdate {
  const update: OutcomeUpdate = {
    sets: ['lastActiveAt = :at'],
    adds: ['attempts :one'],
    removes: [],
    conditions: ['attribute_exists(agentId)'],
    names: {},
    values: { ':at': outcome.at, ':one': 1 },
  };
  if (outcome.spent) spendAdds(outcome.spent, update);
  if (outcome.success) {
    update.adds.push('successes :one');
    update.sets.push('consecutiveFailures = :zeroFailures', '#circuit = :closed');
    update.removes.push('circuitOpenUntil');
    update.names['#circuit'] = 'circuit';
    update.values[':zeroFailures'] = 0;
    update.values[':closed'] = 'closed';
    const previous = agent.ewmaLatencyMs;
    update.sets.push('ewmaLatencyMs = :ewma');
    update.values[':ewma'] =
      previous === undefined
        ? outcome.latencyMs
        : EWMA_ALPHA * outcome.latencyMs + (1 - EWMA_ALPHA) * previous;
    return update;
  }
  update.adds.push('failures :one', 'consecutiveFailures :one');
  // A failure while half-open (open circuit whose wait is over) re-opens at once.
  if (agent.circuit !== 'closed' || agent.consecutiveFailures + 1 >= policy.failureThreshold) {
    update.sets.push('#circuit = :open', 'circuitOpenUntil = :until');
    update.names['#circuit'] = 'circuit';
    update.values[':open'] = 'open';
    update.values[':until'] = outcome.at + policy.openMs;
  }
  return update;
}

/** The ADDs of an attempt's tokens and cost to the agent's totals (exact under concurrency, like the counters). */
function spendAdds(spent: AgentSpend, update: OutcomeUpdate): void {
  const { usage } = spent;
  const add = (attribute: string, value: number) => {
    update.adds.push(`${attribute} :${attribute}`);
    update.values[`:${attribute}`] = value;
  };
  add('inputTokens', usage.inputTokens);
  add('outputTokens', usage.outputTokens);
  if (usage.cacheReadTokens) add('cacheReadTokens', usage.cacheReadTokens);
  if (usage.cacheWriteTokens) add('cacheWriteTokens', usage.cacheWriteTokens);
  if (spent.costNanoUsd === null) add('unpricedAttempts', 1);
  else add('costNanoUsd', spent.costNanoUsd);
}

function fromItem(item: Record<string, unknown>): Agent {
  return AgentSchema.parse(item);
}

/** Waiting marks and credentials marks: ids with a '#', which no agent id has. */
const isPoolItem = (item: Record<string, unknown>) =>
  typeof item.agentId === 'string' && item.agentId.includes('#');

/**
 * The byRole partition of the credentials marks (domain/permanent-failure.ts CredentialsMark): one item per
 * provider, url and refused key, `agentId = CREDENTIALS#<provider> <url> <fingerprint>`, read with one Query
 * of a partition that holds a handful of items at most (an empty one, nearly always), beside the pool's own
 * reads.
 */
const CREDENTIALS_PARTITION = 'CREDENTIALS#';
const credentialsItemId = (mark: Pick<CredentialsMark, 'executor' | 'fingerprint'>) =>
  `${CREDENTIALS_PARTITION}${credentialsMarkKey(mark)}`;
/** A credentials mark as its item holds it (the attempt's agent as `by`: `agentId` is the item's key). */
type StoredCredentialsMark = Omit<CredentialsMark, 'agentId'> & { by: string };

/**
 * The credentials marks a process read, kept per store while that process is the store's only writer (the
 * embedded runtime: DynamoAgentRegistry's `soleWriter`), so that a route reads the marks partition only after
 * a mark was written or cleared, instead of beside every look at the pool (on dynalite's one thread that Query
 * took its turn on each hop). Kept on globalThis: every handler module of the runtime is a bundle of its own,
 * with its own copy of this module. A write forgets the store's marks before it is sent and once it answered,
 * so a read under way while it is written is not kept.
 */
const KEPT_MARKS = Symbol.for('meta-agent.credentials-marks');
function keptMarks(): Map<string, Promise<CredentialsMark[]>> {
  const global = globalThis as { [KEPT_MARKS]?: Map<string, Promise<CredentialsMark[]>> };
  global[KEPT_MARKS] ??= new Map();
  return global[KEPT_MARKS];
}

/** Forgets every store's kept marks (an embedded runtime starting: its store is new, or was written by another). */
export function forgetKeptCredentialsMarks(): void {
  keptMarks().clear();
}

/**
 * The update parts that give a reservation's slot back: that of lease `leaseKey` only while it is held, or
 * (no key: an agent written before leases existed) an unleased one. Never below zero. release() and
 * recordOutcome's combined write both use them.
 */
function slotRelease(leaseKey: string | undefined) {
  return {
    add: '#reserved :minus',
    remove: leaseKey === undefined ? undefined : 'leases.#lease',
    condition:
      leaseKey === undefined ? '#reserved > :zero' : 'attribute_exists(leases.#lease) AND #reserved > :zero',
    names: { '#reserved': 'reserved', ...(leaseKey === undefined ? {} : { '#lease': leaseKey }) },
    values: { ':minus': -1, ':zero': 0 },
  };
}

/** DynamoDB's answer to a SET on a path under a map attribute that does not exist yet. */
function isMissingMap(error: unknown): boolean {
  return (
    error instanceof Error &&
    error.name === 'ValidationException' &&
    /document path|path provided/i.test(error.message)
  );
}

export class DynamoAgentRegistry implements AgentRegistry {
  /**
   * `soleWriter`: a name of the store (its endpoint and table) when this process is the only one that writes
   * it (the embedded runtime), so the credentials marks it read stay true until it writes one (keptMarks).
   * `fingerprints`: the fingerprint of the key a configuration uses now, so credentialsMarks answers only the
   * marks of the keys in use (none given, or none known: every standing mark).
   */
  constructor(
    private readonly tableName: string,
    private readonly client: DynamoDBDocumentClient = documentClient(),
    private readonly soleWriter?: string,
    private readonly fingerprints?: CredentialFingerprints,
  ) {}

  async markCredentials(mark: CredentialsMark): Promise<void> {
    const { agentId: by, ...rest } = mark;
    await this.writingMarks(() =>
      this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...rest, by, agentId: credentialsItemId(mark), role: CREDENTIALS_PARTITION },
        }),
      ),
    );
  }

  async clearCredentials(executor?: CredentialsMark['executor']): Promise<void> {
    // Every key's mark of the configuration (one item per refused key).
    const marks = (await this.readCredentialsMarks()).filter(
      (mark) => executor === undefined || sameCredentials(mark.executor, executor),
    );
    await this.writingMarks(() =>
      Promise.all(
        marks.map((mark) =>
          this.client.send(
            new DeleteCommand({ TableName: this.tableName, Key: { agentId: credentialsItemId(mark) } }),
          ),
        ),
      ),
    );
  }

  async credentialsMarks(now: number): Promise<CredentialsMark[]> {
    const standing = standingMarks(await this.readCredentialsMarks(), now);
    const fingerprints = this.fingerprints;
    if (fingerprints === undefined || standing.every((mark) => mark.fingerprint === undefined))
      return standing;
    // The key each marked configuration uses now, looked up once per configuration (marks are few and rare).
    const current = new Map<string, Promise<string | undefined>>();
    const inForce = await Promise.all(
      standing.map(async (mark) => {
        if (mark.fingerprint === undefined) return true;
        const id = credentialsMarkKey({ executor: mark.executor });
        let fingerprint = current.get(id);
        if (fingerprint === undefined) {
          fingerprint = fingerprints(mark.executor).catch(() => undefined);
          current.set(id, fingerprint);
        }
        return markInForce(mark, await fingerprint);
      }),
    );
    return standing.filter((_, i) => inForce[i]);
  }

  /** A write of the marks partition, the kept marks forgotten before it is sent and once it answered. */
  private async writingMarks(write: () => Promise<unknown>): Promise<void> {
    const forget = () => this.soleWriter !== undefined && keptMarks().delete(this.soleWriter);
    forget();
    try {
      await write();
    } finally {
      forget();
    }
  }

  private readCredentialsMarks(): Promise<CredentialsMark[]> {
    const key = this.soleWriter;
    if (key === undefined) return this.queryCredentialsMarks();
    const kept = keptMarks();
    const known = kept.get(key);
    if (known) return known;
    const read = this.queryCredentialsMarks();
    kept.set(key, read);
    // A read that failed is not kept: the next one asks the store again.
    read.catch(() => kept.get(key) === read && kept.delete(key));
    return read;
  }

  private async queryCredentialsMarks(): Promise<CredentialsMark[]> {
    return (await this.partitionItems(CREDENTIALS_PARTITION)).map((item) => {
      const { executor, fingerprint, at, until, by, batchId, taskId } = item as StoredCredentialsMark;
      return {
        executor,
        ...(fingerprint === undefined ? {} : { fingerprint }),
        at,
        until,
        agentId: by,
        batchId,
        taskId,
      };
    });
  }

  async list(role?: string): Promise<Agent[]> {
    const agents: Agent[] = [];
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        role === undefined
          ? new ScanCommand({ TableName: this.tableName, ExclusiveStartKey })
          : new QueryCommand({
              TableName: this.tableName,
              IndexName: AGENTS_TABLE.byRoleIndex.name,
              KeyConditionExpression: '#role = :role',
              ExpressionAttributeNames: { '#role': 'role' },
              ExpressionAttributeValues: { ':role': role },
              ExclusiveStartKey,
            }),
      );
      for (const item of page.Items ?? []) if (!isPoolItem(item)) agents.push(fromItem(item));
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    return agents.sort((a, b) => a.agentId.localeCompare(b.agentId));
  }

  async get(agentId: string): Promise<Agent | undefined> {
    const { item } = await this.getWithLeases(agentId);
    return item;
  }

  async put(agent: Agent): Promise<void> {
    await this.client.send(new PutCommand({ TableName: this.tableName, Item: { leases: {}, ...agent } }));
  }

  async create(agent: Agent): Promise<boolean> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...agent, leases: {} },
          ConditionExpression: 'attribute_not_exists(agentId) OR #status = :terminated',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':terminated': 'terminated' },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailed(error)) return false;
      throw error;
    }
  }

  async reserve(
    agentId: string,
    at: number,
    lease?: ReservationLease,
    seenCircuit?: Agent['circuit'],
  ): Promise<boolean> {
    // A lease key already held (a hand-off to this attempt whose dispatch never started, see transferLease)
    // is refused rather than counted twice under one key: only its expiry would give one of the two back.
    const common = `attribute_exists(agentId) AND #reserved < #capacity AND #status IN (:active, :idle) AND ${
      lease ? 'attribute_not_exists(leases.#lease) AND ' : ''
    }`;
    const leaseSet = lease ? ', leases.#lease = :expires' : '';
    const values = {
      ':one': 1,
      ':at': at,
      ':active': 'active',
      ':idle': 'idle',
      ...(lease ? { ':expires': lease.expiresAt } : {}),
    };
    const names = { ...NAMES, ...(lease ? { '#lease': lease.key } : {}) };
    const closed = () =>
      new UpdateCommand({
        TableName: this.tableName,
        Key: { agentId },
        UpdateExpression: `ADD #reserved :one SET lastActiveAt = :at, #status = :active${leaseSet}`,
        ConditionExpression: `${common}(attribute_not_exists(#circuit) OR #circuit = :closed)`,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: { ...values, ':closed': 'closed' },
      });
    // The probe: an open circuit whose cool-down is over admits one task and turns half_open in the same
    // write, so a concurrent second reserve finds neither `closed` nor `open` and is refused.
    const probe = () =>
      new UpdateCommand({
        TableName: this.tableName,
        Key: { agentId },
        UpdateExpression: `ADD #reserved :one SET lastActiveAt = :at, #status = :active, #circuit = :half${leaseSet}`,
        ConditionExpression: `${common}#circuit = :open AND circuitOpenUntil <= :at`,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: { ...values, ':open': 'open', ':half': 'half_open' },
      });
    const tryClosed = () => this.withLeases(agentId, () => this.conditional(closed()));
    const tryProbe = () => this.withLeases(agentId, () => this.conditional(probe()));
    if (seenCircuit === 'closed') return tryClosed();
    if (seenCircuit !== undefined) return (await tryProbe()) || tryClosed();
    return (await tryClosed()) || tryProbe();
  }

  async release(agentId: string, at: number, leaseKey?: string): Promise<void> {
    const send = (key: string | undefined) => {
      const slot = slotRelease(key);
      return this.conditional(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { agentId },
          UpdateExpression: `ADD ${slot.add} SET lastActiveAt = :at${slot.remove ? ` REMOVE ${slot.remove}` : ''}`,
          ConditionExpression: slot.condition,
          ExpressionAttributeNames: slot.names,
          ExpressionAttributeValues: { ...slot.values, ':at': at },
        }),
      );
    };
    if (leaseKey !== undefined) {
      // Only a lease still held gives its slot back: a repeated release, or one after the scaler reclaimed
      // the lease, changes nothing.
      try {
        await send(leaseKey);
        return;
      } catch (error) {
        // An agent written before leases existed has no map: its reservation was unleased, release it so.
        if (!isMissingMap(error)) throw error;
      }
    }
    // A release that finds nothing reserved (a repeated release) is a no-op, never a negative count.
    await send(undefined);
  }

  async extendLease(agentId: string, leaseKey: string, expiresAt: number): Promise<boolean> {
    return this.conditional(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { agentId },
        UpdateExpression: 'SET leases.#lease = :expires',
        ConditionExpression: 'attribute_exists(leases.#lease) AND leases.#lease < :expires',
        ExpressionAttributeNames: { '#lease': leaseKey },
        ExpressionAttributeValues: { ':expires': expiresAt },
      }),
    );
  }

  async transferLease(agentId: string, fromKey: string, to: ReservationLease, at: number): Promise<boolean> {
    return this.conditional(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { agentId },
        UpdateExpression: 'SET leases.#to = :expires, lastActiveAt = :at REMOVE leases.#from',
        ConditionExpression:
          'attribute_exists(leases.#from) AND attribute_not_exists(leases.#to) AND #reserved <= #capacity AND ' +
          '#status IN (:active, :idle) AND (attribute_not_exists(#circuit) OR #circuit = :closed)',
        ExpressionAttributeNames: { ...NAMES, '#from': fromKey, '#to': to.key },
        ExpressionAttributeValues: {
          ':expires': to.expiresAt,
          ':at': at,
          ':active': 'active',
          ':idle': 'idle',
          ':closed': 'closed',
        },
      }),
    );
  }

  async reclaimLease(agentId: string, leaseKey: string, expiresAt: number): Promise<boolean> {
    return this.conditional(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { agentId },
        UpdateExpression: 'ADD #reserved :minus REMOVE leases.#lease',
        ConditionExpression: 'leases.#lease = :expires AND #reserved > :zero',
        ExpressionAttributeNames: { '#reserved': 'reserved', '#lease': leaseKey },
        ExpressionAttributeValues: { ':minus': -1, ':zero': 0, ':expires': expiresAt },
      }),
    );
  }

  async reopenStuckProbe(agentId: string, idleBefore: number, at: number): Promise<boolean> {
    return this.conditional(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { agentId },
        UpdateExpression: 'SET #circuit = :open, circuitOpenUntil = :at',
        ConditionExpression: '#circuit = :half AND #reserved = :zero AND lastActiveAt < :cutoff',
        ExpressionAttributeNames: { '#circuit': 'circuit', '#reserved': 'reserved' },
        ExpressionAttributeValues: {
          ':open': 'open',
          ':half': 'half_open',
          ':zero': 0,
          ':cutoff': idleBefore,
          ':at': at,
        },
      }),
    );
  }

  async markWaiting(
    role: string,
    key: string,
    at: number,
    leadMs = 0,
    waitingFor: WaitingFor = 'capacity',
  ): Promise<number> {
    // One small item per waiting task (1 WCU a write, whatever the backlog), found through the byRole
    // index under a partition no real role can have; `waits` counts its consecutive WAITs.
    const out = await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { agentId: waitingItemId(role, key) },
        // A new WAIT drops the token of an earlier park (that wait ended: woken or timed out), and a hand-off's
        // claim on it (that hand-off ended, or the task routes anyway). `since`: its first WAIT, which orders
        // the waiters (the mark goes when the task is dispatched, so a later wait starts afresh).
        UpdateExpression:
          'SET #role = :partition, waitingKey = :key, #at = :at, since = if_not_exists(since, :at), leadMs = :lead, ' +
          'waitingFor = :for, waitOrder = if_not_exists(waitOrder, :order) ' +
          'ADD waits :one REMOVE parkedToken, handedAt',
        ExpressionAttributeNames: { '#role': 'role', '#at': 'at' },
        ExpressionAttributeValues: {
          ':partition': waitingPartition(role),
          ':key': key,
          ':at': at,
          ':lead': leadMs,
          ':for': waitingFor,
          ':order': waitOrderOf(at, leadMs, key),
          ':one': 1,
        },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    return Number(out.Attributes?.waits ?? 1);
  }

  async waitingMarks(role: string): Promise<Record<string, WaitingMark>> {
    const marks: Record<string, WaitingMark> = {};
    for (const item of await this.waitingItems(role)) {
      if (typeof item.waitingKey === 'string' && typeof item.at === 'number')
        // A mark written before waitingFor existed was a capacity wait's (or a budget wait's, counted as one).
        marks[item.waitingKey] = {
          at: item.at,
          waitingFor: item.waitingFor === 'budget' ? 'budget' : 'capacity',
          // Written before the byWait index: not in it, so no release finds it (orderWaiting).
          ...(item.waitOrder === undefined ? { ordered: false } : {}),
        };
    }
    return marks;
  }

  /** Every waiting mark of `role` (each page of the byRole index: the scaler's look, once a pass). */
  private async waitingItems(role: string): Promise<Record<string, unknown>[]> {
    return this.partitionItems(waitingPartition(role));
  }

  /** Every item of one partition of the byRole index (each page). */
  private async partitionItems(partition: string): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: AGENTS_TABLE.byRoleIndex.name,
          KeyConditionExpression: '#role = :partition',
          ExpressionAttributeNames: { '#role': 'role' },
          ExpressionAttributeValues: { ':partition': partition },
          ExclusiveStartKey,
        }),
      );
      items.push(...(page.Items ?? []));
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    return items;
  }

  async parkWaiting(role: string, key: string, token: string): Promise<boolean> {
    return this.conditional(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { agentId: waitingItemId(role, key) },
        UpdateExpression: 'SET parkedToken = :token',
        // A mark a hand-off claimed is not parked on: its attempt is starting (see parkTask).
        ConditionExpression: 'attribute_exists(agentId) AND attribute_not_exists(handedAt)',
        ExpressionAttributeValues: { ':token': token },
      }),
    );
  }

  /**
   * The waiting marks of `role` that pass `filter`, the longest waiting first: the earliest first WAIT
   * (`since`) less its lead (priority and chain of dependents ahead, pool.ts waitingLeadMs), then most
   * consecutive WAITs. Read from the byWait index, which holds the marks in that order (waitOrderOf), a page
   * at a time as the caller asks for more: a release reads a page whether 5 or 5,000 tasks wait (every mark
   * read at each release made a role's backlog cost quadratic time). A page's marks are sorted again with the
   * consecutive WAITs (which the index cannot hold) among those that started waiting in the same millisecond.
   * A Limit counts the marks the filter drops too, so a page may come back empty with more after it. The
   * index is eventually consistent: a mark written a moment ago may be missing (see routeTask's second look).
   */
  private async *longestWaiting(role: string, filter: string): AsyncGenerator<Record<string, unknown>> {
    const since = (item: Record<string, unknown>) =>
      Number(item.since ?? item.at ?? 0) - Number(item.leadMs ?? 0);
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: AGENTS_TABLE.byWaitIndex.name,
          KeyConditionExpression: '#role = :partition',
          FilterExpression: filter,
          ProjectionExpression: WAITING_PROJECTION,
          ExpressionAttributeNames: { '#role': 'role', '#at': 'at' },
          ExpressionAttributeValues: { ':partition': waitingPartition(role) },
          Limit: WAIT_PAGE,
          ExclusiveStartKey,
        }),
      );
      const marks = (page.Items ?? []).filter(
        (item) => typeof item.agentId === 'string' && typeof item.waitingKey === 'string',
      );
      marks.sort(
        (a, b) =>
          since(a) - since(b) ||
          Number(b.waits ?? 0) - Number(a.waits ?? 0) ||
          String(a.waitingKey).localeCompare(String(b.waitingKey)),
      );
      yield* marks;
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
  }

  async takeParked(role: string): Promise<ParkedTask | undefined> {
    for await (const item of this.longestWaiting(role, 'attribute_exists(parkedToken)')) {
      if (typeof item.parkedToken !== 'string') continue;
      // Taken once: two releases never wake the same waiter.
      const taken = await this.conditional(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { agentId: item.agentId as string },
          UpdateExpression: 'REMOVE parkedToken',
          ConditionExpression: 'parkedToken = :token',
          ExpressionAttributeValues: { ':token': item.parkedToken },
        }),
      );
      if (taken) return { token: item.parkedToken as string, key: item.waitingKey as string };
    }
    return undefined;
  }

  async claimWaiting(role: string, at: number, except?: string): Promise<WaitingClaim | undefined> {
    for await (const item of this.longestWaiting(role, 'attribute_not_exists(handedAt)')) {
      const key = item.waitingKey as string;
      if (key === except) continue;
      const token = typeof item.parkedToken === 'string' ? item.parkedToken : undefined;
      // Claimed once: two releases never hand a slot to the same task.
      const claimed = await this.conditional(
        token === undefined
          ? new UpdateCommand({
              TableName: this.tableName,
              Key: { agentId: item.agentId as string },
              UpdateExpression: 'SET handedAt = :at',
              ConditionExpression:
                'attribute_exists(agentId) AND attribute_not_exists(parkedToken) AND attribute_not_exists(handedAt)',
              ExpressionAttributeValues: { ':at': at },
            })
          : new UpdateCommand({
              TableName: this.tableName,
              Key: { agentId: item.agentId as string },
              // Claimed too: without its token the mark would look unparked to the next release.
              UpdateExpression: 'REMOVE parkedToken SET handedAt = :at',
              ConditionExpression: 'parkedToken = :token',
              ExpressionAttributeValues: { ':token': token, ':at': at },
            }),
      );
      if (claimed) return token === undefined ? { key } : { key, token };
    }
    return undefined;
  }

  async dropClaim(role: string, key: string): Promise<void> {
    await this.conditional(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { agentId: waitingItemId(role, key) },
        UpdateExpression: 'REMOVE handedAt',
        ConditionExpression: 'attribute_exists(handedAt)',
      }),
    );
  }

  async clearWaiting(role: string, keys: readonly string[], olderThan?: number): Promise<void> {
    const stillStale =
      olderThan === undefined
        ? {}
        : {
            ConditionExpression: '#at < :olderThan',
            ExpressionAttributeNames: { '#at': 'at' },
            ExpressionAttributeValues: { ':olderThan': olderThan },
          };
    await Promise.all(
      keys.map(async (key) => {
        try {
          await this.client.send(
            new DeleteCommand({
              TableName: this.tableName,
              Key: { agentId: waitingItemId(role, key) },
              ...stillStale,
            }),
          );
        } catch (error) {
          // Refreshed by a WAIT since the scaler read it: the task still waits.
          if (!isConditionFailed(error)) throw error;
        }
      }),
    );
  }

  async orderWaiting(role: string, keys: readonly string[]): Promise<number> {
    const ordered = await Promise.all(
      keys.map(async (key) => {
        const Key = { agentId: waitingItemId(role, key) };
        const { Item: item } = await this.client.send(
          new GetCommand({
            TableName: this.tableName,
            Key,
            ConsistentRead: true,
            ProjectionExpression: 'since, leadMs, #at, waitOrder',
            ExpressionAttributeNames: { '#at': 'at' },
          }),
        );
        if (item === undefined || item.waitOrder !== undefined) return false;
        // Its place as its first WAIT would have given it (markWaiting): when it started waiting, less its lead.
        const since = Number(item.since ?? item.at ?? 0);
        return this.conditional(
          new UpdateCommand({
            TableName: this.tableName,
            Key,
            UpdateExpression: 'SET waitOrder = :order',
            ConditionExpression: 'attribute_exists(agentId) AND attribute_not_exists(waitOrder)',
            ExpressionAttributeValues: { ':order': waitOrderOf(since, Number(item.leadMs ?? 0), key) },
          }),
        );
      }),
    );
    return ordered.filter(Boolean).length;
  }

  async takeWaiting(role: string, key: string): Promise<string | undefined> {
    const out = await this.client.send(
      new DeleteCommand({
        TableName: this.tableName,
        Key: { agentId: waitingItemId(role, key) },
        ReturnValues: 'ALL_OLD',
      }),
    );
    const token = out.Attributes?.parkedToken;
    return typeof token === 'string' ? token : undefined;
  }

  async recordOutcome(
    agentId: string,
    outcome: { success: boolean; latencyMs: number; at: number; circuit?: CircuitPolicy; spent?: AgentSpend },
    release?: { leaseKey: string },
  ): Promise<Agent | undefined> {
    const policy = outcome.circuit ?? DEFAULT_CIRCUIT_POLICY;
    for (let round = 0; round < MAX_OUTCOME_ROUNDS; round++) {
      const { item: agent, leases } = await this.getWithLeases(agentId);
      if (!agent) return undefined;
      const update = outcomeUpdate(agent, outcome, policy);
      // The slot goes back in the same write when the lease is still held (as release() would); a lease the
      // scaler reclaimed meanwhile gave its slot back already. An agent without a lease map (written before
      // leases existed) had its slot reserved unleased.
      if (release && (leases === undefined ? agent.reserved > 0 : leases[release.leaseKey] !== undefined)) {
        const slot = slotRelease(leases === undefined ? undefined : release.leaseKey);
        update.adds.push(slot.add);
        if (slot.remove) update.removes.push(slot.remove);
        update.conditions.push(slot.condition);
        Object.assign(update.names, slot.names);
        Object.assign(update.values, slot.values);
      }
      const applied = await sendConditional(
        this.client,
        new UpdateCommand({
          TableName: this.tableName,
          Key: { agentId },
          UpdateExpression:
            `SET ${update.sets.join(', ')} ADD ${update.adds.join(', ')}` +
            (update.removes.length > 0 ? ` REMOVE ${update.removes.join(', ')}` : ''),
          ConditionExpression: update.conditions.join(' AND '),
          ...(Object.keys(update.names).length > 0 ? { ExpressionAttributeNames: update.names } : {}),
          ExpressionAttributeValues: update.values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      // Not applied: the agent or the lease went between the read and the write. Read again.
      if (!applied) continue;
      const after = fromItem(applied);
      if (outcome.success || after.circuit === 'open' || after.consecutiveFailures < policy.failureThreshold)
        return after;
      // Concurrent failures each read a count below the threshold, and together reached it: open now.
      return (await this.openCircuit(agentId, outcome.at + policy.openMs, policy.failureThreshold)) ?? after;
    }
    throw new StaleWriteError(`agent ${agentId}: the outcome's write failed ${MAX_OUTCOME_ROUNDS} times`);
  }

  /** Opens a closed circuit whose consecutive failures reached `threshold`; the agent after, or undefined. */
  private async openCircuit(agentId: string, until: number, threshold: number): Promise<Agent | undefined> {
    const applied = await sendConditional(
      this.client,
      new UpdateCommand({
        TableName: this.tableName,
        Key: { agentId },
        UpdateExpression: 'SET #circuit = :open, circuitOpenUntil = :until',
        ConditionExpression: '#circuit <> :open AND consecutiveFailures >= :threshold',
        ExpressionAttributeNames: { '#circuit': 'circuit' },
        ExpressionAttributeValues: { ':open': 'open', ':until': until, ':threshold': threshold },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return applied ? fromItem(applied) : undefined;
  }

  async setStatus(agentId: string, status: Agent['status']): Promise<void> {
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { agentId },
        UpdateExpression: 'SET #status = :s',
        ConditionExpression: 'attribute_exists(agentId)',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':s': status },
      }),
    );
  }

  async update(
    agentId: string,
    patch: Partial<Pick<Agent, 'capacity' | 'status' | 'specializations' | 'executor'>>,
  ): Promise<Agent | undefined> {
    const entries = Object.entries(patch).filter(([, value]) => value !== undefined);
    if (entries.length === 0) return this.get(agentId);
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    const sets = entries.map(([field, value], i) => {
      names[`#f${i}`] = field;
      values[`:v${i}`] = value;
      return `#f${i} = :v${i}`;
    });
    const applied = await sendConditional(
      this.client,
      new UpdateCommand({
        TableName: this.tableName,
        Key: { agentId },
        UpdateExpression: `SET ${sets.join(', ')}`,
        ConditionExpression: 'attribute_exists(agentId)',
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
        ReturnValues: 'ALL_NEW',
      }),
    );
    return applied ? fromItem(applied) : undefined;
  }

  async terminateIfIdle(agentId: string, idleBefore: number): Promise<boolean> {
    return await this.conditional(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { agentId },
        UpdateExpression: 'SET #status = :terminated',
        ConditionExpression: 'reserved = :zero AND lastActiveAt < :cutoff AND #status <> :terminated',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':zero': 0, ':cutoff': idleBefore, ':terminated': 'terminated' },
      }),
    );
  }

  private async rawItem(agentId: string): Promise<Record<string, unknown> | undefined> {
    const result = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { agentId }, ConsistentRead: true }),
    );
    return result.Item;
  }

  /** Creates an empty map attribute `name` on the item if it has none (agents written before leases). */
  private async initMap(agentId: string, name: string): Promise<void> {
    await this.conditional(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { agentId },
        UpdateExpression: 'SET #map = :empty',
        ConditionExpression: 'attribute_not_exists(#map)',
        ExpressionAttributeNames: { '#map': name },
        ExpressionAttributeValues: { ':empty': {} },
      }),
    );
  }

  /** Runs a lease write; when the agent has no `leases` map yet, creates it and runs the write again. */
  private async withLeases(agentId: string, write: () => Promise<boolean>): Promise<boolean> {
    try {
      return await write();
    } catch (error) {
      if (!isMissingMap(error)) throw error;
      if (!(await this.rawItem(agentId))) return false;
      await this.initMap(agentId, 'leases');
      return write();
    }
  }

  private async getWithLeases(agentId: string): Promise<{ item?: Agent; leases?: Record<string, unknown> }> {
    const result = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { agentId }, ConsistentRead: true }),
    );
    if (!result.Item) return {};
    const leases = result.Item.leases;
    return {
      item: fromItem(result.Item),
      ...(leases !== null && typeof leases === 'object' ? { leases: leases as Record<string, unknown> } : {}),
    };
  }

  /** Sends a conditional update: true when it applied, false when its condition did not hold. */
  private async conditional(command: UpdateCommand): Promise<boolean> {
    return (await sendConditional(this.client, command)) !== undefined;
  }
}
