/**
 * Batch budgets, the pure part (README "Budgets"): the worst case an attempt holds against its batch's budget
 * before it is dispatched, the ledger's figures (integer nano-dollars and tokens), whether an attempt fits now
 * or could fit once the attempts in flight settle, and the reasons a person reads.
 *
 * The ledger (one item per batch, BudgetLedger) keeps what was spent (settled attempts, at their real usage)
 * and what is held (attempts in flight, at their worst case); Route holds an attempt's worst case with one
 * conditional write (held + spent + worst <= max) and the attempt's end settles it. The reserved worst cases
 * always fit the budget, so spend exceeds it only by what an attempt really used beyond its worst case.
 */
import { feedbackSection, rejectionsBefore } from './approvals';
import { takesContext } from './context';
import {
  DEFAULT_MAX_OUTPUT_TOKENS,
  nanoToUsd,
  type PriceTable,
  pricedModel,
  totalTokens,
  usdToNano,
  worstCaseUsage,
} from './costs';
import { DEFAULT_CONTEXT_BUDGET_BYTES, STRUCTURED_OUTPUT_REASKS } from './limits';
import { placeholderCounts, renderPrompt } from './roles';
import type {
  ApprovalRecord,
  Budget,
  BudgetState,
  ExecutorConfig,
  ExtractedRequirements,
  Role,
  Task,
  Usage,
} from './schemas';
import { utf8Length } from './utf8';

/** An amount against a budget: whole nano-dollars and tokens. */
export interface BudgetAmount {
  readonly nanoUsd: number;
  readonly tokens: number;
}

/** The limits of a budget in ledger units (absent: that dimension is not capped). */
export interface BudgetLimits {
  readonly maxNanoUsd?: number;
  readonly maxTokens?: number;
}

/** A batch's ledger as stored: limits, what settled attempts spent and what attempts in flight hold. */
export interface LedgerState extends BudgetLimits {
  readonly spent: BudgetAmount;
  readonly reserved: BudgetAmount;
  /** Set once an attempt did not fit with nothing left in flight: nothing more is dispatched. */
  readonly exhausted?: string;
}

export const ZERO_AMOUNT: BudgetAmount = { nanoUsd: 0, tokens: 0 };

/** The ledger limits of a budget. */
export function limitsOf(budget: Budget): BudgetLimits {
  return {
    ...(budget.maxCostUsd !== undefined ? { maxNanoUsd: usdToNano(budget.maxCostUsd) } : {}),
    ...(budget.maxTokens !== undefined ? { maxTokens: budget.maxTokens } : {}),
  };
}

/** Bytes renderPrompt adds before the context when the template has no `{{context}}` (it appends it). */
const APPENDED_CONTEXT_SEPARATOR_BYTES = 2;

/**
 * UTF-8 bytes an attempt's request can carry at most: the role's prompt filled with the task as submitted
 * (`base`), what other tasks' work adds to it, the reviews of rejected outputs, and the output schema (sent as
 * a tool or response format).
 *
 * Why `base + m * B + c * F (+ 2) + schema` bounds it, with B the context budget (0 when the task takes no
 * other tasks' work), F the feedback section's bytes, m the most times any ONE of `{{description}}`,
 * `{{input}}` and `{{context}}` appears in the template, c the times `{{context}}` does (1 when it does not:
 * renderPrompt then appends the context once, after 2 bytes of separator):
 * - the context builder (domain/context.ts) spends B on the context section and on every substitution of
 *   other tasks' work into the description and into `input` (as escaped JSON) TOGETHER: call their bytes s,
 *   d and i, s + d + i <= B (renderContext's usedBytes is their sum);
 * - a substitution replaces its placeholder, so the description grows by at most d and `input`'s JSON by at
 *   most i; the context section is s bytes, and the feedback (approvals.ts withRejections) is put before it,
 *   in the same section, so that section is s + F bytes;
 * - renderPrompt writes the description once per `{{description}}`, the input once per `{{input}}` and the
 *   section once per `{{context}}` (or once, appended), and nothing else of them, so the prompt is at most
 *   base + n_d * d + n_i * i + c * (s + F) (+ 2), and n_d * d + n_i * i + c * s <= m * (d + i + s) <= m * B.
 * The bound is reached: with one of each placeholder (the built-in templates) and one dependency whose output
 * fills the section to B, the prompt is base + B + F bytes. Summing the counts instead (3 with the built-in
 * templates) held three times a dependent's worst case: no budget under about 306,000 tokens ran a task that
 * takes other tasks' work with the default context budget.
 */
