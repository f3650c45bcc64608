/** RecordAttempt state (Dispatch's Catch): end the failed attempt and decide on a retry. */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { RecordAttemptInputSchema, type RecordAttemptOutput } from '../shared/domain/workflow';
import { recordAttempt } from '../shared/usecases/record-attempt';
import { handlerContainer } from './commons/clients';
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
};

export const handler = instrument(
  obs,
  'record-attempt',
  async (event: unknown): Promise<RecordAttemptOutput> => {
    const input = RecordAttemptInputSchema.parse(event);
    const output = await recordAttempt(deps, input);
    obs.metrics.addMetric('AttemptsFailed', MetricUnit.Count, 1);
    obs.logger.warn('attempt failed', { ...input, ...output });
    return output;
  },
);
