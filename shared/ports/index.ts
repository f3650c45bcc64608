/**
 * Ports: what the use cases need from the outside world. Adapters in shared/adapters implement them for
 * AWS (and so, through the loopback emulators, for the embedded runtime). Use cases and handlers depend on
 * these interfaces only.
 */

import type { BudgetAmount, BudgetLimits, LedgerState } from '../domain/budget';
import type { ContextItem, TaskWork } from '../domain/context';
import type { SerializedOutput } from '../domain/outputs';
import type { CredentialsMark } from '../domain/permanent-failure';
import type { CircuitPolicy, WaitingFor, WaitingMark } from '../domain/pool';
import type { RateState } from '../domain/provider-limits';
import type {
  Agent,
  ApprovalRecord,
  ArtifactRef,
  Attempt,
  BatchStatus,
  Budget,
  ContextRecord,
  ExecutorConfig,
  ExtractedRequirements,
  PermanentFailure,
  ReviewFailure,
  RoutingDecision,
  Task,
  TaskStatus,
  TriggerRule,
  Usage,
} from '../domain/schemas';
import type { DependencyOutcome, GateCounts } from '../domain/trigger';
import type { DispatchMessage, ExecutionInput, GateOutput } from '../domain/workflow';

/** Time is injected so the domain and the use cases stay deterministic under test. */
export interface Clock {
  now(): number;
}

/** Randomness is injected too (ids, jitter). */
export interface IdGenerator {
  /** A new unique id, optionally prefixed (e.g. `agent-python_backend_coder-`). */
  next(prefix?: string): string;
}

/** The batch item as stored. */
export interface StoredBatch {
  batchId: string;
  status: BatchStatus;
  createdAt: number;
  startedAt: number;
  finishedAt?: number;
  maxAttempts: number;
  failFast: boolean;
  /** Task ids in submission order (the result report keeps this order). */
  taskIds: string[];
  executionArn?: string;
  idempotencyKey?: string;
  cancelRequested?: boolean;
  /** Why the batch was cancelled (user cancel, failFast). */
  cancelReason?: string;
  /** How many times the batch was redriven (names the next execution `<batchId>-redrive-<n>`). */
  redriveCount?: number;
  makespanMs?: number;
  /** Tasks in the batch (written at submission, so a listing needs no task id list). */
  taskCount?: number;
  /** Tasks by status when the batch ended (Finalize), so listing a finished batch reads no task. */
  taskCounts?: TaskStatusCounts;
  /** What the batch cost in USD once recorded; null when some attempt's price is unknown. */
  costUsd?: number | null;
  /** The tokens its attempts used, once recorded (Finalize, cancel). */
  usage?: Usage;
  /** sha256 of the submitted body: a repeated submission of this id is recognised as the same request. */
  requestHash?: string;
  /** The batch's budget (its own over the deployment's default), kept in its ledger (BudgetLedger). */
  budget?: Budget;
  /** Tasks expansions added to the batch (counted once per expanding task, see registerExpansion). */
  expansionTasks?: number;
  /** The expanding tasks whose tasks were registered (each once). */
  expandedBy?: string[];
  /**
   * Present while the submit that claimed this id writes its tasks and starts the execution; removed (in
   * the write that stores `executionArn`) once the batch runs. See submitBatch.
   */
  creation?: BatchCreation;
}

/**
 * The claim of a submit on a batch id it is creating. Tasks are written only by the owner of a live claim;
 * a claim whose owner died (`expiresAt` passed) is taken over by the same request submitted again.
 */
export interface BatchCreation {
  /** The submit invocation that writes the tasks. */
  owner: string;
  /** Epoch ms after which the same request may take the creation over. */
  expiresAt: number;
  /** Every task item is written: a take-over only starts the execution, it never writes a task again. */
  tasksWritten?: boolean;
}

/** How many tasks have each status. */
export type TaskStatusCounts = Partial<Record<TaskStatus, number>>;

/** A batch as GET /batches lists it: the batch item without its task ids and run settings. */
export type BatchListing = Pick<
  StoredBatch,
  | 'batchId'
  | 'status'
  | 'createdAt'
  | 'startedAt'
  | 'finishedAt'
  | 'makespanMs'
  | 'taskCount'
  | 'taskCounts'
  | 'costUsd'
>;

/** What a status transition may write besides the status (see TaskStore.transitionTask). */
export interface TransitionFields {
  reason?: string;
  at?: number;
  /** An expanding task's success: the ids of the tasks it added. */
  expandedTasks?: string[];
  attempt?: AttemptEnd & { number: number; finishedAt: number };
}

/** What a worker records on an attempt besides its status: what it was given and what it used. */
export interface AttemptRecord {
  /** What dependency work the attempt was given. */
  context?: ContextRecord;
  /** Tokens the attempt's calls used (a failed attempt's too). */
  usage?: Usage;
  /** USD at the price table's rates; null when the price is unknown. */
  costUsd?: number | null;
  /** A failed attempt's failure that its executor configuration will repeat (RecordAttempt and Route read it). */
  permanent?: PermanentFailure;
}

/** What the end of a successful attempt writes besides its status: the output (or its reference) and record. */
export interface AttemptEnd extends AttemptRecord {
  /** The output itself, when it fits in the task item (INLINE_OUTPUT_MAX_BYTES). */
  output?: unknown;
  /** The stored artifact of a larger output. */
  outputRef?: ArtifactRef;
}

