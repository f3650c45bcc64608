import { describe, expect, it } from 'vitest';
import {
  feedbackSection,
  needsApprovalBefore,
  rejectionCause,
  rejectionsBefore,
  reviewerOf,
  withRejections,
} from '../../../shared/domain/approvals';
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
