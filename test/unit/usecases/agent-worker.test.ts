import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createExecutor } from '../../../shared/adapters/executors';
import { SecretNotFoundError } from '../../../shared/adapters/secrets';
import type { TaskWork } from '../../../shared/domain/context';
import { attachUsage, PriceTable } from '../../../shared/domain/costs';
import {
  CREDENTIAL_FINGERPRINT_CHARS,
  MAX_DEPENDENT_ROLE_HINTS,
  MAX_OUTPUT_BYTES,
  RESULT_DEPENDENTS_MAX,
} from '../../../shared/domain/limits';
import { CREDENTIALS_MARK_MS, type CredentialsMark } from '../../../shared/domain/permanent-failure';
import type { CompleteInput } from '../../../shared/domain/workflow';
import {
  type DispatchResult,
  DispatchResultSchema,
  INLINE_OUTPUT_MAX_BYTES,
  NON_RETRYABLE_ERRORS,
} from '../../../shared/domain/workflow';
import type {
  AgentExecutor,
  AgentRegistry,
  AttemptEnd,
  Callbacks,
  StoredTask,
  TaskStore,
} from '../../../shared/ports';
import { HEARTBEATS_PER_INTERVAL, keepAlive, runDispatch } from '../../../shared/usecases/agent-worker';
import { buildBatchResult } from '../../../shared/usecases/batch-result';
import { spentOf } from '../../../shared/usecases/common';
import { runReview } from '../../../shared/usecases/review';
import { agentOf, batchOf, catalog } from '../../support/fixtures';
import { MemoryArtifacts } from '../../support/memory-artifacts';

function running(simulate: Record<string, unknown>): StoredTask {
  const [task] = batchOf('b', [{ id: 't', description: 'x', input: { simulate } }]).tasks;
  if (!task) throw new Error('no task');
  return {
    ...task,
    status: 'RUNNING',
    role: 'python_backend_coder',
    attemptCount: 1,
    attempts: [{ agentId: 'python_backend_coder-1', status: 'RUNNING', startedAt: 0 }],
  };
}

/** Only what the worker touches. */
function fakes(task: StoredTask, alive: () => boolean) {
  const calls = {
    succeed: 0,
    fail: 0,
    heartbeat: 0,
    finished: 0,
    answers: [] as unknown[],
    stored: [] as unknown[],
    failures: [] as { error: string; cause: string }[],
  };
  const store = {
    claimAttempt: async () => task,
    getTask: async () => task,
    finishAttempt: async (_b: string, _t: string, _a: number, result: AttemptEnd) => {
      calls.finished++;
      calls.stored.push(result.output ?? result.outputRef);
      return true;
    },
  } as unknown as TaskStore;
  const agents = {
    get: async () => agentOf('python_backend_coder', 'python_backend_coder-1'),
    credentialsMarks: async () => [],
  } as unknown as AgentRegistry;
  const callbacks: Callbacks = {
    succeed: async (_token, output) => {
      calls.succeed++;
      calls.answers.push(output);
      return true;
    },
    fail: async (_token, error, cause) => {
      calls.fail++;
      calls.failures.push({ error, cause });
      return true;
    },
    heartbeat: async () => {
      calls.heartbeat++;
      return alive();
    },
  };
  return { calls, store, agents, callbacks };
}

const message = {
  batchId: 'b',
  taskId: 't',
  agentId: 'python_backend_coder-1',
  attempt: 1,
  taskToken: 'tok',
  inlineResult: true,
};

/** Runs `message` with the simulated executor (or `executor`) and 1 s heartbeats (beats every third of it). */
function dispatch(
  store: TaskStore,
  agents: AgentRegistry,
  callbacks: Callbacks,
  executor?: AgentExecutor,
  inlineResult = true,
  artifacts = new MemoryArtifacts(),
  prices?: PriceTable,
) {
  let now = 0;
  const clock = { now: () => (now += 5) };
  return runDispatch(
    {
      store,
      agents,
      artifacts,
      callbacks,
      catalog,
      clock,
      executorFor: executor ? () => executor : createExecutor,
      heartbeatSeconds: 1,
      ...(prices ? { prices } : {}),
    },
    { ...message, inlineResult },
  );
}

