import { describe, expect, it } from 'vitest';
import { type BatchMember, type ExpansionScope, validateExpansion } from '../../../shared/domain/expansion';
import {
  MAX_EXPANSION_DEPTH,
  MAX_EXPANSION_TASKS_PER_BATCH,
  MAX_TASKS_PER_BATCH,
  MAX_TASKS_PER_EXPANSION,
} from '../../../shared/domain/limits';
import type { Task } from '../../../shared/domain/schemas';
import type { StoredTask } from '../../../shared/ports';
import { addedTasks, expansionRun } from '../../../shared/usecases/expand';

const member = (id: string, status: BatchMember['status'], dependsOn?: string[]): BatchMember => ({
  task: { id, description: `Task ${id}`, ...(dependsOn ? { dependsOn } : {}) },
  status,
});

const scope = (over: Partial<ExpansionScope> = {}): ExpansionScope => ({
  plannerId: 'plan',
  plannerDepth: 0,
  members: [member('schema', 'SUCCEEDED'), member('plan', 'RUNNING', ['schema']), member('lint', 'FAILED')],
  addedSoFar: 0,
  knownRoles: new Set(['code_reviewer', 'test_generator']),
  ...over,
});

const refusal = (output: unknown, over: Partial<ExpansionScope> = {}): string => {
  const result = validateExpansion(output, scope(over));
  if (result.ok) throw new Error('expected a refusal');
  return result.reason;
};

const few = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `t${i}`, description: 'Do it' }));

