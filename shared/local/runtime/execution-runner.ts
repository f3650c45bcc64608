/**
 * Runs executions of one state machine on aws-local-stepfunctions, every Task state served in process:
 * lambda:invoke calls the mapped handler, `.waitForTaskToken` states mint a token (TokenRegistry) and wait
 * for the handler's callback, sqs:sendMessage sends the body to the role queue on fauxqs. Keeps the
 * StartExecution / DescribeExecution / StopExecution view of every execution.
 */
import { randomUUID } from 'node:crypto';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { ExecutionError, ExecutionTimeoutError, StateMachine } from 'aws-local-stepfunctions';
import { Semaphore } from '../../adapters/executors/policy';
import {
  type AslDefinition,
  type PreparedDefinition,
  prepareDefinition,
  type TaskEnvelope,
  type TaskStateInfo,
} from './definition';
import { type LambdaHandler, makeLambdaContext } from './lambda-context';
import { SfnServiceError } from './sfn-endpoint';
import { TaskStateError, type TokenRegistry } from './token-registry';

/**
 * What `$$.Task.Token` resolves to inside the interpreter (its context object is per execution, not per
 * state); each waiting state replaces it in its input with the token it minted.
 */
export const TASK_TOKEN_PLACEHOLDER = '__LOCAL_TASK_TOKEN__';
const MS_PER_SECOND = 1000;
const ACCOUNT_ID = '000000000000';

/** One event of an execution's log (the library does not export the type). */
export type EventLog =
  ReturnType<StateMachine['run']>['eventLogs'] extends AsyncGenerator<infer E> ? E : never;

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

/** An execution as DescribeExecution reports it. */
export interface ExecutionRecord {
  readonly executionArn: string;
  readonly name: string;
  status: ExecutionStatus;
  /** Input and output as JSON text, as the API returns them. */
  readonly input: string;
  output?: string;
  error?: string;
  cause?: string;
  readonly startDate: Date;
  stopDate?: Date;
}

export class LocalRuntimeConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LocalRuntimeConfigError';
  }
}

export interface ExecutionRunnerOptions {
  /** The state machine definition (JSONPath ASL), as synthesized. */
  readonly definition: AslDefinition;
  /** Task state name -> handler name, for every lambda:invoke Task state. */
  readonly taskStates: Readonly<Record<string, string>>;
  /** Handler name -> the handler function (functions/<name>.ts `handler`). */
  readonly handlers: Readonly<Record<string, LambdaHandler>>;
  readonly tokens: TokenRegistry;
  /** Sends the messages of sqs:sendMessage states (bound to fauxqs). */
  readonly sqs: SQSClient;
  readonly stateMachineArn: string;
  readonly region: string;
  /** Multiplier for Wait states (0.01 makes a 2 s capacity wait 20 ms). Default 1. */
  readonly waitScale?: number;
  /** Validate the definition with asl-validator first (default true). */
  readonly validate?: boolean;
  /**
   * Task state name -> most invocations of its handler at once (the rest queue, first come first served).
   * Only the handler call is limited, not a wait on its task token.
   */
  readonly stateConcurrency?: Readonly<Record<string, number>>;
  /**
   * Task state name -> awaited before each invocation of its handler takes its place in the state's limit, so
   * invocations wait side by side, holding no place (a short wait for a quiet store: see system.ts). Given the
   * invocation's event; a rejection is ignored and the handler invoked.
   */
  readonly beforeInvoke?: Readonly<Record<string, (event: unknown) => Promise<void>>>;
  /** Sees every event of every execution (state entered/exited/failed/caught...). */
  readonly onEvent?: (executionArn: string, event: EventLog) => void;
  /**
   * Sees every execution that ends otherwise than by succeeding (failed, timed out, stopped), once, as
   * Step Functions' status change event does on AWS.
   */
  readonly onEnded?: (record: ExecutionRecord) => void;
  /** Fault injection for tests: see NestedStartFault. */
  readonly nestedStartFault?: NestedStartFault;
  /**
   * Task state name -> the state's TimeoutSeconds in its place (fractions allowed), for a timeout the
   * definition fixes for AWS: the embedded system's shorter Gate re-arm, and tests' shorter still.
   */
  readonly timeoutOverrides?: Readonly<Record<string, number>>;
}

