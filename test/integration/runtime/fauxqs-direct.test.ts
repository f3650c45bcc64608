/**
 * The SQS actions the runtime answers without fauxqs' fastify app (answerSqsDirectly) answer as the app does:
 * the same script of requests is sent to two fauxqs instances made alike, one directly and one through the
 * app (fastify's inject, as every other request goes), and their answers compared, with what is random or
 * time-dependent (message ids, receipt handles, request ids, timestamps) replaced by placeholders.
 */
import { buildApp } from 'fauxqs';
import { afterEach, describe, expect, it } from 'vitest';
import type { InProcessRequest, InProcessResponse } from '../../../shared/adapters/in-process-transport';
import { injectInto } from '../../../shared/local/runtime/emulators';
import { answerSqsDirectly, fauxqsStores, setUpResources } from '../../../shared/local/runtime/fauxqs-files';
import { sqsJsonRequest } from './helpers';

const REGION = 'us-east-1';
const PORT = 4566;

type World = (request: InProcessRequest) => Promise<InProcessResponse>;

function makeStores() {
  const stores = fauxqsStores();
  const queues = setUpResources(
    stores,
    { port: PORT, region: REGION },
    [
      { name: 'work', attributes: { VisibilityTimeout: '30' } },
      { name: 'work-dlq', attributes: {} },
    ],
    'bucket',
  );
  return { stores, queues };
}

const apps: ReturnType<typeof buildApp>[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

function viaApp(): { world: World; url: (name: string) => string } {
  const { stores, queues } = makeStores();
  const app = buildApp({ logger: false, stores });
  apps.push(app);
  const world: World = (request) => injectInto(app, request);
  return { world, url: (name) => queues.get(name)?.url as string };
}

function direct(): { world: World; url: (name: string) => string } {
  const { stores, queues } = makeStores();
  const world: World = async (request) => {
    const answer = answerSqsDirectly(stores, request);
    if (!answer) throw new Error(`not answered directly: ${request.headers['x-amz-target']}`);
    return answer;
  };
  return { world, url: (name) => queues.get(name)?.url as string };
}

function sqs(action: string, body: unknown): InProcessRequest {
  return sqsJsonRequest(action, body, `127.0.0.1:${PORT}`);
}

const RANDOM_KEYS = /^(MessageId|ReceiptHandle|.*Timestamp|x-amz-request-id|date)$/;

/** An answer with what differs between two runs of the same script replaced, its body parsed when JSON. */
function comparable(answer: InProcessResponse): unknown {
  const scrub = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(scrub);
    if (value && typeof value === 'object') {
      return Object.fromEntries(
        Object.entries(value).map(([k, v]) => [k, RANDOM_KEYS.test(k) ? `<${k}>` : scrub(v)]),
      );
    }
    return value;
  };
  let body: unknown = answer.body;
  try {
    body = JSON.parse(answer.body);
  } catch {
    // Not JSON: compared as it is.
  }
  const headers = Object.fromEntries(
    Object.entries(answer.headers).filter(([name]) =>
      ['content-type', 'x-amzn-query-error', 'x-amz-request-id', 'x-amz-id-2'].includes(name),
    ),
  );
  return { statusCode: answer.statusCode, headers: scrub(headers), body: scrub(body) };
}

