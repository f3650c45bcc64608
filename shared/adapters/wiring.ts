/**
 * The one place that builds adapters from configuration. Handlers call it at module load with
 * process.env; the embedded runtime calls it with its own env and emulator-bound clients. Each member is
 * built (and its variables required) on first access, so a handler fails fast on exactly the variables it
 * uses and never on the others.
 */
import { randomUUID } from 'node:crypto';
import type { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { EnvVar, type EnvVarName, requireEnv } from '../config';
import { type CostsConfig, PriceTable, parseCostsConfig } from '../domain/costs';
import type { CredentialFingerprints } from '../domain/permanent-failure';
import { type RoleCatalog, resolveRoles, withDefaultExecutor } from '../domain/roles';
import {
  type AssistConfig,
  normaliseWeights,
  parseRoutingConfig,
  type RoutingWeights,
} from '../domain/routing-config';
import { type ExecutorConfig, ExecutorNameSchema } from '../domain/schemas';
import { DEFAULT_HEARTBEAT_SECONDS } from '../domain/workflow';
import type {
  AgentExecutor,
  AgentRegistry,
  ArtifactStore,
  BudgetLedger,
  Callbacks,
  Clock,
  ConnectionNotifier,
  Dispatcher,
  IdGenerator,
  ProgressTokenStore,
  ProviderLimitStore,
  RoutingAdvisor,
  SubscriptionStore,
  TaskStore,
} from '../ports';
import type { AssistDeps } from '../usecases/assist';
import { DynamoAgentRegistry } from './dynamodb/agent-registry';
import { DynamoBudgetLedger } from './dynamodb/budget-ledger';
import { documentClient } from './dynamodb/client';
import { DynamoProgressTokenStore } from './dynamodb/progress-tokens';
import { DynamoProviderLimitStore } from './dynamodb/provider-limits';
import { DynamoRoutingAdviceCache } from './dynamodb/routing-advice';
import { DynamoSubscriptionStore } from './dynamodb/subscriptions';
import { DynamoTaskStore } from './dynamodb/task-store';
import { FleetLimiter } from './executors/fleet-limiter';
import type { CallLimiter } from './executors/policy';
import { SimulatedExecutor } from './executors/simulated';
import { inProcessConfigFromEnv } from './in-process-transport';
import { limitedRoutingAdvisor } from './limited-routing-advisor';

import { assistModel } from './routing-advisor-model';
import { S3ArtifactStore } from './s3/artifact-store';
import { tunedClient } from './sdk-client';
import { SfnCallbacks } from './sfn/callbacks';
import { SfnOrchestrator } from './sfn/orchestrator';
import { SqsDispatcher } from './sqs/dispatcher';
import { ApiGatewayConnectionNotifier } from './websocket/notifier';

/** SDK clients to use instead of the defaults (emulator-bound, traced, or mocked). */
export interface Clients {
  dynamodb?: DynamoDBClient;
  sqs?: SQSClient;
  sfn?: SFNClient;
  s3?: S3Client;
  apiGatewayManagement?: ApiGatewayManagementApiClient;
}

export interface Container {
  readonly clock: Clock;
  readonly ids: IdGenerator;
  readonly catalog: RoleCatalog;
  readonly taskStore: TaskStore;
  /** The budget ledgers of batches (in the tasks table). */
  readonly budgetLedger: BudgetLedger;
  readonly agentRegistry: AgentRegistry;
  /** The artifacts bucket (ARTIFACTS_BUCKET_NAME). */
  readonly artifacts: ArtifactStore;
  readonly subscriptions: SubscriptionStore;
  readonly progressTokens: ProgressTokenStore;
  readonly dispatcher: Dispatcher;
  readonly callbacks: Callbacks;
  readonly orchestrator: SfnOrchestrator;
  /** The Step Functions client the callbacks and the orchestrator share (for calls neither makes). */
  readonly sfnClient: SFNClient;
  readonly notifier: ConnectionNotifier;
  /** ROLE_QUEUE_URLS: role name -> queue URL. */
  readonly roleQueueUrls: Readonly<Record<string, string>>;
  readonly heartbeatSeconds: number;
  readonly executorFor: (config: ExecutorConfig) => AgentExecutor;
  /**
   * The fingerprint of the key this process's executors use for a configuration (a credentials mark is of one
   * key); the secrets SDKs are loaded on the first look, which only a standing mark or a refused key asks for.
   */
  readonly credentialFingerprint: CredentialFingerprints;
  /** ROUTING_CONFIG: the score weights (normalised) and model-assisted routing, when configured. */
  readonly routing: { weights?: RoutingWeights; assist?: AssistDeps };
  /** COSTS_CONFIG: the section as given, and the price table (the config's prices over the built-in ones). */
  readonly costs: { config: CostsConfig; prices: PriceTable };
  /** Fleet-wide provider limits (costs.providerLimits) in the tasks table, shared by every worker. */
  readonly providerLimits: { store: ProviderLimitStore; limiter: FleetLimiter };
}

export class ConfigValueError extends Error {
  constructor(variable: string, problem: string) {
    super(`Environment variable ${variable} ${problem}`);
    this.name = 'ConfigValueError';
  }
}

const systemClock: Clock = { now: () => Date.now() };
/** Background trouble that must not fail the work (a provider limit's lease renewal), as a log line. */
const warn = (message: string, error: unknown) =>
  console.warn(JSON.stringify({ level: 'WARN', message, error: String(error) }));
const uuidIds: IdGenerator = { next: (prefix = '') => `${prefix}${randomUUID()}` };

function parseJsonEnv(name: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ConfigValueError(name, `is not valid JSON: ${(error as Error).message}`);
  }
}