/** A task's wait for an approval decision: the token of the waiting state and what it waits for. */
export interface ApprovalWait {
  stage: ApprovalRecord['stage'];
  token: string;
  /** When the wait began (epoch ms). */
  since: number;
  timeoutSeconds: number;
  /** `after`: the attempt whose output waits. */
  attempt?: number;
  /** Who reviews: `person`, or the validator role. */
  reviewer: string;
  /**
   * The decision that took the wait (also appended to the task's approvals), while its answer to the waiting
   * state is not known to have arrived: the same decision sent again sends the answer again, and a timeout of
   * the wait takes it back (it never took effect). The wait is removed once the answer arrived.
   */
  decided?: ApprovalRecord;
  /** Why sending the decided answer failed (every try threw): a repeated decision sends it again. */
  undelivered?: { error: string; at: number };
}

/** The dependent's gate after a release: its counters, its rule and its armed token. */
export interface ReleaseResult extends GateCounts {
  gateToken?: string;
  trigger?: TriggerRule;
  /** false when this dependency's release had been counted before (a repeated Complete): nothing changed. */
  applied?: boolean;
  /** The dependent as this release left it (when it applied): what a Route of the dependent reads. */
  task?: StoredTask;
}

/**
 * The batch item without its task id list (what the per-task handlers need: cancelRequested and such) and
 * the ids of its expanding tasks.
 */
export type BatchState = Omit<StoredBatch, 'taskIds' | 'expandedBy'>;

/** One task item: the wire task plus its run state. Key: (batchId, taskId). */
export interface StoredTask {
  batchId: string;
  taskId: string;
  /** Position in the submitted batch. */
  index: number;
  task: Task;
  status: TaskStatus;
  /** Dependencies not finished yet (the gate protocol). */
  pendingDeps: number;
  /** Dependencies that finished without succeeding (FAILED, SKIPPED or CANCELLED). */
  failedDeps: number;
  /** Of failedDeps, the SKIPPED ones (absent on items written before trigger rules: 0). */
  skippedDeps?: number;
  /** Dependencies that succeeded (absent on items written before trigger rules: 0). */
  succeededDeps?: number;
  /** Ids of the tasks that depend on this one. */
  dependents: string[];
  /**
   * The role of each dependent that names one and depends on this task alone (dag.ts soleDependentRoles),
   * set at submission and on the tasks an expansion adds. The worker's answer carries it to Complete
   * (DispatchResult.dependentRoles), which, on DynamoDB, lists such a dependent's pool beside its release. A
   * hint: absent, or not the roles its route asks for, the route lists the pool itself.
   */
  dependentRoles?: Record<string, string>;
  /** Set by the Gate when it has to wait; answered by the Complete of the last dependency. */
  gateToken?: string;
  /** The role whose waiting mark the task holds (set by a capacity WAIT, removed by startAttempt). */
  waitingRole?: string;
  /**
   * Tasks on the longest chain of its dependents (dag.ts chainsAfter), set at submission; absent on items
   * written before it existed (0). Orders the waiters for a role's freed slots (pool.ts waitingLeadMs).
   */
  chainAfter?: number;
  /**
   * The estimated work (ms) on the longest chain that starts with this task (dag.ts workAhead, estimates from
   * `input.simulate.durationMs`, else DEFAULT_TASK_ESTIMATE_MS), set at submission; absent on items written
   * before it existed (chainAfter orders them). Orders the waiters for a role's freed slots.
   */
  workAheadMs?: number;
  maxAttempts: number;
  /** Number of the attempt now dispatched (0 before the first). */
  attemptCount: number;
  attempts: Attempt[];
  role?: string;
  agentId?: string;
  decision?: RoutingDecision;
  /** Requirements extracted on the first routing and reused by every later one. */
  requirements?: ExtractedRequirements;
  /** Approval decisions (a person's, a validator's, a timeout's), oldest first. */
  approvals?: ApprovalRecord[];
  /** The approval the task waits for now (its task token), while AWAITING_APPROVAL. */
  approvalWait?: ApprovalWait;
  /** Reviews by validator agents that gave no verdict (approval.after.by), oldest first. */
  reviewFailures?: ReviewFailure[];
  /** Dependencies whose completion was already counted (makes a repeated Complete harmless). */
  releasedBy?: string[];
  /** The expanding task that added this one (absent: submitted with the batch). */
  addedBy?: string;
  /** Expansion depth: 0 (absent) for a submitted task, one more than its expanding task's otherwise. */
  expansionDepth?: number;
  /** An expanding task that succeeded: the ids of the tasks it added, in the order it listed them. */
  expandedTasks?: string[];
  /** The output of the successful attempt when small (INLINE_OUTPUT_MAX_BYTES); else `outputRef`. */
  output?: unknown;
  /** Where the whole output of the successful attempt is, when it was too large for the item. */
  outputRef?: ArtifactRef;
  reason?: string;
  startedAt?: number;
  finishedAt?: number;
}

/**
 * What a batch's result shows of a task without its output (buildBatchResult with `includeOutput: false`):
 * no definition, input, output or gate state, which can be most of an item (an inline output alone up to
 * INLINE_OUTPUT_MAX_BYTES). A store reads these fields and no others (listTaskSummaries).
 */
export const TASK_SUMMARY_FIELDS = [
  'batchId',
  'taskId',
  'index',
  'status',
  'role',
  'agentId',
  'startedAt',
  'finishedAt',
  'attempts',
  'outputRef',
  'reason',
  'approvals',
  'approvalWait',
  'reviewFailures',
  'requirements',
] as const satisfies readonly (keyof StoredTask)[];

export type TaskSummary = Pick<StoredTask, (typeof TASK_SUMMARY_FIELDS)[number]>;

