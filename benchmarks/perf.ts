/**
 * Performance report of the embedded runtime (not a test): `npm run bench:perf`, under 10 minutes on two
 * cores.
 *
 * - makespan against the lower bound on chain, wide, diamond and random layered DAGs;
 * - scaling: 1 ... 2,000 zero-work tasks over the 22 roles (makespan, tasks/min); a size whose projected
 *   duration (from the rate measured so far) would overrun the time budget is skipped and reported so;
 * - latency distributions over every run: route handler (store I/O included), queue wait (dispatch
 *   decision to agent invocation), end-to-end overhead per task (task wall time minus simulated work);
 * - memory: peak RSS, and RSS growth per agent spawned.
 *
 * Writes benchmarks/results/perf.json, perf.md and SVG charts under benchmarks/results/charts/.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveRoles } from '../shared/domain/roles';
import type { Batch, Task } from '../shared/domain/schemas';
import { EmbeddedSystem } from '../shared/local/system';
import { barChart, lineChart } from './charts';
import {
  benchOptions,
  DAG_ROLES,
  type Distribution,
  distribution,
  failures,
  GOAL_MAKESPAN_RATIO,
  GOAL_TASKS_PER_MINUTE,
  generousOptions,
  generousRoles,
  layeredDag,
  lowerBound,
  overheadMs,
  PER_ROLE_CONCURRENCY,
  Probe,
  RESULTS_DIR,
  RssSampler,
  roleConcurrency,
  round,
  rssMb,
  runBatch,
  tasksPerMinute,
  writeResult,
  zeroWorkBatch,
} from './lib';

const SIZES = [1, 5, 10, 20, 50, 100, 500, 1_000, 2_000];
/** Whole run budget (the brief: under 10 minutes), with a margin for start-up and reports. */
const BUDGET_MS = 9 * 60_000;
/** A size is run only when its projection fits the remaining budget with this safety factor. */
const PROJECTION_FACTOR = 1.3;
const MS_PER_MINUTE = 60_000;
const CHARTS_DIR = join(RESULTS_DIR, 'charts');

const work = (ms: number) => ({ simulate: { durationMs: ms } });
const roleAt = (i: number) => DAG_ROLES[i % DAG_ROLES.length] as string;

function task(id: string, i: number, ms: number, dependsOn: string[] = []): Task {
  return {
    id,
    description: `Benchmark task ${id}`,
    role: roleAt(i),
    ...(dependsOn.length > 0 ? { dependsOn } : {}),
    input: work(ms),
  };
}

function chainDag(): Batch {
  const n = 10;
  return {
    batchId: 'perf-chain',
    tasks: Array.from({ length: n }, (_, i) => task(`c${i}`, i, 200, i === 0 ? [] : [`c${i - 1}`])),
  };
}

function wideDag(): Batch {
  return { batchId: 'perf-wide', tasks: Array.from({ length: 60 }, (_, i) => task(`w${i}`, i, 300)) };
}

function diamondDag(): Batch {
  const middle = Array.from({ length: 12 }, (_, i) => task(`d-mid-${i}`, i + 1, 400, ['d-top']));
  return {
    batchId: 'perf-diamond',
    tasks: [
      task('d-top', 0, 300),
      ...middle,
      task(
        'd-bottom',
        5,
        300,
        middle.map((t) => t.id),
      ),
    ],
  };
}

function randomDag(): Batch {
  return layeredDag('perf-random', {
    seed: 44,
    tasks: [80, 120],
    layers: [5, 8],
    deps: [1, 3],
    durationMs: [50, 600],
    roles: DAG_ROLES,
  });
}

async function writeChart(name: string, chart: Promise<string>): Promise<string> {
  const svg = await chart;
  mkdirSync(CHARTS_DIR, { recursive: true });
  writeFileSync(join(CHARTS_DIR, name), `${svg}\n`);
  return `charts/${name}`;
}

function latencyRow(name: string, d: Distribution): string {
  return `| ${name} | ${d.samples} | ${d.p50} | ${d.p95} | ${d.p99} | ${d.max} |`;
}

