/**
 * `meta-agent status|cancel|redrive BATCH --url URL [--api-key KEY] [--json] [--wait]`: one batch on a
 * running API (a deployed stack or `meta-agent serve`; batches of `meta-agent run` live only as long as
 * that command). URL and key also come from META_AGENT_API_URL / META_AGENT_API_KEY.
 *
 * Exit codes: 0 the batch succeeded or is still running, 1 some task failed, was skipped or cancelled, or
 * the API failed (a 5xx; a GET is tried SERVER_ERROR_TRIES times first), 2 bad input or configuration (unknown batch, wrong URL or key, a batch in the wrong state), 130 Ctrl-C
 * while `status --wait` follows (the batch runs on: watching it does not own it).
 */
import { parseArgs } from 'node:util';
import { type BatchResult, type Budget, BudgetSchema } from '../../../domain/schemas';
import { CliUsageError } from '../errors';
import { type CliIO, type Command, ExitCode } from '../io';
import { formatSummaryTable } from '../progress';
import { API_KEY_ENV, API_URL_ENV, RemoteApi, remoteTarget, SERVER_ERROR_TRIES } from '../remote';
import { followRemote, INTERRUPTED_EXIT, printResult } from './run';

type Action = 'status' | 'cancel' | 'redrive';

const SUMMARY: Record<Action, string> = {
  status: 'Prints the batch result so far (the summary table, or the JSON report with --json).',
  cancel: 'Cancels the batch: running agents are told to stop, unfinished tasks end CANCELLED.',
  redrive: 'Runs again the tasks that failed, were skipped or were cancelled (the batch must have ended).',
};

const usage = (action: Action) =>
  `${action} BATCH --url URL [--api-key KEY] [--json] [--wait]${action === 'redrive' ? ' [--max-cost-usd N] [--max-tokens N]' : ''}`;

const BUDGET_HELP = `  --max-cost-usd N  redrive against this cost cap (USD; other budget fields stay the batch's)
  --max-tokens N    redrive against this token cap
`;

const help = (action: Action) => `Usage: meta-agent ${usage(action)}

${SUMMARY[action]}

Options:
  --url URL       base URL of a running API: a deployed stack's ApiUrl, or meta-agent serve
                  (default: $${API_URL_ENV})
  --api-key KEY   its API key (default: $${API_KEY_ENV})
  --json          print the result report (GET /batches/{id}) on stdout, nothing else
  --wait          follow the batch until it ends, with the progress of meta-agent run
${action === 'redrive' ? BUDGET_HELP : ''}  -h, --help      show this help

Exit codes: 0 the batch succeeded (or runs on, without --wait), 1 some task failed, was skipped or
cancelled, or the API failed (a 5xx; a read is tried ${SERVER_ERROR_TRIES} times first), 2 bad input or configuration
(unknown batch, wrong URL or key, nothing to ${action}).
${action === 'status' ? 'Ctrl-C during --wait stops following (exit 130); the batch runs on.' : 'Ctrl-C during --wait cancels the batch.'}
`;

/** Exit code of a result that may still be running: only a finished task that did not succeed counts. */
function exitOf(result: BatchResult): number {
  const failed = result.tasks.some((t) => ['FAILED', 'SKIPPED', 'CANCELLED'].includes(t.status));
  return failed ? ExitCode.TasksFailed : ExitCode.Ok;
}

function remoteCommand(action: Action): Command {
  return async (argv, io: CliIO) => {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        url: { type: 'string' },
        'api-key': { type: 'string' },
        json: { type: 'boolean', default: false },
        wait: { type: 'boolean', default: false },
        'max-cost-usd': { type: 'string' },
        'max-tokens': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    const budget = budgetOption(action, values['max-cost-usd'], values['max-tokens']);
    if (values.help) {
      io.stdout(help(action));
      return ExitCode.Ok;
    }
    const batchId = positionals[0];
    if (!batchId || positionals.length > 1) throw new CliUsageError('expected one BATCH id', usage(action));
    const target = remoteTarget({ url: values.url, apiKey: values['api-key'] }, io.env);
    if (!target) {
      throw new CliUsageError(
        `${action} needs --url (or ${API_URL_ENV}): batches live in a running API (meta-agent serve or a deployed stack)`,
        usage(action),
      );
    }
    const api = new RemoteApi(target.url, target.apiKey, io.wait);
    let current: BatchResult;
    if (action === 'cancel') {
      current = await api.cancel(batchId);
      if (!values.json) io.stderr(`meta-agent: batch ${batchId} cancelled\n`);
    } else if (action === 'redrive') {
      const { taskIds } = await api.redrive(batchId, budget);
      if (!values.json)
        io.stderr(`meta-agent: batch ${batchId} redriven: ${taskIds.length} task(s) run again\n`);
      current = await api.result(batchId);
    } else {
      current = await api.result(batchId);
    }
    if (values.wait && current.status === 'RUNNING') {
      // Ctrl-C while watching (status) leaves the batch running; after a cancel or a redrive it cancels.
      const followed = await followRemote(
        api,
        batchId,
        current.tasks.length,
        values.json,
        io,
        action === 'status' ? 'detach' : 'cancel',
      );
      if (followed.status !== 'RUNNING') return printResult(followed, values.json, io);
      if (values.json) io.stdout(`${JSON.stringify(followed, null, 2)}\n`);
      else io.stdout(`\n${formatSummaryTable(followed)}`);
      io.stderr(
        `meta-agent: stopped following batch ${batchId}, which runs on: meta-agent status ${batchId} --url ${api.baseUrl} --wait follows it again\n`,
      );
      return INTERRUPTED_EXIT;
    }
    if (values.json) io.stdout(`${JSON.stringify(current, null, 2)}\n`);
    else io.stdout(formatSummaryTable(current));
    return exitOf(current);
  };
}

/**
 * The budget of `redrive --max-cost-usd / --max-tokens`, checked like the API's (BudgetSchema): a value that is
 * not a positive number in range is refused here, naming the option, before anything is sent.
 */
function budgetOption(
  action: Action,
  cost: string | undefined,
  tokens: string | undefined,
): Budget | undefined {
  if (cost === undefined && tokens === undefined) return undefined;
  if (action !== 'redrive')
    throw new CliUsageError('--max-cost-usd and --max-tokens are options of redrive', usage(action));
  const parsed = BudgetSchema.safeParse({
    ...(cost !== undefined ? { maxCostUsd: cost.trim() === '' ? Number.NaN : Number(cost) } : {}),
    ...(tokens !== undefined ? { maxTokens: tokens.trim() === '' ? Number.NaN : Number(tokens) } : {}),
  });
  if (parsed.success) return parsed.data;
  const option = (field: PropertyKey | undefined) =>
    field === 'maxTokens' ? '--max-tokens' : '--max-cost-usd';
  throw new CliUsageError(
    parsed.error.issues.map((i) => `${option(i.path[0])}: ${i.message}`).join('; '),
    usage(action),
  );
}

export const statusCommand = remoteCommand('status');
export const cancelCommand = remoteCommand('cancel');
export const redriveCommand = remoteCommand('redrive');