/** A RUNNING batch as the running index holds it: its id and, once its execution started, that execution. */
export type RunningBatch = Pick<StoredBatch, 'batchId' | 'executionArn'>;

/** Persistence of batches and tasks, including the dependency gate protocol (see ARCHITECTURE.md). */
export interface TaskStore {
  /**
   * Claims `batch.batchId`: a conditional put of the batch item, before any of its tasks is written, so an
   * existing batch is never touched. `claimed: false` answers the batch item already there.
   */
  claimBatch(batch: StoredBatch): Promise<{ claimed: true } | { claimed: false; existing: StoredBatch }>;
  /**
   * Changes the creation claim of a batch, conditionally on its current owner being `owner` and the batch
   * still RUNNING: `next` replaces the claim (a take-over, progress, a released lease), or undefined removes
   * it (the batch runs; `patch` may say with which executionArn). false when the condition failed.
   */
  updateBatchCreation(
    batchId: string,
    owner: string,
    next: BatchCreation | undefined,
    patch?: Partial<Pick<StoredBatch, 'executionArn'>>,
  ): Promise<boolean>;
  /**
   * Claims the id, then writes the tasks (without a creation claim: for seeding a store in tests and tools).
   * `created: false` when the id exists, and then nothing is written.
   */
  createBatch(batch: StoredBatch, tasks: StoredTask[]): Promise<{ created: boolean; batchId: string }>;
  getBatch(batchId: string): Promise<StoredBatch | undefined>;
  /**
   * The batch item without `taskIds`: Gate, Route and RecordAttempt read the batch once per task, and the
   * id list of a 2,000-task batch is most of its item.
   */
  getBatchState(batchId: string): Promise<BatchState | undefined>;
  /**
   * Conditional put of the idempotency key item. `claimed: false` returns the batch id stored by the first
   * request with that key (and the hash of its body, so a different body under the same key is refused).
   */
  claimIdempotencyKey(
    key: string,
    batchId: string,
    requestHash: string,
    at: number,
  ): Promise<{ claimed: true } | { claimed: false; batchId: string; requestHash?: string }>;
  /**
   * Deletes the idempotency key item if it still names this batch id and request hash: a claim made by a
   * request that was then refused (its batch id taken), so the key stays free for the corrected request.
   */
  releaseIdempotencyKey(key: string, batchId: string, requestHash: string): Promise<void>;
  /**
   * Puts task items whole: the tasks of a batch whose creation this caller owns, or the reset run state of
   * tasks being redriven. Never for tasks another caller may be running.
   */
  putTasks(tasks: StoredTask[]): Promise<void>;
  updateBatch(batchId: string, patch: Partial<StoredBatch>): Promise<void>;
  getTask(batchId: string, taskId: string): Promise<StoredTask | undefined>;
  listTasks(batchId: string): Promise<StoredTask[]>;
  /** The tasks of a batch as its result shows them without outputs (TaskSummary), in submission order. */
  listTaskSummaries(batchId: string): Promise<TaskSummary[]>;
  /**
   * Batches newest first, a page at a time, from an index of batch items only (never a scan of the task
   * items). `cursor` is the `nextCursor` of the previous page; a cursor that was not made here throws
   * InvalidCursorError.
   */
  listBatches(page: {
    limit: number;
    cursor?: string;
  }): Promise<{ batches: BatchListing[]; nextCursor?: string }>;
  /**
   * Deletes a finished batch whole: its batch item (conditionally on `status`, the status the caller saw,
   * and no creation under way), then its tasks, subscriptions and idempotency key. false when the condition
   * failed (the batch runs again, or is gone): nothing was deleted.
   */
  deleteFinishedBatch(batchId: string, status: BatchStatus): Promise<boolean>;
  /**
   * RUNNING batches created before `createdBefore`, the oldest first, a page of at most `limit` at a time, from
   * an index of running batch items only (never a read of a finished batch). `cursor` is the `nextCursor` of the
   * previous page; a cursor that was not made here throws InvalidCursorError.
   */
  listRunningBatches(page: {
    createdBefore: number;
    limit: number;
    cursor?: string;
  }): Promise<{ batches: RunningBatch[]; nextCursor?: string }>;
  /**
   * Puts RUNNING batches written before the running index existed (no `runningPk`) into it: reads a page of at
   * most `limit` batches of the list index, the oldest first, from `cursor` on, and sets each one's `runningPk`
   * by a write conditional on it being still RUNNING and without one (a status written meanwhile stands).
   * Answers how many it put in, and the next page's cursor (none after the last page); a cursor that was not
   * made here throws InvalidCursorError.
   */
  indexRunningBatches(page: {
    limit: number;
    cursor?: string;
  }): Promise<{ indexed: number; nextCursor?: string }>;
  /** How many of the batch's tasks have each status (reads the status of every task item, nothing else). */
  countTaskStatuses(batchId: string): Promise<TaskStatusCounts>;
  /**
   * Gate: `SET gateToken = :t CONDITION the gate is not open under the item's trigger rule AND the task is
   * not terminal` (open: pendingDeps is 0, or, for one_success, a dependency succeeded; domain/trigger.ts).
   * false when the condition fails: the gate's answer is final or the task ended (cancelled), and the caller
   * answers its own token.
   */
  armGate(batchId: string, taskId: string, token: string): Promise<boolean>;
  /**
   * A dependency ended with `outcome`: `ADD pendingDeps -1` and one to the counter of the outcome on the
   * dependent, RETURN ALL_NEW (at most once per `fromTaskId`). The caller answers the gate token when this
   * release opened the gate under the dependent's trigger rule (domain/trigger.ts openedBy).
   */
  releaseDependent(
    batchId: string,
    dependentId: string,
    outcome: DependencyOutcome,
    fromTaskId?: string,
  ): Promise<ReleaseResult>;
  /**
   * Registers the tasks an expanding task adds on the batch item, once per expanding task: appends their ids
   * to `taskIds` and counts them in `taskCount` and `expansionTasks`, conditionally on none of the ids being in
   * the batch yet and both counts staying within `limits`. `registered: false` answers the batch as it is:
   * already registered by this expanding task (a repeated Complete) when its `expandedBy` holds `plannerId`,
   * else an id taken meanwhile (by another expansion) or a limit passed.
   */
  registerExpansion(
    batchId: string,
    plannerId: string,
    taskIds: readonly string[],
    limits: { maxExpansionTasks: number; maxTasks: number },
  ): Promise<{ registered: boolean; batch: StoredBatch }>;
  /**
   * An expanding task's dependent waits for the tasks it added: appends `taskIds` to its dependsOn and adds
   * their count to its pendingDeps in one write, once per expanding task (`plannerId`). Done before the
   * expanding task's own release, so the dependent's gate cannot open in between. false when done before.
   */
  addDependencies(
    batchId: string,
    dependentId: string,
    taskIds: readonly string[],
    plannerId: string,
  ): Promise<boolean>;
  /**
   * Notes that the task holds a waiting mark of `role` (so its dispatch knows to drop it); with
   * `requirements`, also keeps them when none are stored (a routing question asked by a route that waits
   * is asked, and counted, once).
   */
  setWaitingRole(
    batchId: string,
    taskId: string,
    role: string,
    requirements?: ExtractedRequirements,
  ): Promise<void>;
  /**
   * Starts attempt `attempt` on `agentId` (conditional on the attempt number, so it is counted once), and
   * removes the task's waitingRole. `held`: what the attempt holds against the batch's budget.
   */
  startAttempt(
    batchId: string,
    taskId: string,
    attempt: number,
    agentId: string,
    decision: RoutingDecision,
    at: number,
    held?: BudgetAmount,
  ): Promise<void>;
  /**
   * The worker claims attempt `attempt` before running it: succeeds once per attempt, so a duplicate SQS
   * delivery of the same message is recognised and dropped. Answers the claimed task (read in the same
   * write), or undefined when the attempt was claimed before or is not the task's current attempt.
   */
  claimAttempt(batchId: string, taskId: string, attempt: number): Promise<StoredTask | undefined>;
  /**
   * What the context builder reads of the tasks an attempt takes work from, in one batch read (strongly
   * consistent): status, role, agent, the output or its reference, the reason and the task's dependencies.
   * Ids with no task are left out.
   */
  getWork(batchId: string, taskIds: readonly string[]): Promise<TaskWork[]>;
  /**
   * Records what attempt `attempt` was given and used (a failed attempt's: a success carries it in the
   * worker's answer). Fields left out are left as they are.
   */
  setAttemptRecord(batchId: string, taskId: string, attempt: number, record: AttemptRecord): Promise<void>;
  /**
   * Ends attempt `attempt` (once: later calls for the same attempt return false), running or awaiting
   * approval (a held attempt keeps the finishedAt of its agent's answer).
   */
  finishAttempt(
    batchId: string,
    taskId: string,
    attempt: number,
    result: AttemptEnd & { status: Attempt['status']; at: number; error?: string },
  ): Promise<boolean>;
  /**
   * The task waits for an approval: status AWAITING_APPROVAL and `wait` (its token), conditionally on the task
   * not being terminal. With `held` (approval after), the same write ends the agent's work on that attempt
   * (status AWAITING_APPROVAL, its finishedAt, the output or its reference, the context record), conditionally
   * on the attempt still running (or already held: a repeated invocation). Answers the task as written, or
   * undefined when the condition failed (cancelled, or the attempt ended another way).
   */
  awaitApproval(
    batchId: string,
    taskId: string,
    wait: ApprovalWait,
    held?: AttemptEnd & { number: number; finishedAt: number },
  ): Promise<StoredTask | undefined>;
  /**
   * Appends an approval record. With `token` (a decision), only while the wait is that token's and no decision
   * took it yet (one wins): the wait stays, with the record as its `decided`, until its answer arrived
   * (endApprovalWait). Without (a timeout's record), unconditionally, and the wait ends. Answers the record's
   * index in `approvals`, or undefined when the wait was not that token's or was decided already.
   */
  appendApproval(
    batchId: string,
    taskId: string,
    record: ApprovalRecord,
    token?: string,
  ): Promise<number | undefined>;
  /** Ends the task's wait if it is still `token`'s (its decided answer arrived). */
  endApprovalWait(batchId: string, taskId: string, token: string): Promise<boolean>;
  /** Notes on the wait of `token` that its decided answer could not be sent (see ApprovalWait.undelivered). */
  markApprovalUndelivered(
    batchId: string,
    taskId: string,
    token: string,
    failure: { error: string; at: number },
  ): Promise<boolean>;
  /**
   * Appends a validator's review that gave no verdict, once per review (`failure.by` and `failure.attempt`
   * with `run`): a repeated call for the same review is a no-op. Answers whether it was appended.
   */
  appendReviewFailure(batchId: string, taskId: string, failure: ReviewFailure, run: number): Promise<boolean>;
  /**
   * Opens the wait of `token` again for a decision: in one write, removes the record at `index` if it is still
   * `record` (the decision that took the wait, whose answer its waiting state refused for good) and the wait's
   * `decided` and `undelivered`. false when the wait is no longer `token`'s or the record is not there.
   */
  reopenApprovalWait(
    batchId: string,
    taskId: string,
    token: string,
    taken: { index: number; record: ApprovalRecord },
  ): Promise<boolean>;
  /** Removes the record at `index` if it is still `record` (a decision its waiting state never took). */
  retractApproval(batchId: string, taskId: string, index: number, record: ApprovalRecord): Promise<boolean>;
  /** Moves the task to a terminal (or READY/RUNNING) status, conditionally on it not being terminal yet. */
  setTaskStatus(
    batchId: string,
    taskId: string,
    status: TaskStatus,
    fields?: { reason?: string; at?: number },
  ): Promise<boolean>;
  /**
   * setTaskStatus answering the task as written (undefined when it was terminal already: nothing moved).
   * With `attempt`, the same write ends that attempt with the status (and stores its output).
   */
  transitionTask(
    batchId: string,
    taskId: string,
    status: TaskStatus,
    fields?: TransitionFields,
  ): Promise<StoredTask | undefined>;
}

