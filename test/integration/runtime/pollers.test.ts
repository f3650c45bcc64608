import {
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Emulators, LOCAL_CREDENTIALS, startEmulators } from '../../../shared/local/runtime/emulators';
import { POLL_WAIT_SECONDS, QueuePollers } from '../../../shared/local/runtime/pollers';
import { eventually, sleep } from './helpers';

/**
 * One role (its queue and dead-letter queue) per test, on emulators started once for the file: no test meets
 * the records of another, and the emulators' start is paid once instead of once a test.
 */
const ROLES = Array.from({ length: 7 }, (_, i) => `pollers_${i}`);
/** Short, so a failed record comes back within the test. */
const VISIBILITY_SECONDS = 1;

describe('role queue pollers', () => {
  let emulators: Emulators;
  let sqs: SQSClient;
  let pollers: QueuePollers;
  /** This test's role. */
  let role: string;
  let tests = 0;

  beforeAll(async () => {
    emulators = await startEmulators({
      roles: ROLES,
      visibilityTimeoutSeconds: Object.fromEntries(ROLES.map((role) => [role, VISIBILITY_SECONDS])),
    });
  });
  afterAll(async () => {
    await emulators?.stop();
  });
  beforeEach(() => {
    const next = ROLES[tests++];
    if (next === undefined) throw new Error(`more tests than the ${ROLES.length} role queues of ROLES`);
    role = next;
    sqs = sqsClient();
    pollers = new QueuePollers(sqs, emulators.region);
  });
  afterEach(async () => {
    await pollers.stop();
    sqs.destroy();
  });

  const sqsClient = () =>
    new SQSClient({
      region: emulators.region,
      endpoint: emulators.sqsEndpoint,
      credentials: LOCAL_CREDENTIALS,
    });

  const queue = () => {
    const q = emulators.queues.get(role);
    if (!q) throw new Error('role queue missing');
    return q;
  };

  /** The role's queue, as a poller's source names it. */
  const roleSource = () => ({ role, queueUrl: queue().url, queueArn: queue().arn });

  async function sendBodies(bodies: string[]): Promise<void> {
    for (let i = 0; i < bodies.length; i += 10) {
      await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: queue().url,
          Entries: bodies.slice(i, i + 10).map((body, j) => ({ Id: String(j), MessageBody: body })),
        }),
      );
    }
  }

  it('frees the concurrency slot when the handler returns, before the processed messages are deleted', async () => {
    const DELETE_DELAY_MS = 400;
    // Every DeleteMessageBatch of this poller's client takes DELETE_DELAY_MS.
    const slowDeletes = sqsClient();
    slowDeletes.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'DeleteMessageBatchCommand') await sleep(DELETE_DELAY_MS);
        return next(args);
      },
      { step: 'initialize' },
    );
    const slowPollers = new QueuePollers(slowDeletes, emulators.region);
    const spans: { start: number; end: number }[] = [];
    slowPollers.add({
      ...roleSource(),
      maxConcurrency: 1,
      batchSize: 1,
      handler: async () => {
        const start = Date.now();
        await sleep(20);
        spans.push({ start, end: Date.now() });
      },
    });
    await sendBodies(['{"taskId":"a"}', '{"taskId":"b"}']);
    try {
      slowPollers.start();
      await eventually(() => spans.length === 2);

      const [first, second] = spans as [{ start: number; end: number }, { start: number; end: number }];
      expect(second.start - first.end).toBeLessThan(DELETE_DELAY_MS);
      expect(slowPollers.peakInFlight(role)).toBe(1);
    } finally {
      await slowPollers.stop();
      slowDeletes.destroy();
    }
  });

  it('invokes the handler with a Lambda-shaped SQS event', async () => {
    const events: SQSEvent[] = [];
    pollers.add({
      ...roleSource(),
      maxConcurrency: 1,
      handler: async (event) => {
        events.push(event);
      },
    });
    await sqs.send(new SendMessageCommand({ QueueUrl: queue().url, MessageBody: '{"taskId":"t1"}' }));

    pollers.start();
    await eventually(() => events.length === 1);

    const record = events[0]?.Records[0] as SQSRecord;
    expect(record).toMatchObject({
      body: '{"taskId":"t1"}',
      eventSource: 'aws:sqs',
      eventSourceARN: queue().arn,
      awsRegion: emulators.region,
      attributes: { ApproximateReceiveCount: '1' },
      messageAttributes: {},
    });
    expect(record.messageId).not.toBe('');
    expect(record.receiptHandle).not.toBe('');
    expect(record.md5OfBody).toMatch(/^[0-9a-f]{32}$/);
  });

  it("long-polls an empty queue for SQS's longest wait, answers a message at once, and stops mid-poll", async () => {
    const waits: (number | undefined)[] = [];
    sqs.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'ReceiveMessageCommand') {
          waits.push((args.input as { WaitTimeSeconds?: number }).WaitTimeSeconds);
        }
        return next(args);
      },
      { step: 'initialize' },
    );
    const handled: string[] = [];
    pollers.add({
      ...roleSource(),
      maxConcurrency: 1,
      handler: async (event) => {
        handled.push(...event.Records.map((r) => r.body));
      },
    });
    pollers.start();
    await eventually(() => waits.length === 1);
    await sleep(300);
    // The receive waiting on the empty queue gets the message as it is sent, not at the end of its wait.
    await sqs.send(new SendMessageCommand({ QueueUrl: queue().url, MessageBody: 'late' }));
    await eventually(() => handled.length === 1, 5_000);
    await eventually(() => waits.length === 2);
    const began = performance.now();
    await pollers.stop();

    expect(POLL_WAIT_SECONDS).toBe(20);
    expect(waits).toEqual([POLL_WAIT_SECONDS, POLL_WAIT_SECONDS]);
    expect(handled).toEqual(['late']);
    // The second receive was still waiting: stop() aborts it rather than waiting out its 20 s (a loose bound,
    // not a timing test).
    expect(performance.now() - began).toBeLessThan(5_000);
  });

  it('never runs more invocations at once than the role maximum, and follows a raised maximum', async () => {
    let running = 0;
    let peak = 0;
    let handled = 0;
    pollers.add({
      ...roleSource(),
      maxConcurrency: 2,
      batchSize: 1,
      handler: async (event) => {
        running += 1;
        peak = Math.max(peak, running);
        await sleep(100);
        running -= 1;
        handled += event.Records.length;
      },
    });
    await sendBodies(Array.from({ length: 10 }, (_, i) => `m${i}`));

    pollers.start();
    await eventually(() => handled === 10);
    const peakAtTwo = peak;
    pollers.setMaxConcurrency(role, 4);
    await sendBodies(Array.from({ length: 16 }, (_, i) => `n${i}`));
    await eventually(() => handled === 26);
    // The slot frees once the batch's records are deleted, just after the handler returns.
    await eventually(() => pollers.inFlight(role) === 0);

    expect(peakAtTwo).toBe(2);
    expect(peak).toBeLessThanOrEqual(4);
    expect(peak).toBeGreaterThan(2);
    expect(pollers.peakInFlight(role)).toBe(peak);
    expect(pollers.invocations(role)).toBe(26);
  });

  it('feeds several one-record invocations from one receive and deletes their records together', async () => {
    const MESSAGES = 40;
    const MAX_CONCURRENCY = 8;
    const counting = sqsClient();
    const calls = { receives: 0, deletes: 0, deleted: 0 };
    counting.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { Entries?: unknown[] };
        if (context.commandName === 'ReceiveMessageCommand') calls.receives++;
        if (context.commandName === 'DeleteMessageBatchCommand') {
          calls.deletes++;
          calls.deleted += input.Entries?.length ?? 0;
        }
        return next(args);
      },
      { step: 'initialize' },
    );
    const busy = new QueuePollers(counting, emulators.region);
    const handled: string[] = [];
    busy.add({
      ...roleSource(),
      maxConcurrency: MAX_CONCURRENCY,
      batchSize: 1,
      handler: async (event) => {
        await sleep(30);
        for (const record of event.Records) handled.push(record.body);
      },
    });
    await sendBodies(Array.from({ length: MESSAGES }, (_, i) => `m${i}`));
    try {
      busy.start();
      await eventually(() => handled.length === MESSAGES);
    } finally {
      // stop() sends the deletes still waiting to be coalesced.
      await busy.stop();
      counting.destroy();
    }
    // Nothing processed comes back: every record was deleted, none twice.
    await sleep(VISIBILITY_SECONDS * 1000 + 200);
    const left = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queue().url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
    );

    expect(new Set(handled).size).toBe(MESSAGES);
    expect(busy.invocations(role)).toBe(MESSAGES);
    expect(busy.peakInFlight(role)).toBe(MAX_CONCURRENCY);
    expect(left.Messages ?? []).toEqual([]);
    expect(calls.deleted).toBe(MESSAGES);
    // One call per message each before; a busy queue now shares them.
    expect(calls.receives).toBeLessThan(MESSAGES / 2);
    expect(calls.deletes).toBeLessThan(MESSAGES / 2);
  });

  it('deletes the records that succeeded and redelivers those reported in batchItemFailures', async () => {
    const seen = new Map<string, number>();
    pollers.add({
      ...roleSource(),
      maxConcurrency: 1,
      handler: async (event): Promise<SQSBatchResponse> => {
        for (const r of event.Records) seen.set(r.body, (seen.get(r.body) ?? 0) + 1);
        const failures = event.Records.filter((r) => r.body === 'bad' && (seen.get('bad') ?? 0) < 2);
        return { batchItemFailures: failures.map((r) => ({ itemIdentifier: r.messageId })) };
      },
    });
    await sendBodies(['good', 'bad']);

    pollers.start();
    await eventually(() => (seen.get('bad') ?? 0) === 2, 15_000);
    await sleep((VISIBILITY_SECONDS + 1) * 1000);

    expect(seen.get('good')).toBe(1);
    expect(seen.get('bad')).toBe(2);
  });

  it('redelivers a record whose handler throws, and moves it to the DLQ after maxReceiveCount', async () => {
    const receiveCounts: string[] = [];
    pollers.add({
      ...roleSource(),
      maxConcurrency: 1,
      handler: async (event) => {
        receiveCounts.push(...event.Records.map((r) => r.attributes.ApproximateReceiveCount));
        throw new Error('agent crashed');
      },
    });
    await sendBodies(['poison']);

    pollers.start();
    await eventually(() => receiveCounts.length === 3, 15_000);
    let dead: string | undefined;
    await eventually(async () => {
      const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queue().dlqUrl, WaitTimeSeconds: 1 }));
      dead = out.Messages?.[0]?.Body;
      return dead !== undefined;
    }, 15_000);

    expect(receiveCounts).toEqual(['1', '2', '3']);
    expect(dead).toBe('poison');
    expect(pollers.errors.map((e) => (e.error as Error).message)).toContain('agent crashed');
  });
});