/**
 * Asked before each nested execution a startExecution.sync state starts: an answer fails the start with that
 * error, as StartExecution's own errors do on AWS (e.g. `StepFunctions.ExecutionLimitExceededException`), and
 * no execution starts; undefined starts it.
 */
export type NestedStartFault = (
  stateName: string,
  input: unknown,
) => { error: string; cause: string } | undefined;

/** One handler invocation of a lambda Task state, as an invocation observer sees it. */
export interface InvocationTiming {
  readonly executionArn: string;
  readonly stateName: string;
  readonly handlerName: string;
  /** performance.now() at the call and at settlement (the JSON round trips included). */
  readonly startedAt: number;
  readonly durationMs: number;
  readonly ok: boolean;
  /** The event the handler got and what it returned (undefined when it threw). */
  readonly event: unknown;
  readonly result: unknown;
}

export type InvocationObserver = (timing: InvocationTiming) => void;

interface Running {
  readonly record: ExecutionRecord;
  readonly abort: () => void;
  readonly sleeps: AbortController;
  readonly done: Promise<ExecutionRecord>;
}

function replaceToken(value: unknown, token: string): unknown {
  if (typeof value === 'string') return value.replaceAll(TASK_TOKEN_PLACEHOLDER, token);
  if (Array.isArray(value)) return value.map((v) => replaceToken(v, token));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, replaceToken(v, token)]));
  }
  return value;
}

/** JSON round trip, as Lambda serializes events and results (undefined becomes null). */
function jsonCopy(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value ?? null));
}

/** A handler's throw as Step Functions reports a Lambda function error: Error = type, Cause = JSON. */
function lambdaError(error: unknown): TaskStateError {
  const e = error instanceof Error ? error : new Error(String(error));
  if (e instanceof TaskStateError) return e;
  const cause = JSON.stringify({
    errorType: e.name,
    errorMessage: e.message,
    trace: (e.stack ?? '').split('\n'),
  });
  return new TaskStateError(e.name, cause);
}