export function promptBytesBound(input: {
  role: Role;
  task: Task;
  requirements: ExtractedRequirements;
  approvals?: readonly ApprovalRecord[] | undefined;
  attempt: number;
}): number {
  const { role, task } = input;
  const base = utf8Length(renderPrompt(role, task, input.requirements, ''));
  const counts = placeholderCounts(role.promptTemplate);
  const sectionPlaces = Math.max(1, counts.context);
  const workPlaces = Math.max(counts.description, counts.input, sectionPlaces);
  const context = takesContext(task) ? (task.contextBudgetBytes ?? DEFAULT_CONTEXT_BUDGET_BYTES) : 0;
  const feedback = utf8Length(feedbackSection(rejectionsBefore(input.approvals, input.attempt)));
  const separator = counts.context === 0 && context + feedback > 0 ? APPENDED_CONTEXT_SEPARATOR_BYTES : 0;
  const schema = task.outputSchema === undefined ? 0 : utf8Length(JSON.stringify(task.outputSchema));
  return base + workPlaces * context + sectionPlaces * feedback + separator + schema;
}

/**
 * The most attempt `attempt` of `task` can use on `executor`: tokens (worstCaseUsage: at most a token per byte
 * of the request plus the framing, the executor's max output tokens per call, one re-ask with an outputSchema)
 * and their cost at the price table's rates, null when the price is unknown.
 */
export function attemptWorstCase(input: {
  role: Role;
  task: Task;
  requirements: ExtractedRequirements;
  approvals?: readonly ApprovalRecord[] | undefined;
  attempt: number;
  executor: ExecutorConfig;
  prices: PriceTable;
}): { tokens: number; nanoUsd: number | null } {
  const worst = worstCaseUsage({
    promptBytes: promptBytesBound(input),
    maxOutputTokens: input.executor.maxOutputTokens ?? DEFAULT_MAX_OUTPUT_TOKENS,
    reasks: input.task.outputSchema === undefined ? 0 : STRUCTURED_OUTPUT_REASKS,
  });
  return { tokens: totalTokens(worst.total), nanoUsd: input.prices.costOf(input.executor, worst.calls) };
}

/**
 * What an ended attempt charges its batch's budget: its recorded usage and cost, or, where it reported none (a
 * worker that died, an attempt that timed out or was cancelled, an unknown price), what it held.
 */
export function chargeOf(
  held: BudgetAmount,
  attempt: { usage?: Usage | undefined; costUsd?: number | null | undefined },
): BudgetAmount {
  if (attempt.usage === undefined) return held;
  const cost = attempt.costUsd;
  return {
    tokens: totalTokens(attempt.usage),
    nanoUsd: cost === null || cost === undefined ? held.nanoUsd : usdToNano(cost),
  };
}

/**
 * What attempts run without a budget spent, as the ledger a redrive opens for them starts with: every token
 * they reported, and the cost of those that had a price. An unpriced attempt's cost is unknown and adds
 * nothing here; it never makes the priced ones count for nothing (their sum as a batch total is unknown).
 * An attempt that reported no usage adds nothing.
 */
export function spentWithoutBudget(
  attempts: readonly { usage?: Usage | undefined; costUsd?: number | null | undefined }[],
): BudgetAmount {
  let nanoUsd = 0;
  let tokens = 0;
  for (const attempt of attempts) {
    if (attempt.usage === undefined) continue;
    tokens += totalTokens(attempt.usage);
    if (typeof attempt.costUsd === 'number') nanoUsd += usdToNano(attempt.costUsd);
  }
  return { nanoUsd, tokens };
}

/** Which limit `hold` breaks on top of what is spent and held: 'cost', 'tokens' or undefined (it fits). */
export function overLimit(
  state: LedgerState,
  hold: BudgetAmount,
  inFlight = true,
): 'cost' | 'tokens' | undefined {
  const held = inFlight ? state.reserved : ZERO_AMOUNT;
  if (state.maxNanoUsd !== undefined && state.spent.nanoUsd + held.nanoUsd + hold.nanoUsd > state.maxNanoUsd)
    return 'cost';
  if (state.maxTokens !== undefined && state.spent.tokens + held.tokens + hold.tokens > state.maxTokens)
    return 'tokens';
  return undefined;
}

/**
 * Whether an attempt that does not fit now could fit once the attempts in flight settle (they may use less
 * than they hold): true means wait, false means the budget is exhausted.
 */
