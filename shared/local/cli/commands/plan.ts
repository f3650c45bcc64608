/**
 * `meta-agent plan FILE [--json] [--config FILE]`: validates a batch and prints its dependency plan:
 * the topological order, the dependency levels, the critical path with its estimated duration, the task
 * count and the maximum parallelism. Nothing is run; exit 0 means the batch is valid.
 */
import { parseArgs } from 'node:util';
import {
  type BatchPlan,
  DEFAULT_TASK_ESTIMATE_MS,
  planBatch,
  simulatedDuration,
  simulatedDurationEstimate,
} from '../../../domain/dag';
import type { Batch } from '../../../domain/schemas';
import { CliUsageError } from '../errors';
import { type CliIO, type Command, ExitCode } from '../io';
import { loadBatchFile, loadRoleCatalog } from '../load';

export const USAGE = 'plan FILE [--json] [--config FILE]';

const HELP = `Usage: meta-agent ${USAGE}

Validates the batch in FILE and prints its dependency plan. Nothing is run.

Options:
  --json          print the plan as JSON
  --config FILE   JSON file { "roles": [...] } adding or overriding roles (for role validation)
  -h, --help      show this help

Durations are estimates: a task's input.simulate.durationMs when it gives one, else ${DEFAULT_TASK_ESTIMATE_MS} ms.
Exit codes: 0 the batch is valid, 2 bad input or configuration.
`;

/** The plan as printed by `--json`. */
export interface PlanReport {
  file: string;
  batchId?: string;
  taskCount: number;
  levelCount: number;
  maxParallelism: number;
  order: string[];
  levels: string[][];
  dependents: Record<string, string[]>;
  criticalPath: { ids: string[]; durationMs: number; estimated: true };
  estimates: {
    defaultMs: number;
    /** Per task: the estimate used and where it came from. */
    tasks: Record<string, { ms: number; source: 'input.simulate.durationMs' | 'default' }>;
  };
}

/** Builds the report of a valid batch (exported for the API and tests). */
export function planReport(file: string, batch: Batch): PlanReport {
  const plan: BatchPlan = planBatch(batch, simulatedDurationEstimate);
  const tasks: PlanReport['estimates']['tasks'] = {};
  for (const task of batch.tasks) {
    const own = simulatedDuration(task);
    tasks[task.id] =
      own === undefined
        ? { ms: DEFAULT_TASK_ESTIMATE_MS, source: 'default' }
        : { ms: own, source: 'input.simulate.durationMs' };
  }
  return {
    file,
    ...(batch.batchId === undefined ? {} : { batchId: batch.batchId }),
    taskCount: batch.tasks.length,
    levelCount: plan.levels.length,
    maxParallelism: plan.maxParallelism,
    order: plan.order,
    levels: plan.levels,
    dependents: Object.fromEntries(plan.dependents),
    criticalPath: { ...plan.criticalPath, estimated: true },
    estimates: { defaultMs: DEFAULT_TASK_ESTIMATE_MS, tasks },
  };
}

function formatMs(ms: number): string {
  return ms < 1_000 ? `${ms} ms` : `${(ms / 1_000).toFixed(2)} s`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The human-readable plan. */
export function formatPlan(report: PlanReport): string {
  const numberWidth = String(report.order.length).length;
  const defaulted = Object.entries(report.estimates.tasks)
    .filter(([, e]) => e.source === 'default')
    .map(([id]) => id);
  const lines = [
    `Plan for ${report.file}${report.batchId ? ` (batch ${report.batchId})` : ''}: ` +
      `${plural(report.taskCount, 'task')}, ${plural(report.levelCount, 'level')}, max parallelism ${report.maxParallelism}`,
    '',
    'Order (dependencies first; among ready tasks, higher priority then submission order):',
    ...report.order.map((id, i) => `  ${String(i + 1).padStart(numberWidth)}. ${id}`),
    '',
    'Levels (a task starts as soon as its own dependencies finish):',
    ...report.levels.map((ids, level) => `  level ${level}: ${ids.join(', ')}`),
    '',
    `Critical path (estimated ${formatMs(report.criticalPath.durationMs)}): ${report.criticalPath.ids.join(' -> ')}`,
    defaulted.length === 0
      ? 'Estimates: every task gives input.simulate.durationMs.'
      : `Estimates: input.simulate.durationMs where given, else ${formatMs(report.estimates.defaultMs)} ` +
        `(${plural(defaulted.length, 'task')} use the default: ${defaulted.join(', ')}).`,
    '',
  ];
  return lines.join('\n');
}

export const command: Command = async (argv: string[], io: CliIO): Promise<number> => {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      json: { type: 'boolean', default: false },
      config: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    io.stdout(HELP);
    return ExitCode.Ok;
  }
  const [file, ...extra] = positionals;
  if (file === undefined) throw new CliUsageError('plan needs a batch FILE', USAGE);
  if (extra.length > 0) throw new CliUsageError(`plan takes one FILE; unexpected: ${extra.join(' ')}`, USAGE);
  const catalog = await loadRoleCatalog(values.config, io);
  const batch = await loadBatchFile(file, io, new Set(catalog.keys()));
  const report = planReport(file, batch);
  io.stdout(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatPlan(report));
  return ExitCode.Ok;
};
