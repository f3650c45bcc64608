/**
 * TaskStore on DynamoDB: batches, tasks and idempotency keys in the tasks table (layout in keys.ts).
 * Every state transition is a conditional write; no transactions (dynalite has none) and no TTL.
 */
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { BudgetAmount } from '../../domain/budget';
import { boundedContextRecord, type TaskWork } from '../../domain/context';
import { listedDecision, shortenText } from '../../domain/item-size';
import { MAX_STORED_COMMENT_BYTES, MAX_STORED_ERROR_BYTES } from '../../domain/limits';
import type {
  ApprovalRecord,
  ArtifactRef,
  Attempt,
  BatchStatus,
  ContextRecord,
  ExtractedRequirements,
  ReviewFailure,
  RoutingDecision,
  TaskStatus,
  TriggerRule,
} from '../../domain/schemas';
import { type DependencyOutcome, releaseDelta } from '../../domain/trigger';
import {
  type ApprovalWait,
  type AttemptEnd,
  type AttemptRecord,
  type BatchCreation,
  type BatchListing,
  type BatchState,
  InvalidCursorError,
  NotFoundError,
  type ReleaseResult,
  type RunningBatch,
  StaleWriteError,
  type StoredBatch,
  type StoredTask,
  TASK_SUMMARY_FIELDS,
  type TaskStatusCounts,
  type TaskStore,
  type TaskSummary,
  type TransitionFields,
} from '../../ports';
import { getAll } from './batch-get';
import { deleteAll, putAll } from './batch-write';
import { documentClient, isConditionFailed, sendConditional } from './client';
import {
  BATCH_LIST_PK,
  BATCH_SK,
  batchListSk,
  batchPk,
  connectionPk,
  IDEMPOTENCY_SK,
  ItemType,
  idempotencyPk,
  RUNNING_BATCH_PK,
  SUB_SK_PREFIX,
  subSk,
  TASK_SK_PREFIX,
  taskSk,
} from './keys';
import { TASKS_TABLE } from './tables';

const TERMINAL: readonly TaskStatus[] = ['SUCCEEDED', 'FAILED', 'SKIPPED', 'CANCELLED'];
const TERMINAL_VALUES = { ':t1': 'SUCCEEDED', ':t2': 'FAILED', ':t3': 'SKIPPED', ':t4': 'CANCELLED' };
const NOT_TERMINAL = 'NOT #status IN (:t1, :t2, :t3, :t4)';

/** DynamoDB's refusal of a write that would make the item larger than its 400 KB. */
function isItemTooLarge(error: unknown): boolean {
  return error instanceof Error && error.name === 'ValidationException' && /item size/i.test(error.message);
}

/**
 * A free text as the item keeps it (a reason, an error): at most MAX_STORED_ERROR_BYTES, marked when shortened,
 * so ten attempts' errors and a reason quoting them never take the item past 400 KB (domain/item-size.ts).
 */
const storedError = (text: string): string => shortenText(text, MAX_STORED_ERROR_BYTES);

/** An approval record as the item keeps it: its comment at most MAX_STORED_COMMENT_BYTES, marked when shortened. */
function storedApproval(record: ApprovalRecord): ApprovalRecord {
  return record.comment === undefined
    ? record
    : { ...record, comment: shortenText(record.comment, MAX_STORED_COMMENT_BYTES) };
}

/** `record` with its context record replaced by `context` (left out when undefined). */
function withContext<T extends { context?: ContextRecord }>(
  record: T,
  context: ContextRecord | undefined,
): T {
  const { context: _replaced, ...rest } = record;
  return (context === undefined ? rest : { ...rest, context }) as T;
}

/**
 * Sends a conditional update that writes an attempt's context record (`make(context)`); when DynamoDB refuses
 * it because the item would pass 400 KB, sends it again with the record reduced to its counts
 * (boundedContextRecord with no room for items), so the attempt's end and the task's outcome are kept:
 * a raw ValidationException lost them. (The record is bounded where it is made, MAX_CONTEXT_RECORD_BYTES;
 * this is for an item that is large for other reasons.)
 */
async function sendKeepingOutcome(
  client: DynamoDBDocumentClient,
  context: ContextRecord | undefined,
  make: (context: ContextRecord | undefined) => UpdateCommand,
): Promise<Record<string, unknown> | undefined> {
  try {
    return await sendConditional(client, make(context));
  } catch (error) {
    if (context === undefined || !isItemTooLarge(error)) throw error;
    return sendConditional(client, make(boundedContextRecord(context, 0)));
  }
}

/** The conditional status write of setTaskStatus / transitionTask: only a task not terminal yet moves. */
function statusUpdate(
  tableName: string,
  batchId: string,
  taskId: string,
  status: TaskStatus,
  fields: TransitionFields,
): UpdateCommand {
  const sets = ['#status = :s'];
  const names: Record<string, string> = { '#status': 'status' };
  const values: Record<string, unknown> = { ':s': status, ...TERMINAL_VALUES };
  if (fields.reason !== undefined) {
    sets.push('reason = :r');
    values[':r'] = storedError(fields.reason);
  }
  if (fields.at !== undefined && TERMINAL.includes(status)) {
    sets.push('finishedAt = :at');
    values[':at'] = fields.at;
  }
  if (fields.expandedTasks !== undefined) {
    sets.push('expandedTasks = :x');
    values[':x'] = fields.expandedTasks;
  }
  const { attempt } = fields;
  if (attempt) {
    // The attempt ends with the task's status (attempt n sits at index n - 1, see finishAttempt).
    const slot = `attempts[${attempt.number - 1}]`;
    sets.push(`${slot}.#status = :s`, `${slot}.finishedAt = :af`);
    values[':af'] = attempt.finishedAt;
    attemptEndSets(slot, attempt, sets, names, values);
  }
  return new UpdateCommand({
    TableName: tableName,
    Key: { pk: batchPk(batchId), sk: taskSk(taskId) },
    UpdateExpression: `SET ${sets.join(', ')}`,
    ConditionExpression: `attribute_exists(pk) AND ${NOT_TERMINAL}`,
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  });
}

