/**
 * A person's decision on a waiting task (decideApproval) on DynamoDB (dynalite): an answer to the waiting state
 * that throws is tried again, and past its tries stays recorded for a repeat of the decision to send; a
 * decision while the batch is being cancelled is refused; the record names its caller.
 */
import { describe, expect, it } from 'vitest';
import { APPROVAL_ANSWER_RETRY_DELAYS_MS } from '../../../shared/domain/limits';
import type { Task } from '../../../shared/domain/schemas';
import {
  CallbackRefusedError,
  type Callbacks,
  type Orchestrator,
  type TaskStore,
} from '../../../shared/ports';
import {
  type DecideApprovalDeps,
  decideApproval,
  holdForDecision,
  recordApprovalTimeout,
} from '../../../shared/usecases/approval';
import { taskResult } from '../../../shared/usecases/batch-result';
import { cancelBatch } from '../../../shared/usecases/cancel';
import { completeTask } from '../../../shared/usecases/complete';
import { ConflictError, UnavailableError, UpstreamRefusedError } from '../../../shared/usecases/errors';
import { endStoppedExecution } from '../../../shared/usecases/interrupted';
import { useDynamoStores } from '../../support/dynamo-stores';
import { batchOf, ManualClock, uniqueId } from '../../support/fixtures';

const db = useDynamoStores();
const clock = new ManualClock();
const TOKEN = 'token-before';

/** Callbacks whose answers throw `failures` times (a throttled or unreachable Step Functions), then arrive. */
function flakyCallbacks(failures: number, arrives = true) {
  const sent: { token: string; kind: 'succeed' | 'fail' }[] = [];
  let left = failures;
  const send = async (token: string, kind: 'succeed' | 'fail') => {
    sent.push({ token, kind });
    if (left > 0) {
      left--;
      throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    }
    return arrives;
  };
  const callbacks: Callbacks = {
    succeed: (token) => send(token, 'succeed'),
    fail: (token) => send(token, 'fail'),
    heartbeat: async () => true,
  };
  return { callbacks, sent, heal: () => (left = 0) };
}

/** Callbacks whose answers throw `transient` times, then are refused for good (no permission to answer). */
function refusingCallbacks(transient = 0) {
  const flaky = flakyCallbacks(transient);
  const sent: string[] = [];
  const refuse = async (token: string, kind: 'succeed' | 'fail') => {
    sent.push(kind);
    await (kind === 'succeed' ? flaky.callbacks.succeed(token, {}) : flaky.callbacks.fail(token, 'E', 'c'));
    throw new CallbackRefusedError(
      'AccessDeniedException',
      'not authorized to perform states:SendTaskSuccess',
    );
  };
  const callbacks: Callbacks = {
    succeed: (token) => refuse(token, 'succeed'),
    fail: (token) => refuse(token, 'fail'),
    heartbeat: async () => true,
  };
  return { callbacks, sent };
}

/**
 * A batch whose task `deploy` waits for a person's approval before dispatch, its state's token TOKEN (after
 * the tasks `besides`, under failFast when asked).
 */
async function waitingTask(options: { besides?: Task[]; failFast?: boolean } = {}): Promise<string> {
  const batchId = uniqueId();
  const { batch, tasks } = batchOf(
    batchId,
    [
      ...(options.besides ?? []),
      { id: 'deploy', description: 'Deploy to production', approval: { before: true } },
    ],
    options.failFast ? { failFast: true } : {},
  );
  await db.store.createBatch(batch, tasks);
  const task = await db.store.getTask(batchId, 'deploy');
  if (!task) throw new Error('no task');
  const waiting = await holdForDecision(
    { store: db.store, agents: db.agents, callbacks: flakyCallbacks(0).callbacks, clock },
    task,
    { stage: 'before', token: TOKEN },
  );
  expect(waiting?.status).toBe('AWAITING_APPROVAL');
  return batchId;
}

function depsWith(callbacks: Callbacks, store: TaskStore = db.store) {
  const pauses: number[] = [];
  const deps: DecideApprovalDeps = {
    store,
    callbacks,
    clock,
    sleep: async (ms) => {
      pauses.push(ms);
    },
  };
  return { deps, pauses };
}

