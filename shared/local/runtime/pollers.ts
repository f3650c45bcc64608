/**
 * Per-role SQS pollers that behave like Lambda's event source mapping with ReportBatchItemFailures and
 * ScalingConfig.MaximumConcurrency: long-poll the role queue, invoke the handler with a real SQSEvent, keep
 * at most the role's maximum concurrency of invocations in flight, delete the records that succeeded and
 * leave the others to reappear after the visibility timeout (fauxqs moves them to the dead-letter queue
 * after maxReceiveCount receives, from its RedrivePolicy).
 *
 * Like Lambda's pollers, a receive asks for as many messages as the free slots can take (up to 10) and
 * splits them into invocations of the batch size, and deletes are sent in batches of up to 10 for all of
 * a role's invocations that ended within DELETE_COALESCE_MS. With one-record batches (the agent queues) a
 * busy queue used to cost a ReceiveMessage and a DeleteMessageBatch per message.
 */
import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSMessageAttributes, SQSRecord } from 'aws-lambda';
import { type LambdaHandler, makeLambdaContext } from './lambda-context';

/**
 * Long-poll wait: SQS's longest, as Lambda's event source mapping polls. A receive returns as soon as a
 * message arrives, and stop() aborts the one in flight (fauxqs drops its waiters as it closes, right after);
 * a role's new maximum concurrency takes effect at its next receive. A short wait only cost an idle runtime
 * one receive per role every wait: with 22 roles and 1 s, about 20 ms of the main thread every second.
 */
export const POLL_WAIT_SECONDS = 20;
/** Records per invocation (CDK SqsEventSource's default batch size is 10; SQS receives at most 10). */
export const DEFAULT_BATCH_SIZE = 10;
const MAX_RECEIVE_BATCH = 10;
/** Processed records of a role wait at most this long to be deleted together with others. */
export const DELETE_COALESCE_MS = 10;
/** Pause after a failed receive, so a broken queue does not spin. */
const RECEIVE_ERROR_BACKOFF_MS = 200;
/** Errors kept for inspection: enough to debug, bounded for long runs. */
const MAX_KEPT_ERRORS = 100;
/** How long stop() waits for in-flight invocations before giving up on them. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 5_000;

/** An SQS-triggered handler; a `{ batchItemFailures }` result reports partial failures. */
export type SqsHandler = LambdaHandler<SQSEvent, unknown>;

/** Message ids the handler reported failed (ReportBatchItemFailures); any other result means none. */
function failedIds(response: unknown): Set<string> {
  const failures = (response as Partial<SQSBatchResponse> | null | undefined)?.batchItemFailures;
  if (!Array.isArray(failures)) return new Set();
  return new Set(failures.map((f) => String((f as { itemIdentifier?: unknown }).itemIdentifier)));
}

export interface PollerSource {
  readonly role: string;
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly handler: SqsHandler;
  readonly maxConcurrency: number;
  readonly batchSize?: number;
}

/** One handler invocation of a role queue, as an invocation observer sees it when it starts. */
export interface PollerInvocation {
  readonly role: string;
  readonly records: readonly SQSRecord[];
  /** Epoch milliseconds when the handler is called. */
  readonly at: number;
}

export type PollerObserver = (invocation: PollerInvocation) => void;

export class PollerConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PollerConfigError';
  }
}

interface RolePoller {
  readonly source: PollerSource;
  maxConcurrency: number;
  inFlight: number;
  peakInFlight: number;
  invocations: number;
  /** Invocations and delete requests in progress (stop() drains them). */
  readonly running: Set<Promise<void>>;
  /** Receipt handles of processed records not yet deleted, and the timer that deletes them. */
  readonly deletes: string[];
  deleteTimer?: NodeJS.Timeout;
  /** Wakes the loop when a slot frees or the limit changes. */
  wake?: () => void;
  loop?: Promise<void>;
}

function toMessageAttributes(message: Message): SQSMessageAttributes {
  const out: SQSMessageAttributes = {};
  for (const [name, value] of Object.entries(message.MessageAttributes ?? {})) {
    out[name] = {
      dataType: value.DataType ?? 'String',
      ...(value.StringValue === undefined ? {} : { stringValue: value.StringValue }),
      ...(value.BinaryValue === undefined
        ? {}
        : { binaryValue: Buffer.from(value.BinaryValue).toString('base64') }),
      stringListValues: value.StringListValues ?? [],
      binaryListValues: (value.BinaryListValues ?? []).map((b) => Buffer.from(b).toString('base64')),
    };
  }
  return out;
}

