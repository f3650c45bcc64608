/**
 * Wire formats of the public contract (API and CLI) and of the registry, as zod schemas.
 * Cross-field checks (duplicate ids, unknown dependencies, cycles, unknown roles) live in validation.ts,
 * because they need the whole batch and the role catalog.
 */
import { z } from 'zod';
import {
  BATCH_ID_PATTERN,
  CREDENTIAL_FINGERPRINT_CHARS,
  ID_RULE,
  MAX_APPROVAL_COMMENT_CHARS,
  MAX_APPROVAL_TIMEOUT_SECONDS,
  MAX_ATTEMPTS_LIMIT,
  MAX_BUDGET_TOKENS,
  MAX_BUDGET_USD,
  MAX_CONTEXT_BUDGET_BYTES,
  MAX_CONTEXT_IDS,
  MAX_DEPENDENCIES_PER_TASK,
  MAX_DESCRIPTION_CHARS,
  MAX_REQUIREMENT_CHARS,
  MAX_REQUIREMENT_ENTRIES,
  MAX_SIMULATED_DURATION_MS,
  MAX_SIMULATED_OUTPUT_BYTES,
  MAX_SIMULATED_VERDICTS,
  MAX_TASK_TIMEOUT_SECONDS,
  MAX_TASKS_PER_BATCH,
  MIN_BUDGET_USD,
  MIN_CONTEXT_BUDGET_BYTES,
  MIN_TASK_TIMEOUT_SECONDS,
  TASK_ID_PATTERN,
} from './limits';

export const TaskIdSchema = z.string().regex(TASK_ID_PATTERN, `task id must be ${ID_RULE}`);

export const BatchIdSchema = z.string().regex(BATCH_ID_PATTERN, `batch id must be ${ID_RULE}`);

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

/**
 * One simulated review (`input.simulate.verdicts[]`, approval.after.by): the verdict the validator agent gives,
 * (after `durationMs`), or `fail`, how its review fails (error: it reports an error; invalid: it answers something that is no
 * verdict; crash: it dies without answering; timeout: it never answers).
 */
export const SimulatedVerdictSchema = z.union([
  z
    .object({
      accept: z.boolean(),
      comments: z.string().max(MAX_APPROVAL_COMMENT_CHARS).optional(),
      /** How long the simulated review takes. */
      durationMs: z.number().int().min(0).max(MAX_SIMULATED_DURATION_MS).optional(),
    })
    .strict(),
  z.object({ fail: z.enum(['error', 'invalid', 'crash', 'timeout']) }).strict(),
]);
export type SimulatedVerdict = z.infer<typeof SimulatedVerdictSchema>;

/**
 * `input.simulate`: read by the simulated executor only. `output`: the exact output to return (given
 * structured output, e.g. a planner's); `outputBytes`: an output of that many bytes as JSON (a large answer
 * without a provider).
 */
export const SimulateSchema = z
  .object({
    durationMs: z.number().int().min(0).max(MAX_SIMULATED_DURATION_MS).optional(),
    failAttempts: z.number().int().min(0).max(MAX_ATTEMPTS_LIMIT).optional(),
    failMode: FailModeSchema.optional(),
    output: z.unknown().optional(),
    outputBytes: z.number().int().min(0).max(MAX_SIMULATED_OUTPUT_BYTES).optional(),
    /** The validator's reviews of this task's outputs, one per review in order; past the last: accept. */
    verdicts: z.array(SimulatedVerdictSchema).max(MAX_SIMULATED_VERDICTS).optional(),
  })
  .strict()
  .refine((s) => s.output === undefined || s.outputBytes === undefined, {
    message: 'give either output or outputBytes, not both',
    path: ['outputBytes'],
  });
export type Simulate = z.infer<typeof SimulateSchema>;

export const PrioritySchema = z.union([z.literal(1), z.literal(2), z.literal(3)]);

/**
 * Which finished work a task's agent receives (README "Passing work between tasks"): its direct
 * dependencies' outputs (the default), nothing, or the listed tasks, each a dependency or a transitive
 * ancestor (validation refuses any other id).
 */