describe('validateExpansion', () => {
  it('accepts tasks that depend on each other, on the expanding task and on finished tasks', () => {
    const result = validateExpansion(
      {
        summary: 'other fields of the output are the planner’s own',
        tasks: [
          { id: 'a', description: 'A', dependsOn: ['plan', 'schema'] },
          { id: 'b', description: 'B {{deps.schema.output}}', dependsOn: ['a', 'lint'], trigger: 'all_done' },
          { id: 'c', description: 'C', role: 'test_generator', dependsOn: ['b'], context: ['schema'] },
        ],
      },
      scope(),
    );
    expect(result).toEqual({ ok: true, tasks: expect.any(Array) });
    if (result.ok) expect(result.tasks.map((t) => t.id)).toEqual(['a', 'b', 'c']);
  });

  it('accepts an empty list: nothing to add', () => {
    expect(validateExpansion({ tasks: [] }, scope())).toEqual({ ok: true, tasks: [] });
  });

  it('refuses an output that is not an object with a tasks list', () => {
    for (const output of [undefined, 'text', [], { plan: [] }, { tasks: 'a, b' }]) {
      expect(refusal(output)).toBe(
        'expansion refused, nothing added: $: the output of an expanding task must be a JSON object with a "tasks" list of task specs (the task format of a batch)',
      );
    }
  });

  it('refuses a cycle among the added tasks', () => {
    expect(
      refusal({
        tasks: [
          { id: 'a', description: 'A', dependsOn: ['b'] },
          { id: 'b', description: 'B', dependsOn: ['a'] },
        ],
      }),
    ).toBe(
      'expansion refused, nothing added: $.tasks[0].dependsOn[0]: dependency cycle: a -> b -> a (each task waits for the next, so none can start); remove one of these dependencies',
    );
  });

  it('refuses an unknown dependency, with a close name from the batch', () => {
    expect(refusal({ tasks: [{ id: 'a', description: 'A', dependsOn: ['schemas'] }] })).toBe(
      'expansion refused, nothing added: $.tasks[0].dependsOn[0]: unknown dependency "schemas": no task in this batch has that id. Did you mean "schema"?',
    );
  });

  it('refuses an id the batch already has, and one listed twice', () => {
    expect(refusal({ tasks: [{ id: 'schema', description: 'Again' }] })).toBe(
      'expansion refused, nothing added: $.tasks[0].id: duplicate task id "schema": the batch already has a task with that id; give every task a unique id',
    );
    expect(
      refusal({
        tasks: [
          { id: 'a', description: 'A' },
          { id: 'a', description: 'A again' },
        ],
      }),
    ).toBe(
      'expansion refused, nothing added: $.tasks[1].id: duplicate task id "a": $.tasks[0] already uses it; give every task a unique id',
    );
  });

  it('refuses an unknown role and a malformed task, naming each path', () => {
    expect(refusal({ tasks: [{ id: 'a', description: 'A', role: 'wizard' }] })).toMatch(
      /^expansion refused, nothing added: \$\.tasks\[0\]\.role: unknown role "wizard"; /,
    );
    expect(refusal({ tasks: [{ id: 'a' }, { id: 'b', description: 'B', colour: 'red' }] })).toBe(
      'expansion refused, nothing added: $.tasks[0].description: missing required field "description": description must be a string of 1 to 32768 characters, not only whitespace; ' +
        '$.tasks[1].colour: unknown field "colour"; a task accepts id, description, role, requirements, dependsOn, priority, timeoutSeconds, input, context, contextBudgetBytes, outputSchema, approval, trigger, expands',
    );
  });

  it('refuses a dependency on a task that has not finished', () => {
    expect(
      refusal(
        { tasks: [{ id: 'a', description: 'A', dependsOn: ['build'] }] },
        { members: [...scope().members, member('build', 'RUNNING')] },
      ),
    ).toBe(
      'expansion refused, nothing added: $.tasks[0].dependsOn[0]: "build" has not finished (RUNNING); an added task may depend only on tasks added with it, on the expanding task and on tasks that have finished',
    );
  });

  it('refuses more tasks than MAX_TASKS_PER_EXPANSION, and accepts exactly that many', () => {
    expect(refusal({ tasks: few(MAX_TASKS_PER_EXPANSION + 1) })).toBe(
      `expansion refused, nothing added: $.tasks: the output lists ${MAX_TASKS_PER_EXPANSION + 1} tasks; one expansion may add at most MAX_TASKS_PER_EXPANSION (${MAX_TASKS_PER_EXPANSION})`,
    );
    expect(validateExpansion({ tasks: few(MAX_TASKS_PER_EXPANSION) }, scope()).ok).toBe(true);
  });

  it('refuses past MAX_EXPANSION_TASKS_PER_BATCH and MAX_TASKS_PER_BATCH', () => {
    expect(refusal({ tasks: few(2) }, { addedSoFar: MAX_EXPANSION_TASKS_PER_BATCH - 1 })).toBe(
      `expansion refused, nothing added: $.tasks: expansions of this batch added ${MAX_EXPANSION_TASKS_PER_BATCH - 1} tasks; 2 more would pass MAX_EXPANSION_TASKS_PER_BATCH (${MAX_EXPANSION_TASKS_PER_BATCH})`,
    );
    expect(
      validateExpansion({ tasks: few(1) }, scope({ addedSoFar: MAX_EXPANSION_TASKS_PER_BATCH - 1 })).ok,
    ).toBe(true);
    const full = Array.from({ length: MAX_TASKS_PER_BATCH }, (_, i) => member(`m${i}`, 'SUCCEEDED'));
    expect(refusal({ tasks: few(1) }, { members: full })).toBe(
      `expansion refused, nothing added: $.tasks: the batch has ${MAX_TASKS_PER_BATCH} tasks; 1 more would pass MAX_TASKS_PER_BATCH (${MAX_TASKS_PER_BATCH})`,
    );
  });

  it('refuses an expansion past MAX_EXPANSION_DEPTH', () => {
    expect(validateExpansion({ tasks: few(1) }, scope({ plannerDepth: MAX_EXPANSION_DEPTH - 1 })).ok).toBe(
      true,
    );
    expect(refusal({ tasks: few(1) }, { plannerDepth: MAX_EXPANSION_DEPTH })).toBe(
      `expansion refused, nothing added: this task was added at expansion depth ${MAX_EXPANSION_DEPTH}; its tasks would be at depth ${MAX_EXPANSION_DEPTH + 1}, over MAX_EXPANSION_DEPTH (${MAX_EXPANSION_DEPTH})`,
    );
  });

  it('names at most ten problems and counts the rest', () => {
    const reason = refusal({ tasks: few(12).map((t) => ({ ...t, role: 'wizard' })) });
    expect(reason.match(/unknown role/g)).toHaveLength(10);
    expect(reason.endsWith('; and 2 more')).toBe(true);
  });
});

