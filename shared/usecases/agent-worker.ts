/**
 * Agent worker: runs one dispatched attempt. Claims it first (a duplicate SQS delivery is dropped),
 * heartbeats while the executor works (a refused heartbeat means the task timed out or was cancelled:
 * abort), keeps the output (inline when small, else in the artifacts bucket; over MAX_OUTPUT_BYTES the
 * attempt fails with OutputTooLargeError, which is not retried) and answers the task token. A simulated
 * crash answers nothing: the state machine's HeartbeatSeconds / TimeoutSeconds notice, as they would for a
 * worker that really died.
 */
import { permanentCauseOf } from '../adapters/executors/errors';
import { SimulatedCrashError } from '../adapters/executors/simulated';
import type { RenderedContext } from '../domain/context';
import { carriedUsage, nanoToUsd, PriceTable, sumUsage } from '../domain/costs';
import { MAX_OUTPUT_BYTES, RESULT_DEPENDENTS_MAX } from '../domain/limits';
import { OutputSchemaError, outputMisfits } from '../domain/output-schema';
import { artifactKey, OutputTooLargeError, serializeOutput } from '../domain/outputs';
import {
  type CredentialFingerprints,
  type CredentialsMark,
  describeExecutor,
  markOn,
} from '../domain/permanent-failure';
import { leaseExpiry, leaseKey } from '../domain/pool';
import { type RoleCatalog, renderPrompt } from '../domain/roles';
import { extractRequirements } from '../domain/routing';
import type { ExecutorConfig, Usage } from '../domain/schemas';
import {
  type CompleteInput,
  type DispatchMessage,
  type DispatchResult,
  INLINE_OUTPUT_MAX_BYTES,
} from '../domain/workflow';
import type {
  AgentExecutor,
  AgentRegistry,
  ArtifactStore,
  AttemptEnd,
  AttemptRecord,
  Callbacks,
  Clock,
  StoredTask,
  TaskStore,
} from '../ports';
import { effectiveHeartbeatSeconds } from './common';
import type { CompleteResult } from './complete';
import { attemptContext } from './context';
import { ConfigurationError } from './errors';

export interface AgentWorkerDeps {
  store: TaskStore;
  agents: AgentRegistry;
  /** Where outputs over INLINE_OUTPUT_MAX_BYTES go. */
  artifacts: ArtifactStore;
  callbacks: Callbacks;
  catalog: RoleCatalog;
  clock: Clock;
  executorFor: (config: ExecutorConfig) => AgentExecutor;
  heartbeatSeconds: number;
  /** Prices of the providers' models (the config's over the built-in ones); built-in only when absent. */
  prices?: PriceTable;
  /** Reports background problems (a heartbeat that could not be sent) without failing the attempt. */
  onWarning?: (message: string, error: unknown) => void;
  /**
   * The fingerprint of the key the executors use for a configuration: recorded with a `credentials` failure, so
   * its mark is of that key only (domain/permanent-failure.ts CredentialsMark). Absent: marks of any key.
   */
  credentialFingerprint?: CredentialFingerprints;
  /**
   * The Complete run by the worker (hop latency), for a message that asks for it (DispatchMessage.complete):
   * a successful attempt's Complete (completeTask: the task's status, its dependents' releases and routes, its
   * agent's bookkeeping) runs here, before the token is answered with `completed`, and the state machine skips
   * CompleteTask: no Lambda invocation nor state transition between the work's end and its dependents'
   * dispatch. Not for an expanding task (its nested execution starts after CompleteTask). A Complete that fails
   * here is reported (onWarning) and left to the state machine's CompleteTask, which is safe to repeat.
   * Absent (a worker without the router's settings), CompleteTask runs it.
   */
  complete?: (input: CompleteInput) => Promise<CompleteResult>;
}

/** What became of one dispatch message. */
export type WorkerOutcome =
  | { kind: 'duplicate' }
  /** `completed`: what the worker's own Complete answered (DispatchResult.completed). */
  | { kind: 'succeeded'; durationMs: number; completed?: CompleteResult }
  | { kind: 'failed'; error: string }
  /** The executor "died" (simulated crash): nothing was answered. */
  | { kind: 'crashed' }
  /** The token stopped waiting (timeout, cancel) or the deadline passed: nothing was answered. */
  | { kind: 'aborted'; reason: string };

/** The built-in prices, for a worker given none. */
const DEFAULT_PRICES = new PriceTable();

