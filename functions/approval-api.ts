/** POST /batches/{id}/tasks/{taskId}/approval: a person approves or rejects a waiting task. */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { ApprovalDecisionSchema } from '../shared/domain/approvals';
import { decideApproval } from '../shared/usecases/approval';
import { handlerContainer } from './commons/clients';
import {
  type ApiEvent,
  bodyText,
  callerOf,
  errorResponse,
  json,
  PathIdSchema,
  parseJsonBody,
  parseRequest,
} from './commons/http';
import { instrument, observability } from './commons/observability';

const obs = observability('approval-api');
const container = handlerContainer(obs);
const deps = { store: container.taskStore, callbacks: container.callbacks, clock: container.clock };

export const handler = instrument(obs, 'approval-api', async (event: ApiEvent) => {
  try {
    const batchId = parseRequest(PathIdSchema, event.pathParameters?.id, '$.path.id');
    const taskId = parseRequest(PathIdSchema, event.pathParameters?.taskId, '$.path.taskId');
    const body = parseRequest(ApprovalDecisionSchema, parseJsonBody(bodyText(event)));
    const result = await decideApproval(deps, { batchId, taskId, ...body, caller: callerOf(event) });
    obs.metrics.addMetric(
      body.decision === 'approve' ? 'ApprovalsApproved' : 'ApprovalsRejected',
      MetricUnit.Count,
      1,
    );
    return json(200, result);
  } catch (error) {
    return errorResponse(error, obs.logger);
  }
});