describe('an answer to the waiting state that throws', () => {
  it('is tried again, so a transient failure costs a pause, not the approval timeout', async () => {
    const batchId = await waitingTask();
    const flaky = flakyCallbacks(APPROVAL_ANSWER_RETRY_DELAYS_MS.length);
    const { deps, pauses } = depsWith(flaky.callbacks);

    const result = await decideApproval(deps, { batchId, taskId: 'deploy', decision: 'approve' });

    expect(result.record).toMatchObject({ stage: 'before', decision: 'approve', by: 'person' });
    expect(flaky.sent).toHaveLength(APPROVAL_ANSWER_RETRY_DELAYS_MS.length + 1);
    expect(pauses).toEqual([...APPROVAL_ANSWER_RETRY_DELAYS_MS]);
    const task = await db.store.getTask(batchId, 'deploy');
    expect(task?.approvals).toMatchObject([{ decision: 'approve' }]);
    expect(task?.approvalWait).toBeUndefined();
  });

  it('past its tries stays recorded (503); the same decision sent again sends it, a different one is refused', async () => {
    const batchId = await waitingTask();
    const flaky = flakyCallbacks(Number.POSITIVE_INFINITY);
    const { deps } = depsWith(flaky.callbacks);
    const request = { batchId, taskId: 'deploy', decision: 'reject' as const, comment: 'not now' };

    const first = decideApproval(deps, request);
    await expect(first).rejects.toBeInstanceOf(UnavailableError);
    await expect(first).rejects.toThrow(
      /is recorded, but its answer could not be sent.*Rate exceeded.*send the same decision again/,
    );
    const held = await db.store.getTask(batchId, 'deploy');
    expect(held?.status).toBe('AWAITING_APPROVAL');
    expect(held?.approvals).toMatchObject([{ decision: 'reject', comment: 'not now' }]);
    expect(held?.approvalWait).toMatchObject({
      token: TOKEN,
      decided: { decision: 'reject' },
      undelivered: { error: 'Rate exceeded' },
    });
    // The status says the task still waits, and why: a decision whose answer is not sent yet.
    expect(held && taskResult(held, false)).toMatchObject({
      status: 'AWAITING_APPROVAL',
      awaiting: { stage: 'before', undelivered: { decision: 'reject', error: 'Rate exceeded' } },
      approvals: [{ decision: 'reject' }],
    });

    flaky.heal();
    const other = decideApproval(deps, { batchId, taskId: 'deploy', decision: 'approve' });
    await expect(other).rejects.toBeInstanceOf(ConflictError);
    await expect(other).rejects.toThrow(
      /was decided \(reject by person at .*\); its answer could not be sent yet: send "reject" again/,
    );

    const sentBefore = flaky.sent.length;
    const again = await decideApproval(deps, { ...request, comment: 'a second comment is not recorded' });
    expect(again.record).toMatchObject({ decision: 'reject', comment: 'not now' });
    expect(flaky.sent.slice(sentBefore)).toEqual([{ token: TOKEN, kind: 'fail' }]);
    const settled = await db.store.getTask(batchId, 'deploy');
    expect(settled?.approvals).toHaveLength(1);
    expect(settled?.approvalWait).toBeUndefined();
    expect(settled && taskResult(settled, false).awaiting).toBeUndefined();
  });

  it('that never got through is taken back when the wait times out: the timeout is the only record', async () => {
    const batchId = await waitingTask();
    const { deps } = depsWith(flakyCallbacks(Number.POSITIVE_INFINITY).callbacks);
    await expect(
      decideApproval(deps, { batchId, taskId: 'deploy', decision: 'approve' }),
    ).rejects.toBeInstanceOf(UnavailableError);
    const task = await db.store.getTask(batchId, 'deploy');
    if (!task) throw new Error('no task');

    const timeout = await recordApprovalTimeout({ store: db.store, clock }, task);

    expect(timeout?.reason).toMatch(/^ApprovalTimeout: rejected before dispatch by timeout/);
    const after = await db.store.getTask(batchId, 'deploy');
    expect(after?.approvals).toMatchObject([{ decision: 'reject', by: 'timeout' }]);
    expect(after?.approvals).toHaveLength(1);
    expect(after?.approvalWait).toBeUndefined();
  });

  it('refused at once (the state stopped waiting) is taken back and refused (409)', async () => {
    const batchId = await waitingTask();
    const { deps } = depsWith(flakyCallbacks(0, false).callbacks);

    await expect(decideApproval(deps, { batchId, taskId: 'deploy', decision: 'approve' })).rejects.toThrow(
      'ended before the decision reached it',
    );
    const task = await db.store.getTask(batchId, 'deploy');
    expect(task?.approvals ?? []).toEqual([]);
    expect(task?.approvalWait).toBeUndefined();
  });
});

