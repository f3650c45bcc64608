/**
 * The orchestration contract: state names of the state machine and the payload each Task state sends and
 * receives. infra/ builds the ASL from these names, functions/ parse these payloads, and the embedded
 * runtime maps each Task state name to its in-process handler. Change one side, change all three.
 *
 * Execution input -> ProcessTasks (Distributed Map over `items`, MaxConcurrencyPath $.concurrency)
 *   child:  HasDependencies? --yes--> Gate (lambda invoke .waitForTaskToken) -> DependenciesOk?
 *             Gate: TimeoutSeconds GATE_REARM_SECONDS, Catch States.Timeout -> Gate (armed again, or answered by
 *             itself when the gate opened meanwhile: a lost answer costs at most that wait, never the batch)
 *                                       DependenciesOk? --no--> SkipTask (Complete, outcome SKIPPED) -> end
 *                                       DependenciesOk? routed by the Complete that opened the gate ($.gate.route)
 *                                         DISPATCH, not reviewed --> DispatchedByGate (Pass: $.gate.route to $.route) -> Dispatch
 *                                         other --> RoutedByGate (Pass: $.gate.route to $.route) -> RouteDecision
 *           Route (router fn) -> RouteDecision? DISPATCH -> Dispatch (DispatchToReview when $.route.review) | WAIT -> CountWait -> WaitForCapacity -> RouteDecision
 *             CountWait (Pass: $.waits.n + 1; the Map's ItemSelector starts it at 0): the WAITs of this execution;
 *             at MAX_WAIT_ROUNDS a WAIT goes to WaitLimit instead (Pass: $.error) -> FailOnError, before the
 *             execution's history (25,000 events, about 15 a round) runs out
 *             WaitForCapacity (router fn .waitForTaskToken, TimeoutSecondsPath $.route.waitSeconds, result in
 *             $.route): answered by the release of a slot on an agent of the role with the DISPATCH of the
 *             slot it hands over (capacity hand-off), or with WOKEN (RouteDecision otherwise -> Route), or
 *             ended by its timeout (Catch -> Route)
 *                                               STOP -> end (task already terminal, e.g. cancelled)
 *           Dispatch (sqs:sendMessage.waitForTaskToken; TimeoutSecondsPath, HeartbeatSecondsPath)
 *             success -> CompletedByWorker? the worker ran the Complete ($.result.completed) -> end
 *                                           otherwise -> CompleteTask (Complete, outcome SUCCEEDED) -> end
 *           DispatchToReview (the same Task state, for a task whose output is reviewed: approval.after)
 *             success -> Reviewed? person -> AwaitReview -> CompleteTask | validator -> RouteReview (below)
 *             Catch States.ALL -> RecordAttempt -> RetryAllowed? yes -> Route | no -> FailTask (Complete, FAILED)
 *             approval.after.by (review "validator"): RouteReview (router fn: holds the output, gives the agent's
 *             slot back, routes the review to an agent of the validator role) -> ReviewDecision?
 *               DISPATCH -> DispatchReview (sqs:sendMessage.waitForTaskToken to the validator's queue; its token is
 *                 the approval wait's, answered by the verdict through decideApproval): approved -> CompleteTask;
 *                 ApprovalRejected -> RecordAttempt; any other error (no verdict) -> RecordReview -> RouteReview
 *               WAIT -> CountReviewWait (counted like CountWait, WaitLimit at the limit) -> WaitForReviewer
 *                 (parked like WaitForCapacity) -> RouteReview
 *               FAIL (MAX_REVIEWS_PER_ATTEMPT reviews gave no verdict) -> ReviewFailed (Pass: $.error) -> RecordAttempt
 *               STOP -> end
 *           Gate, Route, RecordAttempt: Catch States.ALL (after the transient-error retries) -> FailOnError
 *             (Complete, FAILED with the error), so a handler error fails its task and skips its dependents
 *             instead of ending the child with the task unfinished and its dependents' gates waiting forever
 *           CompleteTask of an expanding task that added tasks -> Expanded? -> RunExpansion: a nested execution
 *             of this same state machine over the added ids (states:startExecution.sync:2), then end
 *             RunExpansion: Retry (EXPANSION_START_TRANSIENT_ERRORS), then Catch States.ALL -> ExpansionFailed
 *             (Complete with `expansionError`: every added task not finished FAILS, its dependents released) -> end
 * -> IsExpansion? (input `expansion: true`) -> ExpansionDone | Finalize (finalize fn) -> end
 */
