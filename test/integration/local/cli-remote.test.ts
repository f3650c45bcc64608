/**
 * The CLI against a running API (`--url`), here `meta-agent serve` in this process: `run` submits and
 * follows over the WebSocket with the report of a local run, Ctrl-C cancels the remote batch, `status`,
 * `cancel` and `redrive` act on one batch, and a wrong key or URL exits 2 with a clear message.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchResultSchema } from '../../../shared/domain/schemas';
import { INTERRUPTED_EXIT } from '../../../shared/local/cli/commands/run';
import { ExitCode } from '../../../shared/local/cli/io';
import { main } from '../../../shared/local/cli/main';
import { API_KEY_ENV, API_URL_ENV } from '../../../shared/local/cli/remote';
import { type LocalServer, startLocalServer } from '../../../shared/local/server';
import { reportShape, runUntilInterrupted } from '../../support/batch-checks';
import { fakeIO, ROOT } from '../../support/fake-io';

const API_KEY = 'cli-remote-key';
/** Long enough that the interrupt lands while the task runs. */
const SLOW_TASK_MS = 20_000;
const EXIT_WITHIN_MS = 20_000;

let server: LocalServer;
let dir: string;

beforeAll(async () => {
  [server, dir] = await Promise.all([
    startLocalServer({ port: 0, apiKey: API_KEY, system: { scalerIntervalMs: 0 } }),
    mkdtemp(join(tmpdir(), 'meta-agent-remote-')),
  ]);
});

afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

async function batchFile(name: string, batch: unknown): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, JSON.stringify(batch));
  return file;
}

describe('meta-agent run --url', () => {
  it('prints the same JSON report as a local run --json, and the URL and key may come from the environment', async () => {
    const cli = (args: string[], env: NodeJS.ProcessEnv = {}) =>
      promisify(execFile)(process.execPath, ['bin/meta-agent.js', ...args], {
        cwd: ROOT,
        env: { ...process.env, ...env },
      });
    const [local, remote] = await Promise.all([
      cli(['run', 'examples/auth-feature.json', '--json']),
      cli(['run', 'examples/auth-feature.json', '--json'], {
        [API_URL_ENV]: server.url,
        [API_KEY_ENV]: API_KEY,
      }),
    ]);
    const ran = BatchResultSchema.parse(JSON.parse(local.stdout));
    const followed = BatchResultSchema.parse(JSON.parse(remote.stdout));

    expect(reportShape(followed)).toEqual(reportShape(ran));
    expect(remote.stderr).toContain(`submitted to ${server.url}`);
    expect(remote.stderr).not.toContain('polling');
  });

  it('cancels the remote batch on Ctrl-C, prints the summary and exits 1', async () => {
    const file = await batchFile('slow.json', {
      batchId: 'remote-interrupted',
      tasks: [
        {
          id: 'slow',
          description: 'Audit the login flow',
          role: 'security_auditor',
          input: { simulate: { durationMs: SLOW_TASK_MS } },
        },
        { id: 'after', description: 'Document the findings', dependsOn: ['slow'] },
      ],
    });
    const { code, out, interrupted, elapsedMs } = await runUntilInterrupted(
      ['run', file, '--url', server.url, '--api-key', API_KEY],
      'slow: RUNNING',
      EXIT_WITHIN_MS,
    );
    const result = await main(['status', 'remote-interrupted', '--json'], {
      ...fakeIO(ROOT, { [API_URL_ENV]: server.url, [API_KEY_ENV]: API_KEY }),
    });

    expect(interrupted).toBe(true);
    expect(code).toBe(ExitCode.TasksFailed);
    expect(elapsedMs).toBeLessThan(SLOW_TASK_MS);
    expect(out).toMatch(/batch remote-interrupted: CANCELLED/);
    expect(result).toBe(ExitCode.TasksFailed);
    const served = BatchResultSchema.parse(
      await (
        await fetch(`${server.url}/batches/remote-interrupted`, { headers: { 'x-api-key': API_KEY } })
      ).json(),
    );
    expect(served.status).toBe('CANCELLED');
    expect(served.tasks.map((t) => t.status)).toEqual(['CANCELLED', 'CANCELLED']);
  });

  it('exits 2 with the reason for a wrong key, an unreachable URL, and a batch the API refuses', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));
    const cyclic = await batchFile('cyclic.json', {
      tasks: [
        { id: 'a', description: 'x', dependsOn: ['b'] },
        { id: 'b', description: 'y', dependsOn: ['a'] },
      ],
    });

    const wrongKey = fakeIO();
    const wrongUrl = fakeIO();
    const refused = fakeIO();
    const codes = [
      await main(['run', 'examples/auth-feature.json', '--url', server.url, '--api-key', 'nope'], wrongKey),
      await main(['run', 'examples/auth-feature.json', '--url', `http://127.0.0.1:${port}`], wrongUrl),
      await main(['run', cyclic, '--url', server.url, '--api-key', API_KEY], refused),
    ];

    expect(codes).toEqual([ExitCode.BadInput, ExitCode.BadInput, ExitCode.BadInput]);
    expect(wrongKey.err).toMatch(/answered 403: the API key is missing or wrong/);
    expect(wrongUrl.err).toMatch(new RegExp(`cannot reach http://127.0.0.1:${port}/batches`));
    expect(refused.err).toContain(`the API refused the batch in ${cyclic}:`);
    expect(refused.err).toMatch(/\$\.tasks\[\d\]\.dependsOn\[0\]: .*cycle/);
  });
});