/**
 * Task `t` depending on `schema`, whose work the store answers with `work`; `contexts` records every
 * setAttemptRecord call.
 */
function dependentOfSchema(work: TaskWork) {
  const [, dependent] = batchOf('b', [
    { id: 'schema', description: 'x' },
    { id: 't', description: 'Write the endpoint', dependsOn: ['schema'] },
  ]).tasks;
  if (!dependent) throw new Error('no task');
  const task: StoredTask = { ...dependent, status: 'RUNNING', role: 'python_backend_coder', attemptCount: 1 };
  const faked = fakes(task, () => true);
  const contexts: unknown[] = [];
  Object.assign(faked.store, {
    getWork: async () => [work],
    setAttemptRecord: async (...args: unknown[]) => {
      contexts.push(args);
    },
  });
  return { ...faked, contexts };
}

/** An executor that answers `output`. */
function answering(output: unknown): AgentExecutor {
  return { name: 'simulated', execute: async () => ({ output, executor: 'simulated', simulated: true }) };
}

describe('runDispatch', () => {
  it('aborts the executor and answers nothing when a heartbeat is refused', async () => {
    const { calls, store, agents, callbacks } = fakes(running({ durationMs: 60_000 }), () => false);

    const outcome = await dispatch(store, agents, callbacks);

    expect(outcome.kind).toBe('aborted');
    expect(calls.heartbeat).toBeGreaterThanOrEqual(1);
    expect([calls.succeed, calls.fail, calls.finished]).toEqual([0, 0, 0]);
  });

  it('keeps heartbeating while the executor works and then succeeds', async () => {
    const { calls, store, agents, callbacks } = fakes(running({ durationMs: 800 }), () => true);

    const outcome = await dispatch(store, agents, callbacks);

    expect(outcome.kind).toBe('succeeded');
    expect(calls.heartbeat).toBeGreaterThanOrEqual(2);
    // The attempt's end and its output go with the token (Complete writes them with the status).
    expect([calls.succeed, calls.finished]).toEqual([1, 0]);
    expect(calls.answers[0]).toMatchObject({
      status: 'SUCCEEDED',
      attempt: 1,
      finishedAt: expect.any(Number),
      output: expect.objectContaining({ simulated: true }),
    });
  });

  it('stores the output itself for a message of an older definition (no inlineResult)', async () => {
    const { calls, store, agents, callbacks } = fakes(running({ durationMs: 10 }), () => true);

    const outcome = await dispatch(store, agents, callbacks, undefined, false);

    expect(outcome.kind).toBe('succeeded');
    expect(calls.stored).toEqual([expect.objectContaining({ simulated: true })]);
    expect(calls.answers).toEqual([expect.objectContaining({ outputStored: true })]);
  });

  it('runs the executor the message names without reading the agent, and reads it for an older message', async () => {
    const task = running({ durationMs: 1 });
    const { store, callbacks } = fakes(task, () => true);
    const reads: string[] = [];
    const agents = {
      credentialsMarks: async () => [],
      get: async (id: string) => {
        reads.push(id);
        return agentOf('python_backend_coder', id, {
          executor: { name: 'http', url: 'http://127.0.0.1:1/' },
        });
      },
    } as unknown as AgentRegistry;
    const used: string[] = [];
    const executorFor = (config: { name: string }) => {
      used.push(config.name);
      return {
        name: 'simulated',
        execute: async () => ({ output: {}, executor: 'simulated', simulated: true }),
      } as AgentExecutor;
    };
    const deps = {
      store,
      agents,
      artifacts: new MemoryArtifacts(),
      callbacks,
      catalog,
      clock: { now: () => 1 },
      executorFor,
      heartbeatSeconds: 1,
    };

    await runDispatch(deps, { ...message, role: 'python_backend_coder', executor: { name: 'simulated' } });
    const readsWhenNamed = reads.length;
    await runDispatch(deps, message);

    expect(readsWhenNamed).toBe(0);
    expect(reads).toEqual(['python_backend_coder-1']);
    expect(used).toEqual(['simulated', 'http']);
  });

  it('keeps an output up to INLINE_OUTPUT_MAX_BYTES inline in its answer and stores nothing', async () => {
    const output = { text: 'x'.repeat(INLINE_OUTPUT_MAX_BYTES - '{"text":""}'.length) };
    const artifacts = new MemoryArtifacts();
    const { calls, store, agents, callbacks } = fakes(running({}), () => true);

    await dispatch(store, agents, callbacks, answering(output), true, artifacts);

    expect(calls.answers).toEqual([expect.objectContaining({ output })]);
    expect(artifacts.objects.size).toBe(0);
  });

  it('names the dependents its claim read in its answer, up to RESULT_DEPENDENTS_MAX, and their roles, for Complete', async () => {
    const answerOf = async (dependents: string[]) => {
      const { calls, store, agents, callbacks } = fakes({ ...running({}), dependents }, () => true);
      await dispatch(store, agents, callbacks, answering({ ok: true }));
      expect(calls.answers).toHaveLength(1);
      return DispatchResultSchema.parse(calls.answers[0]);
    };
    const most = Array.from({ length: RESULT_DEPENDENTS_MAX }, (_, i) => `d${i}`);

    expect((await answerOf(['d1', 'd2', 'd1'])).dependents).toEqual(['d1', 'd2']);
    expect((await answerOf(most)).dependents).toEqual(most);
    // More than that: none named (Complete reads them with its status write), nor for a task without any.
    expect(await answerOf([...most, 'one-more'])).not.toHaveProperty('dependents');
    expect(await answerOf([])).not.toHaveProperty('dependents');
    // The roles its item names for them, but its own (the freed slot's role routes after the slot's release).
    const roles = { d1: 'code_reviewer', d2: 'python_backend_coder', gone: 'code_reviewer' };
    const { calls, store, agents, callbacks } = fakes(
      { ...running({}), dependents: ['d1', 'd2'], dependentRoles: roles },
      () => true,
    );
    await dispatch(store, agents, callbacks, answering({ ok: true }));
    expect(calls.answers[0]).toMatchObject({
      dependents: ['d1', 'd2'],
      dependentRoles: { d1: 'code_reviewer' },
    });
    const answer = { status: 'SUCCEEDED', agentId: 'a-1', attempt: 1, durationMs: 5 };
    const tooMany = Object.fromEntries(most.slice(0, MAX_DEPENDENT_ROLE_HINTS + 1).map((id) => [id, 'r']));
    expect(() =>
      DispatchResultSchema.parse({ ...answer, dependents: most, dependentRoles: tooMany }),
    ).toThrow(`at most ${MAX_DEPENDENT_ROLE_HINTS} dependent roles`);
    expect(DispatchResultSchema.parse({ ...answer, dependents: most }).dependents).toEqual(most);
    expect(() => DispatchResultSchema.parse({ ...answer, dependents: [...most, 'one-more'] })).toThrow();
  });

  it('stores a larger output in the artifacts bucket and answers with its reference (size, sha256, location)', async () => {
    const output = { text: 'y'.repeat(INLINE_OUTPUT_MAX_BYTES), stopReason: 'end_turn', model: 'm' };
    const artifacts = new MemoryArtifacts();
    const { calls, store, agents, callbacks } = fakes(running({}), () => true);

    const outcome = await dispatch(store, agents, callbacks, answering(output), true, artifacts);

    expect(outcome.kind).toBe('succeeded');
    const json = JSON.stringify(output);
    const answer = calls.answers[0] as DispatchResult;
    expect(answer).not.toHaveProperty('output');
    expect(answer.outputRef).toEqual({
      location: 's3://memory/outputs/b/t/attempt-1.json',
      bytes: Buffer.byteLength(json),
      sha256: createHash('sha256').update(json).digest('hex'),
      contentType: 'application/json',
      format: 'text',
    });
    expect(new TextDecoder().decode(artifacts.objects.get(answer.outputRef?.location ?? ''))).toBe(json);
    expect(calls.finished).toBe(0);
  });

  it('fails the attempt with OutputTooLargeError over MAX_OUTPUT_BYTES, storing nothing', async () => {
    const output = { text: 'z'.repeat(MAX_OUTPUT_BYTES) };
    const artifacts = new MemoryArtifacts();
    const { calls, store, agents, callbacks } = fakes(running({}), () => true);

    const outcome = await dispatch(store, agents, callbacks, answering(output), true, artifacts);

    expect(outcome).toEqual({ kind: 'failed', error: expect.stringContaining('OutputTooLargeError') });
    expect(calls.failures).toEqual([
      { error: 'OutputTooLargeError', cause: expect.stringContaining(`at most ${MAX_OUTPUT_BYTES} bytes`) },
    ]);
    expect(NON_RETRYABLE_ERRORS.has(calls.failures[0]?.error ?? '')).toBe(true);
    expect([calls.succeed, calls.finished, artifacts.objects.size]).toEqual([0, 0, 0]);
  });

  it('stores a large output and its reference itself for a message of an older definition', async () => {
    const output = { report: 'r'.repeat(INLINE_OUTPUT_MAX_BYTES) };
    const { calls, store, agents, callbacks } = fakes(running({}), () => true);

    await dispatch(store, agents, callbacks, answering(output), false);

    expect(calls.stored).toEqual([expect.objectContaining({ format: 'json', fields: ['report'] })]);
    expect(calls.answers).toEqual([expect.objectContaining({ outputStored: true })]);
    expect(calls.answers[0]).not.toHaveProperty('outputRef');
  });

  it('gives the executor the work of the dependencies in its prompt and as data, and answers with the record', async () => {
    const { calls, store, agents, callbacks, contexts } = dependentOfSchema({
      taskId: 'schema',
      status: 'SUCCEEDED',
      role: 'database_designer',
      output: { text: 'CREATE TABLE users' },
      dependsOn: [],
    });
    const seen: { prompt: string; context: unknown }[] = [];
    const executor: AgentExecutor = {
      name: 'simulated',
      execute: async (request) => {
        seen.push({ prompt: request.prompt, context: request.context });
        return { output: { text: 'done' }, executor: 'simulated', simulated: true };
      },
    };

    await dispatch(store, agents, callbacks, executor);

    expect(seen[0]?.prompt).toContain('--- schema (role database_designer) ---\nCREATE TABLE users');
    expect(seen[0]?.context).toMatchObject({
      items: [{ taskId: 'schema', output: { text: 'CREATE TABLE users' } }],
    });
    expect((calls.answers[0] as DispatchResult).context?.items).toEqual([
      { taskId: 'schema', kind: 'passed', bytes: 18, totalBytes: 29, cut: false },
    ]);
    expect(contexts).toEqual([]);
  });

  describe('work named by the dispatch message (contextIds)', () => {
    const schemaWork: TaskWork = {
      taskId: 'schema',
      status: 'SUCCEEDED',
      role: 'database_designer',
      output: { text: 'CREATE TABLE users' },
      dependsOn: [],
    };
    /** Runs the dependent of `schema` with `contextIds` in its message; `reads` records each getWork call. */
    async function runNaming(contextIds: string[], getWork: (ids: readonly string[]) => Promise<TaskWork[]>) {
      const faked = dependentOfSchema(schemaWork);
      const events: string[] = [];
      const claim = faked.store.claimAttempt.bind(faked.store);
      Object.assign(faked.store, {
        claimAttempt: async (...args: Parameters<TaskStore['claimAttempt']>) => {
          events.push('claim asked');
          await new Promise((resolve) => setTimeout(resolve, 5));
          events.push('claim answered');
          return claim(...args);
        },
        getWork: async (_batchId: string, ids: readonly string[]) => {
          events.push(`work read: ${ids.join(',')}`);
          return getWork(ids);
        },
      });
      const seen: unknown[] = [];
      const executor: AgentExecutor = {
        name: 'simulated',
        execute: async (request) => {
          seen.push(request.context);
          return { output: { text: 'done' }, executor: 'simulated', simulated: true };
        },
      };
      let now = 0;
      await runDispatch(
        {
          store: faked.store,
          agents: faked.agents,
          artifacts: new MemoryArtifacts(),
          callbacks: faked.callbacks,
          catalog,
          clock: { now: () => (now += 5) },
          executorFor: () => executor,
          heartbeatSeconds: 1,
        },
        { ...message, contextIds },
      );
      return { events, seen, calls: faked.calls };
    }

    it('reads it beside the claim, and nothing after the claim', async () => {
      const { events, seen, calls } = await runNaming(['schema'], async () => [schemaWork]);

      expect(events).toEqual(['claim asked', 'work read: schema', 'claim answered']);
      expect(seen[0]).toMatchObject({
        items: [{ taskId: 'schema', output: { text: 'CREATE TABLE users' } }],
      });
      expect(calls.succeed).toBe(1);
    });

    it('gives the context only the work it takes, and reads after the claim what the message did not name', async () => {
      const other: TaskWork = { ...schemaWork, taskId: 'other', output: { text: 'not for t' } };
      const named = await runNaming(['other'], async (ids) =>
        ids.flatMap((id) => (id === 'other' ? [other] : id === 'schema' ? [schemaWork] : [])),
      );

      expect(named.events).toEqual([
        'claim asked',
        'work read: other',
        'claim answered',
        'work read: schema',
      ]);
      expect(named.seen[0]).toMatchObject({ items: [{ taskId: 'schema' }] });
      expect(JSON.stringify(named.seen[0])).not.toContain('not for t');
    });

    it('reads the work again after the claim when the read beside it failed', async () => {
      let reads = 0;
      const { events, seen, calls } = await runNaming(['schema'], async () => {
        reads += 1;
        if (reads === 1) throw new Error('throttled');
        return [schemaWork];
      });

      expect(events).toEqual(['claim asked', 'work read: schema', 'claim answered', 'work read: schema']);
      expect(seen[0]).toMatchObject({ items: [{ taskId: 'schema' }] });
      expect(calls.succeed).toBe(1);
    });
  });

  it('records the context of an attempt that fails, before failing its token', async () => {
    const { calls, store, agents, callbacks, contexts } = dependentOfSchema({
      taskId: 'schema',
      status: 'FAILED',
      dependsOn: [],
    });
    const executor: AgentExecutor = {
      name: 'simulated',
      execute: async () => {
        throw new Error('provider said no');
      },
    };

    await dispatch(store, agents, callbacks, executor);

    expect(contexts).toEqual([
      [
        'b',
        't',
        1,
        {
          context: expect.objectContaining({
            items: [expect.objectContaining({ taskId: 'schema', kind: 'failed' })],
          }),
        },
      ],
    ]);
    expect(calls.fail).toBe(1);
  });

  it('answers with the usage of its calls and their cost at the price table', async () => {
    const { calls, store, agents, callbacks } = fakes(running({}), () => true);
    const usage = { inputTokens: 1_000, outputTokens: 200 };
    const executor: AgentExecutor = {
      name: 'simulated',
      execute: async () => ({ output: 'ok', executor: 'simulated', simulated: true, usage, calls: [usage] }),
    };
    const prices = new PriceTable([{ provider: 'simulated', inputUsdPerMTok: 3, outputUsdPerMTok: 15 }]);

    await dispatch(store, agents, callbacks, executor, true, new MemoryArtifacts(), prices);

    expect(calls.answers[0]).toMatchObject({ usage, costUsd: 0.006 });
  });

  it('answers an unknown cost for an answer that reported no usage, so the totals with it are unknown, not short', async () => {
    const { calls, store, agents, callbacks } = fakes(running({}), () => true);
    // An http agent service that sends no usage headers: its answer carries no usage.
    const executor: AgentExecutor = {
      name: 'simulated',
      execute: async () => ({ output: 'ok', executor: 'simulated', simulated: true }),
    };
    const prices = new PriceTable([{ provider: 'simulated', inputUsdPerMTok: 3, outputUsdPerMTok: 15 }]);

    await dispatch(store, agents, callbacks, executor, true, new MemoryArtifacts(), prices);

    const answer = calls.answers[0] as DispatchResult;
    expect(answer.costUsd).toBeNull();
    expect(answer.usage).toBeUndefined();
    const seeded = batchOf('b', [
      { id: 'priced', description: 'x' },
      { id: 'silent', description: 'x' },
      { id: 'died', description: 'x' },
    ]);
    const [priced, silent, died] = seeded.tasks as [StoredTask, StoredTask, StoredTask];
    const ended = (task: StoredTask, end: Record<string, unknown>): StoredTask => ({
      ...task,
      status: 'SUCCEEDED',
      attemptCount: 1,
      attempts: [{ agentId: 'python_backend_coder-1', status: 'SUCCEEDED', startedAt: 0, ...end }],
    });
    const withPriced = ended(priced, { usage: { inputTokens: 1_000, outputTokens: 200 }, costUsd: 0.006 });
    const known = buildBatchResult(seeded.batch, [withPriced, ended(died, {})]);
    const result = buildBatchResult(seeded.batch, [withPriced, ended(silent, { costUsd: answer.costUsd })]);

    // A worker that died recorded nothing: the total is what the others cost.
    expect(known.costUsd).toBe(0.006);
    expect(result.tasks[1]?.costUsd).toBeNull();
    expect(result.costUsd).toBeNull();
    expect(result.usage).toEqual({ inputTokens: 1_000, outputTokens: 200 });
    expect(spentOf({ costUsd: answer.costUsd })).toEqual({
      spent: { usage: { inputTokens: 0, outputTokens: 0 }, costNanoUsd: null },
    });
  });

  it('records what a failed attempt used before failing its token: a failure after a call costs too', async () => {
    const { calls, store, agents, callbacks } = fakes(running({}), () => true);
    const order: string[] = [];
    const records: unknown[] = [];
    Object.assign(store, {
      setAttemptRecord: async (...args: unknown[]) => {
        order.push('record');
        records.push(args);
      },
    });
    const failing = callbacks.fail;
    callbacks.fail = async (...args) => {
      order.push('fail');
      return failing(...args);
    };
    const usage = { inputTokens: 500, outputTokens: 40 };
    const executor: AgentExecutor = {
      name: 'simulated',
      execute: async () => {
        throw attachUsage(new Error('the answer did not fit'), [usage, usage]);
      },
    };
    const prices = new PriceTable([{ provider: 'simulated', inputUsdPerMTok: 1, outputUsdPerMTok: 10 }]);

    await dispatch(store, agents, callbacks, executor, true, new MemoryArtifacts(), prices);

    expect(records).toEqual([
      ['b', 't', 1, { usage: { inputTokens: 1_000, outputTokens: 80 }, costUsd: 0.0018 }],
    ]);
    expect(order).toEqual(['record', 'fail']);
    expect(calls.fail).toBe(1);
  });

  describe('the Complete run by the worker', () => {
    /** Runs `t` with a `complete` that records its inputs (and throws `failure` when given) before the token. */
    const completing = async (
      options: {
        ask?: boolean;
        inlineResult?: boolean;
        expands?: boolean;
        failure?: Error;
        given?: boolean;
      } = {},
    ) => {
      const task = running({});
      const { calls, store, agents, callbacks } = fakes(
        options.expands ? { ...task, task: { ...task.task, expands: true } } : task,
        () => true,
      );
      const order: string[] = [];
      const succeeding = callbacks.succeed;
      callbacks.succeed = async (...args) => {
        order.push('token');
        return succeeding(...args);
      };
      const inputs: CompleteInput[] = [];
      const warnings: string[] = [];
      let now = 0;
      const outcome = await runDispatch(
        {
          store,
          agents,
          artifacts: new MemoryArtifacts(),
          callbacks,
          catalog,
          clock: { now: () => (now += 5) },
          executorFor: () => answering({ ok: true }),
          heartbeatSeconds: 1,
          onWarning: (text) => warnings.push(text),
          ...(options.given === false
            ? {}
            : {
                complete: async (input: CompleteInput) => {
                  order.push('complete');
                  inputs.push(input);
                  if (options.failure) throw options.failure;
                  return { status: 'SUCCEEDED' as const, transitioned: true };
                },
              }),
        },
        {
          ...message,
          inlineResult: options.inlineResult ?? true,
          ...(options.ask === false ? {} : { complete: true }),
        },
      );
      return { outcome, answers: calls.answers as DispatchResult[], inputs, order, warnings };
    };

    it('runs the Complete of a successful attempt before answering the token, and says so in its answer', async () => {
      const { outcome, answers, inputs, order } = await completing();

      expect(order).toEqual(['complete', 'token']);
      const [answer] = answers;
      expect(answer?.completed).toBe(true);
      // The Complete gets what the CompleteTask state would: the answer, without the flag.
      const { completed: _completed, ...result } = answer as DispatchResult;
      expect(inputs).toEqual([
        { batchId: 'b', taskId: 't', outcome: 'SUCCEEDED', agentId: message.agentId, attempt: 1, result },
      ]);
      expect(DispatchResultSchema.parse(answer)).toEqual(answer);
      expect(outcome).toMatchObject({ kind: 'succeeded', completed: { transitioned: true } });
    });

    it('leaves the Complete to CompleteTask for a message that does not ask, an expanding task, an older definition, or a worker without it', async () => {
      for (const options of [{ ask: false }, { expands: true }, { inlineResult: false }, { given: false }]) {
        const { outcome, answers, inputs } = await completing(options);
        expect(inputs, JSON.stringify(options)).toEqual([]);
        expect(answers, JSON.stringify(options)).toHaveLength(1);
        expect(answers[0], JSON.stringify(options)).not.toHaveProperty('completed');
        expect(outcome, JSON.stringify(options)).not.toHaveProperty('completed');
      }
    });

    it('answers without the flag when its Complete fails, so the CompleteTask state runs it again', async () => {
      const { outcome, answers, inputs, warnings } = await completing({
        failure: new Error('ProvisionedThroughputExceededException'),
      });

      expect(inputs).toHaveLength(1);
      expect(answers).toHaveLength(1);
      expect(answers[0]).not.toHaveProperty('completed');
      expect(answers[0]).toMatchObject({ status: 'SUCCEEDED', output: { ok: true } });
      expect(warnings).toEqual([expect.stringContaining('Complete failed in the worker')]);
      expect(outcome).toMatchObject({ kind: 'succeeded' });
    });
  });
});

