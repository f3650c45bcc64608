/** Gate state (lambda:invoke.waitForTaskToken): arm the task's gate or answer the token at once. */
import { GateInputSchema } from '../shared/domain/workflow';
import { gateTask } from '../shared/usecases/gate';
import { handlerContainer } from './commons/clients';
import { instrument, observability } from './commons/observability';

const obs = observability('gate');
const container = handlerContainer(obs);
const deps = { store: container.taskStore, callbacks: container.callbacks };

export const handler = instrument(obs, 'gate', async (event: unknown) => {
  const input = GateInputSchema.parse(event);
  const result = await gateTask(deps, input);
  obs.logger.info('gate', { batchId: input.batchId, taskId: input.taskId, ...result });
  return result;
});
