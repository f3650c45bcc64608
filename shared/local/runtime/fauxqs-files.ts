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
import type { buildApp } from 'fauxqs';
import { sqsQueueArn } from '../../../node_modules/fauxqs/dist/common/arnHelper.js';
import { SqsError } from '../../../node_modules/fauxqs/dist/common/errors.js';
import { applyInitConfig, type FauxqsInitConfig } from '../../../node_modules/fauxqs/dist/initConfig.js';
import { FileS3Persistence } from '../../../node_modules/fauxqs/dist/s3/fileS3Persistence.js';
import { S3Store } from '../../../node_modules/fauxqs/dist/s3/s3Store.js';
import { SnsStore } from '../../../node_modules/fauxqs/dist/sns/snsStore.js';
import { SqsStore } from '../../../node_modules/fauxqs/dist/sqs/sqsStore.js';
import { validateQueueAttributes } from '../../../node_modules/fauxqs/dist/sqs/sqsTypes.js';

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
