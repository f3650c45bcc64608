/**
 * Executor factory: one AgentExecutor per executor config. `createExecutor(config)` works with the config
 * alone (AWS clients, secrets and limits from the environment); tests and the local runtime pass `deps`.
 *
 * Environment (names only; API keys come from the secret resolver, see shared/adapters/secrets):
 * | variable                   | meaning                                                            |
 * |----------------------------|--------------------------------------------------------------------|
 * | `ANTHROPIC_BASE_URL`       | Anthropic API base URL (a gateway, or a local server in tests)     |
 * | `OPENAI_BASE_URL`          | OpenAI-compatible base URL, including `/v1`                        |
 * | `PROVIDER_MAX_CONCURRENCY` | without deps.limiter: calls in flight per provider per process (4)  |
 * An `executor.url` in the config wins over the base URL variables.
 */
import { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import type { CredentialFingerprints } from '../../domain/permanent-failure';
import type { ExecutorConfig } from '../../domain/schemas';
import type { AgentExecutor } from '../../ports';
import { credentialFingerprint, type SecretResolver, secretResolverFromEnv } from '../secrets';
import { AnthropicExecutor } from './anthropic';
import { BEDROCK_SDK_MAX_ATTEMPTS, BedrockExecutor } from './bedrock';
import { ExecutorConfigError } from './errors';
import { HttpExecutor } from './http';
import { OpenAiExecutor } from './openai';
import {
  abortableSleep,
  type CallLimiter,
  type CallPolicy,
  DEFAULT_PROVIDER_CONCURRENCY,
  DEFAULT_RETRY_POLICY,
  ProviderLimiter,
  type Random,
  type RetryPolicy,
  type Sleep,
} from './policy';
import { SimulatedExecutor } from './simulated';

export { AnthropicExecutor, DEFAULT_ANTHROPIC_MODEL } from './anthropic';
export { BedrockExecutor, DEFAULT_BEDROCK_MODEL } from './bedrock';
export { ExecutionAbortedError, ExecutionTimeoutError, ExecutorConfigError, ProviderError } from './errors';
export { FleetLimiter, type FleetLimiterOptions } from './fleet-limiter';
export { HttpExecutor, type HttpTaskRequest } from './http';
export { DEFAULT_OPENAI_MODEL, OpenAiExecutor } from './openai';
export * from './policy';
export {
  DEFAULT_MAX_TOKENS,
  type LlmOutput,
  OUTPUT_TOOL_NAME,
  STRUCTURED_OUTPUT_REASKS,
} from './provider';
export {
  readSimulate,
  SIMULATED_TIMEOUT_GRACE_MS,
  SimulatedCrashError,
  SimulatedExecutor,
  SimulatedFailureError,
  SimulateInputError,
} from './simulated';

export const ExecutorEnvVar = {
  AnthropicBaseUrl: 'ANTHROPIC_BASE_URL',
  OpenAiBaseUrl: 'OPENAI_BASE_URL',
  ProviderConcurrency: 'PROVIDER_MAX_CONCURRENCY',
} as const;

/** What createExecutor may be given instead of its defaults. */
export interface ExecutorDeps {
  /** Environment to read (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** API key lookup (default: from the environment, see shared/adapters/secrets). */
  secrets?: SecretResolver;
  /** Bedrock client (default: one `new BedrockRuntimeClient({ maxAttempts: 1 })` per process). Give yours maxAttempts 1. */
  bedrockClient?: BedrockRuntimeClient;
  /** fetch for the http executor (default: global fetch). */
  fetch?: typeof fetch;
  /**
   * Limits on calls per provider: the deployed and embedded systems give the fleet-wide one (FleetLimiter);
   * default, a per-process semaphore per provider (PROVIDER_MAX_CONCURRENCY), shared by all executors.
   */
  limiter?: CallLimiter;
  /** Reports limiter trouble that does not fail the call. */
  onWarning?: (message: string, error: unknown) => void;
  retry?: Partial<RetryPolicy>;
  sleep?: Sleep;
  random?: Random;
  /** Output tokens asked of LLM providers (default DEFAULT_MAX_TOKENS). */
  maxTokens?: number;
}

// Shared across every executor the process creates, so the cap and the secret cache are per process,
// not per agent.
const sharedLimiters = new Map<number, ProviderLimiter>();
let processEnvResolver: SecretResolver | undefined;
let processBedrockClient: BedrockRuntimeClient | undefined;

/** One Bedrock client per process: its HTTP/2 session is reused by every agent's calls. */
function defaultBedrockClient(): BedrockRuntimeClient {
  processBedrockClient ??= new BedrockRuntimeClient({ maxAttempts: BEDROCK_SDK_MAX_ATTEMPTS });
  return processBedrockClient;
}

function concurrencyFrom(env: NodeJS.ProcessEnv): number {
  const raw = env[ExecutorEnvVar.ProviderConcurrency];
  if (raw === undefined || raw === '') return DEFAULT_PROVIDER_CONCURRENCY;
  const limit = Number(raw);
  if (!Number.isInteger(limit) || limit < 1) {
    throw new ExecutorConfigError(
      `${ExecutorEnvVar.ProviderConcurrency} must be a positive integer, got "${raw}"`,
    );
  }
  return limit;
}

function defaultLimiter(env: NodeJS.ProcessEnv): ProviderLimiter {
  const limit = concurrencyFrom(env);
  let limiter = sharedLimiters.get(limit);
  if (!limiter) {
    limiter = new ProviderLimiter(limit);
    sharedLimiters.set(limit, limiter);
  }
  return limiter;
}

function defaultSecrets(env: NodeJS.ProcessEnv): SecretResolver {
  if (env !== process.env) return secretResolverFromEnv(env);
  processEnvResolver ??= secretResolverFromEnv(env);
  return processEnvResolver;
}

/**
 * The fingerprint of the key the executors of this process use for `executor`'s provider (the same cached
 * resolver as theirs, so the key they call with), for a credentials mark (domain CredentialFingerprints).
 */
export const processCredentialFingerprint: CredentialFingerprints = (executor) =>
  credentialFingerprint(defaultSecrets(process.env), executor.name);

/** Returns the executor for `config`; throws ExecutorConfigError when the config cannot work. */
export function createExecutor(config: ExecutorConfig, deps: ExecutorDeps = {}): AgentExecutor {
  if (config.name === 'simulated') return new SimulatedExecutor();
  const env = deps.env ?? process.env;
  const policy: CallPolicy = {
    limiter: deps.limiter ?? defaultLimiter(env),
    ...(deps.onWarning ? { onWarning: deps.onWarning } : {}),
    retry: { ...DEFAULT_RETRY_POLICY, ...deps.retry },
    sleep: deps.sleep ?? abortableSleep,
    random: deps.random ?? Math.random,
  };
  const maxTokens = deps.maxTokens === undefined ? {} : { maxTokens: deps.maxTokens };
  switch (config.name) {
    case 'bedrock':
      return new BedrockExecutor(config, policy, {
        ...maxTokens,
        client: deps.bedrockClient ?? defaultBedrockClient(),
      });
    case 'anthropic': {
      const baseURL = env[ExecutorEnvVar.AnthropicBaseUrl];
      return new AnthropicExecutor(config, policy, {
        secrets: deps.secrets ?? defaultSecrets(env),
        ...maxTokens,
        ...(baseURL ? { baseURL } : {}),
      });
    }
    case 'openai': {
      const baseURL = env[ExecutorEnvVar.OpenAiBaseUrl];
      return new OpenAiExecutor(config, policy, {
        secrets: deps.secrets ?? defaultSecrets(env),
        ...maxTokens,
        ...(baseURL ? { baseURL } : {}),
      });
    }
    case 'http':
      return new HttpExecutor(config, policy, {
        secrets: deps.secrets ?? defaultSecrets(env),
        ...(deps.fetch ? { fetch: deps.fetch } : {}),
      });
    default:
      throw new ExecutorConfigError(
        `unknown executor "${String((config as { name: unknown }).name)}": use simulated, bedrock, anthropic, openai or http`,
      );
  }
}
