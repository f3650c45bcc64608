/**
 * `run --out DIR` writes one file per task output. Task ids that differ only in case (`a`, `A`) name one file on
 * a case-insensitive file system (macOS' and Windows' defaults): the second task's output overwrote the first's.
 * Here the two names are made one file with a symbolic link, as such a file system makes them.
 */
import { mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { BatchResult } from '../../../shared/domain/schemas';
import { writeOutputs } from '../../../shared/local/cli/outputs';

const outputs: Record<string, unknown> = { a: { from: 'a' }, A: { from: 'A' }, b: { from: 'b' } };
const result = {
  batchId: 'cases',
  status: 'SUCCEEDED',
  tasks: Object.entries(outputs).map(([id, output]) => ({ id, status: 'SUCCEEDED', output })),
} as unknown as BatchResult;
const readOutput = async (taskId: string) => JSON.stringify(outputs[taskId]);

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

const readJson = async (name: string) => JSON.parse(await readFile(join(dir as string, name), 'utf8'));

describe('run --out', () => {
  it('gives a task whose file name is another task file of this run its own name, and keeps every output', async () => {
    dir = await mkdtemp(join(tmpdir(), 'meta-agent-out-'));
    await symlink('a.output.json', join(dir, 'A.output.json'));

    const files = await writeOutputs(dir, result, readOutput);

    expect(files).toBe(4);
    expect(await readJson('a.output.json')).toEqual({ from: 'a' });
    expect(await readJson('A~2.output.json')).toEqual({ from: 'A' });
    expect(await readJson('b.output.json')).toEqual({ from: 'b' });
  });

  it('writes over the files of an earlier run into the same directory under the same names', async () => {
    dir = await mkdtemp(join(tmpdir(), 'meta-agent-out-'));

    await writeOutputs(dir, result, readOutput);
    await writeOutputs(dir, result, readOutput);

    expect(await readJson('a.output.json')).toEqual({ from: 'a' });
    expect(await readJson('A.output.json')).toEqual({ from: 'A' });
    await expect(readFile(join(dir, 'A~2.output.json'))).rejects.toThrow(/ENOENT/);
  });
});
