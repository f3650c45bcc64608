/**
 * The SDK clients of every handler, created once per module instance with their defaults (region and
 * AWS_ENDPOINT_URL* endpoint overrides from the environment), traced when tracing is on, and the
 * container built over them.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { inProcessConfigFromEnv } from '../../shared/adapters/in-process-transport';
import { fastConfig } from '../../shared/adapters/sdk-client';
import { buildContainer, type Container, s3ClientConfig } from '../../shared/adapters/wiring';
import type { Observability } from './observability';

/**
 * The SDK clients of a handler module: traced when tracing is on, each with its resolved config in
 * fast-properties mode (sdk-client.ts).
 */
export function handlerClients(
  { tracer }: Pick<Observability, 'tracer'>,
  env: NodeJS.ProcessEnv = process.env,
) {
  return {
    // In process when the embedded runtime serves the endpoint in this process (never on AWS). S3 keeps
    // HTTP (streaming bodies), though fauxqs serves it on the SQS port.
    dynamodb: tracer.captureAWSv3Client(
      fastConfig(new DynamoDBClient(inProcessConfigFromEnv('DYNAMODB', env))),
    ),
    sqs: tracer.captureAWSv3Client(fastConfig(new SQSClient(inProcessConfigFromEnv('SQS', env)))),
    sfn: tracer.captureAWSv3Client(fastConfig(new SFNClient(inProcessConfigFromEnv('SFN', env)))),
    s3: tracer.captureAWSv3Client(fastConfig(new S3Client(s3ClientConfig(env)))),
  };
}

/** The container of a handler module, over its clients. */
export function handlerContainer(obs: Observability, env: NodeJS.ProcessEnv = process.env): Container {
  return buildContainer(env, handlerClients(obs, env));
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