export const ContextSelectionSchema = z.union([
  z.enum(['dependencies', 'none']),
  z.array(TaskIdSchema).max(MAX_CONTEXT_IDS),
]);
export type ContextSelection = z.infer<typeof ContextSelectionSchema>;

/**
 * When a task runs, given how its dependencies ended (the gate protocol decides, exactly once):
 * all_success (default): every dependency succeeded; all_done: every dependency finished, whatever its
 * status; one_success: at least one succeeded (the task may start as soon as one has); none_failed_min_one_success:
 * none FAILED (SKIPPED ones allowed) and at least one succeeded.
 */
export const TriggerRuleSchema = z.enum([
  'all_success',
  'all_done',
  'one_success',
  'none_failed_min_one_success',
]);
export type TriggerRule = z.infer<typeof TriggerRuleSchema>;

/**
 * Human (or validator agent) approval. before: the task is not dispatched until approved. after: its
 * output is not accepted until approved; a rejection fails the attempt with the reviewer's comment.
 * by: a validator role instead of a person (for `after`). timeoutSeconds: a wait longer than this rejects.
 */
export const ApprovalSchema = z
  .object({
    before: z.boolean().optional(),
    after: z.boolean().optional(),
    by: z.string().min(1).max(64).optional(),
    timeoutSeconds: z.number().int().min(1).max(MAX_APPROVAL_TIMEOUT_SECONDS).optional(),
  })
  .strict();
export type Approval = z.infer<typeof ApprovalSchema>;

/**
 * A JSON object kept as given: every own key is data, `__proto__` and `constructor` included (a record
 * schema would rebuild the object and drop a `__proto__` key).
 */
export const PlainObjectSchema = z.custom<Record<string, unknown>>(
  (value) => typeof value === 'object' && value !== null && !Array.isArray(value),
  'must be a JSON object',
);

export const TaskSchema = z
  .object({
    id: TaskIdSchema,
    // Whitespace alone describes no work: nothing could route it, and an agent would get an empty task.
    description: z
      .string()
      .min(1)
      .max(MAX_DESCRIPTION_CHARS)
      .regex(/\S/, 'description must not be only whitespace'),
    role: z.string().min(1).max(64).optional(),
    requirements: RequirementsSchema.optional(),
    dependsOn: z.array(TaskIdSchema).max(MAX_DEPENDENCIES_PER_TASK).optional(),
    priority: PrioritySchema.optional(),
    timeoutSeconds: z.number().int().min(MIN_TASK_TIMEOUT_SECONDS).max(MAX_TASK_TIMEOUT_SECONDS).optional(),
    input: PlainObjectSchema.optional(),
    /** Work passed from other tasks (default "dependencies"). */
    context: ContextSelectionSchema.optional(),
    /** Bytes of dependency work one attempt's request may carry (DEFAULT_CONTEXT_BUDGET_BYTES). */
    contextBudgetBytes: z
      .number()
      .int()
      .min(MIN_CONTEXT_BUDGET_BYTES)
      .max(MAX_CONTEXT_BUDGET_BYTES)
      .optional(),
    /** JSON Schema the task's output must fit (checked at submit; providers are asked for fitting JSON). */
    outputSchema: PlainObjectSchema.optional(),
    approval: ApprovalSchema.optional(),
    trigger: TriggerRuleSchema.optional(),
    /** The task's structured output lists task specs that are added to the running batch. */
    expands: z.boolean().optional(),
  })
  .strict();
export type Task = z.infer<typeof TaskSchema>;

/** A batch's spending cap: nothing more is dispatched once the next attempt's worst case does not fit. */
const BudgetFieldsSchema = z
  .object({
    /** USD the batch may spend (settled attempts plus the worst case of those in flight). */
    maxCostUsd: z.number().min(MIN_BUDGET_USD).max(MAX_BUDGET_USD).optional(),
    /** Tokens (input, output and cache, every call) the batch may use. */
    maxTokens: z.number().int().positive().max(MAX_BUDGET_TOKENS).optional(),
  })
  .strict();
