/**
 * Live progress of a batch for `meta-agent run`: per-task state changes as lines and, on a terminal, a
 * progress bar drawn by cli-progress. Off a terminal (CI, pipes) only the lines are printed.
 */
import cliProgress from 'cli-progress';
import { formatCount } from '../../domain/budget';
import { totalTokens } from '../../domain/costs';
import type { BatchResult, BudgetState, TaskResult, Usage } from '../../domain/schemas';
import { type CliIO, printable } from './io';

const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'SKIPPED', 'CANCELLED']);

function describe(task: TaskResult): string {
  const attempt = task.attempts.length > 0 ? ` attempt ${task.attempts.length}` : '';
  const agent = task.agentId ? ` on ${task.agentId}` : '';
  const reason = task.reason ? ` (${printable(task.reason)})` : '';
  return `${task.id}: ${task.status}${agent}${attempt}${reason}`;
}

/** Turns successive batch snapshots into state-change lines and a bar. */
export class ProgressReporter {
  private readonly seen = new Map<string, string>();
  private readonly multibar: cliProgress.MultiBar | undefined;
  private readonly bar: cliProgress.SingleBar | undefined;
  private stopped = false;

  constructor(
    private readonly io: CliIO,
    total: number,
    label: string,
  ) {
    if (io.isTTY) {
      this.multibar = new cliProgress.MultiBar(
        {
          format: `${label} [{bar}] {value}/{total} done | {running} running | {failed} failed | {duration_formatted}`,
          hideCursor: true,
          clearOnComplete: false,
          stopOnComplete: false,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar = this.multibar.create(total, 0, { running: 0, failed: 0 });
    }
  }

  /** Reports what changed since the previous snapshot. */
  update(result: BatchResult): void {
    for (const task of result.tasks) {
      const key = `${task.status}|${task.attempts.length}|${task.agentId ?? ''}`;
      if (this.seen.get(task.id) === key) continue;
      this.seen.set(task.id, key);
      const line = `${describe(task)}\n`;
      if (this.multibar) this.multibar.log(line);
      else this.io.stdout(line);
    }
    if (this.bar) {
      const done = result.tasks.filter((t) => TERMINAL.has(t.status)).length;
      const running = result.tasks.filter((t) => t.status === 'RUNNING').length;
      const failed = result.tasks.filter((t) => t.status === 'FAILED' || t.status === 'SKIPPED').length;
      this.bar.update(done, { running, failed });
    }
  }

  /** Draws the last state and releases the terminal; later calls do nothing. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    // Lines logged since the last redraw wait in the bar's buffer: redraw once so the last changes show.
    this.multibar?.update();
    this.multibar?.stop();
  }
}

function pad(text: string, width: number): string {
  return text.length >= width ? text : text + ' '.repeat(width - text.length);
}

/** Tokens as the summary shows them: every kind together, `*` marking a count of the simulated executor. */
export function formatTokens(usage: Usage | undefined): string {
  if (!usage) return '-';
  return `${formatCount(totalTokens(usage))}${usage.simulated ? '*' : ''}`;
}

/** The smallest amount the summary writes out (six decimals); anything above zero below it shows as `<$0.000001`. */
const SMALLEST_SHOWN_USD = 0.000001;

/** USD as the summary shows it: cents above a dollar, six decimals below; `unknown` for an unpriced model. */
export function formatUsd(usd: number | null | undefined): string {
  if (usd === undefined) return '-';
  if (usd === null) return 'unknown';
  if (usd === 0) return '$0';
  if (usd < SMALLEST_SHOWN_USD) return `<$${SMALLEST_SHOWN_USD.toFixed(6)}`;
  return `$${usd >= 1 ? usd.toFixed(2) : usd.toFixed(6).replace(/0+$/, '').replace(/\.$/, '')}`;
}

/**
 * The summary table printed after a run: task, role, agent, attempts, duration, tokens, cost, status; a
 * total line of tokens and cost, and the budget when the batch has one.
 */
export function formatSummaryTable(result: BatchResult): string {
  const header = ['task', 'role', 'agent', 'attempts', 'duration', 'tokens', 'cost', 'status'];
  const rows = result.tasks.map((t) => [
    t.id,
    t.role ?? '-',
    t.agentId ?? '-',
    String(t.attempts.length),
    t.startedAt !== undefined && t.finishedAt !== undefined ? `${t.finishedAt - t.startedAt} ms` : '-',
    formatTokens(t.usage),
    formatUsd(t.costUsd),
    t.reason ? `${t.status} (${printable(t.reason)})` : t.status,
  ]);
  const total = ['total', '', '', '', '', formatTokens(result.usage), formatUsd(result.costUsd), ''];
  const widths = header.map((h, i) =>
    Math.max(h.length, ...[...rows, total].map((r) => (r[i] ?? '').length)),
  );
  const line = (cells: string[]) => `${cells.map((c, i) => pad(c, widths[i] ?? 0)).join('  ')}`.trimEnd();
  const counts = new Map<string, number>();
  for (const t of result.tasks) counts.set(t.status, (counts.get(t.status) ?? 0) + 1);
  const tally = [...counts].map(([status, n]) => `${n} ${status}`).join(', ');
  const rule = line(widths.map((w) => '-'.repeat(w)));
  return [
    line(header),
    rule,
    ...rows.map(line),
    rule,
    line(total),
    ...(result.usage?.simulated
      ? ['* tokens counted by the simulated executor from prompt and output sizes (4 bytes a token)']
      : []),
    ...(result.budget ? [budgetLine(result.budget), ...budgetAboveTotal(result.budget, result)] : []),
    '',
    `batch ${result.batchId}: ${result.status} in ${result.makespanMs ?? '-'} ms (${tally})`,
    '',
  ].join('\n');
}

/**
 * Why the budget's spend can exceed the total line: the budget charges an attempt that reported no usage (its
 * worker died, it timed out, it was cancelled while running) its whole hold, which no task's tokens or cost
 * include. Said, with the difference, whenever a limit shown is above the total; nothing otherwise.
 */
function budgetAboveTotal(budget: BudgetState, result: Pick<BatchResult, 'usage' | 'costUsd'>): string[] {
  const parts: string[] = [];
  const tokens = budget.spentTokens - (result.usage ? totalTokens(result.usage) : 0);
  if (budget.maxTokens !== undefined && tokens > 0) parts.push(`${formatCount(tokens)} tokens`);
  const usd = budget.spentUsd - (result.costUsd ?? 0);
  // A total with an unknown cost cannot be compared; sub-nano differences are float noise of the sum.
  if (budget.maxCostUsd !== undefined && result.costUsd !== null && usd >= SMALLEST_COMPARED_USD)
    parts.push(formatUsd(usd));
  if (parts.length === 0) return [];
  return [
    `  the budget counts ${parts.join(' and ')} more than the total: attempts that reported no usage are charged their whole hold`,
  ];
}

/** One nano-dollar, the ledger's unit: a smaller difference between two sums of dollars is rounding. */
const SMALLEST_COMPARED_USD = 1e-9;

/** The budget as a sentence: spent (and held by running attempts) of each limit. */
function budgetLine(budget: BudgetState): string {
  const parts: string[] = [];
  if (budget.maxCostUsd !== undefined)
    parts.push(`${formatUsd(budget.spentUsd)} of ${formatUsd(budget.maxCostUsd)} spent`);
  if (budget.maxTokens !== undefined)
    parts.push(`${formatCount(budget.spentTokens)} of ${formatCount(budget.maxTokens)} tokens`);
  const held =
    budget.reservedUsd > 0 || budget.reservedTokens > 0
      ? ` (${formatUsd(budget.reservedUsd)}, ${formatCount(budget.reservedTokens)} tokens held by running attempts)`
      : '';
  return `budget: ${parts.join(', ')}${held}${budget.exhausted ? `; ${budget.exhausted}` : ''}`;
}
