/**
 * Progress notifications: a changed task or batch item becomes a small message, pushed to every
 * WebSocket connection subscribed to its batch. Gone connections lose their subscriptions.
 */
import type { ApprovalRecord, Attempt, ExtractedRequirements, TaskStatus, Usage } from '../domain/schemas';
import type { ConnectionNotifier, SubscriptionStore } from '../ports';
import { taskSpend } from './batch-result';
import { isTerminal } from './common';

export type ProgressMessage =
  | {
      type: 'task';
      batchId: string;
      taskId: string;
      status: string;
      agentId?: string;
      attempt?: number;
      reason?: string;
      /** Once the task ended: its totals as its result shows them (cost null: a price is unknown). */
      usage?: Usage;
      costUsd?: number | null;
    }
  | {
      type: 'batch';
      batchId: string;
      status: string;
      finishedAt?: number;
      makespanMs?: number;
      /** Once the batch ended: the tokens and cost of all its attempts. */
      usage?: Usage;
      costUsd?: number | null;
    };

type Image = Record<string, unknown> | undefined;

/**
 * The message for one item change, or undefined when nothing a watcher cares about changed (a heartbeat
 * claim, a gate token) or the item is not a task or batch.
 */
export function progressFromImages(newImage: Image, oldImage: Image): ProgressMessage | undefined {
  if (!newImage) return undefined;
  const type = newImage.type;
  const same = (field: string) => oldImage !== undefined && oldImage[field] === newImage[field];
  if (type === 'task') {
    if (same('status') && same('attemptCount')) return undefined;
    return {
      type: 'task',
      batchId: String(newImage.batchId),
      taskId: String(newImage.taskId),
      status: String(newImage.status),
      ...(typeof newImage.agentId === 'string' ? { agentId: newImage.agentId } : {}),
      ...(typeof newImage.attemptCount === 'number' && newImage.attemptCount > 0
        ? { attempt: newImage.attemptCount }
        : {}),
      ...(typeof newImage.reason === 'string' ? { reason: newImage.reason } : {}),
      // The task's totals as its result shows them: its attempts, its validators' reviews, its routing question.
      ...(isTerminal(newImage.status as TaskStatus) && Array.isArray(newImage.attempts)
        ? taskSpend({
            attempts: newImage.attempts as Attempt[],
            ...(Array.isArray(newImage.approvals)
              ? { approvals: newImage.approvals as ApprovalRecord[] }
              : {}),
            ...(typeof newImage.requirements === 'object' && newImage.requirements !== null
              ? { requirements: newImage.requirements as ExtractedRequirements }
              : {}),
          })
        : {}),
    };
  }
  if (type === 'batch') {
    if (same('status')) return undefined;
    return {
      type: 'batch',
      batchId: String(newImage.batchId),
      status: String(newImage.status),
      ...(typeof newImage.finishedAt === 'number' ? { finishedAt: newImage.finishedAt } : {}),
      ...(typeof newImage.makespanMs === 'number' ? { makespanMs: newImage.makespanMs } : {}),
      ...(typeof newImage.usage === 'object' && newImage.usage !== null
        ? { usage: newImage.usage as Usage }
        : {}),
      ...(typeof newImage.costUsd === 'number' || newImage.costUsd === null
        ? { costUsd: newImage.costUsd as number | null }
        : {}),
    };
  }
  return undefined;
}

/** Sends each message to its batch's subscribers; returns how many posts were delivered. */
export async function notifySubscribers(
  deps: { subscriptions: SubscriptionStore; notifier: ConnectionNotifier },
  messages: readonly ProgressMessage[],
): Promise<{ delivered: number; gone: number }> {
  const byBatch = new Map<string, ProgressMessage[]>();
  for (const m of messages) byBatch.set(m.batchId, [...(byBatch.get(m.batchId) ?? []), m]);
  let delivered = 0;
  let gone = 0;
  for (const [batchId, batchMessages] of byBatch) {
    const connections = await deps.subscriptions.subscribers(batchId);
    await Promise.all(
      connections.map(async (connectionId) => {
        for (const message of batchMessages) {
          if (await deps.notifier.post(connectionId, message)) delivered++;
          else {
            gone++;
            await deps.subscriptions.unsubscribe(connectionId, batchId);
            return;
          }
        }
      }),
    );
  }
  return { delivered, gone };
}