export const BudgetSchema = BudgetFieldsSchema.refine(
  (b) => b.maxCostUsd !== undefined || b.maxTokens !== undefined,
  {
    message: 'a budget needs maxCostUsd or maxTokens (or both)',
  },
);
export type Budget = z.infer<typeof BudgetSchema>;

export const BatchOptionsSchema = z
  .object({
    maxAttempts: z.number().int().min(1).max(MAX_ATTEMPTS_LIMIT).optional(),
    failFast: z.boolean().optional(),
    budget: BudgetSchema.optional(),
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
 * RUNNING (dispatched to an agent), AWAITING_APPROVAL (waiting on a person or validator, holding no
 * agent slot), then a terminal status. */
export const TaskStatusSchema = z.enum([
  'PENDING',
  'READY',
  'RUNNING',
  'AWAITING_APPROVAL',
  ...TerminalTaskStatusSchema.options,
]);
export type TaskStatus = z.infer<typeof TaskStatusSchema>;

export const BatchStatusSchema = z.enum(['RUNNING', 'SUCCEEDED', 'PARTIAL', 'FAILED', 'CANCELLED']);
export type BatchStatus = z.infer<typeof BatchStatusSchema>;

/** AWAITING_APPROVAL: the agent answered and gave its slot back; the output waits for its review. */
export const AttemptStatusSchema = z.enum([
  'RUNNING',
  'AWAITING_APPROVAL',
  'SUCCEEDED',
  'FAILED',
  'TIMED_OUT',
  'CANCELLED',
]);
export type AttemptStatus = z.infer<typeof AttemptStatusSchema>;

/**
 * Where a whole output lives when it is not inline (claim check): size, digest and location. `location`
 * is an `s3://bucket/key` URI of the output's JSON (`bytes` and `sha256` are of those bytes); `format` is
 * `text` for an LLM answer `{ text, stopReason, model }` (stored with `text` first, so the first bytes are the
 * start of the text) and `json` otherwise; `fields` lists the top-level fields of an object output a
 * dependent may address.
 */
export const ArtifactRefSchema = z.object({
  location: z.string(),
  bytes: z.number().int().min(0),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  contentType: z.string(),
  format: z.enum(['text', 'json']).optional(),
  fields: z.array(z.string()).optional(),
});
export type ArtifactRef = z.infer<typeof ArtifactRefSchema>;

/** Tokens one call (or the sum of several) used, as the provider reported them. */
export const UsageSchema = z.object({
  inputTokens: z.number().int().min(0),
  outputTokens: z.number().int().min(0),
  cacheReadTokens: z.number().int().min(0).optional(),
  cacheWriteTokens: z.number().int().min(0).optional(),
  /** Counted by the simulated executor from prompt and output sizes, not by a provider. */
  simulated: z.boolean().optional(),
});
export type Usage = z.infer<typeof UsageSchema>;

/** What the context builder passed to one attempt: per task, the bytes sent and whether it was cut. */
export const ContextRecordSchema = z.object({
  budgetBytes: z.number().int().min(0),
  usedBytes: z.number().int().min(0),
  items: z.array(
    z.object({
      taskId: TaskIdSchema,
      /**
       * passed: its output (whole or cut); failed / skipped / cancelled: a marker only, never the output;
       * pending: not finished when the attempt started (a trigger rule let the task run without it);
       * omitted: the budget could not hold even its header.
       */
      kind: z.enum(['passed', 'failed', 'skipped', 'cancelled', 'pending', 'omitted', 'rejection']),
      /** Bytes of its output passed (0 for a marker). */
      bytes: z.number().int().min(0),
      /** Bytes of its whole output (0 when there is none). */
      totalBytes: z.number().int().min(0),
      cut: z.boolean(),
      /** Set when the item is a placeholder's substitution rather than a part of the context section. */
      placeholder: z.string().optional(),
      ref: ArtifactRefSchema.optional(),
    }),
  ),
  /**
   * The items not listed, counted (a record longer than MAX_CONTEXT_RECORD_BYTES lists its items while they
   * fit): how many, the bytes they passed and their whole outputs' bytes, and how many were cut.
   */
  unlisted: z
    .object({
      count: z.number().int().min(1),
      bytes: z.number().int().min(0),
      totalBytes: z.number().int().min(0),
      cut: z.number().int().min(0),
      /** How many of them were of each kind (passed, failed, omitted, ...). */
      kinds: z.record(z.string(), z.number().int().min(1)),
    })
    .optional(),
});
export type ContextRecord = z.infer<typeof ContextRecordSchema>;

/** One approval decision (a person's or a validator agent's). */
/**
 * Who sent a person's decision, as the API's authorisation established it (API Gateway's request context; on
 * `meta-agent serve` its API key): never a field of the request body. Only what is known is present.
 */
export const ApprovalCallerSchema = z.object({
  /** The id (never the value) of the API key the request carried. */
  apiKeyId: z.string().optional(),
  /** An IAM caller's ARN (an IAM-authorised API). */
  userArn: z.string().optional(),
  /** A Cognito user's `sub` (a Cognito-authorised API). */
  cognitoSub: z.string().optional(),
  /** The principal a Lambda authorizer answered. */
  principalId: z.string().optional(),
  sourceIp: z.string().optional(),
});
export type ApprovalCaller = z.infer<typeof ApprovalCallerSchema>;

export const ApprovalRecordSchema = z.object({
  stage: z.enum(['before', 'after']),
  decision: z.enum(['approve', 'reject']),
  /** `person`, or the validator agent's id. */
  by: z.string(),
  /** A person's decision: who sent it, as far as the API knows (ApprovalCallerSchema). */
  caller: ApprovalCallerSchema.optional(),
  comment: z.string().optional(),
  attempt: z.number().int().min(0).optional(),
  at: z.number(),
  /** A validator agent's verdict made by the simulated executor (input.simulate.verdicts), not by a model. */
  simulated: z.boolean().optional(),
  /** false: a rejection that ends the task instead of routing it again (ApprovalDecision.retry). */
  retry: z.literal(false).optional(),
  /** What the validator agent's review used (counted in the task's and the batch's totals). */
  usage: z.lazy(() => UsageSchema).optional(),
  costUsd: z.number().min(0).nullable().optional(),
});
export type ApprovalRecord = z.infer<typeof ApprovalRecordSchema>;

/** A validator agent's review that gave no verdict (it failed, crashed or timed out); another may be asked. */
export const ReviewFailureSchema = z.object({
  /** The attempt whose output was under review. */
  attempt: z.number().int().min(1),
  /** The validator agent's id. */
  by: z.string(),
  error: z.string(),
  at: z.number(),
});
export type ReviewFailure = z.infer<typeof ReviewFailureSchema>;

/**
 * What a permanent failure (one the same executor configuration will fail again; domain/permanent-failure.ts)
 * depends on, so what another agent's executor must differ in to be worth a retry:
 * - `credentials` (HTTP 401, a quota or spend limit used up, no key in the provider secret): the provider's key,
 *   one per provider (`name`) and endpoint (`url`);
 * - `request` (403, 404 and other 4xx, past the context window, a refusal, a content filter, an empty answer, a
 *   2xx body that is not the API's answer, an executor config that cannot work): the call as this provider and
 *   model take it (`name`, `model`, `url`);
 * - `output-limit` (the answer was cut at `maxOutputTokens`): the same call, unless it may answer longer
 *   (a higher `maxOutputTokens`).
 */
export const PermanentCauseSchema = z.enum(['credentials', 'request', 'output-limit']);
export type PermanentCause = z.infer<typeof PermanentCauseSchema>;

/** A permanent failure of an attempt: its cause and the executor configuration that failed. */
export const PermanentFailureSchema = z.object({
  cause: PermanentCauseSchema,
  executor: z.lazy(() => ExecutorConfigSchema),
  /**
   * A `credentials` failure's: the fingerprint of the key that was refused (domain/permanent-failure.ts
   * CredentialsMark), when the worker knew it. Never the key.
   */
  fingerprint: z.string().length(CREDENTIAL_FINGERPRINT_CHARS).optional(),
});
export type PermanentFailure = z.infer<typeof PermanentFailureSchema>;

export const AttemptSchema = z.object({
  agentId: z.string(),
  status: AttemptStatusSchema,
  startedAt: z.number(),
  finishedAt: z.number().optional(),
  error: z.string().optional(),
  /** Tokens this attempt used (failed attempts count too). */
  usage: UsageSchema.optional(),
  /** USD at the price table's rates; null when the model's price is unknown (never guessed). */
  costUsd: z.number().min(0).nullable().optional(),
  /** What dependency work this attempt was given. */
  context: ContextRecordSchema.optional(),
  /**
   * Under a batch budget: the worst case this attempt held against it from its dispatch until its end
   * settled it (whole nano-dollars and tokens).
   */
  held: z.object({ nanoUsd: z.number().int().min(0), tokens: z.number().int().min(0) }).optional(),
  /** The attempt failed in a way its executor configuration will fail again (not retried on the same one). */
  permanent: PermanentFailureSchema.optional(),
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
  /** The whole output when small; otherwise `outputRef` (GET /batches/{id}/tasks/{taskId}/output). */
  output: z.unknown().optional(),
  outputRef: ArtifactRefSchema.optional(),
  /** Why a task was SKIPPED, FAILED or CANCELLED, in a sentence. */
  reason: z.string().optional(),
  /**
   * Sums over the attempts and the task's routing question (model-assisted routing). costUsd null: some
   * price is unknown.
   */
  usage: UsageSchema.optional(),
  costUsd: z.number().min(0).nullable().optional(),
  approvals: z.array(ApprovalRecordSchema).optional(),
  /** Reviews by validator agents that gave no verdict (approval.after.by). */
  reviewFailures: z.array(ReviewFailureSchema).optional(),
  /** While AWAITING_APPROVAL: which decision it waits for, from whom, and until when (epoch ms). */
  awaiting: z
    .object({
      stage: z.enum(['before', 'after']),
      /** `person`, or the validator role. */
      reviewer: z.string(),
      since: z.number(),
      deadline: z.number(),
      attempt: z.number().int().min(1).optional(),
      /**
       * A decision was recorded (in `approvals`) but its answer could not be sent to the waiting workflow:
       * the same decision sent again sends it; at the deadline it is taken back.
       */
      undelivered: z
        .object({ decision: z.enum(['approve', 'reject']), error: z.string(), at: z.number() })
        .optional(),
    })
    .optional(),
  /** The expanding task that added this one to the batch. */
  addedBy: TaskIdSchema.optional(),
});
export type TaskResult = z.infer<typeof TaskResultSchema>;

/** A batch's budget as spent so far (settled attempts) and held (attempts in flight, at their worst case). */
export const BudgetStateSchema = BudgetFieldsSchema.extend({
  spentUsd: z.number().min(0),
  spentTokens: z.number().int().min(0),
  reservedUsd: z.number().min(0),
  reservedTokens: z.number().int().min(0),
  /** Set once an attempt no longer fitted: why nothing more was dispatched (`budget exhausted: ...`). */
  exhausted: z.string().optional(),
});
export type BudgetState = z.infer<typeof BudgetStateSchema>;

export const BatchResultSchema = z.object({
  batchId: BatchIdSchema,
  status: BatchStatusSchema,
  startedAt: z.number(),
  finishedAt: z.number().optional(),
  makespanMs: z.number().optional(),
  tasks: z.array(TaskResultSchema),
  usage: UsageSchema.optional(),
  costUsd: z.number().min(0).nullable().optional(),
  budget: BudgetStateSchema.optional(),
});
export type BatchResult = z.infer<typeof BatchResultSchema>;

// ------------------------------------------------------------------------------------- reading batches

/** Tasks of a batch by where they are: done counts every terminal status. */
export const TaskTallySchema = z.object({
  total: z.number().int().min(0),
  done: z.number().int().min(0),
  succeeded: z.number().int().min(0),
  failed: z.number().int().min(0),
  skipped: z.number().int().min(0),
  cancelled: z.number().int().min(0),
  running: z.number().int().min(0),
  /** PENDING, READY and AWAITING_APPROVAL: not finished and holding no agent. */
  waiting: z.number().int().min(0),
});
export type TaskTally = z.infer<typeof TaskTallySchema>;

/** One batch of GET /batches: status, progress, makespan and cost (once recorded). */
export const BatchSummarySchema = z.object({
  batchId: BatchIdSchema,
  status: BatchStatusSchema,
  createdAt: z.number(),
  startedAt: z.number(),
  finishedAt: z.number().optional(),
  makespanMs: z.number().optional(),
  tasks: TaskTallySchema,
  costUsd: z.number().min(0).nullable().optional(),
});
export type BatchSummary = z.infer<typeof BatchSummarySchema>;

/** GET /batches: newest first; `nextCursor` fetches the next page (`?cursor=`), absent on the last. */
export const BatchListSchema = z.object({
  batches: z.array(BatchSummarySchema),
  nextCursor: z.string().optional(),
});
export type BatchList = z.infer<typeof BatchListSchema>;

// ------------------------------------------------------------------------------------- roles and agents

export const ExecutorNameSchema = z.enum(['simulated', 'bedrock', 'anthropic', 'openai', 'http']);
export type ExecutorName = z.infer<typeof ExecutorNameSchema>;

export const ExecutorConfigSchema = z
  .object({
    name: ExecutorNameSchema,
    /** Model id for LLM providers (e.g. a Bedrock model id), or the URL for `http`. */
    model: z.string().optional(),
    url: z.string().url().optional(),
    /**
     * Output tokens asked of an LLM provider per call (default DEFAULT_MAX_OUTPUT_TOKENS in costs.ts): also
     * what a budget reserves for each call of an attempt.
     */
    maxOutputTokens: z.number().int().min(1).max(1_000_000).optional(),
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
  /** Tokens of every attempt the agent ran, failed ones too (absent before the first one reported usage). */
  inputTokens: z.number().int().min(0).optional(),
  outputTokens: z.number().int().min(0).optional(),
  cacheReadTokens: z.number().int().min(0).optional(),
  cacheWriteTokens: z.number().int().min(0).optional(),
  /** What those attempts cost, in nano-dollars (1e-9 USD), at the price table's rates. */
  costNanoUsd: z.number().int().min(0).optional(),
  /** Attempts that used tokens at a price nobody knows (their cost is not in costNanoUsd). */
  unpricedAttempts: z.number().int().min(0).optional(),
});
export type Agent = z.infer<typeof AgentSchema>;

// ------------------------------------------------------------------------------------------- routing

export const ComplexitySchema = z.enum(['low', 'medium', 'high']);
export type Complexity = z.infer<typeof ComplexitySchema>;

/**
 * A model-assisted routing choice (README "Model-assisted routing"): asked when the extraction's confidence
 * was below the threshold; `chosen` is the model's role (absent when the call failed and the deterministic
 * role was kept, with `note` saying why).
 */
export const RoutingAssistSchema = z.object({
  provider: z.string(),
  model: z.string(),
  /** The deterministic extraction's confidence, and the threshold it was below. */
  confidence: z.number().min(0).max(1),
  threshold: z.number().min(0).max(1),
  /** The roles offered to the model (its enum), best deterministic first. */
  candidates: z.array(z.string()),
  /** The model's choice: the role the task goes to. */
  chosen: z.string().optional(),
  /** The deterministic role, kept when the model gave no usable answer. */
  fallback: z.string(),
  /** Answered from the cache of earlier choices for the same description (no call, no tokens). */
  cached: z.boolean(),
  /** Tokens of the call, for cost accounting. */
  usage: UsageSchema.optional(),
  /** USD of the call at the price table's rates; null when the model's price is unknown (never guessed). */
  costUsd: z.number().min(0).nullable().optional(),
  /** Why the deterministic choice was kept (provider error, answer outside the candidates). */
  note: z.string().optional(),
  at: z.number(),
});
export type RoutingAssist = z.infer<typeof RoutingAssistSchema>;

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
  /** Set when a model was asked to choose among the candidates (the choice then decides the role). */
  assist: RoutingAssistSchema.optional(),
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
  /** Candidates past the first MAX_DECISION_AGENTS_LISTED, counted, not listed (the task item stays bounded). */
  unlistedCandidates: z.number().int().min(1).optional(),
  /** Rejected agents past the first MAX_DECISION_AGENTS_LISTED, counted, not listed. */
  unlistedRejected: z.number().int().min(1).optional(),
  requirements: ExtractedRequirementsSchema,
  spawned: z.boolean(),
  decidedAt: z.number(),
  /**
   * Decided after a lost reservation race: the winner was picked among the agents of the best's role within
   * the availability weight of the best (routing.ts spreadAfterLostRace), so a replay ranks the same way.
   */
  afterLostRace: z.boolean().optional(),
});
export type RoutingDecision = z.infer<typeof RoutingDecisionSchema>;