import { z } from 'zod';
import { CONTEXT_PREFETCH_MAX, MAX_DEPENDENT_ROLE_HINTS, RESULT_DEPENDENTS_MAX } from './limits';
import {
  ArtifactRefSchema,
  BatchIdSchema,
  ContextRecordSchema,
  ExecutorConfigSchema,
  TaskIdSchema,
  UsageSchema,
} from './schemas';

export const StateName = {
  ProcessTasks: 'ProcessTasks',
  HasDependencies: 'HasDependencies',
  Gate: 'Gate',
  DependenciesOk: 'DependenciesOk',
  RoutedByGate: 'RoutedByGate',
  DispatchedByGate: 'DispatchedByGate',
  SkipTask: 'SkipTask',
  Route: 'Route',
  RouteDecision: 'RouteDecision',
  WaitForCapacity: 'WaitForCapacity',
  CountWait: 'CountWait',
  CountReviewWait: 'CountReviewWait',
  WaitLimit: 'WaitLimit',
  AwaitApproval: 'AwaitApproval',
  Dispatch: 'Dispatch',
  DispatchToReview: 'DispatchToReview',
  CompletedByWorker: 'CompletedByWorker',
  Reviewed: 'Reviewed',
  AwaitReview: 'AwaitReview',
  RouteReview: 'RouteReview',
  ReviewDecision: 'ReviewDecision',
  WaitForReviewer: 'WaitForReviewer',
  DispatchReview: 'DispatchReview',
  RecordReview: 'RecordReview',
  ReviewFailed: 'ReviewFailed',
  CompleteTask: 'CompleteTask',
  RecordAttempt: 'RecordAttempt',
  RetryAllowed: 'RetryAllowed',
  FailTask: 'FailTask',
  FailOnError: 'FailOnError',
  TaskDone: 'TaskDone',
  Expanded: 'Expanded',
  RunExpansion: 'RunExpansion',
  ExpansionFailed: 'ExpansionFailed',
  IsExpansion: 'IsExpansion',
  ExpansionDone: 'ExpansionDone',
  Finalize: 'Finalize',
} as const;
export type StateName = (typeof StateName)[keyof typeof StateName];

/** Which handler serves each Task state (functions/<name>.ts exports `handler`). */
export const TaskStateHandler = {
  [StateName.Gate]: 'gate',
  [StateName.SkipTask]: 'complete',
  [StateName.Route]: 'route',
  [StateName.WaitForCapacity]: 'route',
  [StateName.AwaitApproval]: 'approval',
  [StateName.AwaitReview]: 'approval',
  [StateName.RouteReview]: 'route',
  [StateName.WaitForReviewer]: 'route',
  [StateName.RecordReview]: 'record-attempt',
  [StateName.CompleteTask]: 'complete',
  [StateName.RecordAttempt]: 'record-attempt',
  [StateName.FailTask]: 'complete',
  [StateName.FailOnError]: 'complete',
  [StateName.ExpansionFailed]: 'complete',
  [StateName.Finalize]: 'finalize',
} as const;

/** Heartbeat interval the Dispatch state allows by default; workers beat at a third of it. */
export const DEFAULT_HEARTBEAT_SECONDS = 60;
/**
 * How long a task parked for capacity waits at first before it routes again (then twice that, see
 * capacityWaitSeconds). A release of a slot of its role ends the wait early (capacity hand-off), so this only
 * bounds what no release announces (see capacityWaitSeconds). Every timeout is a Route invocation: with 2 s,
 * 80 tasks queued per role behind 10 slots each routed two to three times.
 */
export const CAPACITY_WAIT_SECONDS = 30;
/**
 * How long a task whose next attempt does not fit its batch's budget yet waits at first before it routes again
 * (then twice that, up to MAX_CAPACITY_WAIT_SECONDS; see capacityWaitSeconds): a release of its own role offers
 * it the slot, but one of another role does not announce a settled attempt to it, so it asks often.
 */
export const BUDGET_WAIT_SECONDS = 2;

