/**
 * The Anthropic executor: Messages API through the official SDK, API key from the secret resolver,
 * base URL overridable (config.url, else ANTHROPIC_BASE_URL) for gateways and tests.
 */
import Anthropic, { APIError } from '@anthropic-ai/sdk';
import type { ExecutorConfig } from '../../domain/schemas';
import type { ExecutionRequest } from '../../ports';
import type { SecretResolver } from '../secrets';
import { type CallPolicy, networkError, providerErrorFromStatus } from './policy';
import {
  DEFAULT_MAX_TOKENS,
  type LlmOutput,
  type ProviderAnswer,
  ProviderExecutor,
  requireHttpUrl,
  systemPrompt,
} from './provider';

/** Model used when the config names none (an alias the Messages API resolves to the current snapshot). */
export const DEFAULT_ANTHROPIC_MODEL = 'claude-sonnet-4-5';
export const DEFAULT_ANTHROPIC_BASE_URL = 'https://api.anthropic.com';

export interface AnthropicExecutorOptions {
  secrets: SecretResolver;
  baseURL?: string;
  maxTokens?: number;
}

export class AnthropicExecutor extends ProviderExecutor {
  readonly name = 'anthropic' as const;
  readonly model: string;
  readonly baseURL: string;
  readonly #secrets: SecretResolver;
  readonly #maxTokens: number;
  #client: { apiKey: string; client: Anthropic } | undefined;

  constructor(config: ExecutorConfig, policy: CallPolicy, options: AnthropicExecutorOptions) {
    super(policy);
    this.model = config.model ?? DEFAULT_ANTHROPIC_MODEL;
    this.baseURL = requireHttpUrl(
      config.url ?? options.baseURL ?? DEFAULT_ANTHROPIC_BASE_URL,
      'the anthropic base URL',
    );
    this.#secrets = options.secrets;
    this.#maxTokens = options.maxTokens ?? DEFAULT_MAX_TOKENS;
  }

  protected async invoke(request: ExecutionRequest, signal: AbortSignal): Promise<ProviderAnswer> {
    const client = this.#clientFor(await this.#secrets('anthropic'));
    try {
      const message = await client.messages.create(
        {
          model: this.model,
          max_tokens: this.#maxTokens,
          system: systemPrompt(request),
          messages: [{ role: 'user', content: request.prompt }],
        },
        { signal },
      );
      const text = message.content.flatMap((block) => (block.type === 'text' ? [block.text] : [])).join('');
      const output: LlmOutput = { text, stopReason: message.stop_reason ?? undefined, model: message.model };
      return {
        output,
        usage: { inputTokens: message.usage.input_tokens, outputTokens: message.usage.output_tokens },
      };
    } catch (error) {
      if (error instanceof APIError && error.status !== undefined) {
        throw providerErrorFromStatus('anthropic', error.status, error.message, {
          retryAfter: error.headers?.get('retry-after'),
          cause: error,
        });
      }
      throw networkError('anthropic', error);
    }
  }

  /** One client per key: a rotated key gets a fresh client, the same key reuses its connections. */
  #clientFor(apiKey: string): Anthropic {
    if (this.#client?.apiKey !== apiKey) {
      this.#client = {
        apiKey,
        // authToken null: never pick up ANTHROPIC_AUTH_TOKEN from the environment behind the resolver's back.
        client: new Anthropic({ apiKey, authToken: null, baseURL: this.baseURL, maxRetries: 0 }),
      };
    }
    return this.#client.client;
  }
}
