/**
 * The simulated executor: a real feature for local runs, tests and benchmarks, never a stand-in for a
 * provider. Every output it produces says `simulated: true`. It reads `input.simulate`:
 * the first `failAttempts` attempts fail in `failMode` (error: throws; crash: the worker dies without
 * reporting; timeout: never answers until aborted), later attempts succeed after `durationMs`.
 */
import { type Simulate, SimulateSchema } from '../../domain/schemas';
import type { AgentExecutor, ExecutionOutcome, ExecutionRequest } from '../../ports';

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

/** Reads `input.simulate`, ignoring it when malformed would hide user error, so it is validated. */
export function readSimulate(input: Record<string, unknown> | undefined): Simulate {
  const raw = input?.simulate;
  if (raw === undefined) return {};
  return SimulateSchema.parse(raw);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason ?? new Error('aborted'));
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason ?? new Error('aborted'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

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
      await sleep(request.timeoutMs + 60_000, signal);
      throw new SimulatedFailureError(`simulated timeout outlived its deadline on task ${request.taskId}`);
    }
    await sleep(simulate.durationMs ?? 0, signal);
    return {
      executor: 'simulated',
      simulated: true,
      output: {
        simulated: true,
        summary: `[simulated] ${request.role} agent ${request.agentId} completed task ${request.taskId} (attempt ${request.attempt})`,
      },
    };
  }
}
