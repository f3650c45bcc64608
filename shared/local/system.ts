/**
 * The embedded system: the deployed state machine (synthesized from the CDK construct) and the deployed
 * handlers on the embedded runtime (dynalite, fauxqs, loopback Step Functions), plus the REST API routes
 * and the scheduled scaler, in one process. `meta-agent run` and `meta-agent serve` are built on it.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import type { APIGatewayProxyResult, DynamoDBRecord } from 'aws-lambda';
import { HANDLER_SETS, PROGRESS_HANDLERS as PROGRESS_HANDLER_NAMES } from '../../scripts/build-state.mjs';
import { DynamoAgentRegistry } from '../adapters/dynamodb/agent-registry';
import { DynamoBudgetLedger } from '../adapters/dynamodb/budget-ledger';
import { documentClient } from '../adapters/dynamodb/client';
import { DynamoTaskStore } from '../adapters/dynamodb/task-store';
import { inProcessClientConfig, whenStoreQuiet } from '../adapters/in-process-transport';
import { S3ArtifactStore } from '../adapters/s3/artifact-store';
import { tunedClient } from '../adapters/sdk-client';
import { matchApiRoute, SECURITY_HEADERS } from '../api-routes';
import { EnvVar } from '../config';
import { AGENT_BATCH_SIZE, HANDLER_NAMES, type HandlerName } from '../deployment';
import type { CostsConfig } from '../domain/costs';
import { assertModels, dayOf, type ModelFinding } from '../domain/models';
import { type RoleCatalog, resolveRoles } from '../domain/roles';
import type { RoutingConfig } from '../domain/routing-config';
import { type BatchResult, BatchResultSchema, type ExecutorName } from '../domain/schemas';
import { batchIdOfExecutionInput, StateName } from '../domain/workflow';
import { endInterruptedBatches, type InterruptedDeps } from '../usecases/interrupted';
import { pruneFinishedBatches } from '../usecases/retention';
import { fromProxyResult, type LocalHttpRequest, type LocalHttpResponse, toProxyEvent } from './api-gateway';
import { cliBuildDir } from './cli-build';
import { loadLocalDefinition } from './definition-cache';
import {
  type AslDefinition,
  assertRuntimeNode,
  type ExecutionRecord,
  type LambdaHandler,
  LOCAL_CREDENTIALS,
  LocalRuntime,
  makeLambdaContext,
  type NestedStartFault,
} from './runtime';
import { StreamDelivery } from './stream-delivery';

/** Handlers of the WebSocket progress stream: loaded only when a management endpoint is given. */
export const PROGRESS_HANDLERS: readonly HandlerName[] = PROGRESS_HANDLER_NAMES;
/** Every other handler of functions/ (the stack deploys the same list). */
export const LOCAL_HANDLERS: readonly HandlerName[] = HANDLER_NAMES.filter(
  (n) => !PROGRESS_HANDLERS.includes(n),
);
export type LocalHandlerName = HandlerName;

/**
 * Heartbeat interval of the Dispatch state locally: short, so a crashed worker is noticed within seconds
 * rather than the deployed minute. Workers beat at a third of it.
 */
export const LOCAL_HEARTBEAT_SECONDS = 5;
/**
 * Gate invocations running at once locally. At the start of a batch every task with dependencies arms its
 * gate while the roots route; on AWS those invocations run side by side, here they share two cores, and a
 * 110-task DAG's roots took 200+ ms to route behind 100 gates. Arming later is safe (a gate whose
 * dependencies all finished answers its own token), and a gate holds no slot while it waits.
 */
export const LOCAL_GATE_CONCURRENCY = 4;
/**
 * How long a Gate waits on one token locally before it arms again (GATE_REARM_SECONDS on AWS, 4 hours: what a
 * child execution's event history holds for a year of waiting). Nothing limits the history here, and a
 * `meta-agent run` stuck on a lost answer for hours would be as bad as for ever; a re-arm is one UpdateItem.
 */
