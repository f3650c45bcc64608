/**
 * The task item's budgets (domain/item-size.ts), each limit at its value: the stored texts, the decision's
 * listed agents, and the refusal at submission of a task whose item could pass DynamoDB's 400 KB.
 */
import { describe, expect, it } from 'vitest';
import {
  awaitingExpansion,
  BATCH_ITEM_WORST_BYTES,
  DYNAMODB_ITEM_MAX_BYTES,
  EXPANSION_DEPENDENCIES_RESERVE_BYTES,
  type FixedTaskPart,
  fixedPartSizes,
  listedDecision,
  runStateReserve,
  shortenText,
  submittedTaskParts,
  TASK_ITEM_BUDGET_BYTES,
  taskItemIssues,
} from '../../../shared/domain/item-size';
import {
  DEFAULT_MAX_ATTEMPTS,
  MAX_ATTEMPTS_LIMIT,
  MAX_DECISION_AGENTS_LISTED,
  MAX_DESCRIPTION_CHARS,
  MAX_INPUT_BYTES,
  MAX_OUTPUT_SCHEMA_BYTES,
  MAX_STORED_COMMENT_BYTES,
  MAX_STORED_ERROR_BYTES,
} from '../../../shared/domain/limits';
import { resolveRoles } from '../../../shared/domain/roles';
import type { Batch, RoutingDecision, Task } from '../../../shared/domain/schemas';
import { utf8Length } from '../../../shared/domain/utf8';
import { validateBatch } from '../../../shared/domain/validation';

const ROLES = new Set(resolveRoles().keys());

describe('shortenText', () => {
  for (const [name, limit] of [
    ['MAX_STORED_ERROR_BYTES', MAX_STORED_ERROR_BYTES],
    ['MAX_STORED_COMMENT_BYTES', MAX_STORED_COMMENT_BYTES],
  ] as const) {
    it(`keeps a text of ${name} bytes whole and shortens one byte more, saying so and how long it was`, () => {
      const whole = 'é'.repeat(limit / 2);
      expect(utf8Length(whole)).toBe(limit);
      expect(shortenText(whole, limit)).toBe(whole);
      const longer = `${whole}x`;
      const shortened = shortenText(longer, limit);
      expect(utf8Length(shortened)).toBeLessThanOrEqual(limit);
      expect(shortened).toMatch(new RegExp(`^é+ \\[…shortened: ${limit + 1} bytes in all\\]$`));
    });
  }

  it('never cuts a character in two', () => {
    const shortened = shortenText('😀'.repeat(1_000), MAX_STORED_ERROR_BYTES);
    expect(shortened).not.toContain('\uFFFD');
    expect(shortened.replace(/ \[…shortened: \d+ bytes in all\]$/, '')).toMatch(/^(😀)+$/u);
  });
});

describe('listedDecision', () => {
  const decisionWith = (count: number): RoutingDecision =>
    ({
      candidates: Array.from({ length: count }, (_, i) => ({ agentId: `a-${i}` })),
      rejected: Array.from({ length: count }, (_, i) => ({ agentId: `r-${i}`, reason: 'at capacity' })),
    }) as unknown as RoutingDecision;

  it(`lists ${MAX_DECISION_AGENTS_LISTED} candidates and rejections as they are`, () => {
    const decision = decisionWith(MAX_DECISION_AGENTS_LISTED);
    expect(listedDecision(decision)).toEqual(decision);
  });

  it('lists the first ones of a longer decision (the winner first) and counts the others', () => {
    const listed = listedDecision(decisionWith(MAX_DECISION_AGENTS_LISTED + 1));
    expect(listed.candidates.map((c) => c.agentId)).toEqual(
      decisionWith(MAX_DECISION_AGENTS_LISTED).candidates.map((c) => c.agentId),
    );
    expect(listed.rejected).toHaveLength(MAX_DECISION_AGENTS_LISTED);
    expect(listed.unlistedCandidates).toBe(1);
    expect(listed.unlistedRejected).toBe(1);
  });
});

/** A task item's fixed part with a description of `chars` characters of `char`. */
function part(chars: number, task: Partial<Task> = {}, maxAttempts = DEFAULT_MAX_ATTEMPTS): FixedTaskPart {
  return {
    maxAttempts,
    dependents: [],
    task: { id: 'big', description: 'd'.repeat(chars), ...task },
  };
}

