/**
 * Prepares a state machine definition (ASL, JSONPath) for aws-local-stepfunctions without changing what it
 * computes. The interpreter has three gaps this module closes by a mechanical rewrite:
 * - it evaluates TimeoutSecondsPath against the Task's input AFTER Parameters (AWS: the state input), and it
 *   ignores HeartbeatSeconds(Path): every Task's Parameters are wrapped in an envelope that also resolves those
 *   paths against the state input, and the runtime enforces both itself (see TokenRegistry);
 * - it times out every Task after 60 s when TimeoutSeconds is absent (AWS: no limit), so the rewritten Task
 *   carries the longest timeout a Node timer can hold and the runtime applies the definition's own;
 * - Wait states cannot be scaled: with a wait scale other than 1, SecondsPath waits become a local sleep Task.
 */

/** What a Task state's resource asks the runtime to do. */
export type TaskKind =
  /** `arn:aws:states:::lambda:invoke`: result is `{ Payload, StatusCode, ExecutedVersion }`. */
  | 'lambda-invoke'
  /** A bare function ARN (CDK `payloadResponseOnly`): result is the function's return value. */
  | 'lambda-function'
  /** `arn:aws:states:::lambda:invoke.waitForTaskToken`: invoke, then wait for the token. */
  | 'lambda-token'
  /** `arn:aws:states:::sqs:sendMessage.waitForTaskToken`: send MessageBody, then wait for the token. */
  | 'sqs-token'
  /**
   * `arn:aws:states:::states:startExecution.sync:2`: start an execution of this same state machine and wait
   * for it to end; result is `{ ExecutionArn, Status, Output, ... }` with Output as JSON.
   */
  | 'sfn-start-sync'
  /** A Wait state rewritten into a scaled local sleep. */
  | 'local-wait';

/** A Task state as the runtime serves it. */
export interface TaskStateInfo {
  readonly name: string;
  readonly kind: TaskKind;
  readonly resource: string;
  /** Static TimeoutSeconds of the original state (a path, when given, arrives in the envelope). */
  readonly timeoutSeconds?: number;
  readonly heartbeatSeconds?: number;
}

/** The input every rewritten Task state hands to its local handler. */
export interface TaskEnvelope {
  /** The original state's effective input (after InputPath and the original Parameters). */
  payload: unknown;
  timeoutSeconds?: number;
  heartbeatSeconds?: number;
  /** local-wait only: the resolved SecondsPath. */
  seconds?: number;
}

export interface PreparedDefinition {
  /** The rewritten definition, to run with validation off (validate the original instead). */
  readonly definition: AslDefinition;
  /** Every Task state by name, across nested Map and Parallel state machines. */
  readonly tasks: ReadonlyMap<string, TaskStateInfo>;
  /** Wait states with a static Seconds field: name -> seconds (scaled through waitTimeOverrides). */
  readonly staticWaits: ReadonlyMap<string, number>;
}

/** The parts of ASL this module reads; everything else passes through untouched. */
export interface AslDefinition {
  StartAt: string;
  States: Record<string, AslState>;
  [field: string]: unknown;
}
export interface AslState {
  Type: string;
  [field: string]: unknown;
}

/** Longest delay a Node timer holds (2^31 - 1 ms); a larger one fires at once. */
export const MAX_TIMER_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

export const LAMBDA_INVOKE = 'arn:aws:states:::lambda:invoke';
export const LAMBDA_INVOKE_TOKEN = 'arn:aws:states:::lambda:invoke.waitForTaskToken';
export const SQS_SEND_TOKEN = 'arn:aws:states:::sqs:sendMessage.waitForTaskToken';
export const SFN_START_SYNC = 'arn:aws:states:::states:startExecution.sync:2';
/** Resource of a rewritten Wait state (never sent to AWS: the definition is only rewritten in memory). */
export const LOCAL_WAIT_RESOURCE = 'arn:aws:states:::local:wait';

export class UnsupportedDefinitionError extends Error {
  constructor(
    readonly stateName: string,
    reason: string,
  ) {
    super(`State "${stateName}" cannot run on the embedded runtime: ${reason}`);
    this.name = 'UnsupportedDefinitionError';
  }
}

