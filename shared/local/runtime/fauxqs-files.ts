/**
 * fauxqs' stores, made here rather than by buildApp: with their S3 objects kept as files in a directory
 * (`meta-agent serve --data-dir`; SQS in memory), and with the role queues and the bucket made in them
 * directly at start-up (setUpResources).
 *
 * fauxqs' own startFauxqs({ s3StorageDir, init }) does both, but listens on every interface (0.0.0.0);
 * buildApp, which the runtime uses to bind the loopback only, takes the stores ready-made. The store,
 * file-storage and init-config modules are not in the package's exports map, so they are imported by file from
 * the project's own node_modules (fauxqs is a direct dependency, installed there), and wired as startFauxqs
 * wires them (fauxqs 2.x; the persistence test in test/integration/local shows it still works). By file, not
 * by URL at run time: the CLI build bundles fauxqs, and its routers tell an SQS error from an internal one by
 * `instanceof`, so the stores must be the bundle's own copy of these modules, as buildApp is. SQS is not
 * persisted on purpose: no execution outlives a restart, so no queued message could be answered after one.
 */
import { randomUUID } from 'node:crypto';
import type { buildApp } from 'fauxqs';
import { sqsQueueArn } from '../../../node_modules/fauxqs/dist/common/arnHelper.js';
import { SqsError } from '../../../node_modules/fauxqs/dist/common/errors.js';
import { applyInitConfig, type FauxqsInitConfig } from '../../../node_modules/fauxqs/dist/initConfig.js';
import { FileS3Persistence } from '../../../node_modules/fauxqs/dist/s3/fileS3Persistence.js';
import { S3Store } from '../../../node_modules/fauxqs/dist/s3/s3Store.js';
import { SnsStore } from '../../../node_modules/fauxqs/dist/sns/snsStore.js';
import { changeMessageVisibility } from '../../../node_modules/fauxqs/dist/sqs/actions/changeMessageVisibility.js';
import { changeMessageVisibilityBatch } from '../../../node_modules/fauxqs/dist/sqs/actions/changeMessageVisibilityBatch.js';
import { deleteMessage } from '../../../node_modules/fauxqs/dist/sqs/actions/deleteMessage.js';
import { deleteMessageBatch } from '../../../node_modules/fauxqs/dist/sqs/actions/deleteMessageBatch.js';
import { getQueueAttributes } from '../../../node_modules/fauxqs/dist/sqs/actions/getQueueAttributes.js';
import { receiveMessage } from '../../../node_modules/fauxqs/dist/sqs/actions/receiveMessage.js';
import { sendMessage } from '../../../node_modules/fauxqs/dist/sqs/actions/sendMessage.js';
import { sendMessageBatch } from '../../../node_modules/fauxqs/dist/sqs/actions/sendMessageBatch.js';
import { SqsStore } from '../../../node_modules/fauxqs/dist/sqs/sqsStore.js';
import { validateQueueAttributes } from '../../../node_modules/fauxqs/dist/sqs/sqsTypes.js';
import type { InProcessRequest, InProcessResponse } from '../../adapters/in-process-transport';

export type FauxqsStores = Required<NonNullable<NonNullable<Parameters<typeof buildApp>[0]>['stores']>>;

/** Stores for buildApp; with `dir`, its S3 objects live there (loaded from it now, written through on every change). */
export function fauxqsStores(dir?: string): FauxqsStores {
  const s3Store = new S3Store();
  if (dir !== undefined) {
    const persistence = new FileS3Persistence(dir);
    // Loaded before the persistence is attached, as startFauxqs does (loading must not write back).
    persistence.loadS3(s3Store);
    s3Store.persistence = persistence;
  }
  return { sqsStore: new SqsStore(), snsStore: new SnsStore(), s3Store };
}

/** The ARN fauxqs gives queue `name` in `region` (a redrive policy names its dead-letter queue by it). */
export function queueArn(name: string, region: string): string {
  return sqsQueueArn(name, region);
}

/** A queue to make at start-up: its name and attributes, as a CreateQueue call would give them. */
export interface QueueSpec {
  name: string;
  attributes: Record<string, string>;
}

/**
 * Makes `queues` and `bucket` in the stores of the fauxqs listening on `port`, as fauxqs' init config does at
 * its start (its applyInitConfig), instead of one CreateQueue call per queue through an SQS client: a start
 * made 44 such calls for 22 roles, each serialized by the SDK and routed by fauxqs' server on the one thread
 * that also loads and starts everything else. The attributes get the range checks CreateQueue gives them
 * (an error naming the queue and the attribute). A queue or bucket that exists is kept. Answers each
 * queue's URL (naming 127.0.0.1:<port> as a CreateQueue call over the loopback does) and ARN, by name.
 */
