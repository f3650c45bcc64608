/**
 * Route state: DISPATCH to an agent's role queue, WAIT for capacity, or STOP. The WaitForCapacity state
 * invokes the same function with its task token, which is parked until a slot frees (see parkTask).
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { ParkInputSchema, RouteInputSchema, type RouteOutput } from '../shared/domain/workflow';
import { parkTask, routeTask } from '../shared/usecases/route';
import { handlerContainer } from './commons/clients';
import { instrument, observability } from './commons/observability';

const obs = observability('route');
const container = handlerContainer(obs);
const deps = {
  store: container.taskStore,
  agents: container.agentRegistry,
  catalog: container.catalog,
  clock: container.clock,
  roleQueueUrls: container.roleQueueUrls,
  heartbeatSeconds: container.heartbeatSeconds,
  ...container.routing,
  budget: { ledger: container.budgetLedger, prices: container.costs.prices },
  callbacks: container.callbacks,
};

export const handler = instrument(
  obs,
  'route',
  async (event: unknown): Promise<RouteOutput | { parked: boolean }> => {
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
    const input = RouteInputSchema.parse(event);
    const output = await routeTask(deps, input);
    obs.metrics.addMetric(`Route${output.decision}`, MetricUnit.Count, 1);
    obs.logger.info('routed', { ...input, ...output });
    return output;
  },
);