export const LOCAL_GATE_REARM_SECONDS = 300;
/**
 * Route invocations running at once locally (the Route state's; a parked task's WaitForCapacity and the
 * routes Complete and Gate make are not counted). On AWS each route is its own Lambda invocation; here they
 * share two cores and one DynamoDB emulator, and a batch that starts with many ready tasks interleaved every
 * route's round trips, so none dispatched until nearly all were done (60 ready tasks: first agent start
 * 0.5 to 1 s after submission, 0.1 to 0.3 s with this limit), and 2,000 routes at once each listed the pool
 * before any reserved, and lost races on it. Routes wait in order, holding nothing. Not applied with
 * model-assisted routing, whose routes wait on a provider rather than on the cores.
 */
export const LOCAL_ROUTE_CONCURRENCY = 8;
/** How often the scaler runs locally while a batch runs (its EventBridge schedule on AWS is one minute). */
export const LOCAL_SCALER_INTERVAL_MS = 2_000;
/**
 * How often it runs while no batch runs: a pass then has only time's work to do (agents idle past their TTL
 * ended, stuck probes reopened), and every 2 s its reads of 22 roles were most of an idle `serve`'s CPU (8.1% of
 * a core against 2.4% without the scheduled scaler, 3.8% with this interval, on the 2-core build machine).
 */
export const LOCAL_IDLE_SCALER_INTERVAL_MS = 10_000;
/**
 * What a batch's unfinished tasks say after a restart with a data directory: the executions of the
 * in-process Step Functions do not survive one (endInterruptedBatches).
 */
export const INTERRUPTED_REASON =
  'interrupted: meta-agent serve stopped while this task was unfinished; redrive the batch to run it again';
/** How often `serve` deletes the finished batches beyond its bound (keepFinishedBatches). */
export const LOCAL_RETENTION_INTERVAL_MS = 10_000;
/** How often waitForBatch polls the status route (at least; see statusPollDelay). */
export const STATUS_POLL_MS = 100;
/**
 * A status poll reads every task of the batch, so its cost grows with the batch. Waiting this many times
 * the last poll's duration keeps polling under a fifth of the process's time: a fixed interval made large
 * batches quadratic (a 2,000-task batch spent most of its CPU answering its own progress polls).
 */
export const STATUS_POLL_COST_FACTOR = 4;

/** The pause before the next status poll: `pollMs`, or longer when the last poll was expensive. */
export function statusPollDelay(pollMs: number, lastPollMs: number): number {
  return Math.max(pollMs, STATUS_POLL_COST_FACTOR * lastPollMs);
}

export interface EmbeddedSystemOptions {
  /** Role overrides and additions (the `roles` of a config file), merged over the built-in catalog. */
  readonly roles?: readonly unknown[];
  /** The config's `routing` section (score weights, model-assisted routing), given to the router. */
  readonly routing?: RoutingConfig;
  /** The config's `costs` section (prices, default budget, provider limits), given to every handler. */
  readonly costs?: CostsConfig;
  /** Executor for every role (default: each role's own, `simulated` for the built-ins). */
  readonly executor?: ExecutorName;
  /** Maximum concurrency of every role queue (the event source's MaximumConcurrency). */
  readonly concurrency?: number;
  readonly heartbeatSeconds?: number;
  /** 0 disables the scheduled scaler. */
  readonly scalerIntervalMs?: number;
  /**
   * How often the scheduled scaler runs while no execution runs (LOCAL_IDLE_SCALER_INTERVAL_MS by default; never
   * more often than scalerIntervalMs).
   */
  readonly idleScalerIntervalMs?: number;
  /**
   * Finished batches to keep (`serve --keep-batches`): every retentionIntervalMs the older finished ones are
   * deleted whole (pruneBatches). Unset: nothing is deleted (`run` holds one batch).
   */
  readonly keepFinishedBatches?: number;
  /** How often the retention pass runs; LOCAL_RETENTION_INTERVAL_MS by default. */
  readonly retentionIntervalMs?: number;
  /**
   * Keep the store (tables, stored outputs) in this directory across starts (`serve --data-dir`). At start,
   * the batches an earlier start left RUNNING are ended as interrupted (INTERRUPTED_REASON).
   */
  readonly dataDir?: string;
  /** Powertools log level of the handlers (their JSON log lines go to stderr): SILENT unless asked. */
  readonly logLevel?: string;
  /** More environment for the handlers. */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * The API Gateway management endpoint the notifier posts progress to (`meta-agent serve` runs one);
   * without it the WebSocket handlers are not loaded.
   */
  readonly websocketEndpoint?: string;
  /** Tests: fail the start of the nested executions that run expansions (see NestedStartFault). */
  readonly nestedStartFault?: NestedStartFault;
  /**
   * Task state name -> TimeoutSeconds in its place: by default the Gate's LOCAL_GATE_REARM_SECONDS; tests
   * arm a Gate again in 0.5 s.
   */
  readonly timeoutOverrides?: Readonly<Record<string, number>>;
  /**
   * Route state invocations at once: LOCAL_ROUTE_CONCURRENCY by default; 0 for no bound, as on AWS, where
   * every route is its own Lambda invocation (bench:contention measures routing under contention so).
   */
  readonly routeConcurrency?: number;
  /**
   * Emulator calls in process (default true; see LocalRuntimeOptions inProcessTransport). false: over the loopback socket, as before (benchmarks compare the two).
   */
  readonly inProcessTransport?: boolean;
}

