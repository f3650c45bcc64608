/**
 * One benchmark run in turn on another commit and on this working tree (not a test):
 * `npm run bench:ab -- BASE BENCHMARK [PAIRS]`, e.g. `npm run bench:ab -- HEAD~1 contention 4`.
 *
 * This machine's speed drifts within the hour (one commit's bench:contention has measured 9,244 and then
 * 6,206 tasks/min half an hour apart), so two commits' figures compare only when taken in one series. This
 * checks BASE out in a temporary git worktree (its node_modules links to this one's packages,
 * ab-worktree.ts), builds the CLI in both, then runs the benchmark PAIRS times on each side (default 3), in
 * turn: base head, head base, ... Each turn runs the benchmark with BENCH_RUNS=1 unless BENCH_RUNS is set, and
 * reads its figures from its result file.
 * Prints each figure's values, medians and the median of head / base within each pair, and writes
 * benchmarks/results/ab-BENCHMARK.json. This tree's own result files are put back as they were; the worktree
 * is removed. Benchmarks: see AB_BENCHMARKS in ab-lib.ts.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AB_BENCHMARKS, type Figures, type Side, summarise, turnOrder } from './ab-lib';
import { linkNodeModules } from './ab-worktree';
import { RESULTS_DIR, writeResult } from './lib';

const ROOT = join(RESULTS_DIR, '..', '..');
const USAGE = `usage: npm run bench:ab -- BASE BENCHMARK [PAIRS]   (BENCHMARK: ${Object.keys(AB_BENCHMARKS).join(', ')})`;

function git(args: string[], cwd = ROOT): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** Every file under benchmarks/results/ with its bytes, to put back after this tree's turns. */
function snapshotResults(): Map<string, Buffer> {
  const files = readdirSync(RESULTS_DIR, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
  return new Map(files.map((e) => [join(e.parentPath, e.name), readFileSync(join(e.parentPath, e.name))]));
}

/** Puts benchmarks/results/ back as it was: changed files rewritten, new ones removed. */
function restoreResults(snapshot: ReadonlyMap<string, Buffer>): void {
  for (const file of snapshotResults().keys()) if (!snapshot.has(file)) rmSync(file, { force: true });
  for (const [file, bytes] of snapshot) writeFileSync(file, bytes);
}

function run(cwd: string, args: string[], env: NodeJS.ProcessEnv): void {
  const done = spawnSync(process.execPath, args, { cwd, env, stdio: ['ignore', 'ignore', 'inherit'] });
  if (done.status !== 0) throw new Error(`${args.join(' ')} in ${cwd} exited ${done.status ?? done.signal}`);
}

async function main(): Promise<number> {
  const [baseRef, name, pairsArg] = process.argv.slice(2);
  const bench = name === undefined ? undefined : AB_BENCHMARKS[name];
  if (baseRef === undefined || name === undefined || !bench) {
    console.error(name !== undefined && !bench ? `unknown benchmark "${name}"\n${USAGE}` : USAGE);
    return 2;
  }
  let turns: Side[];
  try {
    turns = turnOrder(pairsArg === undefined ? 3 : Number(pairsArg));
  } catch (error) {
    console.error(`PAIRS: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  let base: string;
  try {
    base = git(['rev-parse', '--verify', `${baseRef}^{commit}`]);
  } catch {
    console.error(`BASE "${baseRef}" is not a commit of this repository\n${USAGE}`);
    return 2;
  }
  const head = git(['rev-parse', 'HEAD']);
  const dirty = git(['status', '--porcelain', '--untracked-files=no']) !== '';
  const env = { ...process.env, BENCH_RUNS: process.env.BENCH_RUNS ?? '1' };
  const resultFile = bench.result(env);
  // This tree's turns rewrite its result files (compare also its table and chart): put back at the end.
  const kept = snapshotResults();
  const worktree = mkdtempSync(join(tmpdir(), 'meta-agent-ab-'));
  const dirs: Record<Side, string> = { base: worktree, head: ROOT };
  const samples: Record<Side, Figures[]> = { base: [], head: [] };
  try {
    git(['worktree', 'add', '--detach', worktree, base]);
    linkNodeModules(ROOT, worktree);
    if (!existsSync(join(worktree, 'benchmarks', bench.script)))
      throw new Error(`benchmarks/${bench.script} does not exist at ${base.slice(0, 7)}`);
    for (const side of ['base', 'head'] as const) {
      if (existsSync(join(dirs[side], 'scripts', 'build.mjs'))) run(dirs[side], ['scripts/build.mjs'], env);
    }
    for (const [i, side] of turns.entries()) {
      run(dirs[side], ['--import', 'tsx', join('benchmarks', bench.script)], env);
      const figures = bench.figures(
        JSON.parse(readFileSync(join(dirs[side], 'benchmarks', 'results', resultFile), 'utf8')),
      );
      samples[side].push(figures);
      console.log(`turn ${i + 1}/${turns.length} ${side}: ${JSON.stringify(figures)}`);
    }
  } finally {
    restoreResults(kept);
    try {
      git(['worktree', 'remove', '--force', worktree]);
    } catch {
      rmSync(worktree, { recursive: true, force: true });
      git(['worktree', 'prune']);
    }
  }
  const rows = summarise(samples.base, samples.head);
  for (const r of rows) {
    console.log(
      `${r.figure}: base ${r.baseMedian} (${r.base.join(', ')}), head ${r.headMedian} (${r.head.join(', ')}), head/base in pairs ${r.pairRatio}`,
    );
  }
  const file = writeResult(`ab-${name}.json`, {
    benchmark: `${name}, in turn on two commits`,
    date: new Date().toISOString(),
    node: process.version,
    base,
    head: dirty ? `${head} with uncommitted changes` : head,
    pairs: turns.length / 2,
    benchRuns: Number(env.BENCH_RUNS),
    rows,
  });
  console.log(`wrote ${file}`);
  return 0;
}

process.exitCode = await main();
