/**
 * The Lambda bundles as deployed: every handler entry built by the same esbuild call a full synth makes, then
 * each bundle imported by plain Node (no tsx) with the environment its function gets. Catches what only
 * bundling breaks: ESM/CJS interop, a dynamic `require` of a Node built-in, a missing external.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAllHandlers } from '../../infra/constructs/handler-function';
import { defaultTemplateJson } from './fixture';
import { REPO_ROOT } from './handler-analysis';
import { loadInChild } from './load-in-child';
import { offlineAwsEnv, plainEnv, templateFunctions, unusedLoopbackPort } from './template-functions';

/** Inside the repository, so the bundles' `@aws-sdk/*` externals resolve as the Lambda runtime provides them. */
const OUTDIR = join(REPO_ROOT, 'dist', 'lambda-check');

/** A full synthesis takes seconds; much longer on a busy 2-core machine. */
const SYNTH_TIMEOUT_MS = 180_000;

beforeAll(() => {
  buildAllHandlers(OUTDIR);
}, SYNTH_TIMEOUT_MS);

// Tests leave nothing behind: the bundles are built for this file only.
afterAll(() => {
  rmSync(OUTDIR, { recursive: true, force: true });
});

describe('Lambda bundles', () => {
  it(
    'loads every bundled handler with its function environment and exports the handler',
    async () => {
      const json = defaultTemplateJson() as Parameters<typeof templateFunctions>[0];
      const port = await unusedLoopbackPort();
      // One function per handler: the workers share one bundle and differ only in AGENT_ROLE.
      const byHandler = new Map(templateFunctions(json).map((fn) => [fn.handler, fn]));
      const cases = [...byHandler.values()].map((fn) => ({
        id: fn.handler,
        path: join(OUTDIR, fn.handler, 'index.mjs'),
        env: { ...plainEnv(fn, json), ...offlineAwsEnv(port) },
      }));

      const results = await loadInChild(cases, { typescript: false });

      const failures = Object.entries(results)
        .filter(([, r]) => !r.ok)
        .map(([id, r]) => `${id}: ${r.error?.split('\n').slice(0, 3).join(' | ')}`);
      expect(failures).toEqual([]);
      expect(Object.keys(results).sort()).toEqual([...byHandler.keys()].sort());
    },
    SYNTH_TIMEOUT_MS,
  );
});