/** The record Lambda builds from a received message. */
export function toSqsRecord(message: Message, queueArn: string, region: string): SQSRecord {
  const attributes = message.Attributes ?? {};
  return {
    messageId: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes: {
      ApproximateReceiveCount: attributes.ApproximateReceiveCount ?? '1',
      SentTimestamp: attributes.SentTimestamp ?? String(Date.now()),
      SenderId: attributes.SenderId ?? '000000000000',
      ApproximateFirstReceiveTimestamp: attributes.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
    },
    messageAttributes: toMessageAttributes(message),
    md5OfBody: message.MD5OfBody ?? '',
    ...(message.MD5OfMessageAttributes === undefined
      ? {}
      : { md5OfMessageAttributes: message.MD5OfMessageAttributes }),
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: region,
  };
}

export class QueuePollers {
  readonly #sqs: SQSClient;
  readonly #region: string;
  readonly #pollers = new Map<string, RolePoller>();
  readonly #abort = new AbortController();
  #started = false;
  readonly #observers = new Set<PollerObserver>();
  /** The latest errors thrown by handlers or receives (the loop carries on, like Lambda's). */
  readonly errors: { role: string; error: unknown }[] = [];

  constructor(sqs: SQSClient, region: string) {
    this.#sqs = sqs;
    this.#region = region;
  }

  /** Registers a role's queue; polling begins with start() (or at once if already started). */
  add(source: PollerSource): void {
    if (this.#pollers.has(source.role))
      throw new PollerConfigError(`Role ${source.role} already has a poller`);
    checkConcurrency(source.role, source.maxConcurrency);
    const poller: RolePoller = {
      source,
      maxConcurrency: source.maxConcurrency,
      inFlight: 0,
      peakInFlight: 0,
      invocations: 0,
      running: new Set(),
      deletes: [],
    };
    this.#pollers.set(source.role, poller);
    if (this.#started) poller.loop = this.#run(poller);
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    for (const poller of this.#pollers.values()) poller.loop = this.#run(poller);
  }

  /** Changes a role's maximum concurrency at run time (the scaler's lever); in-flight work is not cut. */
  setMaxConcurrency(role: string, maxConcurrency: number): void {
    checkConcurrency(role, maxConcurrency);
    const poller = this.#get(role);
    poller.maxConcurrency = maxConcurrency;
    poller.wake?.();
  }

  maxConcurrency(role: string): number {
    return this.#get(role).maxConcurrency;
  }

  /** Invocations of the role's handler running now. */
  inFlight(role: string): number {
    return this.#get(role).inFlight;
  }

  /** Highest number of concurrent invocations seen for the role. */
  peakInFlight(role: string): number {
    return this.#get(role).peakInFlight;
  }

  /** Invocations started for the role so far. */
  invocations(role: string): number {
    return this.#get(role).invocations;
  }

  /**
   * Calls `observer` as each handler invocation starts (benchmarks measure queue wait with it).
   * Returns the function that removes it.
   */
  observeInvocations(observer: PollerObserver): () => void {
    this.#observers.add(observer);
    return () => this.#observers.delete(observer);
  }

  /** Stops polling, then waits (up to drainTimeoutMs) for in-flight invocations and their deletes. */
  async stop(drainTimeoutMs = DEFAULT_DRAIN_TIMEOUT_MS): Promise<void> {
    this.#abort.abort();
    for (const poller of this.#pollers.values()) poller.wake?.();
    await Promise.all([...this.#pollers.values()].map((p) => p.loop));
    const drain = async () => {
      for (;;) {
        const running = [...this.#pollers.values()].flatMap((p) => [...p.running]);
        if (running.length > 0) {
          await Promise.all(running);
          continue;
        }
        const pending = [...this.#pollers.values()].filter((p) => p.deletes.length > 0);
        if (pending.length === 0) return;
        for (const poller of pending) this.#flushDeletes(poller);
      }
    };
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      drain(),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, drainTimeoutMs);
      }),
    ]);
    clearTimeout(timer);
    for (const poller of this.#pollers.values()) clearTimeout(poller.deleteTimer);
  }

  #recordError(role: string, error: unknown): void {
    this.errors.push({ role, error });
    if (this.errors.length > MAX_KEPT_ERRORS) this.errors.shift();
  }

  #get(role: string): RolePoller {
    const poller = this.#pollers.get(role);
    if (!poller) throw new PollerConfigError(`No poller for role ${role}`);
    return poller;
  }

  async #waitForSlot(poller: RolePoller): Promise<void> {
    while (!this.#abort.signal.aborted && poller.inFlight >= poller.maxConcurrency) {
      await new Promise<void>((resolve) => {
        poller.wake = resolve;
      });
      poller.wake = undefined;
    }
  }

  async #run(poller: RolePoller): Promise<void> {
    const { source } = poller;
    const batchSize = Math.min(source.batchSize ?? DEFAULT_BATCH_SIZE, MAX_RECEIVE_BATCH);
    while (!this.#abort.signal.aborted) {
      await this.#waitForSlot(poller);
      if (this.#abort.signal.aborted) return;
      // As many messages as the free slots take: one receive feeds several invocations on a busy queue.
      const free = poller.maxConcurrency - poller.inFlight;
      let messages: Message[];
      try {
        const out = await this.#sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: source.queueUrl,
            MaxNumberOfMessages: Math.min(MAX_RECEIVE_BATCH, free * batchSize),
            WaitTimeSeconds: POLL_WAIT_SECONDS,
            MessageSystemAttributeNames: ['All'],
            MessageAttributeNames: ['All'],
          }),
          { abortSignal: this.#abort.signal },
        );
        messages = out.Messages ?? [];
      } catch (error) {
        if (this.#abort.signal.aborted) return;
        this.#recordError(source.role, error);
        await new Promise((resolve) => setTimeout(resolve, RECEIVE_ERROR_BACKOFF_MS));
        continue;
      }
      for (let i = 0; i < messages.length; i += batchSize) {
        // The maximum may have been lowered during the receive: the rest waits for a slot (its visibility
        // timeout runs meanwhile, as for records a Lambda poller holds). On stop they reappear later.
        await this.#waitForSlot(poller);
        if (this.#abort.signal.aborted) return;
        const invocation = this.#invoke(poller, messages.slice(i, i + batchSize));
        poller.running.add(invocation);
        void invocation.finally(() => poller.running.delete(invocation));
      }
    }
  }

  /** Deletes processed records with the others of the role that end soon after (see DELETE_COALESCE_MS). */
  #deleteSoon(poller: RolePoller, receiptHandles: readonly string[]): void {
    poller.deletes.push(...receiptHandles);
    if (poller.deletes.length >= MAX_RECEIVE_BATCH) this.#flushDeletes(poller);
    else poller.deleteTimer ??= setTimeout(() => this.#flushDeletes(poller), DELETE_COALESCE_MS);
  }

  #flushDeletes(poller: RolePoller): void {
    clearTimeout(poller.deleteTimer);
    poller.deleteTimer = undefined;
    while (poller.deletes.length > 0) {
      const handles = poller.deletes.splice(0, MAX_RECEIVE_BATCH);
      const sending = this.#sqs
        .send(
          new DeleteMessageBatchCommand({
            QueueUrl: poller.source.queueUrl,
            Entries: handles.map((handle, i) => ({ Id: String(i), ReceiptHandle: handle })),
          }),
        )
        .then(
          () => undefined,
          (error: unknown) => this.#recordError(poller.source.role, error),
        );
      poller.running.add(sending);
      void sending.finally(() => poller.running.delete(sending));
    }
  }

