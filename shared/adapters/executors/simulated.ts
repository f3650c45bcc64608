/**
 * The simulated executor: a real feature for local runs, tests and benchmarks, never a stand-in for a
 * provider. Every output it makes says it is simulated. It reads `input.simulate`:
 * the first `failAttempts` attempts fail in `failMode` (error: throws; crash: the worker dies without
 * reporting; timeout: never answers until aborted), later attempts succeed after `durationMs` with
 * `output` (returned exactly as given), an LLM-shaped answer of `outputBytes` bytes, or a summary.
 */
import { sample } from 'openapi-sampler';
import { z } from 'zod';
import { attachUsage } from '../../domain/costs';
import { outputMisfits } from '../../domain/output-schema';
import { type Simulate, SimulateSchema, type Usage } from '../../domain/schemas';
import { utf8Length } from '../../domain/utf8';
import type { AgentExecutor, ExecutionOutcome, ExecutionRequest, RequestContext } from '../../ports';
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

/**
 * Bytes per token the simulated executor counts: the usual figure for English text and code with the
 * providers' tokenizers. Its usage is labelled `simulated`: no provider counted it.
 */
export const SIMULATED_BYTES_PER_TOKEN = 4;

/** Simulated usage of a prompt of `promptBytes` and an answer of `outputBytes` (labelled simulated). */
export function simulatedUsage(promptBytes: number, outputBytes: number): Usage {
  return {
    inputTokens: Math.ceil(promptBytes / SIMULATED_BYTES_PER_TOKEN),
    outputTokens: Math.ceil(outputBytes / SIMULATED_BYTES_PER_TOKEN),
    simulated: true,
  };
}

/**
 * Runs `input.simulate` (see the file comment). Rejects with ExecutionAbortedError when `signal` aborts. Its
 * usage is counted from the sizes of the prompt and the output (simulatedUsage); a simulated error carries
 * the prompt's tokens, like a provider call that failed after reading it.
 */
export class SimulatedExecutor implements AgentExecutor {
  readonly name = 'simulated' as const;

  async execute(request: ExecutionRequest, signal: AbortSignal): Promise<ExecutionOutcome> {
    const simulate = readSimulate(request.task.input);
    const failing = request.attempt <= (simulate.failAttempts ?? 0);
    const promptBytes = utf8Length(request.prompt);
    if (failing) {
      const mode = simulate.failMode ?? 'error';
      if (mode === 'error') {
        throw attachUsage(
          new SimulatedFailureError(
            `simulated error on attempt ${request.attempt} of task ${request.taskId}`,
          ),
          [simulatedUsage(promptBytes, 0)],
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
    const summary = `[simulated] ${request.role} agent ${request.agentId} completed task ${request.taskId} (attempt ${request.attempt})`;
    let output: unknown;
    let outputBytes: number | undefined;
    if (simulate.output !== undefined) output = simulate.output;
    else if (simulate.outputBytes !== undefined) {
      output = sizedTextOutput(summary, simulate.outputBytes);
      outputBytes = simulate.outputBytes;
    } else if (request.task.outputSchema !== undefined) output = simulatedSample(request.task.outputSchema);
    else
      output = {
        simulated: true,
        durationMs,
        attempt: request.attempt,
        summary,
        ...(request.context ? { context: receivedContext(request.context) } : {}),
      };
    const usage = simulatedUsage(promptBytes, outputBytes ?? utf8Length(JSON.stringify(output) ?? ''));
    return { executor: 'simulated', simulated: true, output, usage, calls: [usage] };
  }
}

/**
 * A structured output for a task with an outputSchema and no `input.simulate.output`: a deterministic sample
 * of the schema (openapi-sampler: examples, defaults, enums and formats first, else typed placeholders such as
 * "string"), with `"simulated": true` added at the top when the schema allows one more field. Throws
 * SimulatedFailureError, with what misfits, for a schema it cannot sample validly (a pattern it cannot meet).
 */
export function simulatedSample(schema: Record<string, unknown>): unknown {
  const value = sample(schema as never, { skipReadOnly: true, quiet: true, enablePatterns: true });
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const labelled = { ...value, simulated: true };
    if (outputMisfits(schema, labelled).length === 0) return labelled;
  }
  const misfits = outputMisfits(schema, value);
  if (misfits.length > 0) {
    throw new SimulatedFailureError(
      `the simulated sample of the outputSchema does not fit it (${misfits.join('; ')}): give input.simulate.output`,
    );
  }
  return value;
}

/** What a simulated agent reports of the work it was given: which tasks, how many bytes, what was cut. */
export function receivedContext(context: RequestContext): {
  budgetBytes: number;
  usedBytes: number;
  received: {
    taskId: string;
    kind: string;
    bytes: number;
    totalBytes: number;
    cut: boolean;
    note?: string;
  }[];
} {
  return {
    budgetBytes: context.budgetBytes,
    usedBytes: context.usedBytes,
    received: context.items.map((i) => ({
      taskId: i.taskId,
      kind: i.kind,
      bytes: i.bytes,
      totalBytes: i.totalBytes,
      cut: i.cut,
      // A reviewer's rejection of an earlier attempt: what it said is the point of passing it.
      ...(i.kind === 'rejection' && i.note !== undefined ? { note: i.note } : {}),
    })),
  };
}

/**
 * `input.simulate.outputBytes`: an LLM-shaped text answer `{ text, stopReason, model }` (model and stop
 * reason "simulated", the text opening with the summary) whose JSON is exactly `bytes` long, or as short as
 * the summary allows. Numbered lines, so an excerpt shows where it was cut; built in one pass, since 20 MiB
 * must not hold the worker's event loop (its heartbeats) for long.
 */
export function sizedTextOutput(
  summary: string,
  bytes: number,
): { text: string; stopReason: string; model: string } {
  const shell = { text: '', stopReason: 'simulated', model: 'simulated' };
  const head = `${summary}\n`;
  let size = utf8Length(JSON.stringify({ ...shell, text: head }));
  // Every line has the same length; its newline takes two bytes of JSON (`\n`).
  const lineCost = `line 0000000 of a simulated output`.length + 2;
  const lines = Math.max(0, Math.floor((bytes - size) / lineCost));
  const parts = [head];
  for (let n = 1; n <= lines; n++) parts.push(`line ${String(n).padStart(7, '0')} of a simulated output\n`);
  size += lines * lineCost;
  parts.push('x'.repeat(Math.max(0, bytes - size)));
  return { ...shell, text: parts.join('') };
}
