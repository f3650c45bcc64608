/** POST /batches/{id}/redrive: run the failed, skipped and cancelled tasks again. */
import { redriveBatch } from '../shared/usecases/redrive';
import { handlerContainer } from './commons/clients';
import { type ApiEvent, apiUrl, errorResponse, json, PathIdSchema, parseRequest } from './commons/http';
import { instrument, observability } from './commons/observability';

const obs = observability('redrive');
const container = handlerContainer(obs);
const deps = { store: container.taskStore, orchestrator: container.orchestrator };

export const handler = instrument(obs, 'redrive', async (event: ApiEvent) => {
  try {
    const batchId = parseRequest(
      PathIdSchema,
      event.pathParameters?.id ?? event.pathParameters?.batchId,
      '$.path.id',
    );
    const result = await redriveBatch(deps, batchId);
    return json(202, { ...result, statusUrl: apiUrl(event, `/batches/${encodeURIComponent(batchId)}`) });
  } catch (error) {
    return errorResponse(error, obs.logger);
  }
});