  async #invoke(poller: RolePoller, messages: Message[]): Promise<void> {
    const { source } = poller;
    poller.inFlight += 1;
    poller.invocations += 1;
    poller.peakInFlight = Math.max(poller.peakInFlight, poller.inFlight);
    const records = messages.map((m) => toSqsRecord(m, source.queueArn, this.#region));
    if (this.#observers.size > 0) {
      const invocation: PollerInvocation = { role: source.role, records, at: Date.now() };
      for (const observer of this.#observers) observer(invocation);
    }
    try {
      const response = await source.handler({ Records: records }, makeLambdaContext(`agent-${source.role}`));
      // The processed records are deleted shortly by the poller, not by the function (as with Lambda's event
      // source mapping), so the concurrency slot frees as the invocation ends.
      const failed = failedIds(response);
      const done = records.filter((r) => !failed.has(r.messageId));
      if (done.length > 0)
        this.#deleteSoon(
          poller,
          done.map((r) => r.receiptHandle),
        );
    } catch (error) {
      // A thrown handler fails the whole batch: nothing is deleted, every record comes back.
      this.#recordError(source.role, error);
    } finally {
      poller.inFlight -= 1;
      poller.wake?.();
    }
  }
}

function checkConcurrency(role: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new PollerConfigError(`Maximum concurrency of role ${role} must be an integer >= 1, got ${value}`);
  }
}