/**
 * The budget ledger of each batch that has a budget (README "Budgets"): what settled attempts spent and what
 * attempts in flight hold, in nano-dollars and tokens. Every change is one conditional write on one item, so
 * concurrent routers never hold more than the budget between them, and each attempt is settled once.
 */
export interface BudgetLedger {
  /** Creates the batch's ledger with `limits` and what was `spent` before (nothing when absent); no-op if there. */
  open(batchId: string, limits: BudgetLimits, spent?: BudgetAmount): Promise<void>;
  /**
   * Holds `hold` for the attempt `key` if it fits: one conditional write (spent + held + hold <= each limit,
   * not exhausted, the key not held yet). `held`: the key's hold when applied or when the key was held
   * already (a repeated Route: the hold taken first), else false and the ledger as it is (undefined: none).
   */
  reserve(
    batchId: string,
    key: string,
    hold: BudgetAmount,
  ): Promise<{ held: BudgetAmount } | { held: false; state: LedgerState | undefined }>;
  /**
   * Ends the hold `held` of attempt `key`, adding `charge` (what it really used) to the spent figures: once per
   * key (false when it was settled before, or never held). A hold given back unused is settled with nothing.
   */
  settle(batchId: string, key: string, held: BudgetAmount, charge: BudgetAmount): Promise<boolean>;
  /**
   * Gives back, unspent, the hold of `key` if one stands: a Route that held it and then failed before its
   * attempt started (the task fails on that error), so no attempt's end will ever settle it.
   */
  dropHold(batchId: string, key: string): Promise<boolean>;
  /** Marks the budget exhausted with `reason` unless it was already (answers the reason that stands). */
  exhaust(batchId: string, reason: string): Promise<string>;
  get(batchId: string): Promise<LedgerState | undefined>;
  /**
   * New limits for a batch that is not running (a redrive with a raised budget), and the exhausted mark
   * removed, so routing decides again; creates the ledger with `spent` when there is none.
   */
  setLimits(batchId: string, limits: BudgetLimits, spent: BudgetAmount): Promise<void>;
}

