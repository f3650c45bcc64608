/**
 * AgentRegistry on DynamoDB (agents table, keys in tables.ts). Reservations are single conditional ADDs, so
 * concurrent routers can never push `reserved` past `capacity` or below zero. Metrics are a versioned
 * read-modify-write because the EWMA needs the previous value.
 */
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { type Agent, AgentSchema } from '../../domain/schemas';
import { type AgentRegistry, StaleWriteError } from '../../ports';
import { documentClient, isConditionFailed } from './client';
import { AGENTS_TABLE } from './tables';

/** Weight of the newest latency in the moving average: reacts within a few tasks, smooths one outlier. */
export const EWMA_ALPHA = 0.3;
/** Consecutive failures that open an agent's circuit. */
export const CIRCUIT_FAILURE_THRESHOLD = 3;
/** How long an open circuit keeps the agent out of routing before it may be tried again (half-open). */
export const CIRCUIT_OPEN_MS = 30_000;
/**
 * Version conflicts recordOutcome absorbs before giving up. Each conflict means another outcome on the same
 * agent landed first, so progress is guaranteed; the bound only stops a runaway loop.
 */
export const MAX_VERSION_RETRIES = 50;
/** Upper bound of the random pause after a conflict, times the round number. */
const VERSION_RETRY_JITTER_MS = 5;
/** Attribute names that are DynamoDB reserved words, aliased in every expression that uses them. */
const NAMES = {
  '#status': 'status',
  '#reserved': 'reserved',
  '#capacity': 'capacity',
  '#circuit': 'circuit',
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The next metrics of `agent` after one outcome: counters, EWMA latency and circuit. Pure. */
export function nextMetrics(
  agent: Agent,
  outcome: { success: boolean; latencyMs: number; at: number },
): Pick<Agent, 'ewmaLatencyMs' | 'consecutiveFailures' | 'circuit' | 'circuitOpenUntil'> {
  if (outcome.success) {
    const previous = agent.ewmaLatencyMs;
    return {
      ewmaLatencyMs:
        previous === undefined
          ? outcome.latencyMs
          : EWMA_ALPHA * outcome.latencyMs + (1 - EWMA_ALPHA) * previous,
      consecutiveFailures: 0,
      circuit: 'closed',
      circuitOpenUntil: undefined,
    };
  }
  const consecutiveFailures = agent.consecutiveFailures + 1;
  // A failure while half-open (open circuit whose wait is over) re-opens at once.
  const halfOpen = agent.circuit !== 'closed';
  const open = halfOpen || consecutiveFailures >= CIRCUIT_FAILURE_THRESHOLD;
  return {
    ewmaLatencyMs: agent.ewmaLatencyMs,
    consecutiveFailures,
    circuit: open ? 'open' : 'closed',
    circuitOpenUntil: open ? outcome.at + CIRCUIT_OPEN_MS : undefined,
  };
}

function fromItem(item: Record<string, unknown>): Agent {
  return AgentSchema.parse(item);
}

export class DynamoAgentRegistry implements AgentRegistry {
  constructor(
    private readonly tableName: string,
    private readonly client: DynamoDBDocumentClient = documentClient(),
  ) {}

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
      for (const item of page.Items ?? []) agents.push(fromItem(item));
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    return agents.sort((a, b) => a.agentId.localeCompare(b.agentId));
  }

  async get(agentId: string): Promise<Agent | undefined> {
    const { item } = await this.getWithVersion(agentId);
    return item;
  }

  async put(agent: Agent): Promise<void> {
    await this.client.send(new PutCommand({ TableName: this.tableName, Item: { ...agent } }));
  }

  async create(agent: Agent): Promise<boolean> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...agent },
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

  async reserve(agentId: string, at: number): Promise<boolean> {
    return this.conditional(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { agentId },
        UpdateExpression: 'ADD #reserved :one SET lastActiveAt = :at, #status = :active',
        ConditionExpression:
          'attribute_exists(agentId) AND #reserved < #capacity AND #status IN (:active, :idle) ' +
          'AND (#circuit <> :open OR circuitOpenUntil <= :at)',
        ExpressionAttributeNames: NAMES,
        ExpressionAttributeValues: {
          ':one': 1,
          ':at': at,
          ':active': 'active',
          ':idle': 'idle',
          ':open': 'open',
        },
      }),
    );
  }

  async release(agentId: string, at: number): Promise<void> {
    // A release that finds nothing reserved (a repeated release) is a no-op, never a negative count.
    await this.conditional(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { agentId },
        UpdateExpression: 'ADD #reserved :minus SET lastActiveAt = :at',
        ConditionExpression: '#reserved > :zero',
        ExpressionAttributeNames: { '#reserved': 'reserved' },
        ExpressionAttributeValues: { ':minus': -1, ':zero': 0, ':at': at },
      }),
    );
  }

  async recordOutcome(
    agentId: string,
    outcome: { success: boolean; latencyMs: number; at: number },
  ): Promise<Agent | undefined> {
    for (let round = 0; round < MAX_VERSION_RETRIES; round++) {
      const { item: agent, version } = await this.getWithVersion(agentId);
      if (!agent) return undefined;
      const next = nextMetrics(agent, outcome);
      const sets = [
        'consecutiveFailures = :cf',
        '#circuit = :circuit',
        'lastActiveAt = :at',
        '#version = :next',
      ];
      const values: Record<string, unknown> = {
        ':cf': next.consecutiveFailures,
        ':circuit': next.circuit,
        ':at': outcome.at,
        ':next': version + 1,
        ':one': 1,
        ':s': outcome.success ? 1 : 0,
        ':f': outcome.success ? 0 : 1,
      };
      if (next.ewmaLatencyMs !== undefined) {
        sets.push('ewmaLatencyMs = :ewma');
        values[':ewma'] = next.ewmaLatencyMs;
      }
      if (next.circuitOpenUntil !== undefined) {
        sets.push('circuitOpenUntil = :until');
        values[':until'] = next.circuitOpenUntil;
      }
      if (version > 0) values[':v'] = version;
      const applied = await this.conditional(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { agentId },
          UpdateExpression:
            `SET ${sets.join(', ')} ADD attempts :one, successes :s, failures :f` +
            (next.circuitOpenUntil === undefined ? ' REMOVE circuitOpenUntil' : ''),
          ConditionExpression: version === 0 ? 'attribute_not_exists(#version)' : '#version = :v',
          ExpressionAttributeNames: { '#circuit': 'circuit', '#version': 'version' },
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
        true,
      );
      if (applied) return fromItem(applied);
      // Lost to a concurrent outcome on the same agent: back off a little (with jitter) and re-read.
      await sleep(Math.random() * VERSION_RETRY_JITTER_MS * (round + 1));
    }
    throw new StaleWriteError(`agent ${agentId}: metrics update lost ${MAX_VERSION_RETRIES} version races`);
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
    const applied = await this.conditional(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { agentId },
        UpdateExpression: `SET ${sets.join(', ')}`,
        ConditionExpression: 'attribute_exists(agentId)',
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
        ReturnValues: 'ALL_NEW',
      }),
      true,
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

  private async getWithVersion(agentId: string): Promise<{ item?: Agent; version: number }> {
    const result = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { agentId }, ConsistentRead: true }),
    );
    if (!result.Item) return { version: 0 };
    const version = typeof result.Item.version === 'number' ? result.Item.version : 0;
    return { item: fromItem(result.Item), version };
  }

  /** Sends a conditional update: the new attributes (or true) when it applied, false when it did not. */
  private async conditional(command: UpdateCommand): Promise<boolean>;
  private async conditional(
    command: UpdateCommand,
    returnItem: true,
  ): Promise<Record<string, unknown> | false>;
  private async conditional(
    command: UpdateCommand,
    returnItem = false,
  ): Promise<boolean | Record<string, unknown>> {
    try {
      const result = await this.client.send(command);
      return returnItem ? (result.Attributes ?? {}) : true;
    } catch (error) {
      if (isConditionFailed(error)) return false;
      throw error;
    }
  }
}
