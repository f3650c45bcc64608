/**
 * `--log-level LEVEL` of `run` and `serve` (or META_AGENT_LOG_LEVEL): the Powertools log level of the local
 * handlers, whose JSON log lines then go to stderr. Silent unless asked: a batch's own progress is what a
 * terminal shows.
 */
import { CliUsageError } from './errors';

/** Environment variable read when the flag is not given. */
export const LOG_LEVEL_ENV = 'META_AGENT_LOG_LEVEL';
/** Powertools' levels, most verbose first; SILENT turns logs off. */
export const LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'CRITICAL', 'SILENT'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
/** The level when neither the flag nor the variable says. */
export const DEFAULT_LOG_LEVEL: LogLevel = 'SILENT';

/** The help text line of the flag (shared by run and serve). */
export const LOG_LEVEL_HELP = `  --log-level LEVEL  handler logs as JSON lines on stderr (default ${DEFAULT_LOG_LEVEL.toLowerCase()}, or $${LOG_LEVEL_ENV}):
                     ${LOG_LEVELS.map((l) => l.toLowerCase()).join(', ')}
`;

/**
 * The log level from `--log-level`, else META_AGENT_LOG_LEVEL (empty counts as unset), else SILENT; any
 * case. A value that is not a level is a CliUsageError (exit 2) naming where it came from.
 */
export function parseLogLevel(flag: string | undefined, env: NodeJS.ProcessEnv, usage: string): LogLevel {
  const [source, text] =
    flag !== undefined ? ['--log-level', flag] : [LOG_LEVEL_ENV, env[LOG_LEVEL_ENV] || undefined];
  if (text === undefined) return DEFAULT_LOG_LEVEL;
  const level = LOG_LEVELS.find((l) => l === text.toUpperCase());
  if (level === undefined) {
    throw new CliUsageError(
      `${source} must be one of ${LOG_LEVELS.map((l) => l.toLowerCase()).join(', ')}, got "${text}"`,
      usage,
    );
  }
  return level;
}