function taskKind(name: string, resource: string): TaskKind {
  if (resource === LAMBDA_INVOKE) return 'lambda-invoke';
  if (resource === LAMBDA_INVOKE_TOKEN) return 'lambda-token';
  if (resource === SQS_SEND_TOKEN) return 'sqs-token';
  if (resource === SFN_START_SYNC) return 'sfn-start-sync';
  if (/^arn:aws[\w-]*:lambda:[^:]+:\d{12}:function:/.test(resource)) return 'lambda-function';
  throw new UnsupportedDefinitionError(
    name,
    `resource ${resource} is not one of lambda:invoke, lambda:invoke.waitForTaskToken, sqs:sendMessage.waitForTaskToken, states:startExecution.sync:2 or a function ARN`,
  );
}

function optionalNumber(state: AslState, field: string): number | undefined {
  const value = state[field];
  return typeof value === 'number' ? value : undefined;
}

function optionalString(state: AslState, field: string): string | undefined {
  const value = state[field];
  return typeof value === 'string' ? value : undefined;
}

function rewriteTask(name: string, state: AslState, tasks: Map<string, TaskStateInfo>): AslState {
  const resource = optionalString(state, 'Resource') ?? '';
  const kind = taskKind(name, resource);
  const timeoutPath = optionalString(state, 'TimeoutSecondsPath');
  const heartbeatPath = optionalString(state, 'HeartbeatSecondsPath');
  const envelope: Record<string, unknown> =
    state.Parameters === undefined ? { 'payload.$': '$' } : { payload: state.Parameters };
  if (timeoutPath !== undefined) envelope['timeoutSeconds.$'] = timeoutPath;
  if (heartbeatPath !== undefined) envelope['heartbeatSeconds.$'] = heartbeatPath;
  const {
    TimeoutSeconds: _t,
    TimeoutSecondsPath: _tp,
    HeartbeatSeconds: _h,
    HeartbeatSecondsPath: _hp,
    ...rest
  } = state;
  const timeoutSeconds = optionalNumber(state, 'TimeoutSeconds');
  const heartbeatSeconds = optionalNumber(state, 'HeartbeatSeconds');
  tasks.set(name, {
    name,
    kind,
    resource,
    ...(timeoutSeconds === undefined ? {} : { timeoutSeconds }),
    ...(heartbeatSeconds === undefined ? {} : { heartbeatSeconds }),
  });
  return { ...rest, Parameters: envelope, TimeoutSeconds: MAX_TIMER_SECONDS };
}

function rewriteWait(name: string, state: AslState, tasks: Map<string, TaskStateInfo>): AslState {
  const secondsPath = optionalString(state, 'SecondsPath');
  if (secondsPath === undefined || (state.InputPath !== undefined && state.InputPath !== '$')) return state;
  tasks.set(name, { name, kind: 'local-wait', resource: LOCAL_WAIT_RESOURCE });
  const { SecondsPath: _s, InputPath: _i, ...rest } = state;
  return {
    ...rest,
    Type: 'Task',
    Resource: LOCAL_WAIT_RESOURCE,
    Parameters: { 'seconds.$': secondsPath },
    // A Wait passes its input through: discard the sleep's result.
    ResultPath: null,
    TimeoutSeconds: MAX_TIMER_SECONDS,
  };
}

interface RewriteContext {
  readonly scaleWaits: boolean;
  readonly tasks: Map<string, TaskStateInfo>;
  readonly staticWaits: Map<string, number>;
  /** Every state name so far: overrides are keyed by name, so names must be unique machine-wide. */
  readonly seen: Set<string>;
}

function rewriteMachine(machine: AslDefinition, ctx: RewriteContext): AslDefinition {
  const states: Record<string, AslState> = {};
  for (const [name, state] of Object.entries(machine.States)) {
    if (ctx.seen.has(name)) {
      throw new UnsupportedDefinitionError(name, 'state names must be unique across nested state machines');
    }
    ctx.seen.add(name);
    states[name] = rewriteState(name, state, ctx);
  }
  return { ...machine, States: states };
}