export const MapItemSchema = z.object({ taskId: TaskIdSchema, hasDeps: z.boolean() });
export type MapItem = z.infer<typeof MapItemSchema>;

/** StartExecution input, written by the submit and redrive use cases. */
export const ExecutionInputSchema = z.object({
  batchId: BatchIdSchema,
  /** Task ids in topological order (stable, priority-aware). */
  items: z.array(MapItemSchema).min(1),
  /** Map MaxConcurrency: the number of items, so every task is in flight and waits only on its deps. */
  concurrency: z.number().int().min(1),
});
export type ExecutionInput = z.infer<typeof ExecutionInputSchema>;

/** The StartExecution input of a batch: every task once, in the order given. */
export function executionInput(batchId: string, items: readonly MapItem[]): ExecutionInput {
  return { batchId, items: [...items], concurrency: items.length };
}

/** The Map's ItemSelector output: what every child state receives first. */
export const TaskRefSchema = z.object({ batchId: BatchIdSchema, taskId: TaskIdSchema });
export type TaskRef = z.infer<typeof TaskRefSchema>;

/** Gate: invoked with a task token; answers it (itself, or through Complete of the last dependency). */
export const GateInputSchema = TaskRefSchema.extend({ taskToken: z.string().min(1) });
export type GateInput = z.infer<typeof GateInputSchema>;
/** What the Gate's token is answered with (SendTaskSuccess output). */
export const GateOutputSchema = z.object({
  proceed: z.boolean(),
  failedDeps: z.number().int().min(0),
  reason: z.string().optional(),
  /**
   * The task's Route output, when the Complete that opened the gate routed the task itself (hop latency):
   * RoutedByGate puts it at $.route and RouteDecision acts on it, so the task skips its own Route state.
   */
  route: z.lazy(() => RouteOutputSchema).optional(),
});
export type GateOutput = z.infer<typeof GateOutputSchema>;

export const RouteInputSchema = TaskRefSchema;
/**
 * WaitForCapacity (router fn, .waitForTaskToken): the token is parked on the task's waiting mark; the release
 * of a slot on a full agent of the role answers it, else the state's timeout (the WAIT's waitSeconds) does.
 */
export const ParkInputSchema = TaskRefSchema.extend({ role: z.string(), taskToken: z.string().min(1) });
export type ParkInput = z.infer<typeof ParkInputSchema>;
/** A DISPATCH: the agent whose slot was reserved, and where its work goes. */
const DispatchToSchema = z.object({
  decision: z.literal('DISPATCH'),
  agentId: z.string(),
  role: z.string(),
  /** The agent's executor, carried to the worker in the message (it needs not read the agent). */
  executor: ExecutorConfigSchema,
  queueUrl: z.string(),
});
/** No agent free: park the task under `role`'s waiting marks until a slot frees, at most waitSeconds. */
const WaitDecisionSchema = z.object({
  decision: z.literal('WAIT'),
  role: z.string(),
  waitSeconds: z.number().int().min(1),
  /** Reservation races this route lost before it waited (absent: none), for the logs and benchmarks. */
  lostRaces: z.number().int().min(1).optional(),
});
const StopDecisionSchema = z.object({ decision: z.literal('STOP'), reason: z.string() });

export const RouteOutputSchema = z.discriminatedUnion('decision', [
  DispatchToSchema.extend({
    attempt: z.number().int().min(1),
    timeoutSeconds: z.number().int().min(1),
    heartbeatSeconds: z.number().int().min(1),
    /** Who reviews the output before it is accepted (approval.after); absent: nobody. */
    review: z.enum(['person', 'validator']).optional(),
    /** How long the review may take before it rejects by timeout. */
    reviewTimeoutSeconds: z.number().int().min(1).optional(),
    /**
     * The tasks whose work the attempt's context takes (CONTEXT_PREFETCH_MAX at most, else none): carried in
     * the dispatch message, so the worker reads them beside its claim instead of after it. Optional for a
     * route output of an older version; the Dispatch state reads it from every DISPATCH of this one.
     */
    contextIds: z.array(z.string()).max(CONTEXT_PREFETCH_MAX).optional(),
    /**
     * When Route answered this dispatch (epoch ms), carried in the dispatch message (DispatchMessage.dispatchedAt).
     * Optional for a route output of an older version; the Dispatch state reads it from every DISPATCH of this one.
     */
    dispatchedAt: z.number().optional(),
  }),
  /** approval.before not given yet: wait for a decision (AwaitApproval), at most timeoutSeconds. */
  z.object({
    decision: z.literal('APPROVAL'),
    stage: z.literal('before'),
    timeoutSeconds: z.number().int().min(1),
  }),
  WaitDecisionSchema,
  StopDecisionSchema,
]);
export type RouteOutput = z.infer<typeof RouteOutputSchema>;

