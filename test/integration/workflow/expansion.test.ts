/**
 * Tasks that plan tasks on the embedded runtime (the deployed state machine and handlers): a simulated
 * planner's output (given in its input) adds tasks to its running batch, run by a nested execution of the
 * same state machine; the planner's dependents wait for every added task; invalid expansions fail the planner
 * with the precise reason and add nothing; a failed added task is redriven; a cancel mid-expansion ends every
 * execution of the batch.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_EXPANSION_DEPTH, MAX_TASKS_PER_EXPANSION } from '../../../shared/domain/limits';
import type { BatchResult, TaskResult } from '../../../shared/domain/schemas';
import { EmbeddedSystem } from '../../../shared/local/system';
import { example } from '../../support/batch-checks';

let system: EmbeddedSystem;
let planned: BatchResult;
let refused: BatchResult;
let failedAdded: BatchResult;
let redriven: BatchResult;
let cancelled: BatchResult;
let executionsAfterCancel: string[];

const pick = (result: BatchResult, id: string): TaskResult => {
  const task = result.tasks.find((t) => t.id === id);
  if (!task) throw new Error(`no task ${id} in ${result.batchId}`);
  return task;
};
const simulated = (simulate: Record<string, unknown>) => ({ input: { simulate } });
/** A planner whose simulated output lists `tasks`. */
const planner = (id: string, tasks: unknown[], extra: Record<string, unknown> = {}) => ({
  id,
  description: `Plan the work of ${id}`,
  expands: true,
  ...extra,
  ...simulated({ output: { summary: `plan of ${id}`, tasks } }),
});

/** The 8 implementation tasks: edges inside the expansion, and one onto the finished `schema` task. */
const EIGHT = [
  { id: 'impl-models', description: 'Write the models', ...simulated({ durationMs: 150 }) },
  { id: 'impl-repo', description: 'Write the repository', dependsOn: ['impl-models'] },
  { id: 'impl-service', description: 'Write the service', dependsOn: ['impl-models'] },
  {
    id: 'impl-api',
    description: 'Write the API',
    dependsOn: ['impl-repo', 'impl-service'],
    ...simulated({ durationMs: 100 }),
  },
  { id: 'impl-migrations', description: 'Write the migrations', dependsOn: ['schema'] },
  { id: 'impl-seed', description: 'Write the seed data', dependsOn: ['impl-migrations', 'plan'] },
  {
    id: 'impl-tests',
    description: 'Write the tests',
    role: 'test_generator',
    dependsOn: ['impl-api', 'impl-seed'],
  },
  {
    id: 'impl-docs',
    description: 'Write the docs',
    dependsOn: ['impl-tests'],
    ...simulated({ durationMs: 200 }),
  },
];

async function runningTask(batchId: string, taskId: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const result = await system.result(batchId);
    if (result.tasks.find((t) => t.id === taskId)?.status === 'RUNNING') return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`${taskId} never ran`);
}

beforeAll(async () => {
  system = await EmbeddedSystem.start({ scalerIntervalMs: 0 });
  await system.submit({
    batchId: 'planned',
    tasks: [
      { id: 'schema', description: 'Write the database schema' },
      planner('plan', EIGHT, { dependsOn: ['schema'] }),
      { id: 'review', description: 'Review the feature', role: 'code_reviewer', dependsOn: ['plan'] },
    ],
  });
  const tooMany = Array.from({ length: MAX_TASKS_PER_EXPANSION + 1 }, (_, i) => ({
    id: `many-${i}`,
    description: 'A task',
  }));
  // Each expanding task of depth 1..3 adds the next; the one at MAX_EXPANSION_DEPTH may not add any more.
  let deep: Record<string, unknown> = { id: 'deep-4', description: 'Too deep' };
  for (let depth = MAX_EXPANSION_DEPTH; depth >= 1; depth--) deep = planner(`deep-${depth}`, [deep]);
  await system.submit({
    batchId: 'refused',
    tasks: [
      planner('cycle', [
        { id: 'c1', description: 'One', dependsOn: ['c2'] },
        { id: 'c2', description: 'Two', dependsOn: ['c1'] },
      ]),
      planner('unknown-dep', [{ id: 'u1', description: 'One', dependsOn: ['nope'] }]),
      planner('too-many', tooMany),
      planner('duplicate', [{ id: 'cycle', description: 'Taken' }]),
      planner('unknown-role', [{ id: 'r1', description: 'One', role: 'wizard' }]),
      {
        id: 'not-a-plan',
        description: 'Plan nothing',
        expands: true,
        ...simulated({ output: { summary: 'nothing to list' } }),
      },
      planner('deep-0', [deep]),
      // Two expansions at once adding the same id: one adds it, the other is refused.
      planner('twin-a', [{ id: 'shared-id', description: 'From a' }]),
      planner('twin-b', [{ id: 'shared-id', description: 'From b' }]),
      { id: 'after-cycle', description: 'Review', dependsOn: ['cycle'] },
      { id: 'after-deep', description: 'Review', dependsOn: ['deep-0'] },
    ],
  });
  await system.submit({
    batchId: 'failed-added',
    options: { maxAttempts: 1 },
    tasks: [
      planner('plan', [
        { id: 'flaky', description: 'Write the flaky part', ...simulated({ failAttempts: 1 }) },
        { id: 'steady', description: 'Write the steady part' },
      ]),
      { id: 'review', description: 'Review', dependsOn: ['plan'] },
    ],
  });
  await system.submit({
    batchId: 'cancelled',
    tasks: [
      planner('plan', [
        { id: 'slow', description: 'Write the slow part', ...simulated({ durationMs: 60_000 }) },
        { id: 'later', description: 'Write the next part', dependsOn: ['slow'] },
      ]),
      { id: 'review', description: 'Review', dependsOn: ['plan'] },
    ],
  });
  [planned, refused, failedAdded] = await Promise.all([
    system.waitForBatch('planned'),
    system.waitForBatch('refused'),
    system.waitForBatch('failed-added'),
  ]);
  const response = await system.request({ method: 'POST', path: '/batches/failed-added/redrive' });
  if (response.statusCode !== 202) throw new Error(`redrive: ${response.statusCode} ${response.body}`);
  redriven = await system.waitForBatch('failed-added');

  await runningTask('cancelled', 'slow');
  await system.cancel('cancelled');
  cancelled = await system.waitForBatch('cancelled');
  executionsAfterCancel = system.runtime.runner
    .list()
    .filter((e) => e.status === 'RUNNING' && e.input.includes('"cancelled"'))
    .map((e) => e.executionArn);
}, 120_000);