/**
 * The SET clauses of an attempt's end besides its status: the output (or its artifact reference) on the
 * task, the record (context, usage, cost) on the attempt at `slot`.
 */
function attemptEndSets(
  slot: string,
  end: AttemptEnd,
  sets: string[],
  names: Record<string, string>,
  values: Record<string, unknown>,
): void {
  if (end.output !== undefined) {
    sets.push(`${OUTPUT_JSON} = :o`);
    values[':o'] = JSON.stringify(end.output);
  }
  if (end.outputRef !== undefined) {
    sets.push('outputRef = :ref');
    values[':ref'] = end.outputRef;
  }
  attemptRecordSets(slot, end, sets, names, values);
}

/** The SET clauses of an attempt's record (context, usage, cost) on the attempt at `slot`. */
function attemptRecordSets(
  slot: string,
  record: AttemptRecord,
  sets: string[],
  names: Record<string, string>,
  values: Record<string, unknown>,
): void {
  if (record.context !== undefined) {
    sets.push(`${slot}.#context = :ctx`);
    names['#context'] = 'context';
    values[':ctx'] = record.context;
  }
  if (record.usage !== undefined) {
    sets.push(`${slot}.#usage = :usage`);
    names['#usage'] = 'usage';
    values[':usage'] = record.usage;
  }
  if (record.costUsd !== undefined) {
    sets.push(`${slot}.costUsd = :cost`);
    values[':cost'] = record.costUsd;
  }
  if (record.permanent !== undefined) {
    sets.push(`${slot}.#permanent = :permanent`);
    names['#permanent'] = 'permanent';
    values[':permanent'] = record.permanent;
  }
}

/** Every attribute of BatchState (checked below: adding a field to StoredBatch fails to compile until listed). */
const BATCH_STATE_ATTRIBUTES = [
  'batchId',
  'status',
  'createdAt',
  'startedAt',
  'finishedAt',
  'maxAttempts',
  'failFast',
  'executionArn',
  'idempotencyKey',
  'cancelRequested',
  'cancelReason',
  'redriveCount',
  'makespanMs',
  'taskCount',
  'taskCounts',
  'costUsd',
  'usage',
  'requestHash',
  'budget',
  'creation',
  'expansionTasks',
] as const satisfies readonly (keyof BatchState)[];

/** `true` when `Listed` names every key of `T`: an attribute list checked against its type at compile time. */
type ListsEvery<T, Listed> = Exclude<keyof T, Listed> extends never ? true : never;
const everyBatchStateAttribute: ListsEvery<BatchState, (typeof BATCH_STATE_ATTRIBUTES)[number]> = true;
void everyBatchStateAttribute;

/** The projection of `attributes`, each through a placeholder (`status`, `role`, `index` are reserved words). */
function projectionOf(attributes: readonly string[]): {
  ProjectionExpression: string;
  ExpressionAttributeNames: Record<string, string>;
} {
  return {
    ProjectionExpression: attributes.map((_, i) => `#p${i}`).join(', '),
    ExpressionAttributeNames: Object.fromEntries(attributes.map((name, i) => [`#p${i}`, name])),
  };
}

/** getBatchState's projection, built once. */
const BATCH_STATE_PROJECTION = projectionOf(BATCH_STATE_ATTRIBUTES);

/**
 * Free JSON from users and agents (a task's `input` and `outputSchema`, its `output`) is stored as JSON
 * text, never as a DynamoDB map. The SDK's marshaller reads `value.constructor` to tell maps from class
 * instances, so an object with a `constructor` key fails to marshal (a 500), a `__proto__` key is silently
 * dropped both ways, and numbers beyond 2^53 are refused; DynamoDB numbers also stop at 1e-130 and 1e126,
 * and maps nest at most 32 levels. Text round-trips every JSON value exactly. (An output schema is JSON
 * Schema, whose `properties` name the output's fields: `constructor` is as likely a field as any.)
 */
const INPUT_JSON = 'inputJson';
const OUTPUT_JSON = 'outputJson';
const OUTPUT_SCHEMA_JSON = 'outputSchemaJson';

function toTaskItem(task: StoredTask): Record<string, unknown> {
  const { releasedBy, output, task: wire, ...rest } = task;
  const { input, outputSchema, ...wireRest } = wire;
  return {
    pk: batchPk(task.batchId),
    sk: taskSk(task.taskId),
    type: ItemType.Task,
    ...rest,
    task: wireRest,
    ...(input === undefined ? {} : { [INPUT_JSON]: JSON.stringify(input) }),
    ...(outputSchema === undefined ? {} : { [OUTPUT_SCHEMA_JSON]: JSON.stringify(outputSchema) }),
    ...(output === undefined ? {} : { [OUTPUT_JSON]: JSON.stringify(output) }),
    // A string set, so a dependency's completion is added (and tested) atomically; empty sets are illegal.
    ...(releasedBy && releasedBy.length > 0 ? { releasedBy: new Set(releasedBy) } : {}),
  };
}

function fromTaskItem(item: Record<string, unknown>): StoredTask {
  const {
    pk: _pk,
    sk: _sk,
    type: _type,
    claimedAttempt: _claimed,
    reviewFailedRuns: _runs,
    expandedFrom: _expandedFrom,
    releasedBy,
    [INPUT_JSON]: inputJson,
    [OUTPUT_JSON]: outputJson,
    [OUTPUT_SCHEMA_JSON]: outputSchemaJson,
    ...rest
  } = item;
  const task = rest as unknown as StoredTask;
  // Items written before the output schema moved to text keep it inside `task`, where it is read as it is.
  const wire = {
    ...task.task,
    ...(typeof inputJson === 'string' ? { input: JSON.parse(inputJson) as Record<string, unknown> } : {}),
    ...(typeof outputSchemaJson === 'string'
      ? { outputSchema: JSON.parse(outputSchemaJson) as Record<string, unknown> }
      : {}),
  };
  return {
    ...task,
    task: wire,
    ...(typeof outputJson === 'string' ? { output: JSON.parse(outputJson) as unknown } : {}),
    releasedBy: releasedBy instanceof Set ? [...releasedBy].map(String) : [],
  };
}

