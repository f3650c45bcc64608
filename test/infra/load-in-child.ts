/**
 * Imports handler modules in a child Node process, each with exactly the environment given (the child's
 * process.env is emptied and refilled before every import), and reports whether each import succeeded and
 * exported a `handler` function. Each import carries a distinct query string, so the module (and, for a
 * bundle, everything bundled into it) is evaluated afresh for every case.
 */
import { spawn } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from './handler-analysis';

export interface LoadCase {
  readonly id: string;
  /** Absolute path of the module (a functions/<name>.ts source or a bundled index.mjs). */
  readonly path: string;
  readonly env: Readonly<Record<string, string>>;
}

export interface LoadResult {
  readonly ok: boolean;
  readonly error?: string;
}

const RESULT_MARKER = '@@load-results@@';
/** Time to wait after the imports for errors a module raises asynchronously at load. */
const SETTLE_MS = 50;

const CHILD_SCRIPT = `
const cases = JSON.parse(await new Promise((resolve) => {
  let text = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (c) => { text += c; });
  process.stdin.on('end', () => resolve(text));
}));
const results = {};
let current;
const fail = (error) => { if (current) results[current] = { ok: false, error: 'async: ' + String(error?.stack ?? error) }; };
process.on('unhandledRejection', fail);
process.on('uncaughtException', fail);
for (const [i, c] of cases.entries()) {
  current = c.id;
  for (const key of Object.keys(process.env)) delete process.env[key];
  Object.assign(process.env, c.env);
  try {
    const mod = await import(c.url + '?case=' + i);
    results[c.id] = typeof mod.handler === 'function'
      ? { ok: true }
      : { ok: false, error: 'exports no handler function (exports: ' + Object.keys(mod).join(', ') + ')' };
  } catch (error) {
    results[c.id] = { ok: false, error: String(error?.stack ?? error) };
  }
  await new Promise((r) => setTimeout(r, ${SETTLE_MS}));
}
process.stdout.write('\\n${RESULT_MARKER}' + JSON.stringify(results) + '\\n');
process.exit(0);
`;

/**
 * Loads every case in one child process. `typescript` loads .ts sources through tsx; otherwise plain Node.
 */
export async function loadInChild(
  cases: readonly LoadCase[],
  options: { typescript: boolean },
): Promise<Record<string, LoadResult>> {
  const args = [
    ...(options.typescript ? ['--import', 'tsx'] : []),
    '--input-type=module',
    '--eval',
    CHILD_SCRIPT,
  ];
  // The child starts with an empty environment: each case brings all of its own.
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, env: {}, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => {
    stdout += c;
  });
  child.stderr.setEncoding('utf8').on('data', (c: string) => {
    stderr += c;
  });
  child.stdin.end(JSON.stringify(cases.map((c) => ({ ...c, url: pathToFileURL(c.path).href }))));
  const code = await new Promise<number | null>((resolveExit) => child.on('close', resolveExit));
  const line = stdout.split('\n').find((l) => l.startsWith(RESULT_MARKER));
  if (code !== 0 || line === undefined) {
    throw new Error(`handler loader exited with ${code}:\n${stderr.slice(-4000)}\n${stdout.slice(-2000)}`);
  }
  return JSON.parse(line.slice(RESULT_MARKER.length)) as Record<string, LoadResult>;
}
