/**
 * dynalite's thread started ahead of the runtime (dynalite-preload.mjs, as bin/meta-agent.js does for a local
 * run or serve) and adopted by startDynalite.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
// The variable remote.ts reads for a run's API: startsLocalRuntime (plain JavaScript) names it again.
import { API_URL_ENV } from '../../../shared/local/cli/remote';
import {
  preloadDynalite,
  startsLocalRuntime,
  takePreloadedDynalite,
} from '../../../shared/local/runtime/dynalite-preload.mjs';
import {
  LOCAL_CREDENTIALS,
  type LocalDynalite,
  startDynalite,
} from '../../../shared/local/runtime/emulators';

const WORKER = new URL('../../../shared/local/runtime/dynalite-worker.mjs', import.meta.url);
const PRELOAD = new URL('../../../shared/local/runtime/dynalite-preload.mjs', import.meta.url);
const SLOT = Symbol.for('meta-agent.dynalite-preload');
const slot = () => (globalThis as Record<symbol, { worker: { threadId: number } } | undefined>)[SLOT];

describe('dynalite preloaded', () => {
  let dynalite: LocalDynalite | undefined;
  afterEach(async () => {
    await dynalite?.stop();
    dynalite = undefined;
    // A test that failed before adopting its thread ends it here.
    await takePreloadedDynalite(WORKER)?.terminate();
  });

  it('is adopted by startDynalite, which serves DynamoDB from it', async () => {
    preloadDynalite(WORKER);
    const preloaded = slot()?.worker.threadId;

    dynalite = await startDynalite();

    expect(preloaded).toBeGreaterThan(0);
    expect(dynalite.threadId).toBe(preloaded);
    expect(slot()).toBeUndefined();
    const client = new DynamoDBClient({
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${dynalite.port}`,
      credentials: LOCAL_CREDENTIALS,
    });
    await expect(client.send(new ListTablesCommand({}))).resolves.toMatchObject({ TableNames: [] });
    client.destroy();
  });

  it('is adopted once: a second start runs its own thread', async () => {
    preloadDynalite(WORKER);
    const first = await startDynalite();
    try {
      dynalite = await startDynalite();
      expect(dynalite.threadId).not.toBe(first.threadId);
    } finally {
      await first.stop();
    }
  });

  it('is not adopted for another file: that thread is ended and startDynalite starts its own', async () => {
    const other = new URL('./helpers.ts', import.meta.url);
    preloadDynalite(WORKER);
    const preloaded = slot()?.worker.threadId;
    // The slot names the file it runs; a runtime built elsewhere asks for its own.
    expect(takePreloadedDynalite(other)).toBeUndefined();
    preloadDynalite(WORKER);
    const second = slot()?.worker.threadId;

    dynalite = await startDynalite();

    expect(second).not.toBe(preloaded);
    expect(dynalite.threadId).toBe(second);
  });

  it('does not keep a process alive until it is adopted', async () => {
    // A command that ends without starting the runtime (a bad batch file) must still exit at once. The
    // thread loads and waits for its start message; the script ends after a timer.
    const dir = await mkdtemp(join(tmpdir(), 'preload-'));
    try {
      const script = join(dir, 'preload.mjs');
      await writeFile(
        script,
        `const m = await import(${JSON.stringify(PRELOAD.href)});
m.preloadDynalite(new URL(${JSON.stringify(WORKER.href)}));
// Long enough for the thread to have loaded its modules and be waiting for its start message.
setTimeout(() => console.log('ended', globalThis[Symbol.for('meta-agent.dynalite-preload')].ended), 1_000);
`,
      );
      const child = spawnSync(process.execPath, [script], { timeout: 20_000, encoding: 'utf8' });
      expect(child.error).toBeUndefined();
      expect(child.status).toBe(0);
      // The thread was still waiting (not ended by an error) when the process exited.
      expect(child.stdout.trim()).toBe('ended false');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('startsLocalRuntime', () => {
  const env = {};
  it.each([
    [['run', 'batch.json'], env, true],
    [['serve', '--port', '8080'], env, true],
    [['run', 'batch.json', '--json', '--concurrency', '2'], env, true],
    [['run', 'batch.json', '--url', 'http://127.0.0.1:1'], env, false],
    [['run', 'batch.json', '--url=http://127.0.0.1:1'], env, false],
    [['run', 'batch.json'], { [API_URL_ENV]: 'https://api.example' }, false],
    [['run', 'batch.json'], { [API_URL_ENV]: '  ' }, true],
    [['serve'], { [API_URL_ENV]: 'https://api.example' }, true],
    [['run', '--help'], env, false],
    [['serve', '-h'], env, false],
    [['plan', 'batch.json'], env, false],
    [['status', 'b1', '--url', 'http://127.0.0.1:1'], env, false],
    [[], env, false],
  ])('%j with %j: %s', (args, environment, expected) => {
    expect(startsLocalRuntime(args, environment)).toBe(expected);
  });
});