/**
 * Whole task outputs too large for the task item (claim check), in the artifacts bucket: S3 on AWS, the S3
 * of fauxqs on the embedded runtime. Keys and references come from domain/outputs.ts.
 */
export interface ArtifactStore {
  /**
   * Stores an output's JSON under `key` and answers its reference. Idempotent: the key names one attempt,
   * so a repeated put writes the same bytes again.
   */
  put(
    key: string,
    json: string,
    serialized: Pick<SerializedOutput, 'bytes' | 'format' | 'fields'>,
  ): Promise<ArtifactRef>;
  /** The first `bytes` bytes of the artifact (a range read), or all of it when it is shorter. */
  readHead(ref: ArtifactRef, bytes: number): Promise<Uint8Array>;
  /** The whole artifact. */
  read(ref: ArtifactRef): Promise<Uint8Array>;
  /** A URL that downloads the artifact without credentials for `expiresInSeconds` (a presigned GET). */
  downloadUrl(ref: ArtifactRef, expiresInSeconds: number): Promise<string>;
  /** Deletes every stored output of the batch (the keys artifactKey gives it); answers how many. */
  deleteBatchOutputs(batchId: string): Promise<number>;
}

export type { WaitingFor, WaitingMark } from '../domain/pool';

/** The registry of logical agents and their live metrics. */
export interface AgentRegistry {
  list(role?: string): Promise<Agent[]>;
  get(agentId: string): Promise<Agent | undefined>;
  put(agent: Agent): Promise<void>;
  /**
   * Conditional `reserved < capacity` on a closed circuit, or the single probe of an open circuit whose
   * cool-down is over (which moves it to half_open, so no second task is admitted): true when a slot was
   * taken. With `lease`, the slot is recorded under `lease.key` until `lease.expiresAt`. `seenCircuit`, the
   * circuit state the caller just read, picks the write that can apply: closed tries only the slot, any
   * other state the probe first (without it both are tried, so a full agent costs two refused writes).
   */
  reserve(
    agentId: string,
    at: number,
    lease?: ReservationLease,
    seenCircuit?: Agent['circuit'],
  ): Promise<boolean>;
  /**
   * Gives a slot back (never below zero). With `leaseKey`, only that lease's slot, once: a repeated or
   * late release of a lease already released or reclaimed is a no-op.
   */
  release(agentId: string, at: number, leaseKey?: string): Promise<void>;
  /** Pushes a live lease's expiry to `expiresAt` (never shortens it); false when the lease is gone. */
  extendLease(agentId: string, leaseKey: string, expiresAt: number): Promise<boolean>;
  /**
   * Capacity hand-off: the slot of lease `fromKey` passes to lease `to` in one conditional write (`reserved`
   * unchanged), only while `fromKey` is held, `to` is not, the agent is active or idle with a closed circuit
   * and not over its capacity. false (nothing changed) otherwise: the caller releases `fromKey` as usual.
   */
  transferLease(agentId: string, fromKey: string, to: ReservationLease, at: number): Promise<boolean>;
  /** Frees the slot of a lease still at `expiresAt` (so a lease extended meanwhile survives). */
  reclaimLease(agentId: string, leaseKey: string, expiresAt: number): Promise<boolean>;
  /**
   * Re-opens (with an immediate probe allowed) a half-open circuit whose probe is gone without an outcome:
   * no reservation left and no activity since `idleBefore` (its lease was reclaimed). true when applied.
   */
  reopenStuckProbe(agentId: string, idleBefore: number, at: number): Promise<boolean>;
  /**
   * Marks a task of `role` as waiting at `at`, for a slot (`waitingFor` 'capacity', the default) or for its
   * batch's budget; returns how many consecutive WAITs the task has had, this one included. `leadMs`
   * (domain/pool.ts waitingLeadMs, 0 by default) moves it forward in the order claims and wakes take waiters
   * in: the earliest first WAIT minus its lead first. Both kinds are offered a freed slot of the role; the
   * scaler counts only fresh marks of tasks waiting for capacity as backlog (more agents do not help a task
   * the budget holds).
   */
  markWaiting(
    role: string,
    key: string,
    at: number,
    leadMs?: number,
    waitingFor?: WaitingFor,
  ): Promise<number>;
  /** The waiting marks of `role`: key -> its last WAIT's time and what the task waits for. */
  waitingMarks(role: string): Promise<Record<string, WaitingMark>>;
  /**
   * Parks a waiting task: stores the task token of its WaitForCapacity state on its waiting mark, for a
   * release to wake it. false when the mark is gone.
   */
  parkWaiting(role: string, key: string, token: string): Promise<boolean>;
  /**
   * Takes the token of one parked task of `role` (the longest waiting), so exactly one release wakes it (or
   * hands it a slot): the token and the task's waiting key (`<batchId>#<taskId>`).
   */
  takeParked(role: string): Promise<ParkedTask | undefined>;
  /**
   * Capacity hand-off: claims the longest-waiting task marked for `role`, parked or not (between its WAIT and
   * its park): a parked one's token is taken (as takeParked), an unparked one's mark is claimed at `at` (its
   * park is then refused until the claim is dropped or a new WAIT resets it). Exactly one release claims it.
   * `except`: a waiting key passed over (the task this release just offered the slot to).
   */
  claimWaiting(role: string, at: number, except?: string): Promise<WaitingClaim | undefined>;
  /** Drops a claim (the hand-off did not happen): the task may park again. */
  dropClaim(role: string, key: string): Promise<void>;
  /**
   * Drops waiting marks: a dispatched task's, or (with `olderThan`, the scaler's pruning) only those whose
   * last WAIT is still before `olderThan`, so a mark refreshed since it was read, perhaps holding a parked
   * token, is kept.
   */
  clearWaiting(role: string, keys: readonly string[], olderThan?: number): Promise<void>;
  /**
   * Gives waiting marks read as not `ordered` (WaitingMark) their place in the order releases serve, from their
   * own first WAIT and lead, as a WAIT gives a new mark; a mark gone or ordered meanwhile is left. Answers how
   * many it ordered.
   */
  orderWaiting(role: string, keys: readonly string[]): Promise<number>;
  /**
   * Drops the waiting mark of `key` under `role` (its task's attempt has started) and gives back the token
   * parked on it, if any, for the caller to answer: a task that parked before the attempt was written found
   * none (see parkTask) and waits on that token.
   */
  takeWaiting(role: string, key: string): Promise<string | undefined>;
  /**
   * Counts one finished attempt: ADD attempts/successes/failures, EWMA latency, circuit bookkeeping with
   * the role's `circuit` policy (defaults in domain/pool.ts when absent). With `release`, the same write
   * gives back the attempt's slot if its lease is still held (what release() does, one round trip less).
   * `spent` adds the attempt's tokens and cost (null: unpriced) to the agent's totals in the same write.
   */
  recordOutcome(
    agentId: string,
    outcome: { success: boolean; latencyMs: number; at: number; circuit?: CircuitPolicy; spent?: AgentSpend },
    release?: { leaseKey: string },
  ): Promise<Agent | undefined>;
  setStatus(agentId: string, status: Agent['status']): Promise<void>;
  /** Changes an existing agent's settings without touching its counters (a concurrent reserve keeps its slot). */
  update(
    agentId: string,
    patch: Partial<Pick<Agent, 'capacity' | 'status' | 'specializations' | 'executor'>>,
  ): Promise<Agent | undefined>;
  /**
   * Creates `agent` only if its id is free or held by a terminated agent (spawning into a numbered slot, so
   * two routers racing for the same slot cannot both win). true when created.
   */
  create(agent: Agent): Promise<boolean>;
  /** Terminates the agent only if it holds no reservation and was last active before `idleBefore`. */
  terminateIfIdle(agentId: string, idleBefore: number): Promise<boolean>;
  /**
   * Marks a configuration whose key the provider refused, fleet-wide (domain/permanent-failure.ts
   * CredentialsMark), replacing an earlier mark of the same provider, url and refused key.
   */
  markCredentials(mark: CredentialsMark): Promise<void>;
  /**
   * The credentials marks standing at `now` for the keys in use (a mark of a key since replaced is left out):
   * one read, which Route makes beside its first look at the pool (a cache per process would let a container
   * route to a key another one just found refused).
   */
  credentialsMarks(now: number): Promise<CredentialsMark[]>;
  /**
   * Clears the marks (of every key) of a provider and url (an operator changed an agent of that configuration),
   * or, without one, every mark.
   */
  clearCredentials(executor?: CredentialsMark['executor']): Promise<void>;
}

