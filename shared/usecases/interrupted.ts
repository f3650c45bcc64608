/**
 * Batches interrupted by a restart: `meta-agent serve --data-dir` keeps the store across restarts, but not the
 * executions of its in-process Step Functions (nor the role queues' messages, nor a worker's running call),
 * so a batch that was RUNNING when the server stopped can never finish by itself. At start every such batch
 * is ended: each unfinished task FAILS with the reason (its open attempt too, its agent's slot given back),
 * and the batch is finalized (FAILED or PARTIAL), so it reads whole and can be redriven.
 */

import { MAX_BATCH_PAGE_SIZE } from '../domain/limits';
import { leaseKey } from '../domain/pool';
import type { AgentRegistry, BudgetLedger, Clock, TaskStore } from '../ports';
import { settleAttempt } from './budget';
import { isTerminal } from './common';
import { finalizeBatch } from './finalize';

export interface InterruptedDeps {
  readonly store: TaskStore;
  readonly agents: AgentRegistry;
  readonly clock: Clock;
  /** Budget ledgers: an open attempt's hold is settled (at what it held), so a redrive starts from the truth. */
  readonly ledger?: BudgetLedger;
}

/** Ends every RUNNING batch as interrupted with `reason`; answers their ids. */
export async function endInterruptedBatches(deps: InterruptedDeps, reason: string): Promise<string[]> {
  const running: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await deps.store.listBatches({
      limit: MAX_BATCH_PAGE_SIZE,
      ...(cursor !== undefined ? { cursor } : {}),
    });
    for (const batch of page.batches) if (batch.status === 'RUNNING') running.push(batch.batchId);
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  for (const batchId of running) await endInterruptedBatch(deps, batchId, reason);
  return running;
}

async function endInterruptedBatch(deps: InterruptedDeps, batchId: string, reason: string): Promise<void> {
  const batch = await deps.store.getBatch(batchId);
  if (batch?.status !== 'RUNNING') return;
  // A submission cut short: its claim goes, the tasks it wrote end like the others.
  if (batch.creation !== undefined) {
    await deps.store.updateBatchCreation(batchId, batch.creation.owner, undefined);
  }
  const now = deps.clock.now();
  for (const task of await deps.store.listTasks(batchId)) {
    if (isTerminal(task.status)) continue;
    if (!(await deps.store.setTaskStatus(batchId, task.taskId, 'FAILED', { reason, at: now }))) continue;
    const last = task.attempts[task.attemptCount - 1];
    if (last?.status !== 'RUNNING' && last?.status !== 'AWAITING_APPROVAL') continue;
    const ended = await deps.store.finishAttempt(batchId, task.taskId, task.attemptCount, {
      status: 'FAILED',
      at: now,
      error: reason,
    });
    if (ended)
      await Promise.all([
        deps.agents.release(last.agentId, now, leaseKey(batchId, task.taskId, task.attemptCount)),
        settleAttempt(deps.ledger, task, task.attemptCount),
      ]);
  }
  await finalizeBatch(deps, { batchId });
}
