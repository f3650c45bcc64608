/**
 * Ports: what the use cases need from the outside world. Adapters in shared/adapters implement them for
 * AWS (and so, through the loopback emulators, for the embedded runtime). Use cases and handlers depend on
 * these interfaces only.
 */
import type {
  Agent,
  Attempt,
  BatchStatus,
  ExecutorConfig,
  ExtractedRequirements,
  RoutingDecision,
  Task,
  TaskStatus,
} from '../domain/schemas';
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
}

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
  /** Dependencies that finished without succeeding. */
  failedDeps: number;
  /** Ids of the tasks that depend on this one. */
  dependents: string[];
  /** Set by the Gate when it has to wait; answered by the Complete of the last dependency. */
  gateToken?: string;
  maxAttempts: number;
  /** Number of the attempt now dispatched (0 before the first). */
  attemptCount: number;
  attempts: Attempt[];
  role?: string;
  agentId?: string;
  decision?: RoutingDecision;
  output?: unknown;
  reason?: string;
  startedAt?: number;
  finishedAt?: number;
}

/** Persistence of batches and tasks, including the dependency gate protocol (see ARCHITECTURE.md). */
export interface TaskStore {
  /** Writes the batch and its tasks. Returns the existing batch id when `idempotencyKey` was seen before. */
  createBatch(batch: StoredBatch, tasks: StoredTask[]): Promise<{ created: boolean; batchId: string }>;
  getBatch(batchId: string): Promise<StoredBatch | undefined>;
  updateBatch(batchId: string, patch: Partial<StoredBatch>): Promise<void>;
  getTask(batchId: string, taskId: string): Promise<StoredTask | undefined>;
  listTasks(batchId: string): Promise<StoredTask[]>;
  /**
   * Gate: `SET gateToken = :t CONDITION pendingDeps > 0`. When the condition fails every dependency has
   * finished, and the caller answers its own token with the returned counts.
   */
  armGate(
    batchId: string,
    taskId: string,
    token: string,
  ): Promise<{ armed: true } | { armed: false; failedDeps: number }>;
  /**
   * Complete of a dependency: `ADD pendingDeps -1, failedDeps :f` on the dependent, RETURN ALL_NEW.
   * The caller sends the gate token when the new pendingDeps is 0 and a token is set.
   */
  releaseDependent(
    batchId: string,
    dependentId: string,
    failed: boolean,
  ): Promise<{ pendingDeps: number; failedDeps: number; gateToken?: string }>;
  /** Starts attempt `attempt` on `agentId` (conditional on the attempt number, so it is counted once). */
  startAttempt(
    batchId: string,
    taskId: string,
    attempt: number,
    agentId: string,
    decision: RoutingDecision,
    at: number,
  ): Promise<void>;
  /**
   * The worker claims attempt `attempt` before running it: succeeds once per attempt, so a duplicate SQS
   * delivery of the same message is recognised and dropped.
   */
  claimAttempt(batchId: string, taskId: string, attempt: number): Promise<boolean>;
  /** Ends attempt `attempt` (once: later calls for the same attempt return false). */
  finishAttempt(
    batchId: string,
    taskId: string,
    attempt: number,
    result: { status: Attempt['status']; at: number; error?: string; output?: unknown },
  ): Promise<boolean>;
  /** Moves the task to a terminal (or READY/RUNNING) status, conditionally on it not being terminal yet. */
  setTaskStatus(
    batchId: string,
    taskId: string,
    status: TaskStatus,
    fields?: { reason?: string; at?: number },
  ): Promise<boolean>;
}

/** The registry of logical agents and their live metrics. */
export interface AgentRegistry {
  list(role?: string): Promise<Agent[]>;
  get(agentId: string): Promise<Agent | undefined>;
  put(agent: Agent): Promise<void>;
  /** Conditional `reserved < capacity AND circuit <> open`: true when a slot was taken. */
  reserve(agentId: string, at: number): Promise<boolean>;
  /** Gives a slot back (never below zero). */
  release(agentId: string, at: number): Promise<void>;
  /** Counts one finished attempt: ADD attempts/successes/failures, EWMA latency, circuit bookkeeping. */
  recordOutcome(
    agentId: string,
    outcome: { success: boolean; latencyMs: number; at: number },
  ): Promise<Agent | undefined>;
  setStatus(agentId: string, status: Agent['status']): Promise<void>;
}

/** Sends a task to a role queue (used where the state machine does not send it itself). */
export interface Dispatcher {
  dispatch(queueUrl: string, message: DispatchMessage): Promise<void>;
}

/** Step Functions task-token callbacks. A late or duplicate callback resolves to `false`, not an error. */
export interface Callbacks {
  succeed(taskToken: string, output: unknown): Promise<boolean>;
  fail(taskToken: string, error: string, cause: string): Promise<boolean>;
  /** false when the token is no longer waiting (timed out, cancelled): the worker should stop. */
  heartbeat(taskToken: string): Promise<boolean>;
}

/** Starts and stops batch executions. */
export interface Orchestrator {
  start(name: string, input: ExecutionInput): Promise<{ executionArn: string }>;
  stop(executionArn: string, cause: string): Promise<void>;
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
}

export interface ExecutionOutcome {
  /** What the agent produced (text for LLMs, JSON for http). */
  output: unknown;
  /** `simulated` for the built-in simulated executor, so no report can mistake it for real work. */
  executor: ExecutorConfig['name'];
  simulated: boolean;
  usage?: { inputTokens?: number; outputTokens?: number };
}

/** An agent executor: runs one task. Rejects on failure; honours `signal` (cancel, timeout). */
export interface AgentExecutor {
  readonly name: ExecutorConfig['name'];
  execute(request: ExecutionRequest, signal: AbortSignal): Promise<ExecutionOutcome>;
}

export type { GateOutput };
