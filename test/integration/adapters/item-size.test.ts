/**
 * The largest task item and batch item the submission accepts, driven through every growth path on the real write
 * path (DynamoTaskStore on dynalite): all attempts, every approval rejected with the longest comment, failed reviews,
 * undelivered answers, the longest errors and reasons, the largest decision, output and expansion. Every write must
 * succeed as it is (no context record reduced to its counts by the size fallback) and the outcome must be kept.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { documentClient } from '../../../shared/adapters/dynamodb/client';
import { DynamoTaskStore } from '../../../shared/adapters/dynamodb/task-store';
import { boundedContextRecord } from '../../../shared/domain/context';
import { taskItemIssues } from '../../../shared/domain/item-size';
import {
  MAX_APPROVAL_COMMENT_CHARS,
  MAX_ATTEMPTS_LIMIT,
  MAX_CONTEXT_IDS,
  MAX_CONTEXT_RECORD_BYTES,
  MAX_DECISION_AGENTS_LISTED,
  MAX_DEPENDENCIES_PER_TASK,
  MAX_EXPANSION_TASKS_PER_BATCH,
  MAX_INPUT_BYTES,
  MAX_REQUIREMENT_CHARS,
  MAX_REQUIREMENT_ENTRIES,
  MAX_REVIEWS_PER_ATTEMPT,
  MAX_STORED_COMMENT_BYTES,
  MAX_STORED_ERROR_BYTES,
  MAX_TASK_ID_CHARS,
  MAX_TASKS_PER_BATCH,
  MAX_TASKS_PER_EXPANSION,
} from '../../../shared/domain/limits';
import { resolveRoles } from '../../../shared/domain/roles';
import type {
  ContextRecord,
  ExtractedRequirements,
  RoutingDecision,
  Task,
} from '../../../shared/domain/schemas';
import { utf8Length } from '../../../shared/domain/utf8';
import { BatchValidationError, validateBatch } from '../../../shared/domain/validation';
import { INLINE_OUTPUT_MAX_BYTES } from '../../../shared/domain/workflow';
import { storedTasksOf, submitBatch } from '../../../shared/usecases/submit';
import { type LocalDynamo, startDynalite } from '../../support/dynalite';
import { batchOf, catalog, ManualClock, uniqueId } from '../../support/fixtures';

let dynamo: LocalDynamo | undefined;
afterAll(() => dynamo?.stop());

/** An id of the longest length, numbered. */
const longId = (prefix: string, n: number) => `${prefix}-${n}-`.padEnd(MAX_TASK_ID_CHARS, 'x');
/** A text far past every stored limit. */
const huge = (label: string) => `${label}: ${'E'.repeat(100_000)}`;
/** The longest comment the API accepts, of 4-byte characters. */
const longestComment = '😀'.repeat(MAX_APPROVAL_COMMENT_CHARS);
/** A Step Functions task token is long; these are longer than real ones. */
const token = (n: number) => `token-${n}-`.padEnd(1_024, 't');

const list = <T>(n: number, make: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => make(i));
const requirementList = (kind: string) =>
  list(MAX_REQUIREMENT_ENTRIES, (i) => `${kind}-${i}-`.padEnd(MAX_REQUIREMENT_CHARS, 'r'));

/**
 * The largest task the submission accepts with every growth path open (ten attempts, approvals before and after
 * by a validator role, an expansion): the longest requirement lists, dependencies and context, and a description
 * of 4-byte characters as long as its item's budget allows (one more character is refused).
 */