/** An optional flag of the environment: `true`, or `false` when unset; any other value names the variable. */
export function flagOf(name: EnvVarName, env: NodeJS.ProcessEnv = process.env): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '' || raw === 'false') return false;
  if (raw !== 'true') throw new ConfigValueError(name, `must be true or false (got "${raw}")`);
  return true;
}

/** The S3 client settings of the environment: path-style URLs when ARTIFACTS_PATH_STYLE is `true`. */
export function s3ClientConfig(env: NodeJS.ProcessEnv = process.env): S3ClientConfig {
  return flagOf(EnvVar.ArtifactsPathStyle, env) ? { forcePathStyle: true } : {};
}

/**
 * A provider's executor (bedrock, anthropic, openai, http), its modules loaded on its first call: the provider
 * SDKs are most of a handler's load time (the Anthropic SDK alone about half a second on two cores), and only
 * agent workers whose role names a provider ever run one. A bad configuration fails that call, inside the
 * attempt, as createExecutor's own error would.
 */
function providerExecutor(config: ExecutorConfig, limiter: () => CallLimiter): AgentExecutor {
  let executor: Promise<AgentExecutor> | undefined;
  return {
    name: config.name,
    execute: async (request, signal) => {
      executor ??= import('./executors').then((executors) =>
        executors.createExecutor(config, { limiter: limiter(), onWarning: warn }),
      );
      return (await executor).execute(request, signal);
    },
  };
}

/**
 * The routing advisor of `config`, its provider SDK (and the secrets SDKs) loaded on the first question, as
 * providerExecutor does: a router that is never unsure never loads them.
 */
function lazyRoutingAdvisor(config: AssistConfig, env: NodeJS.ProcessEnv): RoutingAdvisor {
  let advisor: Promise<RoutingAdvisor> | undefined;
  return {
    provider: config.provider,
    model: assistModel(config),
    choose: async (question, signal) => {
      advisor ??= Promise.all([import('./routing-advisor'), import('./secrets')]).then(
        ([advisors, secrets]) =>
          advisors.createRoutingAdvisor(config, { secrets: secrets.secretResolverFromEnv(env), env }),
      );
      return (await advisor).choose(question, signal);
    },
  };
}

/** processCredentialFingerprint, its module (the executors' and the secrets SDKs) loaded on the first look. */
const lazyCredentialFingerprint: CredentialFingerprints = async (executor) =>
  (await import('./executors')).processCredentialFingerprint(executor);