/** What one attempt adds to its agent's totals: its tokens and its cost in nano-dollars (null: unpriced). */
export interface AgentSpend {
  usage: Usage;
  costNanoUsd: number | null;
}

/** A reservation's lease: one per attempt, released with it or reclaimed by the scaler once expired. */
export interface ReservationLease {
  key: string;
  expiresAt: number;
}

/** A task waiting for capacity as a hand-off claims it: its waiting key, and its token when it had parked. */
export interface WaitingClaim {
  key: string;
  token?: string;
}

/** A task parked for capacity, as a release takes it: its WaitForCapacity token and its waiting key. */
export interface ParkedTask {
  token: string;
  /** `<batchId>#<taskId>` (neither id can hold a '#'). */
  key: string;
}

/** WebSocket subscriptions to a batch's progress. */
export interface SubscriptionStore {
  subscribe(connectionId: string, batchId: string, at: number): Promise<void>;
  /** Connection ids subscribed to `batchId`. */
  subscribers(batchId: string): Promise<string[]>;
  unsubscribe(connectionId: string, batchId: string): Promise<void>;
  /** Removes every subscription of a connection (on $disconnect). */
  unsubscribeAll(connectionId: string): Promise<void>;
}

/**
 * Single-use tokens that open a progress WebSocket (the browser's credential: it cannot send `x-api-key` on
 * a WebSocket connect). Only a digest of each token is stored.
 */