export function setUpResources(
  stores: FauxqsStores,
  context: { port: number; region: string },
  queues: readonly QueueSpec[],
  bucket: string,
): Map<string, { url: string; arn: string }> {
  for (const queue of queues) {
    try {
      validateQueueAttributes(queue.attributes, SqsError);
    } catch (error) {
      throw new Error(`queue ${queue.name}: ${(error as Error).message}`);
    }
  }
  const config: FauxqsInitConfig = {
    queues: queues.map(({ name, attributes }) => ({ name, attributes: { ...attributes } })),
    buckets: [bucket],
  };
  const made = applyInitConfig(config, stores.sqsStore, stores.snsStore, stores.s3Store, context);
  return new Map(made.queues.map(({ name, url, arn }) => [name, { url, arn }]));
}

type SqsAction = (body: Record<string, unknown>, store: SqsStore) => unknown;

/**
 * The SQS actions the runtime sends at every task (a Dispatch state's send, the pollers' receives and deletes,
 * the scaler's queue depths), with the ones of their kind, answered by fauxqs' own action functions: what its
 * SQS route does for them once fastify has routed and parsed the request. Every other request (the rest of
 * SQS, S3) goes through the app.
 */
const DIRECT_ACTIONS: ReadonlyMap<string, SqsAction> = new Map<string, SqsAction>([
  ['AmazonSQS.SendMessage', sendMessage],
  ['AmazonSQS.SendMessageBatch', sendMessageBatch],
  ['AmazonSQS.ReceiveMessage', receiveMessage],
  ['AmazonSQS.DeleteMessage', deleteMessage],
  ['AmazonSQS.DeleteMessageBatch', deleteMessageBatch],
  ['AmazonSQS.ChangeMessageVisibility', changeMessageVisibility],
  ['AmazonSQS.ChangeMessageVisibilityBatch', changeMessageVisibilityBatch],
  ['AmazonSQS.GetQueueAttributes', getQueueAttributes],
]);

/** fauxqs' limit on a request's body (its fastify app's bodyLimit). */
const FAUXQS_BODY_LIMIT = 11 * 1_048_576;

const JSON_1_0 = 'application/x-amz-json-1.0';

/**
 * fauxqs' answer to one of DIRECT_ACTIONS made in process, without its fastify app; undefined for any other
 * request, which the caller sends through the app (fastify's inject).
 *
 * Through inject, a request was a simulated socket request run through fastify's routing, hooks, content
 * parser and reply, then read back by light-my-request: about 1.4 ms of the main thread's CPU a task, for
 * an action that is a function of the parsed body and the store. The answer is the app's: the action's
 * result as JSON, an SqsError as its status, `__type` body and query-error header (as fauxqs' SQS router
 * writes them), a body over its limit as fastify's 413, and any other error (a body that is not JSON
 * included) as fastify's 500. A test sends each action both ways and compares the answers.
 */
export function answerSqsDirectly(
  stores: FauxqsStores,
  request: InProcessRequest,
): Promise<InProcessResponse> | undefined {
  if (request.method !== 'POST' || request.path !== '/') return undefined;
  if (!request.headers['content-type']?.includes(JSON_1_0)) return undefined;
  const action = DIRECT_ACTIONS.get(request.headers['x-amz-target'] ?? '');
  if (!action) return undefined;
  return answer(action, stores.sqsStore, request.body);
}

async function answer(action: SqsAction, store: SqsStore, text: string): Promise<InProcessResponse> {
  if (Buffer.byteLength(text) > FAUXQS_BODY_LIMIT) {
    return fastifyError(413, 'FST_ERR_CTP_BODY_TOO_LARGE', 'Payload Too Large', 'Request body is too large');
  }
  const headers = answerHeaders(`${JSON_1_0}; charset=utf-8`);
  try {
    // A body fauxqs' parser refuses fails the request as an action's error does (fastify's 500).
    const result = await action(JSON.parse(text) as Record<string, unknown>, store);
    return { statusCode: 200, headers, body: JSON.stringify(result) };
  } catch (error) {
    if (!(error instanceof SqsError)) {
      return fastifyError(500, undefined, 'Internal Server Error', (error as Error).message);
    }
    return {
      statusCode: error.statusCode,
      headers: { ...headers, 'x-amzn-query-error': error.queryErrorHeader },
      body: JSON.stringify(error.toJSON()),
    };
  }
}

/** fastify's default error reply, as the app answers a body it cannot take or an internal error. */
function fastifyError(
  statusCode: number,
  code: string | undefined,
  error: string,
  message: string,
): InProcessResponse {
  return {
    statusCode,
    headers: answerHeaders('application/json; charset=utf-8'),
    body: JSON.stringify({ statusCode, ...(code === undefined ? {} : { code }), error, message }),
  };
}

/** An answer's headers: its content type, and the request ids fauxqs' app puts on every answer. */
function answerHeaders(contentType: string): Record<string, string> {
  return {
    'content-type': contentType,
    'x-amz-request-id': randomUUID().replaceAll('-', '').toUpperCase().slice(0, 16),
    'x-amz-id-2': 'fauxqs',
  };
}
