import { describe, expect, it, vi } from 'vitest';
import {
  createExecutor,
  ExecutionAbortedError,
  SimulatedCrashError,
  SimulatedExecutor,
  SimulatedFailureError,
  SimulateInputError,
} from '../../../shared/adapters/executors';
import { SIMULATED_BYTES_PER_TOKEN } from '../../../shared/adapters/executors/simulated';
import { carriedUsage } from '../../../shared/domain/costs';
import type { ExecutionRequest } from '../../../shared/ports';
import { makeRequest } from './provider-contract';

function simulatedRequest(simulate: Record<string, unknown> | undefined, attempt = 1): ExecutionRequest {
  return makeRequest({
    attempt,
    executor: { name: 'simulated' },
    task: {
      id: 'task-api',
      description: 'Write the FastAPI endpoint',
      ...(simulate === undefined ? {} : { input: { simulate } }),
    },
  });
}

const never = () => new AbortController().signal;

describe('simulated executor', () => {
  it('is what createExecutor returns for the simulated config', () => {
    expect(createExecutor({ name: 'simulated' })).toBeInstanceOf(SimulatedExecutor);
  });

  it('labels every outcome and its output as simulated', async () => {
    const outcome = await new SimulatedExecutor().execute(simulatedRequest(undefined), never());

    expect(outcome.executor).toBe('simulated');
    expect(outcome.simulated).toBe(true);
    expect(outcome.output).toMatchObject({ simulated: true, attempt: 1 });
    expect(JSON.stringify(outcome.output)).toContain('[simulated]');
  });

  it('reports usage counted from the prompt and output sizes, labelled simulated', async () => {
    const request = simulatedRequest({ outputBytes: 4_000 });

    const outcome = await new SimulatedExecutor().execute(request, never());

    const usage = {
      inputTokens: Math.ceil(Buffer.byteLength(request.prompt) / SIMULATED_BYTES_PER_TOKEN),
      outputTokens: 4_000 / SIMULATED_BYTES_PER_TOKEN,
      simulated: true,
    };
    expect(outcome.usage).toEqual(usage);
    expect(outcome.calls).toEqual([usage]);
  });

  it('carries the tokens of the prompt it read when it fails with an error', async () => {
    const request = simulatedRequest({ failAttempts: 1 });

    const failure = await new SimulatedExecutor().execute(request, never()).catch((e: unknown) => e);

    expect(carriedUsage(failure)).toEqual([
      {
        inputTokens: Math.ceil(Buffer.byteLength(request.prompt) / SIMULATED_BYTES_PER_TOKEN),
        outputTokens: 0,
        simulated: true,
      },
    ]);
  });

  it('says which work it received: ids, kinds, bytes and what was cut', async () => {
    const context = {
      budgetBytes: 5_000,
      usedBytes: 4_900,
      items: [
        { taskId: 'schema', kind: 'passed' as const, output: 'x', cut: false, bytes: 120, totalBytes: 130 },
        {
          taskId: 'gen',
          kind: 'passed' as const,
          excerpt: 'y',
          cut: true,
          bytes: 4_000,
          totalBytes: 1_048_576,
        },
        { taskId: 'lint', kind: 'failed' as const, note: '[...]', cut: false, bytes: 0, totalBytes: 0 },
      ],
    };

    const outcome = await new SimulatedExecutor().execute(
      { ...simulatedRequest(undefined), context },
      never(),
    );

    expect(outcome.output).toMatchObject({
      simulated: true,
      context: {
        budgetBytes: 5_000,
        usedBytes: 4_900,
        received: [
          { taskId: 'schema', kind: 'passed', bytes: 120, totalBytes: 130, cut: false },
          { taskId: 'gen', kind: 'passed', bytes: 4_000, totalBytes: 1_048_576, cut: true },
          { taskId: 'lint', kind: 'failed', bytes: 0, totalBytes: 0, cut: false },
        ],
      },
    });
  });

  it('answers input.simulate.output exactly, or an LLM-shaped answer of exactly outputBytes', async () => {
    const given = await new SimulatedExecutor().execute(
      simulatedRequest({ output: { plan: ['a'] } }),
      never(),
    );
    const sized = await new SimulatedExecutor().execute(simulatedRequest({ outputBytes: 5_000 }), never());

    expect(given.output).toEqual({ plan: ['a'] });
    expect(Buffer.byteLength(JSON.stringify(sized.output))).toBe(5_000);
    expect(sized.output).toMatchObject({ model: 'simulated', stopReason: 'simulated' });
    expect((sized.output as { text: string }).text).toMatch(/^\[simulated\] python_backend_coder agent/);
  });

  it('answers a valid sample of the outputSchema, labelled simulated where the schema allows it', async () => {
    const open = {
      type: 'object',
      properties: { steps: { type: 'array', items: { type: 'string' }, minItems: 2 } },
      required: ['steps'],
    };
    const closed = { ...open, additionalProperties: false };
    const request = (outputSchema: Record<string, unknown>) =>
      makeRequest({ task: { id: 't', description: 'Plan', outputSchema } });

    const labelled = await new SimulatedExecutor().execute(request(open), never());
    const plain = await new SimulatedExecutor().execute(request(closed), never());

    expect(labelled.output).toEqual({ steps: ['string', 'string'], simulated: true });
    expect(plain.output).toEqual({ steps: ['string', 'string'] });
  });

  it('takes durationMs before answering', async () => {
    vi.useFakeTimers();
    try {
      let settled = false;
      const pending = new SimulatedExecutor()
        .execute(simulatedRequest({ durationMs: 2_000 }), never())
        .then((outcome) => {
          settled = true;
          return outcome;
        });

      await vi.advanceTimersByTimeAsync(1_999);
      expect(settled).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      expect((await pending).output).toMatchObject({ durationMs: 2_000 });
    } finally {
      vi.useRealTimers();
    }
  });

  it('fails the first failAttempts attempts with an error, then succeeds', async () => {
    const executor = new SimulatedExecutor();
    const simulate = { failAttempts: 2, failMode: 'error' };

    await expect(executor.execute(simulatedRequest(simulate, 1), never())).rejects.toBeInstanceOf(
      SimulatedFailureError,
    );
    await expect(executor.execute(simulatedRequest(simulate, 2), never())).rejects.toBeInstanceOf(
      SimulatedFailureError,
    );
    await expect(executor.execute(simulatedRequest(simulate, 3), never())).resolves.toMatchObject({
      simulated: true,
    });
  });

  it('fails in error mode when failAttempts is given without a mode', async () => {
    await expect(
      new SimulatedExecutor().execute(simulatedRequest({ failAttempts: 1 }, 1), never()),
    ).rejects.toBeInstanceOf(SimulatedFailureError);
  });

  it('crashes the first failAttempts attempts in crash mode, then succeeds', async () => {
    const executor = new SimulatedExecutor();
    const simulate = { failAttempts: 1, failMode: 'crash' };

    await expect(executor.execute(simulatedRequest(simulate, 1), never())).rejects.toBeInstanceOf(
      SimulatedCrashError,
    );
    await expect(executor.execute(simulatedRequest(simulate, 2), never())).resolves.toMatchObject({
      simulated: true,
    });
  });

  it('never answers in timeout mode until the signal aborts', async () => {
    const controller = new AbortController();
    let settled = false;
    const pending = new SimulatedExecutor()
      .execute(simulatedRequest({ failAttempts: 1, failMode: 'timeout' }, 1), controller.signal)
      .catch((e) => e)
      .finally(() => {
        settled = true;
      });

    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(settled).toBe(false);
    controller.abort(new Error('task timed out'));

    const failure = await pending;
    expect(failure).toBeInstanceOf(ExecutionAbortedError);
    expect(failure.cause).toEqual(new Error('task timed out'));
  });

  it('stops a running task when the signal aborts', async () => {
    const controller = new AbortController();
    const startedAt = Date.now();
    const pending = new SimulatedExecutor()
      .execute(simulatedRequest({ durationMs: 60_000 }), controller.signal)
      .catch((e) => e);

    controller.abort();

    expect(await pending).toBeInstanceOf(ExecutionAbortedError);
    expect(Date.now() - startedAt).toBeLessThan(1_000);
  });

  it('rejects a malformed simulate block instead of ignoring it', async () => {
    await expect(
      new SimulatedExecutor().execute(simulatedRequest({ failMode: 'explode' }), never()),
    ).rejects.toThrow(SimulateInputError);
    await expect(
      new SimulatedExecutor().execute(simulatedRequest({ failMode: 'explode' }), never()),
    ).rejects.toThrow(/failMode/);
  });
});