describe('the added task items', () => {
  const planner: StoredTask = {
    batchId: 'b',
    taskId: 'plan',
    index: 1,
    task: { id: 'plan', description: 'Plan', expands: true },
    status: 'RUNNING',
    pendingDeps: 0,
    failedDeps: 0,
    dependents: ['review'],
    chainAfter: 1,
    maxAttempts: 2,
    attemptCount: 1,
    attempts: [],
    expansionDepth: 1,
  };
  const others: StoredTask[] = [
    {
      ...planner,
      taskId: 'lint',
      task: { id: 'lint', description: 'Lint' },
      status: 'SKIPPED',
      dependents: [],
    },
  ];
  const specs: Task[] = [
    { id: 'b', description: 'B', dependsOn: ['a', 'lint', 'plan'], trigger: 'all_done' },
    { id: 'a', description: 'A' },
    { id: 'c', description: 'C', dependsOn: ['plan'] },
  ];
  const tasks = addedTasks(planner, specs, others, {
    taskIds: ['lint', 'plan', 'review', 'b', 'a', 'c'],
    maxAttempts: 3,
  });

  it('count dependencies inside the expansion as pending and the outcome of those outside at once', () => {
    const byId = new Map(tasks.map((t) => [t.taskId, t]));
    expect(byId.get('b')).toMatchObject({
      status: 'PENDING',
      pendingDeps: 1,
      failedDeps: 1,
      skippedDeps: 1,
      succeededDeps: 1,
      index: 3,
      addedBy: 'plan',
      expansionDepth: 2,
      maxAttempts: 3,
      dependents: ['review'],
    });
    expect(byId.get('a')).toMatchObject({ status: 'READY', pendingDeps: 0, dependents: ['b', 'review'] });
    expect(byId.get('c')).toMatchObject({ status: 'READY', pendingDeps: 0, succeededDeps: 1 });
  });

  it("count the expanding task's chain of dependents ahead of each, after their own chain inside the expansion", () => {
    const chains = Object.fromEntries(tasks.map((t) => [t.taskId, t.chainAfter]));

    // 'a' -> 'b' -> 'review'; 'b' and 'c' -> 'review'.
    expect(chains).toEqual({ a: 2, b: 1, c: 1 });
  });

  it("count the work ahead of the expanding task's dependents after their own (estimates of 1 s without simulate)", () => {
    // The planner's own 1 s less from its 2.5 s ahead: 1.5 s after each added task's chain inside.
    const added = addedTasks({ ...planner, workAheadMs: 2_500 }, specs, others, {
      taskIds: ['lint', 'plan', 'review'],
      maxAttempts: 3,
    });
    expect(Object.fromEntries(added.map((t) => [t.taskId, t.workAheadMs]))).toEqual({
      a: 3_500,
      b: 2_500,
      c: 2_500,
    });
    // A planner stored before the work ahead was: its added tasks are ordered by their chains.
    expect(tasks.every((t) => t.workAheadMs === undefined)).toBe(true);
  });

  it('name the role of each added task that depends on one other added task alone, on that task', () => {
    const hinted = addedTasks(
      planner,
      [
        { id: 'x', description: 'X' },
        { id: 'y', description: 'Y', role: 'code_reviewer', dependsOn: ['x'] },
        { id: 'z', description: 'Z', role: 'code_reviewer', dependsOn: ['x', 'plan'] },
      ],
      others,
      { taskIds: ['lint', 'plan', 'review', 'x', 'y', 'z'], maxAttempts: 3 },
    );

    expect(Object.fromEntries(hinted.map((t) => [t.taskId, t.dependentRoles]))).toEqual({
      x: { y: 'code_reviewer' },
      y: undefined,
      z: undefined,
    });
    // Without a hint, the task's item has no such attribute at all.
    expect(hinted.find((t) => t.taskId === 'y')).not.toHaveProperty('dependentRoles');
  });

  it('run in dependency order, through the Gate whenever they have a dependency', () => {
    expect(expansionRun(tasks)).toEqual({
      items: [
        { taskId: 'a', hasDeps: false },
        { taskId: 'b', hasDeps: true },
        { taskId: 'c', hasDeps: true },
      ],
      concurrency: 3,
    });
  });
});
