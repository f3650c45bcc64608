/** Finalize state: the batch's status and makespan. */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { FinalizeInputSchema } from '../shared/domain/workflow';
import { finalizeBatch } from '../shared/usecases/finalize';
import { handlerContainer } from './commons/clients';
import { instrument, observability } from './commons/observability';

const obs = observability('finalize');
const container = handlerContainer(obs);
const deps = { store: container.taskStore, clock: container.clock, ledger: container.budgetLedger };

export const handler = instrument(obs, 'finalize', async (event: unknown) => {
  const input = FinalizeInputSchema.parse(event);
  const result = await finalizeBatch(deps, input);
  obs.metrics.addMetric(`Batches${result.status}`, MetricUnit.Count, 1);
  if (result.makespanMs !== undefined)
    obs.metrics.addMetric('MakespanMs', MetricUnit.Milliseconds, result.makespanMs);
  obs.logger.info('batch finalized', {
    batchId: result.batchId,
    status: result.status,
    makespanMs: result.makespanMs,
  });
  return result;
});
