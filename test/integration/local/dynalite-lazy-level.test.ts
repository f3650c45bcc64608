/**
 * dynalite's on-disk store loaded only when a data directory needs it (dynalite-lazy-level.mjs). Each case runs
 * in a process of its own: the stand-in must be in the module cache before dynalite is first loaded.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const LAZY = new URL('../../../shared/local/runtime/dynalite-lazy-level.mjs', import.meta.url).href;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lazy-level-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs `body` (an ES module's code after the imports) in a new process; its stdout, parsed. */
async function inProcess(body: string): Promise<Record<string, unknown>> {
  const script = join(dir, 'case.mjs');
  await writeFile(
    script,
    `import { createRequire } from 'node:module';
const { deferLevel } = await import(${JSON.stringify(LAZY)});
const require = createRequire(${JSON.stringify(new URL(import.meta.url).href)});
const loaded = () => Object.keys(require.cache).some((path) => /node_modules\\/classic-level\\//.test(path));
${body}`,
  );
  const child = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 30_000 });
  expect(child.stderr).not.toMatch(/Error/);
  expect(child.status).toBe(0);
  return JSON.parse(child.stdout);
}

/** ListTables through dynalite's request handler on a listening server: its table names. */
const LIST_TABLES = `
async function tables(server) {
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const response = await fetch('http://127.0.0.1:' + server.address().port, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': 'DynamoDB_20120810.ListTables',
      'x-amz-date': '20260101T000000Z',
      authorization: 'AWS4-HMAC-SHA256 Credential=a/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
    },
    body: '{}',
  });
  const names = (await response.json()).TableNames;
  await new Promise((resolve) => server.close(resolve));
  return names;
}`;

describe('dynalite with its on-disk store deferred', () => {
  it('serves in memory without loading LevelDB', async () => {
    const answer = await inProcess(`${LIST_TABLES}
const deferred = deferLevel();
const dynalite = require('dynalite');
const names = await tables(dynalite({ createTableMs: 0 }));
console.log(JSON.stringify({ deferred, names, loaded: loaded() }));`);

    expect(answer).toEqual({ deferred: true, names: [], loaded: false });
  });

  it('loads LevelDB for a data directory, as soon as dynalite opens it', async () => {
    const answer = await inProcess(`${LIST_TABLES}
deferLevel();
const dynalite = require('dynalite');
const path = ${JSON.stringify(join(dir, 'db'))};
const server = dynalite({ path, createTableMs: 0 });
const before = loaded();
const names = await tables(server);
console.log(JSON.stringify({ before, names, after: loaded() }));`);

    expect(answer).toEqual({ before: true, names: [], after: true });
  });

  it('leaves a level that is loaded already as it is', async () => {
    const answer = await inProcess(`
require(require.resolve('level', { paths: [require.resolve('dynalite')] }));
console.log(JSON.stringify({ deferred: deferLevel() }));`);

    expect(answer).toEqual({ deferred: false });
  });
});
