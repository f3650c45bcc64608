/**
 * Gate (dependency gate protocol, ARCHITECTURE.md): arm the token while dependencies are pending; when
 * none is, answer the token at once. The Complete of the last dependency answers an armed token.
 */
import type { GateInput, GateOutput } from '../domain/workflow';
import { type Callbacks, NotFoundError, type TaskStore } from '../ports';
import { gateOutput, isTerminal } from './common';

export interface GateDeps {
  store: TaskStore;
  callbacks: Callbacks;
}

/** `armed`: the token waits for the last dependency; otherwise the answer sent. */
export type GateResult = { armed: true } | { armed: false; output: GateOutput };

/**
 * Arms the gate or answers the token at once (proceed only when no dependency failed and the batch runs).
 * Arming comes first: while dependencies are pending (the common case, every dependent arms at the start of
 * a batch) it is the only call. Only a gate that could not arm reads the batch and the task to answer.
 */
export async function gateTask(deps: GateDeps, input: GateInput): Promise<GateResult> {
  if (await deps.store.armGate(input.batchId, input.taskId, input.taskToken)) return { armed: true };
  // Every dependency has finished (failedDeps is final) or the task ended: answer with a consistent read.
  const [batch, task] = await Promise.all([
    deps.store.getBatchState(input.batchId),
    deps.store.getTask(input.batchId, input.taskId),
  ]);
  if (!batch) throw new NotFoundError('batch', input.batchId);
  if (!task) throw new NotFoundError('task', `${input.batchId}/${input.taskId}`);
  let output: GateOutput;
  if (batch.cancelRequested) output = gateOutput(task.failedDeps, 'batch cancelled');
  else if (isTerminal(task.status)) output = gateOutput(task.failedDeps, `task already ${task.status}`);
  else output = gateOutput(task.failedDeps);
  await deps.callbacks.succeed(input.taskToken, output);
  return { armed: false, output };
}
