/**
 * Item layout of the tasks table (keys fixed in tables.ts: pk, sk):
 *   batch                 pk BATCH#<batchId>        sk BATCH
 *   task                  pk BATCH#<batchId>        sk TASK#<taskId>
 *   budget ledger         pk BATCH#<batchId>        sk BUDGET  (a batch with a budget; budget-ledger.ts)
 *   idempotency key       pk IDEMPOTENCY#<key>      sk IDEMPOTENCY
 *   subscription          pk BATCH#<batchId>        sk SUB#<connectionId>
 *   reverse subscription  pk CONNECTION#<id>        sk SUB#<batchId>   (so $disconnect finds them)
 *   progress token        pk TOKEN#<sha256 of it>   sk TOKEN   (single use, expiresAt; ttl on AWS)
 *   routing advice        pk ADVICE#<sha256 key>    sk ADVICE  (a model's role choice; expiresAt; ttl on AWS)
 *   provider limit slot   pk LIMIT#<provider[/model]> sk SLOT#<index>  (holder, expiresAt: a leased call slot)
 *   provider limit state  pk LIMIT#<provider[/model]> sk STATE         (rate decrease, request/token buckets)
 * Batch items also carry the keys of the batch list index: listPk BATCHES, listSk <createdAt>#<batchId>, and
 * while RUNNING the running index's partition: runningPk RUNNING.
 */
export const BATCH_SK = 'BATCH';
export const TASK_SK_PREFIX = 'TASK#';
export const SUB_SK_PREFIX = 'SUB#';
export const IDEMPOTENCY_SK = 'IDEMPOTENCY';
export const TOKEN_SK = 'TOKEN';
export const ADVICE_SK = 'ADVICE';
export const LIMIT_STATE_SK = 'STATE';
export const LIMIT_SLOT_SK_PREFIX = 'SLOT#';
export const BUDGET_SK = 'BUDGET';

export const batchPk = (batchId: string) => `BATCH#${batchId}`;
export const taskSk = (taskId: string) => `${TASK_SK_PREFIX}${taskId}`;
export const idempotencyPk = (key: string) => `IDEMPOTENCY#${key}`;
export const tokenPk = (digest: string) => `TOKEN#${digest}`;
export const advicePk = (key: string) => `ADVICE#${key}`;
export const limitPk = (key: string) => `LIMIT#${key}`;
export const limitSlotSk = (index: number) => `${LIMIT_SLOT_SK_PREFIX}${index}`;
export const connectionPk = (connectionId: string) => `CONNECTION#${connectionId}`;
export const subSk = (id: string) => `${SUB_SK_PREFIX}${id}`;

/** Item type discriminator stored on every item (the stream notifier reads it). */
export const ItemType = {
  Batch: 'batch',
  Task: 'task',
  Idempotency: 'idempotency',
  Subscription: 'subscription',
  ProgressToken: 'progress-token',
  RoutingAdvice: 'routing-advice',
  ProviderLimit: 'provider-limit',
  Budget: 'budget',
} as const;

/** The batch list index's one partition (tables.ts batchListIndex). */
export const BATCH_LIST_PK = 'BATCHES';
/** The running index's one partition (tables.ts runningIndex), on a batch item while its status is RUNNING. */
export const RUNNING_BATCH_PK = 'RUNNING';
/** Digits of the creation time in a list sort key, so that the keys sort as the times do. */
const LIST_TIME_DIGITS = 15;
export const batchListSk = (createdAt: number, batchId: string) =>
  `${String(Math.max(0, Math.floor(createdAt))).padStart(LIST_TIME_DIGITS, '0')}#${batchId}`;
