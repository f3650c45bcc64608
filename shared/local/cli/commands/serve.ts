/**
 * `meta-agent serve [--port N] [--api-key KEY] [--executor NAME] [--concurrency N] [--config FILE]`:
 * the REST API and the WebSocket progress stream of the deployed stack on 127.0.0.1, running batches on
 * the embedded local runtime. Stops cleanly on Ctrl-C or SIGTERM.
 */
import { parseArgs } from 'node:util';
import {
  DEFAULT_KEPT_FINISHED_BATCHES,
  MAX_KEPT_FINISHED_BATCHES,
  MIN_KEPT_FINISHED_BATCHES,
} from '../../../domain/limits';
import { resolveRoles } from '../../../domain/roles';
import { DEFAULT_PORT, LOCAL_HOST, startLocalServer } from '../../server';
import { lockDataDir, prepareDataDir } from '../data-dir';
import { CliUsageError } from '../errors';
import { type CliIO, type Command, ExitCode } from '../io';
import { assistNotice, loadConfigFile } from '../load';
import { LOG_LEVEL_HELP, parseLogLevel } from '../log-level';
import { API_KEY_ENV } from '../remote';
import { parseConcurrency, parseExecutor } from './run';

export const USAGE =
  'serve [--port N] [--api-key KEY | --no-api-key] [--executor NAME] [--concurrency N] [--config FILE] [--log-level LEVEL] [--keep-batches N] [--data-dir DIR]';

const HELP = `Usage: meta-agent ${USAGE}

Serves the API of the AWS deployment on http://127.0.0.1:PORT (default ${DEFAULT_PORT}):
  POST /batches, GET /batches/{id}, DELETE /batches/{id}, POST /batches/{id}/redrive,
  GET /agents, PUT /agents/{id}
and its WebSocket progress stream on ws://127.0.0.1:PORT/ (send {"action":"subscribe","batchId":"..."}).
Batches run on the embedded local runtime. Listens on 127.0.0.1 only, and refuses requests that name
another host (DNS rebinding), come from another origin (web pages), or send a body that is not JSON.

Every request needs the API key in the x-api-key header, like the deployment. Unless one is given, a
random key is generated at start and printed in the URL to open: http://127.0.0.1:PORT/#key=KEY.

Options:
  --port N           port (0: any free port); default ${DEFAULT_PORT}
  --api-key KEY      the API key to require (or set ${API_KEY_ENV}, which keeps it out of ps)
  --no-api-key       serve without a key: any program on this machine can run and read batches
  --data-dir DIR     keep batches, tasks and outputs in DIR across restarts (default: in memory, so
                     stopping the server loses every batch); a batch running when the server stops
                     ends FAILED (interrupted) at the next start and can be redriven
  --keep-batches N   finished batches kept (default ${DEFAULT_KEPT_FINISHED_BATCHES}); older finished ones are deleted
                     whole (tasks, outputs); a running batch is never deleted
  --executor NAME    executor of every role (default simulated: no model is called)
  --concurrency N    maximum concurrency of every role queue
  --config FILE      JSON file { "roles"?: [...], "routing"?: {...} }: roles, weights, assist
${LOG_LEVEL_HELP}  -h, --help         show this help
`;

const MAX_PORT = 65_535;

/** Parses --keep-batches (DEFAULT_KEPT_FINISHED_BATCHES when absent). */
function parseKeepBatches(text: string | undefined): number {
  if (text === undefined) return DEFAULT_KEPT_FINISHED_BATCHES;
  const value = Number(text);
  if (!Number.isInteger(value) || value < MIN_KEPT_FINISHED_BATCHES || value > MAX_KEPT_FINISHED_BATCHES) {
    throw new CliUsageError(
      `--keep-batches must be a whole number from ${MIN_KEPT_FINISHED_BATCHES} to ${MAX_KEPT_FINISHED_BATCHES}, got "${text}"`,
      USAGE,
    );
  }
  return value;
}

/** A port this server cannot listen on is bad input (exit 2) that names what to do; anything else is not. */
function listenError(error: unknown, port: number): CliUsageError | undefined {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') {
    return new CliUsageError(
      `port ${port} on ${LOCAL_HOST} is in use (another meta-agent serve?): stop what uses it, or choose another with --port N (0 picks a free port)`,
      USAGE,
    );
  }
  if (code === 'EACCES') {
    return new CliUsageError(
      `port ${port} on ${LOCAL_HOST} needs privileges this process does not have: choose a port above 1023 with --port N (0 picks a free port)`,
      USAGE,
    );
  }
  return undefined;
}