describe('taskItemIssues (TASK_ITEM_BUDGET_BYTES)', () => {
  it('accepts a task whose fixed part and run reserve take exactly the budget, and refuses one byte more', () => {
    const reserve = runStateReserve(part(1));
    const empty = Object.values(fixedPartSizes(part(0))).reduce((sum, n) => sum + n, 0);
    const chars = TASK_ITEM_BUDGET_BYTES - reserve - empty;
    expect(taskItemIssues([part(chars)])).toEqual([]);
    const [issue, ...more] = taskItemIssues([part(chars + 1)]);
    expect(more).toEqual([]);
    expect(issue?.path).toBe('$.tasks[0].description');
    expect(issue?.message).toContain('task "big"');
    expect(issue?.message).toContain(`at most ${TASK_ITEM_BUDGET_BYTES} bytes`);
    expect(issue?.message).toContain('by 1 bytes or more');
  });

  it('names the largest field of the task', () => {
    const input = { text: 'i'.repeat(MAX_INPUT_BYTES - 20) };
    const heavy = part(0, { description: 'é'.repeat(20_000), input }, MAX_ATTEMPTS_LIMIT);
    const withApproval = {
      ...heavy,
      task: { ...heavy.task, approval: { after: true, by: 'code_reviewer' } },
    };
    const [issue] = taskItemIssues([part(1), withApproval, withApproval]);
    expect(issue?.path).toBe('$.tasks[1].input');
  });

  it('keeps the largest of every field within the item at the default attempts', () => {
    const largest = part(0, {
      description: '😀'.repeat(MAX_DESCRIPTION_CHARS),
      input: { text: 'i'.repeat(MAX_INPUT_BYTES - 20) },
      outputSchema: { description: 's'.repeat(MAX_OUTPUT_SCHEMA_BYTES - 30) },
      dependsOn: Array.from({ length: 100 }, (_, i) => `${i}`.padEnd(128, 'x')),
    });
    expect(taskItemIssues([largest])).toEqual([]);
  });

  it('is part of validating a batch, so plan and route refuse what run and submit refuse', () => {
    const task = (id: string, extra: Partial<Task> = {}): Task => ({
      id,
      description: `Build part ${id}`,
      role: 'python_backend_coder',
      ...extra,
    });
    const heavy = task('heavy', {
      description: '😀'.repeat(MAX_DESCRIPTION_CHARS),
      input: { text: 'i'.repeat(MAX_INPUT_BYTES - 20) },
      approval: { after: true, by: 'code_reviewer' },
    });
    const batch: Batch = { tasks: [task('light'), heavy], options: { maxAttempts: MAX_ATTEMPTS_LIMIT } };
    const refused = validateBatch(batch, ROLES);
    expect(refused.ok).toBe(false);
    expect(refused.ok ? [] : refused.issues.map((issue) => issue.path)).toEqual(['$.tasks[1].description']);
    expect(taskItemIssues(submittedTaskParts(batch))).toHaveLength(1);
    // The same task with the default attempts fits.
    expect(validateBatch({ tasks: [task('light'), heavy] }, ROLES).ok).toBe(true);
  });

  it('reserves more for approvals, validator reviews and an expansion', () => {
    const plain = runStateReserve(part(1, {}, MAX_ATTEMPTS_LIMIT));
    const reviewed = runStateReserve(
      part(1, { approval: { after: true, by: 'code_reviewer' }, expands: true }, MAX_ATTEMPTS_LIMIT),
    );
    expect(reviewed).toBeGreaterThan(plain);
    expect(reviewed).toBeLessThan(TASK_ITEM_BUDGET_BYTES);
  });
});

describe('awaitingExpansion', () => {
  it('finds every task downstream of an expanding task, and no other', () => {
    const found = awaitingExpansion([
      { id: 'plan', expands: true },
      { id: 'a', dependsOn: ['plan'] },
      { id: 'b', dependsOn: ['a'] },
      { id: 'c' },
      { id: 'd', dependsOn: ['c'] },
    ]);
    expect([...found].sort()).toEqual(['a', 'b']);
  });

  it('reserves room in their items for the dependencies expansions may add', () => {
    const plain = part(1);
    expect(runStateReserve({ ...plain, awaitsExpansion: true }) - runStateReserve(plain)).toBe(
      EXPANSION_DEPENDENCIES_RESERVE_BYTES,
    );
    const reserve = runStateReserve({ ...plain, awaitsExpansion: true });
    const dependent = (chars: number) => ({
      ...part(chars),
      task: { ...part(chars).task, dependsOn: ['plan'] },
    });
    const empty = Object.values(fixedPartSizes(dependent(0))).reduce((sum, n) => sum + n, 0);
    const planner = part(1, { id: 'plan', expands: true });
    const chars = TASK_ITEM_BUDGET_BYTES - reserve - empty;
    expect(taskItemIssues([planner, dependent(chars)])).toEqual([]);
    expect(taskItemIssues([planner, dependent(chars + 1)]).map((issue) => issue.path)).toEqual([
      '$.tasks[1].description',
    ]);
    // Without an expanding task upstream, the same task leaves that room to its description.
    expect(taskItemIssues([part(1, { id: 'plan' }), dependent(chars + 1)])).toEqual([]);
  });
});

describe('the batch item', () => {
  it('stays within DynamoDB at its worst case', () => {
    expect(BATCH_ITEM_WORST_BYTES).toBeLessThan(DYNAMODB_ITEM_MAX_BYTES);
  });
});
