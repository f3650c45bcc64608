/**
 * The review of an output by a validator agent (approval.after.by) on DynamoDB (dynalite): RouteReview holds
 * the output and routes the review, RecordReview records a review that gave no verdict, once.
 */
import { describe, expect, it } from 'vitest';
import { PENDING_REVIEW_TOKEN, REVIEW_FAILED_ERROR } from '../../../shared/domain/approvals';
import { MAX_REVIEWS_PER_ATTEMPT } from '../../../shared/domain/limits';
import { CREDENTIALS_MARK_MS } from '../../../shared/domain/permanent-failure';
import { BUILTIN_ROLES, resolveRoles } from '../../../shared/domain/roles';
import type { ExecutorConfig } from '../../../shared/domain/schemas';
import type { Callbacks } from '../../../shared/ports';
import { awaitApproval, decideApproval, holdForDecision } from '../../../shared/usecases/approval';
import { UnavailableError } from '../../../shared/usecases/errors';
import { recordAttempt } from '../../../shared/usecases/record-attempt';
import { recordReviewFailure, routeReview } from '../../../shared/usecases/review';
import { type RouteDeps, routeTask } from '../../../shared/usecases/route';
import { useDynamoStores } from '../../support/dynamo-stores';
import { agentOf, batchOf, ManualClock, uniqueId } from '../../support/fixtures';

const db = useDynamoStores();
const clock = new ManualClock();
const callbacks: Callbacks = {
  succeed: async () => true,
  fail: async () => true,
  heartbeat: async () => true,
};

/** An implementing role with one free agent and a validator role of `validators` agents (its own per test). */
async function setup(validators: { maxAgents: number; reserved?: number; executor?: ExecutorConfig }) {
  const base = BUILTIN_ROLES[0];
  if (!base) throw new Error('no built-in roles');
  const suffix = uniqueId('r').replaceAll('-', '_');
  const impl = `impl_${suffix}`;
  const validator = `validator_${suffix}`;
  const catalog = resolveRoles([
    { ...base, name: impl, defaults: { ...base.defaults, capacity: 1, maxAgents: 1 } },
    {
      ...base,
      name: validator,
      defaults: {
        ...base.defaults,
        capacity: 1,
        maxAgents: validators.maxAgents,
        ...(validators.executor ? { executor: validators.executor } : {}),
      },
    },
  ]);
  await db.agents.put(agentOf('python_backend_coder', `${impl}-1`, { role: impl, capacity: 1 }));
  await db.agents.put(
    agentOf('python_backend_coder', `${validator}-1`, {
      role: validator,
      capacity: 1,
      reserved: validators.reserved ?? 0,
      ...(validators.executor ? { executor: validators.executor } : {}),
    }),
  );
  const deps: RouteDeps & { callbacks: Callbacks } = {
    store: db.store,
    agents: db.agents,
    catalog,
    clock,
    roleQueueUrls: { [impl]: `https://sqs.local/${impl}`, [validator]: `https://sqs.local/${validator}` },
    heartbeatSeconds: 60,
    callbacks,
  };
  const batchId = uniqueId();
  const { batch, tasks } = batchOf(batchId, [
    { id: 't', description: 'write an endpoint', role: impl, approval: { after: true, by: validator } },
  ]);
  await db.store.createBatch(batch, tasks);
  expect(await routeTask(deps, { batchId, taskId: 't' })).toMatchObject({
    decision: 'DISPATCH',
    agentId: `${impl}-1`,
    review: 'validator',
  });
  const input = {
    batchId,
    taskId: 't',
    review: {
      agentId: `${impl}-1`,
      attempt: 1,
      result: {
        status: 'SUCCEEDED' as const,
        agentId: `${impl}-1`,
        attempt: 1,
        durationMs: 5,
        output: { ok: true },
      },
    },
  };
  return { impl, validator, catalog, deps, batchId, input };
}

/** Task `t`'s first attempt waits for a decision on its output, through `token`. */
async function holdOutput(
  deps: Parameters<typeof holdForDecision>[0],
  batchId: string,
  impl: string,
  token: string,
  result?: Parameters<typeof holdForDecision>[2]['result'],
): Promise<void> {
  const task = await db.store.getTask(batchId, 't');
  if (!task) throw new Error('no task');
  await holdForDecision(deps, task, {
    stage: 'after',
    token,
    agentId: `${impl}-1`,
    attempt: 1,
    ...(result === undefined ? {} : { result }),
  });
}

