/**
 * The simulated executor: a real feature for local runs, tests and benchmarks, never a stand-in for a
 * provider. Every output it produces says `simulated: true`. It reads `input.simulate`:
 * the first `failAttempts` attempts fail in `failMode` (error: throws; crash: the worker dies without
 * reporting; timeout: never answers until aborted), later attempts succeed after `durationMs`.
 */
import { z } from 'zod';
import { type Simulate, SimulateSchema } from '../../domain/schemas';
import type { AgentExecutor, ExecutionOutcome, ExecutionRequest } from '../../ports';
import { ExecutionAbortedError } from './errors';

/**
 * How long failMode "timeout" outlives the task's own timeout before giving up on being aborted: long
 * enough that the worker's or Step Functions' timeout always fires first, short enough not to leak a
 * timer for ever when nobody aborts.
 */
export const SIMULATED_TIMEOUT_GRACE_MS = 60_000;

/** Thrown for failMode "crash": the worker must stop without answering its task token. */
export class SimulatedCrashError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimulatedCrashError';
  }
}

export class SimulatedFailureError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimulatedFailureError';
  }
}

/** `input.simulate` is malformed: says which field and why, so the user can fix the batch. */
export class SimulateInputError extends Error {
  constructor(reason: string) {
    super(`input.simulate is invalid: ${reason}`);
    this.name = 'SimulateInputError';
  }
}

/** Reads `input.simulate`; a malformed value throws SimulateInputError (ignoring it would hide the mistake). */
export function readSimulate(input: Record<string, unknown> | undefined): Simulate {
  const raw = input?.simulate;
  if (raw === undefined) return {};
  const parsed = SimulateSchema.safeParse(raw);
  if (!parsed.success) throw new SimulateInputError(z.prettifyError(parsed.error));
  return parsed.data;
}

/** Waits `ms`; rejects with ExecutionAbortedError (cause: the signal's reason) when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new ExecutionAbortedError('simulated', signal.reason));
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new ExecutionAbortedError('simulated', signal.reason));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Runs `input.simulate` (see the file comment). Rejects with ExecutionAbortedError when `signal` aborts. */
export class SimulatedExecutor implements AgentExecutor {
  readonly name = 'simulated' as const;

  async execute(request: ExecutionRequest, signal: AbortSignal): Promise<ExecutionOutcome> {
    const simulate = readSimulate(request.task.input);
    const failing = request.attempt <= (simulate.failAttempts ?? 0);
    if (failing) {
      const mode = simulate.failMode ?? 'error';
      if (mode === 'error') {
        throw new SimulatedFailureError(
          `simulated error on attempt ${request.attempt} of task ${request.taskId}`,
        );
      }
      if (mode === 'crash') {
        throw new SimulatedCrashError(
          `simulated crash on attempt ${request.attempt} of task ${request.taskId}`,
        );
      }
      // timeout: never answer; only an abort (timeout enforcement, cancel) ends the wait.
      await sleep(request.timeoutMs + SIMULATED_TIMEOUT_GRACE_MS, signal);
      throw new SimulatedFailureError(`simulated timeout outlived its deadline on task ${request.taskId}`);
    }
    const durationMs = simulate.durationMs ?? 0;
    await sleep(durationMs, signal);
    return {
      executor: 'simulated',
      simulated: true,
      output: {
        simulated: true,
        durationMs,
        attempt: request.attempt,
        summary: `[simulated] ${request.role} agent ${request.agentId} completed task ${request.taskId} (attempt ${request.attempt})`,
      },
    };
  }
}
