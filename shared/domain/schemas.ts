/**
 * Wire formats of the public contract (API and CLI) and of the registry, as zod schemas.
 * Cross-field checks (duplicate ids, unknown dependencies, cycles, unknown roles) live in validation.ts,
 * because they need the whole batch and the role catalog.
 */
import { z } from 'zod';
import {
  BATCH_ID_PATTERN,
  MAX_ATTEMPTS_LIMIT,
  MAX_DEPENDENCIES_PER_TASK,
  MAX_DESCRIPTION_CHARS,
  MAX_REQUIREMENT_CHARS,
  MAX_REQUIREMENT_ENTRIES,
  MAX_SIMULATED_DURATION_MS,
  MAX_TASK_TIMEOUT_SECONDS,
  MAX_TASKS_PER_BATCH,
  MIN_TASK_TIMEOUT_SECONDS,
  TASK_ID_PATTERN,
} from './limits';

export const TaskIdSchema = z
  .string()
  .regex(TASK_ID_PATTERN, 'task id must be 1-128 characters of A-Z a-z 0-9 . _ : -');

export const BatchIdSchema = z
  .string()
  .regex(BATCH_ID_PATTERN, 'batch id must be 1-128 characters of A-Z a-z 0-9 . _ : -');

const RequirementList = z.array(z.string().min(1).max(MAX_REQUIREMENT_CHARS)).max(MAX_REQUIREMENT_ENTRIES);

export const RequirementsSchema = z
  .object({
    languages: RequirementList.optional(),
    frameworks: RequirementList.optional(),
    skills: RequirementList.optional(),
  })
  .strict();
export type Requirements = z.infer<typeof RequirementsSchema>;

export const FailModeSchema = z.enum(['error', 'crash', 'timeout']);
export type FailMode = z.infer<typeof FailModeSchema>;

/** `input.simulate`: read by the simulated executor only. */
export const SimulateSchema = z
  .object({
    durationMs: z.number().int().min(0).max(MAX_SIMULATED_DURATION_MS).optional(),
    failAttempts: z.number().int().min(0).max(MAX_ATTEMPTS_LIMIT).optional(),
    failMode: FailModeSchema.optional(),
  })
  .strict();
export type Simulate = z.infer<typeof SimulateSchema>;

export const PrioritySchema = z.union([z.literal(1), z.literal(2), z.literal(3)]);