/** Workers heartbeat this many times per HeartbeatSeconds, so one lost beat never times a task out. */
export const HEARTBEATS_PER_INTERVAL = 3;
const MS_PER_SECOND = 1000;

/**
 * The attempt's configuration was marked for a refused key after Route dispatched it (a task already in flight
 * when another attempt met the refusal): the attempt ends as the credentials failure its call would be, without
 * the call.
 */
export class CredentialsMarkedError extends Error {
  constructor(
    readonly executor: ExecutorConfig,
    readonly mark: CredentialsMark,
  ) {
    super(
      `${describeExecutor(executor)} not called: its key was refused at ${new Date(mark.at).toISOString()} by task ${mark.batchId}/${mark.taskId} on agent ${mark.agentId}, marked fleet-wide until ${new Date(mark.until).toISOString()} (PUT /agents/{id} with this provider and url, or another key, clears it)`,
    );
    this.name = 'CredentialsMarkedError';
  }
}

/**
 * The mark standing for `executor`'s key, if any: read once before the provider is called (the embedded
 * runtime's kept marks, else one Query of the marks partition, beside the context's reads). The simulated
 * executor has no key and is never marked.
 */
export async function markBeforeCall(
  deps: Pick<AgentWorkerDeps, 'agents' | 'clock'>,
  executor: ExecutorConfig,
): Promise<CredentialsMark | undefined> {
  if (executor.name === 'simulated') return undefined;
  return markOn(await deps.agents.credentialsMarks(deps.clock.now()), executor);
}

class TaskAbortedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TaskAbortedError';
  }
}

