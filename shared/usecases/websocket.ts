/** WebSocket routes: subscribe a connection to a batch's progress, forget it on disconnect. */
import type { BatchStatus } from '../domain/schemas';
import { type Clock, NotFoundError, type SubscriptionStore, type TaskStore } from '../ports';

/**
 * Subscribes a connection to a batch (404 when the batch is unknown) and answers the batch's status as it
 * was read: a batch that is no longer RUNNING sends no more messages (its `batch` message is past), so a
 * client waiting for one would wait forever without it.
 */
export async function subscribeToBatch(
  deps: { store: TaskStore; subscriptions: SubscriptionStore; clock: Clock },
  connectionId: string,
  batchId: string,
): Promise<{ status: BatchStatus }> {
  const batch = await deps.store.getBatch(batchId);
  if (!batch) throw new NotFoundError('batch', batchId);
  await deps.subscriptions.subscribe(connectionId, batchId, deps.clock.now());
  return { status: batch.status };
}

/** Forgets every subscription of a closed connection. */
export async function disconnect(
  deps: { subscriptions: SubscriptionStore },
  connectionId: string,
): Promise<void> {
  await deps.subscriptions.unsubscribeAll(connectionId);
}
