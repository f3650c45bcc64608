/**
 * Route state: DISPATCH to an agent's role queue, WAIT for capacity, or STOP. The WaitForCapacity and
 * WaitForReviewer states invoke the same function with their task token, which is parked until a slot frees
 * (see parkTask); RouteReview routes the review of an output to a validator agent (see routeReview).
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import {
  ParkInputSchema,
  RouteInputSchema,
  type RouteOutput,
  RouteReviewInputSchema,
  type RouteReviewOutput,
} from '../shared/domain/workflow';
import { routeReview } from '../shared/usecases/review';
import { parkTask, routeTask } from '../shared/usecases/route';
import { dispatchDeps, handlerContainer } from './commons/clients';
import { instrument, observability } from './commons/observability';

const obs = observability('route');
const container = handlerContainer(obs);
const deps = {
  store: container.taskStore,
  agents: container.agentRegistry,
  clock: container.clock,
  ...dispatchDeps(container),
  ...(container.routing.assist ? { assist: container.routing.assist } : {}),
  callbacks: container.callbacks,
};

export const handler = instrument(
  obs,
  'route',
  async (event: unknown): Promise<RouteOutput | RouteReviewOutput | { parked: boolean }> => {
    if (typeof event === 'object' && event !== null && 'taskToken' in event) {
      const input = ParkInputSchema.parse(event);
      const parked = await parkTask(deps, input);
      obs.metrics.addMetric(parked.parked ? 'Parked' : 'ParkMissed', MetricUnit.Count, 1);
      obs.logger.info('parked', {
        batchId: input.batchId,
        taskId: input.taskId,
        role: input.role,
        ...parked,
      });
      return parked;
    }
    if (typeof event === 'object' && event !== null && 'review' in event) {
      // RouteReview: the review of an output by an agent of the task's validator role (approval.after.by).
      const input = RouteReviewInputSchema.parse(event);
      const output = await routeReview(deps, input);
      obs.metrics.addMetric(`RouteReview${output.decision}`, MetricUnit.Count, 1);
      obs.logger.info('review routed', { batchId: input.batchId, taskId: input.taskId, ...output });
      return output;
    }
    const input = RouteInputSchema.parse(event);
    const output = await routeTask(deps, input);
    obs.metrics.addMetric(`Route${output.decision}`, MetricUnit.Count, 1);
    obs.logger.info('routed', { ...input, ...output });
    return output;
  },
);
