/**
 * `meta-agent` command line: finds the command, runs it, turns errors into messages and exit codes.
 *
 * Exit codes (ARCHITECTURE.md, CLI):
 * - 0: success (for `plan`: the batch is valid);
 * - 1: some task failed or was skipped, or an unexpected internal error (a bug or an environment
 *      failure, not the user's input: the message says so), or with --url the API's failure (a 5xx, a
 *      GET after its tries: RemoteServerError);
 * - 2: bad input or configuration, nothing was run: unknown command, bad flags, unreadable file,
 *      invalid batch (every issue printed as `path: message`), invalid role config, or any error that
 *      carries `exitCode: 2` (see errors.ts).
 */

import { createInterface } from 'node:readline';
import { RoleConfigError } from '../../domain/roles';
import { BatchValidationError } from '../../domain/validation';
import { CliUsageError } from './errors';
import { type CliIO, type Command, ExitCode } from './io';

/** One product command: always listed in the usage, runnable when `load` is set. */
export interface CommandEntry {
  /** Arguments after the command name, as shown in the usage. */
  readonly args: string;
  readonly summary: string;
  /** Lazy import, so `meta-agent plan` never pays for loading the runtime's emulators and AWS clients. */
  readonly load?: () => Promise<{ command: Command }>;
}

/**
 * The command table: every command of the product, in the order the usage lists them. Each module exports
 * `command: Command`; a command without `load` answers "not available in this build" with exit code 2.
 */
export const COMMANDS: Readonly<Record<string, CommandEntry>> = {
  plan: {
    args: 'FILE [--json] [--config FILE]',
    summary: 'validate a batch and print its dependency plan (order, levels, critical path)',
    load: () => import('./commands/plan'),
  },
  route: {
    args: 'FILE [--json] [--config FILE]',
    summary: 'print the routing decision of every task against the default agent pool',
    load: () => import('./commands/route'),
  },
  run: {
    args: 'FILE [--json] [--executor NAME] [--concurrency N] [--url URL [--api-key KEY]]',
    summary: 'run a batch on the embedded local runtime (or a running API with --url), with live progress',
    load: () => import('./commands/run'),
  },
  status: {
    args: 'BATCH --url URL [--api-key KEY] [--json] [--wait]',
    summary: 'print the result so far of a batch on a running API (deployed stack or serve)',
    load: async () => ({ command: (await import('./commands/remote-batch')).statusCommand }),
  },
  cancel: {
    args: 'BATCH --url URL [--api-key KEY] [--json]',
    summary: 'cancel a batch on a running API',
    load: async () => ({ command: (await import('./commands/remote-batch')).cancelCommand }),
  },
  redrive: {
    args: 'BATCH --url URL [--api-key KEY] [--json] [--wait]',
    summary: 'run again the failed, skipped and cancelled tasks of a batch on a running API',
    load: async () => ({ command: (await import('./commands/remote-batch')).redriveCommand }),
  },
  approve: {
    args: 'BATCH TASK [--comment TEXT] --url URL [--api-key KEY] [--json]',
    summary: 'approve a task waiting for approval (before dispatch, or its output) on a running API',
    load: async () => ({ command: (await import('./commands/approval')).approveCommand }),
  },
  reject: {
    args: 'BATCH TASK [--comment TEXT] --url URL [--api-key KEY] [--json]',
    summary: "reject it: before dispatch the task fails; a rejected output's attempt fails and runs again",
    load: async () => ({ command: (await import('./commands/approval')).rejectCommand }),
  },
  replay: {
    args: 'BATCH [--weights S,L,H,T] [--config FILE] --url URL [--api-key KEY] [--json]',
    summary: "re-score a batch's stored routing decisions under other weights or roles: what would move",
    load: () => import('./commands/replay'),
  },
  serve: {
    args: '[--port N] [--api-key KEY | --no-api-key] [--executor NAME] [--concurrency N]',
    summary: 'serve the HTTP API and WebSocket progress on localhost',
    load: () => import('./commands/serve'),
  },
  agents: {
    args: '[--json] [--config FILE] [--url URL [--api-key KEY]]',
    summary: 'list the agents of a running API (--url), or the role templates of the default pool',
    load: () => import('./commands/agents'),
  },
};

const PROGRAM = 'meta-agent';

/**
 * Exit code of an unexpected error (a bug or an environment failure). Not 2: that code tells the user
 * their input is wrong and nothing ran, which an internal failure cannot promise.
 */
const INTERNAL_ERROR_EXIT = ExitCode.TasksFailed;

/** The top-level usage text. */
export function usage(commands: Readonly<Record<string, CommandEntry>> = COMMANDS): string {
  const width = Math.max(...Object.entries(commands).map(([name, c]) => name.length + c.args.length + 1));
  const lines = Object.entries(commands).map(([name, entry]) => {
    const synopsis = `${name} ${entry.args}`.padEnd(width);
    const availability = entry.load ? '' : ' (not available in this build)';
    return `  ${synopsis}  ${entry.summary}${availability}`;
  });
  return [
    `Usage: ${PROGRAM} <command> [options]`,
    '',
    'Commands:',
    ...lines,
    '',
    `Run "${PROGRAM} <command> --help" for a command's options.`,
    'Exit codes: 0 success, 1 some task failed, an internal error or the API failed (5xx), 2 bad input or configuration (nothing was run).',
    '',
  ].join('\n');
}

