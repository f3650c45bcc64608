/**
 * Validation by an agent (approval.after.by) on the embedded runtime: the deployed state machine and handlers,
 * a validator agent of the named role reviews each attempt's output with the simulated executor, its verdicts
 * given in the task's input (input.simulate.verdicts), and decides like a person would.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Batch,
  type BatchResult,
  BatchResultSchema,
  type TaskResult,
} from '../../../shared/domain/schemas';
import { main } from '../../../shared/local/cli/main';
import { EmbeddedSystem } from '../../../shared/local/system';
import { dependencyViolations, example } from '../../support/batch-checks';
import { fakeIO } from '../../support/fake-io';
import { waitUntil } from '../../support/wait';

const VALIDATOR = 'code_reviewer';
/** One agent with one slot: an output under review that held its slot would stop every other task of the role. */
const ONE_SLOT_ROLE = 'performance_optimizer';
/** Short, so a validator that crashes is noticed (HeartbeatTimeout) within seconds. */
const HEARTBEAT_SECONDS = 2;

let system: EmbeddedSystem;

beforeAll(async () => {
  system = await EmbeddedSystem.start({
    scalerIntervalMs: 0,
    heartbeatSeconds: HEARTBEAT_SECONDS,
    roles: [
      { name: ONE_SLOT_ROLE, defaults: { capacity: 1, minAgents: 0, maxAgents: 1 } },
      { name: VALIDATOR, defaults: { capacity: 1, minAgents: 0, maxAgents: 3 } },
    ],
  });
}, 60_000);

afterAll(async () => {
  await system?.stop();
});

function taskOf(result: BatchResult, id: string): TaskResult {
  const task = result.tasks.find((t) => t.id === id);
  if (!task) throw new Error(`no task ${id}`);
  return task;
}

async function run(batch: Batch): Promise<BatchResult> {
  const { batchId } = await system.submit(batch);
  return system.waitForBatch(batchId);
}

const reviewed = (id: string, verdicts: unknown[], extra: Record<string, unknown> = {}) => ({
  id,
  description: 'Implement the signup endpoint in Python',
  approval: { after: true, by: VALIDATOR },
  input: { simulate: { verdicts } },
  ...extra,
});

