/**
 * GET /batches/{id}/tasks/{taskId}/output: the task's whole output (its JSON, `application/json`), or a 303
 * redirect to a presigned download URL when it is larger than the API may answer (OUTPUT_RESPONSE_MAX_BYTES).
 */
import { z } from 'zod';
import { getTaskOutput } from '../shared/usecases/output';
import { handlerContainer } from './commons/clients';
import { type ApiEvent, answer, errorResponse, json, PathIdSchema, parseRequest } from './commons/http';
import { instrument, observability } from './commons/observability';

const obs = observability('output');
const container = handlerContainer(obs);
const deps = { store: container.taskStore, artifacts: container.artifacts };

const PathSchema = z.object({ id: PathIdSchema, taskId: PathIdSchema });

export const handler = instrument(obs, 'output', async (event: ApiEvent) => {
  try {
    const { id, taskId } = parseRequest(PathSchema, event.pathParameters ?? {}, '$.path');
    const output = await getTaskOutput(deps, id, taskId);
    if (output.kind === 'body') {
      return answer(200, output.json, {
        'content-type': 'application/json',
        ...(output.ref ? { 'x-output-sha256': output.ref.sha256 } : {}),
      });
    }
    return json(
      303,
      {
        location: output.url,
        expiresInSeconds: output.expiresInSeconds,
        outputRef: output.ref,
        message: 'the output is larger than this API answers; download it from location',
      },
      { location: output.url, 'x-output-sha256': output.ref.sha256 },
    );
  } catch (error) {
    return errorResponse(error, obs.logger);
  }
});