function rewriteState(name: string, state: AslState, ctx: RewriteContext): AslState {
  const { scaleWaits, tasks, staticWaits } = ctx;
  switch (state.Type) {
    case 'Task':
      return rewriteTask(name, state, tasks);
    case 'Wait': {
      const seconds = optionalNumber(state, 'Seconds');
      if (seconds !== undefined) staticWaits.set(name, seconds);
      return scaleWaits ? rewriteWait(name, state, tasks) : state;
    }
    case 'Map': {
      if (state.ItemReader !== undefined || state.ResultWriter !== undefined) {
        throw new UnsupportedDefinitionError(name, 'ItemReader and ResultWriter are not supported locally');
      }
      const field = state.ItemProcessor !== undefined ? 'ItemProcessor' : 'Iterator';
      const processor = rewriteMachine(state[field] as AslDefinition, ctx);
      const { ToleratedFailurePercentage: tolerated, ...map } = state;
      if (tolerated === undefined) return { ...state, [field]: processor };
      if (tolerated !== 100 || state.ToleratedFailureCount !== undefined) {
        throw new UnsupportedDefinitionError(
          name,
          'a tolerated failure other than 100 percent is not supported locally',
        );
      }
      return { ...map, [field]: tolerateFailures(name, processor, ctx) };
    }
    case 'Parallel': {
      const branches = state.Branches as AslDefinition[];
      return {
        ...state,
        Branches: branches.map((b) => rewriteMachine(b, ctx)),
      };
    }
    default:
      return state;
  }
}

/** States that may end an iteration with an error a Catch can take. */
const CATCHING_TYPES: ReadonlySet<unknown> = new Set(['Task', 'Parallel', 'Map']);

/**
 * A Map with ToleratedFailurePercentage 100 (the batch's: a failed child is an outcome, never the end of the
 * others): the interpreter's Map stops every iteration when one fails, so each state that could end an
 * iteration with an error gets a last Catch of States.ALL to a Succeed state, and a Fail state becomes that
 * Succeed. The iteration ends there, as the tolerated child execution ends on AWS, and the others go on. Its
 * own Catches come first; States.Runtime still fails the Map (Catch never takes it, on AWS either).
 */
function tolerateFailures(mapName: string, processor: AslDefinition, ctx: RewriteContext): AslDefinition {
  const tolerated = `${mapName}.ToleratedFailure`;
  if (ctx.seen.has(tolerated) || processor.States[tolerated] !== undefined) {
    throw new UnsupportedDefinitionError(
      tolerated,
      'state names must be unique across nested state machines',
    );
  }
  ctx.seen.add(tolerated);
  const states: Record<string, AslState> = {};
  for (const [name, state] of Object.entries(processor.States)) {
    const catchers = (state.Catch ?? []) as { ErrorEquals: string[] }[];
    if (state.Type === 'Fail') states[name] = { Type: 'Succeed' };
    else if (CATCHING_TYPES.has(state.Type) && !catchers.some((c) => c.ErrorEquals.includes('States.ALL')))
      states[name] = { ...state, Catch: [...catchers, { ErrorEquals: ['States.ALL'], Next: tolerated }] };
    else states[name] = state;
  }
  states[tolerated] = { Type: 'Succeed' };
  return { ...processor, States: states };
}

/**
 * Rewrites a definition for the local interpreter and lists its Task states.
 * @param waitScale multiplier for Wait durations (1 keeps them; 0.01 turns 2 s into 20 ms).
 * @throws UnsupportedDefinitionError naming the state the runtime cannot serve.
 */
export function prepareDefinition(definition: AslDefinition, waitScale = 1): PreparedDefinition {
  const tasks = new Map<string, TaskStateInfo>();
  const staticWaits = new Map<string, number>();
  const rewritten = rewriteMachine(structuredClone(definition), {
    scaleWaits: waitScale !== 1,
    tasks,
    staticWaits,
    seen: new Set(),
  });
  return { definition: rewritten, tasks, staticWaits };
}
