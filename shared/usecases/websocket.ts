/** WebSocket routes: subscribe a connection to a batch's progress, forget it on disconnect. */
import { type Clock, NotFoundError, type SubscriptionStore, type TaskStore } from '../ports';

/** Subscribes a connection to a batch (404 when the batch is unknown). */
export async function subscribeToBatch(
  deps: { store: TaskStore; subscriptions: SubscriptionStore; clock: Clock },
  connectionId: string,
  batchId: string,
): Promise<void> {
  if (!(await deps.store.getBatch(batchId))) throw new NotFoundError('batch', batchId);
  await deps.subscriptions.subscribe(connectionId, batchId, deps.clock.now());
}

/** Forgets every subscription of a closed connection. */
export async function disconnect(
  deps: { subscriptions: SubscriptionStore },
  connectionId: string,
): Promise<void> {
  await deps.subscriptions.unsubscribeAll(connectionId);
}