describe('keepAlive', () => {
  const HEARTBEAT_SECONDS = 30;
  const DISPATCHED_AT = 1_000_000;
  /** A keepAlive whose clock reads `claimedAt`, counting the beats it sends before any timer fires. */
  function claimedAt(claimedAt: number, dispatchedAt: number | undefined) {
    let beats = 0;
    const alive = keepAlive(
      {
        callbacks: {
          heartbeat: async () => {
            beats++;
            return true;
          },
        } as unknown as Callbacks,
        agents: { extendLease: async () => true } as unknown as AgentRegistry,
        clock: { now: () => claimedAt },
        heartbeatSeconds: HEARTBEAT_SECONDS,
      },
      { taskToken: 'tok', agentId: 'a-1', leaseKey: 'l', timeoutSeconds: 300, dispatchedAt },
    );
    alive.stop();
    return beats;
  }
  const beatEveryMs = (HEARTBEAT_SECONDS * 1000) / HEARTBEATS_PER_INTERVAL;

  it('beats at once when the message is claimed more than a beat interval after its dispatch', () => {
    expect(claimedAt(DISPATCHED_AT + beatEveryMs + 1, DISPATCHED_AT)).toBe(1);
    // Two thirds of HeartbeatSeconds late: waiting a beat interval more would let the token time out.
    expect(claimedAt(DISPATCHED_AT + 2 * beatEveryMs, DISPATCHED_AT)).toBe(1);
  });

  it('waits a beat interval when claimed within one of its dispatch, or when the message has no dispatch time', () => {
    expect(claimedAt(DISPATCHED_AT + beatEveryMs, DISPATCHED_AT)).toBe(0);
    expect(claimedAt(DISPATCHED_AT + 2 * beatEveryMs, undefined)).toBe(0);
  });
});

