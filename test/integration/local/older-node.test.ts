/**
 * `meta-agent` started by an older Node (`./node_modules/.bin/meta-agent` on a machine whose own Node is 20, where
 * the bin's `#!/usr/bin/env node` finds that one): it runs again on the Node 22 the project pins, and ends as
 * that run ends. The older Node is played by this Node reporting 20.20.2 (AS_OLDER_NODE). Ctrl-C passed on
 * through it: cli-interrupt.test.ts.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AS_OLDER_NODE } from '../../support/batch-checks';
import { ROOT } from '../../support/fake-io';

const run = promisify(execFile);

/** The CLI's answer, exit code and output, started as `node [options] BIN args`. */
async function cli(
  options: string[],
  bin: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [...options, bin, ...args], { cwd: ROOT });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

const BIN = join(ROOT, 'bin', 'meta-agent.js');
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meta-agent-older-node-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('meta-agent started by an older Node', () => {
  it('runs on the pinned Node 22 and answers as it does there, exit codes included', async () => {
    const args = ['plan', 'examples/auth-feature.json', '--json'];
    const [older, current] = await Promise.all([cli(AS_OLDER_NODE, BIN, args), cli([], BIN, args)]);

    expect(older.stderr).not.toContain('needs Node.js');
    expect(older).toMatchObject({ code: 0, stdout: current.stdout });
    expect(JSON.parse(older.stdout)).toMatchObject({ batchId: 'auth-feature', taskCount: 6 });

    const missing = await cli(AS_OLDER_NODE, BIN, ['plan', join(dir, 'none.json')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('cannot read batch file');
  });

  it('without the pinned Node, says what to run and exits 2', async () => {
    // The CLI's entry and what it imports first, in a checkout without node_modules.
    await mkdir(join(dir, 'bare', 'bin'), { recursive: true });
    await mkdir(join(dir, 'bare', 'scripts'), { recursive: true });
    await copyFile(BIN, join(dir, 'bare', 'bin', 'meta-agent.js'));
    await copyFile(join(ROOT, 'scripts', 'build-state.mjs'), join(dir, 'bare', 'scripts', 'build-state.mjs'));

    const answer = await cli(AS_OLDER_NODE, join(dir, 'bare', 'bin', 'meta-agent.js'), ['--help']);

    expect(answer.code).toBe(2);
    expect(answer.stderr).toContain('meta-agent needs Node.js >= 22 (found 20.20.2)');
    expect(answer.stderr).toContain('npx meta-agent');
  });
});