export interface ProgressTokenStore {
  /** A new random token, good until `expiresAt` (epoch ms). */
  issue(expiresAt: number): Promise<string>;
  /** Spends `token`: true once if it was issued here and has not expired at `now`, false otherwise. */
  redeem(token: string, now: number): Promise<boolean>;
}

/** Pushes a message to one WebSocket connection; false when the connection is gone. */
export interface ConnectionNotifier {
  post(connectionId: string, message: unknown): Promise<boolean>;
}

/** Sends a task to a role queue (used where the state machine does not send it itself). */
export interface Dispatcher {
  dispatch(queueUrl: string, message: DispatchMessage): Promise<void>;
}

/**
 * Step Functions task-token callbacks. A late or duplicate callback resolves to `false`, not an error; one
 * refused for a reason sending it again cannot cure throws CallbackRefusedError.
 */
export interface Callbacks {
  succeed(taskToken: string, output: unknown): Promise<boolean>;
  fail(taskToken: string, error: string, cause: string): Promise<boolean>;
  /** false when the token is no longer waiting (timed out, cancelled): the worker should stop. */
  heartbeat(taskToken: string): Promise<boolean>;
}

/** How many messages wait on a queue, visible and in flight (the scaler's backlog signal). */
export interface QueueDepth {
  depth(queueUrl: string): Promise<{ queueArn: string; visible: number; inFlight: number }>;
}

/** The maximum concurrency of the agent function consuming a queue (Lambda event source mapping). */
export interface QueueConcurrency {
  /** The current maximum concurrency; undefined when no mapping consumes the queue. */
  get(queueArn: string): Promise<number | undefined>;
  /** Sets it (callers keep it within Lambda's bounds); false when no mapping consumes the queue. */
  set(queueArn: string, maxConcurrency: number): Promise<boolean>;
}

/** Starts and stops batch executions. */
export interface Orchestrator {
  start(name: string, input: ExecutionInput): Promise<{ executionArn: string }>;
  stop(executionArn: string, cause: string): Promise<void>;
  /** The ARN an execution named `name` has (or will have) on this state machine. */
  executionArnOf(name: string): string;
}

/** How an execution stands (DescribeExecution): its status and, once it failed, its error and cause. */
export interface ExecutionState {
  readonly status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED' | 'PENDING_REDRIVE';
  readonly error?: string;
  readonly cause?: string;
}

/** Reads executions of the state machine (the orchestrator's Step Functions). */
export interface ExecutionStates extends Pick<Orchestrator, 'executionArnOf'> {
  /** undefined for an execution Step Functions does not know (not started, or forgotten). */
  describe(executionArn: string): Promise<ExecutionState | undefined>;
}

/** A request to an agent executor. */
export interface ExecutionRequest {
  batchId: string;
  taskId: string;
  agentId: string;
  role: string;
  attempt: number;
  task: Task;
  requirements?: ExtractedRequirements;
  /** The role's prompt template filled with the task. */
  prompt: string;
  executor: ExecutorConfig;
  timeoutMs: number;
  /**
   * The work of other tasks the attempt takes (README "Passing work between tasks"), when it takes any: the
   * prompt already holds it as its context section and `task` has its placeholders replaced; this is the same
   * as data, for executors that send structured requests (http) and for the simulated executor's report.
   */
  context?: RequestContext;
}

