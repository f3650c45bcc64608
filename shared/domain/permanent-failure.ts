/**
 * Permanent failures (README "Executors"): an attempt that failed in a way the same executor configuration will
 * fail again (a bad key, an unknown model, an answer cut at the output limit, a refusal) is not retried on an
 * agent that would call the provider the same way. Pure rules: what such a failure depends on, and whether an
 * executor configuration escapes it.
 *
 * A bad key is the fleet's, not the task's: a `credentials` failure also marks its configuration (provider and
 * url) fleet-wide (CredentialsMark, kept beside the agents), so no task routes to it, or spawns an agent with
 * it, while the mark stands; a task that no other configuration could take fails at once, without a call.
 * A mark is of the credential that was refused (its fingerprint): once the configuration's key is another
 * one (a redeploy with a new secret value), the mark no longer applies.
 */
import { DEFAULT_MAX_OUTPUT_TOKENS, pricedModel } from './costs';
import type { Agent, ExecutorConfig, PermanentCause, PermanentFailure, Role } from './schemas';

export type { PermanentCause, PermanentFailure } from './schemas';

/** What a retry's executor would have to differ in, per cause (for the reason a task gives). */
export const ESCAPES: Readonly<Record<PermanentCause, string>> = {
  credentials: 'provider or url (the key is per provider)',
  request: 'provider, model or url',
  'output-limit': 'provider, model or url, or a higher maxOutputTokens',
};

const outputLimitOf = (config: ExecutorConfig) => config.maxOutputTokens ?? DEFAULT_MAX_OUTPUT_TOKENS;

/** Whether an attempt on `candidate` would fail the way `failure` did (ESCAPES says what must differ). */
export function failsAgain(failure: PermanentFailure, candidate: ExecutorConfig): boolean {
  const failed = failure.executor;
  if (candidate.name !== failed.name || candidate.url !== failed.url) return false;
  if (failure.cause === 'credentials') return true;
  if (pricedModel(candidate) !== pricedModel(failed)) return false;
  return failure.cause === 'request' || outputLimitOf(candidate) <= outputLimitOf(failed);
}

/** The permanent failures of a task's attempts so far. */
export function permanentFailuresOf(
  attempts: readonly { permanent?: PermanentFailure }[],
): PermanentFailure[] {
  return attempts.flatMap((a) => (a.permanent ? [a.permanent] : []));
}

/** Whether `candidate` would fail again the way one of `failures` did. */
export const failsAgainAny = (failures: readonly PermanentFailure[], candidate: ExecutorConfig): boolean =>
  failures.some((failure) => failsAgain(failure, candidate));

/**
 * How long a credentials mark stands: a key rotated in its secret (which nothing here sees) is tried again
 * after at most this long. PUT /agents/{id} with an executor of the marked configuration clears it at once.
 */
export const CREDENTIALS_MARK_MS = 10 * 60_000;

/**
 * The fingerprint of the credential an executor configuration uses now (a short salted hash, never the key:
 * adapters/secrets credentialFingerprint); undefined when it cannot be known.
 */
export type CredentialFingerprints = (
  executor: Pick<ExecutorConfig, 'name' | 'url'>,
) => Promise<string | undefined>;

/** A configuration whose key the provider refused: no task is routed to it until `until` (epoch ms). */
export interface CredentialsMark {
  readonly executor: Pick<ExecutorConfig, 'name' | 'url'>;
  /**
   * The refused credential's fingerprint: the mark applies only while the configuration uses that credential.
   * Absent (a provider without a key of ours, such as Bedrock's IAM role, or a mark of an older version): it
   * applies whatever the key.
   */
  readonly fingerprint?: string;
  readonly at: number;
  readonly until: number;
  /** The attempt that met the refusal. */
  readonly agentId: string;
  readonly batchId: string;
  readonly taskId: string;
}

/** The mark a permanent failure sets: one of a credentials failure only (a model or a limit is per agent). */
export function credentialsMarkOf(
  failure: PermanentFailure | undefined,
  by: { agentId: string; batchId: string; taskId: string },
  at: number,
): CredentialsMark | undefined {
  if (failure?.cause !== 'credentials') return undefined;
  const { name, url } = failure.executor;
  return {
    executor: { name, ...(url === undefined ? {} : { url }) },
    ...(failure.fingerprint === undefined ? {} : { fingerprint: failure.fingerprint }),
    at,
    until: at + CREDENTIALS_MARK_MS,
    ...by,
  };
}