/** What listTaskSummaries reads of a task item: the fields of TaskSummary, as a task item names them. */
const SUMMARY_PROJECTION = projectionOf(TASK_SUMMARY_FIELDS);

/** What getWork reads of a task item: no description, input or routing decision. */
const WORK_PROJECTION = {
  expression: '#id, #status, #role, #agent, #output, #ref, #reason, #task.#deps',
  names: {
    '#id': 'taskId',
    '#status': 'status',
    '#role': 'role',
    '#agent': 'agentId',
    '#output': OUTPUT_JSON,
    '#ref': 'outputRef',
    '#reason': 'reason',
    '#task': 'task',
    '#deps': 'dependsOn',
  },
};

function workOf(item: Record<string, unknown>): TaskWork {
  const task = item.task as { dependsOn?: string[] } | undefined;
  const outputJson = item[OUTPUT_JSON];
  return {
    taskId: String(item.taskId),
    status: item.status as TaskStatus,
    ...(typeof item.role === 'string' ? { role: item.role } : {}),
    ...(typeof item.agentId === 'string' ? { agentId: item.agentId } : {}),
    ...(typeof outputJson === 'string' ? { output: JSON.parse(outputJson) as unknown } : {}),
    ...(item.outputRef ? { outputRef: item.outputRef as ArtifactRef } : {}),
    ...(typeof item.reason === 'string' ? { reason: item.reason } : {}),
    dependsOn: task?.dependsOn ?? [],
  };
}

/** The gate's counters, rule and token as a task item holds them (counters absent on older items: 0). */
function gateStateOf(item: Record<string, unknown>): ReleaseResult {
  const trigger = (item.task as { trigger?: TriggerRule } | undefined)?.trigger;
  return {
    pendingDeps: Number(item.pendingDeps ?? 0),
    failedDeps: Number(item.failedDeps ?? 0),
    skippedDeps: Number(item.skippedDeps ?? 0),
    succeededDeps: Number(item.succeededDeps ?? 0),
    ...(typeof item.gateToken === 'string' ? { gateToken: item.gateToken } : {}),
    ...(trigger !== undefined ? { trigger } : {}),
  };
}

function fromBatchItem(item: Record<string, unknown>): StoredBatch {
  const {
    pk: _pk,
    sk: _sk,
    type: _type,
    listPk: _listPk,
    listSk: _listSk,
    runningPk: _runningPk,
    expandedBy,
    ...rest
  } = item;
  const batch = rest as unknown as StoredBatch;
  // A string set in the item (added to atomically), a list here.
  return expandedBy instanceof Set ? { ...batch, expandedBy: [...expandedBy].map(String) } : batch;
}

/**
 * The partition of a batch index (the list index's listPk, the running index's runningPk) and its one value.
 * With the table's keys and the sort key listSk, it is what an entry's LastEvaluatedKey holds, so what a cursor
 * holds.
 */
interface BatchIndexPartition {
  readonly name: 'listPk' | 'runningPk';
  readonly value: string;
}
const LIST_PARTITION: BatchIndexPartition = { name: 'listPk', value: BATCH_LIST_PK };
const RUNNING_PARTITION: BatchIndexPartition = { name: 'runningPk', value: RUNNING_BATCH_PK };

/** A page's last key as an opaque cursor. */
function encodeCursor(key: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

/** A cursor back to the key it was made from; InvalidCursorError for anything this store did not make. */
function decodeCursor(cursor: string, partition: BatchIndexPartition): Record<string, string> {
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidCursorError(cursor);
  }
  const record = (typeof key === 'object' && key !== null ? key : {}) as Record<string, unknown>;
  const attributes = ['pk', 'sk', partition.name, 'listSk'];
  const valid =
    Object.keys(record).length === attributes.length &&
    attributes.every((name) => typeof record[name] === 'string') &&
    record[partition.name] === partition.value &&
    record.sk === BATCH_SK &&
    String(record.pk).startsWith(batchPk(''));
  if (!valid) throw new InvalidCursorError(cursor);
  return record as Record<string, string>;
}

/** The removal of the approval record at `index`, conditional on it still being `record`. */
function retractionOf(index: number, record: ApprovalRecord) {
  return {
    update: `REMOVE approvals[${index}]`,
    condition: `approvals[${index}].#at = :at AND approvals[${index}].#by = :by AND approvals[${index}].#decision = :decision`,
    names: { '#at': 'at', '#by': 'by', '#decision': 'decision' },
    values: { ':at': record.at, ':by': record.by, ':decision': record.decision },
  };
}

/**
 * The update of a batch patch: a field set to undefined is removed (`batchId`, the key, is never written).
 * A status puts the batch in the running index (RUNNING) or takes it out (any other). Undefined when the patch
 * changes nothing.
 */
function batchPatch(
  patch: Partial<StoredBatch>,
): { expression: string; names: Record<string, string>; values: Record<string, unknown> } | undefined {
  const sets: string[] = [];
  const removes: string[] = [];
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  Object.entries(patch).forEach(([field, value], i) => {
    if (field === 'batchId') return;
    names[`#f${i}`] = field;
    if (value === undefined) removes.push(`#f${i}`);
    else {
      sets.push(`#f${i} = :v${i}`);
      // A cancel's reason may quote a failure's (failFast): bounded like the task's own.
      values[`:v${i}`] = field === 'cancelReason' && typeof value === 'string' ? storedError(value) : value;
    }
  });
  if (patch.status !== undefined) {
    names['#running'] = RUNNING_PARTITION.name;
    if (patch.status === 'RUNNING') {
      sets.push('#running = :running');
      values[':running'] = RUNNING_PARTITION.value;
    } else removes.push('#running');
  }
  if (sets.length === 0 && removes.length === 0) return undefined;
  const expression = [
    sets.length > 0 ? `SET ${sets.join(', ')}` : '',
    removes.length > 0 ? `REMOVE ${removes.join(', ')}` : '',
  ]
    .filter((part) => part !== '')
    .join(' ');
  return { expression, names, values };
}