/** The dependency work of one attempt as data. */
export interface RequestContext {
  readonly budgetBytes: number;
  /** Bytes of dependency work the request carries (section and substitutions). */
  readonly usedBytes: number;
  /** The context section's tasks, in dependency order. */
  readonly items: readonly ContextItem[];
}

export interface ExecutionOutcome {
  /** What the agent produced (text for LLMs, JSON for http). */
  output: unknown;
  /** `simulated` for the built-in simulated executor, so no report can mistake it for real work. */
  executor: ExecutorConfig['name'];
  simulated: boolean;
  /** Tokens of every call the attempt made (a re-ask is a second call), as the provider reported them. */
  usage?: Usage;
  /** The same, call by call (a price's long-context rate applies per request). */
  calls?: Usage[];
}

/** A routing question: which of these roles should do this task? (model-assisted routing) */
export interface RoutingQuestion {
  taskId: string;
  description: string;
  /** The roles offered, best deterministic first, each with its catalog description. */
  candidates: { role: string; description: string }[];
}

/** A model's answer: the role it chose (one of the candidates, unless it misbehaved) and what it cost. */
export interface RoutingAnswer {
  role: string;
  /** The model that answered, as the provider names it. */
  model: string;
  usage?: Usage;
}

/** Asks a model to choose a role: one call, tool use with the candidates as an enum. Rejects on failure. */
export interface RoutingAdvisor {
  readonly provider: string;
  /** The configured model id. */
  readonly model: string;
  choose(question: RoutingQuestion, signal: AbortSignal): Promise<RoutingAnswer>;
}

/** Earlier routing answers by key (a hash of provider, model, candidates and description). */
export interface RoutingAdviceCache {
  get(key: string, now: number): Promise<RoutingAnswer | undefined>;
  put(key: string, answer: RoutingAnswer, now: number): Promise<void>;
}

/** An agent executor: runs one task. Rejects on failure; honours `signal` (cancel, timeout). */
export interface AgentExecutor {
  readonly name: ExecutorConfig['name'];
  execute(request: ExecutionRequest, signal: AbortSignal): Promise<ExecutionOutcome>;
}

export type { GateOutput };

/** A leased slot of a provider limit: who holds it and until when (a lapsed lease is a free slot). */
export interface ProviderSlot {
  index: number;
  holder: string;
  expiresAt: number;
}

/** Everything stored for one provider limit (`ResolvedProviderLimit.key`), read in one strongly consistent query. */
export interface ProviderLimitSnapshot {
  slots: ProviderSlot[];
  rate?: RateState;
  /** Theoretical arrival times of the requests- and tokens-per-minute windows (domain/provider-limits.ts). */
  requestsTat?: number;
  tokensTat?: number;
}

/**
 * Fleet-wide provider limits (README "Provider limits"): leased slots and the rate state, shared by every
 * worker. Each write is conditional or an atomic ADD, so two workers never hold one slot nor spend one window twice;
 * a lost condition answers false and the caller reads again.
 */
export interface ProviderLimitStore {
  read(key: string): Promise<ProviderLimitSnapshot>;
  /** Takes slot `index` when it is free or its lease lapsed before `now`. */
  takeSlot(key: string, index: number, holder: string, expiresAt: number, now: number): Promise<boolean>;
  /** Moves the lease of a slot `holder` still holds; false when it lost it. */
  renewSlot(key: string, index: number, holder: string, expiresAt: number): Promise<boolean>;
  /** Frees the slot if `holder` still holds it. */
  releaseSlot(key: string, index: number, holder: string): Promise<void>;
  /**
   * Takes `costMs` of a window when it fits (its TAT at most `toleranceMs - costMs` ahead of `now`): an
   * atomic ADD to the TAT, or its reset to `now + costMs` when it was idle. False when it does not fit (or a
   * reset lost to another writer): the caller reads the TAT and waits or tries again.
   */
  takeWindow(
    key: string,
    window: 'requests' | 'tokens',
    costMs: number,
    toleranceMs: number,
    now: number,
  ): Promise<boolean>;
  /** Charges `costMs` to a window whatever its TAT (tokens an answer used; the next requests wait). */
  chargeWindow(key: string, window: 'requests' | 'tokens', costMs: number, now: number): Promise<void>;
  /** Stores a rate decrease when the rate is still as read (`previousAt`: its `at`, undefined when none). */
  setRate(key: string, next: RateState, previousAt: number | undefined): Promise<boolean>;
}

/**
 * A conditional write lost: the item moved on since it was read (another attempt, a duplicate delivery).
 * Use cases treat it as "someone else already did this", never as a crash.
 */
export class StaleWriteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StaleWriteError';
  }
}

/** The batch or task named in a request does not exist. */
export class NotFoundError extends Error {
  constructor(
    readonly kind: 'batch' | 'task' | 'agent' | 'output',
    readonly id: string,
    detail?: string,
  ) {
    super(detail ?? `${kind} "${id}" not found`);
    this.name = 'NotFoundError';
  }
}

/**
 * The service behind a task token refused an answer for a reason sending it again cannot cure (no permission
 * to answer, an answer it does not accept): `code` is the service's error name. A throttled or transient
 * failure is thrown as it is (sending again may cure it).
 */
export class CallbackRefusedError extends Error {
  constructor(
    readonly code: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${code}: ${detail}`, options);
    this.name = 'CallbackRefusedError';
  }
}

/** A page cursor that this store did not hand out (or that was altered). */
export class InvalidCursorError extends Error {
  constructor(readonly cursor: string) {
    super('cursor is not one this API handed out; start again without it');
    this.name = 'InvalidCursorError';
  }
}