afterAll(async () => {
  await system?.stop();
});

describe('a planner that expands on the embedded runtime', () => {
  it('adds its 8 tasks to the batch, after the submitted ones, and runs them all', () => {
    expect(planned.status).toBe('SUCCEEDED');
    expect(planned.tasks.map((t) => t.id)).toEqual(['schema', 'plan', 'review', ...EIGHT.map((t) => t.id)]);
    for (const task of planned.tasks) expect(task.status, task.id).toBe('SUCCEEDED');
    expect(pick(planned, 'impl-tests').role).toBe('test_generator');
  });

  it('runs the added tasks in dependency order, the planner first', () => {
    const plan = pick(planned, 'plan');
    for (const spec of EIGHT) {
      const task = pick(planned, spec.id);
      expect(task.attempts).toHaveLength(1);
      const started = task.attempts[0]?.startedAt ?? -1;
      expect(started, spec.id).toBeGreaterThanOrEqual(plan.finishedAt ?? Infinity);
      for (const dep of spec.dependsOn ?? []) {
        expect(started, `${spec.id} after ${dep}`).toBeGreaterThanOrEqual(
          pick(planned, dep).attempts[0]?.finishedAt ?? Infinity,
        );
      }
    }
  });

  it("starts the planner's dependent after the last of the 8 ends, with their work in its context", () => {
    const review = pick(planned, 'review');
    const lastEnd = Math.max(...EIGHT.map((t) => pick(planned, t.id).attempts[0]?.finishedAt ?? Infinity));
    expect(review.attempts[0]?.startedAt).toBeGreaterThanOrEqual(lastEnd);
    const given = (review.attempts[0]?.context?.items ?? []).map((i) => i.taskId).sort();
    expect(given).toEqual(['plan', ...EIGHT.map((t) => t.id)].sort());
  });
});

