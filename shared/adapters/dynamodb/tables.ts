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
} as const;

/** Logical agents: pk = agentId; the byRole index lists a role's agents for the router and the scaler. */
export const AGENTS_TABLE = {
  partitionKey: 'agentId',
  byRoleIndex: { name: 'byRole', partitionKey: 'role', sortKey: 'agentId' },
} as const;
