/**
 * The SDK clients of every handler, created with their defaults (region and AWS_ENDPOINT_URL* endpoint
 * overrides from the environment) once per module instance when traced, once per environment otherwise, and
 * the container built over them.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { inProcessConfigFromEnv, whenStoreQuiet } from '../../shared/adapters/in-process-transport';
import { tunedClient } from '../../shared/adapters/sdk-client';
import { buildContainer, type Container, flagOf, s3ClientConfig } from '../../shared/adapters/wiring';
import { EnvVar } from '../../shared/config';
import { RouteLane } from '../../shared/usecases/common';
import type { CompleteDeps } from '../../shared/usecases/complete';
import type { Observability } from './observability';

type HandlerClients = ReturnType<typeof buildClients>;

/**
 * Untraced clients by the environment they were built from. The embedded runtime loads about 16 handler
 * modules per system into one process, and each built its own four clients: 64 of them, about 30 ms of the
 * main thread before the first task. Modules built from the same environment now share one set (SDK clients
 * keep no state of a request between calls). On AWS each function is a process with one handler module, and
 * traced clients are never shared (each tracer adds its own middleware).
 */
const untraced = new Map<string, HandlerClients>();
/** Sets kept: one per embedded system running in the process, the latest ones. */
const UNTRACED_KEPT = 4;

/** What the clients are built from: the SDK's `AWS_*` settings and the artifacts' path style. */
function clientEnvironment(env: NodeJS.ProcessEnv): string {
  return JSON.stringify(
    Object.entries(env)
      .filter(([name]) => name.startsWith('AWS_') || name === EnvVar.ArtifactsPathStyle)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
}

/**
 * The SDK clients of a handler module: traced when tracing is on, each with its resolved config in
 * fast-properties mode (sdk-client.ts); untraced ones shared by the modules built from the same environment.
 */
export function handlerClients(
  { tracer }: Pick<Observability, 'tracer'>,
  env: NodeJS.ProcessEnv = process.env,
): HandlerClients {
  if (tracer.isTracingEnabled()) return buildClients(tracer, env);
  const key = clientEnvironment(env);
  const found = untraced.get(key);
  if (found) return found;
  const clients = buildClients(tracer, env);
  untraced.set(key, clients);
  if (untraced.size > UNTRACED_KEPT) untraced.delete(untraced.keys().next().value as string);
  return clients;
}

function buildClients(tracer: Observability['tracer'], env: NodeJS.ProcessEnv) {
  return {
    // In process when the embedded runtime serves the endpoint in this process (never on AWS). S3 keeps
    // HTTP (streaming bodies), though fauxqs serves it on the SQS port.
    dynamodb: tracer.captureAWSv3Client(
      tunedClient(new DynamoDBClient(inProcessConfigFromEnv('DYNAMODB', env))),
    ),
    sqs: tracer.captureAWSv3Client(tunedClient(new SQSClient(inProcessConfigFromEnv('SQS', env)))),
    sfn: tracer.captureAWSv3Client(tunedClient(new SFNClient(inProcessConfigFromEnv('SFN', env)))),
    s3: tracer.captureAWSv3Client(tunedClient(new S3Client(s3ClientConfig(env)))),
  };
}

/** The container of a handler module, over its clients. */
export function handlerContainer(obs: Observability, env: NodeJS.ProcessEnv = process.env): Container {
  return buildContainer(env, handlerClients(obs, env));
}

/**
 * On the embedded runtime (SINGLE_THREADED_STORE): resolves once the DynamoDB endpoint the handlers' clients
 * use has been quiet a moment (whenStoreQuiet). Elsewhere undefined: nothing waits.
 */
export function storeQuietWait(env: NodeJS.ProcessEnv = process.env): (() => Promise<void>) | undefined {
  if (!flagOf(EnvVar.SingleThreadedStore, env)) return undefined;
  return () => whenStoreQuiet(env);
}

/**
 * What Route needs to dispatch a task: the router's, and Complete's for the capacity hand-off (which gives a
 * parked task its slot and dispatches it as Route would). Model-assisted routing is the router's alone.
 */
export function dispatchDeps(container: Container) {
  const { weights } = container.routing;
  return {
    catalog: container.catalog,
    roleQueueUrls: container.roleQueueUrls,
    heartbeatSeconds: container.heartbeatSeconds,
    ...(weights ? { weights } : {}),
    budget: { ledger: container.budgetLedger, prices: container.costs.prices },
  };
}

/**
 * What Complete needs: the CompleteTask state's handler's, and an agent worker's that runs the Complete of its
 * attempt itself (agent-worker.ts).
 */
export function completeDeps(container: Container, env: NodeJS.ProcessEnv = process.env): CompleteDeps {
  const quiet = storeQuietWait(env);
  return {
    store: container.taskStore,
    agents: container.agentRegistry,
    callbacks: container.callbacks,
    catalog: container.catalog,
    clock: container.clock,
    ledger: container.budgetLedger,
    // A successful attempt's slot goes straight to a task parked for its agent's role (capacity hand-off), and
    // a dependent whose gate opens is routed here, unless routing asks a model (the router's alone).
    handOff: { ...dispatchDeps(container), routeDependents: container.routing.assist === undefined },
    // On the embedded runtime only (its store answers on one thread): see EnvVar.SingleThreadedStore.
    ...(quiet
      ? {
          bookkeepingAfterRoutes: { whenQuiet: quiet },
          releasesAfterStatusWrite: true,
          routeLane: new RouteLane(),
        }
      : {}),
    // Read only for an expanding task's plan too large for the task item: resolved on first use.
    get artifacts() {
      return container.artifacts;
    },
  };
}
