/**
 * CompleteTask / FailTask / SkipTask states: final task status, agent metrics, dependents released.
 * ExpansionFailed: the tasks of an expansion whose nested execution failed FAIL, their dependents released.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { CompleteInputSchema, ExpansionFailedInputSchema } from '../shared/domain/workflow';
import { completeTask } from '../shared/usecases/complete';
import { failExpansion } from '../shared/usecases/expansion-failure';
import { dispatchDeps, handlerContainer, storeQuietWait } from './commons/clients';
import { instrument, observability } from './commons/observability';

const obs = observability('complete');
const container = handlerContainer(obs);
const quiet = storeQuietWait();
const deps = {
  store: container.taskStore,
  agents: container.agentRegistry,
  callbacks: container.callbacks,
  catalog: container.catalog,
  clock: container.clock,
  ledger: container.budgetLedger,
  // A successful attempt's slot goes straight to a task parked for its agent's role (capacity hand-off), and
  // a dependent whose gate opens is routed here, unless routing asks a model (the router's alone).
  handOff: { ...dispatchDeps(container), routeDependents: container.routing.assist === undefined },
  // On the embedded runtime only (its store answers on one thread): see EnvVar.SingleThreadedStore.
  ...(quiet ? { bookkeepingAfterRoutes: { whenQuiet: quiet }, releasesAfterStatusWrite: true } : {}),
  // Read only for an expanding task's plan too large for the task item: resolved on first use.
  get artifacts() {
    return container.artifacts;
  },
};

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
