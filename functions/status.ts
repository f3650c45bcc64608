/** GET /batches/{id}: the batch result so far. */
import { getBatchStatus } from '../shared/usecases/status';
import { handlerContainer } from './commons/clients';
import { type ApiEvent, errorResponse, json, PathIdSchema, parseRequest } from './commons/http';
import { instrument, observability } from './commons/observability';

const obs = observability('status');
const container = handlerContainer(obs);
const deps = { store: container.taskStore };

export const handler = instrument(obs, 'status', async (event: ApiEvent) => {
  try {
    const batchId = parseRequest(
      PathIdSchema,
      event.pathParameters?.id ?? event.pathParameters?.batchId,
      '$.path.id',
    );
    return json(200, await getBatchStatus(deps, batchId));
  } catch (error) {
    return errorResponse(error, obs.logger);
  }
});