describe('meta-agent run --url against an API that goes away', () => {
  it('exits 1 saying the batch was accepted and how to read it later, not 2 (bad input)', async () => {
    const going = await startLocalServer({ port: 0, apiKey: false, system: { scalerIntervalMs: 0 } });
    const file = await batchFile('lost.json', {
      batchId: 'lost-mid-run',
      tasks: [
        {
          id: 'slow',
          description: 'Write the Python FastAPI endpoint',
          input: { simulate: { durationMs: SLOW_TASK_MS } },
        },
      ],
    });
    const io = fakeIO();

    const running = main(['run', file, '--url', going.url], io);
    const deadline = Date.now() + EXIT_WITHIN_MS;
    while (!io.err.includes('submitted to') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await going.close();
    const code = await running;

    expect(code).toBe(ExitCode.TasksFailed);
    expect(io.err).toContain('lost the API while following batch lost-mid-run');
    expect(io.err).toContain(`meta-agent status lost-mid-run --url ${going.url} --wait`);
    expect(io.err).not.toContain('internal error');
  }, 60_000);
});

describe('meta-agent status | cancel | redrive --url', () => {
  it('shows a failed batch (exit 1), redrives it to success (exit 0) and refuses to cancel it once ended (exit 2)', async () => {
    const file = await batchFile('flaky.json', {
      batchId: 'remote-flaky',
      options: { maxAttempts: 1 },
      tasks: [
        {
          id: 'flaky',
          description: 'Write the FastAPI login endpoint',
          input: { simulate: { failAttempts: 1 } },
        },
      ],
    });
    const env = { [API_URL_ENV]: server.url, [API_KEY_ENV]: API_KEY };
    const first = fakeIO(ROOT, env);
    const status = fakeIO(ROOT, env);
    const redrive = fakeIO(ROOT, env);
    const cancel = fakeIO(ROOT, env);
    const missing = fakeIO(ROOT, env);

    const ran = await main(['run', file], first);
    const shown = await main(['status', 'remote-flaky'], status);
    const redriven = await main(['redrive', 'remote-flaky', '--wait', '--json'], redrive);
    const cancelled = await main(['cancel', 'remote-flaky'], cancel);
    const unknown = await main(['status', 'no-such-batch'], missing);

    expect([ran, shown, redriven, cancelled, unknown]).toEqual([
      ExitCode.TasksFailed,
      ExitCode.TasksFailed,
      ExitCode.Ok,
      ExitCode.BadInput,
      ExitCode.BadInput,
    ]);
    expect(status.out).toMatch(/flaky .* FAILED/);
    expect(BatchResultSchema.parse(JSON.parse(redrive.out)).status).toBe('SUCCEEDED');
    expect(cancel.err).toMatch(/answered 409: .*already finished/);
    expect(missing.err).toMatch(/answered 404/);
  });

  it('redrives a batch whose budget was exhausted with a raised one (--max-tokens), refusing a bad value (exit 2)', async () => {
    // Below one attempt's worst case (about 6,000 tokens for the simulated executor's default 4,096 output
    // tokens): nothing fits, so the first route exhausts the budget and every task is cancelled.
    const file = await batchFile('budget.json', {
      batchId: 'remote-budget',
      options: { budget: { maxTokens: 5_000 } },
      tasks: [
        { id: 'api', description: 'Write the FastAPI login endpoint' },
        { id: 'tests', description: 'Write the login tests', dependsOn: ['api'] },
      ],
    });
    const env = { [API_URL_ENV]: server.url, [API_KEY_ENV]: API_KEY };
    const first = fakeIO(ROOT, env);
    const bad = fakeIO(ROOT, env);
    const redrive = fakeIO(ROOT, env);

    const ran = await main(['run', file, '--json'], first);
    const refused = await main(['redrive', 'remote-budget', '--max-tokens', 'lots'], bad);
    // The dependent takes the first task's work: its worst case holds the whole context budget (100 KB).
    const redriven = await main(
      ['redrive', 'remote-budget', '--max-tokens', '1000000', '--wait', '--json'],
      redrive,
    );

    expect([ran, refused, redriven]).toEqual([ExitCode.TasksFailed, ExitCode.BadInput, ExitCode.Ok]);
    const stopped = BatchResultSchema.parse(JSON.parse(first.out));
    expect(stopped.tasks.map((t) => [t.id, t.status])).toEqual([
      ['api', 'CANCELLED'],
      ['tests', 'SKIPPED'],
    ]);
    expect(stopped.tasks[0]?.reason).toMatch(/^budget exhausted: 0 of 5,000 tokens spent/);
    expect(stopped.budget).toMatchObject({ maxTokens: 5_000, spentTokens: 0, exhausted: expect.any(String) });
    expect(bad.err).toContain('--max-tokens');
    const finished = BatchResultSchema.parse(JSON.parse(redrive.out));
    expect(finished.status).toBe('SUCCEEDED');
    expect(finished.budget).toMatchObject({ maxTokens: 1_000_000, reservedTokens: 0 });
    expect(finished.budget?.spentTokens).toBe(
      finished.tasks.reduce((sum, t) => sum + (t.usage ? t.usage.inputTokens + t.usage.outputTokens : 0), 0),
    );
  });

  it('stops following on Ctrl-C during status --wait (exit 130) and leaves the batch running: a watcher does not cancel it', async () => {
    const submitted = await fetch(`${server.url}/batches`, {
      method: 'POST',
      headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' },
      body: JSON.stringify({
        batchId: 'remote-watched',
        tasks: [
          {
            id: 'slow',
            description: 'Audit the login flow',
            role: 'security_auditor',
            input: { simulate: { durationMs: SLOW_TASK_MS } },
          },
        ],
      }),
    });
    expect(submitted.status).toBe(202);

    const { code, out, err, interrupted } = await runUntilInterrupted(
      ['status', 'remote-watched', '--wait', '--url', server.url, '--api-key', API_KEY],
      'slow: RUNNING',
      EXIT_WITHIN_MS,
    );
    const served = BatchResultSchema.parse(
      await (
        await fetch(`${server.url}/batches/remote-watched`, { headers: { 'x-api-key': API_KEY } })
      ).json(),
    );
    await fetch(`${server.url}/batches/remote-watched`, {
      method: 'DELETE',
      headers: { 'x-api-key': API_KEY },
    });

    expect(interrupted).toBe(true);
    expect(code).toBe(INTERRUPTED_EXIT);
    expect(served.status).toBe('RUNNING');
    expect(served.tasks.map((t) => t.status)).toEqual(['RUNNING']);
    expect(out).toMatch(/slow .* RUNNING/);
    expect(err).toContain(
      `stopped following batch remote-watched, which runs on: meta-agent status remote-watched --url ${server.url} --wait`,
    );
    expect(err).not.toContain('cancelling');
  });

  it('says where batches live when no URL is given', async () => {
    const io = fakeIO();

    expect(await main(['status', 'b-1'], io)).toBe(ExitCode.BadInput);
    expect(io.err).toContain('status needs --url (or META_AGENT_API_URL)');
  });
});