// ------------------------------------------------------------------------------------------ task detail

/** An attempt as the task view shows it: its duration once it ended. */
export const AttemptDetailSchema = AttemptSchema.extend({ durationMs: z.number().min(0).optional() });
export type AttemptDetail = z.infer<typeof AttemptDetailSchema>;

/**
 * GET /batches/{id}/tasks/{taskId}: the task as submitted (`spec`), its result so far, the tasks waiting on
 * it, and the stored routing decision of its latest attempt ("why this agent": every candidate's four terms
 * and the agents left out with their reasons).
 */
export const TaskDetailSchema = TaskResultSchema.extend({
  batchId: BatchIdSchema,
  spec: TaskSchema,
  dependents: z.array(TaskIdSchema),
  attempts: z.array(AttemptDetailSchema),
  decision: RoutingDecisionSchema.optional(),
});
export type TaskDetail = z.infer<typeof TaskDetailSchema>;

/** Characters of a task's description in GET /batches/{id}/graph (a node's label and tooltip). */
export const GRAPH_DESCRIPTION_CHARS = 200;

/**
 * GET /batches/{id}/graph: the batch's dependency graph as submitted (tasks in submission order, each with
 * its dependencies, priority and the start of its description), for drawing it; statuses come from
 * GET /batches/{id} and the progress WebSocket.
 */
