/**
 * The base of the executors that reach an LLM provider through its official SDK with an API key
 * (anthropic, openai): model and base URL from the config (else the defaults), the key from the secret
 * resolver, one SDK client per key, and the SDK's APIError mapped onto the call policy's errors. Each
 * provider only builds its client and makes its one request.
 */
import type { ExecutorConfig } from '../../domain/schemas';
import type { ExecutionRequest } from '../../ports';
import type { SecretResolver } from '../secrets';
import { type CallPolicy, networkError, providerErrorFromStatus } from './policy';
import {
  type Correction,
  DEFAULT_MAX_TOKENS,
  type ProviderAnswer,
  ProviderExecutor,
  requireHttpUrl,
} from './provider';

export interface SdkExecutorOptions {
  secrets: SecretResolver;
  baseURL?: string;
  maxTokens?: number;
}

/** What the SDKs' APIError classes have in common: an HTTP status (when there was a response) and headers. */
export interface SdkApiError extends Error {
  readonly status: number | undefined;
  readonly headers: Headers | undefined;
}

export abstract class SdkProviderExecutor<Client> extends ProviderExecutor {
  abstract override readonly name: 'anthropic' | 'openai';
  readonly model: string;
  readonly baseURL: string;
  protected readonly maxTokens: number;
  readonly #secrets: SecretResolver;
  #client: { apiKey: string; client: Client } | undefined;

  constructor(
    config: ExecutorConfig,
    policy: CallPolicy,
    options: SdkExecutorOptions,
    defaults: { model: string; baseURL: string; provider: 'anthropic' | 'openai' },
  ) {
    super(policy);
    this.model = config.model ?? defaults.model;
    this.baseURL = requireHttpUrl(
      config.url ?? options.baseURL ?? defaults.baseURL,
      `the ${defaults.provider} base URL`,
    );
    this.#secrets = options.secrets;
    this.maxTokens = config.maxOutputTokens ?? options.maxTokens ?? DEFAULT_MAX_TOKENS;
  }

  /** A client of the SDK for `apiKey`, at `baseURL`, without the SDK's own retries. */
  protected abstract createClient(apiKey: string): Client;
  /** The provider's one request for `request` (with the previous answer and its misfits, for a re-ask). */
  protected abstract request(
    client: Client,
    request: ExecutionRequest,
    signal: AbortSignal,
    correction?: Correction,
  ): Promise<ProviderAnswer>;
  /** True for the SDK's APIError (status errors and connection errors alike). */
  protected abstract isApiError(error: unknown): error is SdkApiError;

  protected async invoke(
    request: ExecutionRequest,
    signal: AbortSignal,
    correction?: Correction,
  ): Promise<ProviderAnswer> {
    const client = this.#clientFor(await this.#secrets(this.name));
    try {
      return await this.request(client, request, signal, correction);
    } catch (error) {
      if (this.isApiError(error) && error.status !== undefined) {
        throw providerErrorFromStatus(this.name, error.status, error.message, {
          retryAfter: error.headers?.get('retry-after'),
          cause: error,
        });
      }
      throw networkError(this.name, error);
    }
  }

  /** One client per key: a rotated key gets a fresh client, the same key reuses its connections. */
  #clientFor(apiKey: string): Client {
    if (this.#client?.apiKey !== apiKey) this.#client = { apiKey, client: this.createClient(apiKey) };
    return this.#client.client;
  }
}