export function couldFitLater(state: LedgerState, hold: BudgetAmount): boolean {
  const inFlight = state.reserved.nanoUsd > 0 || state.reserved.tokens > 0;
  return inFlight && overLimit(state, hold, false) === undefined;
}

/** Decimals of a dollar amount: cents at the least, nano-dollars (the ledger's unit) at the most. */
const MIN_USD_DECIMALS = 2;
const MAX_USD_DECIMALS = 9;

/** Whole nano-dollars rounded to `decimals` decimals, in units of the last one. */
const roundNano = (nano: number, decimals: number) => Math.round(nano / 10 ** (MAX_USD_DECIMALS - decimals));

/** Units of `decimals` decimals (roundNano's) as dollars: `$1.234`. */
function usdOfUnits(units: number, decimals: number): string {
  const scale = 10 ** decimals;
  const sign = units < 0 ? '-' : '';
  const abs = Math.abs(units);
  return `${sign}$${Math.floor(abs / scale)}.${String(abs % scale).padStart(decimals, '0')}`;
}

/**
 * A count with thousands separators, as `toLocaleString('en-US')` writes it (`1,234,567`). Integers are
 * grouped here: the first toLocaleString of a process builds ICU's number formatter, 18 to 28 ms of every
 * `meta-agent run` (its summary table), while the counts shown are whole numbers. Anything else is left to it.
 */
export function formatCount(n: number): string {
  if (!Number.isSafeInteger(n)) return n.toLocaleString('en-US');
  const digits = String(Math.abs(n));
  const head = digits.length % 3 || 3;
  const groups = [digits.slice(0, head)];
  for (let i = head; i < digits.length; i += 3) groups.push(digits.slice(i, i + 3));
  return `${n < 0 ? '-' : ''}${groups.join(',')}`;
}

const formatTokens = formatCount;

/**
 * The reason written when the next attempt does not fit: `budget exhausted: $x of $y spent, $z left (...)`.
 * Every amount has the same decimals, the fewest (cents at the least) at which the rounded amounts add up
 * (spent + left = the limit) and the next attempt's cost shows above what is left: rounded to cents alone,
 * $1.2345 left and $1.2349 needed would read "up to $1.23, $1.23 left", as if it fitted.
 */
export function exhaustedReason(state: LedgerState, hold: BudgetAmount, limit: 'cost' | 'tokens'): string {
  if (limit === 'cost') {
    const amounts = (decimals: number) => {
      const spent = roundNano(state.spent.nanoUsd, decimals);
      const max = roundNano(state.maxNanoUsd ?? 0, decimals);
      return { spent, max, left: Math.max(0, max - spent), next: roundNano(hold.nanoUsd, decimals) };
    };
    let decimals = MIN_USD_DECIMALS;
    for (; decimals < MAX_USD_DECIMALS; decimals++) {
      const { left, next } = amounts(decimals);
      if (next > left) break;
    }
    const { spent, max, left, next } = amounts(decimals);
    const usd = (units: number) => usdOfUnits(units, decimals);
    return `budget exhausted: ${usd(spent)} of ${usd(max)} spent, ${usd(left)} left (the next attempt could cost up to ${usd(next)})`;
  }
  return `budget exhausted: ${formatTokens(state.spent.tokens)} of ${formatTokens(state.maxTokens ?? 0)} tokens spent (the next attempt could use up to ${formatTokens(hold.tokens)})`;
}

/** Why an attempt on an unpriced model cannot run under a cost cap. */
export function unpricedReason(executor: Pick<ExecutorConfig, 'name' | 'model'>): string {
  const model = pricedModel(executor);
  return `cancelled: the budget caps cost and ${executor.name}${model ? ` model ${model}` : ''} has no price (give it one in the config's costs.prices)`;
}

/** The ledger as the batch result shows it (BatchResult.budget). */
export function budgetStateOf(state: LedgerState): BudgetState {
  return {
    ...(state.maxNanoUsd !== undefined ? { maxCostUsd: nanoToUsd(state.maxNanoUsd) } : {}),
    ...(state.maxTokens !== undefined ? { maxTokens: state.maxTokens } : {}),
    spentUsd: nanoToUsd(state.spent.nanoUsd),
    spentTokens: state.spent.tokens,
    reservedUsd: nanoToUsd(state.reserved.nanoUsd),
    reservedTokens: state.reserved.tokens,
    ...(state.exhausted !== undefined ? { exhausted: state.exhausted } : {}),
  };
}

/** The ledger key of one attempt: a hold is taken and settled once per key. */
export const holdKey = (taskId: string, attempt: number) => `${taskId}#${attempt}`;
