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
import { buildContainer, type Container, s3ClientConfig } from '../../shared/adapters/wiring';
import type { Observability } from './observability';

/** The container of a handler module, over traced default clients. */
export function handlerContainer({ tracer }: Observability, env: NodeJS.ProcessEnv = process.env): Container {
  return buildContainer(env, {
    // In process when the embedded runtime serves the endpoint in this process (never on AWS). S3 keeps
    // HTTP (streaming bodies), though fauxqs serves it on the SQS port.
    dynamodb: tracer.captureAWSv3Client(new DynamoDBClient(inProcessConfigFromEnv('DYNAMODB', env))),
    sqs: tracer.captureAWSv3Client(new SQSClient(inProcessConfigFromEnv('SQS', env))),
    sfn: tracer.captureAWSv3Client(new SFNClient(inProcessConfigFromEnv('SFN', env))),
    s3: tracer.captureAWSv3Client(new S3Client(s3ClientConfig(env))),
  });
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