describe('credentials marks in the worker', () => {
  const ANTHROPIC = { name: 'anthropic' as const, model: 'claude-test' };
  const REFUSED_KEY = 'a'.repeat(CREDENTIAL_FINGERPRINT_CHARS);
  const mark: CredentialsMark = {
    executor: { name: 'anthropic' },
    fingerprint: REFUSED_KEY,
    at: 1_000,
    until: 1_000 + CREDENTIALS_MARK_MS,
    agentId: 'elsewhere-1',
    batchId: 'other',
    taskId: 'refused',
  };

  /** Runs `t` on the anthropic configuration, the fleet's marks `marks`, counting the provider's calls. */
  async function runMarked(marks: CredentialsMark[], failure?: Error) {
    const { calls, store, agents, callbacks } = fakes(running({}), () => true);
    const records: unknown[] = [];
    Object.assign(store, { setAttemptRecord: async (...args: unknown[]) => records.push(args[3]) });
    Object.assign(agents, { credentialsMarks: async () => marks });
    let providerCalls = 0;
    const executor: AgentExecutor = {
      name: 'anthropic',
      execute: async () => {
        providerCalls++;
        if (failure) throw failure;
        return { output: 'done', executor: 'anthropic', simulated: false };
      },
    };
    const base = { store, agents, callbacks, catalog, heartbeatSeconds: 1 };
    const outcome = await runDispatch(
      {
        ...base,
        artifacts: new MemoryArtifacts(),
        clock: { now: () => 2_000 },
        executorFor: () => executor,
        credentialFingerprint: async () => REFUSED_KEY,
      },
      { ...message, executor: ANTHROPIC },
    );
    return { outcome, calls, records, providerCalls };
  }

  it('ends an attempt whose key was marked refused after its dispatch as that credentials failure, without the call', async () => {
    const { outcome, calls, records, providerCalls } = await runMarked([mark]);

    expect(providerCalls).toBe(0);
    expect(outcome).toMatchObject({ kind: 'failed' });
    expect(calls.failures).toHaveLength(1);
    expect(calls.failures[0]?.error).toBe('CredentialsMarkedError');
    expect(calls.failures[0]?.cause).toContain('anthropic (model claude-test) not called');
    expect(calls.failures[0]?.cause).toContain('by task other/refused on agent elsewhere-1');
    // RecordAttempt reads it as the credentials failure the call would have been (of the mark's key).
    expect(records).toEqual([
      { permanent: { cause: 'credentials', executor: ANTHROPIC, fingerprint: REFUSED_KEY } },
    ]);
  });

  it('calls the provider when no mark stands for its key', async () => {
    const { outcome, providerCalls } = await runMarked([]);

    expect(providerCalls).toBe(1);
    expect(outcome).toMatchObject({ kind: 'succeeded' });
  });

  it("records the refused key's fingerprint with a credentials failure, so its mark is of that key only", async () => {
    const { records, providerCalls } = await runMarked([], new SecretNotFoundError('anthropic', 'test'));

    expect(providerCalls).toBe(1);
    expect(records).toEqual([
      { permanent: { cause: 'credentials', executor: ANTHROPIC, fingerprint: REFUSED_KEY } },
    ]);
  });
});

