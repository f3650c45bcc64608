/**
 * `meta-agent serve [--port N] [--api-key KEY] [--executor NAME] [--concurrency N] [--config FILE]`:
 * the REST API and the WebSocket progress stream of the deployed stack on 127.0.0.1, running batches on
 * the embedded local runtime. Stops cleanly on Ctrl-C or SIGTERM.
 */
import { parseArgs } from 'node:util';
import { resolveRoles } from '../../../domain/roles';
import { DEFAULT_PORT, startLocalServer } from '../../server';
import { CliUsageError } from '../errors';
import { type CliIO, type Command, ExitCode } from '../io';
import { loadConfigFile } from '../load';
import { parseConcurrency, parseExecutor } from './run';

export const USAGE = 'serve [--port N] [--api-key KEY] [--executor NAME] [--concurrency N] [--config FILE]';

const HELP = `Usage: meta-agent ${USAGE}

Serves the API of the AWS deployment on http://127.0.0.1:PORT (default ${DEFAULT_PORT}):
  POST /batches, GET /batches/{id}, DELETE /batches/{id}, POST /batches/{id}/redrive,
  GET /agents, PUT /agents/{id}
and its WebSocket progress stream on ws://127.0.0.1:PORT/ (send {"action":"subscribe","batchId":"..."}).
Batches run on the embedded local runtime. Listens on 127.0.0.1 only.

Options:
  --port N           port (0: any free port); default ${DEFAULT_PORT}
  --api-key KEY      require this x-api-key header on requests and WebSocket connects, like the deployment
  --executor NAME    executor of every role (default simulated: no model is called)
  --concurrency N    maximum concurrency of every role queue
  --config FILE      JSON file { "roles": [...] } adding or overriding roles
  -h, --help         show this help
`;

const MAX_PORT = 65_535;

export const command: Command = async (argv, io: CliIO) => {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      port: { type: 'string' },
      'api-key': { type: 'string' },
      executor: { type: 'string' },
      concurrency: { type: 'string' },
      config: { type: 'string' },
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
  const config = await loadConfigFile(values.config, io);
  resolveRoles(config.roles ?? []); // bad role configuration: exit 2 before anything starts

  const server = await startLocalServer({
    port,
    ...(values['api-key'] ? { apiKey: values['api-key'] } : {}),
    system: {
      ...(config.roles ? { roles: config.roles } : {}),
      ...(executor ? { executor } : {}),
      ...(concurrency === undefined ? {} : { concurrency }),
    },
  });
  io.stdout(`meta-agent serve: listening on ${server.url} (websocket ${server.wsUrl})\n`);
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
  return ExitCode.Ok;
};
