/**
 * Table definitions shared by the CDK construct (infra/) and the embedded runtime (shared/local), so the
 * emulated tables have exactly the deployed keys and indexes.
 */

/** Batches, tasks, idempotency keys and WebSocket subscriptions: pk = `BATCH#<id>` etc., sk = item kind. */
export const TASKS_TABLE = {
  partitionKey: 'pk',
  sortKey: 'sk',
  /** Progress notifications read the stream (new and old images). */
  streamViewType: 'NEW_AND_OLD_IMAGES',
  /** Epoch seconds after which DynamoDB may delete an item (set on progress tokens only). */
  ttlAttribute: 'ttl',
  /**
   * GET /batches: a sparse index of batch items only (no other item carries its keys), newest first by
   * creation time, so listing batches never reads a task item. One partition holds every batch: writes to it
   * are one per submission, far below a partition's 1,000 writes per second. The projection is the listing's
   * fields only: a batch item's task id list (up to 2,000 ids) is not copied into the index.
   */
  batchListIndex: {
    name: 'byCreatedAt',
    partitionKey: 'listPk',
    sortKey: 'listSk',
    nonKeyAttributes: [
      'batchId',
      'status',
      'createdAt',
      'startedAt',
      'finishedAt',
      'makespanMs',
      'taskCount',
      'taskCounts',
      'costUsd',
    ],
  },
  /**
   * The RUNNING batches alone (sparse: a batch item carries `runningPk` only while its status is RUNNING), oldest
   * first by creation time (the list index's sort key), so the scheduled pass that ends batches whose execution
   * ended unseen (usecases/interrupted.ts endLostStoppedExecutions) reads the running batches, never the finished
   * ones, however many the table keeps. A batch RUNNING before the index existed has no `runningPk` until its
   * next status change (its execution's end or a redrive), or until the scaler's passes put it in
   * (usecases/interrupted.ts indexRunningBatches).
   */
  runningIndex: {
    name: 'byRunning',
    partitionKey: 'runningPk',
    sortKey: 'listSk',
    nonKeyAttributes: ['batchId', 'executionArn'],
  },
} as const;

/**
 * Logical agents: pk = agentId; the byRole index lists a role's agents for the router and the scaler (and a
 * role's waiting marks, under a partition of their own). The byWait index holds the waiting marks alone
 * (sparse: only a mark has `waitOrder`), ordered by their place in the wait, so a release finds the longest
 * waiter in a page however many tasks wait (agent-registry.ts waitOrderOf).
 */
export const AGENTS_TABLE = {
  partitionKey: 'agentId',
  byRoleIndex: { name: 'byRole', partitionKey: 'role', sortKey: 'agentId' },
  byWaitIndex: { name: 'byWait', partitionKey: 'role', sortKey: 'waitOrder' },
} as const;