/** A non-2xx answer of the local REST API, with the body the handler returned. */
export class ApiRequestError extends Error {
  constructor(
    readonly statusCode: number,
    readonly body: unknown,
  ) {
    super(`API answered ${statusCode}: ${typeof body === 'string' ? body : JSON.stringify(body)}`);
    this.name = 'ApiRequestError';
  }
}

type Overrides = Record<
  string,
  Record<string, unknown> & { name: string; defaults?: Record<string, unknown> }
>;

/**
 * The role overrides the handlers read from ROLES_CONFIG: the user's, with the executor and concurrency
 * options folded into every role (one entry per role name, as resolveRoles requires).
 */
export function roleOverrides(options: EmbeddedSystemOptions, catalog: RoleCatalog): unknown[] {
  const byName: Overrides = {};
  for (const raw of options.roles ?? []) {
    const entry = raw as Overrides[string];
    byName[entry.name] = { ...entry };
  }
  const defaults: Record<string, unknown> = {};
  if (options.executor !== undefined) defaults.executor = { name: options.executor };
  // Lambda's MaximumConcurrency is at least 2; a lower local limit applies to the pollers only.
  if (options.concurrency !== undefined && options.concurrency >= 2)
    defaults.queueConcurrency = options.concurrency;
  if (Object.keys(defaults).length > 0) {
    for (const name of catalog.keys()) {
      const entry = byName[name] ?? { name };
      byName[name] = { ...entry, defaults: { ...(entry.defaults ?? {}), ...defaults } };
    }
  }
  return Object.values(byName);
}

/** Systems started in this process (each gets its own instance of the handler modules). */
let instances = 0;

/**
 * Imports a fresh instance of the handler modules `names` (the progress handlers too with `progress`): from
 * the CLI build, its handler sets (scripts/build-state.mjs HANDLER_SETS), else each source file.
 */
async function importHandlers(
  names: readonly HandlerName[],
  progress: boolean,
  instance: number,
): Promise<Record<string, LambdaHandler>> {
  const handlers: Record<string, LambdaHandler> = {};
  const buildDir = cliBuildDir();
  if (buildDir === undefined) {
    for (const name of names) {
      const url = `${new URL(`../../functions/${name}.ts`, import.meta.url).href}?system=${instance}`;
      handlers[name] = (await import(/* @vite-ignore */ url)).handler;
    }
    return handlers;
  }
  for (const file of progress ? [HANDLER_SETS.local, HANDLER_SETS.progress] : [HANDLER_SETS.local]) {
    const url = `${pathToFileURL(join(buildDir, file)).href}?system=${instance}`;
    Object.assign(handlers, (await import(/* @vite-ignore */ url)).handlers);
  }
  const missing = names.filter((name) => typeof handlers[name] !== 'function');
  if (missing.length > 0)
    throw new Error(
      `the CLI build in ${buildDir} has no handler ${missing.join(', ')}: run \`npm run build\``,
    );
  return handlers;
}

export class EmbeddedSystem {
  readonly #handlers: Record<string, LambdaHandler>;
  #scaler: NodeJS.Timeout | undefined;
  #retention: { timer: NodeJS.Timeout; keep: number; pass?: Promise<string[]> } | undefined;
  /** The store, registry and bucket of this system (clients bound to its emulators, not the env). */
  readonly #data: InterruptedDeps & { artifacts: S3ArtifactStore; destroy(): void };

