/** POST /batches: validate and start a batch; 202 {batchId, statusUrl}. */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { z } from 'zod';
import { submitBatch } from '../shared/usecases/submit';
import { handlerContainer } from './commons/clients';
import { type ApiEvent, apiUrl, bodyText, errorResponse, header, json, parseRequest } from './commons/http';
import { instrument, observability } from './commons/observability';

const obs = observability('submit');
const container = handlerContainer(obs);
const deps = {
  store: container.taskStore,
  orchestrator: container.orchestrator,
  catalog: container.catalog,
  clock: container.clock,
  ids: container.ids,
  ledger: container.budgetLedger,
  ...(container.costs.config.budget ? { defaultBudget: container.costs.config.budget } : {}),
};

/** Idempotency keys end up in a DynamoDB key: printable, bounded. */
const IdempotencyKeySchema = z
  .string()
  .regex(/^[\x21-\x7e]{1,255}$/, 'Idempotency-Key must be 1-255 printable characters');

export const handler = instrument(obs, 'submit', async (event: ApiEvent) => {
  try {
    const key = header(event, 'idempotency-key');
    const idempotencyKey =
      key === undefined ? undefined : parseRequest(IdempotencyKeySchema, key, '$.headers.Idempotency-Key');
    const result = await submitBatch(deps, {
      body: bodyText(event),
      ...(idempotencyKey !== undefined ? { idempotencyKey } : {}),
    });
    if (result.created) obs.metrics.addMetric('BatchesSubmitted', MetricUnit.Count, 1);
    obs.logger.info('batch accepted', { batchId: result.batchId, created: result.created });
    const statusPath = `/batches/${encodeURIComponent(result.batchId)}`;
    return json(
      202,
      { batchId: result.batchId, statusUrl: apiUrl(event, statusPath) },
      { location: statusPath },
    );
  } catch (error) {
    return errorResponse(error, obs.logger);
  }
});