/**
 * What a wake answers a WaitForCapacity token with (into $.route): a decision RouteDecision does not dispatch
 * on, so the task routes again. A capacity hand-off answers with the DISPATCH itself (usecases/handoff.ts).
 * A Choice rule on a path that is missing fails the execution, hence a decision rather than none.
 */
export const WOKEN = { decision: 'ROUTE_AGAIN' } as const;

/**
 * AwaitApproval (approval.before) and AwaitReview (approval.after), lambda .waitForTaskToken: the task waits
 * for a decision with this token. AwaitReview holds the worker's answer (`result`) while it waits.
 */
export const ApprovalWaitInputSchema = TaskRefSchema.extend({
  stage: z.enum(['before', 'after']),
  taskToken: z.string().min(1),
  agentId: z.string().optional(),
  attempt: z.number().int().min(1).optional(),
  result: z.lazy(() => DispatchResultSchema).optional(),
});
export type ApprovalWaitInput = z.infer<typeof ApprovalWaitInputSchema>;

/**
 * RouteReview (router fn): the output of attempt `attempt` by `agentId` (the worker's answer, `result`) is to be
 * reviewed by an agent of the task's validator role. The first call holds the output and gives the agent's
 * slot back; every call routes the review (a validator that failed this attempt's review is not asked again).
 */
export const RouteReviewInputSchema = TaskRefSchema.extend({
  review: z.object({
    agentId: z.string(),
    attempt: z.number().int().min(1),
    result: z.lazy(() => DispatchResultSchema),
  }),
});
export type RouteReviewInput = z.infer<typeof RouteReviewInputSchema>;
export const RouteReviewOutputSchema = z.discriminatedUnion('decision', [
  DispatchToSchema.extend({
    /** The review's number among this task's reviews (its validator's lease). */
    run: z.number().int().min(1),
    /** When the validator's slot was taken (its latency, should the review fail). */
    startedAt: z.number(),
    timeoutSeconds: z.number().int().min(1),
    heartbeatSeconds: z.number().int().min(1),
  }),
  WaitDecisionSchema,
  /** No verdict after MAX_REVIEWS_PER_ATTEMPT reviews: the attempt fails with `reason`. */
  z.object({ decision: z.literal('FAIL'), reason: z.string() }),
  StopDecisionSchema,
]);
export type RouteReviewOutput = z.infer<typeof RouteReviewOutputSchema>;

/** RecordReview (DispatchReview's Catch for anything but a rejection): the review gave no verdict. */
export const RecordReviewInputSchema = TaskRefSchema.extend({
  reviewer: z.object({
    agentId: z.string(),
    role: z.string(),
    run: z.number().int().min(1),
    attempt: z.number().int().min(1),
    startedAt: z.number(),
  }),
  error: z.lazy(() => StatesErrorSchema),
});
export type RecordReviewInput = z.infer<typeof RecordReviewInputSchema>;

