/**
 * Scheduled scaler: one pass of shared/usecases/scaler.ts (leases, backlog, concurrency, spawn, idle, and the
 * batches whose execution ended with its status change event lost).
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { inProcessConfigFromEnv } from '../shared/adapters/in-process-transport';
import { LambdaQueueConcurrency } from '../shared/adapters/lambda/event-source-concurrency';
import { tunedClient } from '../shared/adapters/sdk-client';
import { SqsQueueDepth } from '../shared/adapters/sqs/queue-depth';
import { scaleAgents } from '../shared/usecases/scaler';
import { handlerContainer } from './commons/clients';
import { instrument, observability } from './commons/observability';

const obs = observability('scaler');
const container = handlerContainer(obs);
const deps = {
  agents: container.agentRegistry,
  catalog: container.catalog,
  clock: container.clock,
  roleQueueUrls: container.roleQueueUrls,
  callbacks: container.callbacks,
  queues: new SqsQueueDepth(
    obs.tracer.captureAWSv3Client(tunedClient(new SQSClient(inProcessConfigFromEnv('SQS')))),
  ),
  concurrency: new LambdaQueueConcurrency(
    obs.tracer.captureAWSv3Client(tunedClient(new LambdaClient(inProcessConfigFromEnv('LAMBDA')))),
  ),
  lostEvents: {
    store: container.taskStore,
    executions: container.orchestrator,
    ledger: container.budgetLedger,
    // Kept by this module between passes: a cold start looks from the oldest running batch again.
    sweep: {},
  },
};

export const handler = instrument(obs, 'scaler', async (_event: unknown, context?: Context) => {
  const result = await scaleAgents({
    ...deps,
    ...(context ? { timeLeftMs: () => context.getRemainingTimeInMillis() } : {}),
  });
  const changed = result.roles.filter(
    (r) =>
      r.concurrencySet !== undefined ||
      r.waiting > 0 ||
      r.queued > 0 ||
      r.woken !== undefined ||
      r.ordered !== undefined,
  );
  obs.logger.info('scaled', {
    terminated: result.terminated,
    spawned: result.spawned,
    reclaimed: result.reclaimed,
    reopened: result.reopened,
    roles: changed,
    unfinished: result.unfinished,
    interrupted: result.interrupted,
    ...(result.indexedRunning ? { indexedRunning: result.indexedRunning } : {}),
  });
  if (result.interrupted.length > 0)
    obs.metrics.addMetric('BatchesInterrupted', MetricUnit.Count, result.interrupted.length);
  for (const error of result.errors) obs.logger.error('role not scaled', error);
  if (result.interruptedError !== undefined)
    obs.logger.error('running batches not looked at', { error: result.interruptedError });
  return result;
});
