/**
 * `serve --data-dir DIR`: the directory, made when missing, and a lock file in it, so two servers never open
 * one store (dynalite's LevelDB would refuse the second one's connections with no word of why).
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { CliUsageError, InputFileError } from './errors';

/** The lock file in a data directory: the process id of the server using it. */
export const DATA_DIR_LOCK_FILE = 'serve.lock';

/** Resolves DIR against `cwd` and makes it; a path that cannot be a directory is bad input (exit 2). */
export async function prepareDataDir(path: string, cwd: string): Promise<string> {
  const absolute = resolve(cwd, path);
  try {
    await mkdir(absolute, { recursive: true });
  } catch (error) {
    throw new InputFileError(
      `cannot use --data-dir ${path} (${absolute}): ${(error as Error).message}`,
      absolute,
    );
  }
  return absolute;
}

/** Whether a process with this id runs (signal 0 checks without sending anything). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the directory for this process: CliUsageError (exit 2) while a running process holds it; a lock
 * left by a server that did not stop cleanly (kill -9) is taken over. Answers the release.
 */
export async function lockDataDir(dir: string, usage?: string): Promise<() => Promise<void>> {
  const file = join(dir, DATA_DIR_LOCK_FILE);
  for (;;) {
    try {
      await writeFile(file, String(process.pid), { flag: 'wx' });
      return () => rm(file, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new InputFileError(`cannot lock --data-dir ${dir}: ${(error as Error).message}`, file);
      }
    }
    const holder = Number((await readFile(file, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(holder) && holder > 0 && isRunning(holder)) {
      throw new CliUsageError(
        `--data-dir ${dir} is in use by another meta-agent serve (process ${holder}); stop it or choose another directory`,
        usage,
      );
    }
    await rm(file, { force: true });
  }
}
