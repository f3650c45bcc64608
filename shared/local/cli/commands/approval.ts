/**
 * `meta-agent approve|reject BATCH TASK [--comment TEXT] --url URL [--api-key KEY] [--json]`: a person's
 * decision on a task waiting for approval (README "Approvals") on a running API (a deployed stack or
 * `meta-agent serve`). URL and key also come from META_AGENT_API_URL / META_AGENT_API_KEY.
 *
 * Exit codes: 0 the decision was taken, 1 the API failed (a 5xx), 2 bad input or configuration (no such task, a task that waits for no
 * approval, a decision that came too late, wrong URL or key).
 */
import { parseArgs } from 'node:util';
import { ApprovalDecisionSchema } from '../../../domain/approvals';
import { MAX_APPROVAL_COMMENT_CHARS } from '../../../domain/limits';
import { characterCount } from '../../../domain/utf8';
import { CliUsageError } from '../errors';
import { type CliIO, type Command, ExitCode } from '../io';
import { API_KEY_ENV, API_URL_ENV, RemoteApi, remoteTarget } from '../remote';

type Decision = 'approve' | 'reject';

const usage = (action: Decision) =>
  `${action} BATCH TASK [--comment TEXT] --url URL [--api-key KEY] [--json]`;

const help = (action: Decision) => `Usage: meta-agent ${usage(action)}

${
  action === 'approve'
    ? 'Approves a task waiting for approval: before dispatch it is routed; its output is accepted.'
    : "Rejects a task waiting for approval: before dispatch it fails; a rejected output fails its attempt, and\nthe task is routed again with the comment in the next attempt's context."
}

Options:
  --comment TEXT  what the reviewer says (at most ${MAX_APPROVAL_COMMENT_CHARS} characters)
  --url URL       base URL of a running API: a deployed stack's ApiUrl, or meta-agent serve
                  (default: $${API_URL_ENV})
  --api-key KEY   its API key (default: $${API_KEY_ENV})
  --json          print the decision as the API answered it, nothing else
  -h, --help      show this help

Exit codes: 0 the decision was taken, 1 the API failed (a 5xx), 2 bad input or configuration (unknown
task, a task that waits for no approval or was decided meanwhile, wrong URL or key).
`;

function decisionCommand(action: Decision): Command {
  return async (argv, io: CliIO) => {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        comment: { type: 'string' },
        url: { type: 'string' },
        'api-key': { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    if (values.help) {
      io.stdout(help(action));
      return ExitCode.Ok;
    }
    const [batchId, taskId] = positionals;
    if (!batchId || !taskId || positionals.length > 2)
      throw new CliUsageError('expected a BATCH id and a TASK id', usage(action));
    // The API's own rule (characters are code points: an emoji counts once), so the CLI refuses exactly what
    // the API would.
    if (
      values.comment !== undefined &&
      !ApprovalDecisionSchema.shape.comment.safeParse(values.comment).success
    )
      throw new CliUsageError(
        `--comment is ${characterCount(values.comment)} characters; at most ${MAX_APPROVAL_COMMENT_CHARS} are allowed`,
        usage(action),
      );
    const target = remoteTarget({ url: values.url, apiKey: values['api-key'] }, io.env);
    if (!target) {
      throw new CliUsageError(
        `${action} needs --url (or ${API_URL_ENV}): the decision goes to the running API of the batch (meta-agent serve or a deployed stack)`,
        usage(action),
      );
    }
    const api = new RemoteApi(target.url, target.apiKey, io.wait);
    const answer = await api.decide(batchId, taskId, action, values.comment);
    if (values.json) io.stdout(`${JSON.stringify(answer, null, 2)}\n`);
    else {
      const what =
        answer.stage === 'before' ? 'before dispatch' : `output of attempt ${answer.record.attempt}`;
      io.stdout(
        `meta-agent: task ${taskId} of batch ${batchId}: ${what} ${action === 'approve' ? 'approved' : 'rejected'}\n`,
      );
    }
    return ExitCode.Ok;
  };
}

export const approveCommand = decisionCommand('approve');
export const rejectCommand = decisionCommand('reject');
