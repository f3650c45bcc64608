/**
 * Role queue consumer: one dispatched attempt per SQS record, with partial batch responses. A record that
 * does not parse is a poison message: reported as a failure (so it reaches the DLQ after maxReceiveCount)
 * and logged. Every other outcome deletes the record: the state machine, not SQS, retries attempts.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { z } from 'zod';
import { EnvVar } from '../shared/config';
import { type CompleteInput, DispatchMessageSchema, TaskRefSchema } from '../shared/domain/workflow';
import { failPoisonedTask, runDispatch } from '../shared/usecases/agent-worker';
import { completeTask } from '../shared/usecases/complete';
import { runReview } from '../shared/usecases/review';
import { completeDeps, handlerContainer } from './commons/clients';
import { instrument, observability } from './commons/observability';

const obs = observability('agent-worker');
const container = handlerContainer(obs);
// The Complete of its successful attempts, with the router's settings (the stack gives every worker the role
// queues' URLs): the state machine then skips CompleteTask (hop latency). Without them, CompleteTask runs it.
const completion = process.env[EnvVar.RoleQueueUrls] ? completeDeps(container) : undefined;
const deps = {
  store: container.taskStore,
  agents: container.agentRegistry,
  artifacts: container.artifacts,
  callbacks: container.callbacks,
  catalog: container.catalog,
  clock: container.clock,
  executorFor: container.executorFor,
  credentialFingerprint: container.credentialFingerprint,
  heartbeatSeconds: container.heartbeatSeconds,
  prices: container.costs.prices,
  onWarning: (message: string, error: unknown) => obs.logger.warn(message, { error: String(error) }),
  ...(completion ? { complete: (input: CompleteInput) => completeTask(completion, input) } : {}),
};
/** Optional: the role this function serves (one function per role queue when deployed). */
const role = process.env[EnvVar.AgentRole];
if (role) obs.metrics.setDefaultDimensions({ role });

export class PoisonMessageError extends Error {
  constructor(
    readonly messageId: string,
    readonly reason: string,
    /** The ids the body did carry, when it named its task. */
    readonly ref?: { batchId: string; taskId: string; taskToken?: string },
  ) {
    super(`poison message ${messageId}: ${reason}`);
    this.name = 'PoisonMessageError';
  }
}

/** What a malformed dispatch message may still tell about its task. */
const PoisonRefSchema = TaskRefSchema.extend({ taskToken: z.string().min(1).optional() });

function parseRecord(record: SQSRecord) {
  let body: unknown;
  try {
    body = JSON.parse(record.body);
  } catch (error) {
    throw new PoisonMessageError(record.messageId, `body is not JSON (${(error as Error).message})`);
  }
  const parsed = DispatchMessageSchema.safeParse(body);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '$'}: ${i.message}`).join('; ');
    const ref = PoisonRefSchema.safeParse(body);
    throw new PoisonMessageError(
      record.messageId,
      `not a dispatch message (${issues})`,
      ref.success ? ref.data : undefined,
    );
  }
  return parsed.data;
}

async function recordHandler(record: SQSRecord): Promise<void> {
  let message: ReturnType<typeof parseRecord>;
  try {
    message = parseRecord(record);
  } catch (error) {
    obs.logger.error('poison message', { messageId: record.messageId, error: (error as Error).message });
    obs.metrics.addMetric('PoisonMessages', MetricUnit.Count, 1);
    // A record naming its task fails that task with the reason; one naming nothing can only reach the DLQ,
    // whose alarm is the signal. Either way the record is reported failed, so it ends in the DLQ.
    if (error instanceof PoisonMessageError && error.ref) {
      await failPoisonedTask(deps, error.ref, error.reason);
    }
    throw error;
  }
  const { taskToken: _token, ...ids } = message;
  obs.logger.debug('attempt started', { ...ids, messageId: record.messageId });
  const review = message.review;
  // A validator's review of an output (approval.after.by), or an attempt at the task.
  const outcome = review ? await runReview(deps, { ...message, review }) : await runDispatch(deps, message);
  switch (outcome.kind) {
    case 'succeeded':
      obs.metrics.addMetric('AttemptsSucceeded', MetricUnit.Count, 1);
      obs.metrics.addMetric('AttemptDurationMs', MetricUnit.Milliseconds, outcome.durationMs);
      obs.logger.info('attempt succeeded', { ...ids, durationMs: outcome.durationMs });
      // As the CompleteTask state's handler reports it (complete.ts).
      if (outcome.completed) {
        if (outcome.completed.transitioned) obs.metrics.addMetric('TasksSUCCEEDED', MetricUnit.Count, 1);
        obs.logger.info('task complete', { ...ids, outcome: 'SUCCEEDED', ...outcome.completed });
      }
      break;
    case 'failed':
      obs.metrics.addMetric('AttemptsErrored', MetricUnit.Count, 1);
      obs.logger.warn('attempt failed', { ...ids, error: outcome.error });
      break;
    case 'duplicate':
      obs.logger.info('duplicate delivery dropped', ids);
      break;
    case 'aborted':
      obs.logger.warn('attempt aborted', { ...ids, reason: outcome.reason });
      break;
    case 'crashed':
      // A simulated crash is a worker dying: it reports nothing, like the real thing would.
      break;
  }
}

export const handler = instrument(obs, 'agent-worker', async (event: SQSEvent, context?: Context) => {
  // A processor per invocation: the embedded runtime may run several invocations of this module at once.
  const processor = new BatchProcessor(EventType.SQS);
  return processPartialResponse(event, recordHandler, processor, {
    ...(context ? { context } : {}),
    throwOnFullBatchFailure: false,
  });
});
