/**
 * fauxqs with its S3 objects kept as files in a directory (`meta-agent serve --data-dir`), SQS in memory.
 *
 * fauxqs' own startFauxqs({ s3StorageDir }) does this, but listens on every interface (0.0.0.0); buildApp,
 * which the runtime uses to bind the loopback only, takes the stores ready-made. The store and file-storage
 * classes are not in the package's exports map, so they are imported by file from the project's own
 * node_modules (fauxqs is a direct dependency, installed there), and wired as startFauxqs wires them (fauxqs
 * 2.x; the persistence test in test/integration/local shows it still works). By file, not by URL at run time:
 * the CLI build bundles fauxqs, and its routers tell an SQS error from an internal one by `instanceof`, so
 * the stores must be the bundle's own copy of these modules, as buildApp is. SQS is not persisted on
 * purpose: no execution outlives a restart, so no queued message could be answered after one.
 */
import type { buildApp } from 'fauxqs';
import { FileS3Persistence } from '../../../node_modules/fauxqs/dist/s3/fileS3Persistence.js';
import { S3Store } from '../../../node_modules/fauxqs/dist/s3/s3Store.js';
import { SnsStore } from '../../../node_modules/fauxqs/dist/sns/snsStore.js';
import { SqsStore } from '../../../node_modules/fauxqs/dist/sqs/sqsStore.js';

type Stores = NonNullable<NonNullable<Parameters<typeof buildApp>[0]>['stores']>;

/** Stores for buildApp whose S3 objects live in `dir` (loaded from it now, written through on every change). */
export function storesWithS3Files(dir: string): Stores {
  const s3Store = new S3Store();
  const persistence = new FileS3Persistence(dir);
  // Loaded before the persistence is attached, as startFauxqs does (loading must not write back).
  persistence.loadS3(s3Store);
  s3Store.persistence = persistence;
  return { sqsStore: new SqsStore(), snsStore: new SnsStore(), s3Store };
}
