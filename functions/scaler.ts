/** Scheduled scaler (minimal; see shared/usecases/scaler.ts for what it does and does not do). */
import { scaleAgents } from '../shared/usecases/scaler';
import { handlerContainer } from './commons/clients';
import { instrument, observability } from './commons/observability';

const obs = observability('scaler');
const container = handlerContainer(obs);
const deps = { agents: container.agentRegistry, catalog: container.catalog, clock: container.clock };

export const handler = instrument(obs, 'scaler', async (_event: unknown) => {
  const result = await scaleAgents(deps);
  obs.logger.info('scaled', { terminated: result.terminated });
  return result;
});
