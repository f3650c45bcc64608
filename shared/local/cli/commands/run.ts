/**
 * `meta-agent run FILE [--json] [--out DIR] [--executor NAME] [--concurrency N] [--config FILE]`: runs a batch
 * on the embedded local runtime (the deployed state machine and handlers against loopback emulators), with
 * live progress on a terminal, then a summary table; `--out` writes every task's output and the report to
 * files. Ctrl-C cancels the batch cleanly.
 *
 * Exit codes: 0 every task succeeded, 1 some task failed, was skipped or cancelled, 2 bad input or
 * configuration (the batch is validated before anything starts).
 */
import { parseArgs } from 'node:util';
import { resolveRoles } from '../../../domain/roles';
import { type BatchResult, type ExecutorName, ExecutorNameSchema } from '../../../domain/schemas';
import { parseBatchJson } from '../../../domain/validation';
import { ApiRequestError, EmbeddedSystem } from '../../system';
import {
  assertSomeoneToAsk,
  mayAddApprovals,
  personApprovals,
  TerminalApprovals,
  withoutAsk,
} from '../approvals';
import { CliUsageError } from '../errors';
import { type CliIO, type Command, ExitCode } from '../io';
import { assistNotice, inFile, loadBatchFile, loadConfigFile, readTextFile } from '../load';
import { LOG_LEVEL_HELP, parseLogLevel } from '../log-level';
import { prepareOutputDir, writeOutputs } from '../outputs';
import { formatSummaryTable, ProgressReporter } from '../progress';
import {
  API_KEY_ENV,
  API_URL_ENV,
  followBatch,
  RemoteApi,
  RemoteApiError,
  RemoteValidationError,
  remoteTarget,
} from '../remote';

export const USAGE =
  'run FILE [--json] [--out DIR] [--executor NAME] [--concurrency N] [--config FILE] [--log-level LEVEL] | run FILE --url URL [--api-key KEY] [--json] [--out DIR]';

const HELP = `Usage: meta-agent run FILE [--json] [--out DIR] [--executor NAME] [--concurrency N] [--config FILE]
                      [--log-level LEVEL]
       meta-agent run FILE --url URL [--api-key KEY] [--json] [--out DIR]

Runs the batch in FILE on the embedded local runtime: the same state machine and handlers as the AWS
deployment, against in-process emulators (DynamoDB, SQS, Step Functions) on 127.0.0.1. Nothing leaves
the machine unless a real executor is chosen.

With --url (or $${API_URL_ENV}), submits it to a running API instead (a deployed stack's ApiUrl, or
meta-agent serve) and follows it over the API's WebSocket: the same progress, summary, JSON and exit codes.

Options:
  --json             print the result report (the API's GET /batches/{id} JSON) on stdout, nothing else
  --out DIR          write each task's whole output to DIR/<task id>.output.json (and the text of an
                     LLM answer to DIR/<task id>.output.txt) and the result report to DIR/result.json
  --executor NAME    simulated (default: no model is called, outputs are labelled simulated),
                     bedrock, anthropic, openai or http (credentials: see the README)
  --concurrency N    maximum concurrency of every role queue (default: each role's own)
  --config FILE      JSON file { "roles"?: [...], "routing"?: {...} }: roles, weights, assist
${LOG_LEVEL_HELP}  --url URL          base URL of a running API (default: $${API_URL_ENV})
  --api-key KEY      its API key (default: $${API_KEY_ENV})
  -h, --help         show this help

Exit codes: 0 every task succeeded, 1 some task failed, was skipped or cancelled (with --url also the
API's failure, a 5xx), 2 bad input or configuration (nothing was run; with --url also a wrong URL or key). Ctrl-C (or SIGTERM) cancels the
batch (with --url, the remote batch) and exits 1 once it is cancelled; a second Ctrl-C quits at once (130).
`;

/** Highest --concurrency accepted (Lambda's MaximumConcurrency ceiling). */
const MAX_CONCURRENCY = 1000;

/** Parses --concurrency (shared with serve). */
export function parseConcurrency(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > MAX_CONCURRENCY) {
    throw new CliUsageError(
      `--concurrency must be a whole number from 1 to ${MAX_CONCURRENCY}, got "${text}"`,
      USAGE,
    );
  }
  return value;
}

/** Parses --executor (shared with serve). */
export function parseExecutor(text: string | undefined): ExecutorName | undefined {
  if (text === undefined) return undefined;
  const parsed = ExecutorNameSchema.safeParse(text);
  if (!parsed.success) {
    throw new CliUsageError(
      `--executor must be one of ${ExecutorNameSchema.options.join(', ')}, got "${text}"`,
      USAGE,
    );
  }
  return parsed.data;
}

/**
 * A second SIGINT this soon after the first is the same Ctrl-C: `npx` (npm) forwards the signal it got from
 * the terminal to its child, which the terminal already signalled itself, so one key press arrives twice.
 */
export const SIGINT_REPEAT_MS = 500;
/** Exit code of a run quit by a second Ctrl-C (128 + SIGINT, as shells report it). */
export const INTERRUPTED_EXIT = 130;

