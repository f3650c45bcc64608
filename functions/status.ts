/**
 * The batch read routes: GET /batches (the list, newest first), GET /batches/{id} (the result so far),
 * GET /batches/{id}/graph (its dependency graph), GET /batches/{id}/tasks/{taskId} (one task in full) and
 * GET /batches/{id}/decisions (every task's routing decision, for replay). One read-only function: they share
 * their permissions (reads of the tasks table) and their callers.
 */
import { z } from 'zod';
import { MAX_BATCH_PAGE_SIZE, MAX_CURSOR_CHARS } from '../shared/domain/limits';
import { TaskIdSchema } from '../shared/domain/schemas';
import {
  getBatchDecisions,
  getBatchGraph,
  getTaskDetail,
  listBatches,
} from '../shared/usecases/read-batches';
import { getBatchStatus } from '../shared/usecases/status';
import { handlerContainer } from './commons/clients';
import { type ApiEvent, errorResponse, json, PathIdSchema, parseRequest } from './commons/http';
import { instrument, observability } from './commons/observability';

const obs = observability('status');
const container = handlerContainer(obs);
const deps = { store: container.taskStore, ledger: container.budgetLedger };

/**
 * `?limit=&cursor=` of GET /batches. The limit is decimal digits only: a coercion through Number() would take
 * `0x10`, `1e1` or ` 5` for 16, 10 and 5.
 */
const BatchPageQuerySchema = z
  .object({
    limit: z
      .string()
      .regex(/^\d{1,9}$/, `must be a whole number from 1 to ${MAX_BATCH_PAGE_SIZE} in decimal digits`)
      .transform(Number)
      .pipe(z.number().int().min(1).max(MAX_BATCH_PAGE_SIZE))
      .optional(),
    cursor: z.string().min(1).max(MAX_CURSOR_CHARS).optional(),
  })
  .strict();

export const handler = instrument(obs, 'status', async (event: ApiEvent) => {
  try {
    const batchParam = event.pathParameters?.id ?? event.pathParameters?.batchId;
    if (batchParam === undefined) {
      const query = parseRequest(BatchPageQuerySchema, event.queryStringParameters ?? {}, '$.query');
      return json(200, await listBatches(deps, query));
    }
    const batchId = parseRequest(PathIdSchema, batchParam, '$.path.id');
    const resource = 'resource' in event ? event.resource : event.routeKey;
    if (resource.endsWith('/graph')) return json(200, await getBatchGraph(deps, batchId));
    if (resource.endsWith('/decisions')) return json(200, await getBatchDecisions(deps, batchId));
    const taskParam = event.pathParameters?.taskId;
    if (taskParam !== undefined) {
      const taskId = parseRequest(TaskIdSchema, taskParam, '$.path.taskId');
      return json(200, await getTaskDetail(deps, batchId, taskId));
    }
    return json(200, await getBatchStatus(deps, batchId));
  } catch (error) {
    return errorResponse(error, obs.logger);
  }
});
