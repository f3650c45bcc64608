/**
 * Approval gates (README "Approvals"): a person, or a validator agent, approves a task before it is
 * dispatched (`approval.before`) or its output before it is accepted (`approval.after`). Pure rules: who
 * reviews, how long a wait may last, what a decision says, and what a rejected attempt's successor is told.
 */
import { z } from 'zod';
import { boundedContextRecord, type ContextItem, type RenderedContext } from './context';
import {
  DEFAULT_APPROVAL_TIMEOUT_SECONDS,
  DEFAULT_CONTEXT_BUDGET_BYTES,
  MAX_APPROVAL_COMMENT_CHARS,
} from './limits';
import type { ApprovalRecord, ReviewFailure, Simulate, SimulatedVerdict, Task } from './schemas';
import { utf8Length } from './utf8';

/** The `by` of a person's decision (a validator's is its agent id). */
export const PERSON = 'person';
/** The `by` of a rejection by timeout. */
export const APPROVAL_TIMEOUT_BY = 'timeout';
/** The error a rejection fails the waiting state with (its cause is the sentence the task's record keeps). */
export const APPROVAL_REJECTED_ERROR = 'ApprovalRejected';
/**
 * The error an attempt fails with when MAX_REVIEWS_PER_ATTEMPT validator reviews gave no verdict: not the
 * attempt's agent's fault (its circuit does not count it), but its output was never accepted.
 */
export const REVIEW_FAILED_ERROR = 'ReviewFailed';
/** The token of an output held for a validator's review before a validator took it (no state answers it). */
export const PENDING_REVIEW_TOKEN = 'review-not-started';

export type ApprovalStage = ApprovalRecord['stage'];

/**
 * POST /batches/{id}/tasks/{taskId}/approval. `retry: false` with a rejection of an output ends the task instead
 * of routing it again (a rejection before dispatch always ends it): for a rejection no reviewer made, which a new
 * attempt would only meet again (`meta-agent run` with nobody to ask), or a reviewer who wants no more attempts.
 */
export const ApprovalDecisionSchema = z
  .object({
    decision: z.enum(['approve', 'reject']),
    comment: z.string().max(MAX_APPROVAL_COMMENT_CHARS).optional(),
    retry: z.boolean().optional(),
  })
  .strict()
  .refine((d) => d.retry === undefined || d.decision === 'reject', {
    message: 'retry applies to a rejection only',
    path: ['retry'],
  });
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
    record: boundedContextRecord({
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
    }),
  };
}

// ------------------------------------------------------------------- validation by an agent (approval.after.by)

/**
 * The structured verdict a validator agent answers with (its review's outputSchema): accept or not, and what
 * must change. Extra fields are allowed (the simulated executor labels its verdicts `simulated`).
 */
export const VERDICT_SCHEMA: Record<string, unknown> = {
  type: 'object',
  properties: {
    accept: { type: 'boolean', description: 'true when the output does what the task asks' },
    comments: {
      type: 'string',
      maxLength: MAX_APPROVAL_COMMENT_CHARS,
      description: 'what is wrong and what must change (required when rejecting)',
    },
  },
  required: ['accept', 'comments'],
};

/** A validator agent's verdict, as VERDICT_SCHEMA validated it. */
export interface Verdict {
  accept: boolean;
  comments: string;
}

/**
 * Characters of the output under review quoted in a validator's prompt: room for a real review, well under a
 * provider's context window; a longer output is cut with a marker saying how much was left out.
 */
export const REVIEW_OUTPUT_MAX_CHARS = 48_000;

/** The lease a validator's slot is reserved under: one per review of one attempt (`run` counts them). */
export const reviewLeaseKey = (batchId: string, taskId: string, attempt: number, run: number) =>
  `${batchId}#${taskId}#${attempt}#review-${run}`;

/** Reviews by validator agents of a task's outputs so far, verdicts and failures alike (the next one's index). */
export function reviewsSoFar(
  approvals: readonly ApprovalRecord[] | undefined,
  failures: readonly ReviewFailure[] | undefined,
): number {
  const verdicts = (approvals ?? []).filter(
    (a) => a.stage === 'after' && a.by !== PERSON && a.by !== APPROVAL_TIMEOUT_BY,
  );
  return verdicts.length + (failures ?? []).length;
}

/** The failed reviews of one attempt's output (the validators not asked again, and the bound). */
export function failedReviewsOf(
  failures: readonly ReviewFailure[] | undefined,
  attempt: number,
): ReviewFailure[] {
  return (failures ?? []).filter((f) => f.attempt === attempt);
}

/** The output under review as the validator's prompt quotes it, cut at REVIEW_OUTPUT_MAX_CHARS. */
export function quotedOutput(text: string, totalBytes: number): string {
  if (text.length <= REVIEW_OUTPUT_MAX_CHARS && utf8Length(text) >= totalBytes) return text;
  const head = text.slice(0, REVIEW_OUTPUT_MAX_CHARS);
  return `${head}\n[... cut: the whole output is ${totalBytes} bytes; ${utf8Length(head)} are quoted above]`;
}

/**
 * What a validator agent is given: the reviewed task's description and the output under review, its role,
 * and VERDICT_SCHEMA as the output to give. `simulate` is what the simulated executor answers (the task's
 * `input.simulate.verdicts`), when the task lists one for this review.
 */
export function reviewTask(
  task: Task,
  validatorRole: string,
  attempt: number,
  output: string,
  simulate?: Simulate,
): Task {
  const description =
    `Review the output of attempt ${attempt} of task "${task.id}". Accept it only if it does what the task ` +
    'asks, completely and correctly; otherwise reject it and say in the comments what must change (the ' +
    "next attempt is given your comments).\n\n--- the task's description ---\n" +
    `${task.description}\n\n--- the output under review ---\n${output}\n`;
  return {
    id: task.id,
    description,
    role: validatorRole,
    outputSchema: VERDICT_SCHEMA,
    ...(simulate === undefined ? {} : { input: { simulate } }),
  };
}

/**
 * The simulated executor's answer for a review given as `input.simulate.verdicts[i]`: the verdict (labelled
 * simulated), an answer that is no verdict (`invalid`), or the failure mode (a review is its executor's
 * first attempt).
 */
export function simulateReview(verdict: SimulatedVerdict | undefined): Simulate {
  if (verdict === undefined) return { output: { accept: true, comments: '', simulated: true } };
  if ('accept' in verdict)
    return {
      output: { accept: verdict.accept, comments: verdict.comments ?? '', simulated: true },
      ...(verdict.durationMs === undefined ? {} : { durationMs: verdict.durationMs }),
    };
  if (verdict.fail === 'invalid') return { output: { verdict: 'unsure', simulated: true } };
  return { failAttempts: 1, failMode: verdict.fail };
}

/** Whether the rejection of attempt `attempt`'s output asked for no retry (ApprovalDecision.retry false). */
export function rejectedForGood(approvals: readonly ApprovalRecord[] | undefined, attempt: number): boolean {
  return (approvals ?? []).some(
    (a) => a.stage === 'after' && a.decision === 'reject' && a.attempt === attempt && a.retry === false,
  );
}