/** Runs one dispatched attempt end to end; never throws for an executor failure (it answers the token). */
export async function runDispatch(deps: AgentWorkerDeps, message: DispatchMessage): Promise<WorkerOutcome> {
  const { batchId, taskId, agentId, attempt, taskToken } = message;
  // The message names the role and executor the router chose; a message of an older definition does not,
  // and the agent is read beside the claim (a duplicate delivery only wastes that read).
  const routed = message.executor;
  // The work its context takes, named by the message, is read beside the claim too (one round trip less
  // before the work starts); what the message does not name is read after it (attemptContext).
  const [claimed, agentRead, prefetched] = await Promise.allSettled([
    deps.store.claimAttempt(batchId, taskId, attempt),
    routed === undefined ? deps.agents.get(agentId) : Promise.resolve(undefined),
    message.contextIds?.length ? deps.store.getWork(batchId, message.contextIds) : Promise.resolve([]),
  ]);
  if (claimed.status === 'rejected') throw claimed.reason;
  const task = claimed.value;
  if (!task) return { kind: 'duplicate' };

  let alive: KeepAlive | undefined;
  let context: RenderedContext | undefined;
  // What the attempt used, once known: from the executor's answer, or carried by its error.
  let spent: AttemptRecord = {};
  let executorConfig: ExecutorConfig | undefined;
  const account = (calls: readonly Usage[] | undefined): AttemptRecord =>
    executorConfig ? spendOfCalls(deps, executorConfig, calls) : {};
  try {
    if (agentRead.status === 'rejected') throw agentRead.reason;
    const agent = agentRead.value;
    const roleName = task.role ?? message.role ?? agent?.role;
    const role = roleName === undefined ? undefined : deps.catalog.get(roleName);
    if (!role) throw new ConfigurationError(`task ${taskId}: role "${roleName}" is not in the catalog`);
    const timeoutSeconds = task.task.timeoutSeconds ?? role.defaults.timeoutSeconds;
    executorConfig = routed ?? agent?.executor ?? role.defaults.executor;
    const config = executorConfig;
    const requirements = task.requirements ?? extractRequirements(task.task, deps.catalog);
    alive = keepAlive(deps, {
      taskToken,
      agentId,
      leaseKey: leaseKey(batchId, taskId, attempt),
      timeoutSeconds,
      dispatchedAt: message.dispatchedAt,
    });
    const startedAt = deps.clock.now();
    // The work of the tasks it depends on, read from the store now (never carried by the state machine).
    // and, after rejected outputs, what their reviewers said.
    // A mark written since Route dispatched this attempt (another attempt's key was refused meanwhile) is
    // looked for beside the context's reads: the attempt then ends as that credentials failure, without a call.
    const [read, mark] = await Promise.all([
      attemptContext(
        deps,
        batchId,
        task.task,
        { number: attempt, approvals: task.approvals },
        // A failed read beside the claim is read again after it.
        prefetched.status === 'fulfilled' ? prefetched.value : [],
      ),
      markBeforeCall(deps, config),
    ]);
    context = read;
    if (mark) throw new CredentialsMarkedError(config, mark);
    const runTask = context?.task ?? task.task;
    const outcome = await deps.executorFor(config).execute(
      {
        batchId,
        taskId,
        agentId,
        role: role.name,
        attempt,
        task: runTask,
        requirements,
        prompt: renderPrompt(role, runTask, requirements, context?.section ?? ''),
        executor: config,
        timeoutMs: timeoutSeconds * MS_PER_SECOND,
        ...(context
          ? {
              context: {
                budgetBytes: context.record.budgetBytes,
                usedBytes: context.record.usedBytes,
                items: context.items,
              },
            }
          : {}),
      },
      alive.signal,
    );
    // An answer that reported no usage (an http service without its usage headers) cost what no one knows:
    // its cost is unknown (null), so every total it is part of is unknown too, never short of it unseen.
    const used = account(callsOf(outcome));
    spent = used.usage === undefined ? { costUsd: null } : used;
    // Whatever the executor, an answer that does not fit the task's outputSchema fails the attempt, with
    // the misfits, and the task is routed again like after any failure.
    const schema = runTask.outputSchema;
    if (schema !== undefined) {
      const misfits =
        outcome.output === undefined ? ['there is no output'] : outputMisfits(schema, outcome.output);
      if (misfits.length > 0) throw new OutputSchemaError(misfits);
    }
    const finishedAt = deps.clock.now();
    const common = {
      status: 'SUCCEEDED' as const,
      agentId,
      attempt,
      durationMs: finishedAt - startedAt,
      finishedAt,
      ...(context ? { context: context.record } : {}),
      ...spent,
      ...(task.task.expands === true ? { expands: true } : {}),
      ...answeredDependents(task, role.name),
    };
    const end = await keepOutput(deps, message, outcome.output);
    let result: DispatchResult;
    if (message.inlineResult === true) {
      // Complete writes the attempt's end and the output (or its reference) with the task's status.
      result = { ...common, ...end };
    } else {
      // A CompleteTask that does not take the attempt's end (an execution started on an older definition):
      // written here, before the token says the attempt succeeded.
      await deps.store.finishAttempt(batchId, taskId, attempt, {
        status: 'SUCCEEDED',
        at: finishedAt,
        ...end,
        ...(context ? { context: context.record } : {}),
        ...spent,
      });
      result = { ...common, outputStored: true };
    }
    const completed =
      message.complete === true && message.inlineResult === true && result.expands !== true
        ? await completeHere(deps, { batchId, taskId, outcome: 'SUCCEEDED', agentId, attempt, result })
        : undefined;
    await deps.callbacks.succeed(taskToken, completed ? { ...result, completed: true } : result);
    return { kind: 'succeeded', durationMs: result.durationMs, ...(completed ? { completed } : {}) };
  } catch (error) {
    // Before the work began (its role unknown, its agent unreadable): the token fails with the error.
    if (!alive) return failToken(deps.callbacks, taskToken, error);
    // A failed attempt keeps the record of what it was given and used too (a success carries it in its
    // answer): a call answered before the failure cost tokens. Written before the token is failed, so
    // RecordAttempt reads it; an aborted attempt writes it for the record (its slot was settled already).
    // A failure the same executor configuration will repeat is recorded with that configuration: RecordAttempt
    // and Route then retry the task only on an agent that differs in what caused it.
    const cause = error instanceof CredentialsMarkedError ? 'credentials' : permanentCauseOf(error);
    // A refused key's fingerprint (the mark's, for an attempt ended by one), so its mark is of that key only.
    const fingerprint =
      error instanceof CredentialsMarkedError
        ? error.mark.fingerprint
        : cause === 'credentials' && executorConfig
          ? await deps.credentialFingerprint?.(executorConfig).catch(() => undefined)
          : undefined;
    const permanent =
      cause && executorConfig
        ? { cause, executor: executorConfig, ...(fingerprint === undefined ? {} : { fingerprint }) }
        : undefined;
    return await alive.failed(error, async (aborted) => {
      if (spent.usage === undefined) spent = { ...spent, ...account(carriedUsage(error)) };
      const record: AttemptRecord = {
        ...(context ? { context: context.record } : {}),
        ...spent,
        ...(permanent && !aborted ? { permanent } : {}),
      };
      const worth = aborted
        ? spent.usage !== undefined
        : record.context !== undefined || record.usage !== undefined || record.permanent !== undefined;
      if (worth)
        await deps.store
          .setAttemptRecord(batchId, taskId, attempt, record)
          .catch((recordError: unknown) => deps.onWarning?.('attempt record not written', recordError));
    });
  } finally {
    alive?.stop();
  }
}