/** The key of a mark: provider and url (the key is per provider), and the refused key's fingerprint. */
export const credentialsMarkKey = (mark: Pick<CredentialsMark, 'executor' | 'fingerprint'>): string =>
  `${mark.executor.name} ${mark.executor.url ?? ''}${mark.fingerprint === undefined ? '' : ` ${mark.fingerprint}`}`;

/** Whether two configurations share their key (same provider and url): what a mark is of. */
export const sameCredentials = (
  a: Pick<ExecutorConfig, 'name' | 'url'>,
  b: Pick<ExecutorConfig, 'name' | 'url'>,
): boolean => a.name === b.name && a.url === b.url;

/**
 * Whether `mark` applies while its configuration's credential has fingerprint `current` (undefined: unknown,
 * so the mark applies, as one that names no fingerprint does): a mark of another key than the one in use (the
 * key was replaced since) does not.
 */
export const markInForce = (mark: CredentialsMark, current: string | undefined): boolean =>
  mark.fingerprint === undefined || current === undefined || current === mark.fingerprint;

/** The marks still standing at `now`. */
export const standingMarks = (marks: readonly CredentialsMark[], now: number): CredentialsMark[] =>
  marks.filter((mark) => mark.until > now);

/** A mark as the permanent failure it stands for (what failsAgain reads). */
export const markedFailure = (mark: CredentialsMark): PermanentFailure => ({
  cause: 'credentials',
  executor: mark.executor,
});

/** The mark `candidate` falls under, if any. */
export const markOn = (
  marks: readonly CredentialsMark[],
  candidate: ExecutorConfig,
): CredentialsMark | undefined => marks.find((mark) => failsAgain(markedFailure(mark), candidate));

/**
 * Whether a task could still go to a configuration `fails` lets through: an agent of `pool` (its candidate
 * roles' agents; terminated ones do not count) with such an executor, or one `spawnRole` (its first role)
 * would spawn, with the role's default executor, while the role has a free agent slot.
 */
export function someConfigurationEscapes(
  pool: readonly Agent[],
  spawnRole: Pick<Role, 'name' | 'defaults'> | undefined,
  fails: (executor: ExecutorConfig) => boolean,
): boolean {
  const live = pool.filter((a) => a.status !== 'terminated');
  if (live.some((a) => !fails(a.executor))) return true;
  if (!spawnRole) return false;
  const liveOfRole = live.filter((a) => a.role === spawnRole.name).length;
  return liveOfRole < spawnRole.defaults.maxAgents && !fails(spawnRole.defaults.executor);
}

/** `anthropic (model x)`-like naming of a failed configuration, for a reason. */
export function describeExecutor(config: ExecutorConfig): string {
  const model = pricedModel(config);
  const parts = [
    ...(model === undefined ? [] : [`model ${model}`]),
    ...(config.url === undefined ? [] : [`url ${config.url}`]),
    ...(config.maxOutputTokens === undefined ? [] : [`maxOutputTokens ${config.maxOutputTokens}`]),
  ];
  return parts.length === 0 ? config.name : `${config.name} (${parts.join(', ')})`;
}

/** Why a task with a permanent failure is not routed again: nothing it could go to differs in what caused it. */
export function notRetriedReason(failure: PermanentFailure, mark?: CredentialsMark): string {
  const marked =
    mark === undefined
      ? ''
      : `, marked fleet-wide${mark.fingerprint === undefined ? '' : ` for its key of fingerprint ${mark.fingerprint}`} at ${new Date(mark.at).toISOString()} until ${new Date(mark.until).toISOString()} by task ${mark.batchId}/${mark.taskId} on agent ${mark.agentId} (PUT /agents/{id} with this provider and url, or another key, clears it)`;
  // A mark is of a provider and url, whatever the model (the key is per provider).
  const who =
    mark === undefined
      ? describeExecutor(failure.executor)
      : `${mark.executor.name}${mark.executor.url === undefined ? '' : ` (url ${mark.executor.url})`}`;
  return `not retried: the failure is permanent (${failure.cause}) for ${who}${marked}, and no agent that could take the task differs in ${ESCAPES[failure.cause]}`;
}