describe('an answer the waiting state refused for good (AccessDenied)', () => {
  it('is not tried again: 502 naming the cause, the decision taken back and the wait open for the next one', async () => {
    const batchId = await waitingTask();
    const refusing = refusingCallbacks();
    const { deps, pauses } = depsWith(refusing.callbacks);

    const decision = decideApproval(deps, { batchId, taskId: 'deploy', decision: 'approve' });

    await expect(decision).rejects.toBeInstanceOf(UpstreamRefusedError);
    await expect(decision).rejects.toThrow(
      /the approve of task "deploy" is not recorded: .*AccessDeniedException: not authorized.*cannot cure/,
    );
    expect(refusing.sent).toEqual(['succeed']);
    expect(pauses).toEqual([]);
    const task = await db.store.getTask(batchId, 'deploy');
    expect(task?.status).toBe('AWAITING_APPROVAL');
    expect(task?.approvals ?? []).toEqual([]);
    expect(task?.approvalWait).toMatchObject({ token: TOKEN });
    expect(task?.approvalWait?.decided).toBeUndefined();
    expect(task && taskResult(task, false).awaiting?.undelivered).toBeUndefined();

    // Once the permission is fixed, a decision goes through.
    const fixed = await decideApproval(depsWith(flakyCallbacks(0).callbacks).deps, {
      batchId,
      taskId: 'deploy',
      decision: 'reject',
    });
    expect(fixed.record.decision).toBe('reject');
    expect((await db.store.getTask(batchId, 'deploy'))?.approvals).toMatchObject([{ decision: 'reject' }]);
  });

  it('after transient failures, or on a repeat of an undelivered decision, also takes the decision back', async () => {
    const batchId = await waitingTask();
    const request = { batchId, taskId: 'deploy', decision: 'reject' as const, comment: 'no' };
    await expect(
      decideApproval(depsWith(flakyCallbacks(Number.POSITIVE_INFINITY).callbacks).deps, request),
    ).rejects.toBeInstanceOf(UnavailableError);

    // The repeat meets a refusal for good after one more transient failure.
    const refusing = refusingCallbacks(1);
    const repeat = decideApproval(depsWith(refusing.callbacks).deps, request);

    await expect(repeat).rejects.toBeInstanceOf(UpstreamRefusedError);
    expect(refusing.sent).toEqual(['fail', 'fail']);
    const task = await db.store.getTask(batchId, 'deploy');
    expect(task?.approvals ?? []).toEqual([]);
    expect(task?.approvalWait).toMatchObject({ token: TOKEN });
    expect(task?.approvalWait?.decided).toBeUndefined();
    expect(task?.approvalWait?.undelivered).toBeUndefined();
  });
});

describe('a decision whose state was retried with a new token meanwhile', () => {
  it('refused for good, is taken back, and the new wait stays for the next decision', async () => {
    const batchId = await waitingTask();
    const refuse = async (): Promise<boolean> => {
      const task = await db.store.getTask(batchId, 'deploy');
      if (!task) throw new Error('no task');
      await holdForDecision({ store: db.store, agents: db.agents, callbacks, clock }, task, {
        stage: 'before',
        token: 'token-retried',
      });
      throw new CallbackRefusedError('AccessDeniedException', 'not authorized');
    };
    const callbacks: Callbacks = { ...flakyCallbacks(0).callbacks, succeed: refuse };

    await expect(
      decideApproval(depsWith(callbacks).deps, { batchId, taskId: 'deploy', decision: 'approve' }),
    ).rejects.toBeInstanceOf(UpstreamRefusedError);

    const task = await db.store.getTask(batchId, 'deploy');
    expect(task?.approvals ?? []).toEqual([]);
    expect(task?.approvalWait).toMatchObject({ token: 'token-retried' });
    expect(task?.approvalWait?.decided).toBeUndefined();
  });

  it('is taken back, and the new wait stays for the next decision', async () => {
    const batchId = await waitingTask();
    // AwaitApproval ran again (a retry of the state): the task waits on a new token, the old one is gone.
    const callbacks: Callbacks = {
      ...flakyCallbacks(0).callbacks,
      succeed: async () => {
        const task = await db.store.getTask(batchId, 'deploy');
        if (!task) throw new Error('no task');
        await holdForDecision({ store: db.store, agents: db.agents, callbacks, clock }, task, {
          stage: 'before',
          token: 'token-retried',
        });
        return false;
      },
    };

    await expect(
      decideApproval(depsWith(callbacks).deps, { batchId, taskId: 'deploy', decision: 'approve' }),
    ).rejects.toThrow('ended before the decision reached it');

    const task = await db.store.getTask(batchId, 'deploy');
    expect(task?.approvals ?? []).toEqual([]);
    expect(task?.approvalWait).toMatchObject({ token: 'token-retried' });
    expect(task?.approvalWait?.decided).toBeUndefined();
  });
});