describe('routeReview', () => {
  it("holds the output, gives its agent's slot back and reserves a validator; a repeated call reserves nothing more", async () => {
    const { impl, validator, deps, batchId, input } = await setup({ maxAgents: 1 });

    const first = await routeReview(deps, input);
    const again = await routeReview(deps, input);

    expect(first).toMatchObject({
      decision: 'DISPATCH',
      agentId: `${validator}-1`,
      role: validator,
      run: 1,
      queueUrl: `https://sqs.local/${validator}`,
    });
    expect(again).toEqual(first);
    expect((await db.agents.get(`${validator}-1`))?.reserved).toBe(1);
    expect((await db.agents.get(`${impl}-1`))?.reserved).toBe(0);
    const task = await db.store.getTask(batchId, 't');
    expect(task).toMatchObject({
      status: 'AWAITING_APPROVAL',
      output: { ok: true },
      approvalWait: { stage: 'after', reviewer: validator, attempt: 1 },
    });
    expect(task?.attempts[0]?.status).toBe('AWAITING_APPROVAL');
  });

  it('waits, parked for the validator role, when every validator is busy', async () => {
    const { validator, deps, batchId, input } = await setup({ maxAgents: 1, reserved: 1 });

    const output = await routeReview(deps, input);

    expect(output).toMatchObject({ decision: 'WAIT', role: validator });
    expect((await db.store.getTask(batchId, 't'))?.status).toBe('AWAITING_APPROVAL');
  });

  it('fails the review at once, naming the mark, when every validator configuration is marked for a refused key, and the task is not retried', async () => {
    // A provider and url of this test's own: the marks are the fleet's (one table for the file).
    const executor: ExecutorConfig = { name: 'anthropic', url: `https://${uniqueId('refused')}.test` };
    const { impl, validator, deps, batchId, input } = await setup({ maxAgents: 2, executor });
    const at = clock.now();
    await db.agents.markCredentials({
      executor,
      at,
      until: at + CREDENTIALS_MARK_MS,
      agentId: 'elsewhere-1',
      batchId: 'other',
      taskId: 'refused',
    });
    try {
      const output = await routeReview(deps, input);

      expect(output).toMatchObject({ decision: 'FAIL' });
      const reason = output.decision === 'FAIL' ? output.reason : '';
      expect(reason).toContain(`no ${validator} agent can review the output of attempt 1`);
      expect(reason).toContain('marked fleet-wide');
      expect(reason).toContain('by task other/refused on agent elsewhere-1');
      // Nothing was spawned nor reserved for the review.
      expect((await db.agents.list(validator)).map((a) => [a.agentId, a.reserved])).toEqual([
        [`${validator}-1`, 0],
      ]);

      // The state machine's ReviewFailed: RecordAttempt ends the task (another attempt meets the same marks).
      const recorded = await recordAttempt(deps, {
        batchId,
        taskId: 't',
        agentId: `${impl}-1`,
        attempt: 1,
        error: { Error: REVIEW_FAILED_ERROR, Cause: reason },
      });
      expect(recorded).toMatchObject({ retry: false });
      expect(recorded.failure).toContain('marked fleet-wide');
    } finally {
      await db.agents.clearCredentials(executor);
    }
  });
});

describe('recordReviewFailure', () => {
  it('records a review without a verdict once, asks another validator, and fails the attempt after the bound', async () => {
    const { validator, catalog, deps, batchId, input } = await setup({ maxAgents: MAX_REVIEWS_PER_ATTEMPT });
    const fail = async (run: number, agentId: string) => {
      const failure = {
        batchId,
        taskId: 't',
        reviewer: { agentId, role: validator, run, attempt: 1, startedAt: clock.now() },
        error: { Error: 'SimulatedFailureError', Cause: `review ${run} broke` },
      };
      await recordReviewFailure({ ...db, clock, catalog, callbacks }, failure);
      // RecordReview retried: nothing more is recorded or released.
      await recordReviewFailure({ ...db, clock, catalog, callbacks }, failure);
    };

    const asked: string[] = [];
    for (let run = 1; run <= MAX_REVIEWS_PER_ATTEMPT; run++) {
      const output = await routeReview(deps, input);
      if (output.decision !== 'DISPATCH')
        throw new Error(`review ${run} was not dispatched: ${output.decision}`);
      expect(output.run).toBe(run);
      asked.push(output.agentId);
      await fail(run, output.agentId);
    }
    const last = await routeReview(deps, input);

    // Each validator that failed this output was not asked again.
    expect(new Set(asked).size).toBe(MAX_REVIEWS_PER_ATTEMPT);
    expect(last).toEqual({
      decision: 'FAIL',
      reason: `no verdict on the output of attempt 1 after 3 reviews by ${validator} agents; last: SimulatedFailureError: review 3 broke`,
    });
    const task = await db.store.getTask(batchId, 't');
    expect(task?.reviewFailures?.map((f) => [f.by, f.attempt])).toEqual(asked.map((by) => [by, 1]));
    for (const agentId of asked) {
      expect(await db.agents.get(agentId)).toMatchObject({ reserved: 0, failures: 1 });
    }
  });
});

