/**
 * Contention benchmark (not a test): `npm run bench:contention`.
 *
 * BENCH_TASKS (2,000) zero-work tasks over the 22 built-in roles with the default role limits (not the
 * generous ones of bench:runtime), so most tasks find no free slot when they route: the case the capacity
 * hand-off of issue 14 is for. BENCH_RUNS (3) runs, median quoted. Per run:
 * - tasks per minute (from the report's makespan);
 * - route invocations per task: the Route state's (goal 1.0: a task that waits is given its slot by the
 *   capacity hand-off, never routes again);
 * - WAIT answers per task (a task that found no free slot and parked), and parks per task (the
 *   WaitForCapacity state's invocations of the same function, which parks the token);
 * - lost reservation races (goal 0): those recorded in each task's final routing decision, plus those of the
 *   routes that then answered WAIT (its `lostRaces`); hand-offs race for nothing.
 * BENCH_ROUTES: `bounded` (default: the embedded runtime's LOCAL_ROUTE_CONCURRENCY routes at once, which
 * queues the tasks in the process before they route, so few of them ever find every slot taken) or
 * `unbounded` (every task routes at once, as on AWS, where each route is its own Lambda invocation).
 * Writes benchmarks/results/contention[-unbounded].json. Goal of issue 14: at least 6,000 tasks/min.
 */

import { resolveRoles } from '../shared/domain/roles';
import { EmbeddedSystem } from '../shared/local/system';
import {
  benchOptions,
  failures,
  median,
  round,
  runBatch,
  tasksPerMinute,
  writeResult,
  zeroWorkBatch,
} from './lib';

const TASKS = Number(process.env.BENCH_TASKS ?? 2_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const ROUTES = process.env.BENCH_ROUTES ?? 'bounded';
if (ROUTES !== 'bounded' && ROUTES !== 'unbounded')
  throw new Error(`BENCH_ROUTES=${ROUTES}: expected bounded or unbounded`);
/** The throughput goal of issue 14 with the default role limits. */
export const GOAL_CONTENDED_TASKS_PER_MINUTE = 6_000;
/** Status polls read every task: poll rarely so the probe does not load the system it measures. */
const POLL_MS = 1_000;
const LOST_RACE = 'lost the reservation race';

interface RouteTally {
  invocations: number;
  waits: number;
  parks: number;
  /** Races lost by routes that answered WAIT. */
  lostBeforeWait: number;
}

interface Decisions {
  decisions: { decision?: { rejected?: { reason?: string }[] } }[];
}

async function lostRaces(system: EmbeddedSystem, batchId: string): Promise<number> {
  const response = await system.request({ method: 'GET', path: `/batches/${batchId}/decisions` });
  if (response.statusCode !== 200)
    throw new Error(`decisions of ${batchId}: ${response.statusCode} ${response.body}`);
  const body = JSON.parse(response.body) as Decisions;
  return body.decisions.reduce(
    (sum, d) => sum + (d.decision?.rejected ?? []).filter((r) => r.reason === LOST_RACE).length,
    0,
  );
}

async function main(): Promise<void> {
  const roleNames = [...resolveRoles().keys()];
  const system = await EmbeddedSystem.start(
    benchOptions(ROUTES === 'unbounded' ? { routeConcurrency: 0 } : {}),
  );
  const tally: RouteTally = { invocations: 0, waits: 0, parks: 0, lostBeforeWait: 0 };
  const stop = system.runtime.runner.observeInvocations((t) => {
    if (t.handlerName !== 'route') return;
    if (t.stateName !== 'Route') {
      tally.parks += 1;
      return;
    }
    tally.invocations += 1;
    const result = t.result as { decision?: string; lostRaces?: number } | undefined;
    if (result?.decision !== 'WAIT') return;
    tally.waits += 1;
    tally.lostBeforeWait += result.lostRaces ?? 0;
  });
  const runs: Record<string, number>[] = [];
  try {
    for (let run = 1; run <= RUNS; run++) {
      tally.invocations = 0;
      tally.waits = 0;
      tally.parks = 0;
      tally.lostBeforeWait = 0;
      const batchId = `contention-${run}`;
      const batch = zeroWorkBatch(batchId, TASKS, roleNames);
      const { result, makespanMs } = await runBatch(system, batch, POLL_MS);
      const failed = failures(result);
      if (failed.length > 0) throw new Error(`run ${run}: ${failed.slice(0, 5).join('; ')}`);
      const entry = {
        run,
        makespanMs,
        tasksPerMinute: tasksPerMinute(TASKS, makespanMs),
        routesPerTask: round(tally.invocations / TASKS, 3),
        waitsPerTask: round(tally.waits / TASKS, 3),
        parksPerTask: round(tally.parks / TASKS, 3),
        lostRaces: (await lostRaces(system, batchId)) + tally.lostBeforeWait,
        lostBeforeWait: tally.lostBeforeWait,
      };
      runs.push(entry);
      console.log(`run ${run}: ${JSON.stringify(entry)}`);
    }
  } finally {
    stop();
    await system.stop();
  }
  const medianOf = (key: string) => median(runs.map((r) => r[key] as number));
  const report = {
    benchmark: `contention (default role limits, ${ROUTES} routes)`,
    date: new Date().toISOString(),
    node: process.version,
    tasks: TASKS,
    roles: roleNames.length,
    runs,
    medianTasksPerMinute: medianOf('tasksPerMinute'),
    medianRoutesPerTask: medianOf('routesPerTask'),
    medianWaitsPerTask: medianOf('waitsPerTask'),
    medianParksPerTask: medianOf('parksPerTask'),
    medianLostRaces: medianOf('lostRaces'),
    goals: { tasksPerMinute: GOAL_CONTENDED_TASKS_PER_MINUTE, routesPerTask: 1, lostRaces: 0 },
  };
  console.log(JSON.stringify({ ...report, runs: undefined }));
  writeResult(ROUTES === 'bounded' ? 'contention.json' : 'contention-unbounded.json', report);
}

await main();
