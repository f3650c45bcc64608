/**
 * The stack only wires the constructs: each concern lives in infra/constructs/.
 */
import { Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { EnvVar } from '../shared/config';
import type { CostsConfig } from '../shared/domain/costs';
import { SUBMIT_TIMEOUT_SECONDS } from '../shared/domain/limits';
import type { RoleCatalog } from '../shared/domain/roles';
import type { RoutingConfig } from '../shared/domain/routing-config';
import { Api } from './constructs/api';
import { Artifacts } from './constructs/artifacts';
import { Dashboard } from './constructs/dashboard';
import { HandlerFunction, type HandlerFunctionProps, type HandlerName } from './constructs/handler-function';
import { Observability } from './constructs/observability';
import { Orchestration } from './constructs/orchestration';
import { Progress } from './constructs/progress';
import { RoleWorkers } from './constructs/role-workers';
import { Scaler } from './constructs/scaler';
import { Tables } from './constructs/tables';

/** The router's timeout beyond a routing question's own (assist.timeoutMs): the rest of a route. */
export const ROUTE_TIMEOUT_BEYOND_ASSIST_MS = 20_000;

/** Log retention of every function, the state machine and the API access logs. */
export const LOG_RETENTION = logs.RetentionDays.ONE_MONTH;

export interface MetaAgentStackProps extends StackProps {
  /** The resolved role catalog: one queue and one worker per role. */
  readonly roles: RoleCatalog;
  /** The user's role overrides as given (passed to handlers as ROLES_CONFIG), when any. */
  readonly roleOverrides?: readonly unknown[];
  /** RETAIN (default) keeps tables, queues and logs when the stack is deleted; DESTROY is for dev stacks. */
  readonly removalPolicy?: RemovalPolicy;
  /** Executor for roles that do not name one (DEFAULT_EXECUTOR); the handlers default to `simulated`. */
  readonly defaultExecutor?: string;
  /**
   * Name of an existing Secrets Manager secret with provider API keys (JSON { anthropic, openai, http }).
   * When given, agent workers may read it and get its name in PROVIDER_SECRET_ID.
   */
  readonly providerSecretName?: string;
  /**
   * SSM Parameter Store path holding one SecureString per provider (`<prefix>/anthropic`, ...). When given,
   * agent workers may read and decrypt them and get the prefix in PROVIDER_SSM_PREFIX.
   */
  readonly providerSsmPrefix?: string;
  /** Reserved concurrency of the scaler (default 1; 0 for accounts at the 10-concurrency minimum). */
  readonly scalerReservedConcurrency?: number;
  /**
   * The config file's `routing` section (score weights, model-assisted routing), passed to the router as
   * ROUTING_CONFIG. With `assist`, the router may also call the provider (Bedrock grant, provider keys).
   */
  readonly routing?: RoutingConfig;
  /**
   * The config file's `costs` section (prices, the default batch budget, fleet-wide provider limits), given to
   * every function as COSTS_CONFIG: workers price and limit calls, the router reserves budgets, submit applies
   * the default budget, the agents API shows the limits.
   */
  readonly costs?: CostsConfig;
}

type CoreHandler = Exclude<HandlerName, 'agent-worker'>;

export class MetaAgentStack extends Stack {
  readonly tables: Tables;
  readonly artifacts: Artifacts;
  readonly roleWorkers: RoleWorkers;
  readonly orchestration: Orchestration;
  readonly api: Api;
  readonly progress: Progress;
  readonly dashboard: Dashboard;
  readonly scaler: Scaler;
  readonly observability: Observability;
  /** Core (non-worker) functions by handler name. */
  readonly functions: ReadonlyMap<CoreHandler, lambda.Function>;

  constructor(scope: Construct, id: string, props: MetaAgentStackProps) {
    super(scope, id, props);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const common = { logRetention: LOG_RETENTION, removalPolicy };
    const environment: Record<string, string> = {};
    if (props.roleOverrides && props.roleOverrides.length > 0) {
      environment[EnvVar.RolesConfig] = JSON.stringify(props.roleOverrides);
    }
    if (props.defaultExecutor) environment[EnvVar.DefaultExecutor] = props.defaultExecutor;
    if (props.costs) environment[EnvVar.CostsConfig] = JSON.stringify(props.costs);

    this.tables = new Tables(this, 'Tables', { removalPolicy });
    this.artifacts = new Artifacts(this, 'Artifacts', { removalPolicy });
    // The router's settings (score weights, model-assisted routing): for the router, and for the functions that
    // route as it does (below). Every worker routes the dependents its Complete opens, so they are in the
    // workers' environment, counted in its size check with ROLE_QUEUE_URLS.
    const routingEnvironment: Record<string, string> =
      props.routing && (props.routing.weights || props.routing.assist)
        ? { [EnvVar.RoutingConfig]: JSON.stringify(props.routing) }
        : {};
    this.roleWorkers = new RoleWorkers(this, 'RoleWorkers', {
      roles: props.roles,
      environment: { ...environment, ...routingEnvironment },
      ...common,
    });

    const handlers = new Construct(this, 'Handlers');
    const functions = new Map<CoreHandler, lambda.Function>();
    const make = (
      handler: CoreHandler,
      id: string,
      extra: Partial<HandlerFunctionProps> & { description: string },
    ) => {
      const fn = new HandlerFunction(handlers, id, { handler, environment, ...common, ...extra }).fn;
      functions.set(handler, fn);
      return fn;
    };
    const submit = make('submit', 'Submit', {
      description: 'POST /batches',
      timeout: Duration.seconds(SUBMIT_TIMEOUT_SECONDS),
    });
    const status = make('status', 'Status', {
      description: 'GET /batches, /batches/{id}, /batches/{id}/graph, /batches/{id}/tasks/{taskId}',
    });
    const output = make('output', 'Output', {
      description: 'GET /batches/{id}/tasks/{taskId}/output',
      // An output of up to OUTPUT_RESPONSE_MAX_BYTES is read whole and answered from memory.
      memorySize: 512,
    });
    const cancel = make('cancel', 'Cancel', { description: 'DELETE /batches/{id}' });
    const redrive = make('redrive', 'Redrive', {
      description: 'POST /batches/{id}/redrive',
      timeout: Duration.seconds(60),
    });
    const agentsApi = make('agents-api', 'AgentsApi', { description: 'GET /agents, PUT /agents/{id}' });
    const gate = make('gate', 'Gate', { description: 'Dependency gate (task token)' });
    const assist = props.routing?.assist;
    const route = make('route', 'Route', {
      description: 'Scores agents and reserves capacity',
      // A routing question to a model may take its whole timeout before the router falls back.
      ...(assist ? { timeout: Duration.millis(assist.timeoutMs + ROUTE_TIMEOUT_BEYOND_ASSIST_MS) } : {}),
    });
    const approval = make('approval', 'Approval', {
      description: 'Holds a task (and its output) while it waits for an approval (task token)',
    });
    const approvalApi = make('approval-api', 'ApprovalApi', {
      description: 'POST /batches/{id}/tasks/{taskId}/approval',
    });
    const recordAttempt = make('record-attempt', 'RecordAttempt', {
      description: 'Records a failed attempt, decides on a retry',
    });
    const complete = make('complete', 'Complete', {
      description: 'Completes a task and releases its dependents',
      timeout: Duration.seconds(60),
    });
    // The router's settings for the router, and for the functions that route as it does: the capacity hand-off
    // scores the parked task it gives a slot to with the router's weights (Complete for a success's slot,
    // RecordAttempt for a failure's); with model-assisted routing, Complete (and Gate) leave the routing of the
    // dependents they open to the router. The workers have them already (RoleWorkers' environment).
    for (const fn of [route, complete, gate, recordAttempt]) {
      for (const [name, value] of Object.entries(routingEnvironment)) fn.addEnvironment(name, value);
    }
    // Agent workers run the Complete of their successful attempts when the state machine asks (hop latency),
    // with Complete's settings and grants (below).
    const completers = [complete, ...this.roleWorkers.workers.map((w) => w.fn)];
    const finalize = make('finalize', 'Finalize', {
      description: 'Aggregates a batch result',
      timeout: Duration.minutes(5),
      memorySize: 1024,
    });
    const notifier = make('notifier', 'Notifier', {
      description: 'Pushes progress to WebSocket subscribers',
      timeout: Duration.seconds(60),
    });
    const websocket = make('websocket', 'WebSocket', {
      description: 'WebSocket connect/disconnect/subscribe',
    });
    const progressToken = make('progress-token', 'ProgressToken', {
      description: 'POST /progress-tokens, and the WebSocket $connect authorizer that redeems them',
    });

    const t = this.tables;
    t.bindTasks(submit, 'readWrite');
    t.bindTasks(status, 'read');
    t.bindTasks(output, 'read');
    this.artifacts.bind(output, 'read');
    t.bindTasks(cancel, 'readWrite');
    // Cancelling gives the running attempts' reservations back to their agents.
    t.bindAgents(cancel, 'readWrite');
    t.bindTasks(redrive, 'readWrite');
    t.bindAgents(agentsApi, 'readWrite');
    // GET /agents shows the fleet-wide provider limits: their slots and state are tasks table items.
    t.bindTasks(agentsApi, 'read');
    t.bindTasks(gate, 'readWrite');
    // A gate that finds its dependencies ended routes the task: it reserves a slot as the router does.
    t.bindAgents(gate, 'readWrite');
    t.bindTasks(route, 'readWrite');
    t.bindAgents(route, 'readWrite');
    t.bindTasks(approval, 'readWrite');
    // A held output's agent gets its slot back at once; a task parked for capacity is woken.
    t.bindAgents(approval, 'readWrite');
    t.bindTasks(approvalApi, 'readWrite');
    t.bindTasks(recordAttempt, 'readWrite');
    t.bindAgents(recordAttempt, 'readWrite');
    t.bindTasks(complete, 'readWrite');
    // An expanding task's plan too large for its task item is read from the bucket.
    this.artifacts.bind(complete, 'read');
    t.bindAgents(complete, 'readWrite');
    t.bindTasks(finalize, 'readWrite');
    // The notifier deletes the subscriptions of connections that are gone.
    t.bindTasks(notifier, 'readWrite');
    t.bindTasks(websocket, 'readWrite');
    t.bindTasks(progressToken, 'readWrite');
    for (const worker of this.roleWorkers.workers) {
      t.bindTasks(worker.fn, 'readWrite');
      // Heartbeats extend the reservation's lease; a worker's Complete releases or hands over the slot and
      // routes the dependents it opens.
      t.bindAgents(worker.fn, 'readWrite');
      // Workers store large outputs and read their dependencies' for the context of a task.
      this.artifacts.bind(worker.fn, 'readWrite');
    }
    // With model-assisted routing the router asks a provider too, with the workers' credentials.
    const askers = assist ? [route] : [];
    this.roleWorkers.grantBedrock(assist?.provider === 'bedrock' ? askers : []);
    // The router reads the provider keys in any case: a credentials mark is of one key (its fingerprint), and
    // the router tells whether the key in use now is the refused one (a redeploy with a new key ends the mark).
    if (props.providerSecretName) this.roleWorkers.grantProviderSecret(props.providerSecretName, [route]);
    if (props.providerSsmPrefix) this.roleWorkers.grantProviderParameters(props.providerSsmPrefix, [route]);
    // The router answers with the queue URL of the winner's role; Step Functions sends the message.
    this.roleWorkers.bindQueues(route, 'attributes');
    // So do Complete (and the workers running it), dispatching the task parked for capacity it hands a slot to
    // and the dependents it opens, Gate, routing a task whose dependencies ended before its gate armed, and RecordAttempt, handing
    // a failed attempt's slot to a parked task.
    for (const fn of completers) this.roleWorkers.bindQueues(fn, 'attributes');
    this.roleWorkers.bindQueues(gate, 'attributes');
    this.roleWorkers.bindQueues(recordAttempt, 'attributes');

    this.orchestration = new Orchestration(this, 'Orchestration', {
      functions: { gate, route, approval, recordAttempt, complete, finalize },
      roleQueues: [...this.roleWorkers.queues.values()],
      ...common,
    });
    this.orchestration.bindStart(submit);
    this.orchestration.bindStart(redrive);
    this.orchestration.bindStop(cancel);
    // A batch whose execution ended without its Finalize is ended by Finalize, giving back its running
    // attempts' reservations.
    this.orchestration.bindExecutionEnded(finalize);
    t.bindAgents(finalize, 'readWrite');
    // gate and complete answer gates (so does route, releasing the dependents of a task it cancels when the
    // batch's budget is exhausted); complete, record-attempt and approval wake tasks parked for capacity;
    // approval-api answers approval waits; agents-api wakes tasks parked for the slots a put adds (so does the
    // scaler, below, for the slots it reclaims or spawns).
    for (const fn of [
      gate,
      complete,
      route,
      recordAttempt,
      approval,
      approvalApi,
      agentsApi,
      ...this.roleWorkers.workers.map((w) => w.fn),
    ]) {
      this.orchestration.bindTaskResponse(fn);
    }

    const apiFunctions = {
      submit,
      status,
      output,
      cancel,
      redrive,
      'agents-api': agentsApi,
      'progress-token': progressToken,
      'approval-api': approvalApi,
    };
    this.api = new Api(this, 'Api', { functions: apiFunctions, ...common });
    this.progress = new Progress(this, 'Progress', {
      tasksTable: t.tasks,
      websocketFn: websocket,
      notifierFn: notifier,
      progressTokenFn: progressToken,
      ...common,
    });
    this.dashboard = new Dashboard(this, 'Dashboard', {
      apiUrl: this.api.restApi.url,
      connectOrigins: [
        `https://${this.api.restApi.restApiId}.execute-api.${this.region}.${this.urlSuffix}`,
        `wss://${this.progress.webSocketApi.apiId}.execute-api.${this.region}.${this.urlSuffix}`,
      ],
      removalPolicy,
    });
    this.api.allowBrowserOrigin(this.dashboard.origin);
    for (const fn of new Set(Object.values(apiFunctions))) {
      fn.addEnvironment(EnvVar.CorsAllowedOrigin, this.dashboard.origin);
    }
    this.scaler = new Scaler(this, 'Scaler', {
      tables: t,
      roleWorkers: this.roleWorkers,
      environment,
      ...(props.scalerReservedConcurrency === undefined
        ? {}
        : { reservedConcurrency: props.scalerReservedConcurrency }),
      ...common,
    });
    this.orchestration.bindTaskResponse(this.scaler.handler.fn);
    // The scaler also ends a batch whose execution ended with its status change event lost (the rule above is
    // best effort): it reads the running batches, describes their executions and ends a batch as Finalize would.
    t.bindTasks(this.scaler.handler.fn, 'readWrite');
    this.orchestration.bindDescribe(this.scaler.handler.fn);
    functions.set('scaler', this.scaler.handler.fn);
    this.functions = functions;

    const allFunctions = new Map<string, lambda.IFunction>(functions);
    for (const [role, w] of this.roleWorkers.byRole) allFunctions.set(`worker-${role}`, w.worker.fn);
    this.observability = new Observability(this, 'Observability', {
      stateMachine: this.orchestration.stateMachine,
      deadLetterQueues: [...this.roleWorkers.deadLetterQueues, this.progress.notifierDeadLetterQueue],
      roleQueues: this.roleWorkers.queues,
      functions: allFunctions,
    });
  }
}
