/**
 * Start-up benchmark (not a test): `npm run bench:startup`.
 *
 * Runs the README's command, `meta-agent run examples/auth-feature.json` (a new process each time, through
 * bin/meta-agent.js, its progress and summary table printed to a pipe), BENCH_RUNS times (default 5; median
 * quoted). Overhead is its wall time minus the batch's makespan (submission to Finalize, from the summary's
 * last line). Each run is followed by one with `--json`, whose report splits its wall time:
 * - before: process start to the first task's start (Node, the CLI, the emulators, the handlers, submit, the
 *   first routing);
 * - after: last task end to process exit (Finalize, the result, shutdown).
 * Writes benchmarks/results/startup.json. Goal: overhead under 1 s. Says whether the CLI build (dist/cli)
 * was fresh: a stale build runs from source and starts seconds slower. Then what `npx meta-agent`, the
 * README's command, adds before the CLI starts (npxCost), and the overhead with it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildState } from '../scripts/build-state.mjs';
import { forgetNewNpxInstalls, npxInstalls } from '../scripts/npx-installs';
import type { BatchResult } from '../shared/domain/schemas';
import { median, round, writeResult } from './lib';
import { shellEnv } from './shell-env';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const EXAMPLE = 'examples/auth-feature.json';
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
/** The goal of issue 14: start-up and shutdown together under a second beyond the batch itself. */
export const GOAL_OVERHEAD_MS = 1_000;

interface Sample {
  wallMs: number;
  makespanMs: number;
  overheadMs: number;
}

interface Split {
  /** The `--json` run's own overhead. */
  jsonOverheadMs: number;
  beforeFirstTaskMs: number;
  afterLastTaskMs: number;
}

/** One run of the example in a new process: its stdout, and when it started and ended. */
async function runExample(
  args: readonly string[],
): Promise<{ stdout: string; startedAt: number; wallMs: number }> {
  const startedAt = Date.now();
  const began = performance.now();
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'meta-agent.js'), 'run', EXAMPLE, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  const wallMs = performance.now() - began;
  if (code !== 0) throw new Error(`meta-agent run ${args.join(' ')} exited ${code}: ${stderr}`);
  return { stdout, startedAt, wallMs };
}

/** The README's command: the makespan is the summary's last line (`batch ID: STATUS in N ms (...)`). */
async function runAsReadme(): Promise<Sample> {
  const { stdout, wallMs } = await runExample([]);
  const makespan = /^batch \S+: SUCCEEDED in (\d+) ms/m.exec(stdout)?.[1];
  if (makespan === undefined) throw new Error(`no makespan in the summary:\n${stdout.slice(-500)}`);
  const makespanMs = Number(makespan);
  return { wallMs: round(wallMs), makespanMs, overheadMs: round(wallMs - makespanMs) };
}

/** `--json`: its report's task times split the overhead into before the first task and after the last. */
async function runSplit(): Promise<Split> {
  const { stdout, startedAt, wallMs } = await runExample(['--json']);
  const result = JSON.parse(stdout) as BatchResult;
  const starts = result.tasks.flatMap((t) => (t.startedAt === undefined ? [] : [t.startedAt]));
  const ends = result.tasks.flatMap((t) => (t.finishedAt === undefined ? [] : [t.finishedAt]));
  const makespanMs = result.makespanMs ?? Math.max(...ends) - Math.min(...starts);
  return {
    jsonOverheadMs: round(wallMs - makespanMs),
    beforeFirstTaskMs: Math.min(...starts) - startedAt,
    afterLastTaskMs: round(startedAt + wallMs - Math.max(...ends)),
  };
}

