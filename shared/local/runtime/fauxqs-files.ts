/**
 * fauxqs with its S3 objects kept as files in a directory (`meta-agent serve --data-dir`), SQS in memory.
 *
 * fauxqs' own startFauxqs({ s3StorageDir }) does this, but listens on every interface (0.0.0.0); buildApp,
 * which the runtime uses to bind the loopback only, takes the stores ready-made. The store and file-storage
 * classes are not in the package's exports map, so they are imported by file from the installed package,
 * wired as startFauxqs wires them (fauxqs 2.x; the persistence test in test/integration/local shows it still
 * works). SQS is not persisted on purpose: no execution outlives a restart, so no queued message could be
 * answered after one.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { buildApp } from 'fauxqs';

type Stores = NonNullable<NonNullable<Parameters<typeof buildApp>[0]>['stores']>;

/** The installed fauxqs' dist directory (its files, which the exports map does not name). */
function fauxqsDist(): string {
  const searched = createRequire(import.meta.url).resolve.paths('fauxqs') ?? [];
  for (const dir of searched) {
    const dist = join(dir, 'fauxqs', 'dist');
    if (existsSync(join(dist, 'app.js'))) return dist;
  }
  throw new Error(`fauxqs is not installed (looked in ${searched.join(', ')})`);
}

/** Stores for buildApp whose S3 objects live in `dir` (loaded from it now, written through on every change). */
export async function storesWithS3Files(dir: string): Promise<Stores> {
  const dist = fauxqsDist();
  const load = (file: string) => import(/* @vite-ignore */ pathToFileURL(join(dist, file)).href);
  const [{ SqsStore }, { SnsStore }, { S3Store }, { FileS3Persistence }] = await Promise.all([
    load('sqs/sqsStore.js'),
    load('sns/snsStore.js'),
    load('s3/s3Store.js'),
    load('s3/fileS3Persistence.js'),
  ]);
  const s3Store = new S3Store();
  const persistence = new FileS3Persistence(dir);
  // Loaded before the persistence is attached, as startFauxqs does (loading must not write back).
  persistence.loadS3(s3Store);
  s3Store.persistence = persistence;
  return { sqsStore: new SqsStore(), snsStore: new SnsStore(), s3Store };
}