describe('credentials marks in the validator worker', () => {
  it('ends a review whose key was marked refused after its dispatch as that credentials failure, without the call', async () => {
    const [reviewed] = batchOf('b', [
      { id: 't', description: 'x', approval: { after: true, by: 'code_reviewer' } },
    ]).tasks;
    if (!reviewed) throw new Error('no task');
    const task: StoredTask = { ...reviewed, status: 'AWAITING_APPROVAL', attemptCount: 1, output: 'work' };
    const { calls, store, agents, callbacks } = fakes(task, () => true);
    Object.assign(store, { awaitApproval: async () => task });
    const mark: CredentialsMark = {
      executor: { name: 'anthropic' },
      at: 1_000,
      until: 1_000 + CREDENTIALS_MARK_MS,
      agentId: 'elsewhere-1',
      batchId: 'other',
      taskId: 'refused',
    };
    Object.assign(agents, { credentialsMarks: async () => [mark] });
    let providerCalls = 0;
    const executor: AgentExecutor = {
      name: 'anthropic',
      execute: async () => {
        providerCalls++;
        return { output: { accept: true }, executor: 'anthropic', simulated: false };
      },
    };

    const outcome = await runReview(
      {
        store,
        agents,
        callbacks,
        catalog,
        heartbeatSeconds: 1,
        artifacts: new MemoryArtifacts(),
        clock: { now: () => 2_000 },
        executorFor: () => executor,
      },
      {
        ...message,
        agentId: 'code_reviewer-1',
        role: 'code_reviewer',
        executor: { name: 'anthropic', model: 'claude-test' },
        review: { run: 1 },
      },
    );

    expect(providerCalls).toBe(0);
    expect(outcome).toMatchObject({ kind: 'failed' });
    expect(calls.failures).toEqual([
      { error: 'CredentialsMarkedError', cause: expect.stringContaining('by task other/refused') },
    ]);
  });
});