/** Wall time of one command to its exit, in a new process. */
function wallOf(command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): number {
  const began = performance.now();
  const child = spawnSync(command, args, { cwd: ROOT, stdio: 'ignore', env });
  if (child.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${child.status}`);
  return performance.now() - began;
}

/**
 * What `npx meta-agent` (the README's command) adds to `node bin/meta-agent.js`: `npx meta-agent --help`
 * against the same help run directly, in turn, RUNS times (median of the differences). npx is the machine's
 * own, run as a shell runs it (shellEnv): its npm on the machine's own Node. It loads npm, finds
 * node_modules/.bin/meta-agent (the cli workspace's link) and starts the CLI on the Node the project pins.
 */
function npxCost(): { npxMs: number; directMs: number; addedMs: number; npm: string; npmNode: string } {
  const help = [join(ROOT, 'bin', 'meta-agent.js'), '--help'];
  const env = shellEnv(process.env);
  const npx = (): number => wallOf('npx', ['meta-agent', '--help'], env);
  const direct = (): number => wallOf(process.execPath, help);
  const installsBefore = npxInstalls();
  const npxMs: number[] = [];
  const directMs: number[] = [];
  try {
    npx();
    direct();
    for (let run = 0; run < RUNS; run++) {
      npxMs.push(npx());
      directMs.push(direct());
    }
  } finally {
    // Should npx ever install the checkout again (a declared bin), an install for a temporary worktree's
    // path (bench:ab) would outlive it.
    forgetNewNpxInstalls(installsBefore, ROOT);
  }
  const npm = spawnSync('npm', ['--version'], { encoding: 'utf8', env }).stdout.trim();
  // The Node npm itself runs on: the first `node` of the shell's PATH (npx's `#!/usr/bin/env node`).
  const npmNode = spawnSync('node', ['--version'], { encoding: 'utf8', env }).stdout.trim();
  return {
    npmNode,
    npxMs: round(median(npxMs)),
    directMs: round(median(directMs)),
    addedMs: round(median(npxMs.map((ms, i) => ms - (directMs[i] as number)))),
    npm,
  };
}

async function main(): Promise<void> {
  const build = buildState(ROOT);
  if (!build.fresh) console.warn(`the CLI build is not fresh (${build.reason}): run \`npm run build\` first`);
  await runAsReadme(); // warm-up: the file system cache, not counted
  const samples: Sample[] = [];
  const splits: Split[] = [];
  for (let run = 1; run <= RUNS; run++) {
    const sample = await runAsReadme();
    samples.push(sample);
    const split = await runSplit();
    splits.push(split);
    console.log(`run ${run}: ${JSON.stringify(sample)} --json: ${JSON.stringify(split)}`);
  }
  const medianOf = (key: keyof Sample) => median(samples.map((s) => s[key]));
  const medianSplit = (key: keyof Split) => median(splits.map((s) => s[key]));
  const npx = npxCost();
  const overheadViaNpxMs = medianOf('overheadMs') + npx.addedMs;
  const report = {
    benchmark: 'start-up of meta-agent run',
    date: new Date().toISOString(),
    node: process.version,
    command: `meta-agent run ${EXAMPLE}`,
    buildFresh: build.fresh,
    runs: samples,
    splitRuns: splits,
    median: {
      wallMs: medianOf('wallMs'),
      makespanMs: medianOf('makespanMs'),
      overheadMs: medianOf('overheadMs'),
      jsonOverheadMs: medianSplit('jsonOverheadMs'),
      beforeFirstTaskMs: medianSplit('beforeFirstTaskMs'),
      afterLastTaskMs: medianSplit('afterLastTaskMs'),
    },
    goalOverheadMs: GOAL_OVERHEAD_MS,
    meetsGoal: medianOf('overheadMs') < GOAL_OVERHEAD_MS,
    npx,
    overheadViaNpxMs: round(overheadViaNpxMs),
    meetsGoalViaNpx: overheadViaNpxMs < GOAL_OVERHEAD_MS,
  };
  const file = writeResult('startup.json', report);
  console.log(JSON.stringify(report.median), `meets goal: ${report.meetsGoal}`);
  console.log(
    `through npx (npm ${npx.npm} on Node ${npx.npmNode}): +${npx.addedMs} ms, overhead ${report.overheadViaNpxMs} ms, meets goal: ${report.meetsGoalViaNpx}`,
  );
  console.log(`wrote ${file}`);
}

await main();