function largestTask(): { tasks: Task[]; big: Task } {
  const deps = list(MAX_DEPENDENCIES_PER_TASK, (i) => ({
    id: longId('dep', i),
    description: 'a dependency',
  }));
  const make = (chars: number) => ({
    tasks: [
      ...deps,
      {
        id: longId('big', 0),
        description: '😀'.repeat(chars),
        requirements: {
          languages: requirementList('lang'),
          frameworks: requirementList('fw'),
          skills: requirementList('skill'),
        },
        dependsOn: deps.map((d) => d.id),
        context: deps.slice(0, MAX_CONTEXT_IDS).map((d) => d.id),
        approval: { before: true, after: true, by: 'code_reviewer' },
        expands: true,
      },
    ],
    options: { maxAttempts: MAX_ATTEMPTS_LIMIT },
  });
  // Validation refuses a task whose item could pass 400 KB (and nothing else here); what it accepts, the items
  // submission writes agree with.
  const fits = (chars: number) => {
    const validated = validateBatch(make(chars), new Set(resolveRoles().keys()));
    if (!validated.ok) {
      const other = validated.issues.filter((issue) => !issue.message.includes('of its DynamoDB item'));
      if (other.length > 0) throw new Error(JSON.stringify(other.slice(0, 3)));
      return false;
    }
    expect(taskItemIssues(storedTasksOf('b', validated.batch, MAX_ATTEMPTS_LIMIT))).toEqual([]);
    return true;
  };
  let low = 1;
  let high = 40_000;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (fits(mid)) low = mid;
    else high = mid - 1;
  }
  expect(fits(low + 1)).toBe(false);
  const validated = validateBatch(make(low), new Set(resolveRoles().keys()));
  if (!validated.ok) throw new Error('the largest task was refused');
  return { tasks: validated.batch.tasks, big: validated.batch.tasks.at(-1) as Task };
}

const requirements: ExtractedRequirements = {
  explicitRole: 'python_backend_coder',
  languages: requirementList('lang'),
  frameworks: requirementList('fw'),
  skills: requirementList('skill'),
  complexity: 'high',
  roleCandidates: list(20, (i) => ({ role: `role-${i}`.padEnd(64, 'r'), confidence: 0.5 })),
};

/** A decision over a thousand agents of the longest ids, every one listed. */
function largestDecision(taskId: string, attempt: number): RoutingDecision {
  const breakdown = { specialization: 0.123456789, availability: 0.5, success: 0.75, speed: 0.333333 };
  return {
    taskId,
    agentId: longId(`agent-${attempt}`, 0),
    role: 'python_backend_coder',
    score: 0.987654321,
    breakdown,
    candidates: list(1_000, (i) => ({
      agentId: longId(`agent-${attempt}`, i),
      role: 'python_backend_coder'.padEnd(64, 'r'),
      score: 0.123456789,
      breakdown,
    })),
    rejected: list(1_000, (i) => ({
      agentId: longId('busy', i),
      reason: 'excluded after failing this task',
    })),
    requirements,
    spawned: false,
    decidedAt: 1_700_000_000_000 + attempt,
  };
}

/** A context record as large as the worker keeps one. */
function largestRecord(): ContextRecord {
  const items = list(MAX_CONTEXT_IDS, (i) => ({
    taskId: longId('dep', i),
    kind: 'passed' as const,
    bytes: 123_456,
    totalBytes: 1_234_567,
    cut: true,
    placeholder: `{{deps.${longId('dep', i)}.output.field}}`,
  }));
  const record = boundedContextRecord({ budgetBytes: 1_000_000, usedBytes: 999_999, items });
  expect(utf8Length(JSON.stringify(record))).toBeGreaterThan(MAX_CONTEXT_RECORD_BYTES - 400);
  return record;
}