/** The script, run against one world: every answer in order. Receipt handles come from the world's own receives. */
async function script(send: World, url: (name: string) => string): Promise<unknown[]> {
  const answers: InProcessResponse[] = [];
  const call = async (action: string, body: unknown) => {
    const answer = await send(sqs(action, body));
    answers.push(answer);
    return JSON.parse(answer.body) as Record<string, unknown>;
  };
  const work = url('work');
  await call('SendMessage', { QueueUrl: work, MessageBody: '{"task":"a"}' });
  await call('SendMessage', {
    QueueUrl: work,
    MessageBody: 'b',
    MessageAttributes: { kind: { DataType: 'String', StringValue: 'x' } },
  });
  await call('SendMessage', { QueueUrl: `${work}-missing`, MessageBody: 'c' });
  await call('SendMessage', { QueueUrl: work });
  await call('SendMessageBatch', {
    QueueUrl: work,
    Entries: [
      { Id: 'one', MessageBody: 'd' },
      { Id: 'two', MessageBody: 'e', DelaySeconds: 0 },
    ],
  });
  await call('SendMessageBatch', { QueueUrl: work, Entries: [] });
  await call('ReceiveMessage', { QueueUrl: work, MaxNumberOfMessages: 11 });
  const received = await call('ReceiveMessage', {
    QueueUrl: work,
    MaxNumberOfMessages: 10,
    WaitTimeSeconds: 0,
    AttributeNames: ['All'],
    MessageAttributeNames: ['All'],
  });
  const handles = ((received.Messages ?? []) as { ReceiptHandle: string }[]).map((m) => m.ReceiptHandle);
  expect(handles).toHaveLength(4);
  await call('ChangeMessageVisibility', { QueueUrl: work, ReceiptHandle: handles[0], VisibilityTimeout: 0 });
  await call('ChangeMessageVisibility', {
    QueueUrl: work,
    ReceiptHandle: handles[0],
    VisibilityTimeout: 50_000,
  });
  await call('ChangeMessageVisibilityBatch', {
    QueueUrl: work,
    Entries: [{ Id: 'v', ReceiptHandle: handles[1], VisibilityTimeout: 10 }],
  });
  await call('DeleteMessage', { QueueUrl: work, ReceiptHandle: handles[1] });
  await call('DeleteMessage', { QueueUrl: work });
  await call('DeleteMessageBatch', {
    QueueUrl: work,
    Entries: [
      { Id: 'x', ReceiptHandle: handles[2] },
      { Id: 'y', ReceiptHandle: handles[3] },
    ],
  });
  await call('DeleteMessageBatch', {
    QueueUrl: work,
    Entries: [
      { Id: 'z', ReceiptHandle: handles[2] },
      { Id: 'z', ReceiptHandle: handles[3] },
    ],
  });
  await call('GetQueueAttributes', { QueueUrl: work, AttributeNames: ['All'] });
  await call('GetQueueAttributes', { QueueUrl: url('work-dlq'), AttributeNames: ['VisibilityTimeout'] });
  // A body fauxqs' parser refuses: fastify's 500, whose message is JSON.parse's.
  answers.push(await send(sqs('SendMessage', '{"QueueUrl":')));
  return answers.map(comparable);
}

describe('SQS actions answered without the fauxqs app', () => {
  it('answers every action of the script as the app does, errors included', async () => {
    const app = viaApp();
    const mine = direct();
    const expected = await script(app.world, app.url);
    const actual = await script(mine.world, mine.url);
    expect(actual).toEqual(expected);
    // The script covers answers and errors of each kind.
    const statuses = (expected as { statusCode: number }[]).map((a) => a.statusCode);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(8);
    expect(statuses.filter((s) => s === 400).length).toBeGreaterThan(4);
  });

  it('leaves every other request to the app: other actions, other paths, other protocols', () => {
    const { stores, queues } = makeStores();
    const url = queues.get('work')?.url;
    for (const request of [
      sqs('CreateQueue', { QueueName: 'another' }),
      sqs('GetQueueUrl', { QueueName: 'work' }),
      sqs('ListQueues', {}),
      sqs('PurgeQueue', { QueueUrl: url }),
      { ...sqs('SendMessage', { QueueUrl: url, MessageBody: 'a' }), path: '/other' },
      { ...sqs('SendMessage', { QueueUrl: url, MessageBody: 'a' }), method: 'PUT' },
      {
        method: 'PUT',
        path: '/bucket/key',
        headers: { 'content-type': 'application/octet-stream' },
        body: 'x',
      },
      {
        method: 'POST',
        path: '/',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'Action=ListTopics',
      },
    ] satisfies InProcessRequest[]) {
      expect(answerSqsDirectly(stores, request), `${request.method} ${request.path}`).toBeUndefined();
    }
  });

  it("refuses a body over fauxqs' 11 MiB limit with fastify's 413, as the app does", async () => {
    const app = viaApp();
    const mine = direct();
    const huge = (url: string) =>
      sqs('SendMessage', { QueueUrl: url, MessageBody: 'x'.repeat(11 * 1_048_576) });
    const expected = await app.world(huge(app.url('work')));
    const actual = await mine.world(huge(mine.url('work')));
    expect(actual.statusCode).toBe(413);
    expect(comparable(actual)).toEqual(comparable(expected));
  });
});
