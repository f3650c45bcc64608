/** AwaitApproval / AwaitReview states (lambda:invoke.waitForTaskToken): the task waits for a decision. */
import { ApprovalWaitInputSchema } from '../shared/domain/workflow';
import { awaitApproval } from '../shared/usecases/approval';
import { handlerContainer } from './commons/clients';
import { instrument, observability } from './commons/observability';

const obs = observability('approval');
const container = handlerContainer(obs);
const deps = {
  store: container.taskStore,
  agents: container.agentRegistry,
  callbacks: container.callbacks,
  clock: container.clock,
};

export const handler = instrument(obs, 'approval', async (event: unknown) => {
  const input = ApprovalWaitInputSchema.parse(event);
  const result = await awaitApproval(deps, input);
  obs.logger.info('approval wait', {
    batchId: input.batchId,
    taskId: input.taskId,
    stage: input.stage,
    ...result,
  });
  return result;
});
