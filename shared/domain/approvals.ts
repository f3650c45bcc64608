/**
 * Approval gates (README "Approvals"): a person, or a validator agent, approves a task before it is
 * dispatched (`approval.before`) or its output before it is accepted (`approval.after`). Pure rules: who
 * reviews, how long a wait may last, what a decision says, and what a rejected attempt's successor is told.
 */
import { z } from 'zod';
import type { ContextItem, RenderedContext } from './context';
import {
  DEFAULT_APPROVAL_TIMEOUT_SECONDS,
  DEFAULT_CONTEXT_BUDGET_BYTES,
  MAX_APPROVAL_COMMENT_CHARS,
} from './limits';
import type { ApprovalRecord, Task } from './schemas';
import { utf8Length } from './utf8';

/** The `by` of a person's decision (a validator's is its agent id). */
export const PERSON = 'person';
/** The `by` of a rejection by timeout. */
export const APPROVAL_TIMEOUT_BY = 'timeout';
/** The error a rejection fails the waiting state with (its cause is the sentence the task's record keeps). */
export const APPROVAL_REJECTED_ERROR = 'ApprovalRejected';

export type ApprovalStage = ApprovalRecord['stage'];

/** POST /batches/{id}/tasks/{taskId}/approval. */
export const ApprovalDecisionSchema = z
  .object({
    decision: z.enum(['approve', 'reject']),
    comment: z.string().max(MAX_APPROVAL_COMMENT_CHARS).optional(),
  })
  .strict();
export type ApprovalDecision = z.infer<typeof ApprovalDecisionSchema>;

/** Who reviews a task's output: nobody, a person, or an agent of a validator role (`approval.by`). */
export type Reviewer = { kind: 'none' } | { kind: 'person' } | { kind: 'validator'; role: string };

export function reviewerOf(task: Pick<Task, 'approval'>): Reviewer {
  const approval = task.approval;
  if (!approval?.after) return { kind: 'none' };
  return approval.by === undefined ? { kind: 'person' } : { kind: 'validator', role: approval.by };
}

/** The task's approval wait in seconds (a timeout rejects). */
export function approvalTimeoutSeconds(task: Pick<Task, 'approval'>): number {
  return task.approval?.timeoutSeconds ?? DEFAULT_APPROVAL_TIMEOUT_SECONDS;
}

/** true while a task that asks for approval before dispatch has not been approved. */
export function needsApprovalBefore(
  task: Pick<Task, 'approval'>,
  approvals: readonly ApprovalRecord[] | undefined,
): boolean {
  if (!task.approval?.before) return false;
  return !(approvals ?? []).some((a) => a.stage === 'before' && a.decision === 'approve');
}

/** The sentence a rejection fails the waiting state with, and the record keeps. */
export function rejectionCause(
  stage: ApprovalStage,
  by: string,
  comment: string | undefined,
  attempt?: number,
): string {
  const what =
    stage === 'before' ? 'rejected before dispatch' : `output of attempt ${attempt ?? '?'} rejected`;
  return `${what} by ${by}${comment ? `: ${comment}` : ''}`;
}

/** What a rejection by timeout says. */
export function timeoutComment(seconds: number): string {
  return `no decision within ${seconds} s`;
}

const FEEDBACK_TITLE =
  'Reviews of earlier attempts at this task (their output was rejected; address every point):\n\n';

/** The rejections of earlier attempts' outputs a new attempt is told about, oldest first. */
export function rejectionsBefore(
  approvals: readonly ApprovalRecord[] | undefined,
  attempt: number,
): ApprovalRecord[] {
  return (approvals ?? []).filter(
    (a) => a.stage === 'after' && a.decision === 'reject' && (a.attempt ?? 0) < attempt,
  );
}

/**
 * The prompt section telling a new attempt why earlier outputs were rejected ('' when none were): one entry
 * per rejection, with the attempt, the reviewer and the comment.
 */
export function feedbackSection(rejections: readonly ApprovalRecord[]): string {
  if (rejections.length === 0) return '';
  const entries = rejections.map(
    (r) =>
      `--- attempt ${r.attempt ?? '?'} rejected by ${r.by} ---\n${r.comment ?? '(no comment given)'}\n\n`,
  );
  return FEEDBACK_TITLE + entries.join('');
}

/**
 * An attempt's context with the rejections of earlier attempts first: a section before the dependencies'
 * work, items of kind `rejection` (the comment as their note) in the request and in the attempt's record.
 * The feedback is outside the context budget (which bounds other tasks' work): it is the task's own review,
 * at most MAX_APPROVAL_COMMENT_CHARS per attempt.
 */
export function withRejections(
  rendered: RenderedContext | undefined,
  task: Task,
  rejections: readonly ApprovalRecord[],
): RenderedContext | undefined {
  if (rejections.length === 0) return rendered;
  const items: ContextItem[] = rejections.map((r) => {
    const bytes = utf8Length(r.comment ?? '');
    return {
      taskId: task.id,
      kind: 'rejection',
      note: `attempt ${r.attempt ?? '?'} rejected by ${r.by}${r.comment ? `: ${r.comment}` : ''}`,
      cut: false,
      bytes,
      totalBytes: bytes,
    };
  });
  const record = rendered?.record ?? {
    budgetBytes: task.contextBudgetBytes ?? DEFAULT_CONTEXT_BUDGET_BYTES,
    usedBytes: 0,
    items: [],
  };
  return {
    section: feedbackSection(rejections) + (rendered?.section ?? ''),
    task: rendered?.task ?? task,
    items: [...items, ...(rendered?.items ?? [])],
    record: {
      ...record,
      items: [
        ...items.map((i) => ({
          taskId: i.taskId,
          kind: i.kind,
          bytes: i.bytes,
          totalBytes: i.totalBytes,
          cut: false,
        })),
        ...record.items,
      ],
    },
  };
}
