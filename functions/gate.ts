/** Gate state (lambda:invoke.waitForTaskToken): arm the task's gate or answer the token at once. */
import { GateInputSchema } from '../shared/domain/workflow';
import { type GateDeps, gateTask } from '../shared/usecases/gate';
import { routeTask } from '../shared/usecases/route';
import { dispatchDeps, handlerContainer } from './commons/clients';
import { instrument, observability } from './commons/observability';

const obs = observability('gate');
const container = handlerContainer(obs);
const routeDeps = {
  ...dispatchDeps(container),
  store: container.taskStore,
  agents: container.agentRegistry,
  clock: container.clock,
  callbacks: container.callbacks,
};
const deps: GateDeps = {
  store: container.taskStore,
  callbacks: container.callbacks,
  // A task whose dependencies all ended before its gate armed is routed here (one Lambda invocation and two
  // state transitions fewer), unless routing asks a model (the router's alone), as Complete does.
  ...(container.routing.assist === undefined
    ? { route: (task, known) => routeTask(routeDeps, task, known) }
    : {}),
};

export const handler = instrument(obs, 'gate', async (event: unknown) => {
  const input = GateInputSchema.parse(event);
  const result = await gateTask(deps, input);
  obs.logger.info('gate', { batchId: input.batchId, taskId: input.taskId, ...result });
  return result;
});