/**
 * Ctrl-C handling: the first cancels the batch (and so does SIGTERM), a second one (a deliberate press,
 * SIGINT_REPEAT_MS or more later) exits at once.
 */
export function onInterrupt(first: () => void, now: () => number = () => performance.now()): () => void {
  let firstAt: number | undefined;
  const cancel = () => {
    if (firstAt !== undefined) return;
    firstAt = now();
    first();
  };
  const interrupt = () => {
    if (firstAt === undefined) cancel();
    else if (now() - firstAt >= SIGINT_REPEAT_MS) process.exit(INTERRUPTED_EXIT);
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', cancel);
  return () => {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', cancel);
  };
}

/** The result as `run` prints it: the report with --json, else the summary table. */
export function printResult(result: BatchResult, json: boolean, io: CliIO): number {
  if (json) io.stdout(`${JSON.stringify(result, null, 2)}\n`);
  else io.stdout(`\n${formatSummaryTable(result)}`);
  return result.tasks.every((t) => t.status === 'SUCCEEDED') ? ExitCode.Ok : ExitCode.TasksFailed;
}

/**
 * The API stopped answering while a batch it accepted was followed: exit code 1 (its outcome is unknown
 * here), with the command that reads it once the API is back.
 */
export class RemoteBatchLostError extends Error {
  readonly exitCode = ExitCode.TasksFailed;
  constructor(baseUrl: string, batchId: string, cause: RemoteApiError) {
    super(
      `lost the API while following batch ${batchId} (${cause.message}); the batch was accepted and its outcome is unknown here: once the API is back, meta-agent status ${batchId} --url ${baseUrl} --wait`,
      { cause },
    );
    this.name = 'RemoteBatchLostError';
  }
}

/**
 * Follows a remote batch with the progress bar (unless --json) until it ends; the first Ctrl-C cancels it
 * on the API, and following goes on until the API says it ended.
 */
export async function followRemote(
  api: RemoteApi,
  batchId: string,
  taskCount: number,
  json: boolean,
  io: CliIO,
  /**
   * What Ctrl-C (or SIGTERM) does: `cancel` the batch and follow it to its end (whoever started it), or
   * `detach`: stop following and answer the last result read, still RUNNING (a watcher, who must not cancel
   * a batch by leaving).
   */
  interrupt: 'cancel' | 'detach' = 'cancel',
): Promise<BatchResult> {
  const progress = json ? undefined : new ProgressReporter(io, taskCount, 'tasks');
  const detached = new AbortController();
  const stopInterrupt = onInterrupt(() => {
    if (interrupt === 'detach') {
      detached.abort();
      return;
    }
    io.stderr(`\nmeta-agent: cancelling batch ${batchId} on ${api.baseUrl} (Ctrl-C again to quit at once)\n`);
    void api
      .cancel(batchId)
      .catch((error: Error) => io.stderr(`meta-agent: cancel failed: ${error.message}\n`));
  });
  try {
    return await followBatch(
      api,
      batchId,
      (snapshot) => progress?.update(snapshot),
      (warning) => io.stderr(`meta-agent: ${warning}\n`),
      detached.signal,
    );
  } catch (error) {
    // The batch exists and may be running: an API lost now is no bad input (exit 2 says nothing was run).
    if (error instanceof RemoteApiError) throw new RemoteBatchLostError(api.baseUrl, batchId, error);
    throw error;
  } finally {
    progress?.stop();
    stopInterrupt();
  }
}

/**
 * `--out DIR`: every task's output (through the output route) and the report, as files. Answers false when
 * an output could not be fetched (each is named, with why): the run then exits 1 however its tasks ended.
 */
async function saveOutputs(
  dir: string,
  result: BatchResult,
  readOutput: (taskId: string) => Promise<string>,
  io: CliIO,
): Promise<boolean> {
  const { files, missing } = await writeOutputs(dir, result, readOutput);
  io.stderr(`meta-agent: wrote ${files} files to ${dir}\n`);
  for (const { taskId, reason } of missing)
    io.stderr(`meta-agent: could not fetch the output of task ${taskId}, not written: ${reason}\n`);
  return missing.length === 0;
}

/** The exit code of a run: its result's, or 1 when the result was a success but an output was not saved. */
function runExitCode(result: number, outputsSaved: boolean): number {
  return outputsSaved ? result : Math.max(result, ExitCode.TasksFailed);
}

/** `run FILE --url URL`: submit to the API, follow, print as a local run does. */
async function runRemote(
  file: string,
  target: { url: string; apiKey?: string },
  json: boolean,
  outDir: string | undefined,
  io: CliIO,
): Promise<number> {
  const api = new RemoteApi(target.url, target.apiKey, io.wait);
  // The API validates against its own roles; only the file's JSON is read here.
  const text = await readTextFile(file, io, 'batch file');
  const batch = inFile(file, () => parseBatchJson(text));
  const { batchId } = await api.submit(batch).catch((error: unknown) => {
    if (error instanceof RemoteValidationError && error.source === undefined)
      throw new RemoteValidationError(error.issues, file);
    throw error;
  });
  io.stderr(`meta-agent: batch ${batchId} submitted to ${api.baseUrl}\n`);
  const tasks = (batch as { tasks?: unknown }).tasks;
  const result = await followRemote(api, batchId, Array.isArray(tasks) ? tasks.length : 0, json, io);
  const saved =
    outDir === undefined || (await saveOutputs(outDir, result, (taskId) => api.output(batchId, taskId), io));
  return runExitCode(printResult(result, json, io), saved);
}

export const command: Command = async (argv, io: CliIO) => {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      out: { type: 'string' },
      executor: { type: 'string' },
      concurrency: { type: 'string' },
      config: { type: 'string' },
      'log-level': { type: 'string' },
      url: { type: 'string' },
      'api-key': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    io.stdout(HELP);
    return ExitCode.Ok;
  }
  const file = positionals[0];
  if (!file || positionals.length > 1) throw new CliUsageError('expected one FILE', USAGE);
  const target = remoteTarget({ url: values.url, apiKey: values['api-key'] }, io.env);
  if (target) {
    for (const flag of ['executor', 'concurrency', 'config', 'log-level'] as const) {
      if (values[flag] !== undefined) {
        throw new CliUsageError(
          `--${flag} configures the embedded runtime; the API at --url has its own`,
          USAGE,
        );
      }
    }
    const outDir = values.out === undefined ? undefined : await prepareOutputDir(values.out, io);
    return runRemote(file, target, values.json, outDir, io);
  }
  if (values['api-key'] !== undefined) throw new CliUsageError('--api-key needs --url', USAGE);
  const executor = parseExecutor(values.executor);
  const concurrency = parseConcurrency(values.concurrency);
  const logLevel = parseLogLevel(values['log-level'], io.env, USAGE);
  const config = await loadConfigFile(values.config, io);
  const catalog = resolveRoles(config.roles ?? []);
  // Validate before anything starts: bad input never starts work.
  const batch = await loadBatchFile(file, io, new Set(catalog.keys()));
  assertSomeoneToAsk(batch, io, values.json, USAGE);
  const outDir = values.out === undefined ? undefined : await prepareOutputDir(values.out, io);

  const executorLabel = executor ?? 'simulated';
  if (executorLabel === 'simulated') {
    io.stderr('meta-agent: executor "simulated": no model is called; every output is labelled simulated.\n');
  } else {
    io.stderr(`meta-agent: executor "${executorLabel}": tasks call the real provider.\n`);
  }

  const notice = assistNotice(config);
  if (notice) io.stderr(`meta-agent: ${notice}.\n`);

  const system = await EmbeddedSystem.start({
    ...(config.roles ? { roles: config.roles } : {}),
    ...(config.routing ? { routing: config.routing } : {}),
    ...(config.costs ? { costs: config.costs } : {}),
    ...(executor ? { executor } : {}),
    ...(concurrency === undefined ? {} : { concurrency }),
    logLevel,
  });
  for (const warning of system.modelWarnings) io.stderr(`meta-agent: warning: ${warning.message}\n`);
  let stopInterrupt: (() => void) | undefined;
  // Questions and a redrawn progress bar would overwrite each other: with approvals to ask, lines only.
  const ask = values.json ? undefined : io.ask;
  const asks = personApprovals(batch).length > 0 && ask !== undefined;
  // A task an expansion adds may wait for a person too: watched (asked, or rejected when nobody can be).
  const watchApprovals = asks || mayAddApprovals(batch);
  const progress = values.json
    ? undefined
    : new ProgressReporter(asks ? { ...io, isTTY: false } : io, batch.tasks.length, 'tasks');
  try {
    let submitted: { batchId: string };
    try {
      submitted = await system.submit(batch);
    } catch (error) {
      if (error instanceof ApiRequestError && error.statusCode === 400) {
        const body = error.body as { issues?: { path: string; message: string }[]; error?: string };
        for (const issue of body.issues ?? []) io.stderr(`${issue.path}: ${issue.message}\n`);
        if (!body.issues) io.stderr(`${body.error ?? 'bad input'}\n`);
        return ExitCode.BadInput;
      }
      throw error;
    }
    stopInterrupt = onInterrupt(() => {
      io.stderr('\nmeta-agent: cancelling the batch (Ctrl-C again to quit at once)\n');
      void system.cancel(submitted.batchId).catch(() => undefined);
    });
    const approvals = watchApprovals ? new TerminalApprovals(system, ask ? io : withoutAsk(io)) : undefined;
    const result = await system.waitForBatch(
      submitted.batchId,
      progress || approvals
        ? (snapshot) => {
            progress?.update(snapshot);
            approvals?.watch(snapshot);
          }
        : undefined,
    );
    progress?.stop();
    const saved =
      outDir === undefined ||
      (await saveOutputs(outDir, result, (taskId) => system.output(submitted.batchId, taskId), io));
    return runExitCode(printResult(result, values.json, io), saved);
  } finally {
    progress?.stop();
    stopInterrupt?.();
    await system.stop();
  }
};
