/**
 * Finalize state: the batch's status and makespan. Also the target of Step Functions' status change events
 * for executions that ended otherwise than by succeeding (an EventBridge rule): such a batch never reached
 * this state, and is ended here as interrupted (usecases/interrupted.ts endStoppedExecution).
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { executionInputOf } from '../shared/adapters/sfn/orchestrator';
import {
  batchIdOfExecutionInput,
  ExecutionStatusChangeSchema,
  FinalizeInputSchema,
} from '../shared/domain/workflow';
import { finalizeBatch } from '../shared/usecases/finalize';
import { endStoppedExecution } from '../shared/usecases/interrupted';
import { handlerContainer } from './commons/clients';
import { instrument, observability } from './commons/observability';

const obs = observability('finalize');
const container = handlerContainer(obs);
const deps = { store: container.taskStore, clock: container.clock, ledger: container.budgetLedger };

export const handler = instrument(obs, 'finalize', async (event: unknown) => {
  const change = ExecutionStatusChangeSchema.safeParse(event);
  if (change.success) {
    const { executionArn, status, input, error, cause } = change.data.detail;
    // The event leaves the input out when it would be too large (a batch of many long ids).
    const batchId = batchIdOfExecutionInput(
      input ?? (await executionInputOf(container.sfnClient, executionArn)) ?? '',
    );
    const ended =
      batchId !== undefined &&
      (await endStoppedExecution(
        { ...deps, agents: container.agentRegistry },
        {
          executionArn,
          batchId,
          status,
          ...(error ? { error } : {}),
          ...(cause ? { cause } : {}),
        },
      ));
    obs.logger.info('execution ended without its Finalize', { executionArn, status, batchId, ended });
    if (ended) obs.metrics.addMetric('BatchesInterrupted', MetricUnit.Count, 1);
    return { executionArn, batchId, ended };
  }
  const input = FinalizeInputSchema.parse(event);
  const result = await finalizeBatch(deps, input);
  obs.metrics.addMetric(`Batches${result.status}`, MetricUnit.Count, 1);
  if (result.makespanMs !== undefined)
    obs.metrics.addMetric('MakespanMs', MetricUnit.Milliseconds, result.makespanMs);
  obs.logger.info('batch finalized', {
    batchId: result.batchId,
    status: result.status,
    makespanMs: result.makespanMs,
  });
  return result;
});
