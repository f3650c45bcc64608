/**
 * Permanent failures (README "Executors"): an attempt that failed in a way the same executor configuration will
 * fail again (a bad key, an unknown model, an answer cut at the output limit, a refusal) is not retried on an
 * agent that would call the provider the same way. Pure rules: what such a failure depends on, and whether an
 * executor configuration escapes it.
 */
import { DEFAULT_MAX_OUTPUT_TOKENS, pricedModel } from './costs';
import type { ExecutorConfig, PermanentCause, PermanentFailure } from './schemas';

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
export function notRetriedReason(failure: PermanentFailure): string {
  return `not retried: the failure is permanent (${failure.cause}) for ${describeExecutor(failure.executor)}, and no agent that could take the task differs in ${ESCAPES[failure.cause]}`;
}
