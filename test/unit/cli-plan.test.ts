import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_TASK_ESTIMATE_MS } from '../../shared/domain/dag';
import { CliUsageError } from '../../shared/local/cli/errors';
import { type CommandEntry, main, runCommandLine } from '../../shared/local/cli/main';
import { fakeIO, ROOT } from '../support/fake-io';

const EXAMPLE = 'examples/auth-feature.json';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meta-agent-plan-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, content: unknown): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

describe('meta-agent plan', () => {
  it('prints the order, the levels and the estimated critical path of the example', async () => {
    const io = fakeIO();

    const code = await main(['plan', EXAMPLE], io);

    expect(code).toBe(0);
    expect(io.err).toBe('');
    expect(io.out).toContain('6 tasks, 4 levels, max parallelism 2');
    expect(io.out).toMatch(/1\. users-schema\n\s+2\. login-api\n/);
    expect(io.out).toContain('level 0: users-schema, login-form');
    expect(io.out).toContain(
      'Critical path (estimated 1.35 s): users-schema -> login-api -> auth-tests -> auth-docs',
    );
  });

  it('prints the same plan as JSON with --json', async () => {
    const io = fakeIO();

    const code = await main(['plan', EXAMPLE, '--json'], io);

    expect(code).toBe(0);
    const report = JSON.parse(io.out);
    expect(report).toMatchObject({
      taskCount: 6,
      maxParallelism: 2,
      levels: [
        ['users-schema', 'login-form'],
        ['login-api'],
        ['auth-tests', 'security-review'],
        ['auth-docs'],
      ],
      criticalPath: {
        ids: ['users-schema', 'login-api', 'auth-tests', 'auth-docs'],
        durationMs: 1350,
        estimated: true,
      },
    });
    expect(report.order).toHaveLength(6);
    expect(report.dependents['login-api']).toEqual(['auth-tests', 'security-review']);
  });

  it('labels the default estimate for tasks that give no simulated duration', async () => {
    const path = await file('plain.json', {
      tasks: [
        { id: 'a', description: 'x' },
        { id: 'b', description: 'y', dependsOn: ['a'] },
      ],
    });
    const io = fakeIO();

    expect(await main(['plan', path], io)).toBe(0);

    expect(io.out).toContain(
      `Critical path (estimated ${(2 * DEFAULT_TASK_ESTIMATE_MS) / 1000}.00 s): a -> b`,
    );
    expect(io.out).toContain('2 tasks use the default: a, b');
  });

  it('exits 2 and prints every issue as "path: message" for an invalid batch', async () => {
    const path = await file('bad.json', {
      tasks: [
        { id: 'a', description: 'x', dependsOn: ['b'] },
        { id: 'b', description: 'y', dependsOn: ['a'], role: 'wizard' },
      ],
    });
    const io = fakeIO();

    const code = await main(['plan', path], io);

    expect(code).toBe(2);
    expect(io.out).toBe('');
    expect(io.err).toContain(`invalid batch in ${path} (2 problems); nothing was run`);
    expect(io.err).toContain('$.tasks[0].dependsOn[0]: dependency cycle: a -> b -> a');
    expect(io.err).toContain('$.tasks[1].role: unknown role "wizard"');
  });

  it('exits 2 naming the file, the line and the column of malformed JSON', async () => {
    await file('broken.json', '{\n  "tasks": [,]\n}');
    const io = fakeIO(dir);

    expect(await main(['plan', 'broken.json'], io)).toBe(2);

    expect(io.err).toBe(
      'meta-agent: invalid batch in broken.json (1 problem); nothing was run:\n' +
        '$: malformed JSON at line 2, column 13: expected a value, found ","\n',
    );
  });

  it('exits 2 naming the file and the byte of a file that is not UTF-8', async () => {
    const path = join(dir, 'latin1.json');
    // "Café" saved as Latin-1 on line 3: a lenient read would run the task with "Caf\uFFFD".
    await writeFile(
      path,
      Buffer.from('{"tasks": [\n  {"id": "a",\n   "description": "Caf\xe9"}]}', 'latin1'),
    );
    const io = fakeIO(dir);

    expect(await main(['plan', 'latin1.json'], io)).toBe(2);

    expect(io.err).toBe(
      'meta-agent: batch file latin1.json is not UTF-8 text: byte 48 (line 3) starts a malformed sequence; save it as UTF-8\n',
    );
  });

  it('exits 2 naming a missing file', async () => {
    const io = fakeIO(dir);

    expect(await main(['plan', 'nowhere.json'], io)).toBe(2);

    expect(io.err).toContain(
      `cannot read batch file nowhere.json (${join(dir, 'nowhere.json')}): no such file`,
    );
  });

  it('exits 2 when FILE is missing or a flag is unknown', async () => {
    const missing = fakeIO();
    expect(await main(['plan'], missing)).toBe(2);
    expect(missing.err).toContain('plan needs a batch FILE');

    const badFlag = fakeIO();
    expect(await main(['plan', EXAMPLE, '--jsn'], badFlag)).toBe(2);
    expect(badFlag.err).toContain("Unknown option '--jsn'");
    expect(badFlag.err).toContain('meta-agent plan --help');
  });

  it('accepts a role added by --config and refuses it without', async () => {
    const batch = await file('rust.json', {
      tasks: [{ id: 'a', description: 'port it', role: 'rust_coder' }],
    });
    const newRole = {
      name: 'rust_coder',
      description: 'Writes Rust',
      specializations: { languages: ['rust'], frameworks: [], skills: [] },
      keywords: ['rust'],
      promptTemplate: 'Do {{description}}',
      defaults: {},
    };
    const config = await file('roles.json', { roles: [newRole] });

    const without = fakeIO();
    expect(await main(['plan', batch], without)).toBe(2);
    expect(without.err).toContain('unknown role "rust_coder"');

    const withConfig = fakeIO();
    expect(await main(['plan', batch, '--config', config], withConfig)).toBe(0);
  });

  it('exits 2 for an invalid role configuration, naming its path', async () => {
    const config = await file('bad-roles.json', { roles: [{ name: 'Not Snake' }] });
    const io = fakeIO();

    expect(await main(['plan', EXAMPLE, '--config', config], io)).toBe(2);

    expect(io.err).toContain('invalid configuration');
    expect(io.err).toContain('$.roles[0].name');
  });

  it('exits 2 for an unknown key in the config file', async () => {
    const config = await file('typo.json', { role: [] });
    const io = fakeIO();

    expect(await main(['plan', EXAMPLE, '--config', config], io)).toBe(2);

    expect(io.err).toContain('$.role');
  });

  it('prints its help with --help', async () => {
    const io = fakeIO();
    expect(await main(['plan', '--help'], io)).toBe(0);
    expect(io.out).toContain('Usage: meta-agent plan FILE [--json] [--config FILE]');
  });
});

