/**
 * `run --out DIR`: what the fleet produced, as files a person can open. Each task with an output gets
 * `<taskId>.output.json` (its whole output, the bytes GET /batches/{id}/tasks/{taskId}/output answers) and,
 * for an LLM answer, `<taskId>.output.txt` (its text); `result.json` is the result report. The suffixes keep
 * every name distinct whatever the task ids (`result` included).
 */
import { mkdir, writeFile } from 'node:fs/promises';
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
 * Writes every task's output (read through `readOutput`, the output route) and the report; answers the
 * number of files written.
 */
export async function writeOutputs(
  dir: string,
  result: BatchResult,
  readOutput: (taskId: string) => Promise<string>,
): Promise<number> {
  let files = 0;
  for (const task of result.tasks) {
    if (task.output === undefined && task.outputRef === undefined) continue;
    const json = await readOutput(task.id);
    await writeFile(join(dir, `${task.id}.output.json`), json);
    files++;
    const value: unknown = JSON.parse(json);
    if (isTextOutput(value)) {
      await writeFile(join(dir, `${task.id}.output.txt`), value.text);
      files++;
    }
  }
  await writeFile(join(dir, RESULT_FILE), `${JSON.stringify(result, null, 2)}\n`);
  return files + 1;
}
