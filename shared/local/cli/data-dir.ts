/**
 * `serve --data-dir DIR`: the directory, made when missing, and a lock file in it, so two servers never open
 * one store (dynalite's LevelDB would refuse the second one's connections with no word of why).
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
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

/** The marker a server holds while it removes a stale lock, so that two starts never both take it over. */
const TAKEOVER_FILE = `${DATA_DIR_LOCK_FILE}.takeover`;
/** A takeover lasts milliseconds; a marker older than this was left by a start that died in one. */
const TAKEOVER_STALE_MS = 10_000;
/** How long a start waits before looking again while another one takes a stale lock over. */
const TAKEOVER_RETRY_MS = 20;

/** The process id a lock file names, or undefined when it names none (gone, empty, garbled). */
async function lockHolder(file: string): Promise<number | undefined> {
  const holder = Number((await readFile(file, 'utf8').catch(() => '')).trim());
  return Number.isInteger(holder) && holder > 0 ? holder : undefined;
}

/**
 * Creates the lock naming this process, whole or not at all: the id is written to a file of this process's
 * own and linked into place (a file created empty and then written could be read empty, and taken for stale,
 * in between). False when a lock exists.
 */
async function createLock(file: string): Promise<boolean> {
  const own = `${file}.${process.pid}.${randomBytes(6).toString('hex')}`;
  await writeFile(own, String(process.pid), { flag: 'wx' });
  try {
    await link(own, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    await rm(own, { force: true });
  }
}

/**
 * Removes a lock whose process is gone, holding the takeover marker: two starts that both found it stale
 * would otherwise both remove it, the second one the lock the first had just made, and both would run.
 */
async function removeStaleLock(dir: string, file: string): Promise<void> {
  const marker = join(dir, TAKEOVER_FILE);
  try {
    await writeFile(marker, String(process.pid), { flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const age = await stat(marker).then(
      (info) => Date.now() - info.mtimeMs,
      () => 0,
    );
    if (age > TAKEOVER_STALE_MS) await rm(marker, { force: true });
    await new Promise((resolve) => setTimeout(resolve, TAKEOVER_RETRY_MS));
    return;
  }
  try {
    // Looked at again under the marker: another start may have taken the lock over meanwhile.
    const holder = await lockHolder(file);
    if (holder === undefined || !isRunning(holder)) await rm(file, { force: true });
  } finally {
    await rm(marker, { force: true });
  }
}

/**
 * Takes the directory for this process: CliUsageError (exit 2) while a running process holds it; a lock
 * left by a server that did not stop cleanly (kill -9) is taken over, by one start at a time. Answers the
 * release.
 */
export async function lockDataDir(dir: string, usage?: string): Promise<() => Promise<void>> {
  const file = join(dir, DATA_DIR_LOCK_FILE);
  for (;;) {
    try {
      if (await createLock(file)) return () => rm(file, { force: true });
    } catch (error) {
      throw new InputFileError(`cannot lock --data-dir ${dir}: ${(error as Error).message}`, file);
    }
    const holder = await lockHolder(file);
    if (holder !== undefined && isRunning(holder)) {
      throw new CliUsageError(
        `--data-dir ${dir} is in use by another meta-agent serve (process ${holder}); stop it or choose another directory`,
        usage,
      );
    }
    await removeStaleLock(dir, file);
  }
}