function positiveInteger(stateName: string, field: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new TaskStateError(
      'States.Runtime',
      `${stateName}: ${field} must be a positive integer, got ${value}`,
    );
  }
  return value;
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new TaskStateError('States.Runtime', 'Execution stopped'));
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new TaskStateError('States.Runtime', 'Execution stopped'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function toStatusError(error: unknown): { status: ExecutionStatus; error: string; cause: string } {
  if (error instanceof ExecutionTimeoutError) {
    return { status: 'TIMED_OUT', error: 'States.Timeout', cause: 'Execution timed out' };
  }
  const inner = error instanceof ExecutionError && error.cause instanceof Error ? error.cause : error;
  if (inner instanceof Error) return { status: 'FAILED', error: inner.name, cause: inner.message };
  return { status: 'FAILED', error: 'States.Runtime', cause: String(inner) };
}

export class ExecutionRunner {
  readonly #options: ExecutionRunnerOptions;
  readonly #prepared: PreparedDefinition;
  readonly #machine: StateMachine;
  readonly #executions = new Map<string, Running>();
  readonly #waitScale: number;
  readonly #observers = new Set<InvocationObserver>();
  /** Executions started by a startExecution.sync state of each execution (stopped with it, as on AWS). */
  readonly #children = new Map<string, Set<string>>();
  readonly #limits: ReadonlyMap<string, Semaphore>;

  /** @throws LocalRuntimeConfigError when a lambda Task state has no handler. */
  constructor(options: ExecutionRunnerOptions) {
    // Fail fast on a malformed definition (asl-validator, as the interpreter's constructor does); the
    // rewritten copy below runs unvalidated because its envelope keys are ours.
    if (options.validate !== false) new StateMachine(options.definition as never);
    this.#options = options;
    this.#waitScale = options.waitScale ?? 1;
    this.#limits = new Map(
      Object.entries(options.stateConcurrency ?? {}).map(([state, limit]) => [state, new Semaphore(limit)]),
    );
    this.#prepared = prepareDefinition(options.definition, this.#waitScale);
    const missing = [...this.#prepared.tasks.values()]
      .filter((t) => t.kind.startsWith('lambda'))
      .filter((t) => {
        const handlerName = options.taskStates[t.name];
        return handlerName === undefined || options.handlers[handlerName] === undefined;
      })
      .map((t) => `${t.name} -> ${options.taskStates[t.name] ?? '(no taskStates entry)'}`);
    if (missing.length > 0) {
      throw new LocalRuntimeConfigError(`Task states without a handler: ${missing.join(', ')}`);
    }
    this.#machine = new StateMachine(this.#prepared.definition as never, {
      validationOptions: { noValidate: true },
    });
  }

  get stateMachineArn(): string {
    return this.#options.stateMachineArn;
  }

  /** Task states of the definition and how each is served. */
  get taskStates(): ReadonlyMap<string, TaskStateInfo> {
    return this.#prepared.tasks;
  }

  /**
   * Starts an execution in the background (StartExecution). A name already used with the same input
   * returns that execution, with another input throws ExecutionAlreadyExists, as Step Functions does.
   */
  start(input: unknown, name: string = randomUUID()): ExecutionRecord {
    const smName = this.#options.stateMachineArn.split(':').at(-1) ?? 'local';
    const executionArn = `arn:aws:states:${this.#options.region}:${ACCOUNT_ID}:execution:${smName}:${name}`;
    const inputText = JSON.stringify(input ?? {});
    const existing = this.#executions.get(executionArn);
    if (existing) {
      if (existing.record.input === inputText && existing.record.status === 'RUNNING') return existing.record;
      throw new SfnServiceError('ExecutionAlreadyExists', `Execution already exists: '${executionArn}'`);
    }
    const record: ExecutionRecord = {
      executionArn,
      name,
      status: 'RUNNING',
      input: inputText,
      startDate: new Date(),
    };
    const sleeps = new AbortController();
    const execution = this.#machine.run(JSON.parse(inputText), {
      noThrowOnAbort: true,
      context: {
        Execution: { Id: executionArn, Name: name },
        StateMachine: { Id: this.#options.stateMachineArn, Name: smName },
        Task: { Token: TASK_TOKEN_PLACEHOLDER },
      },
      overrides: {
        taskResourceLocalHandlers: this.#localHandlers(executionArn, sleeps.signal),
        waitTimeOverrides: this.#waitOverrides(),
      },
    });
    void this.#drainEvents(executionArn, execution.eventLogs);
    const done = execution.result
      .then(
        (output) => {
          if (record.status === 'RUNNING') {
            record.status = 'SUCCEEDED';
            record.output = JSON.stringify(output);
            record.stopDate = new Date();
          }
          return record;
        },
        (error: unknown) => {
          if (record.status === 'RUNNING') {
            Object.assign(record, toStatusError(error), { stopDate: new Date() });
          }
          return record;
        },
      )
      .then((ended) => {
        if (ended.status !== 'SUCCEEDED') this.#options.onEnded?.(ended);
        return ended;
      });
    this.#executions.set(executionArn, { record, abort: execution.abort, sleeps, done });
    return record;
  }

  /** DescribeExecution. */
  describe(executionArn: string): ExecutionRecord {
    return this.#get(executionArn).record;
  }

  /** Resolves when the execution ends (any status). */
  wait(executionArn: string): Promise<ExecutionRecord> {
    return this.#get(executionArn).done;
  }

  /** StopExecution: aborts the run and fails every token it is waiting on. */
  stop(executionArn: string, error?: string, cause?: string): ExecutionRecord {
    const running = this.#get(executionArn);
    const { record } = running;
    if (record.status !== 'RUNNING') return record;
    record.status = 'ABORTED';
    record.stopDate = new Date();
    if (error !== undefined) record.error = error;
    if (cause !== undefined) record.cause = cause;
    running.abort();
    running.sleeps.abort();
    this.#options.tokens.cancelExecution(executionArn);
    for (const child of this.#children.get(executionArn) ?? []) this.stop(child, error, cause);
    return record;
  }

  /** Stops every running execution and waits for them to settle. */
  async stopAll(): Promise<void> {
    for (const { record } of this.#executions.values()) {
      if (record.status === 'RUNNING') this.stop(record.executionArn, 'LocalRuntime.Stopped');
    }
    await Promise.all([...this.#executions.values()].map((e) => e.done));
  }

  /**
   * Calls `observer` after every lambda Task state invocation (benchmarks time the route handler with it,
   * store I/O included). Returns the function that removes it.
   */
  observeInvocations(observer: InvocationObserver): () => void {
    this.#observers.add(observer);
    return () => this.#observers.delete(observer);
  }

  /** Drops an ended execution's record (a running one stays); true when it was dropped. */
  forget(executionArn: string): boolean {
    const execution = this.#executions.get(executionArn);
    if (!execution || execution.record.status === 'RUNNING') return false;
    this.#executions.delete(executionArn);
    for (const child of this.#children.get(executionArn) ?? []) this.forget(child);
    this.#children.delete(executionArn);
    return true;
  }

  /** Whether an execution is running. */
  hasRunning(): boolean {
    for (const { record } of this.#executions.values()) if (record.status === 'RUNNING') return true;
    return false;
  }

  /** Executions started so far. */
  list(): ExecutionRecord[] {
    return [...this.#executions.values()].map((e) => e.record);
  }

  #get(executionArn: string): Running {
    const running = this.#executions.get(executionArn);
    if (!running) {
      throw new SfnServiceError('ExecutionDoesNotExist', `Execution does not exist: '${executionArn}'`);
    }
    return running;
  }

  async #drainEvents(executionArn: string, events: AsyncGenerator<EventLog>): Promise<void> {
    // The interpreter queues every event until read: read them all, or a long run grows without bound.
    for await (const event of events) this.#options.onEvent?.(executionArn, event);
  }

  #waitOverrides(): Record<string, number> {
    if (this.#waitScale === 1) return {};
    return Object.fromEntries(
      [...this.#prepared.staticWaits].map(([name, s]) => [name, s * MS_PER_SECOND * this.#waitScale]),
    );
  }

  #localHandlers(
    executionArn: string,
    sleeps: AbortSignal,
  ): Record<string, (input: unknown) => Promise<never>> {
    const out: Record<string, (input: unknown) => Promise<never>> = {};
    for (const info of this.#prepared.tasks.values()) {
      // Results are JSON (handler results go through a JSON round trip); the library types them JSONValue.
      out[info.name] = (input) =>
        this.#serveTask(info, input as TaskEnvelope, executionArn, sleeps) as Promise<never>;
    }
    return out;
  }

  #handler(stateName: string): LambdaHandler {
    const name = this.#options.taskStates[stateName] ?? '';
    const handler = this.#options.handlers[name];
    if (!handler) throw new LocalRuntimeConfigError(`No handler for Task state ${stateName}`);
    return handler;
  }

  /**
   * Invokes the handler of `stateName`, after its beforeInvoke wait and within the state's concurrency limit
   * when it has them.
   */
  async #invoke(
    stateName: string,
    event: unknown,
    executionArn: string,
    sleeps: AbortSignal,
  ): Promise<unknown> {
    const before = this.#options.beforeInvoke?.[stateName];
    if (before) await before(event).catch(() => undefined);
    const limit = this.#limits.get(stateName);
    if (!limit) return this.#invokeNow(stateName, event, executionArn);
    const release = await limit.acquire(sleeps).catch(() => {
      throw new TaskStateError('States.Runtime', 'Execution stopped');
    });
    try {
      return await this.#invokeNow(stateName, event, executionArn);
    } finally {
      release();
    }
  }

  async #invokeNow(stateName: string, event: unknown, executionArn: string): Promise<unknown> {
    const handler = this.#handler(stateName);
    const functionName = this.#options.taskStates[stateName] ?? stateName;
    const startedAt = performance.now();
    let ok = false;
    let result: unknown;
    try {
      result = jsonCopy(
        await handler(jsonCopy(event), makeLambdaContext(functionName, this.#options.region)),
      );
      ok = true;
      return result;
    } catch (error) {
      throw lambdaError(error);
    } finally {
      if (this.#observers.size > 0) {
        const timing: InvocationTiming = {
          executionArn,
          stateName,
          handlerName: functionName,
          startedAt,
          durationMs: performance.now() - startedAt,
          ok,
          event,
          result,
        };
        for (const observer of this.#observers) observer(timing);
      }
    }
  }

  async #serveTask(
    info: TaskStateInfo,
    envelope: TaskEnvelope,
    executionArn: string,
    sleeps: AbortSignal,
  ): Promise<unknown> {
    // The interpreter runs the first state of a Map iteration queued before an abort: do not invoke anything.
    if (sleeps.aborted) throw new TaskStateError('States.Runtime', 'Execution stopped');
    const timeoutSeconds =
      this.#options.timeoutOverrides?.[info.name] ??
      positiveInteger(info.name, 'TimeoutSecondsPath', envelope.timeoutSeconds) ??
      info.timeoutSeconds;
    const heartbeatSeconds =
      positiveInteger(info.name, 'HeartbeatSecondsPath', envelope.heartbeatSeconds) ?? info.heartbeatSeconds;
    const params = (envelope.payload ?? {}) as Record<string, unknown>;
    switch (info.kind) {
      case 'local-wait': {
        const seconds = typeof envelope.seconds === 'number' ? envelope.seconds : 0;
        await abortableSleep(seconds * MS_PER_SECOND * this.#waitScale, sleeps);
        return null;
      }
      case 'lambda-function':
        return this.#withTimeout(
          this.#invoke(info.name, envelope.payload, executionArn, sleeps),
          timeoutSeconds,
        );
      case 'lambda-invoke': {
        const payload = await this.#withTimeout(
          this.#invoke(info.name, params.Payload, executionArn, sleeps),
          timeoutSeconds,
        );
        return { ExecutedVersion: '$LATEST', Payload: payload, StatusCode: 200 };
      }
      case 'sfn-start-sync':
        return this.#runNested(info.name, params, executionArn, sleeps);
      case 'lambda-token':
      case 'sqs-token': {
        const { token, result } = this.#options.tokens.mint({
          executionArn,
          stateName: info.name,
          ...(timeoutSeconds === undefined ? {} : { timeoutSeconds }),
          ...(heartbeatSeconds === undefined ? {} : { heartbeatSeconds }),
        });
        const request = replaceToken(params, token) as Record<string, unknown>;
        try {
          if (info.kind === 'lambda-token')
            await this.#invoke(info.name, request.Payload, executionArn, sleeps);
          else await this.#sendMessage(request);
        } catch (error) {
          this.#options.tokens.abandon(token, error instanceof Error ? error : new Error(String(error)));
        }
        return await result;
      }
    }
  }

  /**
   * startExecution.sync:2 of this same state machine (the only one the runtime runs): the nested execution
   * runs like any other, stopped when its parent is; its failure fails the state as on AWS.
   */
  async #runNested(
    stateName: string,
    params: Record<string, unknown>,
    parentArn: string,
    sleeps: AbortSignal,
  ): Promise<unknown> {
    if (params.StateMachineArn !== this.#options.stateMachineArn) {
      throw new TaskStateError(
        'States.Runtime',
        `${stateName}: the embedded runtime starts executions of its own state machine only, not ${String(params.StateMachineArn)}`,
      );
    }
    const fault = this.#options.nestedStartFault?.(stateName, params.Input);
    if (fault) throw new TaskStateError(fault.error, fault.cause);
    const child = this.start(params.Input ?? {});
    const children = this.#children.get(parentArn) ?? new Set<string>();
    children.add(child.executionArn);
    this.#children.set(parentArn, children);
    if (sleeps.aborted) this.stop(child.executionArn);
    const record = await this.wait(child.executionArn);
    const summary = {
      ExecutionArn: record.executionArn,
      StateMachineArn: this.#options.stateMachineArn,
      Name: record.name,
      Status: record.status,
      StartDate: record.startDate.getTime(),
      ...(record.stopDate ? { StopDate: record.stopDate.getTime() } : {}),
    };
    if (record.status === 'SUCCEEDED') {
      return { ...summary, Output: JSON.parse(record.output ?? 'null') as unknown };
    }
    throw new TaskStateError(
      'States.TaskFailed',
      JSON.stringify({ ...summary, Error: record.error, Cause: record.cause }),
    );
  }

  async #sendMessage(request: Record<string, unknown>): Promise<void> {
    const body = request.MessageBody;
    try {
      await this.#options.sqs.send(
        new SendMessageCommand({
          QueueUrl: String(request.QueueUrl),
          MessageBody: typeof body === 'string' ? body : JSON.stringify(body),
          ...(typeof request.DelaySeconds === 'number' ? { DelaySeconds: request.DelaySeconds } : {}),
        }),
      );
    } catch (error) {
      const e = error instanceof Error ? error : new Error(String(error));
      throw new TaskStateError(`SQS.${e.name}`, e.message);
    }
  }

  /** Task TimeoutSeconds for states that do not wait on a token. */
  async #withTimeout<T>(work: Promise<T>, timeoutSeconds: number | undefined): Promise<T> {
    if (timeoutSeconds === undefined) return work;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new TaskStateError('States.Timeout', '')),
        timeoutSeconds * MS_PER_SECOND,
      );
    });
    try {
      return await Promise.race([work, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