export class DynamoTaskStore implements TaskStore {
  constructor(
    private readonly tableName: string,
    private readonly client: DynamoDBDocumentClient = documentClient(),
  ) {}

  async claimBatch(
    batch: StoredBatch,
  ): Promise<{ claimed: true } | { claimed: false; existing: StoredBatch }> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            pk: batchPk(batch.batchId),
            sk: BATCH_SK,
            type: ItemType.Batch,
            listPk: BATCH_LIST_PK,
            listSk: batchListSk(batch.createdAt, batch.batchId),
            ...(batch.status === 'RUNNING' ? { [RUNNING_PARTITION.name]: RUNNING_PARTITION.value } : {}),
            ...batch,
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return { claimed: true };
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
    }
    const existing = await this.getBatch(batch.batchId);
    // A batch item is never deleted, so the one that refused the put is there to read.
    if (!existing) throw new NotFoundError('batch', batch.batchId);
    return { claimed: false, existing };
  }

  async updateBatchCreation(
    batchId: string,
    owner: string,
    next: BatchCreation | undefined,
    patch: Partial<Pick<StoredBatch, 'executionArn'>> = {},
  ): Promise<boolean> {
    const update = batchPatch({ ...patch, creation: next });
    if (!update) return false;
    return this.conditional(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: batchPk(batchId), sk: BATCH_SK },
        UpdateExpression: update.expression,
        ConditionExpression: '#creation.#owner = :owner AND #status = :running',
        ExpressionAttributeNames: {
          ...update.names,
          '#creation': 'creation',
          '#owner': 'owner',
          '#status': 'status',
        },
        ExpressionAttributeValues: { ...update.values, ':owner': owner, ':running': 'RUNNING' },
      }),
    );
  }

  async createBatch(batch: StoredBatch, tasks: StoredTask[]): Promise<{ created: boolean; batchId: string }> {
    const claim = await this.claimBatch(batch);
    if (claim.claimed) await this.putTasks(tasks);
    return { created: claim.claimed, batchId: batch.batchId };
  }

  async claimIdempotencyKey(
    key: string,
    batchId: string,
    requestHash: string,
    at: number,
  ): Promise<{ claimed: true } | { claimed: false; batchId: string; requestHash?: string }> {
    const Key = { pk: idempotencyPk(key), sk: IDEMPOTENCY_SK };
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...Key, type: ItemType.Idempotency, batchId, requestHash, createdAt: at },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return { claimed: true };
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
    }
    const existing = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key, ConsistentRead: true }),
    );
    const item = existing.Item ?? {};
    return {
      claimed: false,
      batchId: String(item.batchId),
      ...(typeof item.requestHash === 'string' ? { requestHash: item.requestHash } : {}),
    };
  }

  async releaseIdempotencyKey(key: string, batchId: string, requestHash: string): Promise<void> {
    try {
      await this.client.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { pk: idempotencyPk(key), sk: IDEMPOTENCY_SK },
          ConditionExpression: 'batchId = :b AND requestHash = :h',
          ExpressionAttributeValues: { ':b': batchId, ':h': requestHash },
        }),
      );
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
    }
  }

  async getBatch(batchId: string): Promise<StoredBatch | undefined> {
    const result = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: batchPk(batchId), sk: BATCH_SK },
        ConsistentRead: true,
      }),
    );
    return result.Item ? fromBatchItem(result.Item) : undefined;
  }

  async getBatchState(batchId: string): Promise<BatchState | undefined> {
    const result = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: batchPk(batchId), sk: BATCH_SK },
        ConsistentRead: true,
        ...BATCH_STATE_PROJECTION,
      }),
    );
    return result.Item ? (result.Item as BatchState) : undefined;
  }

  async updateBatch(batchId: string, patch: Partial<StoredBatch>): Promise<void> {
    const update = batchPatch(patch);
    if (!update) return;
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: batchPk(batchId), sk: BATCH_SK },
          UpdateExpression: update.expression,
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: update.names,
          ...(Object.keys(update.values).length > 0 ? { ExpressionAttributeValues: update.values } : {}),
        }),
      );
    } catch (error) {
      if (isConditionFailed(error)) throw new NotFoundError('batch', batchId);
      throw error;
    }
  }

  async deleteFinishedBatch(batchId: string, status: BatchStatus): Promise<boolean> {
    let old: Record<string, unknown> | undefined;
    try {
      // The batch item first, on the status the caller saw and no creation under way: from here on the
      // batch is not found (a redrive or a read answers 404), so nothing writes its other items again.
      const result = await this.client.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { pk: batchPk(batchId), sk: BATCH_SK },
          ConditionExpression: '#status = :status AND attribute_not_exists(creation)',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':status': status },
          ReturnValues: 'ALL_OLD',
        }),
      );
      old = result.Attributes;
    } catch (error) {
      if (isConditionFailed(error)) return false;
      throw error;
    }
    const keys: Record<string, unknown>[] = [];
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': batchPk(batchId) },
          ProjectionExpression: 'pk, sk, connectionId',
          ExclusiveStartKey,
        }),
      );
      for (const item of page.Items ?? []) {
        keys.push({ pk: item.pk, sk: item.sk });
        // A subscription's reverse item, which $disconnect would otherwise find and follow.
        if (String(item.sk).startsWith(SUB_SK_PREFIX) && typeof item.connectionId === 'string') {
          keys.push({ pk: connectionPk(item.connectionId), sk: subSk(batchId) });
        }
      }
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    if (typeof old?.idempotencyKey === 'string') {
      keys.push({ pk: idempotencyPk(old.idempotencyKey), sk: IDEMPOTENCY_SK });
    }
    await deleteAll(this.client, this.tableName, keys);
    return true;
  }

  async getTask(batchId: string, taskId: string): Promise<StoredTask | undefined> {
    const result = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: batchPk(batchId), sk: taskSk(taskId) },
        ConsistentRead: true,
      }),
    );
    return result.Item ? fromTaskItem(result.Item) : undefined;
  }

  async listTasks(batchId: string): Promise<StoredTask[]> {
    const tasks: StoredTask[] = [];
    for await (const item of this.taskItems(batchId, { ConsistentRead: true }))
      tasks.push(fromTaskItem(item));
    return tasks.sort((a, b) => a.index - b.index);
  }

  async listTaskSummaries(batchId: string): Promise<TaskSummary[]> {
    const tasks: TaskSummary[] = [];
    const items = this.taskItems(batchId, { ConsistentRead: true, ...SUMMARY_PROJECTION });
    for await (const item of items) tasks.push(item as unknown as TaskSummary);
    return tasks.sort((a, b) => a.index - b.index);
  }

  async listBatches(page: {
    limit: number;
    cursor?: string;
  }): Promise<{ batches: BatchListing[]; nextCursor?: string }> {
    const { items, nextCursor } = await this.batchIndexPage(TASKS_TABLE.batchListIndex.name, LIST_PARTITION, {
      ...page,
      newestFirst: true,
    });
    const batches = items.map((item) => {
      const { pk: _pk, sk: _sk, listPk: _listPk, listSk: _listSk, ...rest } = item;
      return rest as BatchListing;
    });
    return { batches, ...(nextCursor !== undefined ? { nextCursor } : {}) };
  }

  async listRunningBatches(page: {
    createdBefore: number;
    limit: number;
    cursor?: string;
  }): Promise<{ batches: RunningBatch[]; nextCursor?: string }> {
    const { items, nextCursor } = await this.batchIndexPage(
      TASKS_TABLE.runningIndex.name,
      RUNNING_PARTITION,
      {
        ...page,
        // Every key of a batch created at `createdBefore` or later sorts at or after this one.
        sortBefore: batchListSk(page.createdBefore, ''),
        projection: 'batchId, executionArn',
      },
    );
    const batches = items.map((item) => ({
      batchId: String(item.batchId),
      ...(typeof item.executionArn === 'string' ? { executionArn: item.executionArn } : {}),
    }));
    return { batches, ...(nextCursor !== undefined ? { nextCursor } : {}) };
  }

  async indexRunningBatches(page: {
    limit: number;
    cursor?: string;
  }): Promise<{ indexed: number; nextCursor?: string }> {
    const { items, nextCursor } = await this.batchIndexPage(
      TASKS_TABLE.batchListIndex.name,
      LIST_PARTITION,
      page,
    );
    // The list index holds no runningPk: every RUNNING one is tried, and the condition skips the indexed ones.
    const running = items.filter((item) => item.status === 'RUNNING');
    const written = await Promise.all(
      running.map((item) =>
        this.conditional(
          new UpdateCommand({
            TableName: this.tableName,
            Key: { pk: item.pk, sk: BATCH_SK },
            UpdateExpression: 'SET #running = :running',
            ConditionExpression: '#status = :status AND attribute_not_exists(#running)',
            ExpressionAttributeNames: { '#running': RUNNING_PARTITION.name, '#status': 'status' },
            ExpressionAttributeValues: { ':running': RUNNING_PARTITION.value, ':status': 'RUNNING' },
          }),
        ),
      ),
    );
    const indexed = written.filter(Boolean).length;
    return { indexed, ...(nextCursor !== undefined ? { nextCursor } : {}) };
  }

  /**
   * A page of a batch index (the list index, the running index): its one partition, oldest first unless
   * `newestFirst`, keys before `sortBefore` only when given, at most `limit` items from `cursor` on.
   */
  private async batchIndexPage(
    indexName: string,
    partition: BatchIndexPartition,
    page: { limit: number; cursor?: string; newestFirst?: boolean; sortBefore?: string; projection?: string },
  ): Promise<{ items: Record<string, unknown>[]; nextCursor?: string }> {
    const result = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: indexName,
        KeyConditionExpression: `#partition = :partition${page.sortBefore !== undefined ? ' AND listSk < :before' : ''}`,
        ExpressionAttributeNames: { '#partition': partition.name },
        ExpressionAttributeValues: {
          ':partition': partition.value,
          ...(page.sortBefore !== undefined ? { ':before': page.sortBefore } : {}),
        },
        ...(page.projection !== undefined ? { ProjectionExpression: page.projection } : {}),
        ScanIndexForward: page.newestFirst !== true,
        Limit: page.limit,
        ...(page.cursor !== undefined ? { ExclusiveStartKey: decodeCursor(page.cursor, partition) } : {}),
      }),
    );
    const items = result.Items ?? [];
    // DynamoDB hands a LastEvaluatedKey when the page is full even if nothing follows; an empty next page
    // is harmless, but a cursor that leads nowhere is not offered when the page was not full.
    const last = result.LastEvaluatedKey;
    return { items, ...(last && items.length === page.limit ? { nextCursor: encodeCursor(last) } : {}) };
  }

  async countTaskStatuses(batchId: string): Promise<TaskStatusCounts> {
    const items = this.taskItems(batchId, {
      ProjectionExpression: '#status',
      ExpressionAttributeNames: { '#status': 'status' },
    });
    const counts: TaskStatusCounts = {};
    for await (const { status } of items)
      counts[status as TaskStatus] = (counts[status as TaskStatus] ?? 0) + 1;
    return counts;
  }

  /** Every task item of a batch, page after page (`query` adds a projection or consistency). */
  private async *taskItems(
    batchId: string,
    query: Partial<QueryCommandInput> = {},
  ): AsyncGenerator<Record<string, unknown>> {
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          ...query,
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': batchPk(batchId), ':prefix': TASK_SK_PREFIX },
          ExclusiveStartKey,
        }),
      );
      yield* page.Items ?? [];
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
  }

  async putTasks(tasks: StoredTask[]): Promise<void> {
    await putAll(this.client, this.tableName, tasks.map(toTaskItem));
  }

  async armGate(batchId: string, taskId: string, token: string): Promise<boolean> {
    // Not open (domain/trigger.ts gateOpen): dependencies pending and, when the item's own rule is
    // one_success, none succeeded yet. Items written before trigger rules have neither attribute.
    return this.conditional(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: batchPk(batchId), sk: taskSk(taskId) },
        UpdateExpression: 'SET gateToken = :t',
        ConditionExpression:
          `pendingDeps > :zero AND ${NOT_TERMINAL} AND (attribute_not_exists(#task.#trigger) OR ` +
          '#task.#trigger <> :oneSuccess OR attribute_not_exists(succeededDeps) OR succeededDeps = :zero)',
        ExpressionAttributeNames: { '#status': 'status', '#task': 'task', '#trigger': 'trigger' },
        ExpressionAttributeValues: {
          ':t': token,
          ':zero': 0,
          ':oneSuccess': 'one_success' satisfies TriggerRule,
          ...TERMINAL_VALUES,
        },
      }),
    );
  }

  async releaseDependent(
    batchId: string,
    dependentId: string,
    outcome: DependencyOutcome,
    fromTaskId?: string,
  ): Promise<ReleaseResult> {
    const delta = releaseDelta(outcome);
    const values: Record<string, unknown> = {
      ':minus': delta.pendingDeps,
      ':f': delta.failedDeps,
      ':s': delta.skippedDeps,
      ':ok': delta.succeededDeps,
    };
    let update = 'ADD pendingDeps :minus, failedDeps :f, skippedDeps :s, succeededDeps :ok';
    let condition = 'attribute_exists(pk)';
    if (fromTaskId !== undefined) {
      update += ', releasedBy :fromSet';
      condition += ' AND NOT contains(releasedBy, :from)';
      values[':fromSet'] = new Set([fromTaskId]);
      values[':from'] = fromTaskId;
    }
    try {
      const result = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: batchPk(batchId), sk: taskSk(dependentId) },
          UpdateExpression: update,
          ConditionExpression: condition,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      const item = result.Attributes ?? {};
      return {
        ...gateStateOf(item),
        applied: true,
        ...(item.pk === undefined ? {} : { task: fromTaskItem(item) }),
      };
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
    }
    const task = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: batchPk(batchId), sk: taskSk(dependentId) },
        ConsistentRead: true,
      }),
    );
    if (!task.Item) throw new NotFoundError('task', `${batchId}/${dependentId}`);
    return { ...gateStateOf(task.Item), applied: false };
  }

  async registerExpansion(
    batchId: string,
    plannerId: string,
    taskIds: readonly string[],
    limits: { maxExpansionTasks: number; maxTasks: number },
  ): Promise<{ registered: boolean; batch: StoredBatch }> {
    const count = taskIds.length;
    // None of the ids in the batch yet: another expansion running at the same time may have added one since
    // this one was validated. One NOT over the ORed contains costs two operators an id (`AND NOT contains`
    // per id cost three, and DynamoDB refuses an expression of more than 300 operators), so 100 ids
    // (MAX_TASKS_PER_EXPANSION) stay within its operator limit and the 4 KB of a condition expression.
    const fresh =
      count === 0 ? '' : ` AND NOT (${taskIds.map((_, i) => `contains(#ids, :i${i})`).join(' OR ')})`;
    const item = await sendConditional(
      this.client,
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: batchPk(batchId), sk: BATCH_SK },
        UpdateExpression:
          'SET #ids = list_append(#ids, :ids) ADD taskCount :n, expansionTasks :n, expandedBy :pset',
        ConditionExpression:
          'attribute_exists(pk) AND NOT contains(expandedBy, :p) AND ' +
          '(attribute_not_exists(expansionTasks) OR expansionTasks <= :roomAdded) AND ' +
          `(attribute_not_exists(taskCount) OR taskCount <= :roomTotal)${fresh}`,
        ExpressionAttributeNames: { '#ids': 'taskIds' },
        ExpressionAttributeValues: {
          ...Object.fromEntries(taskIds.map((id, i) => [`:i${i}`, id])),
          ':ids': [...taskIds],
          ':n': count,
          ':pset': new Set([plannerId]),
          ':p': plannerId,
          ':roomAdded': limits.maxExpansionTasks - count,
          ':roomTotal': limits.maxTasks - count,
        },
        ReturnValues: 'ALL_NEW',
      }),
    );
    if (item) return { registered: true, batch: fromBatchItem(item) };
    const batch = await this.getBatch(batchId);
    if (!batch) throw new NotFoundError('batch', batchId);
    return { registered: false, batch };
  }

  async addDependencies(
    batchId: string,
    dependentId: string,
    taskIds: readonly string[],
    plannerId: string,
  ): Promise<boolean> {
    return this.conditional(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: batchPk(batchId), sk: taskSk(dependentId) },
        UpdateExpression:
          'SET #task.#deps = list_append(if_not_exists(#task.#deps, :none), :ids) ADD pendingDeps :n, expandedFrom :pset',
        ConditionExpression: 'attribute_exists(pk) AND NOT contains(expandedFrom, :p)',
        ExpressionAttributeNames: { '#task': 'task', '#deps': 'dependsOn' },
        ExpressionAttributeValues: {
          ':ids': [...taskIds],
          ':none': [],
          ':n': taskIds.length,
          ':pset': new Set([plannerId]),
          ':p': plannerId,
        },
      }),
    );
  }

  async setWaitingRole(
    batchId: string,
    taskId: string,
    role: string,
    requirements?: ExtractedRequirements,
  ): Promise<void> {
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: batchPk(batchId), sk: taskSk(taskId) },
        UpdateExpression: requirements
          ? 'SET waitingRole = :role, requirements = if_not_exists(requirements, :req)'
          : 'SET waitingRole = :role',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':role': role, ...(requirements ? { ':req': requirements } : {}) },
      }),
    );
  }

  async startAttempt(
    batchId: string,
    taskId: string,
    attempt: number,
    agentId: string,
    decision: RoutingDecision,
    at: number,
    held?: BudgetAmount,
  ): Promise<void> {
    const record: Attempt = { agentId, status: 'RUNNING', startedAt: at, ...(held ? { held } : {}) };
    const start = (listed: RoutingDecision) =>
      this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: batchPk(batchId), sk: taskSk(taskId) },
          UpdateExpression:
            'SET attemptCount = :a, agentId = :agent, #role = :role, decision = :d, #status = :running, ' +
            'startedAt = if_not_exists(startedAt, :at), requirements = if_not_exists(requirements, :req), ' +
            'attempts = list_append(if_not_exists(attempts, :empty), :record) REMOVE waitingRole',
          ConditionExpression: `attemptCount = :prev AND ${NOT_TERMINAL}`,
          ExpressionAttributeNames: { '#role': 'role', '#status': 'status' },
          ExpressionAttributeValues: {
            ':a': attempt,
            ':prev': attempt - 1,
            ':agent': agentId,
            ':role': decision.role,
            ':d': listed,
            ':running': 'RUNNING',
            ':at': at,
            ':req': decision.requirements,
            ':empty': [],
            ':record': [record],
            ...TERMINAL_VALUES,
          },
        }),
      );
    try {
      try {
        await start(listedDecision(decision));
      } catch (error) {
        // The last line of defence, like sendKeepingOutcome's: the attempt starts with its winner alone listed
        // (the other agents counted), rather than not at all.
        if (!isItemTooLarge(error)) throw error;
        await start(listedDecision(decision, 1));
      }
    } catch (error) {
      if (isConditionFailed(error))
        throw new StaleWriteError(`attempt ${attempt} of ${batchId}/${taskId} was already started`);
      throw error;
    }
  }

  async claimAttempt(batchId: string, taskId: string, attempt: number): Promise<StoredTask | undefined> {
    const claimed = await sendConditional(
      this.client,
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: batchPk(batchId), sk: taskSk(taskId) },
        UpdateExpression: 'SET claimedAttempt = :a',
        ConditionExpression:
          'attemptCount = :a AND (attribute_not_exists(claimedAttempt) OR claimedAttempt < :a)',
        ExpressionAttributeValues: { ':a': attempt },
        // The worker needs the task it claimed: read it in the same write instead of a second request.
        ReturnValues: 'ALL_NEW',
      }),
    );
    return claimed ? fromTaskItem(claimed) : undefined;
  }

  async getWork(batchId: string, taskIds: readonly string[]): Promise<TaskWork[]> {
    if (taskIds.length === 0) return [];
    const items = await getAll(
      this.client,
      this.tableName,
      [...new Set(taskIds)].map((taskId) => ({ pk: batchPk(batchId), sk: taskSk(taskId) })),
      WORK_PROJECTION,
    );
    return items.map(workOf);
  }

  async setAttemptRecord(
    batchId: string,
    taskId: string,
    attempt: number,
    record: AttemptRecord,
  ): Promise<void> {
    const update = (context: ContextRecord | undefined) => {
      const sets: string[] = [];
      const names: Record<string, string> = {};
      const values: Record<string, unknown> = { ':a': attempt };
      attemptRecordSets(`attempts[${attempt - 1}]`, withContext(record, context), sets, names, values);
      return sets.length === 0
        ? undefined
        : new UpdateCommand({
            TableName: this.tableName,
            Key: { pk: batchPk(batchId), sk: taskSk(taskId) },
            UpdateExpression: `SET ${sets.join(', ')}`,
            // The attempt's slot exists once the attempt was started (startAttempt appends it).
            ConditionExpression: 'attemptCount >= :a',
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
          });
    };
    if (update(record.context) === undefined) return;
    await sendKeepingOutcome(this.client, record.context, (context) => update(context) as UpdateCommand);
  }

  async finishAttempt(
    batchId: string,
    taskId: string,
    attempt: number,
    result: AttemptEnd & { status: Attempt['status']; at: number; error?: string },
  ): Promise<boolean> {
    // attempts[] is appended once per attempt number, in order, so attempt n sits at index n - 1.
    const slot = `attempts[${attempt - 1}]`;
    // A held attempt (AWAITING_APPROVAL) keeps the finishedAt of its agent's answer: the work ended then.
    const sets = [`${slot}.#status = :s`, `${slot}.finishedAt = if_not_exists(${slot}.finishedAt, :at)`];
    const names: Record<string, string> = { '#status': 'status' };
    const values: Record<string, unknown> = {
      ':s': result.status,
      ':at': result.at,
      ':running': 'RUNNING',
      ':held': 'AWAITING_APPROVAL',
    };
    if (result.error !== undefined) {
      sets.push(`${slot}.#error = :e`);
      names['#error'] = 'error';
      values[':e'] = storedError(result.error);
    }
    const written = await sendKeepingOutcome(this.client, result.context, (context) => {
      const allSets = [...sets];
      const allNames = { ...names };
      const allValues = { ...values };
      attemptEndSets(slot, withContext(result, context), allSets, allNames, allValues);
      return new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: batchPk(batchId), sk: taskSk(taskId) },
        UpdateExpression: `SET ${allSets.join(', ')}`,
        ConditionExpression: `${slot}.#status IN (:running, :held)`,
        ExpressionAttributeNames: allNames,
        ExpressionAttributeValues: allValues,
      });
    });
    return written !== undefined;
  }

  async awaitApproval(
    batchId: string,
    taskId: string,
    wait: ApprovalWait,
    held?: AttemptEnd & { number: number; finishedAt: number },
  ): Promise<StoredTask | undefined> {
    const sets = ['#status = :awaiting', 'approvalWait = :wait'];
    const names: Record<string, string> = { '#status': 'status' };
    const values: Record<string, unknown> = {
      ':awaiting': 'AWAITING_APPROVAL',
      ':wait': wait,
      ...TERMINAL_VALUES,
    };
    let condition = `attribute_exists(pk) AND ${NOT_TERMINAL}`;
    const slot = held ? `attempts[${held.number - 1}]` : '';
    if (held) {
      sets.push(`${slot}.#status = :awaiting`, `${slot}.finishedAt = :af`);
      values[':af'] = held.finishedAt;
      values[':running'] = 'RUNNING';
      condition += ` AND attemptCount = :n AND ${slot}.#status IN (:running, :awaiting)`;
      values[':n'] = held.number;
    }
    const item = await sendKeepingOutcome(this.client, held?.context, (context) => {
      const allSets = [...sets];
      const allNames = { ...names };
      const allValues = { ...values };
      if (held) attemptEndSets(slot, withContext(held, context), allSets, allNames, allValues);
      return new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: batchPk(batchId), sk: taskSk(taskId) },
        UpdateExpression: `SET ${allSets.join(', ')}`,
        ConditionExpression: condition,
        ExpressionAttributeNames: allNames,
        ExpressionAttributeValues: allValues,
        ReturnValues: 'ALL_NEW',
      });
    });
    return item ? fromTaskItem(item) : undefined;
  }

  async appendApproval(
    batchId: string,
    taskId: string,
    record: ApprovalRecord,
    token?: string,
  ): Promise<number | undefined> {
    const append = 'SET approvals = list_append(if_not_exists(approvals, :empty), :record)';
    const stored = storedApproval(record);
    // A decision claims the wait and keeps it (with the record as its `decided`) until its answer arrived.
    const item = await sendConditional(
      this.client,
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: batchPk(batchId), sk: taskSk(taskId) },
        UpdateExpression:
          token === undefined
            ? `${append} REMOVE approvalWait`
            : `${append}, approvalWait.decided = :decided`,
        ConditionExpression:
          token === undefined
            ? 'attribute_exists(pk)'
            : 'approvalWait.#token = :token AND attribute_not_exists(approvalWait.decided)',
        ...(token === undefined ? {} : { ExpressionAttributeNames: { '#token': 'token' } }),
        ExpressionAttributeValues: {
          ':empty': [],
          ':record': [stored],
          ...(token === undefined ? {} : { ':token': token, ':decided': stored }),
        },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    if (!item) return undefined;
    const approvals = item.approvals as unknown[] | undefined;
    return (approvals?.length ?? 1) - 1;
  }

  async appendReviewFailure(
    batchId: string,
    taskId: string,
    failure: ReviewFailure,
    run: number,
  ): Promise<boolean> {
    // The runs already recorded are a number set beside the list: a repeated RecordReview adds nothing.
    return this.conditional(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: batchPk(batchId), sk: taskSk(taskId) },
        UpdateExpression:
          'SET reviewFailures = list_append(if_not_exists(reviewFailures, :empty), :failure) ADD reviewFailedRuns :runs',
        ConditionExpression: 'attribute_exists(pk) AND NOT contains(reviewFailedRuns, :run)',
        ExpressionAttributeValues: {
          ':empty': [],
          ':failure': [{ ...failure, error: storedError(failure.error) }],
          ':runs': new Set([run]),
          ':run': run,
        },
      }),
    );
  }

  async endApprovalWait(batchId: string, taskId: string, token: string): Promise<boolean> {
    return this.updateApprovalWait(batchId, taskId, token, 'REMOVE approvalWait');
  }

  async markApprovalUndelivered(
    batchId: string,
    taskId: string,
    token: string,
    failure: { error: string; at: number },
  ): Promise<boolean> {
    return this.updateApprovalWait(batchId, taskId, token, 'SET approvalWait.undelivered = :failure', {
      ':failure': { ...failure, error: storedError(failure.error) },
    });
  }

  /** Applies `update` to the task while its approval wait is `token`'s. */
  private updateApprovalWait(
    batchId: string,
    taskId: string,
    token: string,
    update: string,
    values: Record<string, unknown> = {},
  ): Promise<boolean> {
    return this.conditional(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: batchPk(batchId), sk: taskSk(taskId) },
        UpdateExpression: update,
        ConditionExpression: 'approvalWait.#token = :token',
        ExpressionAttributeNames: { '#token': 'token' },
        ExpressionAttributeValues: { ':token': token, ...values },
      }),
    );
  }

  async reopenApprovalWait(
    batchId: string,
    taskId: string,
    token: string,
    taken: { index: number; record: ApprovalRecord },
  ): Promise<boolean> {
    const retract = retractionOf(taken.index, taken.record);
    return this.conditional(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: batchPk(batchId), sk: taskSk(taskId) },
        UpdateExpression: `${retract.update}, approvalWait.decided, approvalWait.undelivered`,
        ConditionExpression: `approvalWait.#token = :token AND ${retract.condition}`,
        ExpressionAttributeNames: { ...retract.names, '#token': 'token' },
        ExpressionAttributeValues: { ...retract.values, ':token': token },
      }),
    );
  }

  async retractApproval(
    batchId: string,
    taskId: string,
    index: number,
    record: ApprovalRecord,
  ): Promise<boolean> {
    const retract = retractionOf(index, record);
    return this.conditional(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: batchPk(batchId), sk: taskSk(taskId) },
        UpdateExpression: retract.update,
        ConditionExpression: retract.condition,
        ExpressionAttributeNames: retract.names,
        ExpressionAttributeValues: retract.values,
      }),
    );
  }

  async setTaskStatus(
    batchId: string,
    taskId: string,
    status: TaskStatus,
    fields: { reason?: string; at?: number } = {},
  ): Promise<boolean> {
    return this.conditional(statusUpdate(this.tableName, batchId, taskId, status, fields));
  }

  async transitionTask(
    batchId: string,
    taskId: string,
    status: TaskStatus,
    fields: TransitionFields = {},
  ): Promise<StoredTask | undefined> {
    const { attempt } = fields;
    const item = await sendKeepingOutcome(this.client, attempt?.context, (context) => {
      const command = statusUpdate(this.tableName, batchId, taskId, status, {
        ...fields,
        ...(attempt ? { attempt: withContext(attempt, context) } : {}),
      });
      command.input.ReturnValues = 'ALL_NEW';
      return command;
    });
    return item ? fromTaskItem(item) : undefined;
  }

  /** Sends a conditional update: true when it applied, false when its condition did not hold. */
  private async conditional(command: UpdateCommand): Promise<boolean> {
    return (await sendConditional(this.client, command)) !== undefined;
  }
}