describe('a decision while the batch is being cancelled', () => {
  it('is refused (409 naming the cancel) and not recorded, nor sent', async () => {
    const batchId = await waitingTask();
    await db.store.updateBatch(batchId, { cancelRequested: true, cancelReason: 'cancelled by request' });
    const flaky = flakyCallbacks(0);

    const decision = decideApproval(depsWith(flaky.callbacks).deps, {
      batchId,
      taskId: 'deploy',
      decision: 'approve',
    });

    await expect(decision).rejects.toBeInstanceOf(ConflictError);
    await expect(decision).rejects.toThrow(`batch "${batchId}" is being cancelled`);
    expect((await db.store.getTask(batchId, 'deploy'))?.approvals ?? []).toEqual([]);
    expect(flaky.sent).toEqual([]);
  });

  it('is refused and taken back when the cancel is requested between its read and its claim', async () => {
    const batchId = await waitingTask();
    // The cancel lands just as the decision claims the wait (after the decision read the batch).
    const store = Object.create(db.store) as TaskStore;
    store.appendApproval = async (...args) => {
      await db.store.updateBatch(batchId, { cancelRequested: true, cancelReason: 'cancelled by request' });
      return db.store.appendApproval(...args);
    };
    const flaky = flakyCallbacks(0);

    await expect(
      decideApproval(depsWith(flaky.callbacks, store).deps, {
        batchId,
        taskId: 'deploy',
        decision: 'reject',
      }),
    ).rejects.toThrow(`batch "${batchId}" is being cancelled`);
    expect((await db.store.getTask(batchId, 'deploy'))?.approvals ?? []).toEqual([]);
    expect(flaky.sent).toEqual([]);
  });
});

describe('a decision recorded, its answer undelivered (503), when the task ends', () => {
  const orchestrator: Orchestrator = {
    start: async (name) => ({ executionArn: `arn:exec:${name}` }),
    stop: async () => {},
    executionArnOf: (name) => `arn:exec:${name}`,
  };

  /** The waiting task's approval recorded but not delivered (every try threw). */
  async function undelivered(batchId: string): Promise<string> {
    await expect(
      decideApproval(depsWith(flakyCallbacks(Number.POSITIVE_INFINITY).callbacks).deps, {
        batchId,
        taskId: 'deploy',
        decision: 'approve',
      }),
    ).rejects.toBeInstanceOf(UnavailableError);
    return batchId;
  }

  it('is taken back by a cancel: the cancelled task shows no decision that never took effect', async () => {
    const batchId = await undelivered(await waitingTask());

    const result = await cancelBatch({ store: db.store, agents: db.agents, orchestrator, clock }, batchId);

    const task = await db.store.getTask(batchId, 'deploy');
    expect(task?.status).toBe('CANCELLED');
    expect(task?.approvals ?? []).toEqual([]);
    expect(task?.approvalWait).toBeUndefined();
    expect(result.tasks[0]?.approvals ?? []).toEqual([]);
  });

  it('is taken back when its execution ended unseen (the batch ended as interrupted)', async () => {
    const batchId = await undelivered(await waitingTask());
    await db.store.updateBatch(batchId, { executionArn: 'arn:exec:lost' });

    const ended = await endStoppedExecution(
      { store: db.store, agents: db.agents, clock },
      { executionArn: 'arn:exec:lost', batchId, status: 'ABORTED' },
    );

    expect(ended).toBe(true);
    const task = await db.store.getTask(batchId, 'deploy');
    expect(task?.status).toBe('FAILED');
    expect(task?.approvals ?? []).toEqual([]);
    expect(task?.approvalWait).toBeUndefined();
  });

  it('is taken back when failFast cancels the waiting task after another task failed', async () => {
    const batchId = await undelivered(
      await waitingTask({ besides: [{ id: 'build', description: 'Build it' }], failFast: true }),
    );

    await completeTask(
      { store: db.store, agents: db.agents, callbacks: flakyCallbacks(0).callbacks, clock },
      { batchId, taskId: 'build', outcome: 'FAILED' },
    );

    const cancelled = await db.store.getTask(batchId, 'deploy');
    expect(cancelled?.status).toBe('CANCELLED');
    expect(cancelled?.approvals ?? []).toEqual([]);
    expect(cancelled?.approvalWait).toBeUndefined();
  });

  it('stands when its answer got through before the cancel', async () => {
    const batchId = await waitingTask();
    await decideApproval(depsWith(flakyCallbacks(0).callbacks).deps, {
      batchId,
      taskId: 'deploy',
      decision: 'approve',
    });

    await cancelBatch({ store: db.store, agents: db.agents, orchestrator, clock }, batchId);

    const task = await db.store.getTask(batchId, 'deploy');
    expect(task?.status).toBe('CANCELLED');
    expect(task?.approvals).toMatchObject([{ decision: 'approve' }]);
  });
});

describe("a decision's record", () => {
  it('keeps the caller the API established', async () => {
    const batchId = await waitingTask();
    const caller = { apiKeyId: 'k-123', sourceIp: '203.0.113.7' };

    const result = await decideApproval(depsWith(flakyCallbacks(0).callbacks).deps, {
      batchId,
      taskId: 'deploy',
      decision: 'approve',
      caller,
    });

    expect(result.record.caller).toEqual(caller);
    expect((await db.store.getTask(batchId, 'deploy'))?.approvals?.[0]?.caller).toEqual(caller);
  });
});