function isHelp(arg: string | undefined): boolean {
  return arg === '--help' || arg === '-h' || arg === 'help';
}

/** True for errors that mean "the user's input or configuration is wrong": exit code 2. */
export function isInputError(error: unknown): boolean {
  if (error instanceof BatchValidationError || error instanceof RoleConfigError) return true;
  if (typeof error !== 'object' || error === null) return false;
  if ((error as { exitCode?: unknown }).exitCode === ExitCode.BadInput) return true;
  return isParseArgsError(error);
}

/** node:util parseArgs signals unknown options, missing values and extra positionals with these codes. */
function isParseArgsError(error: unknown): boolean {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}

function report(error: unknown, io: CliIO, name: string): number {
  if (error instanceof BatchValidationError) {
    const count = error.issues.length;
    const where = error.source === undefined ? '' : ` in ${error.source}`;
    io.stderr(
      `${PROGRAM}: invalid batch${where} (${count} problem${count === 1 ? '' : 's'}); nothing was run:\n`,
    );
    for (const issue of error.issues) io.stderr(`${issue.path}: ${issue.message}\n`);
    return ExitCode.BadInput;
  }
  if (error instanceof RoleConfigError) {
    const where = error.source === undefined ? '' : ` in ${error.source}`;
    io.stderr(`${PROGRAM}: invalid configuration${where}; nothing was run:\n`);
    for (const issue of error.issues) io.stderr(`${issue.path}: ${issue.message}\n`);
    return ExitCode.BadInput;
  }
  const message = error instanceof Error ? error.message : String(error);
  if (isInputError(error)) {
    io.stderr(`${PROGRAM}: ${message}\n`);
    if (error instanceof CliUsageError && error.usage) io.stderr(`Usage: ${PROGRAM} ${error.usage}\n`);
    else if (isParseArgsError(error)) io.stderr(`Run "${PROGRAM} ${name} --help" for its usage.\n`);
    return ExitCode.BadInput;
  }
  // A run whose outcome is not success, for a reason named in full (the API lost mid-run): no stack to ask for.
  if ((error as { exitCode?: unknown }).exitCode === ExitCode.TasksFailed) {
    io.stderr(`${PROGRAM}: ${message}\n`);
    return ExitCode.TasksFailed;
  }
  io.stderr(`${PROGRAM}: internal error: ${message}\n`);
  if (io.env.META_AGENT_DEBUG && error instanceof Error && error.stack) io.stderr(`${error.stack}\n`);
  else io.stderr('Set META_AGENT_DEBUG=1 to print the stack trace.\n');
  return INTERNAL_ERROR_EXIT;
}

/** The IO of the real process. */
export function defaultIO(): CliIO {
  return {
    stdout: (text) => {
      process.stdout.write(text);
    },
    stderr: (text) => {
      process.stderr.write(text);
    },
    isTTY: process.stdout.isTTY === true,
    cwd: process.cwd(),
    env: process.env,
    ...(process.stdin.isTTY === true ? { ask: askOnTerminal } : {}),
  };
}

/** One question on the terminal (stderr, so stdout stays the command's output); Ctrl-C stays a Ctrl-C. */
function askOnTerminal(question: string): Promise<string> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    rl.on('SIGINT', () => {
      rl.close();
      resolve('');
      process.emit('SIGINT');
    });
    rl.question(question, (answer) => {
      rl.close();
      resolve(answer);
    });
  });
}

/**
 * Runs the CLI with `argv` (the arguments after the program name) and returns the exit code; never
 * throws and never calls process.exit, so tests call it directly with a fake IO.
 */
export async function main(argv: string[], io: CliIO = defaultIO()): Promise<number> {
  return runCommandLine(COMMANDS, argv, io);
}

/** main() over a given command table (tests pass their own commands). */
export async function runCommandLine(
  commands: Readonly<Record<string, CommandEntry>>,
  argv: string[],
  io: CliIO,
): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || isHelp(name)) {
    const topic = isHelp(name) ? rest[0] : undefined;
    if (topic !== undefined && !isHelp(topic) && Object.hasOwn(commands, topic))
      return runCommandLine(commands, [topic, '--help'], io);
    io.stdout(usage(commands));
    return ExitCode.Ok;
  }
  if (!Object.hasOwn(commands, name)) {
    io.stderr(`${PROGRAM}: unknown command "${name}"\n\n${usage(commands)}`);
    return ExitCode.BadInput;
  }
  const entry = commands[name] as CommandEntry;
  if (!entry.load) {
    io.stderr(
      `${PROGRAM}: the "${name}" command is not available in this build; available: ` +
        `${Object.keys(commands)
          .filter((n) => commands[n]?.load)
          .join(', ')}\n`,
    );
    return ExitCode.BadInput;
  }
  try {
    const { command } = await entry.load();
    return await command(rest, io);
  } catch (error) {
    return report(error, io, name);
  }
}
