import { sumCosts, sumUsage } from '../domain/costs';
import type {
  Attempt,
  BatchResult,
  BatchStatus,
  BudgetState,
  TaskResult,
  TaskTally,
  Usage,
} from '../domain/schemas';
import type { ApprovalWait, StoredBatch, StoredTask, TaskStatusCounts, TaskSummary } from '../ports';

/** A task as a result shows it: a summary, with its output when the result includes outputs. */
type ResultTask = TaskSummary & Pick<StoredTask, 'output'>;

/**
 * The public result of a batch (API GET /batches/{id}, Finalize, CLI --json): tasks in submission order,
 * each with its attempts. `includeOutput: false` keeps a Finalize result small (state payloads are capped).
 */
export function buildBatchResult(
  batch: StoredBatch,
  tasks: readonly ResultTask[],
  options: { includeOutput?: boolean; budget?: BudgetState } = {},
): BatchResult {
  const byId = new Map(tasks.map((t) => [t.taskId, t]));
  const ordered = batch.taskIds.flatMap((id) => {
    const task = byId.get(id);
    return task ? [task] : [];
  });
  const results = ordered.map((task) => taskResult(task, options.includeOutput ?? true));
  return {
    batchId: batch.batchId,
    status: batch.status,
    startedAt: batch.startedAt,
    ...(batch.finishedAt !== undefined ? { finishedAt: batch.finishedAt } : {}),
    ...(batch.makespanMs !== undefined ? { makespanMs: batch.makespanMs } : {}),
    tasks: results,
    ...spendOf(results),
    ...(options.budget ? { budget: options.budget } : {}),
  };
}

/**
 * Tokens and cost of attempts (or of tasks): the sums, the cost null when some price was unknown or an answer
 * reported no usage (costUsd null). Attempts that ended with nothing recorded (a worker that died) count for
 * nothing here; a budget charges them their worst case.
 */
export function spendOf(items: readonly Pick<Attempt, 'usage' | 'costUsd'>[]): {
  usage?: Usage;
  costUsd?: number | null;
} {
  const usage = sumUsage(items.map((i) => i.usage));
  // An attempt without usage counts only when its cost is known to be unknown (an answer that reported none).
  const costUsd = sumCosts(
    items.map((i) => (i.usage === undefined && i.costUsd !== null ? undefined : i.costUsd)),
  );
  return { ...(usage ? { usage } : {}), ...(costUsd !== undefined ? { costUsd } : {}) };
}

/**
 * What a task spent on: its attempts, its validators' reviews, and the question of model-assisted routing when one was asked (a
 * cached answer cost nothing). The question is stored once with the task's requirements (Route keeps them
 * from the first call on), so it counts once however often the task routes.
 */
function taskSpendItems(
  task: Pick<TaskSummary, 'attempts' | 'approvals' | 'requirements'>,
): Pick<Attempt, 'usage' | 'costUsd'>[] {
  // The reviews of its outputs by validator agents (approval.after.by) are the task's spending too.
  const reviews = (task.approvals ?? []).filter((a) => a.usage !== undefined);
  const assist = task.requirements?.assist;
  if (!assist?.usage || assist.cached) return [...task.attempts, ...reviews];
  return [...task.attempts, ...reviews, { usage: assist.usage, costUsd: assist.costUsd ?? null }];
}

/** A task's tokens and cost as its result shows them (taskSpendItems): progress messages give the same. */
export function taskSpend(
  task: Pick<TaskSummary, 'attempts' | 'approvals' | 'requirements'>,
): ReturnType<typeof spendOf> {
  return spendOf(taskSpendItems(task));
}

/** One task's public result (GET /batches/{id} lists them; the task view starts from it). */
export function taskResult(task: ResultTask, includeOutput: boolean): TaskResult {
  return {
    id: task.taskId,
    status: task.status,
    ...(task.role !== undefined ? { role: task.role } : {}),
    ...(task.agentId !== undefined ? { agentId: task.agentId } : {}),
    ...(task.startedAt !== undefined ? { startedAt: task.startedAt } : {}),
    ...(task.finishedAt !== undefined ? { finishedAt: task.finishedAt } : {}),
    attempts: task.attempts,
    ...(includeOutput && task.output !== undefined ? { output: task.output } : {}),
    // A reference is small: it is in every result, Finalize's included.
    ...(task.outputRef !== undefined ? { outputRef: task.outputRef } : {}),
    ...(task.reason !== undefined ? { reason: task.reason } : {}),
    ...taskSpend(task),
    ...(task.approvals && task.approvals.length > 0 ? { approvals: task.approvals } : {}),
    ...(task.reviewFailures && task.reviewFailures.length > 0 ? { reviewFailures: task.reviewFailures } : {}),
    // What it waits for (never the wait's task token: a credential of the execution).
    ...(task.status === 'AWAITING_APPROVAL' && task.approvalWait
      ? {
          awaiting: {
            stage: task.approvalWait.stage,
            reviewer: task.approvalWait.reviewer,
            since: task.approvalWait.since,
            deadline: task.approvalWait.since + task.approvalWait.timeoutSeconds * 1000,
            ...(task.approvalWait.attempt === undefined ? {} : { attempt: task.approvalWait.attempt }),
            ...undeliveredOf(task.approvalWait),
          },
        }
      : {}),
  };
}

/** SUCCEEDED when every task succeeded, PARTIAL when some did, FAILED when none; CANCELLED on request. */
/** A wait's decision whose answer could not be sent (ApprovalWait.undelivered), as `awaiting` shows it. */
function undeliveredOf(wait: ApprovalWait): Pick<NonNullable<TaskResult['awaiting']>, 'undelivered'> {
  if (!wait.decided || !wait.undelivered) return {};
  return { undelivered: { decision: wait.decided.decision, ...wait.undelivered } };
}

export function decideBatchStatus(
  batch: StoredBatch,
  tasks: readonly Pick<StoredTask, 'status'>[],
): BatchStatus {
  if (batch.cancelRequested) return 'CANCELLED';
  const succeeded = tasks.filter((t) => t.status === 'SUCCEEDED').length;
  if (succeeded === tasks.length) return 'SUCCEEDED';
  return succeeded > 0 ? 'PARTIAL' : 'FAILED';
}

/** How many of `tasks` have each status. */
export function countStatuses(tasks: readonly Pick<StoredTask, 'status'>[]): TaskStatusCounts {
  const counts: TaskStatusCounts = {};
  for (const { status } of tasks) counts[status] = (counts[status] ?? 0) + 1;
  return counts;
}

/** Status counts as the progress a person reads: total, done, and where the rest are. */
export function tallyOf(counts: TaskStatusCounts, total?: number): TaskTally {
  const n = (status: keyof TaskStatusCounts) => counts[status] ?? 0;
  const succeeded = n('SUCCEEDED');
  const failed = n('FAILED');
  const skipped = n('SKIPPED');
  const cancelled = n('CANCELLED');
  const running = n('RUNNING');
  const waiting = n('PENDING') + n('READY') + n('AWAITING_APPROVAL');
  const counted = succeeded + failed + skipped + cancelled + running + waiting;
  return {
    total: Math.max(total ?? counted, counted),
    done: succeeded + failed + skipped + cancelled,
    succeeded,
    failed,
    skipped,
    cancelled,
    running,
    waiting,
  };
}