export const BatchGraphSchema = z.object({
  batchId: BatchIdSchema,
  tasks: z.array(
    z.object({
      id: TaskIdSchema,
      dependsOn: z.array(TaskIdSchema),
      priority: PrioritySchema.optional(),
      role: z.string().optional(),
      description: z.string().max(GRAPH_DESCRIPTION_CHARS),
      /** input.simulate.durationMs, for estimating the critical path of tasks not finished yet. */
      simulatedDurationMs: z.number().optional(),
    }),
  ),
});
export type BatchGraph = z.infer<typeof BatchGraphSchema>;

/** One task's stored routing decision (GET /batches/{id}/decisions), with what a replay needs of the task. */
export const StoredDecisionSchema = z.object({
  taskId: TaskIdSchema,
  description: z.string(),
  /** The task's explicit role and requirements, when it gave them. */
  role: z.string().optional(),
  requirements: RequirementsSchema.optional(),
  status: TaskStatusSchema,
  /** The decision of the task's latest routing; absent when it never routed (skipped, cancelled early). */
  decision: RoutingDecisionSchema.optional(),
});
export type StoredDecision = z.infer<typeof StoredDecisionSchema>;

/** GET /batches/{id}/decisions: every task's stored routing decision, in submission order. */
export const BatchDecisionsSchema = z.object({
  batchId: BatchIdSchema,
  status: BatchStatusSchema,
  decisions: z.array(StoredDecisionSchema),
});
export type BatchDecisions = z.infer<typeof BatchDecisionsSchema>;