/** The worker's own Complete (AgentWorkerDeps.complete); undefined when it has none or it failed (reported). */
async function completeHere(
  deps: Pick<AgentWorkerDeps, 'complete' | 'onWarning'>,
  input: CompleteInput,
): Promise<CompleteResult | undefined> {
  if (!deps.complete) return undefined;
  try {
    return await deps.complete(input);
  } catch (error) {
    deps.onWarning?.('Complete failed in the worker: left to the CompleteTask state', error);
    return undefined;
  }
}

/** The tokens and cost (at the worker's prices) of an executor's calls; nothing when none reported usage. */
export function spendOfCalls(
  deps: Pick<AgentWorkerDeps, 'prices'>,
  executor: ExecutorConfig,
  calls: readonly Usage[] | undefined,
): AttemptRecord {
  const usage = calls && sumUsage(calls);
  if (!usage || !calls) return {};
  const nano = (deps.prices ?? DEFAULT_PRICES).costOf(executor, calls);
  return { usage, costUsd: nano === null ? null : nanoToUsd(nano) };
}

/** The calls an executor's outcome reports (one call when it gives only a total). */
export const callsOf = (outcome: { calls?: Usage[]; usage?: Usage }): Usage[] | undefined =>
  outcome.calls ?? (outcome.usage ? [outcome.usage] : undefined);

/** A running piece of work's heartbeats, deadline and abort signal (keepAlive). */
export interface KeepAlive {
  /** Aborted when the token stops waiting (timed out, cancelled) or the deadline passes. */
  readonly signal: AbortSignal;
  /**
   * The work failed with `error`: a simulated crash answers nothing, an aborted piece of work nothing either
   * (nobody waits), any other error fails the token with its name and message. `record` runs first (told
   * whether the work was aborted).
   */
  failed(error: unknown, record?: (aborted: boolean) => Promise<void>): Promise<WorkerOutcome>;
  stop(): void;
}

/**
 * Heartbeats `taskToken` HEARTBEATS_PER_INTERVAL times per HeartbeatSeconds (the interval Route chose for a
 * work of `timeoutSeconds`), extends the agent's lease with each live beat, and aborts the work when a beat is
 * refused or the deadline passes. Call stop() when the work ends.
 *
 * The token's heartbeat clock runs from its dispatch, not from the claim: a message claimed late (a busy
 * machine, a queue backlog) whose first beat came a whole beat interval after the claim could let
 * HeartbeatSeconds pass since the dispatch, and the attempt timed out while it worked. So a claim more than a
 * beat interval after `dispatchedAt` (the time Route stamped in the message) beats at once.
 */
export function keepAlive(
  deps: Pick<AgentWorkerDeps, 'callbacks' | 'agents' | 'clock' | 'heartbeatSeconds' | 'onWarning'>,
  work: {
    taskToken: string;
    agentId: string;
    leaseKey: string;
    timeoutSeconds: number;
    dispatchedAt?: number | undefined;
  },
): KeepAlive {
  const controller = new AbortController();
  const heartbeatSeconds = effectiveHeartbeatSeconds(deps.heartbeatSeconds, work.timeoutSeconds);
  const beatEveryMs = (heartbeatSeconds * MS_PER_SECOND) / HEARTBEATS_PER_INTERVAL;
  const sendBeat = () => {
    deps.callbacks.heartbeat(work.taskToken).then(
      (alive) => {
        if (!alive) {
          controller.abort(new TaskAbortedError('the task token no longer waits (timed out or cancelled)'));
          return;
        }
        // A live attempt keeps its reservation's lease at least a heartbeat (plus margin) ahead, so the
        // scaler never reclaims the slot of a long task that is still working.
        const expiresAt = leaseExpiry(deps.clock.now(), heartbeatSeconds);
        Promise.resolve()
          .then(() => deps.agents.extendLease(work.agentId, work.leaseKey, expiresAt))
          .catch((error: unknown) => deps.onWarning?.('lease extension failed', error));
      },
      (error: unknown) => deps.onWarning?.('heartbeat failed', error),
    );
  };
  if (work.dispatchedAt !== undefined && deps.clock.now() - work.dispatchedAt > beatEveryMs) sendBeat();
  const beat = setInterval(sendBeat, beatEveryMs);
  // Past the deadline the state machine has already given up on this work: stop working on it.
  const deadline = setTimeout(
    () => controller.abort(new TaskAbortedError(`attempt ran past its ${work.timeoutSeconds}s timeout`)),
    work.timeoutSeconds * MS_PER_SECOND,
  );
  return {
    signal: controller.signal,
    stop: () => {
      clearInterval(beat);
      clearTimeout(deadline);
    },
    failed: async (error, record) => {
      if (error instanceof SimulatedCrashError) return { kind: 'crashed' };
      const aborted = controller.signal.aborted;
      await record?.(aborted);
      if (aborted) {
        const reason = controller.signal.reason;
        return { kind: 'aborted', reason: reason instanceof Error ? reason.message : String(reason) };
      }
      return failToken(deps.callbacks, work.taskToken, error);
    },
  };
}

