/**
 * The embedded local runtime: the deployed state machine definition and the deployed handlers, in one Node
 * process, against emulators on 127.0.0.1.
 *
 * ## Use
 *
 * ```ts
 * const runtime = await LocalRuntime.start({
 *   definition,                        // parsed ASL JSON from the CDK construct
 *   taskStates: TaskStateHandler,      // Task state name -> handler name (shared/domain/workflow.ts)
 *   // A loader, so handler modules are imported AFTER start() has set the environment they read at load.
 *   handlers: async () => ({
 *     gate: (await import('../../../functions/gate')).handler,
 *     agent: (await import('../../../functions/agent')).handler,
 *     // ... route, complete, record-attempt, finalize
 *   }),
 *   agentHandler: 'agent',             // handler serving every role queue (or (role) => handler)
 *   roles: resolveRoles(),             // one queue + DLQ per role; queueConcurrency = pollers' max
 *   concurrency: { python_backend_coder: 3 }, // optional per-role override
 *   waitScale: 0.05,                   // Wait states 20x shorter (env LOCAL_WAIT_SCALE also works)
 * });
 * // Handlers call StartExecution / SendTask* / DescribeExecution with the stock SFNClient; so may the CLI:
 * const { executionArn } = runtime.startExecution(input);   // or through runtime.sfnEndpoint
 * const result = await runtime.waitForExecution(executionArn);
 * runtime.pollers.setMaxConcurrency('python_backend_coder', 5); // the scaler's lever
 * await runtime.stop();                // pollers drained, executions aborted, ports closed, env restored
 * ```
 *
 * While running, process.env holds TASKS_TABLE_NAME, AGENTS_TABLE_NAME, STATE_MACHINE_ARN, ROLE_QUEUE_URLS,
 * ARTIFACTS_BUCKET_NAME and ARTIFACTS_PATH_STYLE=true (fauxqs' S3 takes path-style URLs), SINGLE_THREADED_STORE=true
 * (dynalite answers on one thread),
 * AWS_ENDPOINT_URL_{SQS,S3,DYNAMODB,SFN,LAMBDA} (SDK v3 service endpoint variables, verified with the installed SDK;
 * LAMBDA reaches lambda-endpoint.ts: the event source mappings of the role pollers, for the scaler),
 * AWS_REGION and fake static credentials, so stock clients built by the handlers reach the emulators.
 *
 * ## What aws-local-stepfunctions 3.0.0 does (read from its README and build, checked by experiment)
 *
 * - taskResourceLocalHandlers[stateName](input): input is the Task's effective input AFTER InputPath and
 *   Parameters; the return value goes through ResultSelector / ResultPath / OutputPath. Overrides are keyed
 *   by state name and reach nested Map / Parallel state machines (state names must be unique).
 * - `context` option: merged into the Context Object of the execution AND of every Map iteration (each
 *   iteration is a nested run; its $$.Execution.Input is the iteration's input, StartTime is new).
 *   $$.Task.Token resolves only to what the context holds, one value for the whole execution: we put a
 *   placeholder there and every waiting state swaps it for the token it mints. $$.Execution.Id / Name come
 *   from the context we pass. $$.Map.Item.Value / Index resolve while ItemSelector is evaluated (not later).
 * - Map: ItemProcessor (or Iterator), ItemsPath, ItemSelector (or Parameters), MaxConcurrency(Path) via
 *   p-limit; a MaxConcurrency of 0 means 40, not unlimited. ProcessorConfig (DISTRIBUTED, STANDARD) is
 *   accepted and ignored: iterations run in process. ItemReader, ResultWriter, ItemBatcher are not
 *   supported (we refuse ItemReader / ResultWriter). One failed iteration fails the Map and aborts the
 *   others, as a Map with no tolerated failures does in AWS; ToleratedFailurePercentage 100 (the batch's Map)
 *   is served by a rewrite (definition.ts tolerateFailures: an iteration's uncaught error ends it alone),
 *   any other tolerated failure is refused.
 * - waitTimeOverrides[stateName] = milliseconds, fixed per state (cannot scale a SecondsPath); with a scale
 *   other than 1 we rewrite SecondsPath waits into a local sleep Task (definition.ts).
 * - TimeoutSeconds: applied to every Task, 60 s when absent (AWS: unbounded); TimeoutSecondsPath is read
 *   from the input after Parameters (AWS: the state input). HeartbeatSeconds(Path): ignored. Task tokens:
 *   none. So definition.ts wraps Parameters in an envelope that resolves both paths against the state input,
 *   sets the interpreter's timeout to the longest a timer holds, and TokenRegistry enforces Timeout
 *   (States.Timeout) and Heartbeat (States.HeartbeatTimeout) itself.
 * - Errors: a rejected handler's error reaches Retry / Catch by `error.name`; the Catch output is
 *   `{ Error: error.name, Cause: error.message }`. States.TaskFailed matches anything but the library's own
 *   timeout class, so our States.Timeout IS matched by a States.TaskFailed catcher (AWS: it is not). Catch on
 *   States.ALL or on States.Timeout by name behaves as in AWS.
 * - abort(): stops the run (nested Map runs too); with noThrowOnAbort the result is null. A Task's pending
 *   promise is not cancelled by it: StopExecution therefore also fails the execution's tokens and sleeps.
 * - The event log queues every event until read: the runner always drains it.
 *
 * fauxqs 2.4: startFauxqs binds 0.0.0.0, so we use buildApp + listen on 127.0.0.1; its queue URLs name
 * sqs.<region>.localhost, which does not resolve everywhere, so we publish http://127.0.0.1:<port>/<acct>/
 * <name> (fauxqs finds queues by path). RedrivePolicy works: after maxReceiveCount receives a message moves
 * to the dead-letter queue. dynalite 4: createTableMs / deleteTableMs / updateTableMs 0, in memory;
 * server.close() plus closeAllConnections() frees the port.
 */
import { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBRecord } from 'aws-lambda';
import { forgetKeptCredentialsMarks } from '../../adapters/dynamodb/agent-registry';
import { TASKS_TABLE } from '../../adapters/dynamodb/tables';
import { inProcessClientConfig, serveInProcess } from '../../adapters/in-process-transport';
import { tunedClient } from '../../adapters/sdk-client';
import { EnvVar } from '../../config';
import { MAX_EXECUTION_INPUT_BYTES } from '../../domain/limits';
import type { RoleCatalog } from '../../domain/roles';
import type { Role } from '../../domain/schemas';
import { processHints } from '../../usecases/parked-hints';
import type { AslDefinition } from './definition';
import { type DynamoStreamProxy, startDynamoStreamProxy } from './dynamodb-stream';
import { type Emulators, LOCAL_CREDENTIALS, LOCAL_REGION, startEmulators } from './emulators';
import {
  type EventLog,
  type ExecutionRecord,
  ExecutionRunner,
  type ExecutionRunnerOptions,
  LocalRuntimeConfigError,
  type NestedStartFault,
} from './execution-runner';
import type { LambdaHandler } from './lambda-context';
import { type LambdaEndpoint, startLambdaEndpoint } from './lambda-endpoint';
import { DEFAULT_BATCH_SIZE, QueuePollers, type SqsHandler } from './pollers';
import { type SfnEndpoint, type SfnOperations, SfnServiceError, startSfnEndpoint } from './sfn-endpoint';
import { TokenRegistry } from './token-registry';

/** Environment variable scaling Wait states when the option is not given (e.g. 0.05). */
export const WAIT_SCALE_ENV = 'LOCAL_WAIT_SCALE';
const STATE_MACHINE_NAME = 'meta-agent-local';
const ACCOUNT_ID = '000000000000';

export type HandlerMap = Readonly<Record<string, LambdaHandler>>;

