/**
 * fauxqs' fastify app is loaded and built at the first request that needs it (emulators.ts startFauxqs): the
 * SQS actions answered in process never build it; S3 over the port, or any other request, builds it once, and
 * it then sees the queues and messages made before it existed. Stopping ends long polls either way.
 */
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ListQueuesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type Emulators, LOCAL_CREDENTIALS, startEmulators } from '../../../shared/local/runtime/emulators';
import { sqsJsonRequest } from './helpers';

const built = vi.hoisted(() => ({ count: 0 }));
vi.mock('fauxqs', async (importOriginal) => {
  const original = await importOriginal<typeof import('fauxqs')>();
  return {
    ...original,
    buildApp: (...args: Parameters<typeof original.buildApp>) => {
      built.count++;
      return original.buildApp(...args);
    },
  };
});

describe("fauxqs' app, made when first needed", () => {
  let emulators: Emulators | undefined;
  afterEach(async () => {
    await emulators?.stop();
    emulators = undefined;
    built.count = 0;
  });

  it('is not built for the SQS actions answered in process, and is built once for S3 over the port', async () => {
    emulators = await startEmulators({ roles: ['code_reviewer'] });
    const queueUrl = emulators.queues.get('code_reviewer')?.url as string;
    const sent = await emulators.serveSqs(
      sqsJsonRequest('SendMessage', { QueueUrl: queueUrl, MessageBody: 'first' }),
    );
    expect(sent.statusCode).toBe(200);
    expect(built.count).toBe(0);

    const s3 = new S3Client({
      region: emulators.region,
      endpoint: emulators.s3Endpoint,
      forcePathStyle: true,
      credentials: LOCAL_CREDENTIALS,
    });
    const sqs = new SQSClient({
      region: emulators.region,
      endpoint: emulators.sqsEndpoint,
      credentials: LOCAL_CREDENTIALS,
    });
    try {
      const [first, second] = await Promise.all(
        ['a', 'b'].map((key) =>
          s3.send(
            new PutObjectCommand({ Bucket: emulators?.artifactsBucketName, Key: key, Body: `body ${key}` }),
          ),
        ),
      );
      expect(first?.$metadata.httpStatusCode).toBe(200);
      expect(second?.$metadata.httpStatusCode).toBe(200);
      const read = await s3.send(new GetObjectCommand({ Bucket: emulators.artifactsBucketName, Key: 'b' }));
      expect(await read.Body?.transformToString()).toBe('body b');
      // Over the port too, the app answers from the stores made at start: the queues, and the message sent
      // in process before it existed.
      const listed = await sqs.send(new ListQueuesCommand({}));
      expect(listed.QueueUrls?.some((url) => url.endsWith('/code_reviewer'))).toBe(true);
      const received = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 0 }));
      expect(received.Messages?.map((m) => m.Body)).toEqual(['first']);
      // An SQS action answered only by the app, in process.
      const urls = await emulators.serveSqs(sqsJsonRequest('GetQueueUrl', { QueueName: 'code_reviewer' }));
      expect(urls.statusCode).toBe(200);
      expect((JSON.parse(urls.body) as { QueueUrl: string }).QueueUrl).toMatch(
        /\/000000000000\/code_reviewer$/,
      );
    } finally {
      s3.destroy();
      sqs.destroy();
    }
    expect(built.count).toBe(1);
  });

  it('ends a long poll at stop, whether or not the app was built', async () => {
    for (const buildFirst of [false, true]) {
      const started = await startEmulators({ roles: ['code_reviewer'] });
      const queueUrl = started.queues.get('code_reviewer')?.url as string;
      if (buildFirst) await started.serveSqs(sqsJsonRequest('ListQueues', {}));
      expect(built.count).toBe(buildFirst ? 1 : 0);
      const polling = started.serveSqs(
        sqsJsonRequest('ReceiveMessage', { QueueUrl: queueUrl, WaitTimeSeconds: 20 }),
      );
      const begun = performance.now();
      await started.stop();
      const answer = await polling;
      expect(performance.now() - begun).toBeLessThan(5_000);
      expect(answer.statusCode).toBe(200);
      expect((JSON.parse(answer.body) as { Messages?: unknown[] }).Messages ?? []).toEqual([]);
      built.count = 0;
    }
  });
});