/** Fails `taskToken` with the error's name and message. */
async function failToken(callbacks: Callbacks, taskToken: string, error: unknown): Promise<WorkerOutcome> {
  const name = error instanceof Error ? error.name : 'Error';
  const text = error instanceof Error ? error.message : String(error);
  await callbacks.fail(taskToken, name, text);
  return { kind: 'failed', error: `${name}: ${text}` };
}

/**
 * The attempt's output as the task item will hold it: the output itself up to INLINE_OUTPUT_MAX_BYTES, else
 * a reference to its JSON stored in the artifacts bucket (keyed by batch, task and attempt). Throws
 * OutputTooLargeError over MAX_OUTPUT_BYTES (nothing is stored).
 */
async function keepOutput(
  deps: Pick<AgentWorkerDeps, 'artifacts'>,
  message: DispatchMessage,
  output: unknown,
): Promise<AttemptEnd> {
  if (output === undefined) return {};
  const serialized = serializeOutput(output);
  if (serialized.bytes > MAX_OUTPUT_BYTES) throw new OutputTooLargeError(serialized.bytes);
  if (serialized.bytes <= INLINE_OUTPUT_MAX_BYTES) return { output };
  const key = artifactKey(message.batchId, message.taskId, message.attempt);
  return { outputRef: await deps.artifacts.put(key, serialized.json, serialized) };
}

/** Error name the worker fails a poisoned task's token with. */
export const POISON_MESSAGE_ERROR = 'PoisonMessage';

/**
 * A dispatch message that names its task but is otherwise invalid can never run: the task is FAILED with
 * the reason at once (conditionally: a finished task keeps its status) and, when the message carries a
 * token, the waiting Dispatch is failed too so the state machine does not wait for its timeout. The record
 * itself still goes to the DLQ. true when the task was marked FAILED here.
 */
export async function failPoisonedTask(
  deps: Pick<AgentWorkerDeps, 'store' | 'callbacks' | 'clock'>,
  ref: { batchId: string; taskId: string; taskToken?: string },
  reason: string,
): Promise<boolean> {
  const failed = await deps.store.setTaskStatus(ref.batchId, ref.taskId, 'FAILED', {
    reason: `poison message: ${reason}`,
    at: deps.clock.now(),
  });
  if (ref.taskToken) await deps.callbacks.fail(ref.taskToken, POISON_MESSAGE_ERROR, reason);
  return failed;
}

/**
 * The dependents the answer names for Complete (DispatchResult.dependents; none past RESULT_DEPENDENTS_MAX), and
 * the roles the task's item names for them, but `ownRole`: a dependent of the role of the slot this attempt
 * frees routes after the slot's release (complete.ts), and lists its pool then.
 */
function answeredDependents(
  task: StoredTask,
  ownRole: string,
): Pick<DispatchResult, 'dependents' | 'dependentRoles'> {
  const named = new Set(task.dependents);
  const dependents = [...named];
  if (dependents.length === 0 || dependents.length > RESULT_DEPENDENTS_MAX) return {};
  const roles = Object.entries(task.dependentRoles ?? {}).filter(
    ([taskId, role]) => role !== ownRole && named.has(taskId),
  );
  return { dependents, ...(roles.length > 0 ? { dependentRoles: Object.fromEntries(roles) } : {}) };
}