/** SQS message body on a role queue; the agent worker answers `taskToken`. */
export const DispatchMessageSchema = TaskRefSchema.extend({
  agentId: z.string(),
  attempt: z.number().int().min(1),
  taskToken: z.string().min(1),
  /**
   * Set by the state machine whose CompleteTask writes the attempt's end from the worker's answer. An
   * execution started on an older definition does not set it, and its worker stores the output itself, so
   * no output is lost to a deploy while batches run.
   */
  inlineResult: z.boolean().optional(),
  /**
   * The routed role and the agent's executor. A message of an execution started on an older definition has
   * neither, and its worker reads the agent.
   */
  role: z.string().optional(),
  executor: ExecutorConfigSchema.optional(),
  /**
   * A review by a validator agent (approval.after.by) of attempt `attempt`'s output, the task's `run`-th
   * review: the worker answers with a verdict through the approval use case instead of running the task.
   */
  review: z.object({ run: z.number().int().min(1) }).optional(),
  /**
   * The tasks whose work the context takes, as Route found them (RouteOutput's contextIds): read beside the
   * claim. A hint only: what the context needs beyond it is read after the claim; absent in a message of an
   * older definition.
   */
  contextIds: z.array(z.string()).max(CONTEXT_PREFETCH_MAX).optional(),
  /**
   * Set by the Dispatch state of a task nobody reviews: a worker given the router's settings runs the Complete
   * of a successful attempt itself before it answers, and says so (DispatchResult.completed), so the state
   * machine skips CompleteTask. Absent (DispatchToReview, a message of an older definition), or the worker
   * without those settings, the CompleteTask state runs it.
   */
  complete: z.boolean().optional(),
  /**
   * When Route answered the dispatch (epoch ms; a review's: when its validator's slot was taken): the token's
   * heartbeat clock runs from about then, so a worker that claims the message late beats at once (keepAlive).
   * Absent in a message of an older definition.
   */
  dispatchedAt: z.number().optional(),
});
export type DispatchMessage = z.infer<typeof DispatchMessageSchema>;

/**
 * What an agent worker answers the Dispatch token with. The attempt's end travels with it: Complete writes
 * it with the task's status, one write less on every dependency hop. An output too large for the task item
 * (INLINE_OUTPUT_MAX_BYTES) is stored in the artifacts bucket first and only its reference travels
 * (`outputRef`). `outputStored`: a worker answering an execution of an older definition wrote the attempt's
 * end itself.
 */
export const DispatchResultSchema = z.object({
  status: z.literal('SUCCEEDED'),
  agentId: z.string(),
  attempt: z.number().int().min(1),
  durationMs: z.number().min(0),
  finishedAt: z.number().optional(),
  output: z.unknown().optional(),
  outputRef: ArtifactRefSchema.optional(),
  /** What dependency work the attempt was given (recorded on the attempt). */
  context: ContextRecordSchema.optional(),
  /** Tokens the attempt used and their cost (null: the price is unknown), recorded on the attempt. */
  usage: UsageSchema.optional(),
  costUsd: z.number().min(0).nullable().optional(),
  outputStored: z.boolean().optional(),
  /**
   * The worker ran the Complete (DispatchMessage.complete): the task's status, its dependents' releases and
   * routes, and its agent's bookkeeping are written. CompletedByWorker skips CompleteTask.
   */
  completed: z.boolean().optional(),
  /** The task expands (`expands: true`): Complete adds the tasks its output lists (domain/expansion.ts). */
  expands: z.boolean().optional(),
  /**
   * The task's dependents as the worker's claim read them (RESULT_DEPENDENTS_MAX at most, else none): a task's
   * dependents never change once it is stored, so Complete sends their releases beside the task's status write
   * instead of after it, one store round trip less on every dependency hop. A hint only: absent (an answer of
   * an older version, or too many), Complete releases the dependents its status write reads.
   */
  dependents: z.array(TaskIdSchema).max(RESULT_DEPENDENTS_MAX).optional(),
  /**
   * Of those, the ones the task's item names a role for (its dependentRoles: they name it and depend on this
   * task alone), when that role is not this attempt's: Complete lists their role's pool beside their release,
   * for their route's first look. A hint: absent, or not the roles a route asks for, the route lists the pool.
   */
  dependentRoles: z
    .record(TaskIdSchema, z.string().min(1))
    .refine((roles) => Object.keys(roles).length <= MAX_DEPENDENT_ROLE_HINTS, {
      message: `at most ${MAX_DEPENDENT_ROLE_HINTS} dependent roles`,
    })
    .optional(),
});
export type DispatchResult = z.infer<typeof DispatchResultSchema>;

/**
 * Largest output (serialized bytes) kept in the task item and sent inline with the worker's token; a larger
 * one goes to the artifacts bucket and the item keeps its reference. Step Functions caps a state's payload
 * at 256 KiB and DynamoDB an item at 400 KB, and the item and the Map state carry more than the output.
 */
export const INLINE_OUTPUT_MAX_BYTES = 64 * 1024;

