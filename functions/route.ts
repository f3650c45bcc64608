/** Route state: DISPATCH to an agent's role queue, WAIT for capacity, or STOP. */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { RouteInputSchema, type RouteOutput } from '../shared/domain/workflow';
import { routeTask } from '../shared/usecases/route';
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
};

export const handler = instrument(obs, 'route', async (event: unknown): Promise<RouteOutput> => {
  const input = RouteInputSchema.parse(event);
  const output = await routeTask(deps, input);
  obs.metrics.addMetric(`Route${output.decision}`, MetricUnit.Count, 1);
  obs.logger.info('routed', { ...input, ...output });
  return output;
});
