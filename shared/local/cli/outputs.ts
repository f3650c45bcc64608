/**
 * `run --out DIR`: what the fleet produced, as files a person can open. Each task with an output gets
 * `<name>.output.json` (its whole output, the bytes GET /batches/{id}/tasks/{taskId}/output answers) and,
 * for an LLM answer, `<name>.output.txt` (its text); `result.json` is the result report and `index.json` says
 * which task each file is. `<name>` is the task id made a file name every platform takes (outputFileStem:
 * Windows forbids `:` and its device names, CON, NUL, COM1...); the suffixes keep every name distinct whatever
 * the task ids (`result` included); ids one file system takes for the same name (differing only in case) get
 * `<name>~2` (freeName).
 */
import { createHash } from 'node:crypto';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { isTextOutput } from '../../domain/outputs';
import type { BatchResult } from '../../domain/schemas';
import { InputFileError } from './errors';
import type { CliIO } from './io';
import { RemoteApiError } from './remote';

/** The report's file name in DIR. */
export const RESULT_FILE = 'result.json';
/** The file in DIR that lists each task's files: `[{ taskId, output, text? }]`, in the report's order. */
export const INDEX_FILE = 'index.json';

/**
 * The longest file name stem outputFileStem gives: file systems take names of 255 bytes (NTFS: 255 UTF-16
 * units), and the stem leaves room for a `~N` suffix and `.output.json`. An id of 128 `:` would be 384 encoded.
 */
export const MAX_OUTPUT_FILE_STEM_CHARS = 200;
/** Hex digits of the id's SHA-256 that end a stem cut at MAX_OUTPUT_FILE_STEM_CHARS, so cut stems stay apart. */
const CUT_STEM_HASH_CHARS = 16;
/** Characters every platform takes in a file name as they are; any other is written %XX (its UTF-8 bytes). */
const FILE_NAME_CHAR = /[A-Za-z0-9._-]/;
/**
 * Windows' device names: a file named one, whatever follows its first dot (`NUL.output.json`), is the device,
 * in any case.
 */
const WINDOWS_DEVICE_NAME =
  /^(con|prn|aux|nul|conin\$|conout\$|com[0-9\u00B9\u00B2\u00B3]|lpt[0-9\u00B9\u00B2\u00B3])$/i;

/**
 * A task id as a file name stem every platform takes, readable and one-to-one (short of a cut stem): each character outside
 * `A-Z a-z 0-9 . _ -` (`:` of the id rule; `* ? " < > | / \ ~ %` and spaces should ids ever allow them) becomes
 * `%XX`, as in a URL, and a Windows device name (`CON`, `nul.x`, `COM1`) has its first letter so written
 * (`%43ON`). `%` itself is encoded, so no stem is another id's; a trailing dot is no trailing dot of the file's
 * name, which goes on with `.output.json`. A stem over MAX_OUTPUT_FILE_STEM_CHARS is cut there and ends with a
 * hash of the id.
 */
export function outputFileStem(taskId: string): string {
  let stem = '';
  for (const char of taskId) {
    stem += FILE_NAME_CHAR.test(char)
      ? char
      : [...Buffer.from(char, 'utf8')]
          .map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`)
          .join('');
  }
  if (WINDOWS_DEVICE_NAME.test(stem.split('.')[0] ?? '')) {
    stem = `%${stem.charCodeAt(0).toString(16).toUpperCase()}${stem.slice(1)}`;
  }
  if (stem.length <= MAX_OUTPUT_FILE_STEM_CHARS) return stem;
  const hash = createHash('sha256').update(taskId, 'utf8').digest('hex').slice(0, CUT_STEM_HASH_CHARS);
  // Cut before a `%XX` the limit would split, so the kept part still reads back.
  const kept = stem.slice(0, MAX_OUTPUT_FILE_STEM_CHARS - CUT_STEM_HASH_CHARS - 1).replace(/%[0-9A-F]?$/, '');
  return `${kept}-${hash}`;
}

/** One task's files in DIR, as INDEX_FILE lists them; `error` instead when its output could not be fetched. */
export interface OutputFiles {
  taskId: string;
  output?: string;
  text?: string;
  error?: string;
}

/** What writeOutputs did: the files it wrote, and the tasks whose output could not be fetched, with why. */
export interface WrittenOutputs {
  files: number;
  missing: { taskId: string; reason: string }[];
}

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
 * A file name in DIR no other task of this run wrote: `<stem>`, or `<stem>~2`, `~3`... when that name is a file
 * this run already wrote for another task. Task ids that differ only in case (`a`, `A`) are one file on a
 * case-insensitive file system (macOS' and Windows' defaults): the second would overwrite the first's output.
 * `~` is in no stem (outputFileStem encodes it), so a suffixed name is no other task's.
 */
async function freeName(dir: string, taskId: string, written: Set<string>): Promise<string> {
  const stem = outputFileStem(taskId);
  for (let n = 1; ; n++) {
    const name = n === 1 ? stem : `${stem}~${n}`;
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
 * Writes every task's output (read through `readOutput`, the output route), the index of the files and the
 * report. An output the API could not give (a RemoteApiError, after its tries) is listed in the index and in
 * `missing` with the reason, and the others are still written: one lost download loses no other output.
 */
export async function writeOutputs(
  dir: string,
  result: BatchResult,
  readOutput: (taskId: string) => Promise<string>,
): Promise<WrittenOutputs> {
  const index: OutputFiles[] = [];
  const missing: WrittenOutputs['missing'] = [];
  const written = new Set<string>();
  let files = 2; // the index and the report
  for (const task of result.tasks) {
    if (task.output === undefined && task.outputRef === undefined) continue;
    let json: string;
    try {
      json = await readOutput(task.id);
    } catch (error) {
      if (!(error instanceof RemoteApiError)) throw error;
      missing.push({ taskId: task.id, reason: error.message });
      index.push({ taskId: task.id, error: error.message });
      continue;
    }
    const name = await freeName(dir, task.id, written);
    const entry: OutputFiles = { taskId: task.id, output: `${name}.output.json` };
    const path = join(dir, `${name}.output.json`);
    await writeFile(path, json);
    const identity = await fileIdentity(path);
    if (identity !== undefined) written.add(identity);
    files++;
    const value: unknown = JSON.parse(json);
    if (isTextOutput(value)) {
      entry.text = `${name}.output.txt`;
      await writeFile(join(dir, entry.text), value.text);
      files++;
    }
    index.push(entry);
  }
  await writeFile(join(dir, INDEX_FILE), `${JSON.stringify(index, null, 2)}\n`);
  await writeFile(join(dir, RESULT_FILE), `${JSON.stringify(result, null, 2)}\n`);
  return { files, missing };
}