/**
 * Errors a worker fails an attempt with that another agent cannot fix: RecordAttempt routes no new attempt
 * and the task FAILS at once with the error as its reason. OutputTooLargeError: the answer is over
 * MAX_OUTPUT_BYTES (domain/outputs.ts).
 */
export const NON_RETRYABLE_ERRORS: ReadonlySet<string> = new Set(['OutputTooLargeError']);

/** Step Functions' Catch output ($.error). */
export const StatesErrorSchema = z.object({ Error: z.string(), Cause: z.string().optional() });

export const RecordAttemptInputSchema = TaskRefSchema.extend({
  agentId: z.string(),
  attempt: z.number().int().min(1),
  error: StatesErrorSchema,
});
export type RecordAttemptInput = z.infer<typeof RecordAttemptInputSchema>;
export const RecordAttemptOutputSchema = z.object({
  retry: z.boolean(),
  reason: z.string().optional(),
  /**
   * The task's reason when it fails because its failure is not worth another attempt (an error no agent can fix,
   * a permanent failure no other agent escapes): FailTask records it instead of "failed after n attempts".
   */
  failure: z.string().optional(),
});
export type RecordAttemptOutput = z.infer<typeof RecordAttemptOutputSchema>;

export const CompleteInputSchema = TaskRefSchema.extend({
  outcome: z.enum(['SUCCEEDED', 'FAILED', 'SKIPPED']),
  agentId: z.string().optional(),
  attempt: z.number().int().min(1).optional(),
  /** FailOnError: the error a Gate, Route or RecordAttempt state caught (its task fails with it). */
  error: StatesErrorSchema.optional(),
  /** CompleteTask: the Dispatch result (the attempt's end and, unless stored already, its output). */
  result: DispatchResultSchema.optional(),
  /** FailTask: RecordAttempt's answer (its `failure`, when given, is the task's reason). */
  retry: RecordAttemptOutputSchema.optional(),
});
export type CompleteInput = z.infer<typeof CompleteInputSchema>;

/**
 * ExpansionFailed: RunExpansion's caught error (its nested execution did not start, or failed). Every task
 * the expansion added (transitively) that has not finished fails with EXPANSION_FAILED_ERROR's reason.
 */
export const ExpansionFailedInputSchema = TaskRefSchema.extend({ expansionError: StatesErrorSchema });
export type ExpansionFailedInput = z.infer<typeof ExpansionFailedInputSchema>;
/** The error an added task fails with when its expansion's nested execution fails (its Cause is the reason). */
export const EXPANSION_FAILED_ERROR = 'ExpansionFailed';

/**
 * CompleteTask's answer when the task expanded: the added tasks as Map items, run by a nested execution of
 * this state machine (RunExpansion) whose input is `{ batchId, items, concurrency, expansion: true }`.
 */
export interface ExpansionRun {
  items: MapItem[];
  concurrency: number;
}

export const FinalizeInputSchema = z.object({ batchId: BatchIdSchema });
export type FinalizeInput = z.infer<typeof FinalizeInputSchema>;

/**
 * Step Functions' status change event (EventBridge, source aws.states) for an execution that ended otherwise
 * than by succeeding: the Finalize function ends such a batch (usecases/interrupted.ts endStoppedExecution).
 * `input` is the execution's input as JSON text, left out (null) when the event would be too large.
 */
export const ExecutionStatusChangeSchema = z.object({
  source: z.literal('aws.states'),
  'detail-type': z.literal('Step Functions Execution Status Change'),
  detail: z.object({
    executionArn: z.string().min(1),
    status: z.enum(['FAILED', 'TIMED_OUT', 'ABORTED']),
    input: z.string().nullish(),
    error: z.string().nullish(),
    cause: z.string().nullish(),
  }),
});
export type ExecutionStatusChange = z.infer<typeof ExecutionStatusChangeSchema>;

/** The batch an execution runs, from its input as JSON text (the first execution's or a redrive's); undefined when it names none. */
export function batchIdOfExecutionInput(input: string): string | undefined {
  try {
    const batchId = (JSON.parse(input) as { batchId?: unknown } | null)?.batchId;
    return typeof batchId === 'string' ? batchId : undefined;
  } catch {
    return undefined;
  }
}