describe('the task item of the largest task the submission accepts', () => {
  it('keeps every write of every growth path within DynamoDB item size, and the outcome', async () => {
    dynamo = await startDynalite();
    const store = new DynamoTaskStore(dynamo.tasksTable, documentClient(dynamo.client));
    const { tasks, big } = largestTask();
    const id = big.id;
    const batchId = uniqueId('itemsize');
    const { batch, tasks: stored } = batchOf(batchId, tasks, { maxAttempts: MAX_ATTEMPTS_LIMIT });
    await store.createBatch(batch, stored);
    const record = largestRecord();
    const output = { text: 'o'.repeat(INLINE_OUTPUT_MAX_BYTES - 20) };
    const usage = { inputTokens: 123_456_789, outputTokens: 123_456_789, cacheReadTokens: 123_456_789 };
    const permanent = {
      cause: 'request' as const,
      executor: { name: 'openai' as const, model: 'm'.repeat(200), url: `https://${'h'.repeat(300)}` },
    };

    // Its dependencies finish (releasedBy holds every one), its gate is armed with a long token.
    expect(await store.armGate(batchId, id, token(0))).toBe(true);
    for (const dep of big.dependsOn ?? []) await store.releaseDependent(batchId, id, 'SUCCEEDED', dep);
    // Approved before dispatch, with the longest comment, after an answer that could not be sent.
    await store.awaitApproval(batchId, id, {
      stage: 'before',
      token: token(1),
      since: 1,
      timeoutSeconds: 60,
      reviewer: 'person',
    });
    const before = { stage: 'before' as const, decision: 'approve' as const, by: 'person', at: 2 };
    expect(await store.appendApproval(batchId, id, { ...before, comment: longestComment }, token(1))).toBe(0);
    expect(
      await store.markApprovalUndelivered(batchId, id, token(1), { error: huge('throttled'), at: 3 }),
    ).toBe(true);
    expect(await store.endApprovalWait(batchId, id, token(1))).toBe(true);
    await store.setWaitingRole(batchId, id, 'python_backend_coder', requirements);

    for (let attempt = 1; attempt <= MAX_ATTEMPTS_LIMIT; attempt++) {
      const at = attempt * 100;
      await store.startAttempt(batchId, id, attempt, `agent-${attempt}`, largestDecision(id, attempt), at, {
        nanoUsd: 123_456_789_012,
        tokens: 123_456_789,
      });
      await store.setAttemptRecord(batchId, id, attempt, {
        context: record,
        usage,
        costUsd: 123.456789,
        permanent,
      });
      // The output waits for its review: three validators fail, then one rejects with the longest comment,
      // whose answer cannot be sent at first.
      const wait = {
        stage: 'after' as const,
        token: token(attempt + 1),
        since: at + 1,
        timeoutSeconds: 60,
        attempt,
        reviewer: 'code_reviewer',
      };
      const held = await store.awaitApproval(batchId, id, wait, {
        number: attempt,
        finishedAt: at + 1,
        context: record,
        output,
      });
      expect(held?.status).toBe('AWAITING_APPROVAL');
      for (let run = 1; run <= MAX_REVIEWS_PER_ATTEMPT; run++) {
        const failure = { attempt, by: longId('validator', run), error: huge('review failed'), at: at + 2 };
        expect(await store.appendReviewFailure(batchId, id, failure, attempt * 10 + run)).toBe(true);
      }
      const last = attempt === MAX_ATTEMPTS_LIMIT;
      const decision = {
        stage: 'after' as const,
        decision: last ? ('approve' as const) : ('reject' as const),
        by: longId('validator', 0),
        caller: { apiKeyId: 'k'.repeat(128), sourceIp: '2001:db8::1', principalId: 'p'.repeat(128) },
        comment: longestComment,
        attempt,
        at: at + 3,
        usage,
        costUsd: 1.23456789,
      };
      expect(await store.appendApproval(batchId, id, decision, wait.token)).toBeGreaterThan(0);
      expect(
        await store.markApprovalUndelivered(batchId, id, wait.token, {
          error: huge('throttled'),
          at: at + 4,
        }),
      ).toBe(true);
      if (!last) {
        expect(await store.endApprovalWait(batchId, id, wait.token)).toBe(true);
        if (attempt === 1) {
          // A timeout's record besides the decisions (one taken back as the wait timed out).
          const timeout = { ...decision, by: 'timeout', decision: 'reject' as const, at: at + 5 };
          expect(await store.appendApproval(batchId, id, timeout)).toBeGreaterThan(0);
        }
        expect(
          await store.finishAttempt(batchId, id, attempt, {
            status: 'FAILED',
            at: at + 6,
            error: huge('ApprovalRejected'),
            context: record,
            usage,
          }),
        ).toBe(true);
      } else {
        const written = await store.transitionTask(batchId, id, 'SUCCEEDED', {
          at: at + 6,
          reason: huge('accepted after review'),
          expandedTasks: list(MAX_TASKS_PER_EXPANSION, (i) => longId('added', i)),
          attempt: { number: attempt, finishedAt: at + 1, context: record, output, usage, costUsd: 1.5 },
        });
        expect(written?.status).toBe('SUCCEEDED');
      }
    }

    const task = await store.getTask(batchId, id);
    expect(task?.status).toBe('SUCCEEDED');
    expect(task?.output).toEqual(output);
    expect(task?.attempts.map((a) => a.status)).toEqual([
      ...new Array(MAX_ATTEMPTS_LIMIT - 1).fill('FAILED'),
      'SUCCEEDED',
    ]);
    // Kept whole: no record was reduced to its counts by the size fallback.
    expect(task?.attempts.map((a) => a.context)).toEqual(new Array(MAX_ATTEMPTS_LIMIT).fill(record));
    expect(task?.approvals).toHaveLength(MAX_ATTEMPTS_LIMIT + 2);
    expect(task?.reviewFailures).toHaveLength(MAX_ATTEMPTS_LIMIT * MAX_REVIEWS_PER_ATTEMPT);
    expect(task?.releasedBy).toHaveLength(MAX_DEPENDENCIES_PER_TASK);
    expect(task?.expandedTasks).toHaveLength(MAX_TASKS_PER_EXPANSION);
    // The texts, shortened with a marker that says how long they were.
    const texts = [
      task?.reason,
      ...(task?.attempts.slice(0, -1).map((a) => a.error) ?? []),
      ...(task?.reviewFailures?.map((f) => f.error) ?? []),
      task?.approvalWait?.undelivered?.error,
    ];
    for (const text of texts) {
      expect(utf8Length(text ?? '')).toBeLessThanOrEqual(MAX_STORED_ERROR_BYTES);
      expect(text).toMatch(/ \[…shortened: \d+ bytes in all\]$/);
    }
    for (const approval of task?.approvals ?? []) {
      expect(utf8Length(approval.comment ?? '')).toBeLessThanOrEqual(MAX_STORED_COMMENT_BYTES);
      expect(approval.comment).toContain(`[…shortened: ${utf8Length(longestComment)} bytes in all]`);
    }
    expect(task?.decision?.candidates).toHaveLength(MAX_DECISION_AGENTS_LISTED);
    expect(task?.decision?.unlistedCandidates).toBe(1_000 - MAX_DECISION_AGENTS_LISTED);
    expect(task?.decision?.unlistedRejected).toBe(1_000 - MAX_DECISION_AGENTS_LISTED);
  }, 180_000);
});

