import { describe, expect, it } from 'vitest';
import {
  feedbackSection,
  needsApprovalBefore,
  quotedOutput,
  REVIEW_OUTPUT_MAX_CHARS,
  rejectionCause,
  rejectionsBefore,
  reviewerOf,
  reviewsSoFar,
  reviewTask,
  simulateReview,
  VERDICT_SCHEMA,
  withRejections,
} from '../../../shared/domain/approvals';
import { outputMisfits } from '../../../shared/domain/output-schema';
import type { ApprovalRecord } from '../../../shared/domain/schemas';

const reject = (attempt: number, comment?: string): ApprovalRecord => ({
  stage: 'after',
  decision: 'reject',
  by: 'person',
  attempt,
  at: attempt,
  ...(comment ? { comment } : {}),
});

describe('approvals', () => {
  it('asks before dispatch until a before approval is recorded, whatever was rejected after', () => {
    const task = { approval: { before: true } };
    expect(needsApprovalBefore(task, undefined)).toBe(true);
    expect(needsApprovalBefore(task, [reject(1)])).toBe(true);
    expect(needsApprovalBefore(task, [{ stage: 'before', decision: 'approve', by: 'person', at: 1 }])).toBe(
      false,
    );
    expect(needsApprovalBefore({ approval: { after: true } }, undefined)).toBe(false);
  });

  it('tells a person from a validator role', () => {
    expect(reviewerOf({})).toEqual({ kind: 'none' });
    expect(reviewerOf({ approval: { before: true } })).toEqual({ kind: 'none' });
    expect(reviewerOf({ approval: { after: true } })).toEqual({ kind: 'person' });
    expect(reviewerOf({ approval: { after: true, by: 'code_reviewer' } })).toEqual({
      kind: 'validator',
      role: 'code_reviewer',
    });
  });

  it('says in one sentence what was rejected, by whom and why', () => {
    expect(rejectionCause('before', 'person', 'not now')).toBe('rejected before dispatch by person: not now');
    expect(rejectionCause('after', 'reviewer-1', undefined, 2)).toBe(
      'output of attempt 2 rejected by reviewer-1',
    );
  });

  it("gives a new attempt the earlier attempts' rejections first, outside the dependency budget", () => {
    const rejections = rejectionsBefore([reject(1, 'use bind parameters'), reject(2, 'add an index')], 2);
    const context = withRejections(
      undefined,
      { id: 't', description: 'x', contextBudgetBytes: 2048 },
      rejections,
    );

    expect(rejections.map((r) => r.attempt)).toEqual([1]);
    expect(context?.section).toBe(feedbackSection(rejections));
    expect(context?.section).toContain('--- attempt 1 rejected by person ---\nuse bind parameters');
    expect(context?.record).toEqual({
      budgetBytes: 2048,
      usedBytes: 0,
      items: [{ taskId: 't', kind: 'rejection', bytes: 19, totalBytes: 19, cut: false }],
    });
    expect(withRejections(undefined, { id: 't', description: 'x' }, [])).toBeUndefined();
  });
});

describe('validation by an agent', () => {
  it("counts the reviews by validators so far (verdicts and failures), not a person's or a timeout's", () => {
    const by = (who: string): ApprovalRecord => ({ ...reject(1), by: who });
    const failure = { attempt: 1, by: 'code_reviewer-2', error: 'boom', at: 1 };
    expect(reviewsSoFar([by('code_reviewer-1'), by('person'), by('timeout')], [failure])).toBe(2);
    expect(reviewsSoFar(undefined, undefined)).toBe(0);
  });

  it("gives the validator the task's description, the output and the verdict schema", () => {
    const task = { id: 'api', description: 'Write the endpoint', input: { secret: 'x' } };
    const review = reviewTask(task, 'code_reviewer', 2, '{"ok":true}');

    expect(review).toMatchObject({ id: 'api', role: 'code_reviewer', outputSchema: VERDICT_SCHEMA });
    expect(review.description).toContain('attempt 2 of task "api"');
    expect(review.description).toContain('Write the endpoint');
    expect(review.description).toContain('{"ok":true}');
    // The reviewed task's input is not the review's (a prompt shows its input).
    expect(review.input).toBeUndefined();
  });

  it('cuts a long output under review with a marker naming its whole size', () => {
    const long = 'x'.repeat(REVIEW_OUTPUT_MAX_CHARS + 10);
    expect(quotedOutput('short', 5)).toBe('short');
    expect(quotedOutput(long, long.length)).toBe(
      `${'x'.repeat(REVIEW_OUTPUT_MAX_CHARS)}\n[... cut: the whole output is ${long.length} bytes; ${REVIEW_OUTPUT_MAX_CHARS} are quoted above]`,
    );
  });

  it('simulates verdicts that fit the schema, labelled simulated, and failures that do not', () => {
    const rejectOne = simulateReview({ accept: false, comments: 'add tests', durationMs: 5 });
    expect(rejectOne).toEqual({
      output: { accept: false, comments: 'add tests', simulated: true },
      durationMs: 5,
    });
    expect(outputMisfits(VERDICT_SCHEMA, rejectOne.output)).toEqual([]);
    expect(simulateReview(undefined).output).toEqual({ accept: true, comments: '', simulated: true });
    expect(outputMisfits(VERDICT_SCHEMA, simulateReview({ fail: 'invalid' }).output).length).toBeGreaterThan(
      0,
    );
    expect(simulateReview({ fail: 'crash' })).toEqual({ failAttempts: 1, failMode: 'crash' });
  });
});
