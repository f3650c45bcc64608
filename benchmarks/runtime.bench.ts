/**
 * Embedded runtime benchmark (not a test): `npm run bench:runtime`.
 *
 * - throughput: BENCH_TASKS (2,000) zero-work tasks over the 22 roles, no dependencies, every role able to
 *   run 100 at once; tasks per minute from the report's makespanMs; BENCH_RUNS (3) runs, median quoted.
 * - makespan / lower bound on three seeded layered random DAGs (60-150 tasks, 5-8 layers, 1-3 deps, six
 *   roles, 50-600 ms of simulated work each).
 * - route handler latency (store I/O included) and queue wait p50 / p99, per phase (throughput runs, DAG
 *   runs), and peak RSS sampled every 100 ms.
 * - idle: what the started runtime costs with no batch, over IDLE_MS (the role pollers' long polls, the
 *   emulators' timers): the main thread's busy time and the process's CPU time, per second.
 *
 * Writes benchmarks/results/runtime.json. Goals: >= 20,000 tasks/min, makespan ratio <= 1.10.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { resolveRoles } from '../shared/domain/roles';
import { EmbeddedSystem } from '../shared/local/system';
import {
  benchOptions,
  distribution,
  failures,
  GOAL_MAKESPAN_RATIO,
  GOAL_TASKS_PER_MINUTE,
  generousOptions,
  generousRoles,
  layeredDag,
  lowerBound,
  median,
  PER_ROLE_CONCURRENCY,
  Probe,
  RANDOM_DAG_SHAPE,
  RssSampler,
  roleConcurrency,
  round,
  rssMb,
  runBatch,
  tasksPerMinute,
  writeResult,
  zeroWorkBatch,
} from './lib';

const THROUGHPUT_TASKS = Number(process.env.BENCH_TASKS ?? 2_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const IDLE_MS = 3_000;
const SETTLE_MS = 1_000;
/** Status polls read every task: poll rarely so the probe does not load the system it measures. */
const THROUGHPUT_POLL_MS = 1_000;
const DAG_SEEDS = [11, 22, 33];
async function main(): Promise<void> {
  const rss = new RssSampler();
  const baselineRssMb = rssMb();
  const roleNames = [...resolveRoles().keys()];
  // Per phase: in the throughput runs every task routes at once (the Map starts them all), so those
  // figures are mostly queueing; the DAG runs show the latency of a lightly loaded system.
  const latency: Record<string, { routeHandlerMs: unknown; queueWaitMs: unknown }> = {};

  const throughput: { run: number; makespanMs: number; wallMs: number; tasksPerMinute: number }[] = [];
  const dags: Record<string, unknown>[] = [];
  // One system for every run: handler modules read their configuration once per process, so a second
  // EmbeddedSystem in the same process would talk to the first one's (stopped) emulators.
  const system = await EmbeddedSystem.start(benchOptions(generousOptions(roleNames, PER_ROLE_CONCURRENCY)));
  const catalog = resolveRoles(generousRoles(roleNames, PER_ROLE_CONCURRENCY));
  const probe = new Probe(system);
  let idle: { ms: number; mainThreadBusyMsPerSecond: number; processCpuMsPerSecond: number } | undefined;
  try {
    await sleep(SETTLE_MS);
    const loop = performance.eventLoopUtilization();
    const cpu = process.cpuUsage();
    await sleep(IDLE_MS);
    const { user, system: kernel } = process.cpuUsage(cpu);
    idle = {
      ms: IDLE_MS,
      mainThreadBusyMsPerSecond: round((performance.eventLoopUtilization(loop).active / IDLE_MS) * 1000, 1),
      processCpuMsPerSecond: round((user + kernel) / IDLE_MS, 1),
    };
    console.log(`idle: ${JSON.stringify(idle)}`);
    for (let run = 1; run <= RUNS; run++) {
      const { result, makespanMs, wallMs } = await runBatch(
        system,
        zeroWorkBatch(`throughput-${run}`, THROUGHPUT_TASKS, roleNames),
        THROUGHPUT_POLL_MS,
      );
      const failed = failures(result);
      if (failed.length > 0) throw new Error(`throughput run ${run}: ${failed.slice(0, 5).join('; ')}`);
      const entry = {
        run,
        makespanMs,
        wallMs: round(wallMs),
        tasksPerMinute: tasksPerMinute(THROUGHPUT_TASKS, makespanMs),
      };
      throughput.push(entry);
      console.log(`throughput run ${run}: ${JSON.stringify(entry)}`);
    }
    latency.throughput = {
      routeHandlerMs: distribution(probe.routeMs),
      queueWaitMs: distribution(probe.queueWaitMs),
    };
    probe.reset();
    for (const seed of DAG_SEEDS) {
      const batch = layeredDag(`dag-${seed}`, { seed, ...RANDOM_DAG_SHAPE });
      const bound = lowerBound(batch, (role) => roleConcurrency(catalog, role));
      const { result, makespanMs } = await runBatch(system, batch);
      const failed = failures(result);
      if (failed.length > 0) throw new Error(`${batch.batchId}: ${failed.slice(0, 5).join('; ')}`);
      const entry = {
        dag: batch.batchId,
        tasks: batch.tasks.length,
        ...bound,
        makespanMs,
        ratio: round(makespanMs / bound.boundMs, 3),
      };
      dags.push(entry);
      console.log(`makespan ${JSON.stringify(entry)}`);
    }
    latency.dags = {
      routeHandlerMs: distribution(probe.routeMs),
      queueWaitMs: distribution(probe.queueWaitMs),
    };
  } finally {
    probe.stop();
    await system.stop();
  }
  rss.stop();

  const medianTasksPerMinute = median(throughput.map((t) => t.tasksPerMinute));
  const medianRatio = median(dags.map((d) => d.ratio as number));
  const report = {
    benchmark: 'embedded runtime',
    date: new Date().toISOString(),
    node: process.version,
    throughput: {
      tasks: THROUGHPUT_TASKS,
      roles: roleNames.length,
      perRoleConcurrency: PER_ROLE_CONCURRENCY,
      runs: throughput,
      medianTasksPerMinute,
      goalTasksPerMinute: GOAL_TASKS_PER_MINUTE,
      meetsGoal: medianTasksPerMinute >= GOAL_TASKS_PER_MINUTE,
    },
    makespan: {
      dags,
      medianRatio,
      goalRatio: GOAL_MAKESPAN_RATIO,
      meetsGoal: medianRatio <= GOAL_MAKESPAN_RATIO,
    },
    latency,
    idle,
    memory: { baselineRssMb, peakRssMb: rss.peakMb },
  };
  const file = writeResult('runtime.json', report);
  console.log(JSON.stringify(report, null, 2));
  console.log(`wrote ${file}`);
}

await main();
