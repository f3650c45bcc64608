/**
 * RecordAttempt state (Dispatch's Catch): end the failed attempt and decide on a retry. RecordReview
 * (DispatchReview's Catch): a validator's review gave no verdict.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import {
  RecordAttemptInputSchema,
  type RecordAttemptOutput,
  RecordReviewInputSchema,
} from '../shared/domain/workflow';
import { recordAttempt } from '../shared/usecases/record-attempt';
import { recordReviewFailure } from '../shared/usecases/review';
import { dispatchDeps, handlerContainer } from './commons/clients';
import { instrument, observability } from './commons/observability';

const obs = observability('record-attempt');
const container = handlerContainer(obs);
const deps = {
  store: container.taskStore,
  agents: container.agentRegistry,
  clock: container.clock,
  catalog: container.catalog,
  callbacks: container.callbacks,
  ledger: container.budgetLedger,
  handOff: dispatchDeps(container),
};

export const handler = instrument(
  obs,
  'record-attempt',
  async (event: unknown): Promise<RecordAttemptOutput | { recorded: true }> => {
    if (typeof event === 'object' && event !== null && 'reviewer' in event) {
      // RecordReview: a validator's review gave no verdict; RouteReview asks another (or fails the attempt).
      const input = RecordReviewInputSchema.parse(event);
      await recordReviewFailure(deps, input);
      obs.metrics.addMetric('ReviewsFailed', MetricUnit.Count, 1);
      obs.logger.warn('review failed', {
        batchId: input.batchId,
        taskId: input.taskId,
        ...input.reviewer,
        error: input.error,
      });
      return { recorded: true };
    }
    const input = RecordAttemptInputSchema.parse(event);
    const output = await recordAttempt(deps, input);
    obs.metrics.addMetric('AttemptsFailed', MetricUnit.Count, 1);
    obs.logger.warn('attempt failed', { ...input, ...output });
    return output;
  },
);