export const TaskSchema = z
  .object({
    id: TaskIdSchema,
    description: z.string().min(1).max(MAX_DESCRIPTION_CHARS),
    role: z.string().min(1).max(64).optional(),
    requirements: RequirementsSchema.optional(),
    dependsOn: z.array(TaskIdSchema).max(MAX_DEPENDENCIES_PER_TASK).optional(),
    priority: PrioritySchema.optional(),
    timeoutSeconds: z.number().int().min(MIN_TASK_TIMEOUT_SECONDS).max(MAX_TASK_TIMEOUT_SECONDS).optional(),
    input: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();
export type Task = z.infer<typeof TaskSchema>;

export const BatchOptionsSchema = z
  .object({
    maxAttempts: z.number().int().min(1).max(MAX_ATTEMPTS_LIMIT).optional(),
    failFast: z.boolean().optional(),
  })
  .strict();
export type BatchOptions = z.infer<typeof BatchOptionsSchema>;

export const BatchSchema = z
  .object({
    batchId: BatchIdSchema.optional(),
    tasks: z.array(TaskSchema).min(1).max(MAX_TASKS_PER_BATCH),
    options: BatchOptionsSchema.optional(),
  })
  .strict();
export type Batch = z.infer<typeof BatchSchema>;

// ---------------------------------------------------------------------------------------------- results

export const TerminalTaskStatusSchema = z.enum(['SUCCEEDED', 'FAILED', 'SKIPPED', 'CANCELLED']);
export type TerminalTaskStatus = z.infer<typeof TerminalTaskStatusSchema>;

/** Lifecycle of a task item: PENDING (waiting on dependencies), READY (routing / waiting for capacity),
 * RUNNING (dispatched to an agent), then a terminal status. */
export const TaskStatusSchema = z.enum(['PENDING', 'READY', 'RUNNING', ...TerminalTaskStatusSchema.options]);
export type TaskStatus = z.infer<typeof TaskStatusSchema>;

export const BatchStatusSchema = z.enum(['RUNNING', 'SUCCEEDED', 'PARTIAL', 'FAILED', 'CANCELLED']);
export type BatchStatus = z.infer<typeof BatchStatusSchema>;

export const AttemptStatusSchema = z.enum(['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELLED']);
export type AttemptStatus = z.infer<typeof AttemptStatusSchema>;

export const AttemptSchema = z.object({
  agentId: z.string(),
  status: AttemptStatusSchema,
  startedAt: z.number(),
  finishedAt: z.number().optional(),
  error: z.string().optional(),
});
export type Attempt = z.infer<typeof AttemptSchema>;

export const TaskResultSchema = z.object({
  id: TaskIdSchema,
  status: z.union([TaskStatusSchema, TerminalTaskStatusSchema]),
  role: z.string().optional(),
  agentId: z.string().optional(),
  startedAt: z.number().optional(),
  finishedAt: z.number().optional(),
  attempts: z.array(AttemptSchema),
  output: z.unknown().optional(),
  /** Why a task was SKIPPED, FAILED or CANCELLED, in a sentence. */
  reason: z.string().optional(),
});
export type TaskResult = z.infer<typeof TaskResultSchema>;

export const BatchResultSchema = z.object({
  batchId: BatchIdSchema,
  status: BatchStatusSchema,
  startedAt: z.number(),
  finishedAt: z.number().optional(),
  makespanMs: z.number().optional(),
  tasks: z.array(TaskResultSchema),
});
export type BatchResult = z.infer<typeof BatchResultSchema>;

// ------------------------------------------------------------------------------------- roles and agents

export const ExecutorNameSchema = z.enum(['simulated', 'bedrock', 'anthropic', 'openai', 'http']);
export type ExecutorName = z.infer<typeof ExecutorNameSchema>;

export const ExecutorConfigSchema = z
  .object({
    name: ExecutorNameSchema,
    /** Model id for LLM providers (e.g. a Bedrock model id), or the URL for `http`. */
    model: z.string().optional(),
    url: z.string().url().optional(),
  })
  .strict();
export type ExecutorConfig = z.infer<typeof ExecutorConfigSchema>;

export const SpecializationVocabularySchema = z.object({
  languages: z.array(z.string()),
  frameworks: z.array(z.string()),
  /** Kinds of work (e.g. "api", "schema", "security-review"). */
  skills: z.array(z.string()),
});
export type SpecializationVocabulary = z.infer<typeof SpecializationVocabularySchema>;

export const RoleDefaultsSchema = z.object({
  /** Tasks one logical agent of this role may hold at once. */
  capacity: z.number().int().min(1).max(100),
  minAgents: z.number().int().min(0).max(1000),
  maxAgents: z.number().int().min(1).max(1000),
  /** Maximum concurrency of the role queue's event source (Lambda allows 2..1000). */
  queueConcurrency: z.number().int().min(2).max(1000),
  timeoutSeconds: z.number().int().min(MIN_TASK_TIMEOUT_SECONDS).max(MAX_TASK_TIMEOUT_SECONDS),
  /** Latency the speed term is measured against. */
  targetLatencyMs: z.number().int().min(1),
  /** Idle agents above minAgents are terminated after this long. */
  idleTtlSeconds: z.number().int().min(1),
  /** Consecutive failures that open an agent's circuit (default CIRCUIT_FAILURE_THRESHOLD, domain/pool.ts). */
  circuitFailureThreshold: z.number().int().min(1).max(100).optional(),
  /** How long an open circuit keeps its agent out before one probe (default CIRCUIT_OPEN_MS / 1000). */
  circuitCooldownSeconds: z.number().int().min(1).max(86_400).optional(),
  executor: ExecutorConfigSchema,
});
export type RoleDefaults = z.infer<typeof RoleDefaultsSchema>;

export const RoleSchema = z.object({
  name: z.string().regex(/^[a-z][a-z0-9_]{1,62}$/, 'role names are snake_case'),
  description: z.string().min(1),
  specializations: SpecializationVocabularySchema,
  /** Free words and phrases typical of this role's tasks, used by requirement inference. */
  keywords: z.array(z.string()),
  promptTemplate: z.string().min(1),
  defaults: RoleDefaultsSchema,
});
export type Role = z.infer<typeof RoleSchema>;

export const AgentStatusSchema = z.enum(['active', 'idle', 'draining', 'terminated']);
export type AgentStatus = z.infer<typeof AgentStatusSchema>;

export const CircuitStateSchema = z.enum(['closed', 'open', 'half_open']);
export type CircuitState = z.infer<typeof CircuitStateSchema>;

export const AgentSchema = z.object({
  agentId: z.string().min(1).max(128),
  role: z.string(),
  specializations: z.array(z.string()),
  capacity: z.number().int().min(1),
  executor: ExecutorConfigSchema,
  status: AgentStatusSchema,
  reserved: z.number().int().min(0),
  attempts: z.number().int().min(0),
  successes: z.number().int().min(0),
  failures: z.number().int().min(0),
  consecutiveFailures: z.number().int().min(0),
  /** Exponentially weighted moving average of task latency; undefined until the first success. */
  ewmaLatencyMs: z.number().min(0).optional(),
  lastActiveAt: z.number(),
  createdAt: z.number(),
  circuit: CircuitStateSchema,
  /** When an open circuit may go half-open (epoch ms). */
  circuitOpenUntil: z.number().optional(),
  /**
   * Reservation leases: `<batchId>#<taskId>#<attempt>` -> expiry (epoch ms). Released with the attempt;
   * the scaler reclaims expired ones, so a worker that died cannot hold a slot for ever.
   */
  leases: z.record(z.string(), z.number()).optional(),
});
export type Agent = z.infer<typeof AgentSchema>;

// ------------------------------------------------------------------------------------------- routing

export const ComplexitySchema = z.enum(['low', 'medium', 'high']);
export type Complexity = z.infer<typeof ComplexitySchema>;

/** What a task needs, explicit or inferred. */
export const ExtractedRequirementsSchema = z.object({
  /** The hard role when the task names one. */
  explicitRole: z.string().optional(),
  languages: z.array(z.string()),
  frameworks: z.array(z.string()),
  skills: z.array(z.string()),
  complexity: ComplexitySchema,
  /** Candidate roles, best first, each with a confidence in [0, 1]. */
  roleCandidates: z.array(z.object({ role: z.string(), confidence: z.number().min(0).max(1) })),
});
export type ExtractedRequirements = z.infer<typeof ExtractedRequirementsSchema>;

export const ScoreBreakdownSchema = z.object({
  specialization: z.number().min(0).max(1),
  /** The (1 - load) term, so that every term is "higher is better". */
  availability: z.number().min(0).max(1),
  success: z.number().min(0).max(1),
  speed: z.number().min(0).max(1),
});
export type ScoreBreakdown = z.infer<typeof ScoreBreakdownSchema>;

export const CandidateScoreSchema = z.object({
  agentId: z.string(),
  role: z.string(),
  score: z.number().min(0).max(1),
  breakdown: ScoreBreakdownSchema,
});
export type CandidateScore = z.infer<typeof CandidateScoreSchema>;

export const RoutingDecisionSchema = z.object({
  taskId: TaskIdSchema,
  agentId: z.string(),
  role: z.string(),
  score: z.number().min(0).max(1),
  breakdown: ScoreBreakdownSchema,
  candidates: z.array(CandidateScoreSchema),
  /** Agents left out and why (at capacity, circuit open, excluded after failing this task, wrong role). */
  rejected: z.array(z.object({ agentId: z.string(), reason: z.string() })),
  requirements: ExtractedRequirementsSchema,
  spawned: z.boolean(),
  decidedAt: z.number(),
});
export type RoutingDecision = z.infer<typeof RoutingDecisionSchema>;
