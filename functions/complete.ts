/**
 * CompleteTask / FailTask / SkipTask states: final task status, agent metrics, dependents released.
 * ExpansionFailed: the tasks of an expansion whose nested execution failed FAIL, their dependents released.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { CompleteInputSchema, ExpansionFailedInputSchema } from '../shared/domain/workflow';
import { completeTask } from '../shared/usecases/complete';
import { failExpansion } from '../shared/usecases/expansion-failure';
import { completeDeps, handlerContainer } from './commons/clients';
import { instrument, observability } from './commons/observability';

const obs = observability('complete');
const deps = completeDeps(handlerContainer(obs));

export const handler = instrument(obs, 'complete', async (event: unknown) => {
  const failure = ExpansionFailedInputSchema.safeParse(event);
  if (failure.success) {
    const result = await failExpansion(deps, failure.data);
    if (result.failed.length > 0)
      obs.metrics.addMetric('TasksFAILED', MetricUnit.Count, result.failed.length);
    obs.logger.warn('expansion failed', { ...failure.data, ...result });
    return result;
  }
  const input = CompleteInputSchema.parse(event);
  const result = await completeTask(deps, input);
  if (result.transitioned) obs.metrics.addMetric(`Tasks${input.outcome}`, MetricUnit.Count, 1);
  obs.logger.info('task complete', { ...input, ...result });
  return result;
});