async function main(): Promise<void> {
  const began = performance.now();
  const rss = new RssSampler();
  const roleNames = [...resolveRoles().keys()];
  const catalog = resolveRoles(generousRoles(roleNames, PER_ROLE_CONCURRENCY));
  const system = await EmbeddedSystem.start(benchOptions(generousOptions(roleNames, PER_ROLE_CONCURRENCY)));
  const rssAfterStartMb = rssMb();
  const probe = new Probe(system);
  const overhead: number[] = [];
  const dags: Record<string, number | string>[] = [];
  const scaling: { tasks: number; makespanMs: number; wallMs: number; tasksPerMinute: number }[] = [];
  const skipped: { tasks: number; projectedMs: number }[] = [];
  let agentsSpawned = 0;
  try {
    for (const batch of [chainDag(), wideDag(), diamondDag(), randomDag()]) {
      const bound = lowerBound(batch, (role) => roleConcurrency(catalog, role));
      const { result, makespanMs } = await runBatch(system, batch);
      const failed = failures(result);
      if (failed.length > 0) throw new Error(`${batch.batchId}: ${failed.slice(0, 5).join('; ')}`);
      overhead.push(...overheadMs(batch, result));
      const entry = {
        dag: (batch.batchId ?? '').replace('perf-', ''),
        tasks: batch.tasks.length,
        ...bound,
        makespanMs,
        ratio: round(makespanMs / bound.boundMs, 3),
      };
      dags.push(entry);
      console.log(`dag ${JSON.stringify(entry)}`);
    }

    let rate = 0; // tasks per ms measured on the last size
    for (const size of SIZES) {
      const elapsed = performance.now() - began;
      const projectedMs = rate > 0 ? size / rate : 0;
      if (elapsed + projectedMs * PROJECTION_FACTOR > BUDGET_MS) {
        skipped.push({ tasks: size, projectedMs: round(projectedMs) });
        console.log(`skip ${size} tasks: projected ${round(projectedMs / 1000, 1)} s overruns the budget`);
        continue;
      }
      const batch = zeroWorkBatch(`perf-scale-${size}`, size, roleNames);
      // Large batches: poll the status route rarely (each poll reads every task).
      const { result, makespanMs, wallMs } = await runBatch(system, batch, size >= 500 ? 1_000 : 50);
      const failed = failures(result);
      if (failed.length > 0) throw new Error(`${size} tasks: ${failed.slice(0, 5).join('; ')}`);
      overhead.push(...overheadMs(batch, result));
      rate = size / wallMs;
      const entry = {
        tasks: size,
        makespanMs,
        wallMs: round(wallMs),
        tasksPerMinute: tasksPerMinute(size, makespanMs),
      };
      scaling.push(entry);
      console.log(`scale ${JSON.stringify(entry)}`);
    }
    const response = await system.request({ method: 'GET', path: '/agents' });
    agentsSpawned = (JSON.parse(response.body) as { agents: unknown[] }).agents.length;
  } finally {
    probe.stop();
    await system.stop();
  }
  rss.stop();

  const peakThroughput = Math.max(...scaling.map((s) => s.tasksPerMinute));
  const latency = {
    routeHandlerMs: distribution(probe.routeMs),
    queueWaitMs: distribution(probe.queueWaitMs),
    overheadPerTaskMs: distribution(overhead),
  };
  const memory = {
    rssAfterStartMb,
    peakRssMb: rss.peakMb,
    agentsSpawned,
    perAgentMb: agentsSpawned > 0 ? round((rss.peakMb - rssAfterStartMb) / agentsSpawned, 2) : null,
    note: 'per agent = (peak RSS - RSS after start) / agents in the registry; agents are registry records, so this mostly measures in-flight batch state, not agent cost',
  };
  const report = {
    benchmark: 'perf',
    date: new Date().toISOString(),
    node: process.version,
    durationMs: round(performance.now() - began),
    perRoleConcurrency: PER_ROLE_CONCURRENCY,
    scaling,
    skipped,
    throughput: { peakTasksPerMinute: peakThroughput, goalTasksPerMinute: GOAL_TASKS_PER_MINUTE },
    latency,
    memory,
    dags,
  };
  writeResult('perf.json', report);

  const charts = {
    scaling: await writeChart(
      'scaling-throughput.svg',
      lineChart({
        title: 'Throughput by batch size (zero-work tasks, 22 roles)',
        xLabel: 'tasks in the batch',
        yLabel: 'tasks per minute',
        logX: true,
        series: [{ name: 'tasks/min (makespan)', points: scaling.map((s) => [s.tasks, s.tasksPerMinute]) }],
      }),
    ),
    makespan: await writeChart(
      'scaling-makespan.svg',
      lineChart({
        title: 'Makespan by batch size (zero-work tasks)',
        xLabel: 'tasks in the batch',
        yLabel: 'makespan (s)',
        logX: true,
        series: [{ name: 'makespan', points: scaling.map((s) => [s.tasks, round(s.makespanMs / 1000, 2)]) }],
      }),
    ),
    latency: await writeChart(
      'latency.svg',
      barChart({
        title: 'Latency per task (ms)',
        yLabel: 'milliseconds',
        categories: ['route handler', 'queue wait', 'overhead per task'],
        series: (['p50', 'p95', 'p99'] as const).map((p) => ({
          name: p,
          values: [latency.routeHandlerMs[p], latency.queueWaitMs[p], latency.overheadPerTaskMs[p]],
        })),
      }),
    ),
    dags: await writeChart(
      'dag-ratio.svg',
      barChart({
        title: 'Makespan / lower bound by DAG shape',
        yLabel: 'ratio',
        categories: dags.map((d) => String(d.dag)),
        series: [{ name: 'makespan / bound', values: dags.map((d) => Number(d.ratio)) }],
        reference: { y: GOAL_MAKESPAN_RATIO, label: `goal ${GOAL_MAKESPAN_RATIO}` },
      }),
    ),
  };

  const md = [
    '# Embedded runtime performance',
    '',
    `Run ${report.date} on Node ${process.version}, ${Math.round((report.durationMs / MS_PER_MINUTE) * 10) / 10} min; one process, every role allowed ${PER_ROLE_CONCURRENCY} tasks in flight. Figures: benchmarks/results/perf.json.`,
    '',
    `- Peak throughput: **${peakThroughput} tasks/min** (goal ${GOAL_TASKS_PER_MINUTE}).`,
    `- Makespan / lower bound: ${dags.map((d) => `${d.dag} **${d.ratio}**`).join(', ')} (goal <= ${GOAL_MAKESPAN_RATIO}).`,
    `- Route handler (store I/O included): p50 ${latency.routeHandlerMs.p50} ms, p99 ${latency.routeHandlerMs.p99} ms.`,
    `- Peak RSS ${memory.peakRssMb} MB (${rssAfterStartMb} MB after start; ${agentsSpawned} agents, ${memory.perAgentMb} MB per agent by growth).`,
    ...(skipped.length > 0
      ? [
          `- Skipped for the time budget: ${skipped.map((s) => `${s.tasks} tasks (projected ${round(s.projectedMs / 1000)} s)`).join(', ')}.`,
        ]
      : []),
    '',
    '## Scaling',
    '',
    '| tasks | makespan (ms) | tasks/min |',
    '|---|---|---|',
    ...scaling.map((s) => `| ${s.tasks} | ${s.makespanMs} | ${s.tasksPerMinute} |`),
    '',
    `![throughput](${charts.scaling}) ![makespan](${charts.makespan})`,
    '',
    '## Latency (ms)',
    '',
    '| measure | samples | p50 | p95 | p99 | max |',
    '|---|---|---|---|---|---|',
    latencyRow('route handler', latency.routeHandlerMs),
    latencyRow('queue wait (dispatch -> agent)', latency.queueWaitMs),
    latencyRow('overhead per task (wall - work)', latency.overheadPerTaskMs),
    '',
    `![latency](${charts.latency})`,
    '',
    '## Makespan against the lower bound',
    '',
    "Bound = max(critical path of simulated durations, max over roles of the role's work / its concurrency).",
    '',
    '| DAG | tasks | critical path (ms) | bound (ms) | makespan (ms) | ratio |',
    '|---|---|---|---|---|---|',
    ...dags.map(
      (d) => `| ${d.dag} | ${d.tasks} | ${d.criticalPathMs} | ${d.boundMs} | ${d.makespanMs} | ${d.ratio} |`,
    ),
    '',
    `![dag ratios](${charts.dags})`,
    '',
  ].join('\n');
  writeFileSync(join(RESULTS_DIR, 'perf.md'), md);
  console.log(md);
}

await main();