describe("a validator's verdict whose answer could not be sent", () => {
  it('is taken back when its review is recorded as failed: only verdicts that took effect stay', async () => {
    const { impl, validator, catalog, deps, batchId, input } = await setup({ maxAgents: 1 });
    const output = await routeReview(deps, input);
    if (output.decision !== 'DISPATCH') throw new Error(`not dispatched: ${output.decision}`);
    await holdOutput(deps, batchId, impl, 'token-review');
    const unreachable: Callbacks = {
      ...callbacks,
      succeed: async () => {
        throw new Error('connect ETIMEDOUT');
      },
    };
    const verdict = decideApproval(
      { store: db.store, callbacks: unreachable, clock, sleep: async () => {} },
      { batchId, taskId: 't', decision: 'approve', by: output.agentId, attempt: 1 },
    );
    await expect(verdict).rejects.toBeInstanceOf(UnavailableError);
    expect((await db.store.getTask(batchId, 't'))?.approvals).toMatchObject([{ by: output.agentId }]);

    // The review's token failed (its worker's failure, or its heartbeat's timeout): RecordReview.
    await recordReviewFailure(
      { ...db, clock, catalog, callbacks },
      {
        batchId,
        taskId: 't',
        reviewer: {
          agentId: output.agentId,
          role: validator,
          run: output.run,
          attempt: 1,
          startedAt: clock.now(),
        },
        error: { Error: 'Error', Cause: 'connect ETIMEDOUT' },
      },
    );

    const after = await db.store.getTask(batchId, 't');
    expect(after?.approvals ?? []).toEqual([]);
    expect(after?.approvalWait).toBeUndefined();
    expect(after?.reviewFailures).toMatchObject([{ by: output.agentId, attempt: 1 }]);
  });
});

describe("a person's decision on an output a validator reviews", () => {
  /** Answers a token as Step Functions does: one no state waits on is gone (InvalidToken), not answered. */
  const stepFunctions: Callbacks = {
    succeed: async (token) => token !== PENDING_REVIEW_TOKEN,
    fail: async (token) => token !== PENDING_REVIEW_TOKEN,
    heartbeat: async () => true,
  };

  it('is refused while the review waits for a free validator, and the held output keeps its wait', async () => {
    const { validator, deps, batchId, input } = await setup({ maxAgents: 1, reserved: 1 });
    expect(await routeReview(deps, input)).toMatchObject({ decision: 'WAIT' });

    const decision = decideApproval(
      { store: db.store, callbacks: stepFunctions, clock },
      { batchId, taskId: 't', decision: 'approve' },
    );

    await expect(decision).rejects.toThrow(
      `the output of attempt 1 of task "t" waits for an agent of the validator role "${validator}" to take its review`,
    );
    const task = await db.store.getTask(batchId, 't');
    expect(task?.approvalWait).toMatchObject({ token: PENDING_REVIEW_TOKEN, reviewer: validator });
    expect(task?.approvals ?? []).toEqual([]);
  });
});

describe('a second decision', () => {
  it('says the task was decided meanwhile while it is still AWAITING_APPROVAL', async () => {
    const batchId = uniqueId();
    const { batch, tasks } = batchOf(batchId, [
      { id: 'gated', description: 'deploy', approval: { before: true } },
    ]);
    await db.store.createBatch(batch, tasks);
    const deps = { store: db.store, agents: db.agents, callbacks, clock };
    await awaitApproval(deps, { batchId, taskId: 'gated', stage: 'before', taskToken: 'token-1' });
    await decideApproval(deps, { batchId, taskId: 'gated', decision: 'approve' });

    const again = decideApproval(deps, { batchId, taskId: 'gated', decision: 'reject' });

    await expect(again).rejects.toThrow('task "gated" was decided meanwhile');
    expect((await db.store.getTask(batchId, 'gated'))?.approvals).toMatchObject([{ decision: 'approve' }]);
  });
});

describe('a decision that reaches the wait as it times out', () => {
  it("leaves the timeout a rejection by timeout, not the agent's timeout (its attempt FAILED, not counted on it)", async () => {
    const { impl, deps, batchId, input } = await setup({ maxAgents: 1 });
    await holdOutput(deps, batchId, impl, 'token-a', input.review.result);
    // The late decision has claimed the wait; its answer will be refused (the state timed out) and taken back.
    const record = {
      stage: 'after' as const,
      decision: 'approve' as const,
      by: 'person',
      attempt: 1,
      at: clock.now(),
    };
    expect(await db.store.appendApproval(batchId, 't', record, 'token-a')).toBe(0);

    const outcome = await recordAttempt(deps, {
      batchId,
      taskId: 't',
      agentId: `${impl}-1`,
      attempt: 1,
      error: { Error: 'States.Timeout' },
    });

    // A held output nobody decided on in time ends the task (not redone to wait as long again).
    expect(outcome.retry).toBe(false);
    const after = await db.store.getTask(batchId, 't');
    expect(after?.attempts[0]).toMatchObject({
      status: 'FAILED',
      error: 'ApprovalTimeout: output of attempt 1 rejected by timeout: no decision within 86400 s',
    });
    expect(after?.approvals?.at(-1)).toMatchObject({ by: 'timeout', decision: 'reject', attempt: 1 });
    expect((await db.agents.get(`${impl}-1`))?.failures).toBe(0);
  });
});