/** Builds the container; pass `clients` to bind the adapters to other endpoints. */
export function buildContainer(env: NodeJS.ProcessEnv = process.env, clients: Clients = {}): Container {
  const cache = new Map<string, unknown>();
  const once = <T>(key: string, build: () => T): T => {
    if (!cache.has(key)) cache.set(key, build());
    return cache.get(key) as T;
  };
  const dynamo = () =>
    once('doc', () =>
      documentClient(
        clients.dynamodb ?? tunedClient(new DynamoDBClient(inProcessConfigFromEnv('DYNAMODB', env))),
      ),
    );
  const sfn = () =>
    once('sfn', () => clients.sfn ?? tunedClient(new SFNClient(inProcessConfigFromEnv('SFN', env))));

  // COSTS_CONFIG, parsed once; callers read the variable, so each member's variables show where it is used.
  const costsSection = (raw: string | undefined): CostsConfig =>
    once('costsSection', () => {
      return raw === undefined || raw === ''
        ? {}
        : parseCostsConfig(parseJsonEnv(EnvVar.CostsConfig, raw), `$(${EnvVar.CostsConfig})`);
    });
  // Fleet-wide provider limits (items of the tasks table): one limiter per container, shared by every
  // executor it builds. Callers give the store, so each member shows the adapter and variables it uses.
  const providerLimits = (store: () => ProviderLimitStore): Container['providerLimits'] =>
    once('providerLimits', () => {
      const built = store();
      const limits = costsSection(env[EnvVar.CostsConfig]).providerLimits ?? [];
      return Object.freeze({
        store: built,
        limiter: new FleetLimiter({ store: built, limits, onWarning: warn }),
      });
    });

  return {
    clock: systemClock,
    ids: uuidIds,
    get catalog() {
      return once('catalog', () => {
        const raw = env[EnvVar.RolesConfig];
        const catalog = resolveRoles(raw ? parseJsonEnv(EnvVar.RolesConfig, raw) : []);
        const executor = env[EnvVar.DefaultExecutor];
        if (executor === undefined || executor === '') return catalog;
        const parsed = ExecutorNameSchema.safeParse(executor);
        if (!parsed.success) {
          throw new ConfigValueError(
            EnvVar.DefaultExecutor,
            `must be one of ${ExecutorNameSchema.options.join(', ')}`,
          );
        }
        return withDefaultExecutor(catalog, parsed.data);
      });
    },
    get taskStore() {
      return once('tasks', () => new DynamoTaskStore(requireEnv(EnvVar.TasksTable, env), dynamo()));
    },
    get budgetLedger() {
      return once('budget', () => new DynamoBudgetLedger(requireEnv(EnvVar.TasksTable, env), dynamo()));
    },
    get agentRegistry() {
      return once('agents', () => {
        const table = requireEnv(EnvVar.AgentsTable, env);
        // On the embedded runtime this process is the store's only writer (DynamoAgentRegistry's soleWriter).
        const soleWriter = flagOf(EnvVar.SingleThreadedStore, env)
          ? `${env.AWS_ENDPOINT_URL_DYNAMODB ?? ''} ${table}`
          : undefined;
        return new DynamoAgentRegistry(table, dynamo(), soleWriter, lazyCredentialFingerprint);
      });
    },
    get artifacts() {
      return once(
        'artifacts',
        () =>
          new S3ArtifactStore(
            requireEnv(EnvVar.ArtifactsBucket, env),
            clients.s3 ?? new S3Client(s3ClientConfig(env)),
          ),
      );
    },
    get subscriptions() {
      return once('subs', () => new DynamoSubscriptionStore(requireEnv(EnvVar.TasksTable, env), dynamo()));
    },
    get progressTokens() {
      return once(
        'progressTokens',
        () => new DynamoProgressTokenStore(requireEnv(EnvVar.TasksTable, env), dynamo()),
      );
    },
    get dispatcher() {
      return once('dispatcher', () => new SqsDispatcher(clients.sqs));
    },
    get callbacks() {
      return once('callbacks', () => new SfnCallbacks(sfn()));
    },
    get sfnClient() {
      return sfn();
    },
    get orchestrator() {
      return once('orchestrator', () => new SfnOrchestrator(requireEnv(EnvVar.StateMachineArn, env), sfn()));
    },
    get notifier() {
      return once('notifier', () =>
        clients.apiGatewayManagement
          ? new ApiGatewayConnectionNotifier(clients.apiGatewayManagement)
          : ApiGatewayConnectionNotifier.forEndpoint(requireEnv(EnvVar.WebSocketEndpoint, env)),
      );
    },
    get roleQueueUrls() {
      return once('queues', () => {
        const parsed = parseJsonEnv(EnvVar.RoleQueueUrls, requireEnv(EnvVar.RoleQueueUrls, env));
        if (
          typeof parsed !== 'object' ||
          parsed === null ||
          Object.values(parsed).some((v) => typeof v !== 'string')
        ) {
          throw new ConfigValueError(EnvVar.RoleQueueUrls, 'must be a JSON object of role name -> queue URL');
        }
        return parsed as Record<string, string>;
      });
    },
    get heartbeatSeconds() {
      return once('heartbeat', () => {
        const raw = env[EnvVar.HeartbeatSeconds];
        if (raw === undefined || raw === '') return DEFAULT_HEARTBEAT_SECONDS;
        const value = Number(raw);
        if (!Number.isInteger(value) || value < 1) {
          throw new ConfigValueError(EnvVar.HeartbeatSeconds, `must be a positive integer (got "${raw}")`);
        }
        return value;
      });
    },
    executorFor: (config) =>
      config.name === 'simulated'
        ? new SimulatedExecutor()
        : providerExecutor(
            config,
            () =>
              providerLimits(() => new DynamoProviderLimitStore(requireEnv(EnvVar.TasksTable, env), dynamo()))
                .limiter,
          ),
    credentialFingerprint: lazyCredentialFingerprint,
    get providerLimits() {
      return providerLimits(() => new DynamoProviderLimitStore(requireEnv(EnvVar.TasksTable, env), dynamo()));
    },
    get costs() {
      return once('costs', () => {
        const config = costsSection(env[EnvVar.CostsConfig]);
        return { config, prices: new PriceTable(config.prices ?? []) };
      });
    },
    get routing() {
      return once('routing', () => {
        const raw = env[EnvVar.RoutingConfig];
        if (raw === undefined || raw === '') return {};
        const config = parseRoutingConfig(
          parseJsonEnv(EnvVar.RoutingConfig, raw),
          `$(${EnvVar.RoutingConfig})`,
        );
        const assist = config.assist;
        return {
          ...(config.weights ? { weights: normaliseWeights(config.weights) } : {}),
          ...(assist
            ? {
                assist: {
                  config: assist,
                  // The router's question counts against the fleet-wide provider limits like a worker's call.
                  advisor: limitedRoutingAdvisor(
                    lazyRoutingAdvisor(assist, env),
                    () => this.providerLimits.limiter,
                    warn,
                  ),
                  prices: this.costs.prices,
                  cache: new DynamoRoutingAdviceCache(requireEnv(EnvVar.TasksTable, env), dynamo()),
                },
              }
            : {}),
        };
      });
    },
  };
}
