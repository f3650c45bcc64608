/**
 * `run --out DIR` writes one file per task output. Task ids that differ only in case (`a`, `A`) name one file on
 * a case-insensitive file system (macOS' and Windows' defaults): the second task's output overwrote the first's.
 * Here the two names are made one file with a symbolic link, as such a file system makes them. Ids Windows
 * takes for no file name (`a:b`, `CON`, `nul.x`) are mapped to names it takes, listed in index.json.
 */
import { mkdtemp, readdir, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { BatchResult } from '../../../shared/domain/schemas';
import {
  INDEX_FILE,
  MAX_OUTPUT_FILE_STEM_CHARS,
  outputFileStem,
  writeOutputs,
} from '../../../shared/local/cli/outputs';
import { RemoteServerError } from '../../../shared/local/cli/remote';

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

    const { files, missing } = await writeOutputs(dir, result, readOutput);

    expect(files).toBe(5);
    expect(missing).toEqual([]);
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

/** Below it, the control characters Windows forbids in a name. */
const FIRST_PRINTABLE = 0x20;

/** A name Windows takes: none of its forbidden characters, no trailing dot or space, no device name. */
function windowsTakes(name: string): boolean {
  return (
    !/[<>:"/\\|?*]/.test(name) &&
    ![...name].some((char) => char.charCodeAt(0) < FIRST_PRINTABLE) &&
    !/[. ]$/.test(name) &&
    !/^(con|prn|aux|nul|com[0-9]|lpt[0-9])$/i.test(name.split('.')[0] ?? '')
  );
}

describe('outputFileStem', () => {
  it('writes the characters Windows forbids as %XX and keeps the rest readable', () => {
    expect(outputFileStem('step:1')).toBe('step%3A1');
    expect(outputFileStem('api-v2.client_ts')).toBe('api-v2.client_ts');
    expect(outputFileStem('a*b?c"d<e>f|g/h\\i j~k%l')).toBe('a%2Ab%3Fc%22d%3Ce%3Ef%7Cg%2Fh%5Ci%20j%7Ek%25l');
    expect(outputFileStem('café')).toBe('caf%C3%A9');
  });

  it('writes the first letter of a Windows device name as %XX, with any extension and in any case', () => {
    expect(outputFileStem('CON')).toBe('%43ON');
    expect(outputFileStem('nul.x')).toBe('%6Eul.x');
    expect(outputFileStem('Com1')).toBe('%43om1');
    expect(outputFileStem('lpt9.a.b')).toBe('%6Cpt9.a.b');
    expect(outputFileStem('console')).toBe('console');
    expect(outputFileStem('com10')).toBe('com10');
    expect(windowsTakes(`${outputFileStem('AUX')}.output.json`)).toBe(true);
  });

  it('gives every id a name Windows takes, and different ids different names', () => {
    const id = fc.string({ unit: fc.constantFrom(...'aZ09._:-~%*?"<>| CONUL1\t'.split('')), minLength: 1 });
    fc.assert(
      fc.property(id, id, (a, b) => {
        expect(windowsTakes(`${outputFileStem(a)}.output.json`)).toBe(true);
        if (a !== b) expect(outputFileStem(a)).not.toBe(outputFileStem(b));
      }),
    );
  });

  it('keeps a stem of MAX_OUTPUT_FILE_STEM_CHARS and cuts a longer one, ending it with a hash of the id', () => {
    const atLimit = 'a'.repeat(MAX_OUTPUT_FILE_STEM_CHARS);
    const over = `${atLimit}b`;
    const overToo = `${atLimit}c`;

    expect(outputFileStem(atLimit)).toBe(atLimit);
    expect(outputFileStem(over).length).toBeLessThanOrEqual(MAX_OUTPUT_FILE_STEM_CHARS);
    expect(outputFileStem(over)).toMatch(/^a+-[0-9a-f]{16}$/);
    expect(outputFileStem(over)).not.toBe(outputFileStem(overToo));
    // 128 colons (the longest id the rule allows that encodes longest) are cut before a %XX, not inside one.
    expect(outputFileStem(':'.repeat(128))).toMatch(/^(%3A)+-[0-9a-f]{16}$/);
  });
});

describe('run --out with ids Windows takes for no file name', () => {
  it('writes their outputs under mapped names and lists which task each file is in index.json', async () => {
    dir = await mkdtemp(join(tmpdir(), 'meta-agent-out-'));
    const ids = ['step:1', 'CON', 'nul.x', 'plain'];
    const hostile = {
      batchId: 'windows',
      status: 'SUCCEEDED',
      tasks: ids.map((id) => ({ id, status: 'SUCCEEDED', output: { from: id } })),
    } as unknown as BatchResult;

    await writeOutputs(dir, hostile, async (taskId) => JSON.stringify({ from: taskId }));

    const names = await readdir(dir);
    expect(names.every(windowsTakes)).toBe(true);
    const index = await readJson(INDEX_FILE);
    expect(index).toEqual([
      { taskId: 'step:1', output: 'step%3A1.output.json' },
      { taskId: 'CON', output: '%43ON.output.json' },
      { taskId: 'nul.x', output: '%6Eul.x.output.json' },
      { taskId: 'plain', output: 'plain.output.json' },
    ]);
    for (const { taskId, output } of index as { taskId: string; output: string }[])
      expect(await readJson(output)).toEqual({ from: taskId });
  });
});

describe('run --out when an output cannot be fetched', () => {
  it('writes the other outputs, and names the missing one with why in the answer and index.json', async () => {
    dir = await mkdtemp(join(tmpdir(), 'meta-agent-out-'));
    const reason = 'GET http://127.0.0.1:1/batches/cases/tasks/A/output answered 500 (tried 3 times)';

    const written = await writeOutputs(dir, result, async (taskId) => {
      if (taskId === 'A') throw new RemoteServerError(reason);
      return readOutput(taskId);
    });

    expect(written).toEqual({ files: 4, missing: [{ taskId: 'A', reason }] });
    expect(await readJson('a.output.json')).toEqual({ from: 'a' });
    expect(await readJson('b.output.json')).toEqual({ from: 'b' });
    expect(await readJson(INDEX_FILE)).toEqual([
      { taskId: 'a', output: 'a.output.json' },
      { taskId: 'A', error: reason },
      { taskId: 'b', output: 'b.output.json' },
    ]);
  });

  it('stops at a failure that is no failure to fetch (a bug, a disk error)', async () => {
    dir = await mkdtemp(join(tmpdir(), 'meta-agent-out-'));

    await expect(
      writeOutputs(dir, result, async () => {
        throw new TypeError('not an output');
      }),
    ).rejects.toThrow('not an output');
  });
});
