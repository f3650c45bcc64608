/** POST /batches/{id}/redrive: run the failed, skipped and cancelled tasks again. */
import { RedriveRequestSchema, redriveBatch } from '../shared/usecases/redrive';
import { handlerContainer } from './commons/clients';
import {
  type ApiEvent,
  apiUrl,
  bodyText,
  errorResponse,
  json,
  PathIdSchema,
  parseJsonBody,
  parseRequest,
} from './commons/http';
import { instrument, observability } from './commons/observability';

const obs = observability('redrive');
const container = handlerContainer(obs);
const deps = {
  store: container.taskStore,
  orchestrator: container.orchestrator,
  ledger: container.budgetLedger,
};

export const handler = instrument(obs, 'redrive', async (event: ApiEvent) => {
  try {
    const batchId = parseRequest(
      PathIdSchema,
      event.pathParameters?.id ?? event.pathParameters?.batchId,
      '$.path.id',
    );
    // An empty body (or none) redrives as the batch was; `{"budget": {...}}` raises its budget first.
    const text = bodyText(event);
    const request = parseRequest(RedriveRequestSchema, text.trim() === '' ? {} : parseJsonBody(text));
    const result = await redriveBatch(deps, batchId, request);
    return json(202, { ...result, statusUrl: apiUrl(event, `/batches/${encodeURIComponent(batchId)}`) });
  } catch (error) {
    return errorResponse(error, obs.logger);
  }
});
