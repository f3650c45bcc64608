/**
 * `run --out DIR`: what the fleet produced, as files a person can open. Each task with an output gets
 * `<taskId>.output.json` (its whole output, the bytes GET /batches/{id}/tasks/{taskId}/output answers) and,
 * for an LLM answer, `<taskId>.output.txt` (its text); `result.json` is the result report. The suffixes keep
 * every name distinct whatever the task ids (`result` included); ids one file system takes for the same name
 * (differing only in case) get `<taskId>~2` (freeName).
 */
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { isTextOutput } from '../../domain/outputs';
import type { BatchResult } from '../../domain/schemas';
import { InputFileError } from './errors';
import type { CliIO } from './io';

/** The report's file name in DIR. */
export const RESULT_FILE = 'result.json';

/** Creates DIR (and its parents) before anything runs: a directory that cannot be made is bad input. */
export async function prepareOutputDir(dir: string, io: CliIO): Promise<string> {
  const absolute = resolve(io.cwd, dir);
  try {
    await mkdir(absolute, { recursive: true });
  } catch (error) {
    throw new InputFileError(`cannot use --out ${dir} (${absolute}): ${(error as Error).message}`, absolute);
  }
  return absolute;
}

/**
 * A file name in DIR no other task of this run wrote: `<taskId>`, or `<taskId>~2`, `~3`... when that name is a file
 * this run already wrote for another task. Task ids that differ only in case (`a`, `A`) are one file on a
 * case-insensitive file system (macOS' and Windows' defaults): the second would overwrite the first's output.
 * `~` is in no task id, so a suffixed name is no other task's.
 */
async function freeName(dir: string, taskId: string, written: Set<string>): Promise<string> {
  for (let n = 1; ; n++) {
    const name = n === 1 ? taskId : `${taskId}~${n}`;
    const identity = await fileIdentity(join(dir, `${name}.output.json`));
    if (identity === undefined || !written.has(identity)) return name;
  }
}

/** The device and inode of an existing file (two names of one file share them), or undefined. */
async function fileIdentity(path: string): Promise<string | undefined> {
  try {
    const stats = await stat(path, { bigint: true });
    return `${stats.dev}:${stats.ino}`;
  } catch {
    return undefined;
  }
}

/**
 * Writes every task's output (read through `readOutput`, the output route) and the report; answers the
 * number of files written.
 */
export async function writeOutputs(
  dir: string,
  result: BatchResult,
  readOutput: (taskId: string) => Promise<string>,
): Promise<number> {
  let files = 0;
  const written = new Set<string>();
  for (const task of result.tasks) {
    if (task.output === undefined && task.outputRef === undefined) continue;
    const json = await readOutput(task.id);
    const name = await freeName(dir, task.id, written);
    const path = join(dir, `${name}.output.json`);
    await writeFile(path, json);
    const identity = await fileIdentity(path);
    if (identity !== undefined) written.add(identity);
    files++;
    const value: unknown = JSON.parse(json);
    if (isTextOutput(value)) {
      await writeFile(join(dir, `${name}.output.txt`), value.text);
      files++;
    }
  }
  await writeFile(join(dir, RESULT_FILE), `${JSON.stringify(result, null, 2)}\n`);
  return files + 1;
}