describe('validation by an agent', () => {
  it("rejects once with comments that reach the next attempt's context, then accepts; the verdicts are in the report", async () => {
    const result = await run({
      options: { maxAttempts: 2 },
      tasks: [
        reviewed('signup', [
          { accept: false, comments: 'validate the email address' },
          { accept: true, comments: 'good' },
        ]),
      ],
    });

    expect(result.status).toBe('SUCCEEDED');
    const signup = taskOf(result, 'signup');
    expect(signup.attempts.map((a) => a.status)).toEqual(['FAILED', 'SUCCEEDED']);
    const [reject, approve] = signup.approvals ?? [];
    expect(reject).toMatchObject({
      stage: 'after',
      decision: 'reject',
      comment: 'validate the email address',
      attempt: 1,
      simulated: true,
    });
    expect(reject?.by).toMatch(/^code_reviewer-\d+$/);
    expect(approve).toMatchObject({
      stage: 'after',
      decision: 'approve',
      comment: 'good',
      attempt: 2,
      simulated: true,
    });
    expect(signup.approvals).toHaveLength(2);
    expect(signup.attempts[0]?.error).toBe(
      `ApprovalRejected: output of attempt 1 rejected by ${reject?.by}: validate the email address`,
    );
    // The second attempt was told why the first was rejected (its simulated output lists what it received).
    const output = JSON.parse(await system.output(result.batchId, 'signup')) as {
      attempt: number;
      context?: { received: { kind: string; note?: string }[] };
    };
    expect(output.attempt).toBe(2);
    expect(output.context?.received).toEqual([
      {
        taskId: 'signup',
        kind: 'rejection',
        bytes: 26,
        totalBytes: 26,
        cut: false,
        note: `attempt 1 rejected by ${reject?.by}: validate the email address`,
      },
    ]);
    expect(signup.attempts[1]?.context?.items).toEqual([
      expect.objectContaining({ taskId: 'signup', kind: 'rejection' }),
    ]);
    expect(signup.reviewFailures).toBeUndefined();
    // What the reviews used is on each verdict and in the task's totals, beside its attempts.
    const input = (items: readonly { usage?: { inputTokens: number } }[]) =>
      items.reduce((sum, i) => sum + (i.usage?.inputTokens ?? 0), 0);
    expect(reject?.usage).toMatchObject({ inputTokens: expect.any(Number), simulated: true });
    expect(input(signup.approvals ?? [])).toBeGreaterThan(0);
    expect(signup.usage?.inputTokens).toBe(input(signup.attempts) + input(signup.approvals ?? []));
  });

  it('holds no slot of the reviewed role while the validator works: another task of the role runs meanwhile', async () => {
    const { batchId } = await system.submit({
      tasks: [reviewed('tune', [{ accept: true, durationMs: 60_000 }], { role: ONE_SLOT_ROLE })],
    });
    await waitUntil(async () => {
      const task = taskOf(await system.result(batchId), 'tune');
      return task.status === 'AWAITING_APPROVAL' && task.awaiting?.reviewer === VALIDATOR ? true : undefined;
    });
    // The one agent of the role is free while the (minute-long) review runs: another task of it completes.
    const other = await run({
      tasks: [{ id: 'other', description: 'Profile the cache', role: ONE_SLOT_ROLE }],
    });
    expect(other.status).toBe('SUCCEEDED');
    expect(taskOf(await system.result(batchId), 'tune').status).toBe('AWAITING_APPROVAL');
    await system.request({ method: 'DELETE', path: `/batches/${batchId}` });
    expect((await system.waitForBatch(batchId)).status).toBe('CANCELLED');
  });

  it('asks another validator when a review gives no verdict (an error, a crash), then accepts', async () => {
    const result = await run({
      tasks: [reviewed('retry', [{ fail: 'error' }, { fail: 'crash' }, { accept: true }])],
    });

    expect(result.status).toBe('SUCCEEDED');
    const task = taskOf(result, 'retry');
    expect(task.attempts.map((a) => a.status)).toEqual(['SUCCEEDED']);
    const failures = task.reviewFailures ?? [];
    expect(failures.map((f) => f.error)).toEqual([
      expect.stringMatching(/^SimulatedFailureError: /),
      'States.HeartbeatTimeout',
    ]);
    const approvals = task.approvals ?? [];
    expect(approvals).toEqual([expect.objectContaining({ decision: 'approve', attempt: 1 })]);
    // Each validator that failed this output is not asked again: three reviews, three agents.
    expect(new Set([...failures.map((f) => f.by), approvals[0]?.by]).size).toBe(3);
  }, 60_000);

  it('fails the attempt with the reason after three reviews without a verdict; the task does not hang', async () => {
    const result = await run({
      options: { maxAttempts: 1 },
      tasks: [
        reviewed('broken', [{ fail: 'error' }, { fail: 'invalid' }, { fail: 'error' }]),
        { id: 'next', description: 'Document the endpoint', dependsOn: ['broken'] },
      ],
    });

    expect(result.status).toBe('FAILED');
    const broken = taskOf(result, 'broken');
    expect(broken.status).toBe('FAILED');
    expect(broken.reviewFailures?.map((f) => f.error)).toEqual([
      expect.stringMatching(/^SimulatedFailureError: /),
      expect.stringMatching(/^OutputSchemaError: .*accept/),
      expect.stringMatching(/^SimulatedFailureError: /),
    ]);
    expect(broken.attempts[0]?.error).toMatch(
      /^ReviewFailed: no verdict on the output of attempt 1 after 3 reviews by code_reviewer agents; last: SimulatedFailureError: /,
    );
    expect(broken.approvals).toBeUndefined();
    expect(taskOf(result, 'next').status).toBe('SKIPPED');
  });
});

describe('the reviewed-feature example', () => {
  it('runs SUCCEEDED with meta-agent run and no person: the implementation rejected once by its validator, then accepted', async () => {
    const io = fakeIO();

    const code = await main(['run', 'examples/reviewed-feature.json', '--json'], io);

    expect(code).toBe(0);
    const result = BatchResultSchema.parse(JSON.parse(io.out));
    expect(result.status).toBe('SUCCEEDED');
    expect(dependencyViolations(example('reviewed-feature.json'), result)).toEqual([]);
    const api = taskOf(result, 'reset-api');
    expect(api.attempts.map((a) => a.status)).toEqual(['FAILED', 'SUCCEEDED']);
    expect(
      api.approvals?.map((a) => [a.decision, a.attempt, a.simulated, a.by.startsWith('code_reviewer-')]),
    ).toEqual([
      ['reject', 1, true, true],
      ['approve', 2, true, true],
    ]);
    // The docs ran on the accepted output only, after the review.
    expect(taskOf(result, 'reset-docs').startedAt).toBeGreaterThanOrEqual(api.approvals?.[1]?.at ?? Infinity);
  });
});
