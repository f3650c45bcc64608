/**
 * The base of the executors that reach an LLM provider through its official SDK with an API key
 * (anthropic, openai): model and base URL from the config (else the defaults), the key from the secret
 * resolver, one SDK client per key, and the SDK's APIError mapped onto the call policy's errors. Each
 * provider only builds its client and makes its one request.
 */
import type { ExecutorConfig } from '../../domain/schemas';
import type { ExecutionRequest } from '../../ports';
import type { SecretResolver } from '../secrets';
import { ProviderError } from './errors';
import {
  type CallPolicy,
  malformedAnswerError,
  networkError,
  providerErrorFromStatus,
  retryAfterFromHeaders,
} from './policy';
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
  /** The parsed error body (OpenAI: its `error` object; Anthropic: the whole `{ type, error }`). */
  readonly error?: unknown;
}

/**
 * Error codes meaning the account's money or quota is spent (OpenAI's `insufficient_quota` family, Anthropic's
 * `enforced_spend_limit_reached`): sent with 429 like a rate limit, but retrying cannot help until someone raises it.
 */
export const SPENT_QUOTA_CODES: ReadonlySet<string> = new Set([
  'insufficient_quota',
  'credit_balance_exhausted',
  'organization_spend_limit_exceeded',
  'project_spend_limit_exceeded',
  'organization_usage_limit_exceeded',
  'enforced_spend_limit_reached',
]);

const field = (value: unknown, key: string): unknown =>
  typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
const text = (value: unknown): string | undefined =>
  typeof value === 'string' && value !== '' ? value : undefined;

/** The provider's own words from an error body: its type, message and code, in either provider's shape. */
export function describeApiError(error: SdkApiError): { detail: string; spentQuota: boolean } {
  const body = error.error;
  const inner = field(body, 'error') ?? body;
  const type = text(field(inner, 'type'));
  const code = text(field(inner, 'code')) ?? text(field(field(inner, 'details'), 'error_code'));
  const message = text(field(inner, 'message')) ?? error.message;
  const kinds = [type, code].filter((k, i, all): k is string => k !== undefined && all.indexOf(k) === i);
  const detail = kinds.length > 0 ? `${kinds.join('/')}: ${message}` : message;
  return { detail, spentQuota: kinds.some((k) => SPENT_QUOTA_CODES.has(k)) };
}

/** HTTP 409: both providers' SDKs retry it (a lock timeout, Anthropic's conflict_error). */
const HTTP_CONFLICT = 409;

/**
 * What the provider said about retrying, as both official SDKs read it: `x-should-retry` when present (the
 * server knows best), a 409 retried; undefined leaves it to the status.
 */
function sdkRetryAdvice(error: SdkApiError): boolean | undefined {
  const header = error.headers?.get('x-should-retry');
  if (header === 'true') return true;
  if (header === 'false') return false;
  return error.status === HTTP_CONFLICT ? true : undefined;
}

/** The error name a JSON body that did not parse raises (the SDKs let the parser's SyntaxError through). */
const isJsonSyntaxError = (error: unknown): boolean => error instanceof SyntaxError;

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
        const { detail, spentQuota } = describeApiError(error);
        throw providerErrorFromStatus(this.name, error.status, detail, {
          retryAfterMs: retryAfterFromHeaders((name) => error.headers?.get(name)),
          model: this.model,
          cause: error,
          retry: spentQuota ? false : sdkRetryAdvice(error),
          ...(spentQuota
            ? {
                hint: "the account's quota or spend limit is used up: retrying will not help until it is raised",
              }
            : {}),
        });
      }
      if (isJsonSyntaxError(error)) {
        throw malformedAnswerError(this.name, `a body that is not JSON (${(error as Error).message})`, {
          model: this.model,
          url: this.baseURL,
          retryable: true,
          cause: error,
        });
      }
      if (error instanceof ProviderError) throw error;
      throw networkError(this.name, error, this.model);
    }
  }

  /** One client per key: a rotated key gets a fresh client, the same key reuses its connections. */
  #clientFor(apiKey: string): Client {
    if (this.#client?.apiKey !== apiKey) this.#client = { apiKey, client: this.createClient(apiKey) };
    return this.#client.client;
  }
}