export interface LocalRuntimeOptions {
  /** Parsed ASL (JSONPath) of the state machine, as the CDK construct synthesizes it. */
  readonly definition: AslDefinition;
  /** Task state name -> handler name. */
  readonly taskStates: Readonly<Record<string, string>>;
  /** Handler name -> handler, or a loader called once the environment is set. */
  readonly handlers: HandlerMap | (() => Promise<HandlerMap>);
  /** Handler name (in `handlers`) serving every role queue, or a per-role factory. No pollers when absent. */
  readonly agentHandler?: string | ((role: string) => SqsHandler);
  /** The role catalog: one queue per role, pollers at each role's queueConcurrency. */
  readonly roles: RoleCatalog | readonly Role[];
  /** Per-role maximum concurrency overriding the catalog. */
  readonly concurrency?: Readonly<Record<string, number>>;
  /** Wait-state multiplier; default from LOCAL_WAIT_SCALE, else 1. */
  readonly waitScale?: number;
  /** Role queue visibility timeout; default: the role's timeoutSeconds. */
  readonly visibilityTimeoutSeconds?: number;
  /** Records per agent invocation (default 10, like CDK's SqsEventSource). */
  readonly batchSize?: number;
  /** More environment variables for the handlers (e.g. ROLES_CONFIG, DEFAULT_EXECUTOR). */
  readonly env?: Readonly<Record<string, string>>;
  readonly onEvent?: (executionArn: string, event: EventLog) => void;
  /** Sees every execution that ends otherwise than by succeeding (see ExecutionRunnerOptions). */
  readonly onEnded?: ExecutionRunnerOptions['onEnded'];
  /** Validate the definition with asl-validator at start (default true). */
  readonly validate?: boolean;
  /** Task state name -> most handler invocations at once (see ExecutionRunnerOptions). */
  readonly stateConcurrency?: Readonly<Record<string, number>>;
  /** Task state name -> awaited before each invocation takes its place (see ExecutionRunnerOptions). */
  readonly beforeInvoke?: ExecutionRunnerOptions['beforeInvoke'];
  /**
   * Receives the tasks table's stream records (dynalite has no streams: a loopback proxy in front of it
   * produces them, see dynamodb-stream.ts). Without it, handlers talk to dynalite directly.
   */
  readonly tasksStream?: (records: DynamoDBRecord[]) => void;
  /** Keep the tables and the bucket's objects in this directory across starts (see EmulatorOptions). */
  readonly dataDir?: string;
  /** Tests: fail the start of nested executions (see NestedStartFault). */
  readonly nestedStartFault?: NestedStartFault;
  /** Task state name -> TimeoutSeconds in its place (see ExecutionRunnerOptions). */
  readonly timeoutOverrides?: Readonly<Record<string, number>>;
  /**
   * Serve the calls of the handlers, the scaler and the runtime to DynamoDB, Step Functions, SQS and the
   * Lambda endpoint in process, without the loopback socket (in-process-transport.ts; default true; S3 keeps
   * HTTP). DynamoDB stays on HTTP while `tasksStream` is set: its proxy
   * must see every write. The emulators' ports serve other clients either way.
   */
  readonly inProcessTransport?: boolean;
}

function waitScaleFrom(option: number | undefined): number {
  if (option !== undefined) return option;
  const text = process.env[WAIT_SCALE_ENV];
  if (text === undefined || text === '') return 1;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0) {
    throw new LocalRuntimeConfigError(`${WAIT_SCALE_ENV} must be a number >= 0, got "${text}"`);
  }
  return value;
}

function epochSeconds(date: Date | undefined): number | undefined {
  return date === undefined ? undefined : date.getTime() / 1000;
}

/** The oldest Node.js major the embedded runtime runs on: its interpreter uses Promise.withResolvers (Node 22). */
export const MIN_RUNTIME_NODE_MAJOR = 22;