  /** The batches found RUNNING at start in the data directory, ended as interrupted. */
  interrupted: readonly string[] = [];
  /** The scaler pass under way, which stop() waits for: a pass outliving the runtime fails and logs. */
  #scaling: Promise<void> | undefined;
  /** When the last scaler pass started (performance.now()); none yet: -Infinity. */
  #scaledAt = Number.NEGATIVE_INFINITY;
  /** Aborted by stop(): the scaler pass under way sees no time left. */
  readonly #stopping = new AbortController();
  #stopped = false;

  /** What the configuration check said of the roles' models: deprecated or unknown ones. */
  modelWarnings: readonly ModelFinding[] = [];

  private constructor(
    readonly runtime: LocalRuntime,
    readonly catalog: RoleCatalog,
    handlers: Record<string, LambdaHandler>,
  ) {
    this.#handlers = handlers;
    const { emulators } = runtime;
    const dynamodb = tunedClient(
      new DynamoDBClient({
        region: emulators.region,
        endpoint: emulators.dynamodbEndpoint,
        credentials: LOCAL_CREDENTIALS,
        ...inProcessClientConfig(emulators.dynamodbEndpoint, {
          service: 'dynamodb',
          region: emulators.region,
        }),
      }),
    );
    const s3 = tunedClient(
      new S3Client({
        region: emulators.region,
        endpoint: emulators.s3Endpoint,
        credentials: LOCAL_CREDENTIALS,
        forcePathStyle: true,
      }),
    );
    this.#data = {
      store: new DynamoTaskStore(emulators.tasksTableName, documentClient(dynamodb)),
      agents: new DynamoAgentRegistry(emulators.agentsTableName, documentClient(dynamodb)),
      ledger: new DynamoBudgetLedger(emulators.tasksTableName, documentClient(dynamodb)),
      clock: { now: () => Date.now() },
      artifacts: new S3ArtifactStore(emulators.artifactsBucketName, s3),
      destroy: () => {
        dynamodb.destroy();
        s3.destroy();
      },
    };
  }

  /**
   * Starts the emulators and the runtime with the synthesized definition and every handler.
   * Throws RoleConfigError for a bad role configuration before anything starts.
   */
  static async start(options: EmbeddedSystemOptions = {}): Promise<EmbeddedSystem> {
    // Before the definition is synthesized (seconds, when not cached): the runtime would refuse it after.
    assertRuntimeNode();
    const userCatalog = resolveRoles(options.roles ?? []);
    const overrides = roleOverrides(options, userCatalog);
    const catalog = resolveRoles(overrides);
    // A retired model is a configuration error now, not a failure of every task later.
    const modelWarnings = assertModels(catalog.values(), dayOf(Date.now()));
    // The state machine does not depend on the roles (queue URLs come from the router's answer), so it is
    // synthesized with the built-in catalog; the handlers get every override through ROLES_CONFIG (locally
    // there is no 4 KB Lambda environment limit to respect, which the stack's synthesis checks).
    const buildDir = cliBuildDir();
    const { definition, taskStates, source } = await loadLocalDefinition(
      buildDir === undefined ? {} : { trustedBuildDir: buildDir },
    );
    const handlers: Record<string, LambdaHandler> = {};
    const concurrency =
      options.concurrency === undefined
        ? undefined
        : Object.fromEntries([...catalog.keys()].map((name) => [name, options.concurrency as number]));
    // Progress (serve): the tasks table's stream, produced in front of dynalite, feeds the notifier.
    const holder: { delivery?: StreamDelivery; ended?: (record: ExecutionRecord) => void } = {};
    const runtime = await LocalRuntime.start({
      onEnded: (record) => holder.ended?.(record),
      ...(options.websocketEndpoint
        ? { tasksStream: (records: DynamoDBRecord[]) => holder.delivery?.push(records) }
        : {}),
      ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
      ...(options.nestedStartFault ? { nestedStartFault: options.nestedStartFault } : {}),
      timeoutOverrides: { [StateName.Gate]: LOCAL_GATE_REARM_SECONDS, ...options.timeoutOverrides },
      ...(options.inProcessTransport === undefined ? {} : { inProcessTransport: options.inProcessTransport }),
      definition: definition as unknown as AslDefinition,
      taskStates,
      roles: catalog,
      ...(concurrency ? { concurrency } : {}),
      // A gate arms (one UpdateItem nobody waits on) once the store has been quiet a moment: every dependent of
      // a batch arms at its start, and on dynalite's one thread their writes slowed the first routes. The wait
      // comes before the gate takes its place in LOCAL_GATE_CONCURRENCY, so gates wait side by side (at most
      // 20 ms each), not in turn. Arming late is safe: a gate whose dependencies ended first answers itself.
      beforeInvoke: { [StateName.Gate]: () => whenStoreQuiet() },
      stateConcurrency: {
        [StateName.Gate]: LOCAL_GATE_CONCURRENCY,
        ...(options.routing?.assist || options.routeConcurrency === 0
          ? {}
          : { [StateName.Route]: options.routeConcurrency ?? LOCAL_ROUTE_CONCURRENCY }),
      },
      // A definition from the build was validated when it was built.
      validate: source === 'synthesis',
      handlers: async () => {
        // Imported only now: handler modules read the environment the runtime has just set.
        const progress = options.websocketEndpoint !== undefined;
        const names = progress ? [...LOCAL_HANDLERS, ...PROGRESS_HANDLERS] : LOCAL_HANDLERS;
        // A fresh module instance per system: handler modules read their configuration at load, and a
        // second system in the same process has other tables, queues and ports.
        instances++;
        return Object.assign(handlers, await importHandlers(names, progress, instances));
      },
      agentHandler: 'agent-worker',
      batchSize: AGENT_BATCH_SIZE,
      env: {
        [EnvVar.RolesConfig]: JSON.stringify(overrides),
        ...(options.routing ? { [EnvVar.RoutingConfig]: JSON.stringify(options.routing) } : {}),
        ...(options.costs ? { [EnvVar.CostsConfig]: JSON.stringify(options.costs) } : {}),
        [EnvVar.HeartbeatSeconds]: String(options.heartbeatSeconds ?? LOCAL_HEARTBEAT_SECONDS),
        POWERTOOLS_LOG_LEVEL: options.logLevel ?? 'SILENT',
        [EnvVar.LogStream]: 'stderr',
        POWERTOOLS_METRICS_DISABLED: 'true',
        POWERTOOLS_TRACE_ENABLED: 'false',
        ...(options.websocketEndpoint ? { [EnvVar.WebSocketEndpoint]: options.websocketEndpoint } : {}),
        ...options.env,
      },
    });
    const system = new EmbeddedSystem(runtime, catalog, handlers);
    holder.ended = (record) => system.#executionEnded(record);
    system.modelWarnings = modelWarnings;
    if (options.dataDir !== undefined) {
      try {
        system.interrupted = await endInterruptedBatches(system.#data, INTERRUPTED_REASON);
      } catch (error) {
        await system.stop();
        throw error;
      }
    }
    if (options.websocketEndpoint) {
      holder.delivery = new StreamDelivery((event) => system.invoke('notifier', event));
    }
    const interval = options.scalerIntervalMs ?? LOCAL_SCALER_INTERVAL_MS;
    if (interval > 0) {
      const idleInterval = Math.max(interval, options.idleScalerIntervalMs ?? LOCAL_IDLE_SCALER_INTERVAL_MS);
      system.#scaler = setInterval(() => {
        // With no execution running, a pass every idleInterval (the first one at the first tick).
        const idle = !system.runtime.runner.hasRunning();
        if (idle && performance.now() - system.#scaledAt < idleInterval - interval / 2) return;
        void system.runScaler();
      }, interval);
      system.#scaler.unref();
    }
    if (options.keepFinishedBatches !== undefined) {
      const timer = setInterval(
        () => void system.pruneBatches().catch(() => undefined),
        options.retentionIntervalMs ?? LOCAL_RETENTION_INTERVAL_MS,
      );
      timer.unref();
      system.#retention = { timer, keep: options.keepFinishedBatches };
    }
    return system;
  }

  /** The handler named `name` (functions/<name>.ts), as loaded by the runtime. */
  handler(name: LocalHandlerName): LambdaHandler {
    const handler = this.#handlers[name];
    if (!handler) throw new Error(`handler ${name} is not loaded`);
    return handler;
  }

  /**
   * An execution that ended otherwise than by succeeding: Finalize gets its status change event, as the
   * deployed stack's EventBridge rule gives it, and ends the batch if the execution was the batch's (a cancel's
   * stop is not: the cancel ends the batch). Not while the system stops: stopping ends every execution, and a
   * data directory's next start ends their batches as interrupted.
   */
  #executionEnded(record: ExecutionRecord): void {
    if (this.#stopped || record.status === 'RUNNING' || record.status === 'SUCCEEDED') return;
    const event = {
      source: 'aws.states',
      'detail-type': 'Step Functions Execution Status Change',
      detail: {
        executionArn: record.executionArn,
        status: record.status,
        input: record.input,
        error: record.error ?? null,
        cause: record.cause ?? null,
      },
    };
    const ending = this.invoke('finalize', event).catch(() => undefined);
    this.#endings.add(ending);
    void ending.finally(() => this.#endings.delete(ending));
  }

  /** The Finalize invocations #executionEnded started that have not answered. */
  readonly #endings = new Set<Promise<unknown>>();

  /** Invokes handler `name` as Lambda would, with a fresh context. */
  invoke(name: LocalHandlerName, event: unknown): Promise<unknown> {
    return this.handler(name)(event, makeLambdaContext(name));
  }

  /** One scaler pass, as its schedule would trigger it; overlapping passes are skipped. */
  async runScaler(): Promise<void> {
    if (this.#scaling || this.#stopped) return;
    this.#scaledAt = performance.now();
    const event = { source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} };
    // Its context runs out when the system stops: a pass under way then ends at its next step.
    this.#scaling = this.handler('scaler')(
      event,
      makeLambdaContext('scaler', undefined, this.#stopping.signal),
    )
      .then(
        () => undefined,
        // The deployed schedule retries on its next tick; so does this one.
        () => undefined,
      )
      .finally(() => {
        this.#scaling = undefined;
      });
    await this.#scaling;
  }

  /**
   * One retention pass (keepFinishedBatches): deletes the finished batches beyond the bound, whole, and
   * forgets their executions; answers the ids deleted. Overlapping passes share one.
   */
  async pruneBatches(): Promise<string[]> {
    const retention = this.#retention;
    if (!retention || this.#stopped) return [];
    retention.pass ??= pruneFinishedBatches(this.#data, retention.keep)
      .then((deleted) => {
        if (deleted.length > 0) this.#forgetExecutions(new Set(deleted));
        return deleted;
      })
      .finally(() => {
        retention.pass = undefined;
      });
    return retention.pass;
  }

  /** Drops the ended executions of deleted batches from the runtime (their records and closed tokens). */
  #forgetExecutions(batchIds: ReadonlySet<string>): void {
    for (const execution of this.runtime.runner.list()) {
      if (execution.status === 'RUNNING') continue;
      const batchId = batchIdOfExecutionInput(execution.input);
      if (batchId !== undefined && batchIds.has(batchId))
        this.runtime.forgetExecution(execution.executionArn);
    }
  }

  /** Serves one REST request through the deployed handler of its route. */
  async request(request: LocalHttpRequest, host = '127.0.0.1'): Promise<LocalHttpResponse> {
    const match = matchApiRoute(request.method, request.path);
    if (match === undefined || 'allowed' in match) {
      const [statusCode, error, headers] =
        match === undefined
          ? [404, `no route ${request.path}`, {}]
          : [405, `method ${request.method} not allowed`, { allow: match.allowed.join(', ') }];
      return {
        statusCode,
        headers: { 'content-type': 'application/json', ...SECURITY_HEADERS, ...headers },
        body: JSON.stringify({ error }),
      };
    }
    const event = toProxyEvent(request, match.route, match.pathParameters, host, randomUUID());
    const result = (await this.invoke(match.route.handler, event)) as APIGatewayProxyResult;
    return fromProxyResult(result);
  }

  async #json(request: LocalHttpRequest, expected: number[]): Promise<unknown> {
    const response = await this.request(request);
    let body: unknown = response.body;
    try {
      body = JSON.parse(response.body);
    } catch {
      // Not JSON: keep the text for the error.
    }
    if (!expected.includes(response.statusCode)) throw new ApiRequestError(response.statusCode, body);
    return body;
  }

  /** POST /batches. Throws ApiRequestError (400 with every issue) for bad input. */
  async submit(batch: unknown, idempotencyKey?: string): Promise<{ batchId: string }> {
    const body = (await this.#json(
      {
        method: 'POST',
        path: '/batches',
        headers: {
          'content-type': 'application/json',
          ...(idempotencyKey ? { 'Idempotency-Key': idempotencyKey } : {}),
        },
        body: JSON.stringify(batch),
      },
      [202],
    )) as { batchId: string };
    return { batchId: body.batchId };
  }

  /** GET /batches/{id}. */
  async result(batchId: string): Promise<BatchResult> {
    const body = await this.#json({ method: 'GET', path: `/batches/${encodeURIComponent(batchId)}` }, [200]);
    return BatchResultSchema.parse(body);
  }

  /**
   * GET /batches/{id}/tasks/{taskId}/output: the task's whole output as JSON text, following the route's
   * redirect to a download URL for an output larger than the API answers.
   */
  async output(batchId: string, taskId: string): Promise<string> {
    const response = await this.request({
      method: 'GET',
      path: `/batches/${encodeURIComponent(batchId)}/tasks/${encodeURIComponent(taskId)}/output`,
    });
    if (response.statusCode === 200) return response.body;
    const location = response.headers.location;
    if (response.statusCode === 303 && location) {
      const download = await fetch(location);
      if (!download.ok) throw new ApiRequestError(download.status, await download.text());
      return download.text();
    }
    let body: unknown = response.body;
    try {
      body = JSON.parse(response.body);
    } catch {
      // Not JSON: keep the text for the error.
    }
    throw new ApiRequestError(response.statusCode, body);
  }

  /** DELETE /batches/{id}. */
  async cancel(batchId: string): Promise<void> {
    await this.#json({ method: 'DELETE', path: `/batches/${encodeURIComponent(batchId)}` }, [200, 202]);
  }

  /** Polls the status route until the batch is no longer RUNNING (statusPollDelay apart); `onSnapshot` sees every poll. */
  async waitForBatch(
    batchId: string,
    onSnapshot?: (result: BatchResult) => void,
    pollMs = STATUS_POLL_MS,
  ): Promise<BatchResult> {
    // Without a listener there is nothing to show between polls: wait for the batch's executions to end
    // (Finalize is their last state), then read the result once. Polls read every task, so polling a large
    // batch loads the very system it waits on.
    if (!onSnapshot) await this.#executionsEnded(batchId);
    // With a listener, the poll after the executions end is not left to the next tick: the result shows
    // as soon as Finalize has run (once; a batch still RUNNING after that is polled at the usual pace).
    let ended = onSnapshot ? this.#executionsEnded(batchId).then(() => true) : undefined;
    for (;;) {
      const started = performance.now();
      const result = await this.result(batchId);
      const cost = performance.now() - started;
      onSnapshot?.(result);
      if (result.status !== 'RUNNING') return result;
      let timer: NodeJS.Timeout | undefined;
      const pause = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), statusPollDelay(pollMs, cost));
      });
      if (await (ended ? Promise.race([pause, ended]) : pause)) ended = undefined;
      clearTimeout(timer);
    }
  }

  /** Resolves when no execution of the batch (its first or a redrive: their input names it) is running. */
  async #executionsEnded(batchId: string): Promise<void> {
    for (;;) {
      const running = this.runtime.runner
        .list()
        .filter((e) => e.status === 'RUNNING' && batchIdOfExecutionInput(e.input) === batchId);
      if (running.length === 0) {
        // An execution that ended without its Finalize: its batch is ended by the status change's.
        await Promise.all(this.#endings);
        return;
      }
      await Promise.all(running.map((e) => this.runtime.runner.wait(e.executionArn)));
    }
  }

  /** Stops the scaler, the runtime, the emulators; restores the environment. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#stopping.abort();
    if (this.#scaler) clearInterval(this.#scaler);
    if (this.#retention) clearInterval(this.#retention.timer);
    await Promise.all([this.#scaling, this.#retention?.pass?.catch(() => undefined), ...this.#endings]);
    this.#data.destroy();
    await this.runtime.stop();
  }
}