describe('an invalid expansion', () => {
  const reasonOf = (id: string) => pick(refused, id).reason ?? '';

  it('fails the planner with the precise reason and adds nothing', () => {
    expect(refused.status).toBe('PARTIAL');
    for (const id of ['cycle', 'unknown-dep', 'too-many', 'duplicate', 'unknown-role', 'not-a-plan'])
      expect(pick(refused, id).status, id).toBe('FAILED');
    expect(reasonOf('cycle')).toBe(
      'expansion refused, nothing added: $.tasks[0].dependsOn[0]: dependency cycle: c1 -> c2 -> c1 (each task waits for the next, so none can start); remove one of these dependencies',
    );
    expect(reasonOf('unknown-dep')).toBe(
      'expansion refused, nothing added: $.tasks[0].dependsOn[0]: unknown dependency "nope": no task in this batch has that id.',
    );
    expect(reasonOf('too-many')).toBe(
      `expansion refused, nothing added: $.tasks: the output lists ${MAX_TASKS_PER_EXPANSION + 1} tasks; one expansion may add at most MAX_TASKS_PER_EXPANSION (${MAX_TASKS_PER_EXPANSION})`,
    );
    expect(reasonOf('duplicate')).toBe(
      'expansion refused, nothing added: $.tasks[0].id: duplicate task id "cycle": the batch already has a task with that id; give every task a unique id',
    );
    expect(reasonOf('unknown-role')).toMatch(
      /^expansion refused, nothing added: \$\.tasks\[0\]\.role: unknown role "wizard"; /,
    );
    expect(reasonOf('not-a-plan')).toBe(
      'expansion refused, nothing added: $: the output of an expanding task must be a JSON object with a "tasks" list of task specs (the task format of a batch)',
    );
    const added = refused.tasks.map((t) => t.id).filter((id) => /^(c\d|u1|many-|r1)/.test(id));
    expect(added).toEqual([]);
  });

  it('adds an id once when two expansions running at the same time list it', () => {
    const twins = [pick(refused, 'twin-a'), pick(refused, 'twin-b')];
    expect(twins.map((t) => t.status).sort()).toEqual(['FAILED', 'SUCCEEDED']);
    expect(twins.find((t) => t.status === 'FAILED')?.reason).toMatch(
      /^expansion refused, nothing added: \$\.tasks\[0\]\.id: duplicate task id "shared-id": /,
    );
    expect(refused.tasks.filter((t) => t.id === 'shared-id')).toHaveLength(1);
    expect(pick(refused, 'shared-id').status).toBe('SUCCEEDED');
  });

  it("skips the refused planner's dependents like after any failure", () => {
    expect(pick(refused, 'after-cycle').status).toBe('SKIPPED');
    expect(pick(refused, 'after-cycle').reason).toBe('skipped: dependency cycle (FAILED) did not succeed');
  });

  it(`expands up to MAX_EXPANSION_DEPTH (${MAX_EXPANSION_DEPTH}) levels, then refuses with the limit`, () => {
    for (let depth = 0; depth < MAX_EXPANSION_DEPTH; depth++)
      expect(pick(refused, `deep-${depth}`).status, `deep-${depth}`).toBe('SUCCEEDED');
    const last = pick(refused, `deep-${MAX_EXPANSION_DEPTH}`);
    expect(last.status).toBe('FAILED');
    expect(last.reason).toBe(
      `expansion refused, nothing added: this task was added at expansion depth ${MAX_EXPANSION_DEPTH}; its tasks would be at depth ${MAX_EXPANSION_DEPTH + 1}, over MAX_EXPANSION_DEPTH (${MAX_EXPANSION_DEPTH})`,
    );
    expect(refused.tasks.some((t) => t.id === `deep-${MAX_EXPANSION_DEPTH + 1}`)).toBe(false);
    // The dependent of the outermost planner waited for the whole chain and is skipped by its failure.
    const after = pick(refused, 'after-deep');
    expect(after.status).toBe('SKIPPED');
    expect(after.reason).toBe(`skipped: dependency deep-${MAX_EXPANSION_DEPTH} (FAILED) did not succeed`);
  });
});

describe('the planner-expansion example', () => {
  it('runs SUCCEEDED: the planned tasks in dependency order, the review after all of them', async () => {
    const batch = example('planner-expansion.json');
    const { batchId } = await system.submit(batch);
    const result = await system.waitForBatch(batchId);

    expect(result.status).toBe('SUCCEEDED');
    const planTask = batch.tasks.find((t) => t.id === 'plan');
    const simulate = planTask?.input?.simulate as
      | { output: { tasks: { id: string; dependsOn?: string[] }[] } }
      | undefined;
    const plan = simulate?.output.tasks ?? [];
    expect(plan).toHaveLength(5);
    expect(result.tasks.map((t) => t.id)).toEqual(['plan', 'review', ...plan.map((t) => t.id)]);
    for (const spec of plan) {
      const started = pick(result, spec.id).startedAt ?? -1;
      for (const dep of spec.dependsOn ?? [])
        expect(started, `${spec.id} after ${dep}`).toBeGreaterThanOrEqual(
          pick(result, dep).finishedAt ?? Infinity,
        );
    }
    const lastEnd = Math.max(...plan.map((t) => pick(result, t.id).finishedAt ?? Infinity));
    expect(pick(result, 'review').startedAt).toBeGreaterThanOrEqual(lastEnd);
  });
});

describe('redrive and cancel with added tasks', () => {
  it('redrives a failed added task, and the planner dependent then runs', () => {
    expect(failedAdded.status).toBe('PARTIAL');
    expect(pick(failedAdded, 'flaky').status).toBe('FAILED');
    expect(pick(failedAdded, 'review').status).toBe('SKIPPED');
    expect(redriven.status).toBe('SUCCEEDED');
    expect(pick(redriven, 'flaky').attempts.map((a) => a.status)).toEqual(['FAILED', 'SUCCEEDED']);
    expect(pick(redriven, 'review').status).toBe('SUCCEEDED');
    // The planner is not run again, so nothing is added twice.
    expect(pick(redriven, 'plan').attempts).toHaveLength(1);
    expect(redriven.tasks.map((t) => t.id)).toEqual(['plan', 'review', 'flaky', 'steady']);
  });

  it('cancels a batch mid-expansion: every task ends, and no execution of the batch keeps running', () => {
    expect(cancelled.status).toBe('CANCELLED');
    expect(pick(cancelled, 'plan').status).toBe('SUCCEEDED');
    for (const id of ['slow', 'later', 'review']) expect(pick(cancelled, id).status, id).toBe('CANCELLED');
    expect(executionsAfterCancel).toEqual([]);
  });
});
