/**
 * Facts of the deployment that both infra/ (the CDK stack) and the embedded runtime use. Kept free of
 * aws-cdk-lib: the CLI runs a batch without loading the CDK (loading it costs seconds at every start).
 */
import { ItemType } from './adapters/dynamodb/keys';

/** Handler entries, fixed by the project layout: functions/<name>.ts exports `handler`. */
export const HANDLER_NAMES = [
  'submit',
  'status',
  'output',
  'cancel',
  'redrive',
  'agents-api',
  'gate',
  'route',
  'approval',
  'approval-api',
  'record-attempt',
  'complete',
  'finalize',
  'agent-worker',
  'notifier',
  'websocket',
  'progress-token',
  'scaler',
] as const;
export type HandlerName = (typeof HANDLER_NAMES)[number];

/**
 * Records per agent invocation: one message is one task that may run for minutes with its own heartbeat
 * and timeout; batching would make tasks share one invocation's timeout and run one after another, and
 * MaximumConcurrency (concurrent invocations) would no longer equal concurrent tasks. The embedded
 * runtime's pollers use the same value.
 */
export const AGENT_BATCH_SIZE = 1;

/**
 * Item types whose changes the notifier turns into progress messages (shared/usecases/notify.ts). Every item
 * of the tasks table carries its `type` (shared/adapters/dynamodb/keys.ts). Filtering on the key would not
 * do: subscriptions share the batch's `BATCH#<id>` partition, and each subscribe would invoke the notifier.
 * A removal has no new image, and the notifier ignores removals, so it is filtered out too.
 */
export const NOTIFIED_ITEM_TYPES: readonly string[] = [ItemType.Task, ItemType.Batch];
/** Stream records per notifier invocation: progress fan-out is cheap per record, so batch them. */
export const STREAM_BATCH_SIZE = 100;
/** Retries of a failing stream batch (halved each time by bisection) before it goes to the DLQ. */
export const STREAM_RETRY_ATTEMPTS = 3;
