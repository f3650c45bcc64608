/** DELETE /batches/{id}: cancel a running batch. */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { cancelBatch } from '../shared/usecases/cancel';
import { handlerContainer } from './commons/clients';
import { type ApiEvent, errorResponse, json, PathIdSchema, parseRequest } from './commons/http';
import { instrument, observability } from './commons/observability';

const obs = observability('cancel');
const container = handlerContainer(obs);
const deps = {
  store: container.taskStore,
  agents: container.agentRegistry,
  orchestrator: container.orchestrator,
  clock: container.clock,
  ledger: container.budgetLedger,
};

export const handler = instrument(obs, 'cancel', async (event: ApiEvent) => {
  try {
    const batchId = parseRequest(
      PathIdSchema,
      event.pathParameters?.id ?? event.pathParameters?.batchId,
      '$.path.id',
    );
    const result = await cancelBatch(deps, batchId);
    obs.metrics.addMetric('BatchesCancelled', MetricUnit.Count, 1);
    return json(200, result);
  } catch (error) {
    return errorResponse(error, obs.logger);
  }
});
