/** Ctrl-C during `meta-agent run`: the batch is cancelled cleanly and the process exits on its own. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runUntilInterrupted } from '../../support/batch-checks';

/** Long enough that the interrupt lands while the first task runs. */
const SLOW_TASK_MS = 20_000;
const EXIT_WITHIN_MS = 20_000;

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meta-agent-sigint-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The batch: a slow task and its dependent, so the interrupt lands while the first one runs. */
async function slowBatch(): Promise<string> {
  const file = join(dir, 'slow.json');
  await writeFile(
    file,
    JSON.stringify({
      batchId: 'interrupted',
      tasks: [
        {
          id: 'slow',
          description: 'Audit the login flow',
          role: 'security_auditor',
          input: { simulate: { durationMs: SLOW_TASK_MS } },
        },
        {
          id: 'after',
          description: 'Document the findings',
          role: 'documentation_writer',
          dependsOn: ['slow'],
        },
      ],
    }),
  );
  return file;
}

describe('Ctrl-C during meta-agent run', () => {
  it('cancels the running and waiting tasks, prints the summary and exits 1 without being killed', async () => {
    const run = await runUntilInterrupted(['run', await slowBatch()], 'slow: RUNNING', EXIT_WITHIN_MS, {
      twice: true,
    });

    expect(run.interrupted).toBe(true);
    expect(run).toMatchObject({ code: 1, signal: null });
    expect(run.elapsedMs).toBeLessThan(SLOW_TASK_MS);
    expect(run.out).toMatch(/slow\s+security_auditor.*CANCELLED/);
    expect(run.out).toMatch(/after\s+.*CANCELLED/);
    expect(run.out).toContain('batch interrupted: CANCELLED');
  });

  it('exits 1 through npx too, after the summary: one Ctrl-C reaches meta-agent twice and npm no shell', async () => {
    const run = await runUntilInterrupted(['run', await slowBatch()], 'slow: RUNNING', EXIT_WITHIN_MS, {
      via: 'npx',
    });

    expect(run.interrupted).toBe(true);
    expect(run).toMatchObject({ code: 1, signal: null });
    expect(run.out).toContain('batch interrupted: CANCELLED');
    // npx ran the cli workspace's link in node_modules/.bin: it did not install the checkout into its cache
    // (the slow path, taken when the project's own package.json declares the command).
    expect(run.npxInstalled).toEqual([]);
  });

  it('exits 1 when an older Node started it, after the summary: it passes the signal on to the pinned Node 22', async () => {
    const run = await runUntilInterrupted(['run', await slowBatch()], 'slow: RUNNING', EXIT_WITHIN_MS, {
      via: 'older-node',
    });

    expect(run.interrupted).toBe(true);
    expect(run).toMatchObject({ code: 1, signal: null });
    expect(run.elapsedMs).toBeLessThan(SLOW_TASK_MS);
    expect(run.out).toMatch(/slow\s+security_auditor.*CANCELLED/);
    expect(run.out).toContain('batch interrupted: CANCELLED');

    // SIGTERM to the older Node's process alone (`kill PID`): passed on, the batch cancelled the same way.
    const killed = await runUntilInterrupted(['run', await slowBatch()], 'slow: RUNNING', EXIT_WITHIN_MS, {
      via: 'older-node',
      only: 'SIGTERM',
    });
    expect(killed).toMatchObject({ interrupted: true, code: 1, signal: null });
    expect(killed.out).toContain('batch interrupted: CANCELLED');
  });
});
