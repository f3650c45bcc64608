/**
 * `meta-agent serve --data-dir` (issue 12): the store survives a restart. A finished batch reads whole after it
 * (result and stored outputs); a batch that was running when the server stopped is ended FAILED with the
 * interrupted reason at the next start, never silently lost, and can be redriven.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { INLINE_OUTPUT_MAX_BYTES } from '../../../shared/domain/workflow';
import { DATA_DIR_LOCK_FILE, lockDataDir } from '../../../shared/local/cli/data-dir';
import { main } from '../../../shared/local/cli/main';
import { type LocalServer, startLocalServer } from '../../../shared/local/server';
import { EmbeddedSystem, INTERRUPTED_REASON } from '../../../shared/local/system';
import { fakeIO } from '../../support/fake-io';

let dir: string;
const servers: LocalServer[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meta-agent-data-'));
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await rm(dir, { recursive: true, force: true });
});

async function start(): Promise<LocalServer> {
  const server = await startLocalServer({
    port: 0,
    apiKey: false,
    system: { scalerIntervalMs: 0, dataDir: dir },
  });
  servers.push(server);
  return server;
}

async function stop(server: LocalServer): Promise<void> {
  servers.splice(servers.indexOf(server), 1);
  await server.close();
}

const call = (server: LocalServer, path: string, init?: RequestInit) =>
  fetch(`${server.url}${path}`, { ...init, headers: { 'content-type': 'application/json' } });

async function read(
  server: LocalServer,
  path: string,
): Promise<{ status: number; body: unknown; text: string }> {
  const answer = await call(server, path);
  const text = await answer.text();
  return { status: answer.status, body: JSON.parse(text), text };
}

async function until(condition: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

type Result = { status: string; tasks: { id: string; status: string; reason?: string }[] };
const result = async (server: LocalServer, batchId: string) =>
  (await read(server, `/batches/${batchId}`)).body as Result;

describe('meta-agent serve --data-dir', () => {
  it('reads a finished batch whole after a restart and ends a batch cut by it as interrupted, redrivable', async () => {
    const first = await start();
    const done = {
      batchId: 'done',
      tasks: [
        {
          id: 'big',
          description: 'Write the Python FastAPI endpoint',
          input: { simulate: { outputBytes: INLINE_OUTPUT_MAX_BYTES + 1 } },
        },
        { id: 'small', description: 'Document the endpoint', dependsOn: ['big'] },
      ],
    };
    expect((await call(first, '/batches', { method: 'POST', body: JSON.stringify(done) })).status).toBe(202);
    await until(async () => (await result(first, 'done')).status !== 'RUNNING', 'done finished');
    const before = await read(first, '/batches/done');
    const bigBefore = await read(first, '/batches/done/tasks/big/output');
    expect((before.body as Result).status).toBe('SUCCEEDED');
    expect(bigBefore.status).toBe(200);
    const cut = {
      batchId: 'cut',
      tasks: [
        {
          id: 'long',
          description: 'Write the Python FastAPI endpoint',
          input: { simulate: { durationMs: 3_000 } },
        },
      ],
    };
    expect((await call(first, '/batches', { method: 'POST', body: JSON.stringify(cut) })).status).toBe(202);
    await until(async () => (await result(first, 'cut')).tasks[0]?.status === 'RUNNING', 'cut running');
    await stop(first);

    const second = await start();

    const after = await read(second, '/batches/done');
    expect(after.status).toBe(200);
    expect(after.body).toEqual(before.body);
    const bigAfter = await read(second, '/batches/done/tasks/big/output');
    expect(bigAfter.status).toBe(200);
    expect(bigAfter.text).toBe(bigBefore.text);
    expect(second.system.interrupted).toEqual(['cut']);
    const interrupted = await result(second, 'cut');
    expect(interrupted.status).toBe('FAILED');
    expect(interrupted.tasks).toMatchObject([{ id: 'long', status: 'FAILED', reason: INTERRUPTED_REASON }]);
    const list = (await read(second, '/batches')).body as { batches: { batchId: string }[] };
    expect(list.batches.map((b) => b.batchId).sort()).toEqual(['cut', 'done']);

    expect((await call(second, '/batches/cut/redrive', { method: 'POST' })).status).toBe(202);
    await until(async () => (await result(second, 'cut')).status !== 'RUNNING', 'cut redriven');
    expect((await result(second, 'cut')).status).toBe('SUCCEEDED');
  });
});

describe('meta-agent serve --data-dir DIR', () => {
  it('exits 2 naming the path when DIR cannot be a directory, starting nothing', async () => {
    const file = join(dir, 'a-file');
    await writeFile(file, 'not a directory');
    const start = vi.spyOn(EmbeddedSystem, 'start');
    const io = fakeIO();

    const code = await main(['serve', '--data-dir', file], io);

    expect(code).toBe(2);
    expect(io.err).toContain(`cannot use --data-dir ${file}`);
    expect(start).not.toHaveBeenCalled();
    start.mockRestore();
  });
});

describe('a damaged data directory', () => {
  it('is exit 2 naming its store and what to do, not an internal error, and leaves no lock', async () => {
    const damaged = join(dir, 'damaged');
    await mkdir(join(damaged, 'dynamodb'), { recursive: true });
    // LevelDB's CURRENT names the manifest to read: empty, as a truncated write leaves it.
    await writeFile(join(damaged, 'dynamodb', 'CURRENT'), '');
    const io = fakeIO();

    const code = await main(['serve', '--port', '0', '--no-api-key', '--data-dir', damaged], io);

    expect(code).toBe(2);
    expect(io.err).toContain(`cannot open the store in ${join(damaged, 'dynamodb')}`);
    expect(io.err).toContain('move the directory away to start with an empty one');
    expect(await readdir(damaged)).not.toContain(DATA_DIR_LOCK_FILE);
  });
});

describe('a data directory', () => {
  it('is used by one server at a time: a running holder is exit 2 naming it, a dead one’s lock is taken over', async () => {
    const locked = join(dir, 'locked');
    await mkdir(locked);
    const release = await lockDataDir(locked);
    const start = vi.spyOn(EmbeddedSystem, 'start');
    const io = fakeIO();

    const code = await main(['serve', '--data-dir', locked], io);

    expect(code).toBe(2);
    expect(io.err).toContain(
      `--data-dir ${locked} is in use by another meta-agent serve (process ${process.pid})`,
    );
    expect(start).not.toHaveBeenCalled();
    start.mockRestore();
    await release();
    expect(await readdir(locked)).toEqual([]);

    // A server killed with -9 leaves its lock: the process it names is gone, so the next start takes it.
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
      encoding: 'utf8',
    }).stdout;
    await writeFile(join(locked, DATA_DIR_LOCK_FILE), dead);
    const again = await lockDataDir(locked);
    await again();
  });

  it('is not taken over while another start is taking over the same killed server’s lock', async () => {
    const contested = join(dir, 'contested');
    await mkdir(contested);
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
      encoding: 'utf8',
    }).stdout;
    await writeFile(join(contested, DATA_DIR_LOCK_FILE), dead);
    // Another start found the same stale lock first and holds the takeover marker.
    const marker = join(contested, `${DATA_DIR_LOCK_FILE}.takeover`);
    await writeFile(marker, '1');
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)']);

    const start = lockDataDir(contested).then(
      () => 'taken',
      (error: unknown) => String(error),
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    // The other start takes it over: its lock replaces the stale one, then its marker goes.
    await writeFile(join(contested, DATA_DIR_LOCK_FILE), String(other.pid));
    await rm(marker);

    const outcome = await start;
    other.kill();

    expect(outcome).toContain(`is in use by another meta-agent serve (process ${other.pid})`);
  });
});
