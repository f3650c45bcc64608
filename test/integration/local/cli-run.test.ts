/** `meta-agent run` through main(): exit codes, the JSON report, and bad input that starts nothing. */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BatchResultSchema } from '../../../shared/domain/schemas';
import { main } from '../../../shared/local/cli/main';
import { EmbeddedSystem } from '../../../shared/local/system';
import { fakeIO } from '../../support/fake-io';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meta-agent-run-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function batchFile(name: string, batch: unknown): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, JSON.stringify(batch));
  return path;
}

describe('meta-agent run', () => {
  it('exits 2 on bad input, names the path, and starts nothing', async () => {
    const start = vi.spyOn(EmbeddedSystem, 'start');
    const file = await batchFile('cycle.json', {
      tasks: [
        { id: 'a', description: 'x', dependsOn: ['b'] },
        { id: 'b', description: 'y', dependsOn: ['a'] },
      ],
    });
    const io = fakeIO();

    const code = await main(['run', file], io);

    expect(code).toBe(2);
    expect(io.err).toContain('$.tasks[');
    expect(io.err).toMatch(/a -> b -> a|b -> a -> b/);
    expect(start).not.toHaveBeenCalled();
    start.mockRestore();
  });

  it('exits 2 on a placeholder naming no dependency and on an invalid outputSchema, starting nothing', async () => {
    const start = vi.spyOn(EmbeddedSystem, 'start');
    const file = await batchFile('edges.json', {
      tasks: [
        {
          id: 'plan',
          description: 'Plan it',
          outputSchema: { type: 'object', properties: { steps: 'many' } },
        },
        { id: 'build', description: 'Build {{deps.docs.output}}', dependsOn: ['plan'] },
        { id: 'docs', description: 'Document it' },
      ],
    });
    const io = fakeIO();

    const code = await main(['run', file], io);

    expect(code).toBe(2);
    expect(io.err).toContain('$.tasks[0].outputSchema: the outputSchema is not a valid JSON Schema');
    expect(io.err).toContain(
      '$.tasks[1].description: the placeholder {{deps.docs.output}} names "docs", which is not a dependency or an ancestor of task "build"',
    );
    expect(start).not.toHaveBeenCalled();
    start.mockRestore();
  });

  it('exits 2 on a bad --executor or --concurrency before starting anything', async () => {
    const start = vi.spyOn(EmbeddedSystem, 'start');
    const io = fakeIO();

    const executor = await main(['run', 'examples/auth-feature.json', '--executor', 'gpt'], io);
    const concurrency = await main(['run', 'examples/auth-feature.json', '--concurrency', '0'], io);

    expect([executor, concurrency]).toEqual([2, 2]);
    expect(io.err).toContain('--executor must be one of');
    expect(io.err).toContain('--concurrency must be');
    expect(start).not.toHaveBeenCalled();
    start.mockRestore();
  });

  it('prints only the result report with --json and exits 0 when every task succeeded', async () => {
    const io = fakeIO();

    const code = await main(['run', 'examples/auth-feature.json', '--json', '--concurrency', '3'], io);

    expect(code).toBe(0);
    const result = BatchResultSchema.parse(JSON.parse(io.out));
    expect(result.status).toBe('SUCCEEDED');
    expect(result.tasks).toHaveLength(6);
    expect(io.err).toContain('simulated');
  });

  it('writes every output whole to --out DIR, named after its task, with the result report', async () => {
    const file = await batchFile('outputs.json', {
      tasks: [
        { id: 'notes', description: 'Write the release notes', role: 'technical_writer' },
        {
          id: 'client',
          description: 'Generate the API client',
          role: 'typescript_frontend_agent',
          input: { simulate: { outputBytes: 1024 * 1024 } },
        },
      ],
    });
    const out = join(dir, 'out', 'nested');
    const io = fakeIO();

    const code = await main(['run', file, '--out', out], io);

    expect(code).toBe(0);
    expect((await readdir(out)).sort()).toEqual([
      'client.output.json',
      'client.output.txt',
      'index.json',
      'notes.output.json',
      'result.json',
    ]);
    const report = BatchResultSchema.parse(JSON.parse(await readFile(join(out, 'result.json'), 'utf8')));
    const client = report.tasks.find((t) => t.id === 'client');
    const json = await readFile(join(out, 'client.output.json'));
    expect(json.length).toBe(1024 * 1024);
    expect(createHash('sha256').update(json).digest('hex')).toBe(client?.outputRef?.sha256);
    expect(await readFile(join(out, 'client.output.txt'), 'utf8')).toBe(JSON.parse(json.toString()).text);
    expect(JSON.parse(await readFile(join(out, 'notes.output.json'), 'utf8'))).toEqual(
      report.tasks.find((t) => t.id === 'notes')?.output,
    );
    expect(io.err).toContain(`wrote 5 files to ${out}`);
  });

  it('exits 2 before starting anything when a role names a retired model', async () => {
    const config = await batchFile('retired.json', {
      roles: [{ name: 'code_reviewer', defaults: { executor: { name: 'openai', model: 'gpt-4' } } }],
    });
    const io = fakeIO();

    const code = await main(['run', 'examples/auth-feature.json', '--config', config], io);

    expect(code).toBe(2);
    expect(io.err).toContain(
      'role code_reviewer: openai model "gpt-4" reached its end of life on 2026-10-23',
    );
  });

  it('exits 2 before starting anything when --out cannot be made', async () => {
    const start = vi.spyOn(EmbeddedSystem, 'start');
    const blocker = await batchFile('not-a-dir', {});
    const io = fakeIO();

    const code = await main(['run', 'examples/auth-feature.json', '--out', join(blocker, 'sub')], io);

    expect(code).toBe(2);
    expect(io.err).toContain('cannot use --out');
    expect(start).not.toHaveBeenCalled();
    start.mockRestore();
  });

  it('exits 1 and shows the failure in the summary when a task fails', async () => {
    const file = await batchFile('failing.json', {
      options: { maxAttempts: 1 },
      tasks: [
        { id: 'ok', description: 'Design the schema', role: 'database_designer' },
        {
          id: 'bad',
          description: 'Write the endpoint',
          role: 'python_backend_coder',
          input: { simulate: { failAttempts: 1 } },
        },
        { id: 'after', description: 'Document it', role: 'documentation_writer', dependsOn: ['bad'] },
      ],
    });
    const io = fakeIO();

    const code = await main(['run', file], io);

    expect(code).toBe(1);
    expect(io.out).toMatch(/bad\s+python_backend_coder.*FAILED/);
    expect(io.out).toMatch(/after\s+.*SKIPPED/);
    expect(io.out).toContain('PARTIAL');
  });
});