/**
 * Refuses a Node.js older than MIN_RUNTIME_NODE_MAJOR with an error that says what to run instead: on Node 20
 * the state machine's interpreter fails every task with `Promise.withResolvers is not a function`. The CLI
 * runs itself on the project's pinned Node 22 already (bin/meta-agent.js); a script run with the machine's
 * own Node does not.
 * @throws LocalRuntimeConfigError
 */
export function assertRuntimeNode(version: string = process.versions.node): void {
  const major = Number(version.split('.')[0]);
  if (Number.isFinite(major) && major >= MIN_RUNTIME_NODE_MAJOR) return;
  throw new LocalRuntimeConfigError(
    `the embedded runtime needs Node.js >= ${MIN_RUNTIME_NODE_MAJOR} (found ${version}): run it through an npm ` +
      'script or npx, which use the Node 22 the project installs (node_modules/.bin/node), or with that Node',
  );
}

export class LocalRuntime {
  readonly emulators: Emulators;
  readonly sfnEndpoint: SfnEndpoint;
  /** Lambda event source mapping API over the pollers (List / Get / UpdateEventSourceMapping). */
  readonly lambdaEndpoint: LambdaEndpoint;
  readonly tokens: TokenRegistry;
  readonly runner: ExecutionRunner;
  readonly pollers: QueuePollers;
  readonly stateMachineArn: string;
  /** Role name -> queue URL (what ROLE_QUEUE_URLS holds). */
  readonly roleQueueUrls: Readonly<Record<string, string>>;
  readonly #sqs: SQSClient;
  readonly #savedEnv: Map<string, string | undefined>;
  readonly #streamProxy: DynamoStreamProxy | undefined;
  /** Ends the in-process service of the emulators (in-process-transport.ts). */
  readonly #stopServing: () => void;
  /** Ends this runtime's hold on the process's parked-task hints (see holdWhileEveryParkIsHere). */
  readonly #letGoOfHints: () => void;
  #stopped = false;

  private constructor(parts: {
    emulators: Emulators;
    sfnEndpoint: SfnEndpoint;
    lambdaEndpoint: LambdaEndpoint;
    tokens: TokenRegistry;
    runner: ExecutionRunner;
    pollers: QueuePollers;
    sqs: SQSClient;
    savedEnv: Map<string, string | undefined>;
    stateMachineArn: string;
    roleQueueUrls: Record<string, string>;
    streamProxy: DynamoStreamProxy | undefined;
    stopServing: () => void;
    letGoOfHints: () => void;
  }) {
    this.#streamProxy = parts.streamProxy;
    this.#stopServing = parts.stopServing;
    this.#letGoOfHints = parts.letGoOfHints;
    this.emulators = parts.emulators;
    this.sfnEndpoint = parts.sfnEndpoint;
    this.lambdaEndpoint = parts.lambdaEndpoint;
    this.tokens = parts.tokens;
    this.runner = parts.runner;
    this.pollers = parts.pollers;
    this.#sqs = parts.sqs;
    this.#savedEnv = parts.savedEnv;
    this.stateMachineArn = parts.stateMachineArn;
    this.roleQueueUrls = parts.roleQueueUrls;
  }

