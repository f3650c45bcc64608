/**
 * Reading the files named on the command line: a batch FILE and the optional `--config FILE`.
 * File problems become InputFileError, batch problems BatchValidationError, role problems RoleConfigError:
 * all three mean "bad input", exit code 2, nothing was run.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { z } from 'zod';
import { type CostsConfig, CostsConfigError, parseCostsConfig } from '../../domain/costs';
import { locateJsonSyntaxError } from '../../domain/json-location';
import { type RoleCatalog, RoleConfigError, resolveRoles } from '../../domain/roles';
import { parseRoutingConfig, type RoutingConfig, RoutingConfigError } from '../../domain/routing-config';
import type { Batch } from '../../domain/schemas';
import { decodeUtf8Strict, notUtf8Sentence } from '../../domain/utf8';
import {
  assertValidBatch,
  BatchValidationError,
  formatPath,
  parseBatchJson,
  withoutByteOrderMark,
} from '../../domain/validation';
import { InputFileError } from './errors';
import type { CliIO } from './io';

/** Reads a UTF-8 text file relative to the CLI's working directory, with a sentence for each failure. */
export async function readTextFile(path: string, io: CliIO, what: string): Promise<string> {
  const absolute = resolve(io.cwd, path);
  let bytes: Buffer;
  try {
    bytes = await readFile(absolute);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'it is a directory, not a file'
          : code === 'EACCES' || code === 'EPERM'
            ? 'permission denied'
            : (error as Error).message;
    throw new InputFileError(`cannot read ${what} ${path} (${absolute}): ${reason}`, absolute);
  }
  const decoded = decodeUtf8Strict(bytes);
  if (!('text' in decoded)) {
    throw new InputFileError(
      `${notUtf8Sentence(`${what} ${path}`, decoded.invalid)}; save it as UTF-8`,
      absolute,
    );
  }
  const { text } = decoded;
  // Editors on Windows often save JSON with a byte order mark, which JSON.parse refuses.
  return withoutByteOrderMark(text);
}

/**
 * Reads, parses and validates a batch file. Throws InputFileError when the file cannot be read and
 * BatchValidationError (every problem, with its JSON path) when its content is not a valid batch.
 */
export async function loadBatchFile(
  path: string,
  io: CliIO,
  knownRoles: ReadonlySet<string>,
): Promise<Batch> {
  const text = await readTextFile(path, io, 'batch file');
  return inFile(path, () => assertValidBatch(parseBatchJson(text), knownRoles));
}

/**
 * Runs `check` on the content of the batch file `path`: a BatchValidationError it throws names the file, so a
 * malformed or invalid batch is reported as "invalid batch in FILE" with each problem's path and position.
 */
export function inFile<T>(path: string, check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (error instanceof BatchValidationError && error.source === undefined)
      throw new BatchValidationError(error.issues, path);
    throw error;
  }
}

/** The `--config FILE` format. Strict, so a misspelt key is an error rather than silently ignored. */
export const CliConfigSchema = z
  .object({
    /** Role overrides and additions, merged over the built-in catalog by name (see resolveRoles). */
    roles: z.array(z.unknown()).optional(),
    /** Score weights and model-assisted routing (see shared/domain/routing-config.ts). */
    routing: z.unknown().optional(),
    /** Prices, the default batch budget and fleet-wide provider limits (see shared/domain/costs.ts). */
    costs: z.unknown().optional(),
  })
  .strict();
export type CliConfig = Omit<z.infer<typeof CliConfigSchema>, 'routing' | 'costs'> & {
  routing?: RoutingConfig;
  costs?: CostsConfig;
};

/** Reads `--config FILE` (or nothing) and returns the config; RoleConfigError-style issues on bad shape. */
export async function loadConfigFile(path: string | undefined, io: CliIO): Promise<CliConfig> {
  if (path === undefined) return {};
  const text = await readTextFile(path, io, 'config file');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    const where = locateJsonSyntaxError(text);
    const detail = where
      ? `line ${where.line}, column ${where.column}: ${where.reason}`
      : (error as Error).message;
    throw new RoleConfigError([{ path: '$', message: `malformed JSON in ${path} at ${detail}` }]);
  }
  const parsed = CliConfigSchema.safeParse(raw);
  if (!parsed.success) {
    throw new RoleConfigError(
      parsed.error.issues.flatMap((i) =>
        i.code === 'unrecognized_keys'
          ? i.keys.map((key) => ({
              path: formatPath([...i.path, key]),
              message: `unknown field "${key}"; the config file accepts ${Object.keys(CliConfigSchema.shape).join(', ')}`,
            }))
          : [{ path: formatPath(i.path), message: i.message }],
      ),
    );
  }
  try {
    const { routing, costs, ...rest } = parsed.data;
    return {
      ...rest,
      ...(routing === undefined ? {} : { routing: parseRoutingConfig(routing) }),
      ...(costs === undefined ? {} : { costs: parseCostsConfig(costs) }),
    };
  } catch (error) {
    if (error instanceof RoutingConfigError || error instanceof CostsConfigError)
      throw new RoleConfigError(error.issues, path);
    throw error;
  }
}

/** The role catalog for a command: built-ins plus the roles of `--config FILE` when given. */
export async function loadRoleCatalog(configPath: string | undefined, io: CliIO): Promise<RoleCatalog> {
  const config = await loadConfigFile(configPath, io);
  return resolveRoles(config.roles ?? []);
}

/** A line saying that model-assisted routing is on, for run and serve to print; undefined when it is off. */
export function assistNotice(config: CliConfig): string | undefined {
  const assist = config.routing?.assist;
  if (!assist) return undefined;
  return (
    `routing: tasks routed with confidence below ${assist.threshold} ask ${assist.provider}` +
    `${assist.model ? ` (${assist.model})` : ''} to choose among their best ${assist.candidates} roles`
  );
}