describe('the batch item of the largest batch the submission accepts', () => {
  it('keeps its task ids, every expansion and a long cancel reason within DynamoDB item size', async () => {
    dynamo ??= await startDynalite();
    const store = new DynamoTaskStore(dynamo.tasksTable, documentClient(dynamo.client));
    const batchId = 'b'.repeat(128);
    // The submitted tasks leave room for every task expansions may add; their ids are the longest.
    const submitted = list(MAX_TASKS_PER_BATCH - MAX_EXPANSION_TASKS_PER_BATCH, (i) => longId('t', i));
    const { batch } = batchOf(batchId, []);
    expect(
      await store.claimBatch({
        ...batch,
        taskIds: submitted,
        taskCount: submitted.length,
        idempotencyKey: 'k'.repeat(256),
        requestHash: 'h'.repeat(64),
        budget: { maxCostUsd: 123.456789, maxTokens: 123_456_789 },
      }),
    ).toEqual({ claimed: true });
    const planners = MAX_EXPANSION_TASKS_PER_BATCH / MAX_TASKS_PER_EXPANSION;
    for (let p = 0; p < planners; p++) {
      const added = list(MAX_TASKS_PER_EXPANSION, (i) => longId(`added-${p}`, i));
      const registration = await store.registerExpansion(batchId, longId('planner', p), added, {
        maxExpansionTasks: MAX_EXPANSION_TASKS_PER_BATCH,
        maxTasks: MAX_TASKS_PER_BATCH,
      });
      expect(registration.registered).toBe(true);
    }
    await store.updateBatch(batchId, {
      cancelRequested: true,
      cancelReason: huge('failFast'),
      status: 'CANCELLED',
      taskCounts: { SUCCEEDED: 1_000, CANCELLED: 1_000 },
      usage: { inputTokens: 123_456_789, outputTokens: 123_456_789, cacheWriteTokens: 123_456_789 },
      costUsd: 123.456789,
      makespanMs: 123_456_789,
      finishedAt: 123_456_789,
    });
    const read = await store.getBatch(batchId);
    expect(read?.taskIds).toHaveLength(MAX_TASKS_PER_BATCH);
    expect(read?.expandedBy).toHaveLength(planners);
    expect(read?.status).toBe('CANCELLED');
    expect(utf8Length(read?.cancelReason ?? '')).toBeLessThanOrEqual(MAX_STORED_ERROR_BYTES);
    expect(read?.cancelReason).toMatch(/ \[…shortened: \d+ bytes in all\]$/);
  }, 120_000);
});

