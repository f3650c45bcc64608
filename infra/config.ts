/**
 * Reads the app's CDK context into stack props, shared by infra/app.ts and infra/local-definition.ts so the
 * deployed and the local state machine come from the same inputs.
 */
import { readFileSync } from 'node:fs';
import { Annotations, type App, RemovalPolicy } from 'aws-cdk-lib';
import { parseCostsConfig } from '../shared/domain/costs';
import { assertModels, dayOf } from '../shared/domain/models';
import { type RoleCatalog, resolveRoles, withDefaultExecutor } from '../shared/domain/roles';
import { parseRoutingConfig } from '../shared/domain/routing-config';
import { ExecutorNameSchema } from '../shared/domain/schemas';
import { MetaAgentStack } from './stack';

/** Stack name (construct id) of the app. */
export const STACK_ID = 'MetaAgent';

/** Context keys this app reads (`cdk synth -c key=value` or cdk.json). */
export const ContextKey = {
  /**
   * Path to a JSON file `{ "roles": [...], "routing"?: {...}, "costs"?: {...} }`: role overrides and additions,
   * routing settings, prices, the default batch budget and provider limits.
   */
  RolesConfig: 'rolesConfig',
  /** `true` for a throw-away dev stack: tables, queues and logs are destroyed with the stack. */
  Dev: 'dev',
  /** Executor name for roles that do not name one. */
  DefaultExecutor: 'defaultExecutor',
  /** Name of an existing Secrets Manager secret holding provider API keys, read by the agent workers. */
  ProviderSecretName: 'providerSecretName',
  /** SSM Parameter Store path of the provider keys (`<prefix>/anthropic`, ...), read by the agent workers. */
  ProviderSsmPrefix: 'providerSsmPrefix',
  /** Reserved concurrency of the scaler: 1 by default, 0 for accounts at the 10-concurrency minimum. */
  ScalerReservedConcurrency: 'scalerReservedConcurrency',
} as const;

export class RolesConfigFileError extends Error {
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`Cannot use role config ${path}: ${reason}. Expected a JSON file {"roles": [...]}.`);
    this.name = 'RolesConfigFileError';
  }
}

/** The `roles` array of a role config (`{ "roles": [...] }`, or the bare array). */
export function roleOverridesOf(config: unknown): unknown[] {
  if (config === undefined || config === null) return [];
  if (Array.isArray(config)) return config;
  if (typeof config === 'object' && Array.isArray((config as { roles?: unknown }).roles)) {
    return (config as { roles: unknown[] }).roles;
  }
  // A file of routing or costs settings only ({ "routing": {...} }) keeps the built-in roles.
  if (typeof config === 'object' && !('roles' in config) && ('routing' in config || 'costs' in config))
    return [];
  throw new RolesConfigFileError('(context)', 'it has no "roles" array');
}

/** Reads and parses the role config file named by the `rolesConfig` context, if any. */
export function readRolesConfigFile(path: string | undefined): unknown {
  if (path === undefined || path === '') return undefined;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new RolesConfigFileError(path, (error as Error).message);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new RolesConfigFileError(path, `invalid JSON (${(error as Error).message})`);
  }
}

/** Raised when a context value has the wrong form; names the key and what it expects. */
export class ContextValueError extends Error {
  constructor(key: string, value: unknown, expected: string) {
    super(`Context ${key}=${JSON.stringify(value)} is invalid: expected ${expected}.`);
    this.name = 'ContextValueError';
  }
}

function nonNegativeInteger(value: string | number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    throw new ContextValueError(ContextKey.ScalerReservedConcurrency, value, 'an integer >= 0');
  }
  return n;
}

function isTrue(value: unknown): boolean {
  return value === true || value === 'true';
}

/**
 * Adds the meta-agent stack to `app`. `rolesConfig` (parsed `{ "roles": [...] }`) wins over the
 * `rolesConfig` context path.
 */
export function addMetaAgentStack(app: App, rolesConfig?: unknown): MetaAgentStack {
  const config =
    rolesConfig ?? readRolesConfigFile(app.node.tryGetContext(ContextKey.RolesConfig) as string | undefined);
  const roleOverrides = roleOverridesOf(config);
  const roles: RoleCatalog = resolveRoles(roleOverrides);
  const defaultExecutorName = app.node.tryGetContext(ContextKey.DefaultExecutor) as string | undefined;
  // A retired model fails the synth (before a deploy); deprecated and unknown ones are synth warnings.
  const parsedDefault = ExecutorNameSchema.safeParse(defaultExecutorName);
  const modelWarnings = assertModels(
    (parsedDefault.success ? withDefaultExecutor(roles, parsedDefault.data) : roles).values(),
    dayOf(Date.now()),
  );
  const isObject = typeof config === 'object' && config !== null && !Array.isArray(config);
  const routing = isObject ? parseRoutingConfig((config as { routing?: unknown }).routing) : {};
  // Prices, the default batch budget and provider limits: bad values fail the synth with their JSON path.
  const costs = isObject ? parseCostsConfig((config as { costs?: unknown }).costs) : {};
  const defaultExecutor = app.node.tryGetContext(ContextKey.DefaultExecutor) as string | undefined;
  const providerSecretName = app.node.tryGetContext(ContextKey.ProviderSecretName) as string | undefined;
  const providerSsmPrefix = app.node.tryGetContext(ContextKey.ProviderSsmPrefix) as string | undefined;
  const scalerReserved = app.node.tryGetContext(ContextKey.ScalerReservedConcurrency) as
    | string
    | number
    | undefined;
  const stack = new MetaAgentStack(app, STACK_ID, {
    description: 'Serverless meta-agent orchestrator (Step Functions, Lambda, SQS, DynamoDB)',
    roles,
    roleOverrides,
    removalPolicy: isTrue(app.node.tryGetContext(ContextKey.Dev))
      ? RemovalPolicy.DESTROY
      : RemovalPolicy.RETAIN,
    ...(defaultExecutor ? { defaultExecutor } : {}),
    ...(providerSecretName ? { providerSecretName } : {}),
    ...(providerSsmPrefix ? { providerSsmPrefix } : {}),
    ...(routing.weights || routing.assist ? { routing } : {}),
    ...(Object.keys(costs).length > 0 ? { costs } : {}),
    ...(scalerReserved === undefined
      ? {}
      : { scalerReservedConcurrency: nonNegativeInteger(scalerReserved) }),
  });
  for (const warning of modelWarnings)
    Annotations.of(stack).addWarningV2('meta-agent:model', warning.message);
  return stack;
}
