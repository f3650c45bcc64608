/**
 * An expansion whose nested execution cannot start, on the embedded runtime (the deployed state machine and
 * handlers; NestedStartFault stands in for StartExecution's errors): a transient error is retried and the
 * batch succeeds; any other error fails every added task with a reason naming it, the planner's dependents
 * are released by their trigger rules, and the batch ends instead of waiting forever.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchResult, TaskResult } from '../../../shared/domain/schemas';
import { EmbeddedSystem } from '../../../shared/local/system';

/** batchId -> the error its nested starts fail with, and how many more times (Infinity: always). */
const faults = new Map<string, { error: string; cause: string; times: number }>();
const starts = new Map<string, number>();
let system: EmbeddedSystem;
let refused: BatchResult;
let throttled: BatchResult;

const pick = (result: BatchResult, id: string): TaskResult => {
  const task = result.tasks.find((t) => t.id === id);
  if (!task) throw new Error(`no task ${id} in ${result.batchId}`);
  return task;
};
/** A planner whose simulated output adds `a` and `b` (b after a), a dependent of each trigger rule, and a bystander. */
const batchOf = (batchId: string) => ({
  batchId,
  tasks: [
    {
      id: 'plan',
      description: 'Plan the work',
      expands: true,
      input: {
        simulate: {
          output: {
            summary: 'two parts',
            tasks: [
              { id: 'a', description: 'Write part a' },
              { id: 'b', description: 'Write part b', dependsOn: ['a'] },
            ],
          },
        },
      },
    },
    { id: 'review', description: 'Review the parts', dependsOn: ['plan'] },
    { id: 'cleanup', description: 'Clean up whatever happened', dependsOn: ['plan'], trigger: 'all_done' },
    { id: 'docs', description: 'Write the docs' },
  ],
});

beforeAll(async () => {
  system = await EmbeddedSystem.start({
    scalerIntervalMs: 0,
    nestedStartFault: (_state, input) => {
      const batchId = String((input as { batchId?: unknown }).batchId);
      starts.set(batchId, (starts.get(batchId) ?? 0) + 1);
      const fault = faults.get(batchId);
      if (!fault || fault.times <= 0) return undefined;
      fault.times -= 1;
      return { error: fault.error, cause: fault.cause };
    },
  });
  faults.set('refused', {
    error: 'StepFunctions.StateMachineDoesNotExistException',
    cause: 'State Machine Does Not Exist',
    times: Number.POSITIVE_INFINITY,
  });
  faults.set('throttled', {
    error: 'StepFunctions.ExecutionLimitExceededException',
    cause: 'Execution limit exceeded',
    times: 1,
  });
  await system.submit(batchOf('refused'));
  await system.submit(batchOf('throttled'));
  [refused, throttled] = await Promise.all([
    system.waitForBatch('refused'),
    system.waitForBatch('throttled'),
  ]);
}, 120_000);

afterAll(async () => {
  await system?.stop();
});

describe('an expansion whose nested execution cannot start', () => {
  it('fails every added task with the error, once (no retry of a non-transient error)', () => {
    expect(starts.get('refused')).toBe(1);
    for (const id of ['a', 'b']) {
      const task = pick(refused, id);
      expect(task.status, id).toBe('FAILED');
      expect(task.reason, id).toBe(
        "the expansion's nested execution failed: StepFunctions.StateMachineDoesNotExistException: State Machine Does Not Exist",
      );
      expect(task.attempts, id).toHaveLength(0);
    }
  });

  it("keeps the planner's success and releases its dependents by their trigger rules", () => {
    expect(pick(refused, 'plan').status).toBe('SUCCEEDED');
    expect(pick(refused, 'review').status).toBe('SKIPPED');
    expect(pick(refused, 'review').reason).toContain('did not succeed');
    expect(pick(refused, 'cleanup').status).toBe('SUCCEEDED');
    expect(pick(refused, 'docs').status).toBe('SUCCEEDED');
  });

  it('ends the batch (PARTIAL) and leaves no execution running', () => {
    expect(refused.status).toBe('PARTIAL');
    const running = system.runtime.runner
      .list()
      .filter((e) => e.status === 'RUNNING' && e.input.includes('"refused"'));
    expect(running).toEqual([]);
  });
});

describe('an expansion whose nested start is throttled once', () => {
  it('retries the start and runs the added tasks: the batch succeeds', () => {
    expect(starts.get('throttled')).toBe(2);
    expect(throttled.status).toBe('SUCCEEDED');
    for (const task of throttled.tasks) expect(task.status, task.id).toBe('SUCCEEDED');
    expect(pick(throttled, 'review').attempts[0]?.startedAt).toBeGreaterThanOrEqual(
      pick(throttled, 'b').attempts[0]?.finishedAt ?? Number.POSITIVE_INFINITY,
    );
  });
});