describe('a submission whose task could pass the item size at its worst', () => {
  it('is refused with a 400 naming the task and its largest field, before anything is written', async () => {
    dynamo ??= await startDynalite();
    const store = new DynamoTaskStore(dynamo.tasksTable, documentClient(dynamo.client));
    const batchId = uniqueId('itemsize');
    // Each field within its own limit; with ten attempts reviewed by a validator, the item could not hold them.
    const task = {
      id: 'reviewed',
      description: 'é'.repeat(20_000),
      input: { text: 'i'.repeat(MAX_INPUT_BYTES - 20) },
      approval: { after: true, by: 'code_reviewer' },
      expands: true,
    };
    const started: string[] = [];
    const deps = {
      store,
      catalog,
      clock: new ManualClock(),
      ids: { next: (prefix = '') => `${prefix}${started.length}` },
      orchestrator: {
        start: async (name: string) => {
          started.push(name);
          return { executionArn: `arn:${name}` };
        },
        stop: async () => {},
        executionArnOf: (name: string) => `arn:${name}`,
      },
    };
    const body = JSON.stringify({ batchId, tasks: [task], options: { maxAttempts: MAX_ATTEMPTS_LIMIT } });
    const refusal = await submitBatch(deps, { body }).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(BatchValidationError);
    const [issue, ...more] = (refusal as BatchValidationError).issues;
    expect(more).toEqual([]);
    expect(issue?.path).toBe('$.tasks[0].input');
    expect(issue?.message).toMatch(/^task "reviewed" takes \d+ bytes of its DynamoDB item as submitted/);
    expect(await store.getBatch(batchId)).toBeUndefined();
    expect(started).toEqual([]);
    // The same task with the default attempts fits, and is accepted.
    const fitting = JSON.stringify({ batchId, tasks: [task] });
    expect(await submitBatch(deps, { body: fitting })).toEqual({ batchId, created: true });
  }, 60_000);
});

describe('the size fallback of an attempt start', () => {
  it('starts an attempt whose decision would pass the item size, with its winner alone listed', async () => {
    dynamo ??= await startDynalite();
    const store = new DynamoTaskStore(dynamo.tasksTable, documentClient(dynamo.client));
    const batchId = uniqueId('itemsize');
    // An item already near 400 KB (larger than the submission lets a task be: only the store's own limit holds).
    const { batch, tasks } = batchOf(batchId, [{ id: 'a', description: 'x'.repeat(404_000) }]);
    await store.createBatch(batch, tasks);
    const small = {
      languages: [],
      frameworks: [],
      skills: [],
      complexity: 'low' as const,
      roleCandidates: [],
    };
    const decision = { ...largestDecision('a', 1), requirements: small };

    await store.startAttempt(batchId, 'a', 1, decision.agentId, decision, 10);

    const task = await store.getTask(batchId, 'a');
    expect(task?.attempts.map((a) => a.status)).toEqual(['RUNNING']);
    expect(task?.decision?.candidates).toEqual(decision.candidates.slice(0, 1));
    expect(task?.decision?.rejected).toEqual(decision.rejected.slice(0, 1));
    expect(task?.decision?.unlistedCandidates).toBe(decision.candidates.length - 1);
    expect(task?.decision?.unlistedRejected).toBe(decision.rejected.length - 1);
  }, 60_000);
});
