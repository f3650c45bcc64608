/**
 * Planning benchmark (not a test): validateBatch + planBatch on a realistic layered random DAG of the
 * largest allowed batch. Run: `npx tsx benchmarks/plan.bench.ts`. Prints median / p95 and writes
 * benchmarks/results/plan.json. Target: median under 50 ms for 2,000 tasks.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { planBatch, simulatedDurationEstimate } from '../shared/domain/dag';
import { MAX_TASKS_PER_BATCH } from '../shared/domain/limits';
import { BUILTIN_ROLE_NAMES } from '../shared/domain/roles';
import { validateBatch } from '../shared/domain/validation';

const TASKS = MAX_TASKS_PER_BATCH;
/** Layers of the generated DAG: a 2,000-task batch as 40 waves of 50 parallel tasks. */
const LAYERS = 40;
/** Mean direct dependencies per task (the brief's "about 3"). */
const MEAN_DEPENDENCIES = 3;
/** Dependencies mostly reach back this many layers: realistic work builds on recent results. */
const LOOKBACK_LAYERS = 3;
const WARMUP_ITERATIONS = 30;
const MEASURED_ITERATIONS = 300;
const TARGET_MEDIAN_MS = 50;
const SEED = 20_261_124;
const RESULTS = join(dirname(new URL(import.meta.url).pathname), 'results', 'plan.json');

/** mulberry32: small seeded PRNG so every run measures the same graph. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const VERBS = ['Implement', 'Write tests for', 'Review', 'Document', 'Refactor', 'Design', 'Integrate'];
const THINGS = [
  'the login endpoint',
  'the orders table',
  'the React checkout form',
  'the webhook handler',
  'the CI pipeline',
];

function generateBatch(random: () => number): { tasks: Record<string, unknown>[] } {
  const perLayer = TASKS / LAYERS;
  const tasks: Record<string, unknown>[] = [];
  for (let i = 0; i < TASKS; i++) {
    const layer = Math.floor(i / perLayer);
    const dependsOn = new Set<string>();
    if (layer > 0) {
      // 1..(2 * mean - 1) dependencies, uniformly: mean MEAN_DEPENDENCIES.
      const count = 1 + Math.floor(random() * (2 * MEAN_DEPENDENCIES - 1));
      const from = Math.max(0, layer - LOOKBACK_LAYERS) * perLayer;
      const to = layer * perLayer;
      while (dependsOn.size < Math.min(count, to - from)) {
        dependsOn.add(`task-${from + Math.floor(random() * (to - from))}`);
      }
    }
    const verb = VERBS[Math.floor(random() * VERBS.length)];
    const thing = THINGS[Math.floor(random() * THINGS.length)];
    tasks.push({
      id: `task-${i}`,
      description: `${verb} ${thing} (part ${i}): follow the team conventions, keep the public API stable and explain the trade-offs in the summary.`,
      ...(dependsOn.size > 0 ? { dependsOn: [...dependsOn] } : {}),
      ...(random() < 0.2 ? { priority: random() < 0.5 ? 1 : 3 } : {}),
      ...(random() < 0.1
        ? { role: BUILTIN_ROLE_NAMES[Math.floor(random() * BUILTIN_ROLE_NAMES.length)] }
        : {}),
      input: { simulate: { durationMs: 100 + Math.floor(random() * 900) } },
    });
  }
  return { tasks };
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

function stats(samples: number[]): { medianMs: number; p95Ms: number; minMs: number; maxMs: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const round = (ms: number) => Math.round(ms * 1_000) / 1_000;
  return {
    medianMs: round(percentile(sorted, 50)),
    p95Ms: round(percentile(sorted, 95)),
    minMs: round(sorted[0] ?? Number.NaN),
    maxMs: round(sorted[sorted.length - 1] ?? Number.NaN),
  };
}

async function run(): Promise<void> {
  const raw = generateBatch(prng(SEED));
  const roles = new Set(BUILTIN_ROLE_NAMES);
  const edges = raw.tasks.reduce((n, t) => n + ((t.dependsOn as string[] | undefined)?.length ?? 0), 0);

  const total: number[] = [];
  const validation: number[] = [];
  const planning: number[] = [];
  let plan: ReturnType<typeof planBatch> | undefined;
  for (let i = 0; i < WARMUP_ITERATIONS + MEASURED_ITERATIONS; i++) {
    const t0 = performance.now();
    const result = validateBatch(raw, roles);
    const t1 = performance.now();
    if (!result.ok) throw new Error(`generated batch is invalid: ${result.issues[0]?.message}`);
    plan = planBatch(result.batch, simulatedDurationEstimate);
    const t2 = performance.now();
    if (i >= WARMUP_ITERATIONS) {
      total.push(t2 - t0);
      validation.push(t1 - t0);
      planning.push(t2 - t1);
    }
  }

  const report = {
    benchmark: 'plan',
    date: new Date().toISOString(),
    node: process.versions.node,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    graph: {
      tasks: TASKS,
      edges,
      layers: LAYERS,
      levels: plan?.levels.length,
      maxParallelism: plan?.maxParallelism,
      criticalPathTasks: plan?.criticalPath.ids.length,
      seed: SEED,
    },
    iterations: { warmup: WARMUP_ITERATIONS, measured: MEASURED_ITERATIONS },
    validateAndPlan: stats(total),
    validateBatch: stats(validation),
    planBatch: stats(planning),
    targetMedianMs: TARGET_MEDIAN_MS,
  };

  await mkdir(dirname(RESULTS), { recursive: true });
  await writeFile(RESULTS, `${JSON.stringify(report, null, 2)}\n`);
  const line = (name: string, s: ReturnType<typeof stats>) =>
    `${name.padEnd(22)} median ${s.medianMs.toFixed(2)} ms   p95 ${s.p95Ms.toFixed(2)} ms`;
  process.stdout.write(
    [
      `plan benchmark: ${TASKS} tasks, ${edges} dependencies, ${MEASURED_ITERATIONS} iterations after ${WARMUP_ITERATIONS} warm-up (Node ${process.versions.node})`,
      line('validate + plan', report.validateAndPlan),
      line('  validateBatch', report.validateBatch),
      line('  planBatch', report.planBatch),
      `target: median under ${TARGET_MEDIAN_MS} ms -> ${report.validateAndPlan.medianMs <= TARGET_MEDIAN_MS ? 'met' : 'MISSED'}`,
      `results: ${RESULTS}`,
      '',
    ].join('\n'),
  );
}

await run();