export const command: Command = async (argv, io: CliIO) => {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      port: { type: 'string' },
      'api-key': { type: 'string' },
      'no-api-key': { type: 'boolean', default: false },
      executor: { type: 'string' },
      concurrency: { type: 'string' },
      config: { type: 'string' },
      'log-level': { type: 'string' },
      'keep-batches': { type: 'string' },
      'data-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    io.stdout(HELP);
    return ExitCode.Ok;
  }
  if (positionals.length > 0) throw new CliUsageError(`unexpected argument "${positionals[0]}"`, USAGE);
  const port = values.port === undefined ? DEFAULT_PORT : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > MAX_PORT) {
    throw new CliUsageError(
      `--port must be a whole number from 0 to ${MAX_PORT}, got "${values.port}"`,
      USAGE,
    );
  }
  const executor = parseExecutor(values.executor);
  const concurrency = parseConcurrency(values.concurrency);
  const logLevel = parseLogLevel(values['log-level'], io.env, USAGE);
  const keepBatches = parseKeepBatches(values['keep-batches']);
  const dataDir =
    values['data-dir'] === undefined ? undefined : await prepareDataDir(values['data-dir'], io.cwd);
  const config = await loadConfigFile(values.config, io);
  resolveRoles(config.roles ?? []); // bad role configuration: exit 2 before anything starts

  // An empty variable counts as unset, as shells make it easy to leave one behind.
  const givenKey = values['api-key'] ?? (io.env[API_KEY_ENV] || undefined);
  if (values['no-api-key'] && values['api-key'] !== undefined) {
    throw new CliUsageError('--api-key and --no-api-key contradict each other: give one', USAGE);
  }
  if (givenKey !== undefined && givenKey.trim() === '') {
    throw new CliUsageError(
      'the API key given with --api-key is empty; give one, or --no-api-key to serve without',
      USAGE,
    );
  }
  const unlock = dataDir === undefined ? undefined : await lockDataDir(dataDir, USAGE);
  const server = await startLocalServer({
    port,
    apiKey: values['no-api-key'] ? false : givenKey,
    system: {
      ...(config.roles ? { roles: config.roles } : {}),
      ...(config.routing ? { routing: config.routing } : {}),
      ...(config.costs ? { costs: config.costs } : {}),
      ...(executor ? { executor } : {}),
      ...(concurrency === undefined ? {} : { concurrency }),
      logLevel,
      keepFinishedBatches: keepBatches,
      ...(dataDir === undefined ? {} : { dataDir }),
    },
  }).catch(async (error: unknown) => {
    await unlock?.();
    throw listenError(error, port) ?? error;
  });
  const notice = assistNotice(config);
  if (notice) io.stderr(`meta-agent serve: ${notice}.\n`);
  for (const warning of server.system.modelWarnings)
    io.stderr(`meta-agent serve: warning: ${warning.message}\n`);
  io.stdout(`meta-agent serve: listening on ${server.url} (websocket ${server.wsUrl})\n`);
  io.stdout(
    `meta-agent serve: keeps the newest ${keepBatches} finished batches; older finished ones are deleted (--keep-batches)\n`,
  );
  if (dataDir === undefined) {
    io.stdout(
      'meta-agent serve: state in memory: stopping the server (Ctrl-C, SIGTERM, kill) loses every batch; --data-dir DIR keeps them\n',
    );
  } else {
    io.stdout(
      `meta-agent serve: state kept in ${dataDir}; a batch still running when the server stops ends FAILED (interrupted) at the next start and can be redriven\n`,
    );
    const interrupted = server.system.interrupted;
    if (interrupted.length > 0) {
      io.stderr(
        `meta-agent serve: ${interrupted.length === 1 ? '1 batch was' : `${interrupted.length} batches were`} running when the server last stopped and ended FAILED (interrupted): ${interrupted.join(', ')}\n`,
      );
    }
  }
  if (server.apiKey === undefined) {
    io.stderr(
      'meta-agent serve: WARNING: no API key (--no-api-key): any program on this machine can start batches, ' +
        'spend provider money and read every result.\n',
    );
  } else if (givenKey === undefined) {
    io.stdout(`meta-agent serve: API key required (x-api-key); open ${server.openUrl}\n`);
  } else {
    io.stdout('meta-agent serve: API key required (x-api-key: the key given)\n');
  }
  if ((executor ?? 'simulated') === 'simulated') {
    io.stderr(
      'meta-agent serve: executor "simulated": no model is called; every output is labelled simulated.\n',
    );
  }
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  io.stderr('meta-agent serve: shutting down\n');
  await server.close();
  await unlock?.();
  return ExitCode.Ok;
};
