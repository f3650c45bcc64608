/**
 * Gate (dependency gate protocol, ARCHITECTURE.md): arm the token while the gate is not open under the task's
 * trigger rule; when it is open, answer the token at once. The Complete of the dependency whose release opens
 * the gate answers an armed token (the last one to finish, or for one_success the first to succeed).
 */
import type { GateInput, GateOutput, RouteOutput, TaskRef } from '../domain/workflow';
import { type Callbacks, NotFoundError, type TaskStore } from '../ports';
import { gateCountsOf, gateOutput, isTerminal } from './common';
import type { KnownState } from './route';

export interface GateDeps {
  store: TaskStore;
  callbacks: Callbacks;
  /**
   * Routes a task whose gate is open when it arms (its dependencies all ended first), from the task and batch
   * the gate just read; its output travels with the token (RoutedByGate), as a Complete that opens a gate
   * routes the dependent. None (or an error, or undefined): the task routes itself.
   */
  route?: (task: TaskRef, known: KnownState) => Promise<RouteOutput>;
}

/** `armed`: the token waits for the release that opens the gate; otherwise the answer sent. */
export type GateResult = { armed: true } | { armed: false; output: GateOutput };

/**
 * Arms the gate or answers the token at once (proceed as the task's trigger rule decides, and only while the
 * batch runs; with `route`, a task that proceeds is routed here). Arming comes first: while the gate is not open (the common case, every dependent arms at the
 * start of a batch) it is the only call. Only a gate that could not arm reads the batch and the task.
 */
export async function gateTask(deps: GateDeps, input: GateInput): Promise<GateResult> {
  if (await deps.store.armGate(input.batchId, input.taskId, input.taskToken)) return { armed: true };
  // The gate is open (its counters only move towards open) or the task ended: answer with a consistent read.
  const [batch, task] = await Promise.all([
    deps.store.getBatchState(input.batchId),
    deps.store.getTask(input.batchId, input.taskId),
  ]);
  if (!batch) throw new NotFoundError('batch', input.batchId);
  if (!task) throw new NotFoundError('task', `${input.batchId}/${input.taskId}`);
  const rule = task.task.trigger;
  const counts = gateCountsOf(task);
  let output: GateOutput;
  if (batch.cancelRequested) output = gateOutput(rule, counts, 'batch cancelled');
  else if (isTerminal(task.status)) output = gateOutput(rule, counts, `task already ${task.status}`);
  else output = gateOutput(rule, counts);
  if (output.proceed && deps.route) {
    const ref = { batchId: input.batchId, taskId: input.taskId };
    const route = await deps.route(ref, { task, batch: Promise.resolve(batch) }).catch(() => undefined);
    if (route) output = { ...output, route };
  }
  await deps.callbacks.succeed(input.taskToken, output);
  return { armed: false, output };
}