  /**
   * Starts emulators, the Step Functions endpoint, sets the environment, loads the handlers and starts the
   * role pollers.
   * @throws LocalRuntimeConfigError when a Task state has no handler or an option is invalid
   * (nothing is left running then).
   */
  static async start(options: LocalRuntimeOptions): Promise<LocalRuntime> {
    assertRuntimeNode();
    // Its handlers keep the credentials marks they read (the store's only writer): none from another store.
    forgetKeptCredentialsMarks();
    const roles = [
      ...(Array.isArray(options.roles) ? options.roles : (options.roles as RoleCatalog).values()),
    ];
    const region = process.env.AWS_REGION ?? LOCAL_REGION;
    const waitScale = waitScaleFrom(options.waitScale);
    const emulators = await startEmulators({
      roles: roles.map((r) => r.name),
      region,
      ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
      visibilityTimeoutSeconds: Object.fromEntries(
        roles.map((r) => [r.name, options.visibilityTimeoutSeconds ?? r.defaults.timeoutSeconds]),
      ),
    });
    // Everything started from here on, to stop again if the start fails before it ends.
    const started: (() => unknown)[] = [() => emulators.stop()];
    try {
      const tokens = new TokenRegistry();
      const stateMachineArn = `arn:aws:states:${region}:${ACCOUNT_ID}:stateMachine:${STATE_MACHINE_NAME}`;
      // The endpoint's operations reach the runner once it exists (handlers are loaded after the env is set).
      const holder: { runner?: ExecutionRunner; pollers?: QueuePollers } = {};
      const sfnEndpoint = await startSfnEndpoint(sfnOperations(tokens, () => holder.runner, stateMachineArn));
      started.push(() => sfnEndpoint.close());
      // The pollers exist once handlers are loaded; until then the endpoint lists no mapping.
      const pollerSources: { role: string; queueArn: string; batchSize: number }[] = [];
      const lambdaEndpoint = await startLambdaEndpoint(
        {
          sources: () => (holder.pollers ? pollerSources : []),
          maxConcurrency: (role) => holder.pollers?.maxConcurrency(role) ?? 0,
          setMaxConcurrency: (role, value) => holder.pollers?.setMaxConcurrency(role, value),
        },
        region,
      );
      started.push(() => lambdaEndpoint.close());
      const roleQueueUrls = Object.fromEntries([...emulators.queues].map(([role, q]) => [role, q.url]));
      const streamProxy = options.tasksStream
        ? await startDynamoStreamProxy({
            target: emulators.dynamodbEndpoint,
            tableName: emulators.tasksTableName,
            keyAttributes: [TASKS_TABLE.partitionKey, TASKS_TABLE.sortKey],
            onRecords: options.tasksStream,
          })
        : undefined;
      if (streamProxy) started.push(() => streamProxy.close());
      // Registered before the handlers load: their clients take the in-process handler at construction.
      const unserve =
        options.inProcessTransport === false
          ? []
          : [
              ...(streamProxy ? [] : [serveInProcess(emulators.dynamodbEndpoint, emulators.serveDynamodb)]),
              serveInProcess(sfnEndpoint.url, sfnEndpoint.serve),
              // The state machine's sends, the pollers' receives and deletes, the handlers' SQS calls (S3 clients,
              // on the same port, never take the in-process handler).
              serveInProcess(emulators.sqsEndpoint, emulators.serveSqs),
              // The scaler's event source mapping calls.
              serveInProcess(lambdaEndpoint.url, lambdaEndpoint.serve),
            ];
      const stopServing = () => {
        for (const end of unserve) end();
      };
      started.push(stopServing);
      const savedEnv = setEnv({
        [EnvVar.TasksTable]: emulators.tasksTableName,
        [EnvVar.AgentsTable]: emulators.agentsTableName,
        [EnvVar.StateMachineArn]: stateMachineArn,
        [EnvVar.RoleQueueUrls]: JSON.stringify(roleQueueUrls),
        [EnvVar.ArtifactsBucket]: emulators.artifactsBucketName,
        [EnvVar.ArtifactsPathStyle]: 'true',
        // dynalite answers on one thread: writes nobody waits on yield to the calls on the way to a dispatch.
        [EnvVar.SingleThreadedStore]: 'true',
        AWS_ENDPOINT_URL_SQS: emulators.sqsEndpoint,
        AWS_ENDPOINT_URL_S3: emulators.s3Endpoint,
        AWS_ENDPOINT_URL_DYNAMODB: streamProxy?.url ?? emulators.dynamodbEndpoint,
        AWS_ENDPOINT_URL_SFN: sfnEndpoint.url,
        AWS_ENDPOINT_URL_LAMBDA: lambdaEndpoint.url,
        AWS_REGION: region,
        AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
        AWS_SESSION_TOKEN: undefined,
        AWS_PROFILE: undefined,
        ...options.env,
      });
      started.push(() => restoreEnv(savedEnv));
      // Every handler runs in this process, so every park of its tasks passes through this process's hints: a
      // role found with nobody parked stays so until a park clears it (no Query per role and second).
      const letGoOfHints = processHints.holdWhileEveryParkIsHere();
      started.push(letGoOfHints);
      const sqs = tunedClient(
        new SQSClient({
          region,
          endpoint: emulators.sqsEndpoint,
          credentials: LOCAL_CREDENTIALS,
          ...inProcessClientConfig(emulators.sqsEndpoint, { service: 'sqs', region }),
        }),
      );
      started.push(() => sqs.destroy());
      const handlers = typeof options.handlers === 'function' ? await options.handlers() : options.handlers;
      const runner = new ExecutionRunner({
        definition: options.definition,
        taskStates: options.taskStates,
        handlers,
        tokens,
        sqs,
        stateMachineArn,
        region,
        waitScale,
        ...(options.onEvent ? { onEvent: options.onEvent } : {}),
        ...(options.onEnded ? { onEnded: options.onEnded } : {}),
        ...(options.validate === undefined ? {} : { validate: options.validate }),
        ...(options.stateConcurrency ? { stateConcurrency: options.stateConcurrency } : {}),
        ...(options.beforeInvoke ? { beforeInvoke: options.beforeInvoke } : {}),
        ...(options.nestedStartFault ? { nestedStartFault: options.nestedStartFault } : {}),
        ...(options.timeoutOverrides ? { timeoutOverrides: options.timeoutOverrides } : {}),
      });
      holder.runner = runner;
      const pollers = new QueuePollers(sqs, region);
      if (options.agentHandler !== undefined) {
        for (const role of roles) {
          const queue = emulators.queues.get(role.name);
          if (!queue) continue;
          pollers.add({
            role: role.name,
            queueUrl: queue.url,
            queueArn: queue.arn,
            handler: agentHandlerFor(options.agentHandler, handlers, role.name),
            maxConcurrency: options.concurrency?.[role.name] ?? role.defaults.queueConcurrency,
            ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }),
          });
          pollerSources.push({
            role: role.name,
            queueArn: queue.arn,
            batchSize: options.batchSize ?? DEFAULT_BATCH_SIZE,
          });
        }
      }
      holder.pollers = pollers;
      pollers.start();
      return new LocalRuntime({
        emulators,
        sfnEndpoint,
        lambdaEndpoint,
        tokens,
        runner,
        pollers,
        sqs,
        savedEnv,
        stateMachineArn,
        roleQueueUrls,
        streamProxy,
        stopServing,
        letGoOfHints,
      });
    } catch (error) {
      // What had started is stopped again, last first (the environment restored and the in-process endpoints
      // no longer served before their servers close), so a failed start leaves nothing running that would keep
      // the process alive; a failure while stopping never hides the start's own error.
      for (const stop of started.reverse())
        await Promise.resolve()
          .then(stop)
          .catch(() => undefined);
      throw error;
    }
  }

  /** StartExecution without HTTP (the CLI's shortcut). */
  startExecution(input: unknown, name?: string): ExecutionRecord {
    return this.runner.start(input, name);
  }

  /** Resolves when the execution ends. */
  waitForExecution(executionArn: string): Promise<ExecutionRecord> {
    return this.runner.wait(executionArn);
  }

  /**
   * Forgets an ended execution (its record and its closed tokens), as when its batch is deleted; a
   * running one is kept. Without it every execution's record stays for the life of the process.
   */
  forgetExecution(executionArn: string): void {
    if (this.runner.forget(executionArn)) this.tokens.forgetExecution(executionArn);
  }

  /** Stops pollers (draining in-flight work), executions, the endpoint and the emulators; restores env. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    // Executions first: their tokens fail, so agents still heartbeating learn it and return, then drain.
    await this.runner.stopAll();
    await this.pollers.stop();
    this.tokens.close();
    this.#sqs.destroy();
    this.#stopServing();
    await Promise.all([
      this.sfnEndpoint.close(),
      this.lambdaEndpoint.close(),
      this.emulators.stop(),
      this.#streamProxy?.close(),
    ]);
    restoreEnv(this.#savedEnv);
    this.#letGoOfHints();
  }
}

function agentHandlerFor(
  agentHandler: string | ((role: string) => SqsHandler),
  handlers: HandlerMap,
  role: string,
): SqsHandler {
  if (typeof agentHandler === 'function') return agentHandler(role);
  const handler = handlers[agentHandler];
  if (!handler) throw new LocalRuntimeConfigError(`agentHandler "${agentHandler}" is not in handlers`);
  return handler as SqsHandler;
}

function setEnv(values: Record<string, string | undefined>): Map<string, string | undefined> {
  const saved = new Map<string, string | undefined>();
  for (const [name, value] of Object.entries(values)) {
    saved.set(name, process.env[name]);
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  return saved;
}

function restoreEnv(saved: Map<string, string | undefined>): void {
  for (const [name, value] of saved) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
}

/** The Step Functions API served to the handlers, over the token registry and the runner. */
export function sfnOperations(
  tokens: TokenRegistry,
  runner: () => ExecutionRunner | undefined,
  stateMachineArn: string,
): SfnOperations {
  const requireRunner = () => {
    const r = runner();
    if (!r) throw new SfnServiceError('ServiceUnavailable', 'The local runtime is starting');
    return r;
  };
  const requireToken = (token: string | undefined) => {
    if (token === undefined || token === '')
      throw new SfnServiceError('InvalidToken', 'taskToken is required');
    return token;
  };
  return {
    SendTaskSuccess: ({ taskToken, output }) => {
      tokens.succeed(requireToken(taskToken), output ?? 'null');
      return {};
    },
    SendTaskFailure: ({ taskToken, error, cause }) => {
      tokens.fail(requireToken(taskToken), error, cause);
      return {};
    },
    SendTaskHeartbeat: ({ taskToken }) => {
      tokens.heartbeat(requireToken(taskToken));
      return {};
    },
    StartExecution: ({ stateMachineArn: arn, name, input }) => {
      if (arn !== stateMachineArn) {
        throw new SfnServiceError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${arn}'`);
      }
      // The API's own length constraint on the input (UTF-8 bytes), which the interpreter does not check.
      if (input !== undefined && Buffer.byteLength(input) > MAX_EXECUTION_INPUT_BYTES) {
        throw new SfnServiceError(
          'ValidationException',
          `1 validation error detected: Value at 'input' failed to satisfy constraint: Member must have length less than or equal to ${MAX_EXECUTION_INPUT_BYTES}`,
        );
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(input ?? '{}');
      } catch {
        throw new SfnServiceError('InvalidExecutionInput', 'Invalid State Machine Execution Input: not JSON');
      }
      const record = requireRunner().start(parsed, name);
      return { executionArn: record.executionArn, startDate: epochSeconds(record.startDate) };
    },
    DescribeExecution: ({ executionArn }) => {
      const r = requireRunner().describe(executionArn ?? '');
      return {
        executionArn: r.executionArn,
        stateMachineArn,
        name: r.name,
        status: r.status,
        startDate: epochSeconds(r.startDate),
        stopDate: epochSeconds(r.stopDate),
        input: r.input,
        output: r.output,
        error: r.error,
        cause: r.cause,
      };
    },
    StopExecution: ({ executionArn, error, cause }) => {
      const r = requireRunner().stop(executionArn ?? '', error, cause);
      return { stopDate: epochSeconds(r.stopDate ?? new Date()) };
    },
  };
}