describe('meta-agent command line', () => {
  it('prints the usage listing the five product commands when run without arguments', async () => {
    const io = fakeIO();

    expect(await main([], io)).toBe(0);

    for (const name of ['plan', 'route', 'run', 'serve', 'agents']) expect(io.out).toContain(`  ${name} `);
    expect(io.out).not.toContain('(not available in this build)');
  });

  it('exits 2 for an unknown command', async () => {
    const io = fakeIO();
    expect(await main(['deploy'], io)).toBe(2);
    expect(io.err).toContain('unknown command "deploy"');
  });

  it('exits 2 for a product command that is not in this build', async () => {
    const commands: Record<string, CommandEntry> = {
      plan: { args: 'FILE', summary: 'plans', load: async () => ({ command: async () => 0 }) },
      serve: { args: '[--port N]', summary: 'serves' },
    };
    const io = fakeIO();

    expect(await runCommandLine(commands, ['serve', '--port', '8080'], io)).toBe(2);
    expect(io.err).toContain('the "serve" command is not available in this build; available: plan');
  });

  it('exits 1 for an unexpected error and 2 for an error marked as bad input', async () => {
    const commands: Record<string, CommandEntry> = {
      crash: {
        args: '',
        summary: 'throws a bug',
        load: async () => ({
          command: async () => {
            throw new TypeError('x is undefined');
          },
        }),
      },
      usage: {
        args: 'N',
        summary: 'bad usage',
        load: async () => ({
          command: async () => {
            throw new CliUsageError('N must be a number', 'usage N');
          },
        }),
      },
    };
    const crash = fakeIO();
    expect(await runCommandLine(commands, ['crash'], crash)).toBe(1);
    expect(crash.err).toContain('internal error: x is undefined');

    const usage = fakeIO();
    expect(await runCommandLine(commands, ['usage'], usage)).toBe(2);
    expect(usage.err).toContain('N must be a number\nUsage: meta-agent usage N');
  });
});

describe('bin/meta-agent.js', () => {
  it('plans the example as a real process with exit code 0', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['bin/meta-agent.js', 'plan', EXAMPLE], {
      cwd: ROOT,
    });
    expect(stdout).toContain('Critical path (estimated 1.35 s)');
  });

  it('writes all of a large report into a pipe read slowly, then exits', async () => {
    // 2,000 chained tasks: about 450 KB of plan. Written to a pipe, most of it waits in the process until the
    // reader takes it; the CLI ends with process.exit, which would drop what is still waiting.
    const tasks = Array.from({ length: 2_000 }, (_, i) => ({
      id: `task-${i}`,
      description: `Step ${i} of a long chain`,
      role: 'python_backend_coder',
      ...(i === 0 ? {} : { dependsOn: [`task-${i - 1}`] }),
    }));
    const batch = await file('long-chain.json', { batchId: 'long-chain', tasks });
    const child = spawn(process.execPath, ['bin/meta-agent.js', 'plan', batch, '--json'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.pause();
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    await new Promise((resolve) => setTimeout(resolve, 500));
    child.stdout.resume();

    expect(await exited).toBe(0);
    const report = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    expect(report.taskCount).toBe(2_000);
    expect(report.order).toHaveLength(2_000);
  });

  it('exits 2 as a real process for a missing file', async () => {
    const run = promisify(execFile)(process.execPath, ['bin/meta-agent.js', 'plan', 'missing.json'], {
      cwd: ROOT,
    });
    await expect(run).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('no such file') });
  });
});
